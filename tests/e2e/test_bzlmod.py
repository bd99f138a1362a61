"""bzlmod only (collected under PYOCI_BAZEL=7): rules_python's py_binary and pip.parse hub as a
py_image's binary and third-party layer, and a consumer module that says only
`bazel_dep(name = "rules_pyoci", version = ...)`, resolved from a file:// registry made from the
release artifacts (tools/release.sh), with the toolchain's prebuilt pyoci downloaded by URL."""

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, tail

RULES_PYTHON = REPO / "examples" / "rules_python"


def docker_run(tag):
    ran = subprocess.run(["docker", "run", "--rm", tag], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, f"docker run {tag} failed:\n{ran.stdout}\n{ran.stderr}"
    return ran.stdout.split("\n")


def test_rules_python_binary_and_pip_hub(make_bazel, docker):
    bazel = make_bazel(RULES_PYTHON)
    tag = "localhost/fetcher:latest"
    docker.append(tag)
    loaded = bazel.run("run", "//:fetcher_image_load", env={"PYOCI_LOADER": "docker"})
    assert tag in loaded.stdout + loaded.stderr, tail(loaded.stdout + loaded.stderr)
    assert docker_run("localhost/fetcher")[:2] == ["uid=65532", "requests=2.32.3 pyyaml=6.0.2"]

    # rules_python's wheel repositories are the third-party layer; the app layer is ours alone.
    layers = bazel.bin_dir() / "fetcher_image.layers"
    third_party = [e["path"] for e in json.loads((layers / "third_party.spec.json").read_text())["entries"]]
    app = [e["path"] for e in json.loads((layers / "app.spec.json").read_text())["entries"]]
    assert any(re.search(r"/rules_python[~+].*pip.*requests.*/requests/__init__\.py$", p) for p in third_party), third_party[:20]
    assert any(p.endswith("/yaml/__init__.py") for p in third_party), third_party[:20]
    # (The app layer's bytecode is one tree entry at the runfiles root, holding only _main's .pyc.)
    assert all(p.startswith("/app/fetcher.runfiles/_main/") or p == "/app/fetcher.runfiles" for p in app), app
    bazel.shutdown()


def sri(path):
    return "sha256-" + base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def module_version():
    match = re.search(r'^\s*version = "([^"]+)"', (REPO / "MODULE.bazel").read_text(), re.MULTILINE)
    assert match, "MODULE.bazel names no version"
    return match.group(1)


@pytest.fixture(scope="module")
def registry(e2e_tmp):
    """A file:// registry holding the release of this checkout, laid out as the BCR's entries are."""
    version = module_version()
    dist = e2e_tmp / "dist"
    release = subprocess.run(
        ["bash", str(REPO / "tools" / "release.sh"), version, str(dist), f"file://{dist}"],
        capture_output=True, text=True, timeout=1800,
    )
    assert release.returncode == 0, tail(release.stdout + release.stderr)
    archive = dist / f"rules_pyoci-{version}.tar.gz"
    sums = (dist / "SHA256SUMS").read_text()
    assert archive.name in sums and f"pyoci-{version}-linux-x86_64" in sums, sums

    root = e2e_tmp / "registry"
    entry = root / "modules" / "rules_pyoci" / version
    entry.mkdir(parents=True)
    (root / "bazel_registry.json").write_text("{}")
    metadata = json.loads((REPO / ".bcr" / "metadata.template.json").read_text())
    metadata["versions"] = [version]
    (root / "modules" / "rules_pyoci" / "metadata.json").write_text(json.dumps(metadata, indent=2))
    source = json.loads((REPO / ".bcr" / "source.template.json").read_text())
    source.update(integrity=sri(archive), strip_prefix=f"rules_pyoci-{version}", url=f"file://{archive}")
    (entry / "source.json").write_text(json.dumps(source, indent=2))
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(e2e_tmp), f"rules_pyoci-{version}/MODULE.bazel"], check=True)
    shutil.copy(e2e_tmp / f"rules_pyoci-{version}" / "MODULE.bazel", entry / "MODULE.bazel")
    return root, version


CONSUMER_BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(name = "consumer", srcs = ["main.py"], main = "main.py")

py_image(name = "consumer_image", base = "@distroless_python_nonroot", binary = ":consumer")
"""


def test_consumer_resolves_rules_pyoci_from_a_registry(registry, e2e_tmp, make_bazel, docker):
    root, version = registry
    workspace = e2e_tmp / "consumer"
    workspace.mkdir()
    # What README.md's bzlmod section shows, nothing more.
    (workspace / "MODULE.bazel").write_text(
        f'bazel_dep(name = "rules_pyoci", version = "{version}")\n\n'
        'distroless = use_extension("@rules_pyoci//rules:extensions.bzl", "distroless")\n'
        'distroless.debs(mirrors = ["https://deb.debian.org/debian"])\n'
        'use_repo(distroless, "distroless_python_nonroot")\n'
    )
    readme = (REPO / "README.md").read_text()
    assert f'bazel_dep(name = "rules_pyoci", version = "{version}")' in readme
    (workspace / "BUILD.bazel").write_text(CONSUMER_BUILD)
    (workspace / "main.py").write_text("import os\nprint(f'uid={os.getuid()} from the registry')\n")
    bazel = make_bazel(
        workspace,
        # No PYOCI_BINARY: the toolchain downloads the release's prebuilt binary.
        extra_repo_env={"PYOCI_BINARY": ""},
        extra_flags=[f"--registry=file://{root}"],
    )
    tag = "localhost/consumer:latest"
    docker.append(tag)
    bazel.run("run", "//:consumer_image_load", env={"PYOCI_LOADER": "docker"})
    assert docker_run(tag)[0] == "uid=65532 from the registry"

    # The toolchain holds the release's binary (stripped, so not the checkout's cargo build).
    external = Path(bazel.info("output_base")) / "external"
    toolchains = list(external.glob("*rules_pyoci_toolchain/pyoci"))
    assert len(toolchains) == 1, sorted(p.name for p in external.iterdir())
    released = e2e_tmp / "dist" / f"pyoci-{version}-linux-x86_64"
    assert toolchains[0].read_bytes() == released.read_bytes(), "the toolchain did not use the prebuilt pyoci"
    resolved = bazel.run("mod", "graph", check=False)
    assert f"rules_pyoci@{version}" in resolved.stdout + resolved.stderr, tail(resolved.stdout + resolved.stderr)
    bazel.shutdown()
