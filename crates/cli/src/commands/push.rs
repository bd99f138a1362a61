use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pyoci_manifest::write_file_atomic;
use pyoci_registry::{
    validate_tag, BlobProgress, Client, Digest, Options, Progress, PushReport, Quiet, Reference,
};

/// Push an OCI image layout to a registry: every blob the registry lacks (concurrently,
/// skipping blobs it has and mounting ones it holds in another repository), then the
/// manifest by digest, then each tag. A tag therefore never points at an incomplete image.
///
/// Prints `REGISTRY/REPOSITORY@sha256:...` on stdout. Credentials come from the docker CLI's
/// configuration ($DOCKER_CONFIG/config.json, else ~/.docker/config.json: `auths`,
/// `credHelpers`, `credsStore`). Transient failures (HTTP 5xx/429, dropped connections) are
/// retried with exponential backoff. When the registry already holds the manifest, only the
/// tags are checked (and moved if needed).
///
/// Blobs larger than --chunk-size go up in chunks; each session the registry confirmed is
/// remembered in $XDG_CACHE_HOME/pyoci/uploads (else ~/.cache/pyoci/uploads; no credentials
/// in it), so a push killed mid-blob is resumed from the registry's offset by the next one.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pyoci push bazel-bin/app/image ghcr.io/acme/app --tag v1.2.0 --tag latest\n  \
    pyoci push image 127.0.0.1:5000/app --tag-file bazel-bin/app/push.tags"
)]
pub struct Args {
    /// OCI image layout directory to push (a py_image output, `pyoci pull` result, ...).
    layout: PathBuf,

    /// Destination repository, REGISTRY/PATH (e.g. ghcr.io/acme/app). A `:TAG` here is
    /// pushed as one more tag.
    repository: String,

    /// Tag to point at the pushed image (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,

    /// File of tags separated by whitespace or newlines, e.g. written by a stamped Bazel
    /// action; empty lines are ignored (repeatable).
    #[arg(long = "tag-file", value_name = "FILE")]
    tag_files: Vec<PathBuf>,

    /// Which image of the layout to push, by its org.opencontainers.image.ref.name
    /// annotation. Needed only when index.json lists more than one.
    #[arg(long, value_name = "NAME")]
    ref_name: Option<String>,

    /// Also write the pushed manifest digest (`sha256:<hex>`, no newline) to FILE.
    #[arg(long, value_name = "FILE")]
    digest_out: Option<PathBuf>,

    /// Write what the push did as JSON to FILE: reference, digest, tags, blobsUploaded,
    /// bytesUploaded, blobsExisting, blobsMounted, manifestExisted, movedTags.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    #[command(flatten)]
    pub registry: RegistryFlags,

    #[command(flatten)]
    blobs: super::BlobSources,
}

/// Connection settings shared by push, pull, copy and gc.
#[derive(clap::Args)]
pub struct RegistryFlags {
    /// Allow plain HTTP to the registries this command names. Without it only localhost,
    /// 127.0.0.0/8 and ::1 are reached without TLS. Addresses a registry hands out (token
    /// realms, upload locations, redirects) get no such allowance unless they are on the
    /// same host, and credentials never follow a redirect or location to another origin.
    #[arg(long)]
    pub insecure: bool,

    /// Blobs transferred at the same time.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub jobs: usize,

    /// Times a transient failure (HTTP 5xx or 429, dropped or refused connection) is
    /// retried, waiting 0.5 s, 1 s, 2 s, ... (at most 30 s) between tries.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub retries: u32,

    /// Blobs larger than this many bytes are uploaded in chunks (PATCH) of this size;
    /// 0 uploads every blob in one PUT.
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_name = "BYTES")]
    pub chunk_size: u64,

    /// A PEM file of CA certificates to trust for the registries (repeatable), on top of
    /// the system store (SSL_CERT_FILE/SSL_CERT_DIR honoured) and the per-registry
    /// /etc/docker/certs.d/HOST[:PORT]/ and /etc/containers/certs.d/HOST[:PORT]/ directories
    /// (*.crt CAs, a client.cert/client.key pair), as docker and podman read them.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,

    /// Deadline in seconds for all of the command's network work, retries included.
    #[arg(long = "timeout", default_value_t = 3600, value_name = "SECONDS")]
    pub timeout_secs: u64,

    /// Seconds without progress (connecting, waiting for a response, between bytes of a
    /// body) before a request is abandoned and retried; requests that move no blob must
    /// finish within it.
    #[arg(long = "stall-timeout", default_value_t = 120, value_name = "SECONDS")]
    pub stall_timeout_secs: u64,
}

impl RegistryFlags {
    pub fn client(&self) -> anyhow::Result<Client> {
        let progress: Arc<dyn Progress> = if std::io::stderr().is_terminal() {
            Arc::new(TerminalProgress::new())
        } else {
            Arc::new(LogProgress)
        };
        Client::new(Options {
            insecure: self.insecure,
            retries: self.retries,
            jobs: self.jobs,
            chunk_size: self.chunk_size,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            stall_timeout: Duration::from_secs(self.stall_timeout_secs.max(1)),
            ca_certs: self.ca_certs.clone(),
            upload_state_dir: pyoci_registry::default_upload_state_dir(),
            progress,
            ..Options::default()
        })
        .context("setting up the registry client (credentials, CA certificates)")
    }
}

/// Bars only for blobs big enough to watch; small ones finish before a bar would draw.
const PROGRESS_BAR_MIN_BYTES: u64 = 8 * 1024 * 1024;

struct TerminalProgress {
    bars: MultiProgress,
}

impl TerminalProgress {
    fn new() -> Self {
        TerminalProgress {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        }
    }
}

/// One blob's line: what moves, bytes so far of the total, rate, time left, and its state
/// (resumed from an earlier session, done).
struct Bar {
    bar: ProgressBar,
    label: String,
}

impl Progress for TerminalProgress {
    fn blob(&self, verb: &'static str, digest: &Digest, size: u64) -> Arc<dyn BlobProgress> {
        if size < PROGRESS_BAR_MIN_BYTES {
            return Quiet.blob(verb, digest, size);
        }
        let bar = self.bars.add(ProgressBar::new(size));
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let short = digest.hex().get(..12).unwrap_or(digest.hex()).to_string();
        let label = format!("{verb} {short}");
        bar.set_message(label.clone());
        Arc::new(Bar { bar, label })
    }

    fn retrying(&self, what: &str, error: &pyoci_registry::Error, delay: Duration) {
        let _ = self.bars.println(format!(
            "warning: {what} failed ({error}); retrying in {delay:?}"
        ));
    }
}

impl BlobProgress for Bar {
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn reset(&self) {
        self.bar.reset();
    }
    fn resumed(&self, offset: u64) {
        self.bar.set_message(format!(
            "{} (resumed at {})",
            self.label,
            human_bytes(offset)
        ));
    }
    fn finish(&self) {
        self.bar.finish_with_message(format!("{} done", self.label));
    }
}

/// Not a terminal (CI logs, Bazel): no bars, but retries are still worth a line.
struct LogProgress;

impl Progress for LogProgress {
    fn blob(&self, verb: &'static str, digest: &Digest, size: u64) -> Arc<dyn BlobProgress> {
        Quiet.blob(verb, digest, size)
    }

    fn retrying(&self, what: &str, error: &pyoci_registry::Error, delay: Duration) {
        eprintln!("warning: {what} failed ({error}); retrying in {delay:?}");
    }
}

/// Tags from `--tag` and `--tag-file`, validated, in order, without repeats.
pub fn collect_tags(tags: &[String], tag_files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut all: Vec<String> = Vec::new();
    for tag in tags {
        validate_tag(tag)?;
        all.push(tag.clone());
    }
    for file in tag_files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading tag file {}", file.display()))?;
        for tag in text.split_whitespace() {
            validate_tag(tag).with_context(|| format!("in tag file {}", file.display()))?;
            all.push(tag.to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|tag| seen.insert(tag.clone()));
    Ok(all)
}

pub fn human_bytes(bytes: u64) -> String {
    pyoci_manifest::human_size(bytes)
}

/// The one-line summary on stderr and the optional JSON report, shared with `copy`.
pub fn report(
    destination: &Reference,
    report: &PushReport,
    digest: &Digest,
    json_path: Option<&Path>,
) -> anyhow::Result<()> {
    let tags = if report.tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags {}", report.tags.join(", "))
    };
    eprintln!(
        "pushed {}@{digest}: {} blob(s) uploaded ({}), {} already present, {} mounted; {tags}",
        destination.name(),
        report.blobs_uploaded,
        human_bytes(report.bytes_uploaded),
        report.blobs_existing,
        report.blobs_mounted,
    );
    for (tag, previous) in &report.moved_tags {
        eprintln!(
            "note: tag {tag} moved from {previous}; that image is untagged now unless other \
             tags name it (`pyoci gc --digest {previous}` can remove it)"
        );
    }
    if let Some(path) = json_path {
        let json = serde_json::json!({
            "reference": format!("{}@{digest}", destination.name()),
            "digest": digest.to_string(),
            "tags": report.tags,
            "blobsUploaded": report.blobs_uploaded,
            "bytesUploaded": report.bytes_uploaded,
            "blobsExisting": report.blobs_existing,
            "blobsMounted": report.blobs_mounted,
            "manifests": report.manifests,
            "manifestExisted": report.manifest_existed,
            "movedTags": report.moved_tags.iter()
                .map(|(tag, previous)| serde_json::json!({"tag": tag, "previous": previous.to_string()}))
                .collect::<Vec<_>>(),
        });
        let bytes = serde_json::to_vec_pretty(&json)?;
        write_file_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let destination = Reference::parse(&args.repository)?;
    anyhow::ensure!(
        destination.digest.is_none(),
        "destination {} names a digest; push takes a repository (and optional :TAG)",
        args.repository
    );
    let mut tags = destination.tag.iter().cloned().collect::<Vec<_>>();
    tags.extend(collect_tags(&args.tags, &args.tag_files)?);
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    let client = args.registry.client()?;
    let view = args.blobs.view(&args.layout)?;
    let pushed = pyoci_registry::push_layout(
        &client,
        view.path(),
        args.ref_name.as_deref(),
        &destination,
        &tags,
    )
    .with_context(|| {
        format!(
            "pushing {} to {}",
            args.layout.display(),
            destination.name()
        )
    })?;
    let digest = pushed
        .digest
        .clone()
        .context("the push finished without a manifest digest")?;
    if let Some(path) = &args.digest_out {
        write_file_atomic(path, digest.to_string().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    report(&destination, &pushed, &digest, args.report.as_deref())?;
    println!("{}@{digest}", destination.name());
    Ok(ExitCode::SUCCESS)
}
