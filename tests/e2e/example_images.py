"""The example images built by real Bazel, as layouts and as docker tarballs loaded into the
host's Docker Engine under names unique to this run; shared by the tests that put the
ecosystem's own tools (container-structure-test, Trivy) beside `pyoci`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, tail

# directory -> image target
EXAMPLES = {
    "hello": "hello_image",
    "config_service": "config_service_image",
    "debug_image": "debug_image",
    "deps_service": "deps_service_image",
}


def pyoci_path(repo_env):
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p pyoci` first")
    return binary


def tool(name):
    """A tool installed by tools/install-deps.sh (pip puts console scripts beside python3)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: run tools/install-deps.sh")
    return found


class BuiltImage:
    def __init__(self, example, layout, tarball, tag):
        self.example = example
        self.layout = layout
        self.tarball = tarball
        self.tag = tag


def build_examples(make_bazel, pyoci, workdir, names, load_into_docker):
    """Builds each example's image; writes its docker tarball; optionally loads it into the
    Docker Engine as pyoci-e2e-<pid>/<example>:test (removed by `remove_images`)."""
    built = {}
    for example in names:
        target = EXAMPLES[example]
        bazel = make_bazel(REPO / "examples" / example)
        bazel.run("build", f"//:{target}", "--output_groups=+layout")
        layout = bazel.bin_dir() / target
        tag = f"pyoci-e2e-{os.getpid()}/{example}:test"
        tarball = Path(workdir) / f"{example}.tar"
        subprocess.run(
            [str(pyoci), "tarball", "--image", str(layout), "--tag", tag, "--output", str(tarball)],
            check=True, capture_output=True,
        )
        if load_into_docker:
            loaded = subprocess.run(["docker", "load", "-i", str(tarball)], capture_output=True, text=True)
            assert loaded.returncode == 0, tail(loaded.stdout + loaded.stderr)
        built[example] = BuiltImage(example, layout, tarball, tag)
    return built


def remove_images(built):
    for image in built.values():
        subprocess.run(["docker", "rmi", "-f", image.tag], capture_output=True, check=False)
