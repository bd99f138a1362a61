"""Incremental load on the real engines: after an edit, `bazel run :<name>_load` sends only the
layers the engine lacks, a load after `rmi` still works, and the loaded image's ID is the built
image's every time: its config digest in Docker's classic store and podman, its manifest digest
in Docker's containerd image store (a second Docker Engine, 28, started by the test).

One copy of the checkout builds the hello example with a load target under a tag unique to this
suite (the Docker Engine is shared); every load prints pyoci's JSON report (`-- --json`).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import copy_checkout

EXAMPLE = "examples/hello"
TAG = "localhost/pyoci-e2e-incload/hello:latest"
LOAD_TARGET = "//:incload_load"


@pytest.fixture(scope="module")
def workspace(e2e_tmp, make_bazel, repo_env):
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p pyoci` first")
    root = copy_checkout(e2e_tmp / "incload" / "rules_pyoci")
    example = root / EXAMPLE
    with open(example / "BUILD.bazel", "a") as build:
        build.write(
            '\nload("@rules_pyoci//rules:defs.bzl", "oci_load")\n\n'
            f'oci_load(name = "incload_load", image = ":hello_image", repo_tags = ["{TAG}"])\n'
        )
    bazel = make_bazel(
        example,
        output_user_root=e2e_tmp / "incload" / "root",
        repository_cache=e2e_tmp / "incload" / "repository-cache",
        extra_repo_env={"PYOCI_BINARY": str(binary)},
    )
    yield example, bazel
    bazel.shutdown()


def edit(example, line):
    """A one-line edit of the application: only its layer changes."""
    main = example / "main.py"
    main.write_text(main.read_text().replace('print(f"uid=', f'print("{line}")\n    print(f"uid=', 1))


# Every image ID a load reported: images superseded under TAG stay in the shared Docker Engine
# untagged, so the Docker tests remove them all by ID.
LOADED_IDS = set()


def load(bazel, env):
    return load_with(bazel, env)


def built_image(bazel, id_of="config"):
    """(the image's ID in an engine that names images by `id_of`, config or manifest digest;
    [(layer digest, size)]) of the built layout."""
    layout = bazel.bin_dir() / "hello_image.own"
    blob = lambda digest: layout / "blobs" / "sha256" / digest.split(":")[1]
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads(blob(manifest_digest).read_text())
    image_id = manifest_digest if id_of == "manifest" else manifest["config"]["digest"]
    return image_id, [(l["digest"], l["size"]) for l in manifest["layers"]]


def check_sequence(example, bazel, env, remove, run, id_of="config"):
    remove()
    first = load(bazel, env)
    config, layers = built_image(bazel, id_of)
    assert first["imageId"] == config, first

    edit(example, "incremental-load-edit-1")
    second = load(bazel, env)
    config, layers = built_image(bazel, id_of)
    assert second["imageId"] == config, second
    assert second["method"] in ("partial", "layout"), second
    assert second["layersSent"] == 1, second
    # The application layer plus at most 64 KB of config, manifest and tar headers.
    assert second["bytesSent"] <= layers[-1][1] + 64 * 1024, (second, layers)
    assert "incremental-load-edit-1" in run()

    # Loading the same build again only tags.
    again = load(bazel, env)
    assert again["method"] == "tagged" and again["bytesSent"] == 0, again

    # The engine lost the image: the load still works and gives the built ID.
    remove()
    after_rmi = load(bazel, env)
    assert after_rmi["imageId"] == config, after_rmi
    assert "incremental-load-edit-1" in run()


def test_docker_second_load_sends_only_the_new_layer(workspace, docker_ids):
    docker = docker_ids
    example, bazel = workspace
    docker.append(TAG)

    def remove():
        subprocess.run(["docker", "rmi", "-f", TAG], capture_output=True, check=False)

    def run():
        ran = subprocess.run(["docker", "run", "--rm", TAG], capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    check_sequence(example, bazel, {"PYOCI_LOADER": "docker"}, remove, run)


def test_podman_second_load_sends_only_the_new_layer(workspace, podman):
    example, bazel = workspace
    env = {**podman.env(), "PYOCI_LOADER": podman.loader()}

    def remove():
        podman.run("rmi", "--force", TAG, check=False)

    def run():
        ran = podman.run("run", "--rm", TAG, check=False)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    # A fresh edit, so podman has never seen this application layer.
    edit(example, "incremental-load-podman")
    check_sequence(example, bazel, env, remove, run)


def test_full_flag_sends_every_layer(workspace, docker_ids):
    docker = docker_ids
    example, bazel = workspace
    docker.append(TAG)
    subprocess.run(["docker", "rmi", "-f", TAG], capture_output=True, check=False)
    full = load_with(bazel, {"PYOCI_LOADER": "docker"}, "--full")
    config, layers = built_image(bazel)
    assert full["method"] == "full" and full["imageId"] == config, full
    assert full["bytesSent"] >= sum(size for _, size in layers), full


def load_with(bazel, env, *flags):
    result = bazel.run("run", LOAD_TARGET, "--", "--json", *flags, env=env)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    LOADED_IDS.add(report["imageId"])
    return report


@pytest.fixture
def docker_ids(docker):
    """The Docker fixture, plus removal of every image this module loaded into Docker."""
    yield docker
    subprocess.run(["docker", "rmi", "-f", *sorted(LOADED_IDS)], capture_output=True, check=False)


def test_a_layer_lost_between_query_and_load_is_sent_again(workspace, podman, podman_service, tmp_path):
    """The engine loses the layers after pyoci asked it (here: a `docker` that empties podman's
    store, behind podman's Docker API, right before `load`): the partial load fails, and the
    load is retried with every layer."""
    example, bazel = workspace
    edit(example, "incremental-load-retry-1")
    load(bazel, {**podman.env(), "PYOCI_LOADER": podman.loader()})
    edit(example, "incremental-load-retry-2")
    racing = tmp_path / "docker"
    racing.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = load ]; then CONTAINERS_CONF={podman.env()["CONTAINERS_CONF"]} {podman.loader()} rmi -a -f >/dev/null 2>&1; fi\n'
        'exec docker "$@"\n'
    )
    racing.chmod(0o755)
    retried = load_with(bazel, {"PYOCI_LOADER": str(racing), "DOCKER_HOST": podman_service})
    config, _ = built_image(bazel)
    assert retried["retriedFull"] and retried["imageId"] == config, retried
    assert retried["layersSent"] == retried["layersTotal"], retried


def test_a_pulled_base_is_hashed_by_its_own_action_only(workspace, repo_env):
    """The pulled layout's copy action hashes it once and records it; the image action trusts
    the record; a blob tampered with in the repository re-runs the copy action, which fails."""
    example, bazel = workspace
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    pulled = example / "pulled"
    subprocess.run(
        [str(binary), "base", "--debs", repo_env["PYOCI_DEBS_DIR"], "--variant", "nonroot",
         "-o", str(pulled / "layout"), "--digest-out", str(pulled / "digest.txt")],
        check=True, capture_output=True,
    )
    (pulled / "BUILD.bazel").write_text(
        'load("@rules_pyoci//rules/private:pull.bzl", "oci_pulled_image")\n'
        'oci_pulled_image(name = "base", srcs = glob(["layout/**"]), layout_dir = "layout",\n'
        '    digest = "digest.txt", user = "65532", visibility = ["//visibility:public"])\n'
    )
    with open(example / "BUILD.bazel", "a") as build:
        build.write('\npy_image(name = "on_pulled", base = "//pulled:base", binary = ":hello")\n')
    bazel.run("build", "//:on_pulled")
    record = json.loads((bazel.bin_dir() / "pulled" / "base.verified.json").read_text())
    assert record["manifestDigest"] == (pulled / "digest.txt").read_text()

    index = json.loads((pulled / "layout" / "index.json").read_text())
    blobs = pulled / "layout" / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    layer = blobs / manifest["layers"][-1]["digest"].split(":")[1]
    data = bytearray(layer.read_bytes())
    data[-1] ^= 0xFF
    layer.write_bytes(bytes(data))
    failed = bazel.run("build", "//:on_pulled", check=False)
    assert failed.returncode != 0
    assert manifest["layers"][-1]["digest"] in failed.stderr, failed.stderr[-3000:]



def test_docker_containerd_store_second_load_sends_only_the_new_layer(workspace, containerd_docker):
    """Docker's containerd image store (Docker 29's default): detected, loaded incrementally,
    and the loaded ID is the built manifest digest."""
    example, bazel = workspace
    env = {"PYOCI_LOADER": "docker", "DOCKER_HOST": containerd_docker}
    engine = ["docker", "-H", containerd_docker]

    def remove():
        subprocess.run([*engine, "rmi", "-f", TAG], capture_output=True, check=False)

    def run():
        # The private engine has no bridge network.
        ran = subprocess.run([*engine, "run", "--rm", "--network", "none", TAG],
                             capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout

    edit(example, "incremental-load-containerd")
    check_sequence(example, bazel, env, remove, run, id_of="manifest")
    full = load_with(bazel, env, "--full")
    manifest, layers = built_image(bazel, "manifest")
    assert full["engine"] == "docker-containerd" and full["imageId"] == manifest, full
    assert full["bytesSent"] >= sum(size for _, size in layers), full
