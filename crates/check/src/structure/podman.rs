//! Command tests: the image is loaded into a private podman store (its own
//! `--root`, `--runroot` and `--tmpdir` in a temporary directory, emptied and
//! deleted afterwards, also on failure) and each test runs in a fresh
//! container with no network (loopback only).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use std::collections::BTreeMap;

use crate::structure::expand::expand;
use crate::structure::{excerpt, match_regexes, CheckResult, CommandTest, RunOptions, Spec};
use pyoci_manifest::{Image, Layout};

const POLL: Duration = Duration::from_millis(20);
/// How long loading the image may take, whatever the per-test timeout.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
pub struct PodmanOptions {
    pub program: PathBuf,
    /// OCI runtime (`--runtime`); `None` leaves podman's default.
    pub runtime: Option<String>,
    pub cgroup_manager: Option<String>,
    /// `--ulimit` values for every container, e.g. `nofile=20000:20000`.
    pub ulimits: Vec<String>,
    pub storage_driver: Option<String>,
    /// Per command test.
    pub timeout: Duration,
}

/// A private podman store holding the image under test.
pub struct PodmanStore {
    options: PodmanOptions,
    dir: tempfile::TempDir,
    image_id: String,
}

struct Captured {
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl PodmanStore {
    pub fn load(layout: &Layout, image: &Image, options: PodmanOptions) -> Result<PodmanStore> {
        let dir = tempfile::Builder::new()
            .prefix("pyoci-podman-")
            .tempdir()
            .map_err(|source| Error::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        for sub in ["root", "runroot", "tmp"] {
            let path = dir.path().join(sub);
            std::fs::create_dir_all(&path).map_err(|source| Error::Write { path, source })?;
        }
        let store = PodmanStore {
            options,
            dir,
            image_id: image
                .manifest
                .config()
                .digest()
                .to_string()
                .split_once(':')
                .map(|(_, hex)| hex.to_string())
                .unwrap_or_default(),
        };
        let mut command = store.podman();
        command.arg("load");
        let captured = capture(
            command,
            Some(&mut |stdin: ChildStdin| write_oci_archive(layout, image, stdin)),
            LOAD_TIMEOUT,
            &store.program_name(),
        )?;
        if !captured.status.is_some_and(|s| s.success()) {
            return Err(Error::Container {
                program: store.program_name(),
                action: "loading the image (podman load)".into(),
                detail: String::from_utf8_lossy(&captured.stderr).trim().to_string(),
            });
        }
        Ok(store)
    }

    fn program_name(&self) -> String {
        self.options.program.display().to_string()
    }

    /// `podman` with the private store's global flags.
    fn podman(&self) -> Command {
        let mut command = Command::new(&self.options.program);
        let dir = self.dir.path();
        command
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--runroot")
            .arg(dir.join("runroot"))
            .arg("--tmpdir")
            .arg(dir.join("tmp"))
            .arg("--events-backend")
            .arg("none");
        if let Some(runtime) = &self.options.runtime {
            command.arg("--runtime").arg(runtime);
        }
        if let Some(manager) = &self.options.cgroup_manager {
            command.arg("--cgroup-manager").arg(manager);
        }
        if let Some(driver) = &self.options.storage_driver {
            command.arg("--storage-driver").arg(driver);
        }
        // podman load stages the archive under TMPDIR; keep it in the store.
        command.env("TMPDIR", dir.join("tmp"));
        command
    }

    /// `podman run` of `image` with CST's container settings: entrypoint cleared, the run
    /// options applied, `env` added to the image's environment.
    fn run_command(
        &self,
        image: &str,
        container: &str,
        remove: bool,
        options: &RunOptions,
        env: &[(String, String)],
        argv: &[String],
    ) -> Command {
        let mut command = self.podman();
        command.arg("run");
        if remove {
            command.arg("--rm");
        }
        command
            .arg("--name")
            .arg(container)
            .arg("--network")
            .arg("none")
            .arg("--entrypoint")
            .arg("[]");
        for limit in &self.options.ulimits {
            command.arg("--ulimit").arg(limit);
        }
        if !options.user.is_empty() {
            command.arg("--user").arg(&options.user);
        }
        if options.privileged {
            command.arg("--privileged");
        }
        if options.allocate_tty {
            command.arg("--tty");
        }
        for capability in &options.capabilities {
            command.arg("--cap-add").arg(capability);
        }
        for mount in &options.bind_mounts {
            command.arg("--volume").arg(mount);
        }
        for (key, value) in env {
            let mut pair = OsString::from(key);
            pair.push("=");
            pair.push(value);
            command.arg("--env").arg(pair);
        }
        command.arg(image).args(argv);
        command
    }

    fn remove_container(&self, container: &str) {
        let _ = self
            .podman()
            .args(["rm", "--force", container])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Runs `argv` in a container of `image` and commits the result, as CST's setup does
    /// (like CST, the exit status is not checked). Returns the new image's id.
    fn setup_step(
        &self,
        image: &str,
        container: &str,
        options: &RunOptions,
        env: &[(String, String)],
        argv: &[String],
    ) -> std::result::Result<String, String> {
        let command = self.run_command(image, container, false, options, env, argv);
        let outcome = capture(command, None, self.options.timeout, &self.program_name());
        let problem = match outcome {
            Err(e) => Some(format!("setup {argv:?}: {e}")),
            Ok(c) if c.status.is_none() => Some(format!(
                "setup {argv:?} timed out after {}s",
                self.options.timeout.as_secs()
            )),
            Ok(c) if c.status.and_then(|s| s.code()) == Some(125) => Some(format!(
                "setup {argv:?}: podman could not start the container: {}",
                excerpt(String::from_utf8_lossy(&c.stderr).trim())
            )),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            self.remove_container(container);
            return Err(problem);
        }
        let mut commit = self.podman();
        commit.args(["commit", "--quiet", container]);
        let committed = capture(commit, None, LOAD_TIMEOUT, &self.program_name());
        self.remove_container(container);
        match committed {
            Ok(c) if c.status.is_some_and(|s| s.success()) => {
                Ok(String::from_utf8_lossy(&c.stdout).trim().to_string())
            }
            Ok(c) => Err(format!(
                "committing setup {argv:?}: {}",
                excerpt(String::from_utf8_lossy(&c.stderr).trim())
            )),
            Err(e) => Err(format!("committing setup {argv:?}: {e}")),
        }
    }

    /// One command test. `image_env` is the image's environment with the spec's globals
    /// applied (see [`crate::structure::environment`]); `strict` drops per-test variables
    /// when run options are set, as CST does.
    pub fn run(
        &self,
        spec: &Spec,
        test: &CommandTest,
        index: usize,
        image_env: &BTreeMap<String, String>,
        strict: bool,
    ) -> CheckResult {
        let container = format!("pyoci-test-{index}");
        let options = &spec.container_run_options;
        let result = |failures| CheckResult {
            kind: "command",
            name: test.name.clone(),
            failures,
        };
        // CST commits the globals into the image; passing them to each container is the same.
        let globals: Vec<(String, String)> = spec
            .global_env_vars
            .iter()
            .map(|g| {
                let value = image_env.get(&g.key).cloned().unwrap_or_default();
                (g.key.clone(), value)
            })
            .collect();
        let mut image = self.image_id.clone();
        let setup_env: Vec<(String, String)> = globals
            .iter()
            .cloned()
            .chain(
                test.env_vars
                    .iter()
                    .map(|v| (v.key.clone(), expand(&v.value, image_env))),
            )
            .collect();
        for (step, argv) in test.setup.iter().enumerate() {
            let name = format!("{container}-setup-{step}");
            match self.setup_step(&image, &name, options, &setup_env, argv) {
                Ok(id) => image = id,
                Err(reason) => return result(vec![reason]),
            }
        }
        let mut env = globals;
        if !(strict && options.is_set()) {
            env.extend(
                test.env_vars
                    .iter()
                    .map(|v| (v.key.clone(), v.value.clone())),
            );
        }
        if options.is_set() {
            match run_options_env(options, strict) {
                Ok(extra) => env.extend(extra),
                Err(reason) => return result(vec![reason]),
            }
        }
        let argv: Vec<String> = std::iter::once(&test.command)
            .chain(&test.args)
            .map(|a| expand(a, image_env))
            .collect();
        let command = self.run_command(&image, &container, true, options, &env, &argv);
        let mut failures = Vec::new();
        match capture(command, None, self.options.timeout, &self.program_name()) {
            Err(e) => failures.push(format!("could not run podman: {e}")),
            Ok(captured) => {
                let stdout = String::from_utf8_lossy(&captured.stdout);
                let stderr = String::from_utf8_lossy(&captured.stderr);
                match captured.status.and_then(|s| s.code()) {
                    None => {
                        let _ = self
                            .podman()
                            .args(["rm", "--force", &container])
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status();
                        failures.push(format!(
                            "timed out after {}s (stdout {}, stderr {})",
                            self.options.timeout.as_secs(),
                            excerpt(&stdout),
                            excerpt(&stderr)
                        ));
                    }
                    // 125 is podman's own failure, not the command's.
                    Some(125) => failures.push(format!(
                        "podman could not start the container: {}",
                        excerpt(stderr.trim())
                    )),
                    Some(code) => {
                        if code != test.exit_code {
                            failures.push(format!(
                                "exit code: expected {}, got {code} (stderr {})",
                                test.exit_code,
                                excerpt(&stderr)
                            ));
                        }
                        match_regexes(
                            &mut failures,
                            "stdout",
                            &stdout,
                            &test.expected_output,
                            &test.excluded_output,
                        );
                        match_regexes(
                            &mut failures,
                            "stderr",
                            &stderr,
                            &test.expected_error,
                            &test.excluded_error,
                        );
                    }
                }
            }
        }
        result(failures)
    }
}

/// The variables `containerRunOptions` adds: non-empty values from `envFile` (dotenv lines),
/// then the named variables of our own environment that are set. CST passes an unset one as
/// an empty entry, which Docker rejects, so under `strict` it fails the test.
fn run_options_env(
    options: &RunOptions,
    strict: bool,
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut env = Vec::new();
    if !options.env_file.is_empty() {
        let text = std::fs::read_to_string(&options.env_file).map_err(|e| {
            format!("containerRunOptions.envFile {}: {e}", options.env_file)
        })?;
        for line in text.lines() {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            if !key.trim().is_empty() && !value.is_empty() {
                env.push((key.trim().to_string(), value.to_string()));
            }
        }
    }
    for name in &options.env_vars {
        match std::env::var_os(name).filter(|v| !v.is_empty()) {
            Some(value) => env.push((name.clone(), value.to_string_lossy().into_owned())),
            None if strict => {
                return Err(format!(
                    "containerRunOptions.envVars names {name}, which is not set here \
                     (container-structure-test then fails every command test)"
                ))
            }
            None => {}
        }
    }
    Ok(env)
}

impl Drop for PodmanStore {
    fn drop(&mut self) {
        // Removing containers and images unmounts their layers, so the
        // temporary directory can then be deleted. `system reset` would do
        // more, but it also deletes the machine's podman networks, which live
        // outside --root.
        for args in [["rm", "--all", "--force"], ["rmi", "--all", "--force"]] {
            let _ = self
                .podman()
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `command`, feeding stdin from `feed` and collecting output, and kills
/// it after `timeout` (status `None`).
fn capture(
    mut command: Command,
    feed: Option<&mut dyn FnMut(ChildStdin) -> io::Result<()>>,
    timeout: Duration,
    program: &str,
) -> Result<Captured> {
    command
        .stdin(if feed.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        program: program.to_string(),
        source,
    })?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let mut feed_error = None;
    if let (Some(feed), Some(stdin)) = (feed, child.stdin.take()) {
        feed_error = feed(stdin).err();
    }
    let status = wait_with_timeout(&mut child, timeout, program)?;
    let captured = Captured {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if let (Some(error), Some(status)) = (feed_error, status) {
        if status.success() {
            return Err(Error::Container {
                program: program.to_string(),
                action: "streaming the image".into(),
                detail: error.to_string(),
            });
        }
    }
    Ok(captured)
}

fn drain<R: Read + Send + 'static>(reader: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = reader {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
    program: &str,
) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Some(status)),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(None) => thread::sleep(POLL),
            Err(source) => {
                return Err(Error::Spawn {
                    program: program.to_string(),
                    source,
                })
            }
        }
    }
}

/// Streams an OCI archive (a tar of a one-image layout) of `image`.
fn write_oci_archive(layout: &Layout, image: &Image, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.manifest_digest,
            "size": image.manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "pyoci-test"}
        }]
    });
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_bytes(&mut tar, "index.json", index.to_string().as_bytes())?;
    append_bytes(
        &mut tar,
        &blob_name(&image.manifest_digest),
        &image.manifest_bytes,
    )?;
    append_bytes(
        &mut tar,
        &blob_name(image.manifest.config().digest().as_ref()),
        &image.config_bytes,
    )?;
    let mut written = std::collections::BTreeSet::new();
    for layer in image.manifest.layers() {
        let digest = layer.digest().to_string();
        if !written.insert(digest.clone()) {
            continue;
        }
        let path = layout.blob_path(&digest);
        append_file(&mut tar, &blob_name(&digest), &path)?;
    }
    tar.into_inner()?.flush()
}

fn blob_name(digest: &str) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    format!("blobs/{algorithm}/{hex}")
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    tar.append_data(&mut header(bytes.len() as u64), name, bytes)
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, name: &str, path: &Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    tar.append_data(&mut header(size), name, file)
}
