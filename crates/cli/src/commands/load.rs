//! `pyoci load`: put an image into the local Docker Engine or podman, sending only the layers
//! the engine does not have yet.

use std::collections::{BTreeSet, HashSet};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use pyoci_manifest::{ImageTag, Layout, TarballFormat, TarballPlan};
use serde::Serialize;

use super::index::split_layout_ref;

const LOAD_HELP: &str = "\
The engine is asked first. An image whose config digest it already holds is only tagged. The \
Docker Engine's classic image store gets a docker-archive whose manifest.json names every \
layer but whose tar leaves out the layers the engine already has (the longest prefix of the \
image's layers that one of its images starts with); podman loads the OCI layout itself and \
reuses the layers it has by digest. Docker's containerd image store (the default of new \
Docker 29 installs) also gets a partial archive: its content store keeps each layer blob by \
digest, so the blobs of the layers its images share with this one are left out. Any other \
loader gets the whole tarball. If a partial load fails (the engine lost a layer since it was \
asked, or holds those layers in another compression), the whole tarball is sent. Afterwards \
every tag must name the built image, or the load fails: its ID is the config digest in \
Docker's classic store and in podman, the manifest digest in the containerd store.\n\n\
Example:\n  pyoci load --image bazel-bin/app/image --tag localhost/app:latest";

#[derive(clap::Args)]
#[command(after_long_help = LOAD_HELP, after_help = "Example:\n  pyoci load --image bazel-bin/app/image --tag localhost/app:latest")]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it.
    #[arg(long, value_name = "LAYOUT[:REF]")]
    image: String,

    /// A name for the loaded image (repeatable; at least one), e.g. localhost/app:latest.
    #[arg(long = "tag", value_name = "REPO:TAG", required = true)]
    tags: Vec<String>,

    /// `docker`, `podman`, or another command that accepts `load` with a tarball on stdin
    /// (words split on spaces; it always gets the whole tarball). Default: docker when a
    /// Docker Engine answers `docker info` (DOCKER_HOST is honoured), else podman.
    #[arg(long, value_name = "COMMAND")]
    loader: Option<String>,

    /// Format of a whole tarball for podman and other loaders: docker (every engine) or oci
    /// (podman, Docker 25+). Docker always gets the docker format.
    #[arg(long, value_enum, default_value_t = Format::Docker)]
    format: Format,

    /// Always send the whole tarball, base included, without asking the engine.
    #[arg(long)]
    full: bool,

    /// Print what was sent as JSON on stdout (engine, layers sent, bytes sent, image ID).
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    blobs: super::BlobSources,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Docker,
    Oci,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Engine {
    Docker,
    DockerContainerd,
    Podman,
    Other,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    engine: Engine,
    /// How the image got there: tagged (already present), partial, layout (podman), full.
    method: &'static str,
    config_digest: String,
    image_id: Option<String>,
    layers_total: usize,
    layers_sent: usize,
    bytes_sent: u64,
    retried_full: bool,
    seconds: f64,
}

/// One image being loaded: its layout and what the manifest and config say.
struct Loading {
    layout: PathBuf,
    tags: Vec<ImageTag>,
    plan: TarballPlan,
    config_digest: String,
    manifest_digest: String,
    manifest_size: u64,
    layer_digests: Vec<String>,
    layer_sizes: Vec<u64>,
    diff_ids: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (layout_path, ref_name) = split_layout_ref(&args.image);
    let mut tags: Vec<ImageTag> = Vec::new();
    for text in &args.tags {
        let tag: ImageTag = text.parse()?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let view = args.blobs.view(&layout_path)?;
    let layout_path = view.path().to_path_buf();
    let layout = Layout::open(&layout_path)?;
    let image = layout.image(ref_name.as_deref())?;
    let loader = match &args.loader {
        Some(text) if !text.trim().is_empty() => text.split_whitespace().map(str::to_owned).collect(),
        _ => default_loader()?,
    };
    let engine = engine_of(&loader);
    // Docker reads a partial archive only through manifest.json: it always gets the docker format.
    let format = match args.format {
        Format::Oci if engine != Engine::Docker => TarballFormat::Oci,
        _ => TarballFormat::Docker,
    };
    let plan = TarballPlan::new(&layout_path, ref_name.as_deref(), &tags, format, Path::new("<loader stdin>"))?;
    let loading = Loading {
        layout: layout_path.clone(),
        tags,
        plan,
        config_digest: image.manifest.config().digest().to_string(),
        manifest_digest: image.manifest_digest.clone(),
        manifest_size: image.manifest_bytes.len() as u64,
        layer_digests: image.manifest.layers().iter().map(|l| l.digest().to_string()).collect(),
        layer_sizes: image.manifest.layers().iter().map(|l| l.size()).collect(),
        diff_ids: image.config.rootfs().diff_ids().to_vec(),
    };
    if !loading.plan.summary().zstd_layers.is_empty() {
        eprintln!(
            "pyoci load: note: {} layer(s) are zstd-compressed; Docker Engine before 23.0 cannot read them",
            loading.plan.summary().zstd_layers.len()
        );
    }

    let mut report = match engine {
        Engine::Docker if args.full => load_full(&loader, docker_store(&loader)?, &loading)?,
        _ if args.full => load_full(&loader, engine, &loading)?,
        Engine::Docker | Engine::DockerContainerd => load_docker(&loader, &loading)?,
        Engine::Podman => load_podman(&loader, &loading)?,
        Engine::Other => load_full(&loader, engine, &loading)?,
    };
    report.seconds = started.elapsed().as_secs_f64();
    let tag_list: Vec<&str> = loading.tags.iter().map(|t| t.familiar.as_str()).collect();
    eprintln!(
        "pyoci load: {} ({}) into {}: {} of {} layer(s) sent, {} bytes ({}), {:.2} s",
        tag_list.join(", "),
        loading.config_digest,
        loader.join(" "),
        report.layers_sent,
        report.layers_total,
        report.bytes_sent,
        report.method,
        report.seconds
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn default_loader() -> anyhow::Result<Vec<String>> {
    let docker_answers = Command::new("docker")
        .args(["info", "--format", "{{.ID}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if docker_answers {
        return Ok(vec!["docker".to_owned()]);
    }
    if Command::new("podman").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
        return Ok(vec!["podman".to_owned()]);
    }
    bail!("neither a running Docker Engine (docker info) nor podman was found; name a loader with --loader")
}

fn engine_of(loader: &[String]) -> Engine {
    let program = loader.first().map(|p| Path::new(p).file_name().unwrap_or_default().to_string_lossy().into_owned());
    match program.as_deref() {
        Some("docker") => Engine::Docker,
        Some("podman") => Engine::Podman,
        _ => Engine::Other,
    }
}

fn command(loader: &[String]) -> Command {
    let mut command = Command::new(&loader[0]);
    command.args(&loader[1..]);
    command
}

/// stdout of a query, or None when the engine says no (a missing image is not an error).
fn query(loader: &[String], args: &[&str]) -> anyhow::Result<Option<String>> {
    let output = command(loader)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} {}", loader.join(" "), args.join(" ")))?;
    Ok(output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
}

fn run_engine(loader: &[String], args: &[&str]) -> anyhow::Result<()> {
    let output = command(loader)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} {}", loader.join(" "), args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "`{} {}` failed: {}",
            loader.join(" "),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The ID the engine gives the image `name`, without the `sha256:` prefix.
fn image_id(loader: &[String], name: &str) -> anyhow::Result<Option<String>> {
    Ok(query(loader, &["image", "inspect", "--format", "{{.Id}}", name])?
        .map(|out| out.trim().trim_start_matches("sha256:").to_owned())
        .filter(|id| !id.is_empty()))
}

/// (ID without `sha256:`, diff IDs bottom first) of each named image the engine has; names
/// it lacks are left out.
fn inspect_layers(loader: &[String], names: &[&str]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["image", "inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}"];
    args.extend(names);
    // inspect prints the images it found and fails for the others: its stdout is the answer.
    let output = command(loader)
        .args(&args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {} image inspect", loader.join(" ")))?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (id, layers) = line.trim().split_once(' ')?;
            let layers = serde_json::from_str::<Option<Vec<String>>>(layers).ok()?.unwrap_or_default();
            Some((id.trim_start_matches("sha256:").to_owned(), layers))
        })
        .collect())
}

/// The layer lists of every image the engine holds.
fn engine_layer_lists(loader: &[String]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let Some(ids) = query(loader, &["image", "ls", "-aq", "--no-trunc"])? else {
        return Ok(Vec::new());
    };
    let ids: BTreeSet<&str> = ids.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    inspect_layers(loader, &ids.into_iter().collect::<Vec<_>>())
}

/// The ID the engine gives the built image: the containerd image store names an image by its
/// manifest, Docker's classic store and podman by its config.
fn built_id(engine: Engine, loading: &Loading) -> &str {
    match engine {
        Engine::DockerContainerd => &loading.manifest_digest,
        _ => &loading.config_digest,
    }
}

fn verify_loaded(loader: &[String], engine: Engine, loading: &Loading) -> anyhow::Result<String> {
    let built = built_id(engine, loading);
    let expected = built.trim_start_matches("sha256:");
    for tag in &loading.tags {
        let id = image_id(loader, &tag.familiar)?;
        if id.as_deref() != Some(expected) {
            bail!(
                "after loading, {} is {} in {}, not the built image {}",
                tag.familiar,
                id.map_or_else(|| "missing".to_owned(), |id| format!("sha256:{id}")),
                loader.join(" "),
                built
            );
        }
    }
    Ok(built.to_owned())
}

fn tag_existing(loader: &[String], engine: Engine, loading: &Loading) -> anyhow::Result<()> {
    for tag in &loading.tags {
        run_engine(loader, &["tag", built_id(engine, loading), &tag.familiar])?;
    }
    Ok(())
}

fn report(engine: Engine, method: &'static str, loading: &Loading, layers_sent: usize, bytes_sent: u64) -> Report {
    Report {
        engine,
        method,
        config_digest: loading.config_digest.clone(),
        image_id: None,
        layers_total: loading.layer_digests.len(),
        layers_sent,
        bytes_sent,
        retried_full: false,
        seconds: 0.0,
    }
}

/// Streams the tarball (without the layers in `omit`) into `LOADER load`.
fn stream_load(loader: &[String], loading: &Loading, omit: &BTreeSet<String>) -> anyhow::Result<u64> {
    let mut child = command(loader)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(std::io::stderr())
        .spawn()
        .with_context(|| format!("starting {} load", loader.join(" ")))?;
    let written = match child.stdin.take() {
        Some(stdin) => loading.plan.write(BufWriter::with_capacity(1 << 20, stdin), omit),
        None => bail!("{} load: no stdin", loader.join(" ")),
    };
    let status = child.wait().with_context(|| format!("waiting for {} load", loader.join(" ")))?;
    match written {
        Ok(bytes) if status.success() => Ok(bytes),
        // A loader that stops reading early fails the write; its own exit status says why.
        Err(e) if status.success() => Err(e.into()),
        _ => bail!("`{} load` failed ({status})", loader.join(" ")),
    }
}

fn load_full(loader: &[String], engine: Engine, loading: &Loading) -> anyhow::Result<Report> {
    let bytes = stream_load(loader, loading, &BTreeSet::new()).map_err(|e| {
        e.context(format!(
            "loading {} with `{} load` (Docker Engine before 23.0 reads neither zstd layers nor OCI archives)",
            loading.layout.display(),
            loader.join(" ")
        ))
    })?;
    let mut done = report(engine, "full", loading, loading.layer_digests.len(), bytes);
    if engine != Engine::Other {
        done.image_id = Some(verify_loaded(loader, engine, loading)?);
    }
    Ok(done)
}

const DRIVER_STATUS: &[&str] = &["info", "--format", "{{json .DriverStatus}}"];

/// Docker's classic image store, or the containerd one (`docker info` names its snapshotter).
fn store_of(driver_status: Option<String>) -> Engine {
    if driver_status.unwrap_or_default().contains("io.containerd.snapshotter") {
        Engine::DockerContainerd
    } else {
        Engine::Docker
    }
}

fn docker_store(loader: &[String]) -> anyhow::Result<Engine> {
    Ok(store_of(query(loader, DRIVER_STATUS)?))
}

fn load_docker(loader: &[String], loading: &Loading) -> anyhow::Result<Report> {
    // Asked at once: the store kind, and what the built image and the tags' current images
    // hold (after an edit, the tag's image shares everything but the top layers). The built
    // image is asked for by both the IDs a store may give it.
    let (info, known) = std::thread::scope(|scope| {
        let info = scope.spawn(|| query(loader, DRIVER_STATUS));
        let mut names = vec![loading.config_digest.as_str(), loading.manifest_digest.as_str()];
        names.extend(loading.tags.iter().map(|t| t.familiar.as_str()));
        let known = inspect_layers(loader, &names);
        (info.join(), known)
    });
    let known = known?;
    let engine = store_of(info.map_err(|_| anyhow::anyhow!("docker info: the query thread panicked"))??);
    let expected = built_id(engine, loading).trim_start_matches("sha256:");
    if known.iter().any(|(id, _)| id == expected) {
        tag_existing(loader, engine, loading)?;
        let mut done = report(engine, "tagged", loading, 0, 0);
        done.image_id = Some(verify_loaded(loader, engine, loading)?);
        return Ok(done);
    }
    let shared_prefix = |lists: &[(String, Vec<String>)]| {
        lists
            .iter()
            .map(|(_, list)| list.iter().zip(&loading.diff_ids).take_while(|(a, b)| a == b).count())
            .max()
            .unwrap_or(0)
    };
    let mut present = shared_prefix(&known);
    if present == 0 {
        present = shared_prefix(&engine_layer_lists(loader)?);
    }
    // A blob used again above the shared prefix must still be in the tar. The containerd store
    // cannot be asked for blobs, only for diff IDs: a layer it holds in another compression
    // fails the partial load, which is then retried whole.
    let needed: HashSet<&String> = loading.layer_digests[present..].iter().collect();
    let omit: BTreeSet<String> = loading.layer_digests[..present]
        .iter()
        .filter(|d| !needed.contains(d))
        .cloned()
        .collect();
    match stream_load(loader, loading, &omit) {
        Ok(bytes) => {
            let mut done = report(engine, "partial", loading, loading.layer_digests.len() - present, bytes);
            done.image_id = Some(verify_loaded(loader, engine, loading)?);
            Ok(done)
        }
        Err(error) if present > 0 => {
            eprintln!("pyoci load: the partial load failed ({error:#}); sending every layer");
            let mut done = load_full(loader, engine, loading)?;
            done.retried_full = true;
            Ok(done)
        }
        Err(error) => Err(error),
    }
}

fn load_podman(loader: &[String], loading: &Loading) -> anyhow::Result<Report> {
    let hex = loading.config_digest.trim_start_matches("sha256:");
    let mut names = vec![hex];
    names.extend(loading.tags.iter().map(|t| t.familiar.as_str()));
    let known = inspect_layers(loader, &names)?;
    if known.iter().any(|(id, _)| id == hex) {
        tag_existing(loader, Engine::Podman, loading)?;
        let mut done = report(Engine::Podman, "tagged", loading, 0, 0);
        done.image_id = Some(verify_loaded(loader, Engine::Podman, loading)?);
        return Ok(done);
    }
    // podman reuses a layer it holds by digest wherever it sits in the chain, and reads from
    // the layout only the blobs it lacks.
    let mut present: HashSet<String> = known.into_iter().flat_map(|(_, layers)| layers).collect();
    if !loading.diff_ids.iter().any(|d| present.contains(d)) {
        present.extend(engine_layer_lists(loader)?.into_iter().flat_map(|(_, layers)| layers));
    }
    let missing: Vec<usize> = (0..loading.diff_ids.len()).filter(|&i| !present.contains(&loading.diff_ids[i])).collect();
    let bytes: u64 = missing.iter().map(|&i| loading.layer_sizes[i]).sum();
    match load_podman_layout(loader, loading) {
        Ok(()) => {
            let mut done = report(Engine::Podman, "layout", loading, missing.len(), bytes);
            done.image_id = Some(verify_loaded(loader, Engine::Podman, loading)?);
            Ok(done)
        }
        Err(error) => {
            eprintln!("pyoci load: loading the layout failed ({error:#}); sending the whole tarball");
            let mut done = load_full(loader, Engine::Podman, loading)?;
            done.retried_full = true;
            Ok(done)
        }
    }
}

/// `podman load -i DIR` of a staged layout that shares the built layout's blobs, then the
/// tags. podman names an image loaded from a directory after its path: that name, unique to
/// this run, is removed again.
fn load_podman_layout(loader: &[String], loading: &Loading) -> anyhow::Result<()> {
    // podman turns the path into a repository name: lowercase letters and digits only.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let stage = StagedLayout(std::env::temp_dir().join(format!("pyoci-load-{}-{nanos}", std::process::id())));
    std::fs::create_dir(stage.path())
        .with_context(|| format!("creating the staging directory {}", stage.path().display()))?;
    let blobs = std::fs::canonicalize(loading.layout.join("blobs"))
        .with_context(|| format!("{}: no blobs directory", loading.layout.display()))?;
    std::os::unix::fs::symlink(&blobs, stage.path().join("blobs"))
        .with_context(|| format!("linking {} into {}", blobs.display(), stage.path().display()))?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": loading.manifest_digest,
            "size": loading.manifest_size,
        }],
    });
    let write = |name: &str, bytes: &[u8]| {
        std::fs::File::create(stage.path().join(name))
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("writing {}", stage.path().join(name).display()))
    };
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write("index.json", serde_json::to_string(&index)?.as_bytes())?;

    let stage_arg = stage.path().to_string_lossy().into_owned();
    let output = command(loader)
        .args(["load", "-q", "-i", &stage_arg])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} load -i {stage_arg}", loader.join(" ")))?;
    if !output.status.success() {
        bail!("`{} load -i {stage_arg}` failed: {}", loader.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    tag_existing(loader, Engine::Podman, loading)?;
    let wanted: HashSet<&str> = loading.tags.iter().flat_map(|t| [t.familiar.as_str(), t.qualified.as_str()]).collect();
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        let Some(names) = line.strip_prefix("Loaded image:").or_else(|| line.strip_prefix("Loaded image(s):")) else {
            continue;
        };
        for name in names.split(',').map(str::trim) {
            if !name.is_empty() && !name.starts_with("sha256:") && !wanted.contains(name) {
                run_engine(loader, &["untag", &loading.config_digest, name])?;
            }
        }
    }
    Ok(())
}

/// A directory removed when dropped.
struct StagedLayout(PathBuf);

impl StagedLayout {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for StagedLayout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
