"""Real Python dependency sets from PyPI (fetched by pip at test time) under real Bazel and Docker.

One workspace, one lock (examples/fastapi_service: fastapi[standard], numpy >= 2.3, cffi), one
Bazel server: pip's downloads are paid once.

  - numpy >= 2.3 (manylinux_2_27/2_28 wheels only) and cffi (manylinux2014 only) from one lock;
  - fastapi[standard]: the extras bring uvicorn, which serves a request on 127.0.0.1, from .pyc;
  - a distribution without a compatible wheel fails the fetch naming the tags, leaving nothing;
  - //services/a:server and //services/b:server load as two images;
  - two images of one package with one tag fail at loading;
  - a first build prints nothing from rules_pyoci's actions.
"""

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, extension_repository, module_file, tail, workspace_file

EXAMPLE = REPO / "examples" / "fastapi_service"

# pywin32 publishes Windows wheels only.
NO_WHEEL_LOCK = """\
pywin32==311 \\
    --hash=sha256:3ce80b34b22b17ccbd937a6e78e7225d80c52f5ab9940fe0506a1a16f3dab503
"""

ARRAYS_BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(
    name = "arrays",
    srcs = ["arrays.py"],
    deps = ["@pip//numpy:pkg", "@pip//cffi:pkg"],
)

py_image(name = "arrays_image", base = "@distroless_python_nonroot", binary = ":arrays")
"""

ARRAYS_PY = """\
import cffi
import numpy

ffi = cffi.FFI()
ffi.cdef("size_t strlen(const char *);")
libc = ffi.dlopen(None)
print(f"numpy={numpy.__version__} sum={int(numpy.arange(10).sum())} strlen={libc.strlen(b'distroless')}")
"""

SERVER_BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(name = "server", srcs = ["server.py"])

py_image(name = "server_image", base = "@distroless_python_nonroot", binary = ":server")
"""

COLLIDE_BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(name = "server", srcs = ["server.py"])

py_image(name = "server_image", base = "@distroless_python_nonroot", binary = ":server")

# A second image of the same binary takes its own name as the default tag.
py_image(name = "server_image_debug", base = "@distroless_python_debug_nonroot", binary = ":server")

# Given tags that another image of the package already loads: refused.
py_image(
    name = "server_image_again",
    base = "@distroless_python_nonroot",
    binary = ":server",
    repo_tags = ["localhost/collide/server:server_image_debug"],
)
"""

NOWHEEL_BUILD = """\
py_library(name = "windows_only", deps = ["@pip_nowheel//pywin32:pkg"])
"""


PIP_REPOSITORIES = """
pip_lock_repository(name = "pip", requirements_lock = "//:requirements_lock.txt")

pip_lock_repository(name = "pip_nowheel", requirements_lock = "//nowheel:requirements_lock.txt")
"""

def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def workspace(e2e_tmp):
    root = e2e_tmp / "python_deps"
    write(root / "WORKSPACE", workspace_file("python_deps", ["pip_lock_repository"], PIP_REPOSITORIES))
    # Under bzlmod (Bazel 7) the same hubs come from the pip extension.
    write(root / "MODULE.bazel", module_file("python_deps", extra=(
        '\npip = use_extension("@rules_pyoci//rules:extensions.bzl", "pip")\n'
        'pip.install(name = "pip", requirements_lock = "//:requirements_lock.txt")\n'
        'pip.install(name = "pip_nowheel", requirements_lock = "//nowheel:requirements_lock.txt")\n'
        'use_repo(pip, "pip", "pip_nowheel")\n'
    )))
    shutil.copy(EXAMPLE / "requirements_lock.txt", root / "requirements_lock.txt")
    write(root / "BUILD.bazel", "")
    # (Not "numbers": a main file of that name would shadow the standard library's numbers module.)
    write(root / "arrays/BUILD.bazel", ARRAYS_BUILD)
    write(root / "arrays/arrays.py", ARRAYS_PY)
    api_build = (EXAMPLE / "BUILD.bazel").read_text().replace("/app/api.runfiles/pip/", f"/app/api/api.runfiles/{extension_repository('pip', 'pip')}/")
    write(root / "api/BUILD.bazel", api_build)
    shutil.copy(EXAMPLE / "api.py", root / "api" / "api.py")
    for service in ["a", "b"]:
        write(root / "services" / service / "BUILD.bazel", SERVER_BUILD)
        write(root / "services" / service / "server.py", f"print('server {service}')\n")
    write(root / "collide/BUILD.bazel", COLLIDE_BUILD)
    write(root / "collide/server.py", "print('collide')\n")
    write(root / "nowheel/BUILD.bazel", NOWHEEL_BUILD)
    write(root / "nowheel/requirements_lock.txt", NO_WHEEL_LOCK)
    return root


@pytest.fixture(scope="module")
def bazel(workspace, make_bazel, e2e_tmp):
    # Debian's /etc/bazel.bazelrc turns on --sandbox_debug, which prints the sandbox's own
    # trace for every action; that is Bazel's noise, not ours.
    handle = make_bazel(workspace, output_user_root=e2e_tmp / "python-deps-root", extra_flags=["--nosandbox_debug"])
    yield handle
    handle.shutdown()


IMAGES = ["//arrays:arrays_image", "//api:api_image",
          "//services/a:server_image", "//services/b:server_image"]


@pytest.fixture(scope="module")
def first_build(bazel):
    started = time.monotonic()
    result = bazel.run("build", *IMAGES)
    return result, time.monotonic() - started


def load(bazel, target, docker, tag):
    bazel.run("run", target)
    docker.append(tag)


def docker_run(*args, timeout=120):
    return subprocess.run(["docker", "run", "--rm", *args], capture_output=True, text=True, timeout=timeout)


def test_first_build_prints_nothing_from_our_actions(first_build):
    result, seconds = first_build
    print(f"first build of {len(IMAGES)} images (pip fetch included): {seconds:.1f} s")
    ours = [line for line in result.stderr.splitlines() if line.startswith("INFO: From")]
    assert not ours, f"actions printed on success:\n{tail(result.stderr)}"


def test_numpy_and_cffi_from_one_lock_run(bazel, first_build, docker):
    load(bazel, "//arrays:arrays_image_load", docker, "localhost/arrays/arrays:latest")
    ran = docker_run("localhost/arrays/arrays:latest")
    assert ran.returncode == 0, ran.stderr
    version = ran.stdout.split()[0].split("=")[1]
    assert tuple(int(part) for part in version.split(".")[:2]) >= (2, 3), ran.stdout
    assert "sum=45 strlen=10" in ran.stdout, ran.stdout


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_fastapi_standard_extras_bring_uvicorn_which_serves(bazel, first_build, docker):
    deps = (Path(bazel.info("output_base")) / "external" / extension_repository("pip", "pip") / "fastapi" / "BUILD.bazel").read_text()
    assert '"//uvicorn:pkg"' in deps, deps
    uvicorn = (Path(bazel.info("output_base")) / "external" / extension_repository("pip", "pip") / "uvicorn" / "BUILD.bazel").read_text()
    assert '"//uvloop:pkg"' in uvicorn and '"//httptools:pkg"' in uvicorn, "uvicorn[standard]'s extras are nested"
    load(bazel, "//api:api_image_load", docker, "localhost/api/api:latest")
    port = free_port()
    name = f"pyoci-python-deps-{port}"
    started = subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:8000", "localhost/api/api:latest"],
        capture_output=True, text=True, check=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    answer = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
                    pytest.fail(f"uvicorn did not answer on 127.0.0.1:{port}: {logs.stdout}{logs.stderr}")
                time.sleep(0.3)
        assert answer["uvicorn"] and answer["fastapi"], answer
        assert answer["bytecode"] is True, f"fastapi's .pyc is not in the image: {answer}"
    finally:
        subprocess.run(["docker", "rm", "-f", started.stdout.strip()], capture_output=True)


def test_same_named_binaries_in_two_packages_load_as_two_images(bazel, first_build, docker):
    for service in ["a", "b"]:
        load(bazel, f"//services/{service}:server_image_load", docker, f"localhost/services/{service}/server:latest")
    for service in ["a", "b"]:
        ran = docker_run(f"localhost/services/{service}/server:latest")
        assert ran.stdout.strip() == f"server {service}", ran.stdout + ran.stderr


def test_a_tag_collision_in_one_package_fails_at_loading(bazel):
    result = bazel.run("build", "//collide:all", check=False)
    assert result.returncode != 0
    assert "py_image server_image_again: tag localhost/collide/server:server_image_debug is already taken by :server_image_debug" in result.stderr, tail(result.stderr)


def test_a_distribution_without_a_compatible_wheel_fails_and_leaves_no_repository(bazel):
    result = bazel.run("build", "//nowheel:windows_only", check=False)
    assert result.returncode != 0
    assert "No wheel of pywin32==311 runs in the image (CPython 3.11, glibc 2.36 on x86_64)" in result.stderr, tail(result.stderr)
    assert "manylinux_2_36_x86_64" in result.stderr and "manylinux2014_x86_64" in result.stderr, "the tags tried"
    assert "cp311-cp311-win_amd64" in result.stderr, "the tags its wheels have"
    repository = Path(bazel.info("output_base")) / "external" / extension_repository("pip_nowheel", "pip")
    left = sorted(str(p.relative_to(repository)) for p in repository.rglob("*")) if repository.exists() else []
    assert not left, f"the failed fetch left {left}"
