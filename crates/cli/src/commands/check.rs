use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_check::gates::{self, AppLayers, Gate, Policy};
use pyoci_check::layer_findings::{self, FindingsFile};
use pyoci_check::size;
use pyoci_check::users::UserResolution;
use pyoci_manifest::{write_file_atomic, Layout};

use super::index::split_layout_ref;

/// Findings printed per gate before the rest are counted.
const FINDINGS_SHOWN_PER_GATE: usize = 50;

/// Check an image against the security gates; exit 1 with one line per finding if any fails.
///
/// Gates (each has one opt-out):
///   non-root     config User must resolve to a uid other than 0 (names are looked up in the
///                image's /etc/passwd): --allow-root
///   no-shell     no shell (sh bash rbash dash ash zsh ksh ksh93 mksh pdksh csh tcsh fish
///                yash posh busybox toybox) or system package manager (dpkg dpkg-deb apt
///                apt-get aptitude rpm yum dnf microdnf tdnf zypper apk pacman opkg) as an
///                executable or symlink anywhere; pip is not counted (it installs only Python
///                code where python3 can already write): --allow-shell, for debug images
///   secrets      env values, labels and files of every layer (also files a later layer
///                deletes: they still ship) must hold no private key (PEM block with key
///                data), .env or other credentials file (.git-credentials .pgpass .netrc
///                .pypirc .aws/credentials), AWS access key, GitHub/GitLab/Slack token, or
///                literal value given to a name ending in PASSWORD, PASSWD, SECRET,
///                SECRET_KEY, TOKEN, API_KEY, ACCESS_KEY, PRIVATE_KEY or CLIENT_SECRET (in
///                source code only CONSTANT_CASE names with a quoted literal; in .env, .ini,
///                .cfg, .conf, .properties, .yaml, .toml and .json files any case, quoted or
///                not; placeholders such as ${VAR}, changeme or <...> do not count). Text
///                files up to --max-scan-size; Debian's CA certificates are skipped; values
///                are never printed: --allow-secrets, or --allow-secret-in PATH
///   permissions  files and directories of the application layers (see --base) must not be
///                world-writable (sticky directories such as /tmp excepted) and must be
///                readable, directories also searchable, by the image user (other users'
///                home directories from /etc/passwd excepted), and hold no setuid/setgid
///                file (--allow-setuid) or device node or fifo (--allow-devices) anywhere:
///                --allow-permissions
///   size         compressed layers plus config must not exceed --max-size
///
/// Nothing is printed on success when -o is given (a Bazel validation action); otherwise a
/// one-line summary. The stamp (-o) is written only when every gate passes; the size report
/// (--size-report) is written either way.
#[derive(clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "Example:\n  pyoci check bazel-bin/app/image --base bazel-bin/external/distroless_python_nonroot \\\n    --max-size 150MB --size-report size.json -o check.stamp"
)]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it.
    #[arg(value_name = "LAYOUT[:REF]")]
    image: String,

    /// Allow an image that runs as root (uid 0, an empty User, or a user that does not resolve).
    #[arg(long)]
    allow_root: bool,

    /// Allow shells and package managers (debug images).
    #[arg(long)]
    allow_shell: bool,

    /// Skip the secrets gate entirely.
    #[arg(long)]
    allow_secrets: bool,

    /// Do not scan this file, or anything under this directory, for secrets (repeatable).
    /// Env values and labels are still scanned.
    #[arg(long = "allow-secret-in", value_name = "PATH")]
    allow_secret_in: Vec<String>,

    /// Skip the permissions gate.
    #[arg(long)]
    allow_permissions: bool,

    /// Allow setuid/setgid files in the application layers (the permissions gate still runs).
    #[arg(long)]
    allow_setuid: bool,

    /// Allow device nodes and fifos in the application layers (the permissions gate still runs).
    #[arg(long)]
    allow_devices: bool,

    /// Largest file scanned for secrets; bigger files are skipped. Bytes, or with a unit
    /// (K, M, G, Ki, Mi, Gi, optionally followed by B).
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    max_scan_size: String,

    /// The base image the checked image was built on (LAYOUT[:REF]): its layers are not
    /// application layers for the permissions gate. It must be a prefix of the image's
    /// layers. Without --base, layers that write the dpkg database (/var/lib/dpkg) count as
    /// base, all others as application.
    #[arg(long, value_name = "LAYOUT[:REF]")]
    base: Option<String>,

    /// Limit the permissions gate to these paths of the application layers (repeatable),
    /// e.g. /app. Default: every path of the application layers.
    #[arg(long = "app-prefix", value_name = "PATH")]
    app_prefixes: Vec<String>,

    /// Fail when compressed layers plus config exceed this. Bytes, or with a unit (150MB,
    /// 1.5GiB; K/M/G are powers of 1000, Ki/Mi/Gi of 1024).
    #[arg(long, value_name = "SIZE")]
    max_size: Option<String>,

    /// Write a JSON size report here: per layer its digest, media type, diff ID, compressed
    /// and uncompressed size, file count, whether it is an application layer and its
    /// largest directories (cut at depth 3); then totals.
    #[arg(long, value_name = "FILE")]
    size_report: Option<PathBuf>,

    /// Per-layer findings written by `pyoci check-layer` (repeatable): the layers they
    /// record are not read, their records are combined in layer order with the config
    /// instead (same verdicts and text). Layers without a record are read in full. A record
    /// for a layer the image does not have, or with another diff ID, size or
    /// --max-scan-size, is an error naming its file.
    #[arg(long = "layer-findings", value_name = "FILE")]
    layer_findings: Vec<PathBuf>,

    /// Write a JSON stamp here when every gate passes (the image digest, the user, and each
    /// gate as passed or allowed). Nothing is written when a gate fails.
    #[arg(short = 'o', long = "output", value_name = "STAMP")]
    output: Option<PathBuf>,

    /// Where the blobs the image's (or --base's) layout leaves out are.
    #[command(flatten)]
    blobs: super::BlobSources,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (layout_path, ref_name) = split_layout_ref(&args.image);
    let view = args.blobs.view(&layout_path)?;
    let layout = Layout::open(view.path())?;
    let image = layout.image(ref_name.as_deref())?;
    let app_layers = match &args.base {
        Some(base) => {
            let (base_path, base_ref) = split_layout_ref(base);
            let base_view = args.blobs.view(&base_path)?;
            let base_image = Layout::open(base_view.path())
                .and_then(|l| l.image(base_ref.as_deref()))
                .with_context(|| format!("reading --base {base}"))?;
            AppLayers::AfterBase(gates::base_layer_count(
                &base_image,
                &base_path,
                &image,
                &layout_path,
            )?)
        }
        None => AppLayers::NotDebianPackages,
    };
    let max_size = args
        .max_size
        .as_deref()
        .map(gates::parse_size)
        .transpose()
        .context("--max-size")?;
    let max_scan_size = gates::parse_size(&args.max_scan_size).context("--max-scan-size")?;
    let policy = Policy {
        allow_root: args.allow_root,
        allow_shell: args.allow_shell,
        allow_secrets: args.allow_secrets,
        allow_permissions: args.allow_permissions,
        max_size,
        app_layers,
        app_prefixes: args.app_prefixes.clone(),
        allow_secret_in: args.allow_secret_in.clone(),
        max_scan_size,
        allow_setuid: args.allow_setuid,
        allow_devices: args.allow_devices,
    };
    let findings_files = args
        .layer_findings
        .iter()
        .map(|path| Ok((path.clone(), FindingsFile::read(path)?)))
        .collect::<pyoci_check::Result<Vec<_>>>()?;
    let records = layer_findings::match_to_image(
        &image,
        &findings_files,
        (!policy.allow_secrets).then_some(max_scan_size),
    )?;
    let outcome = gates::check_with_records(&layout, &image, &policy, &records)?;

    if let Some(path) = &args.size_report {
        let report = size::report(&image, &outcome.fs, &outcome.application_layers, max_size);
        let mut bytes = serde_json::to_vec_pretty(&report)?;
        bytes.push(b'\n');
        write_file_atomic(path, &bytes)?;
    }

    if !outcome.findings.is_empty() {
        let mut shown: BTreeMap<Gate, usize> = BTreeMap::new();
        for finding in &outcome.findings {
            let count = shown.entry(finding.gate).or_insert(0);
            *count += 1;
            if *count <= FINDINGS_SHOWN_PER_GATE {
                eprintln!("{finding}");
            }
        }
        for (gate, count) in &shown {
            if *count > FINDINGS_SHOWN_PER_GATE {
                eprintln!(
                    "{}: ... and {} more findings",
                    gate.name(),
                    count - FINDINGS_SHOWN_PER_GATE
                );
            }
        }
        eprintln!(
            "pyoci check: {} failed {} gate finding{}",
            args.image,
            outcome.findings.len(),
            if outcome.findings.len() == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::FAILURE);
    }

    let user = match &outcome.user {
        UserResolution::Resolved(u) => format!("{}:{}", u.uid, u.gid),
        UserResolution::Unresolvable(reason) => reason.clone(),
    };
    let gate_states: BTreeMap<&str, &str> = Gate::ALL
        .iter()
        .map(|g| {
            (
                g.name(),
                if policy.allows(*g) {
                    "allowed"
                } else {
                    "passed"
                },
            )
        })
        .collect();
    match &args.output {
        Some(path) => {
            let stamp = serde_json::json!({
                "image": image.manifest_digest,
                "user": user,
                "compressedSize": outcome.compressed_size,
                "maxSize": max_size,
                "gates": gate_states,
            });
            let mut bytes = serde_json::to_vec_pretty(&stamp)?;
            bytes.push(b'\n');
            write_file_atomic(path, &bytes)?;
        }
        None => {
            let summary: Vec<String> = gate_states
                .iter()
                .map(|(g, s)| format!("{g} {s}"))
                .collect();
            println!(
                "pyoci check: {} ({}) runs as {user}: {}",
                args.image,
                image.manifest_digest,
                summary.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
