//! Helpers for integration tests that drive real container tools. A missing tool fails the
//! test that needs it: nothing here skips.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The repository root (this file is `tests/support/tools.rs`; tests run from `crates/cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Debian packages distroless bases are built from; `PYOCI_TEST_DEBS` overrides.
pub fn debs_dir() -> PathBuf {
    std::env::var_os("PYOCI_TEST_DEBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/debs/bookworm-amd64"))
}

pub fn lock_file() -> PathBuf {
    repo_root().join("rules/private/distroless/bookworm_amd64.lock.json")
}

pub fn containers_conf() -> PathBuf {
    repo_root().join("tests/support/containers.conf")
}

/// Fails the test when a tool the project depends on is not installed.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("required tool `{name}` is not on PATH; install it (tools/install-deps.sh)"))
}

/// Runs a command and returns its output, whatever its exit status.
pub fn output(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs a command that must succeed and returns its stdout.
pub fn run_ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A name no other test (or concurrent test run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A podman with its own storage, run state and temp dir under `dir`, so tests share nothing
/// with each other or with the machine's podman.
pub struct Podman {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub tmpdir: PathBuf,
}

impl Podman {
    pub fn new(dir: &Path) -> Podman {
        require_tool("podman");
        require_tool("runc");
        let podman = Podman {
            root: dir.join("podman-root"),
            runroot: dir.join("podman-runroot"),
            tmpdir: dir.join("podman-tmp"),
        };
        for d in [&podman.root, &podman.runroot, &podman.tmpdir] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        podman
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", containers_conf())
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .arg("--tmpdir")
            .arg(&self.tmpdir)
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc"]);
        command
    }

    pub fn run<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run_ok(self.command().args(args))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command().args(["rm", "--all", "--force"]).stdin(Stdio::null()).output();
        let _ = self.command().args(["rmi", "--all", "--force"]).stdin(Stdio::null()).output();
    }
}

/// `podman system service` answering the Docker API on a unix socket; stopped when dropped.
pub struct PodmanService {
    child: Child,
    pub socket: PathBuf,
}

impl PodmanService {
    pub fn start(podman: &Podman, socket_dir: &Path) -> PodmanService {
        require_tool("docker");
        let socket = socket_dir.join("podman.sock");
        let child = podman
            .command()
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start podman system service: {e}"));
        let service = PodmanService { child, socket };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = service.socket.exists()
                && output(service.docker().arg("version")).status.success();
            if ready {
                return service;
            }
            assert!(Instant::now() < deadline, "podman system service did not answer on {}", service.socket.display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The real docker CLI talking to podman.
    pub fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        command.env("DOCKER_HOST", self.docker_host());
        command
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Images loaded into the machine's Docker Engine, removed when dropped (also on failure).
pub struct DockerImages {
    pub tags: Vec<String>,
}

impl DockerImages {
    pub fn new(tags: &[String]) -> DockerImages {
        require_tool("docker");
        DockerImages { tags: tags.to_vec() }
    }
}

impl Drop for DockerImages {
    fn drop(&mut self) {
        for tag in &self.tags {
            let _ = Command::new("docker").args(["rmi", "--force", tag]).stdin(Stdio::null()).output();
        }
    }
}

/// Every file under `dir` (relative path -> contents), for byte-for-byte comparisons.
pub fn tree_contents(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.insert(path.strip_prefix(root).unwrap_or(&path).to_path_buf(), bytes);
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
