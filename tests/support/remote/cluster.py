"""A real Remote Execution API cluster for the e2e tests, started and stopped by the test.

- PostgreSQL (the only database BuildGrid's scheduler takes) on a unix socket in a private
  directory, no TCP listener;
- BuildGrid 0.4.4 (CAS, action cache, Execution and Bots services) on 127.0.0.1 for the Bazel
  client and on the gateway address of a private, internal Docker network for the workers;
- N worker containers on that network, made from a Debian sid root with buildbox 1.4.30
  (`docker import`ed from tools/install-remote-execution.sh's cache): buildbox-casd +
  buildbox-worker + buildbox-run-hosttools (tests/support/remote/worker.sh).

    with Cluster(tmp_dir, workers=2) as cluster:
        cluster.executor          # grpc://127.0.0.1:PORT for --remote_executor
        cluster.kill_worker(name)
"""

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("PYOCI_REMOTE_CACHE", "/var/cache/rules_pyoci/remote"))
BUILDGRID = CACHE / "buildgrid-0.4.4" / "bin" / "bgd"
WORKER_RECIPE = 3  # tools/install-remote-execution.sh's worker_recipe
WORKER_ROOT = CACHE / f"worker-root-{WORKER_RECIPE}"
PROVISION = HERE.parents[2] / "tools" / "install-remote-execution.sh"

BUILDGRID_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
  - !channel
    address: "{gateway}:{port}"
    insecure-mode: true
authorization:
  method: none
# gRPC threads. Each bot's UpdateBotSession and each of Bazel's Execute calls holds one for as
# long as it waits; the default (5 per CPU) runs out on 2 cores and BuildGrid then answers a
# worker with RESOURCE_EXHAUSTED ("Concurrent RPC limit exceeded!"), which ends the worker.
thread-pool-size: 64
connections:
  # psycopg2 by name: BuildGrid's job notifier uses its API, and SQLAlchemy 2.1 would pick psycopg 3.
  - !sql-connection &sql
    connection-string: postgresql+psycopg2://bgd@/postgres?host={socket_dir}
    pool-size: 5
    max-overflow: 10
storages:
  - !disk-storage &cas
    path: {cas}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    storage: *cas
    action-cache: *ac
    # A killed worker's job goes back to the queue once its bot has been silent this long.
    bot-session-keepalive-timeout: 8
    max-job-attempts: 3
    property-set: !dynamic-property-set
      match-property-keys: [OSFamily, ISA]
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""


class ClusterError(AssertionError):
    pass


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise ClusterError(f"`{' '.join(map(str, argv))}` exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


def postgres_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise ClusterError("PostgreSQL is not installed: run tools/install-remote-execution.sh")
    return found[-1].parent


def provision():
    """Runs the idempotent provisioning script unless everything is already in its cache."""
    if BUILDGRID.exists() and (WORKER_ROOT / ".pyoci-worker-root").exists() and shutil.which("debootstrap"):
        return
    result = subprocess.run(["bash", str(PROVISION)], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise ClusterError(f"{PROVISION} failed:\n{result.stderr[-3000:]}")


def worker_image():
    """The workers' image, imported from the cached sid root once per recipe and buildbox version."""
    stamp = (WORKER_ROOT / ".pyoci-worker-root").read_bytes()
    tag = "pyoci-remote-worker:" + hashlib.sha256(stamp + str(WORKER_RECIPE).encode()).hexdigest()[:12]
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        tar = subprocess.Popen(["tar", "-C", str(WORKER_ROOT), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True)
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ClusterError(f"docker import of {WORKER_ROOT} failed: {imported.stderr}")
    return tag


def wait_for_port(host, port, process, log, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"BuildGrid exited {process.returncode}:\n{Path(log).read_text()[-3000:]}")
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.3)
    raise ClusterError(f"BuildGrid did not listen on {host}:{port} within {timeout}s:\n{Path(log).read_text()[-3000:]}")


class Cluster:
    def __init__(self, directory, workers=2, prefix=None):
        self.dir = Path(directory)
        self.workers_wanted = workers
        self.prefix = prefix or f"pyoci-remote-{os.getpid()}"
        self.network = f"{self.prefix}-net"
        self.workers = []
        self.postgres = None
        self.buildgrid = None
        self.network_created = False

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        provision()
        self.image = worker_image()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._start_postgres()
        run(["docker", "network", "create", "--internal", self.network])
        self.network_created = True
        self.gateway = run(
            ["docker", "network", "inspect", self.network, "-f", "{{(index .IPAM.Config 0).Gateway}}"]
        ).strip()
        self._start_buildgrid()
        for index in range(1, self.workers_wanted + 1):
            self.start_worker(f"{self.prefix}-worker-{index}")

    def _start_postgres(self):
        bin_dir = postgres_bin()
        # PostgreSQL runs as the postgres user, which may not reach into the test's private
        # temporary directory: its files get a directory of their own.
        self.pg_dir = Path(tempfile.mkdtemp(prefix="pyoci-remote-pg-"))
        self.pg_dir.chmod(0o755)
        data, self.socket_dir = self.pg_dir / "data", self.pg_dir / "socket"
        for path in (data, self.socket_dir):
            path.mkdir()
            shutil.chown(path, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        run([*as_postgres, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "bgd"])
        self.postgres_log = open(self.dir / "postgres.log", "w")
        self.postgres = subprocess.Popen(
            [*as_postgres, bin_dir / "postgres", "-D", data, "-k", self.socket_dir,
             "-c", "listen_addresses=", "-c", "fsync=off"],
            stdout=self.postgres_log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not (self.socket_dir / ".s.PGSQL.5432").exists():
            if self.postgres.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"PostgreSQL did not start:\n{(self.dir / 'postgres.log').read_text()[-2000:]}")
            time.sleep(0.2)
        run([BUILDGRID, "migrate", "apply", f"postgresql+psycopg2://bgd@/postgres?host={self.socket_dir}"])

    def _start_buildgrid(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.cas_dir = self.dir / "cas"
        config = self.dir / "buildgrid.yml"
        config.write_text(
            BUILDGRID_CONFIG.format(port=self.port, gateway=self.gateway, socket_dir=self.socket_dir, cas=self.cas_dir)
        )
        self.buildgrid_log_path = self.dir / "buildgrid.log"
        self.buildgrid_log = open(self.buildgrid_log_path, "w")
        self.buildgrid = subprocess.Popen(
            [BUILDGRID, "server", "start", config], stdout=self.buildgrid_log, stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        wait_for_port("127.0.0.1", self.port, self.buildgrid, self.buildgrid_log_path)
        wait_for_port(self.gateway, self.port, self.buildgrid, self.buildgrid_log_path)

    def start_worker(self, name):
        run([
            "docker", "run", "-d", "--name", name, "--network", self.network,
            "-v", f"{HERE}:/opt/pyoci-remote:ro",
            self.image, "/opt/pyoci-remote/worker.sh", f"http://{self.gateway}:{self.port}", name,
        ])
        self.workers.append(name)
        deadline = time.monotonic() + 60
        while "Starting buildbox-worker" not in self.logs(name):
            if not self.running(name) or time.monotonic() > deadline:
                raise ClusterError(f"worker {name} did not start:\n{self.logs(name)[-3000:]}")
            time.sleep(0.3)

    def stop(self):
        for name in self.workers:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        self.workers = []
        if self.network_created:
            subprocess.run(["docker", "network", "rm", self.network], capture_output=True)
            self.network_created = False
        for process in (self.buildgrid, self.postgres):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.buildgrid = self.postgres = None
        if getattr(self, "pg_dir", None) is not None:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None

    # -- inspection and faults ---------------------------------------------------------------

    @property
    def executor(self):
        return f"grpc://127.0.0.1:{self.port}"

    def logs(self, name):
        result = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
        return result.stdout + result.stderr

    def running(self, name):
        result = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True)
        return result.stdout.strip() == "true"

    def processes(self, name):
        """Command lines running in a worker container (`docker top`: the image has no ps)."""
        result = subprocess.run(["docker", "top", name, "-o", "pid,args"], capture_output=True, text=True)
        return result.stdout.splitlines()[1:] if result.returncode == 0 else []

    def kill_worker(self, name):
        run(["docker", "kill", name])
