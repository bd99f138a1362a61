"""The security gates at build time, under real Bazel: each fails the build of a small bad image
(generated in a temporary workspace) with a message naming the gate and the way out, passes with
its opt-out attribute, and passes on every example. A failed gate also keeps the image's docker
tarball from being written."""

import base64
import io
import json
import os
import tarfile

import pytest

from conftest import REPO, main_label, main_repository, module_file, tail, workspace_file

BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image", "py_service_image")

py_binary(name = "app", srcs = ["app.py"], main = "app.py")

py_binary(name = "app_with_shell", srcs = ["app.py"], data = ["tools/sh"], main = "app.py")

py_binary(name = "app_with_key", srcs = ["app.py"], data = ["keys/deploy_key"], main = "app.py")

NONROOT = "@distroless_python_nonroot"

py_image(name = "root", base = "@distroless_python_base", binary = ":app")
py_image(name = "root_allowed", allow_root = True, base = "@distroless_python_base", binary = ":app")
py_image(name = "user_root", base = NONROOT, binary = ":app", user = "0")

py_image(name = "shell", base = NONROOT, binary = ":app_with_shell", executable_files = ["tools/sh"])
py_image(name = "shell_allowed", allow_shell = True, base = NONROOT, binary = ":app_with_shell", executable_files = ["tools/sh"])
py_image(name = "debug_nonroot", base = "@distroless_python_debug_nonroot", binary = ":app")

py_image(name = "secret_file", base = NONROOT, binary = ":app_with_key")
py_image(
    name = "secret_file_allowed_in",
    allow_secrets_in = ["/app/app_with_key.runfiles/{main}/keys"],
    base = NONROOT,
    binary = ":app_with_key",
)
py_image(name = "secret_env", base = NONROOT, binary = ":app", env = {{"API_TOKEN": "{token}"}})
py_image(name = "secret_env_allowed", allow_secrets = True, base = NONROOT, binary = ":app", env = {{"API_TOKEN": "{token}"}})

py_image(name = "permissions", base = NONROOT, binary = ":app", tars = ["bad_permissions.tar"])
py_image(name = "permissions_allowed", allow_permissions = True, base = NONROOT, binary = ":app", tars = ["bad_permissions.tar"])

py_image(name = "too_big", base = NONROOT, binary = ":app", max_size = "1MB")
py_image(name = "size_ok", base = NONROOT, binary = ":app", max_size = "100MB")

py_service_image(name = "shell_healthcheck", binary = ":app", healthcheck = {{"test": ["CMD-SHELL", "true"]}})
"""


# A literal API token in the image's env; random, so no scanner mistakes this file for a leak.
TOKEN = base64.b32encode(os.urandom(15)).decode().lower()


def private_key():
    """A PEM block with key-shaped material (random, never a usable key)."""
    body = base64.b64encode(os.urandom(300)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"


def bad_permissions_tar():
    """A layer with a world-writable file and a file the image user (65532) cannot read."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in [("opt/gates/", 0o755), ("opt/gates/shared.json", 0o666), ("opt/gates/private.json", 0o600)]:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mode = mode
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = b"{}\n"
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gates(e2e_tmp, make_bazel):
    root = e2e_tmp / "gates"
    (root / "tools").mkdir(parents=True, exist_ok=True)
    (root / "keys").mkdir(exist_ok=True)
    (root / "WORKSPACE").write_text(workspace_file("gates"))
    (root / "MODULE.bazel").write_text(module_file("gates"))
    (root / "BUILD.bazel").write_text(BUILD.format(token=TOKEN, main=main_repository("gates")))
    (root / "app.py").write_text("print('gates')\n")
    (root / "tools" / "sh").write_text("#!/bin/false\n")
    (root / "tools" / "sh").chmod(0o755)
    (root / "keys" / "deploy_key").write_text(private_key())
    (root / "bad_permissions.tar").write_bytes(bad_permissions_tar())
    bazel = make_bazel(root)
    yield bazel
    bazel.shutdown()


def build_fails(bazel, target, *flags):
    """Bazel's whole output of a build that must fail."""
    result = bazel.run("build", f"//:{target}", *flags, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"//:{target} built although it must fail:\n{tail(output)}"
    return output


def check_stamp(bazel, target):
    return json.loads((bazel.bin_dir() / f"{target}.check.json").read_text())


@pytest.mark.parametrize(
    "target, finding, opt_out",
    [
        ("root", 'non-root: the image runs as root: config User "0" is uid 0', "--allow-root"),
        ("user_root", 'non-root: the image runs as root: config User "0" is uid 0', "--allow-root"),
        ("shell", "no-shell: ", "--allow-shell"),
        ("secret_file", "secrets: ", "--allow-secrets"),
        ("secret_env", "secrets: ", "--allow-secrets"),
        ("permissions", "permissions: ", "--allow-permissions"),
        ("too_big", "size: image is ", "raise or drop --max-size"),
    ],
)
def test_gate_fails_the_build(gates, target, finding, opt_out):
    message = build_fails(gates, target)
    # Bazel's error line names the target and the opt-out attributes; pyoci names the gate.
    assert f"Checking {main_label('//:' + target)} against the security gates (opt-out attributes: allow_root" in message, message
    assert finding in message, message
    assert f"[opt out: {opt_out}" in message, message
    assert not (gates.bin_dir() / f"{target}.check.json").exists()


def test_findings_name_what_is_wrong(gates):
    assert f"/app/app_with_shell.runfiles/{main_repository('gates')}/tools/sh" in build_fails(gates, "shell")
    key = build_fails(gates, "secret_file")
    assert f"/app/app_with_key.runfiles/{main_repository('gates')}/keys/deploy_key" in key and "--allow-secret-in" in key, key
    env = build_fails(gates, "secret_env")
    assert "API_TOKEN" in env and TOKEN not in env, env
    permissions = build_fails(gates, "permissions")
    assert "/opt/gates/shared.json" in permissions and "/opt/gates/private.json" in permissions, permissions
    assert "over --max-size 1000000" in build_fails(gates, "too_big")


@pytest.mark.parametrize(
    "target, allowed",
    [
        ("root_allowed", "non-root"),
        ("shell_allowed", "no-shell"),
        ("debug_nonroot", "no-shell"),
        ("secret_file_allowed_in", None),
        ("secret_env_allowed", "secrets"),
        ("permissions_allowed", "permissions"),
        ("size_ok", None),
    ],
)
def test_opt_out_passes(gates, target, allowed):
    gates.run("build", f"//:{target}")
    stamp = check_stamp(gates, target)
    expected = {"non-root": "passed", "no-shell": "passed", "secrets": "passed", "permissions": "passed",
                "size": "passed" if target == "size_ok" else "allowed"}
    if allowed:
        expected[allowed] = "allowed"
    assert stamp["gates"] == expected, stamp


def test_failed_gate_blocks_the_tarball(gates):
    """The docker-load tarball is ordered after the gates, whatever Bazel does with validations."""
    build_fails(gates, "root", "--output_groups=tarball")
    assert not (gates.bin_dir() / "root.tar").exists()
    gates.run("build", "//:root_allowed", "--output_groups=tarball")
    assert (gates.bin_dir() / "root_allowed.tar").is_file()


def test_failed_gate_blocks_loading(gates):
    """`bazel run :<name>_load` ships nothing when a gate fails: the loader's runfiles hold the stamp."""
    result = gates.run("run", "//:root_load", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"//:root_load ran although its image fails a gate:\n{tail(output)}"
    assert "non-root: the image runs as root" in output, output


def test_shell_healthcheck_fails_at_analysis(gates):
    message = build_fails(gates, "shell_healthcheck")
    assert "attribute `healthcheck`: CMD-SHELL runs /bin/sh, which a distroless base does not have" in message, message


EXAMPLES = [
    ("hello", "hello_image", {}),
    ("config_service", "config_service_image", {}),
    ("deps_service", "deps_service_image", {}),
    ("service", "greeter_image", {"size": "passed"}),
    # Root and a shell, on purpose: the debug example opts into root, the debug base implies the shell.
    ("debug_image", "debug_image", {"non-root": "allowed", "no-shell": "allowed"}),
]


@pytest.mark.parametrize("directory, image, overrides", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples_pass_every_gate(make_bazel, directory, image, overrides):
    bazel = make_bazel(REPO / "examples" / directory)
    try:
        bazel.run("build", f"//:{image}")
        stamp = check_stamp(bazel, image)
    finally:
        bazel.shutdown()
    expected = {"non-root": "passed", "no-shell": "passed", "secrets": "passed", "permissions": "passed", "size": "allowed"}
    expected.update(overrides)
    assert stamp["gates"] == expected, stamp
