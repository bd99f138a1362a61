"""Registry workflow under real Bazel 4.2.3 against a real docker-registry on 127.0.0.1:
`bazel run` of oci_push with tags stamped from git, nothing re-uploaded on a second push, only
new layers for an image sharing the base, oci_promote by digest, the seed's format = "docker"
spelling loading into the Docker Engine, and oci_pull fetching a pushed base by digest (with
credentials) into a fresh workspace that builds and runs an image on it, while a tampered blob
fails the fetch. `bazel run` of oci_push also reaches a TLS registry whose CA is only in a
certs.d directory (PYOCI_CERTS_D passed through `bazel run`), and is refused without it.

PYOCI_BINARY (optional) names a prebuilt pyoci for the toolchain repository.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, BazelError, extension_repository, module_file, require_tool

sys.path.insert(0, str(REPO / "tests" / "support"))
from registry import Pki, Registry  # noqa: E402


def extra_repo_env(**more):
    env = dict(more)
    if os.environ.get("PYOCI_BINARY"):
        env["PYOCI_BINARY"] = os.environ["PYOCI_BINARY"]
    return env


def git(workspace, *args):
    return subprocess.run(
        ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com", *args],
        cwd=workspace, capture_output=True, text=True, check=True,
    ).stdout.strip()


def skopeo_inspect(reference, creds=None):
    require_tool("skopeo")
    argv = ["skopeo", "inspect", "--tls-verify=false"]
    if creds:
        argv += ["--creds", creds]
    result = subprocess.run([*argv, f"docker://{reference}"], capture_output=True, text=True)
    assert result.returncode == 0, f"skopeo inspect {reference}: {result.stderr}"
    return json.loads(result.stdout)


def local_workspace(source, destination):
    """A copy of an example whose local_repository points at this checkout."""
    shutil.copytree(source, destination)
    workspace_file = destination / "WORKSPACE.bazel"
    workspace_file.write_text(workspace_file.read_text().replace('path = "../.."', f'path = "{REPO}"'))
    module = destination / "MODULE.bazel"
    module.write_text(module.read_text().replace('path = "../.."', f'path = "{REPO}"'))
    (destination / ".bazelrc").unlink(missing_ok=True)
    return destination


def layout_manifest(layout):
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / digest.replace(":", "/")).read_text())
    return digest, manifest


@pytest.fixture(scope="module")
def registry(e2e_tmp):
    with Registry(e2e_tmp / "registry-open") as running:
        yield running


@pytest.fixture(scope="module")
def push_example(e2e_tmp, make_bazel):
    require_tool("git")
    workspace = local_workspace(REPO / "examples" / "push", e2e_tmp / "push-example")
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "release 1.2.3")
    git(workspace, "tag", "v1.2.3")
    bazel = make_bazel(workspace, extra_repo_env=extra_repo_env())
    yield workspace, bazel
    bazel.shutdown()


def stamp_flags(workspace):
    return ["--stamp", f"--workspace_status_command={workspace / 'workspace_status.sh'}"]


def test_push_with_git_tags_then_nothing_uploaded(push_example, registry, e2e_tmp):
    workspace, bazel = push_example
    repository = f"{registry.host}/team/app"
    report = e2e_tmp / "push-report.json"
    result = bazel.run("run", *stamp_flags(workspace), "//:push", "--",
                       "--repository", repository, "--report", str(report))
    digest = (bazel.bin_dir() / "app_image.digest").read_text().strip()
    assert f"{repository}@{digest}" in result.stdout
    first = json.loads(report.read_text())
    assert first["blobsUploaded"] > 0

    short = git(workspace, "rev-parse", "HEAD")[:12]
    inspected = skopeo_inspect(f"{repository}:sha-{short}")
    assert inspected["Digest"] == digest
    assert sorted(inspected["RepoTags"]) == sorted([f"sha-{short}", "main", "v1.2.3"])
    # The image's revision label was stamped with the same commit.
    assert inspected["Labels"]["org.opencontainers.image.revision"] == git(workspace, "rev-parse", "HEAD")

    uploads = registry.blob_uploads("team/app")
    bazel.run("run", *stamp_flags(workspace), "//:push", "--",
              "--repository", repository, "--report", str(report))
    second = json.loads(report.read_text())
    assert second["blobsUploaded"] == 0, second
    assert second["blobsExisting"] == first["blobsUploaded"]
    assert registry.blob_uploads("team/app") == uploads

    # `-- --repository R --tag T` overrides both.
    other = f"{registry.host}/team/override"
    bazel.run("run", "//:push", "--", "--repository", other, "--tag", "custom")
    assert skopeo_inspect(f"{other}:custom")["RepoTags"] == ["custom"]


def test_image_sharing_the_base_uploads_only_new_layers(push_example, registry, e2e_tmp):
    workspace, bazel = push_example
    repository = f"{registry.host}/team/shared"
    bazel.run("run", "//:push", "--", "--repository", repository, "--tag", "app")
    report = e2e_tmp / "worker-report.json"
    bazel.run("run", "//:push_worker", "--", "--repository", repository, "--tag", "worker",
              "--report", str(report))
    _, app = layout_manifest(bazel.bin_dir() / "app_image.own")
    _, worker = layout_manifest(bazel.bin_dir() / "worker_image.own")
    app_layers = {layer["digest"] for layer in app["layers"]}
    worker_layers = [layer["digest"] for layer in worker["layers"]]
    shared = [d for d in worker_layers if d in app_layers]
    assert shared, "the two images should share the distroless base layers"
    pushed = json.loads(report.read_text())
    assert pushed["blobsExisting"] == len(shared), pushed
    assert pushed["blobsUploaded"] == len(worker_layers) - len(shared) + 1, pushed  # + config


def test_promote_copies_by_digest_with_mounts(push_example, registry):
    workspace, bazel = push_example
    staging = f"{registry.host}/team/app-staging"
    production = f"{registry.host}/team/app-prod"
    # Both stamped, as in CI: stamping changes the image (its revision label), so the digest
    # promoted is the one pushed by the same kind of build.
    bazel.run("run", *stamp_flags(workspace), "//:push", "--", "--repository", staging, "--tag", "candidate")
    bazel.run("run", *stamp_flags(workspace), "//:promote", "--", "--from", staging, "--to", production)
    digest = (bazel.bin_dir() / "app_image.digest").read_text().strip()
    inspected = skopeo_inspect(f"{production}:stable")
    assert inspected["Digest"] == digest
    assert sorted(inspected["RepoTags"]) == ["stable", "v1.2.3"]
    assert registry.blob_uploads("team/app-prod") == 0, "promotion uploaded blobs instead of mounting"


def test_push_to_tls_registry_trusted_only_through_certs_d(push_example, e2e_tmp):
    """Issue 16: the CA is in no system store and no rule attribute, only in a certs.d tree as
    /etc/docker/certs.d would hold it; PYOCI_CERTS_D points there and passes through `bazel run`."""
    require_tool("openssl")
    workspace, bazel = push_example
    pki = Pki(e2e_tmp / "pki")
    with Registry(e2e_tmp / "registry-tls", tls=pki) as registry:
        certs_d = pki.certs_d(e2e_tmp / "certs.d", registry.host)
        empty = e2e_tmp / "certs.d-empty"
        empty.mkdir(exist_ok=True)
        repository = f"{registry.host}/team/tls"

        refused = bazel.run("run", "//:push", "--", "--repository", repository, "--tag", "tls",
                            check=False, env={"PYOCI_CERTS_D": str(empty)})
        assert refused.returncode != 0
        assert "unknown certificate authority" in refused.stderr, refused.stderr
        assert str(empty / registry.host / "ca.crt") in refused.stderr, refused.stderr
        assert "/v2/team/tls/" not in registry.log(), "the refused push reached the repository"

        result = bazel.run("run", "//:push", "--", "--repository", repository, "--tag", "tls",
                           env={"PYOCI_CERTS_D": str(certs_d)})
        digest = (bazel.bin_dir() / "app_image.digest").read_text().strip()
        assert f"{repository}@{digest}" in result.stdout
        require_tool("skopeo")
        inspected = subprocess.run(
            ["skopeo", "inspect", "--cert-dir", str(certs_d / registry.host), f"docker://{repository}:tls"],
            capture_output=True, text=True)
        assert inspected.returncode == 0, inspected.stderr
        assert json.loads(inspected.stdout)["Digest"] == digest


def test_seed_spelling_loads_into_docker(push_example, docker):
    _, bazel = push_example
    bazel.run("run", "//:app_local")
    docker.append("localhost/push_example:latest")
    result = subprocess.run(["docker", "run", "--rm", "localhost/push_example:latest"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "uid=65532 service=push-example"


FRESH_WORKSPACE = """\
workspace(name = "pulled_base_example")

local_repository(name = "rules_pyoci", path = "{repo}")

load("@rules_pyoci//rules:repositories.bzl", "pyoci_register_toolchains", "rules_pyoci_dependencies")

rules_pyoci_dependencies()

pyoci_register_toolchains()

load("{pull_bzl}", "oci_pull")

oci_pull(
    name = "pulled_python",
    digest = "{digest}",
    image = "{image}",
)
"""

FRESH_MODULE_PULL = """
oci = use_extension("@rules_pyoci//rules:extensions.bzl", "oci")
oci.pull(name = "pulled_python", digest = "{digest}", image = "{image}")
use_repo(oci, "pulled_python")
"""

FRESH_BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(name = "hi", srcs = ["hi.py"], main = "hi.py")

py_image(name = "hi_image", base = "@pulled_python", binary = ":hi", repo_tags = ["localhost/pulled_hi:latest"])
"""


def pull_bzl():
    """Where oci_pull is loaded from: the public repositories.bzl once it re-exports it."""
    public = (REPO / "rules" / "repositories.bzl").read_text()
    if "oci_pull" in public:
        return "@rules_pyoci//rules:repositories.bzl"
    return "@rules_pyoci//rules/private:pull.bzl"


def fresh_workspace(directory, image, digest):
    directory.mkdir(parents=True)
    (directory / "WORKSPACE.bazel").write_text(
        FRESH_WORKSPACE.format(repo=REPO, pull_bzl=pull_bzl(), digest=digest, image=image))
    (directory / "MODULE.bazel").write_text(module_file("pulled_base_example", FRESH_MODULE_PULL.format(digest=digest, image=image)))
    (directory / "BUILD.bazel").write_text(FRESH_BUILD)
    (directory / "hi.py").write_text("import os\nprint(f'uid={os.getuid()} built on a pulled base')\n")
    return directory


def test_pull_pushed_base_by_digest_with_credentials(push_example, make_bazel, e2e_tmp, docker):
    _, example_bazel = push_example
    example_bazel.run("build", "@distroless_python_nonroot//:distroless_python_nonroot")
    base_layout = example_bazel.bin_dir() / "external" / extension_repository("distroless_python_nonroot", "distroless") / "distroless_python_nonroot"
    pyoci = os.environ.get("PYOCI_BINARY") or str(
        Path(example_bazel.info("output_base")) / "external" / extension_repository("rules_pyoci_toolchain", "pyoci") / "pyoci")

    with Registry(e2e_tmp / "registry-auth", user=("ci", "s3cret")) as registry:
        config = registry.docker_config(e2e_tmp / "docker-config")
        image = f"{registry.host}/base/python-nonroot"
        pushed = subprocess.run([pyoci, "push", str(base_layout), image, "--tag", "3.11"],
                                env={**os.environ, "DOCKER_CONFIG": str(config)},
                                capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr
        digest = pushed.stdout.strip().split("@", 1)[1]

        workspace = fresh_workspace(e2e_tmp / "pulled-ws", image, digest)
        bazel = make_bazel(workspace, extra_repo_env=extra_repo_env(DOCKER_CONFIG=str(config)))
        try:
            bazel.run("build", "//:hi_image")
            bazel.run("run", "//:hi_image_load")
        finally:
            bazel.shutdown()
        docker.append("localhost/pulled_hi:latest")
        ran = subprocess.run(["docker", "run", "--rm", "localhost/pulled_hi:latest"],
                             capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "uid=65532 built on a pulled base"

        # Flip a byte of one base layer in the registry: a new fetch must refuse it.
        _, manifest = layout_manifest(base_layout)
        data = registry.blob_data_path(manifest["layers"][-1]["digest"])
        blob = bytearray(data.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        data.write_bytes(bytes(blob))
        tampered = fresh_workspace(e2e_tmp / "tampered-pull-ws", image, digest)
        bazel = make_bazel(tampered, extra_repo_env=extra_repo_env(DOCKER_CONFIG=str(config)))
        try:
            with pytest.raises(BazelError) as failure:
                bazel.run("build", "//:hi_image")
            assert "tampered or corrupted" in str(failure.value)
        finally:
            bazel.shutdown()
