use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::BlobSources;
use pyoci_manifest::{
    build_image_on_verified_base, parse_key_value, resolve_created, write_file_atomic, ConfigChanges,
    ForeignRules, ImageSpec, LayerDescriptor, LayerInput, Platform, StampInfo, DEFAULT_REF_NAME,
};

const IMAGE_HELP: &str = "\
Unstamped builds are reproducible: `created` is 1970-01-01T00:00:00Z (or \
$SOURCE_DATE_EPOCH), JSON is written with sorted keys, and the same inputs always give the \
same digest. The layout is written beside OUTPUT and renamed into place only if everything \
succeeded; the image's digest is printed on stdout.\n\n\
Example:\n  pyoci image --base distroless_nonroot --layer app.tar.gz=app.json \\\n    --env LOG_LEVEL=INFO --entrypoint '[\"/usr/bin/python3\",\"/app/main.py\"]' -o image";

#[derive(clap::Args)]
#[command(after_long_help = IMAGE_HELP, after_help = "Example:\n  pyoci image --base distroless_nonroot --layer app.tar.gz=app.json \\\n    --env LOG_LEVEL=INFO --entrypoint '[\"/usr/bin/python3\",\"/app/main.py\"]' -o image")]
pub struct Args {
    /// Base image: an OCI image layout directory (from `pyoci base`, `pyoci pull`, `skopeo copy`).
    /// Every base blob is verified against its digest, unless a verification record vouches
    /// for it. With no base the image starts from an empty (scratch) linux/amd64 image.
    #[arg(long, value_name = "LAYOUT")]
    base: Option<PathBuf>,

    /// The base's verification record (what `pyoci base`, `pyoci pull`, `pyoci inspect` and
    /// `pyoci image` write with --verified-out): base blobs it lists are checked by size
    /// only, the rest are hashed. Give it only for a layout whose record came with it from
    /// the action that wrote it (Bazel re-runs that action if the layout changes).
    #[arg(long, value_name = "FILE", requires = "base")]
    base_verified: Option<PathBuf>,

    /// Which image of --base to use, by its org.opencontainers.image.ref.name. Default: the
    /// layout's only image. A multi-platform base resolves to its linux/amd64 image.
    #[arg(long, value_name = "NAME", requires = "base")]
    base_ref: Option<String>,

    /// Where the blobs the --base layout leaves out are (a base that is itself a py_image's
    /// `<name>.own` layout).
    #[command(flatten)]
    base_blobs: BlobSources,

    /// Write the base's layer blobs out of the output layout (the manifest still lists them):
    /// readers then need `--blobs-from` the base's layout. py_image passes it so that the
    /// layout Bazel digests after every edit holds only the image's own blobs, whatever the
    /// base's size.
    #[arg(long, requires = "base")]
    omit_base_blobs: bool,

    /// Write the blobs of the --layer inputs given with a descriptor out of the output layout
    /// (the manifest still lists them): readers then need `--blob BLOB=DESCRIPTOR` for each.
    /// py_image passes it so that the layout Bazel digests after every edit holds the index,
    /// manifest and config only, however large the third-party layers are.
    #[arg(long)]
    omit_layer_blobs: bool,

    /// Platform of a scratch image, as OS/ARCHITECTURE[/VARIANT] (default linux/amd64).
    /// An image on a base has the base's platform.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "base")]
    platform: Option<String>,

    /// A layer blob to add on top, optionally with the descriptor JSON `pyoci layer` or
    /// `pyoci deb` wrote for it (split at the first '='). With a descriptor the blob is checked
    /// against it; without, its digest and diff ID are computed (gzip, zstd or plain tar,
    /// recognised from its content). Repeat for more layers, bottom first.
    /// A layer without a descriptor is a tarball pyoci did not write; it is read member by
    /// member and refused, naming the member, if it holds a `..` or over-long name, a path
    /// through a symlink of the same layer, a hard link to anything but an earlier file of the
    /// layer, a whiteout (.wh.*), a device node or fifo (see --allow-devices) or a setuid/setgid
    /// root file (see --allow-setuid). A leading `/` or `./` means the image root. Its bytes
    /// are never rewritten.
    #[arg(long = "layer", value_name = "BLOB[=DESCRIPTOR_JSON]")]
    layers: Vec<String>,

    /// Check --layer blobs given with a descriptor by size only, trusting the descriptor's
    /// digest instead of hashing the blob: for a build system whose action wrote blob and
    /// descriptor together (py_image passes it for the layers its `pyoci layer` actions
    /// wrote). Without it every such blob is hashed against its descriptor.
    #[arg(long)]
    trust_layer_descriptors: bool,

    /// Accept device nodes and fifos in --layer tarballs given without a descriptor.
    #[arg(long)]
    allow_devices: bool,

    /// Accept setuid/setgid root files in --layer tarballs given without a descriptor.
    #[arg(long)]
    allow_setuid: bool,

    /// What a layer is, for its history entry (`docker history` shows it), e.g.
    /// "third-party: 14 distributions". The first --history describes the first --layer, and so
    /// on; layers without one get "pyoci image".
    #[arg(long = "history", value_name = "TEXT")]
    history: Vec<String>,

    /// Config changes as JSON: {"env": {..}, "labels": {..}, "annotations": {..},
    /// "entrypoint": [..], "cmd": [..], "user": "65532", "workdir": "/app",
    /// "exposedPorts": ["8080/tcp"], "volumes": ["/data"], "stopSignal": "SIGTERM",
    /// "healthcheck": {"test": ["CMD", ..], "interval": "30s", "timeout": "5s",
    /// "startPeriod": "0s", "retries": 3}}. Every key is optional; the flags below override it.
    #[arg(long, value_name = "FILE")]
    config_json: Option<PathBuf>,

    /// Set an environment variable, merged over the base's environment by name (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,

    /// Set a config label (repeatable). With --stamp-info, `{KEY}` in the value is replaced.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,

    /// Set a manifest annotation (repeatable). With --stamp-info, `{KEY}` in the value is replaced.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,

    /// Entrypoint as a JSON array of strings. As in a Dockerfile, setting it drops the
    /// base's Cmd unless --cmd (or "cmd" in --config-json) is given too.
    #[arg(long, value_name = "JSON_ARRAY")]
    entrypoint: Option<String>,

    /// Default arguments (Cmd) as a JSON array of strings.
    #[arg(long, value_name = "JSON_ARRAY")]
    cmd: Option<String>,

    /// User to run as: a name or uid, optionally :group or :gid (e.g. 65532 or 65532:65532).
    #[arg(long, value_name = "USER")]
    user: Option<String>,

    /// Working directory (absolute path).
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,

    /// Exposed port, PORT[/tcp|udp|sctp] (repeatable; added to the base's).
    #[arg(long = "port", value_name = "PORT[/PROTO]")]
    ports: Vec<String>,

    /// Volume mount point (absolute path; repeatable; added to the base's).
    #[arg(long = "volume", value_name = "PATH")]
    volumes: Vec<String>,

    /// Signal that stops the container, e.g. SIGTERM or SIGINT.
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,

    /// The image's `created` time (RFC 3339). Default: BUILD_TIMESTAMP from --stamp-info, else
    /// $SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z.
    #[arg(long, value_name = "RFC3339")]
    created: Option<String>,

    /// Bazel workspace status file ("KEY value" lines, e.g. bazel-out/stable-status.txt and
    /// volatile-status.txt; repeatable). Enables `{KEY}` substitution in labels and annotations
    /// and takes `created` from BUILD_TIMESTAMP.
    #[arg(long = "stamp-info", value_name = "FILE")]
    stamp_info: Vec<PathBuf>,

    /// Name of the image in the output's index.json (org.opencontainers.image.ref.name), so
    /// tools can address it as LAYOUT:NAME.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_REF_NAME)]
    ref_name: String,

    /// Output OCI image layout directory (replaced if it exists).
    #[arg(short = 'o', long = "output", value_name = "LAYOUT")]
    output: PathBuf,

    /// Also write the image's manifest digest ("sha256:<hex>", no newline) to this file.
    #[arg(long, value_name = "FILE")]
    digest_out: Option<PathBuf>,

    /// Print nothing on success (build actions: Bazel shows any output as an `INFO: From` block).
    #[arg(short, long)]
    quiet: bool,

    /// Also write the image's verification record (digests and sizes of its blobs, all
    /// verified) to FILE, for the --base-verified of an image built on this one.
    #[arg(long, value_name = "FILE")]
    verified_out: Option<PathBuf>,
}

fn json_array(flag: &str, text: &str) -> anyhow::Result<Vec<String>> {
    serde_json::from_str(text)
        .with_context(|| format!("{flag} {text:?}: expected a JSON array of strings, e.g. [\"/usr/bin/python3\"]"))
}

fn key_values(what: &'static str, items: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    Ok(items
        .iter()
        .map(|item| parse_key_value(what, item))
        .collect::<Result<_, _>>()?)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut changes = match &args.config_json {
        Some(path) => ConfigChanges::from_json_file(path)?,
        None => ConfigChanges::default(),
    };
    changes.merge(ConfigChanges {
        env: key_values("--env", &args.env)?,
        labels: key_values("--label", &args.labels)?.into_iter().collect(),
        annotations: key_values("--annotation", &args.annotations)?.into_iter().collect(),
        entrypoint: args.entrypoint.as_deref().map(|t| json_array("--entrypoint", t)).transpose()?,
        cmd: args.cmd.as_deref().map(|t| json_array("--cmd", t)).transpose()?,
        user: args.user,
        workdir: args.workdir,
        exposed_ports: args.ports,
        volumes: args.volumes,
        stop_signal: args.stop_signal,
        healthcheck: None,
    });
    let stamp = if args.stamp_info.is_empty() {
        None
    } else {
        Some(StampInfo::from_files(&args.stamp_info)?)
    };
    if let Some(stamp) = &stamp {
        changes.stamp(stamp);
    }
    let created = resolve_created(args.created.as_deref(), stamp.as_ref())?;

    if args.history.len() > args.layers.len() {
        anyhow::bail!(
            "{} --history texts for {} --layer flags: each --history describes the --layer at the same position",
            args.history.len(),
            args.layers.len()
        );
    }
    let layers = args
        .layers
        .iter()
        .enumerate()
        .map(|(index, arg)| -> anyhow::Result<LayerInput> {
            let (blob, descriptor) = match arg.split_once('=') {
                Some((blob, descriptor)) => (blob, Some(LayerDescriptor::from_json_file(descriptor.as_ref())?)),
                None => (arg.as_str(), None),
            };
            Ok(LayerInput {
                blob: PathBuf::from(blob),
                descriptor,
                created_by: args.history.get(index).cloned(),
                trust_descriptor: args.trust_layer_descriptors,
                foreign_rules: ForeignRules { allow_devices: args.allow_devices, allow_setuid: args.allow_setuid },
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let base_view = args.base.as_deref().map(|base| args.base_blobs.view(base)).transpose()?;
    let spec = ImageSpec {
        base: base_view.as_ref().map(|view| (view.path().to_path_buf(), args.base_ref)),
        platform: args.platform.as_deref().map(str::parse::<Platform>).transpose()?,
        layers,
        changes,
        created,
        ref_name: args.ref_name,
        omit_base_blobs: args.omit_base_blobs,
        omit_layer_blobs: args.omit_layer_blobs,
    };
    crate::interrupt::clean_up_on_signal(&[&args.output])?;
    let written = build_image_on_verified_base(&spec, args.base_verified.as_deref(), &args.output)
        .with_context(|| format!("writing image layout {}", args.output.display()))?;
    if let Some(path) = &args.digest_out {
        write_file_atomic(path, written.digest.as_bytes())?;
    }
    if let Some(path) = &args.verified_out {
        super::inspect::write_record_of_written(&args.output, path)?;
    }
    if !args.quiet {
        println!("{}", written.digest);
    }
    Ok(ExitCode::SUCCESS)
}
