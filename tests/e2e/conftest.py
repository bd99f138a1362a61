"""Shared harness for the end-to-end tests: real Bazel, real Docker Engine, real podman.

Two Bazels run this suite (the Makefile runs it once with each):
  PYOCI_BAZEL=4 (default)  the machine's Bazel 4.2.3, WORKSPACE mode (WORKSPACE.bazel files)
  PYOCI_BAZEL=7            Debian sid's Bazel 7.7.1, bzlmod (MODULE.bazel files, --noenable_workspace),
                           through tools/bazel7 (a chroot into the root tools/bazel7-sid.sh makes).
                           podman then is the sid root's podman 5 too (tools/sid-run podman), so
                           the images `bazel run :x_load` puts in a podman store are read by the
                           same podman. A missing root fails the setup; it never skips.
  PYOCI_BAZEL_FLAGS        more flags for every build/test/run command, e.g. Bazel 8's
                           --incompatible_* defaults (see the Makefile's e2e-bazel8-flags)

Environment (all optional):
  PYOCI_DEBS_DIR          .deb files for the distroless bases
                          (default: ../shared/debs/bookworm-amd64 beside the checkout)
  PYOCI_CARGO_TARGET_DIR  cargo target dir the toolchain repository reuses (default: ./target,
                          so a preceding `cargo build --release -p pyoci` makes it a no-op)
  PYOCI_BINARY            a prebuilt pyoci for the toolchain instead of `cargo build` (the
                          build-from-source path is then not exercised)
  PYOCI_E2E_TMP           where temporary output roots and checkouts go (default: $TMPDIR)
  PYOCI_E2E_KEEP          set to keep the temporary directory for inspection
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAND_INS = REPO / "tests" / "bazel"
PLATFORMS = Path("/usr/share/bazel/tools/platforms")
CONTAINERS_CONF = REPO / "tests" / "support" / "containers.conf"

BAZEL_MAJOR = os.environ.get("PYOCI_BAZEL", "4")
if BAZEL_MAJOR not in ("4", "7"):
    raise pytest.UsageError(f"PYOCI_BAZEL={BAZEL_MAJOR!r}: use 4 (WORKSPACE) or 7 (bzlmod)")
BZLMOD = BAZEL_MAJOR == "7"
BAZEL7 = REPO / "tools" / "bazel7"
SID_RUN = REPO / "tools" / "sid-run"
BAZEL7_ROOT = Path(os.environ.get("PYOCI_BAZEL7_ROOT", "/var/cache/pyoci/bazel7-sid"))
EXTRA_FLAGS = os.environ.get("PYOCI_BAZEL_FLAGS", "").split()


# Every suite runs under both Bazels but test_bzlmod, which Bazel 4 cannot run (it reads no
# MODULE.bazel).
collect_ignore = [] if BZLMOD else ["test_bzlmod.py"]


def main_repository(workspace_name):
    """The main repository's directory in runfiles: the WORKSPACE name, or `_main` under bzlmod."""
    return "_main" if BZLMOD else workspace_name


def main_label(label):
    """How Bazel prints a main-repository label (`//:x`) in messages: `@@//:x` under bzlmod."""
    return "@@" + label if BZLMOD else label


def extension_repository(name, extension):
    """The runfiles directory of repository `name` that rules_pyoci's module extension `extension`
    made: `name` under WORKSPACE, its canonical name (`~`, or `+` as Bazel 8 spells it) under bzlmod."""
    if not BZLMOD:
        return name
    separator = "+" if "--incompatible_use_plus_in_repo_names" in EXTRA_FLAGS else "~"
    return separator.join(["rules_pyoci", "", extension, name])


def workspace_file(workspace_name, symbols=(), extra="", bases_args=""):
    """A WORKSPACE for a test's workspace: rules_pyoci from this checkout, its toolchain and the
    bases (`distroless_python_bases(<bases_args>)`), more `symbols` loaded from repositories.bzl,
    then `extra`."""
    names = sorted({"distroless_python_bases", "pyoci_register_toolchains", "rules_pyoci_dependencies", *symbols})
    loads = "".join(f'    "{name}",\n' for name in names)
    return (
        f'workspace(name = "{workspace_name}")\n\n'
        f'local_repository(name = "rules_pyoci", path = "{REPO}")\n\n'
        f'load(\n    "@rules_pyoci//rules:repositories.bzl",\n{loads})\n\n'
        "rules_pyoci_dependencies()\n\npyoci_register_toolchains()\n\n"
        f"distroless_python_bases({bases_args})\n"
        + extra
    )


def module_file(workspace_name, extra="", mirror="https://deb.debian.org/debian", bases_args=""):
    """A MODULE.bazel beside a test's WORKSPACE: rules_pyoci from this checkout, the bases
    (`distroless.debs(mirrors = [mirror], <bases_args>)`), `extra`."""
    return (
        f'module(name = "{workspace_name}")\n\n'
        'bazel_dep(name = "rules_pyoci", version = "0.1.0")\n'
        f'local_path_override(module_name = "rules_pyoci", path = "{REPO}")\n\n'
        'distroless = use_extension("@rules_pyoci//rules:extensions.bzl", "distroless")\n'
        f'distroless.debs(mirrors = ["{mirror}"]{", " + bases_args if bases_args else ""})\n'
        'use_repo(distroless, "distroless_python_base", "distroless_python_debug", '
        '"distroless_python_debug_nonroot", "distroless_python_nonroot")\n'
        + extra
    )


def require_bazel():
    if not BZLMOD:
        require_tool("bazel")
        return
    require_bazel7_root()


def require_bazel7_root():
    """The sid root of tools/bazel7-sid.sh: Bazel 7.7.1, podman 5, and Docker 28 with containerd."""
    if not (BAZEL7_ROOT / ".pyoci-ready").is_file():
        pytest.fail(
            f"there is no sid root (Bazel 7, podman 5, Docker 28) at {BAZEL7_ROOT}: run "
            "`bash tools/bazel7-sid.sh` as root (tools/install-deps.sh does; it needs "
            "deb.debian.org once), or set PYOCI_BAZEL7_ROOT"
        )


def debs_dir():
    configured = os.environ.get("PYOCI_DEBS_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "debs" / "bookworm-amd64"
    if not path.is_dir():
        pytest.fail(f"no .deb directory at {path}: set PYOCI_DEBS_DIR")
    return path.resolve()


def require_tool(name):
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: these tests need the real tool (tools/install-deps.sh)")


def tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


class BazelError(AssertionError):
    pass


class Bazel:
    """One Bazel server for one workspace, with the offline flags this machine needs."""

    def __init__(self, workspace, output_user_root, repository_cache, repo_env, extra_flags=(), binds=()):
        self.workspace = Path(workspace)
        self.output_user_root = Path(output_user_root)
        self.repository_cache = Path(repository_cache)
        self.repo_env = dict(repo_env)
        self.extra_flags = list(extra_flags)
        # Host directories Bazel 7's chroot must see at the same path (tools/sid-run).
        self.binds = [str(path) for path in binds]

    def executable(self):
        return [str(BAZEL7)] if BZLMOD else ["bazel"]

    def env(self, extra=None):
        env = {**os.environ, **(extra or {})}
        if BZLMOD:
            env["PYOCI_BAZEL7_BINDS"] = ":".join([*self.binds, str(self.workspace)])
        return env

    def startup_flags(self):
        # The workspace and home rc files are skipped so a developer's user.bazelrc or
        # offline.bazelrc cannot change what is tested: everything the build needs is on the
        # command line. The system rc stays (Debian's Bazel finds its install base there).
        return [
            f"--output_user_root={self.output_user_root}",
            "--noworkspace_rc",
            "--nohome_rc",
            "--max_idle_secs=900",
        ]

    def command_flags(self):
        if BZLMOD:
            # The offline module overrides live in the sid root's system bazelrc.
            flags = ["--enable_bzlmod", "--noenable_workspace", "--lockfile_mode=off"]
        else:
            flags = [
                f"--override_repository=rules_cc={STAND_INS / 'rules_cc'}",
                f"--override_repository=rules_java={STAND_INS / 'rules_java'}",
            ]
            if PLATFORMS.is_dir():
                flags.append(f"--override_repository=platforms={PLATFORMS}")
        flags.append(f"--repository_cache={self.repository_cache}")
        flags += [f"--repo_env={key}={value}" for key, value in sorted(self.repo_env.items())]
        return flags + EXTRA_FLAGS + self.extra_flags

    def run(self, command, *args, check=True, env=None, timeout=3600):
        argv = [*self.executable(), *self.startup_flags(), command, *self.command_flags(), *args]
        result = subprocess.run(
            argv,
            cwd=self.workspace,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise BazelError(
                f"`{' '.join(argv)}` in {self.workspace} exited {result.returncode}\n"
                f"--- stdout ---\n{tail(result.stdout)}\n--- stderr ---\n{tail(result.stderr)}"
            )
        return result

    def bin_dir(self):
        return Path(self.info("bazel-bin"))

    def info(self, key):
        result = subprocess.run(
            [*self.executable(), *self.startup_flags(), "info", *self.command_flags(), key],
            cwd=self.workspace, env=self.env(), capture_output=True, text=True, check=True,
        )
        return result.stdout.strip()

    def shutdown(self):
        subprocess.run(
            [*self.executable(), *self.startup_flags(), "shutdown"],
            cwd=self.workspace, env=self.env(), capture_output=True, text=True, check=False, timeout=120,
        )


def spawns(log_path):
    """The spawns of a Bazel 4 --execution_log_json_file (concatenated JSON objects)."""
    text = Path(log_path).read_text() if Path(log_path).exists() else ""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return found
        item, position = decoder.raw_decode(text, position)
        found.append(item)


def cache_hit(spawn):
    """Whether an execution-log spawn came from a cache (disk or remote): Bazel 4 says
    `remoteCacheHit`, Bazel 7 `cacheHit`."""
    return bool(spawn.get("remoteCacheHit") or spawn.get("cacheHit"))


@pytest.fixture(scope="session")
def e2e_tmp():
    require_bazel()
    # Short paths: Bazel's server socket lives under the output root.
    root = Path(tempfile.mkdtemp(prefix="pyoci-e2e-", dir=os.environ.get("PYOCI_E2E_TMP")))
    yield root
    if not os.environ.get("PYOCI_E2E_KEEP"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def repo_env():
    target_dir = os.environ.get("PYOCI_CARGO_TARGET_DIR") or str(REPO / "target")
    env = {"PYOCI_DEBS_DIR": str(debs_dir()), "PYOCI_CARGO_TARGET_DIR": target_dir}
    if os.environ.get("PYOCI_BINARY"):
        env["PYOCI_BINARY"] = os.environ["PYOCI_BINARY"]
    elif BZLMOD:
        # The sid root has no Rust toolchain or C linker: Bazel 7 gets the pyoci that `make build`
        # made (the Bazel 4 run covers the toolchain's build-from-source path).
        built = Path(target_dir) / "release" / "pyoci"
        if not built.is_file():
            pytest.fail(f"PYOCI_BAZEL=7 needs a built pyoci at {built}: run `cargo build --release --locked -p pyoci` or set PYOCI_BINARY")
        env["PYOCI_BINARY"] = str(built)
    return env


def bind_dirs(env):
    """The host directories named by repo_env values (absolute paths) that Bazel 7 must see."""
    found = []
    for value in env.values():
        path = Path(value)
        if path.is_absolute() and path.exists():
            found.append(path if path.is_dir() else path.parent)
    return found


@pytest.fixture(scope="session")
def make_bazel(e2e_tmp, repo_env):
    """Creates Bazel handles; every server started is shut down at the end of the session."""
    started = []

    def make(workspace, output_user_root=None, repository_cache=None, extra_repo_env=None, extra_flags=()):
        env = {**repo_env, **(extra_repo_env or {})}
        bazel = Bazel(
            workspace,
            output_user_root or e2e_tmp / "root",
            repository_cache or e2e_tmp / "repository-cache",
            env,
            extra_flags,
            binds=[REPO, e2e_tmp, *bind_dirs(env)],
        )
        started.append(bazel)
        return bazel

    yield make
    # One shutdown per server (handles can share a workspace and output root), side by side:
    # a suite starts dozens, and each shutdown mostly waits for its JVM to exit.
    servers = {(bazel.workspace, bazel.output_user_root): bazel for bazel in started}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(Bazel.shutdown, servers.values()))


@pytest.fixture(scope="session")
def offline_test_flags(e2e_tmp):
    """Flags `bazel test` needs offline: Bazel 4 gives every test rule an implicit dependency on
    @remote_coverage_tools, which it would download although only `bazel coverage` uses it."""
    stand_in = e2e_tmp / "remote_coverage_tools"
    stand_in.mkdir(exist_ok=True)
    (stand_in / "WORKSPACE").write_text("")
    (stand_in / "BUILD").write_text(
        'filegroup(name = "coverage_report_generator", visibility = ["//visibility:public"])\n'
        'filegroup(name = "lcov_merger", visibility = ["//visibility:public"])\n'
    )
    return [f"--override_repository=remote_coverage_tools={stand_in}"]


class Podman:
    """A podman with private storage under `root`, configured for this machine (runc, cgroupfs)."""

    def __init__(self, root):
        self.root = Path(root)
        for name in ["storage", "run", "tmp"]:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def argv(self):
        """This podman's command line as the loader inside Bazel sees it (PYOCI_LOADER)."""
        return [
            "podman",
            "--root", str(self.root / "storage"),
            "--runroot", str(self.root / "run"),
            "--tmpdir", str(self.root / "tmp"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--runtime", "runc",
        ]

    def env(self):
        env = {"CONTAINERS_CONF": str(CONTAINERS_CONF)}
        if BZLMOD:
            env["PYOCI_BAZEL7_BINDS"] = ":".join([str(self.root), str(CONTAINERS_CONF.parent)])
        return env

    def loader(self):
        """The `loader` string for oci_load (PYOCI_LOADER): this podman's argv."""
        return " ".join(self.argv())

    def host_argv(self):
        """The same podman from this process: under Bazel 7 the sid root's podman, which wrote the store."""
        return [str(SID_RUN), *self.argv()] if BZLMOD else self.argv()

    def run(self, *args, check=True, timeout=300):
        return subprocess.run(
            [*self.host_argv(), *args],
            env={**os.environ, **self.env()},
            capture_output=True, text=True, check=check, timeout=timeout,
        )


@pytest.fixture(scope="session")
def podman(e2e_tmp):
    if not BZLMOD:
        require_tool("podman")
        require_tool("runc")
    engine = Podman(e2e_tmp / "podman")
    yield engine
    engine.run("system", "reset", "--force", check=False)


@pytest.fixture(scope="session")
def podman_service(podman, e2e_tmp):
    """podman's Docker API on a unix socket (DOCKER_HOST=unix://...), sharing the podman fixture's storage."""
    # Inside the podman root: under Bazel 7 the sid root's podman sees only the directories
    # podman.env() binds (and /tmp), so a socket beside that root, in a PYOCI_E2E_TMP outside
    # /tmp, would be made inside the sid root where the host's docker CLI cannot reach it.
    socket = podman.root / "podman.sock"
    service = subprocess.Popen(
        [*podman.host_argv(), "system", "service", "--time=0", f"unix://{socket}"],
        env={**os.environ, **podman.env()},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            ["docker", "-H", f"unix://{socket}", "version"], capture_output=True
        ).returncode != 0:
            if service.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"podman system service did not answer on {socket}: {service.stderr.read() if service.poll() is not None else 'timeout'}")
            time.sleep(0.5)
        yield f"unix://{socket}"
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


@pytest.fixture(scope="session")
def containerd_docker(e2e_tmp):
    """A second, private Docker Engine with the containerd image store (the default of new Docker
    29 installs): the sid root's dockerd 28 with `containerd-snapshotter` on, over its own
    containerd, data roots under e2e_tmp, no network (no bridge, no iptables). Yields the
    DOCKER_HOST to reach it (a unix socket: reachable from the host's network namespace although
    the daemons run in a private one); stops both daemons at the end."""
    require_bazel7_root()
    state = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))  # short: unix socket paths
    data = e2e_tmp / "containerd-docker"
    data.mkdir(parents=True, exist_ok=True)
    (state / "daemon.json").write_text('{"features": {"containerd-snapshotter": true}}\n')
    (state / "containerd.toml").write_text(
        f'version = 3\nroot = "{data}/containerd"\nstate = "{state}/containerd-state"\n'
        f'[grpc]\n  address = "{state}/containerd.sock"\n'
    )
    script = (
        f'containerd --config {state}/containerd.toml >{state}/containerd.log 2>&1 &\n'
        f'while [ ! -S {state}/containerd.sock ]; do sleep 0.2; done\n'
        f'exec dockerd --containerd {state}/containerd.sock --data-root {data}/docker '
        f'--exec-root {state}/exec --pidfile {state}/docker.pid --host unix://{state}/docker.sock '
        f'--config-file {state}/daemon.json --bridge none --iptables=false --ip6tables=false'
    )
    host = f"unix://{state}/docker.sock"
    log = open(state / "dockerd.log", "w")
    # Its own process group (stopping it stops containerd too) and its own network namespace:
    # a dockerd in the host's would take over the host Docker Engine's bridge (docker0).
    daemon = subprocess.Popen(
        ["unshare", "--net", str(SID_RUN), "sh", "-c", script],
        env={**os.environ, "PYOCI_BAZEL7_BINDS": f"{data}:{state}"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            info = subprocess.run(["docker", "-H", host, "info", "--format", "{{json .DriverStatus}}"],
                                  capture_output=True, text=True)
            if info.returncode == 0:
                break
            if daemon.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the containerd-store dockerd did not answer on {host}:\n"
                            f"{tail((state / 'dockerd.log').read_text())}")
            time.sleep(0.5)
        assert "io.containerd.snapshotter" in info.stdout, info.stdout
        yield host
    finally:
        os.killpg(daemon.pid, 15)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, 9)
            daemon.wait()
        log.close()
        # Overlay snapshots are mounted inside the private mount namespace, gone with it.
        subprocess.run(["rm", "-rf", str(state), str(data)], check=False)


@pytest.fixture(scope="session")
def docker():
    require_tool("docker")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.fail(f"the Docker Engine does not answer `docker info`:\n{tail(info.stderr)}")
    loaded = []
    yield loaded
    for tag in loaded:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def copy_checkout(destination):
    """Copies this checkout (tracked and untracked, minus ignored files) to `destination`."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for relative in filter(None, listing):
        source = REPO / relative
        if not source.is_file():
            continue  # deleted in the work tree but still in the index
        target = Path(destination) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return Path(destination)
