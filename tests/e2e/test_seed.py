"""The seed document's BUILD text builds, loads and runs in a workspace with @rules_oci compat.

The seed (docs users follow) loads `oci_push` from `@rules_oci//oci:defs.bzl` and py_image from
the monorepo's `//tools/rules:oci_python.bzl`; `rules_oci_compat()` makes the first resolve.
Its text is used verbatim except for `main`, which its py_binary lacks (file main.py, target
my_service) and Bazel requires.
"""

import subprocess

import pytest

from conftest import main_label, module_file, tail, workspace_file

# The seed document's "Simple Service" BUILD text, verbatim except for `main` (Bazel needs it
# when the file is not <name>.py), plus the library it names.
SEED_BUILD = """\
load("//tools/rules:oci_python.bzl", "py_image")
load("@rules_oci//oci:defs.bzl", "oci_push")

# First define your py_binary target as usual
py_binary(
    name = "my_service",
    srcs = ["main.py"],
    main = "main.py",
    deps = [":my_service_lib"],
)

# Then add container image configuration
py_image(
    name = "my_service_image",
    binary = ":my_service",
    base = "@distroless_python_nonroot",  # Recommended base image
    env = {
        # Add environment variables if needed
        "LOG_LEVEL": "INFO",
    },
    labels = {
        "org.opencontainers.image.description": "My service description",
        "org.opencontainers.image.version": "1.0.0",
    },
)

# Add a target to load the image into Docker
oci_push(
    name = "my_service_image_load",
    image = ":my_service_image",
    repository = "localhost/my_service",
    format = "docker",
)

py_library(
    name = "my_service_lib",
    srcs = ["service.py"],
)
"""

TOOLS_RULES = """\
\"\"\"The monorepo's own entry point, as the seed document loads it.\"\"\"

load("@rules_pyoci//rules:oci_python.bzl", _py_image = "py_image", _py_service_image = "py_service_image")

py_image = _py_image
py_service_image = _py_service_image
"""


RULES_OCI_COMPAT = """
# BUILD files written for rules_oci load @rules_oci//oci:defs.bzl: rules_pyoci answers them.
rules_oci_compat()
"""

def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def seed(e2e_tmp, make_bazel):
    root = e2e_tmp / "seed"
    write(root / "WORKSPACE", workspace_file("seed", ["rules_oci_compat"], RULES_OCI_COMPAT))
    # Under bzlmod (Bazel 7) the same workspace, with the rules_oci compatibility extension.
    write(root / "MODULE.bazel", module_file("seed", extra=(
        '\nrules_oci_compat = use_extension("@rules_pyoci//rules:extensions.bzl", "rules_oci_compat")\n'
        'use_repo(rules_oci_compat, "rules_oci")\n'
    )))
    write(root / "BUILD.bazel", SEED_BUILD)
    write(root / "main.py", "from service import greeting\n\nprint(greeting())\n")
    write(root / "service.py", "def greeting():\n    return 'my_service is running'\n")
    write(root / "tools/rules/BUILD.bazel", "")
    write(root / "tools/rules/oci_python.bzl", TOOLS_RULES)
    bazel = make_bazel(root, extra_flags=["--nosandbox_debug"])
    yield bazel
    bazel.shutdown()


def test_seed_build_text_builds_loads_and_runs(seed, docker):
    built = seed.run("build", ":my_service_image")
    ours = [line for line in built.stderr.splitlines() if line.startswith("INFO: From")]
    assert not ours, f"actions printed on success:\n{tail(built.stderr)}"
    seed.run("run", ":my_service_image_load")
    docker.append("localhost/my_service:latest")
    ran = subprocess.run(["docker", "run", "--rm", "localhost/my_service"], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "my_service is running"
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", "localhost/my_service"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert history[0] == "application " + main_label("//:my_service"), history
