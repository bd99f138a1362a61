"""Image builds on a real remote-execution cluster, with builds without the bytes.

The cluster (tests/support/remote/cluster.py): BuildGrid 0.4.4 as REAPI server, CAS and action
cache, and two buildbox 1.4.30 worker containers on a private Docker network, all started and
stopped here. The hello example is built by Bazel 4.2 (WORKSPACE) or, under PYOCI_BAZEL=7, by
Bazel 7.7.1 (bzlmod; tools/bazel7 shares the host's network namespace, so BuildGrid's 127.0.0.1
port is its too) with `--remote_executor`, `--spawn_strategy=remote` (nothing may fall back to
the client) and `--remote_download_minimal`:

- every image action runs on a worker, none on the client, and no layer comes to the client;
- every remote build (first client, cache hits, fault run) gives the golden digest of a local
  build: the worker presents every input as executable, but py_image states each file's mode;
- `bazel run` of a load target and of an oci_push work although the layers stayed remote;
- a second client, another checkout with an empty output base, gets every action from the cache;
- a worker killed while it runs an image action: the build completes on the other worker, with
  the same digest.
"""

import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BZLMOD, REPO, cache_hit, copy_checkout, require_tool, spawns
from test_golden_hello import HELLO, assert_golden

sys.path.insert(0, str(REPO / "tests" / "support" / "remote"))
sys.path.insert(0, str(REPO / "tests" / "support"))
from cluster import Cluster  # noqa: E402
from registry import Registry  # noqa: E402

EXAMPLE = "examples/hello"
# The load target writes no tarball at build time (`pyoci load` reads the layout when it runs).
IMAGE_MNEMONICS = {"PyociBase", "PyociLayer", "PyociBytecode", "PyociImage", "PyociCheckLayer", "PyociCheck"}
# Extra targets the test adds to its copy of the example: a load under a name no other test
# uses (the Docker Engine is shared) and a push.
EXTRA_BUILD = """
load("@rules_pyoci//rules:defs.bzl", "oci_load", "oci_push")

oci_load(
    name = "remote_load",
    image = ":hello_image",
    repo_tags = ["{tag}"],
)

oci_push(
    name = "remote_push",
    image = ":hello_image",
    repository = "127.0.0.1:1/unused",
)
"""

# What `bazel run` of a load or push target needs on Bazel 4.2 (see the load test).
RUN_DOWNLOADS = ["--remote_download_toplevel"]


def remote_flags(cluster):
    return [
        f"--remote_executor={cluster.executor}",
        "--remote_download_minimal",
        "--spawn_strategy=remote",
        "--remote_local_fallback=false",
        "--incompatible_strict_action_env",
        "--remote_timeout=600",
        "--jobs=8",
    ]


@pytest.fixture(scope="module")
def pyoci_binary(repo_env):
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p pyoci` first")
    return binary


@pytest.fixture(scope="module")
def cluster(e2e_tmp):
    require_tool("docker")
    with Cluster(e2e_tmp / "cluster", workers=2) as started:
        yield started


@pytest.fixture(scope="module")
def load_tag():
    return f"localhost/pyoci-remote-hello:{int(time.time())}"


def checkout(e2e_tmp, name, load_tag):
    root = copy_checkout(e2e_tmp / name / "rules_pyoci")
    build = root / EXAMPLE / "BUILD.bazel"
    build.write_text(build.read_text() + EXTRA_BUILD.format(tag=load_tag))
    return root


def client(make_bazel, e2e_tmp, name, root, pyoci_binary, cluster):
    return make_bazel(
        root / EXAMPLE,
        output_user_root=e2e_tmp / name / "root",
        repository_cache=e2e_tmp / name / "repository-cache",
        extra_repo_env={"PYOCI_BINARY": str(pyoci_binary)},
        extra_flags=remote_flags(cluster),
    )


def build(bazel, log, *extra, **kwargs):
    result = bazel.run("build", f"//:{HELLO}", "//:remote_load", f"--execution_log_json_file={log}", *extra, **kwargs)
    return spawns(log), result.stderr


def process_summary(stderr):
    summary = re.search(r"INFO: (\d+) process(?:es)?: (.*)", stderr)
    assert summary, f"no process summary in Bazel's output:\n{stderr[-2000:]}"
    return summary.group(0)


def image_digest(bazel, *extra):
    """The image digest the cluster built. With --remote_download_minimal nothing is downloaded,
    so this asks for the `digest` output group alone with --remote_download_toplevel: every
    action is a cache hit and the client downloads that one small file."""
    bazel.run("build", f"//:{HELLO}", "--output_groups=digest", "--remote_download_toplevel", *extra)
    return (Path(bazel.info("bazel-bin")) / f"{HELLO}.digest").read_text()


def describe(spawn):
    return f"{spawn.get('mnemonic')} runner={spawn.get('runner')!r} cacheHit={cache_hit(spawn)}"


@pytest.fixture(scope="module")
def first_client(e2e_tmp, make_bazel, pyoci_binary, cluster, load_tag):
    root = checkout(e2e_tmp, "client-a", load_tag)
    bazel = client(make_bazel, e2e_tmp, "client-a", root, pyoci_binary, cluster)
    spawned, stderr = build(bazel, e2e_tmp / "client-a" / "exec.json")
    yield bazel, spawned, stderr
    bazel.shutdown()


def test_every_image_action_runs_on_a_worker(first_client, cluster):
    bazel, spawned, stderr = first_client
    ran = {}
    for spawn in spawned:
        ran.setdefault(spawn.get("runner"), []).append(spawn.get("mnemonic"))
    print(f"\nclient A: {process_summary(stderr)}; spawns by runner: "
          + json.dumps({runner: len(m) for runner, m in ran.items()}))
    image_spawns = [s for s in spawned if s.get("mnemonic") in IMAGE_MNEMONICS]
    assert {s["mnemonic"] for s in image_spawns} == IMAGE_MNEMONICS, sorted(ran.items())
    not_remote = [s for s in spawned if s.get("runner") != "remote" or cache_hit(s)]
    assert not_remote == [], "actions that did not execute on a worker:\n" + "\n".join(map(describe, not_remote))
    assert not re.search(r"\d+ (local|linux-sandbox|processwrapper-sandbox|sandbox)\b", process_summary(stderr))
    assert re.search(r"\d+ remote\b", process_summary(stderr))
    executed = {name: cluster.logs(name).count("Runner exited with code 0") for name in cluster.workers}
    print(f"actions executed per worker: {executed}")
    stopped = [name for name in cluster.workers if not cluster.running(name)]
    assert stopped == [], f"workers stopped during the build: {stopped}\n" + "\n".join(
        cluster.logs(name)[-2000:] for name in stopped
    )


def test_layer_bytes_stay_remote(first_client):
    bazel, spawned, _ = first_client
    bin_dir = Path(bazel.info("bazel-bin"))
    layers = list((bin_dir / f"{HELLO}.layers").glob("*.tar.gz")) if (bin_dir / f"{HELLO}.layers").exists() else []
    assert layers == [], f"--remote_download_minimal still downloaded layer blobs: {layers}"
    assert not (bin_dir / f"{HELLO}.digest").exists(), "the top-level .digest output was downloaded"
    assert not (bin_dir / f"{HELLO}.tar").exists(), "the docker tarball was downloaded"


@pytest.fixture(scope="module")
def remote_digest(first_client):
    bazel, _, _ = first_client
    return image_digest(bazel)


def test_remote_image_equals_local_build(remote_digest):
    # py_image states every file's mode, so a worker that presents every input as executable
    # builds the bytes a local build does.
    assert_golden("hello-bzlmod" if BZLMOD else "hello", remote_digest)


def test_load_runs_although_the_layers_stayed_remote(first_client, docker, load_tag):
    bazel, _, _ = first_client
    docker.append(load_tag)
    # Bazel 4.2's `bazel run` under --remote_download_minimal does not download the runfiles of
    # the target it runs (the load script then finds no layout); --remote_download_toplevel
    # fetches the target's outputs and runfiles: the image's index, manifest and config, its
    # layer files and the base's layout, which the engine is sent from. Nothing else.
    bazel.run("run", *RUN_DOWNLOADS, "//:remote_load", env={"PYOCI_LOADER": ""})
    bin_dir = Path(bazel.info("bazel-bin"))
    assert not (bin_dir / f"{HELLO}.tar").exists(), "loading downloaded the docker tarball"
    assert not (bin_dir / HELLO).exists(), "loading downloaded the complete layout"
    assert not list(bin_dir.glob(f"{HELLO}.layers/*.findings.json")), "loading downloaded the gate records"
    ran = subprocess.run(["docker", "run", "--rm", "--network", "none", load_tag], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip(), "the loaded image printed nothing"


def test_push_runs_although_the_layers_stayed_remote(first_client, e2e_tmp, remote_digest):
    bazel, _, _ = first_client
    require_tool("docker-registry")
    with Registry(e2e_tmp / "registry") as registry:
        repository = f"{registry.host}/remote/hello"
        bazel.run("run", *RUN_DOWNLOADS, "//:remote_push", "--", "--repository", repository, "--tag", "remote")
        request = urllib.request.Request(
            f"http://{registry.host}/v2/remote/hello/manifests/remote",
            method="HEAD",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            pushed = response.headers["Docker-Content-Digest"]
    assert pushed == remote_digest


def test_second_client_gets_every_action_from_the_cache(e2e_tmp, make_bazel, pyoci_binary, cluster, load_tag, remote_digest):
    root = checkout(e2e_tmp, "elsewhere/client-b", load_tag)
    bazel = client(make_bazel, e2e_tmp, "elsewhere/client-b", root, pyoci_binary, cluster)
    try:
        spawned, stderr = build(bazel, e2e_tmp / "elsewhere" / "client-b" / "exec.json")
        digest = image_digest(bazel)
    finally:
        bazel.shutdown()
    print(f"\nclient B: {process_summary(stderr)}")
    hits = {s.get("mnemonic") for s in spawned if cache_hit(s)}
    assert IMAGE_MNEMONICS <= hits, f"image actions missing from client B's cache hits: {sorted(hits)}"
    executed = [s for s in spawned if not cache_hit(s)]
    assert executed == [], "client B executed actions:\n" + "\n".join(map(describe, executed))
    assert digest == remote_digest


def test_killed_worker_build_completes_on_the_other(e2e_tmp, make_bazel, pyoci_binary, cluster, load_tag, remote_digest):
    root = checkout(e2e_tmp, "client-c", load_tag)
    bazel = client(make_bazel, e2e_tmp, "client-c", root, pyoci_binary, cluster)
    log = e2e_tmp / "client-c" / "exec.json"
    killed = {}

    def kill_the_first_worker_running_pyoci():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            if not all(cluster.running(name) for name in cluster.workers):
                return  # killing one now would leave no worker to finish the build
            for name in list(cluster.workers):
                running = [line for line in cluster.processes(name) if any(t.endswith("/pyoci") for t in line.split())]
                if running:
                    cluster.kill_worker(name)
                    killed[name] = running
                    return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_the_first_worker_running_pyoci, daemon=True)
    watcher.start()
    try:
        # Every action executes again on the workers instead of being taken from the cache.
        spawned, stderr = build(bazel, log, "--noremote_accept_cached", timeout=900)
        digest = image_digest(bazel)
    finally:
        watcher.join(timeout=5)
        bazel.shutdown()
    assert killed, "no worker was seen running a pyoci action, so none was killed"
    (victim, commands), = killed.items()
    print(f"\nkilled {victim} while it ran: {commands}; {process_summary(stderr)}")
    survivors = [name for name in cluster.workers if name != victim]
    assert all(cluster.running(name) for name in survivors)
    assert not cluster.running(victim)
    not_remote = [s for s in spawned if s.get("runner") != "remote" or cache_hit(s)]
    assert not_remote == [], "\n".join(map(describe, not_remote))
    assert digest == remote_digest
