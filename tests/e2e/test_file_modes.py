"""File modes in py_image's layers are stated by the rule, never inherited from the input.

A worker of a remote-execution cluster presents every input as executable, and Bazel's own
outputs (.pyc trees, generated files) are 0555, so a layer that copied modes would give other
bytes wherever the action ran. The workspace here has a data file that is 0755 on disk and a
script that is 0644 on disk: in the image every file is 0644 and every directory 0755, except
what `executable_files` names (0755). A label there that is no runfile fails at analysis, naming
the attribute. (test_remote_execution.py checks the same digest from a real worker.)
"""

import tarfile

import pytest

from conftest import main_label, main_repository, module_file, tail, workspace_file

BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_library(name = "lib", srcs = ["pkg/lib.py"], imports = ["."])

py_binary(
    name = "app",
    srcs = ["app.py"],
    data = ["data.txt", "tools/run.sh"],
    main = "app.py",
    deps = [":lib"],
)

py_image(
    name = "image",
    base = "@distroless_python_nonroot",
    binary = ":app",
    executable_files = ["tools/run.sh"],
)

py_image(
    name = "not_a_runfile",
    base = "@distroless_python_nonroot",
    binary = ":app",
    executable_files = ["stray.sh"],
)
"""


@pytest.fixture(scope="module")
def modes(e2e_tmp, make_bazel):
    root = e2e_tmp / "modes"
    (root / "tools").mkdir(parents=True, exist_ok=True)
    (root / "pkg").mkdir(exist_ok=True)
    (root / "WORKSPACE").write_text(workspace_file("modes"))
    (root / "MODULE.bazel").write_text(module_file("modes"))
    (root / "BUILD.bazel").write_text(BUILD)
    (root / "app.py").write_text("import lib\nprint(lib.NAME)\n")
    (root / "pkg" / "lib.py").write_text("NAME = 'modes'\n")
    for name, mode in [("data.txt", 0o755), ("tools/run.sh", 0o644), ("stray.sh", 0o755)]:
        (root / name).write_text("#!/bin/false\n")
        (root / name).chmod(mode)
    bazel = make_bazel(root)
    yield bazel
    bazel.shutdown()


def test_every_mode_is_stated_by_the_rule(modes):
    modes.run("build", "//:image", "--output_groups=+layers")
    with tarfile.open(modes.bin_dir() / "image.layers" / "app.tar.gz") as layer:
        members = {member.name: member for member in layer.getmembers()}
    main = f"app/app.runfiles/{main_repository('modes')}"
    listing = "\n".join(f"{oct(m.mode)} {name}" for name, m in sorted(members.items()))
    assert members[f"{main}/tools/run.sh"].mode == 0o755, listing
    for name in [f"{main}/data.txt", f"{main}/app.py", f"{main}/pkg/lib.py"]:
        assert members[name].mode == 0o644, listing
    compiled = [m for name, m in members.items() if name.endswith(".pyc")]
    assert compiled and all(m.mode == 0o644 for m in compiled), listing
    directories = [m for m in members.values() if m.isdir()]
    assert directories and all(m.mode == 0o755 for m in directories), listing
    executables = sorted(name for name, m in members.items() if m.isfile() and m.mode & 0o111)
    assert executables == [f"{main}/tools/run.sh"], listing


def test_an_executable_file_that_is_no_runfile_fails_at_analysis(modes):
    result = modes.run("build", "//:not_a_runfile", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, tail(output)
    assert f"py_image {main_label('//:not_a_runfile')}: attribute `executable_files`: stray.sh is not among the runfiles" in output, tail(output)
    assert not (modes.bin_dir() / "not_a_runfile.layers").exists()
