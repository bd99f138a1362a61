"""Each example is built by real Bazel, loaded with `bazel run` of its load target into the
Docker Engine and into podman, and run with `docker run --rm` / `podman run --rm`."""

import json
import re
import subprocess
from dataclasses import dataclass

import pytest

from conftest import REPO, tail


@dataclass
class Example:
    directory: str
    image: str
    tag: str
    expected: list
    debug: bool = False


EXAMPLES = [
    Example(
        "hello", "hello_image", "localhost/hello:latest",
        ["uid=65532", "Hello from a distroless Python image!"],
    ),
    Example(
        "config_service", "config_service_image", "localhost/config_service:latest",
        ["uid=65532", "service=config-service port=8080 log_level=INFO"],
    ),
    Example(
        "deps_service", "deps_service_image", "localhost/deps_service:latest",
        ["uid=65532", "requests=2.32.3 pyyaml=6.0.2"],
    ),
    Example(
        "debug_image", "debug_image", "localhost/debug_service:latest",
        ["uid=0", re.compile(r"shell=/\S*sh")],
        debug=True,
    ),
]


def assert_output(stdout, expected, where):
    lines = stdout.strip().splitlines()
    assert len(lines) == len(expected), f"{where}: expected {len(expected)} lines, got:\n{stdout}"
    for line, want in zip(lines, expected):
        if isinstance(want, re.Pattern):
            assert want.fullmatch(line), f"{where}: {line!r} does not match {want.pattern!r}"
        else:
            assert line == want, f"{where}: got {line!r}, expected {want!r}"


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda e: e.directory)
def built(request, make_bazel):
    example = request.param
    bazel = make_bazel(REPO / "examples" / example.directory)
    bazel.run("build", f"//:{example.image}")
    yield example, bazel
    bazel.shutdown()


def test_build_writes_own_layout_and_digest(built):
    example, bazel = built
    bin_dir = bazel.bin_dir()
    own = bin_dir / f"{example.image}.own"
    assert (own / "oci-layout").is_file() and (own / "index.json").is_file()
    digest = (bin_dir / f"{example.image}.digest").read_text()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), digest
    manifest = json.loads((own / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    # No layer is linked in: the base's stay in the base's layout and the image's own in its
    # layer files, so that after an edit Bazel digests three small files here, whatever the
    # size of the base and the third-party layers.
    present = {p.name for p in (own / "blobs" / "sha256").iterdir()}
    linked = [l["digest"] for l in manifest["layers"] if l["digest"].split(":")[1] in present]
    assert not linked, f"the image action linked layer blobs into its own layout: {linked}"
    assert present == {digest.split(":")[1], manifest["config"]["digest"].split(":")[1]}, present


def test_layout_output_group_is_one_complete_layout(built):
    example, bazel = built
    bazel.run("build", f"//:{example.image}", "--output_groups=layout")
    layout = bazel.bin_dir() / example.image
    digest = (bazel.bin_dir() / f"{example.image}.digest").read_text()
    blob = lambda d: layout / "blobs" / "sha256" / d.split(":")[1]
    manifest = json.loads(blob(digest).read_text())
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert blob(descriptor["digest"]).stat().st_size == descriptor["size"], descriptor


def test_runs_in_docker(built, docker):
    example, bazel = built
    docker.append(example.tag)
    loaded = bazel.run("run", f"//:{example.image}_load", env={"PYOCI_LOADER": ""})
    assert example.tag in loaded.stdout + loaded.stderr, tail(loaded.stdout + loaded.stderr)
    ran = subprocess.run(["docker", "run", "--rm", example.tag.rsplit(":", 1)[0]], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, f"docker run failed:\n{ran.stdout}\n{ran.stderr}"
    assert_output(ran.stdout, example.expected, "docker run")


def test_runs_in_podman(built, podman):
    example, bazel = built
    loaded = bazel.run("run", f"//:{example.image}_load", env={**podman.env(), "PYOCI_LOADER": podman.loader()})
    assert example.tag in loaded.stdout + loaded.stderr, tail(loaded.stdout + loaded.stderr)
    ran = podman.run("run", "--rm", example.tag, check=False)
    assert ran.returncode == 0, f"podman run failed:\n{ran.stdout}\n{ran.stderr}"
    assert_output(ran.stdout, example.expected, "podman run")


def test_load_honours_docker_host(built, podman, podman_service):
    """`docker load` through DOCKER_HOST: here podman's Docker API, so the image lands in podman."""
    example, bazel = built
    podman.run("rmi", "--force", example.tag, check=False)
    loaded = bazel.run(
        "run", f"//:{example.image}_load", "--", "--loader", "docker",
        env={"DOCKER_HOST": podman_service},
    )
    assert example.tag in loaded.stdout + loaded.stderr, tail(loaded.stdout + loaded.stderr)
    assert podman.run("image", "exists", example.tag, check=False).returncode == 0
    ran = podman.run("run", "--rm", example.tag, check=False)
    assert ran.returncode == 0, f"podman run failed:\n{ran.stdout}\n{ran.stderr}"
    assert_output(ran.stdout, example.expected, "podman run after a DOCKER_HOST load")


def test_shell_only_in_debug_images(built, docker, podman):
    """Debug images open a shell with `run IMAGE sh` (as the seed document shows); others have none."""
    example, bazel = built
    podman_env = {**podman.env(), "PYOCI_LOADER": podman.loader()}
    bazel.run("run", f"//:{example.image}_load", env=podman_env)
    if not example.debug:
        ran = podman.run("run", "--rm", "--entrypoint", "sh", example.tag, "-c", "true", check=False)
        assert ran.returncode != 0, f"{example.tag} unexpectedly runs sh:\n{ran.stdout}"
        return

    ran = podman.run("run", "--rm", example.tag, "sh", "-c", "echo shell-ok; id -u", check=False)
    assert ran.returncode == 0, f"podman run ... sh failed:\n{ran.stdout}\n{ran.stderr}"
    assert ran.stdout.split() == ["shell-ok", "0"], ran.stdout

    docker.append(example.tag)
    bazel.run("run", f"//:{example.image}_load", env={"PYOCI_LOADER": "docker"})
    ran = subprocess.run(
        ["docker", "run", "--rm", example.tag, "sh", "-c", "echo shell-ok; id -u"],
        capture_output=True, text=True, timeout=300,
    )
    assert ran.returncode == 0, f"docker run ... sh failed:\n{ran.stdout}\n{ran.stderr}"
    assert ran.stdout.split() == ["shell-ok", "0"], ran.stdout
