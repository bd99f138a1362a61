"""`pyoci lint` reads macros of other repositories from Bazel's output base.

A workspace loads a macro from a second repository written here (local_repository under
Bazel 4, bazel_dep + local_path_override under Bazel 7 bzlmod). It builds, and its
`pyoci_lint_test` passes. Then the BUILD file gets two mistakes only the real macro reveals: an
attribute the macro forwards to `genrule` that genrule lacks, and a label to a target the macro
does not define. `pyoci lint` finds both through the `bazel-<workspace>` symlink and through
`--output-base`, and says nothing without the output base (where `--verbose` says why).
"""

import os
import subprocess
from pathlib import Path

from conftest import BZLMOD, REPO, module_file

MACROS = '''"""The company's macros."""

def text_bundle(name, srcs, **kwargs):
    """Concatenates `srcs` into `<name>.txt`, grouped as `<name>_files`."""
    native.genrule(
        name = name,
        srcs = srcs,
        outs = [name + ".txt"],
        cmd = "cat $(SRCS) > $@",
        **kwargs
    )
    native.filegroup(name = name + "_files", srcs = [":" + name])
'''

CLEAN = '''load("@company_macros//:defs.bzl", "text_bundle")
load("@rules_pyoci//rules:defs.bzl", "pyoci_lint_test")

text_bundle(
    name = "notes",
    srcs = ["a.txt"],
    tags = ["docs"],
)

filegroup(
    name = "all",
    srcs = [":notes_files"],
)

pyoci_lint_test(name = "lint")
'''


def pyoci():
    built = os.environ.get("PYOCI_BINARY") or str(REPO / "target" / "release" / "pyoci")
    assert Path(built).is_file(), f"no pyoci at {built}: cargo build --release --locked -p pyoci"
    return built


def lint(workspace, *args):
    return subprocess.run(
        [pyoci(), "lint", *args, "."], cwd=workspace, capture_output=True, text=True, timeout=300
    )


def test_macros_from_the_output_base_are_checked(e2e_tmp, make_bazel, offline_test_flags):
    root = e2e_tmp / "lint-output-base"
    workspace, macros = root / "lintws", root / "macros"
    macros.mkdir(parents=True)
    workspace.mkdir()
    (macros / "defs.bzl").write_text(MACROS)
    (macros / "BUILD.bazel").write_text("")
    if BZLMOD:
        (macros / "MODULE.bazel").write_text('module(name = "company_macros", version = "1.0")\n')
        (workspace / "MODULE.bazel").write_text(module_file(
            "lintws",
            'bazel_dep(name = "company_macros", version = "1.0")\n'
            f'local_path_override(module_name = "company_macros", path = "{macros}")\n',
        ))
    else:
        (macros / "WORKSPACE").write_text("")
        (workspace / "WORKSPACE").write_text(
            'workspace(name = "lintws")\n\n'
            f'local_repository(name = "rules_pyoci", path = "{REPO}")\n\n'
            f'local_repository(name = "company_macros", path = "{macros}")\n\n'
            'load("@rules_pyoci//rules:repositories.bzl", "pyoci_register_toolchains", "rules_pyoci_dependencies")\n\n'
            "rules_pyoci_dependencies()\n\npyoci_register_toolchains()\n"
        )
    (workspace / "a.txt").write_text("hello\n")
    build = workspace / "BUILD.bazel"
    build.write_text(CLEAN)

    bazel = make_bazel(workspace, extra_flags=offline_test_flags, extra_repo_env={"PYOCI_BINARY": pyoci()})
    bazel.run("build", "//:all")
    result = bazel.run("test", "--test_output=errors", "//:lint")
    assert "PASSED" in result.stdout + result.stderr, result.stdout + result.stderr
    output_base = bazel.info("output_base")
    bazel.shutdown()
    link = workspace / "bazel-lintws"
    assert link.is_symlink(), sorted(p.name for p in workspace.iterdir())

    clean = lint(workspace)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    build.write_text(CLEAN.replace("tags = ", "tag = ").replace(":notes_files", ":notes_file"))
    found = [
        "BUILD.bazel:7:5: PYO020 `text_bundle` has no attribute `tag` (did you mean `tags`?)",
        "BUILD.bazel:12:13: PYO032 `srcs` of `filegroup` names `:notes_file`, which package `//` does not define (did you mean `notes_files`?)",
    ]
    through_link = lint(workspace)
    assert through_link.stdout.splitlines() == found, through_link.stdout + through_link.stderr
    assert through_link.returncode == 1

    # Without the output base the macro is unknown: silence, and --verbose says why.
    link.rename(workspace.parent / "bazel-lintws-moved")
    silent = lint(workspace, "--verbose")
    assert silent.returncode == 0, silent.stdout + silent.stderr
    assert silent.stdout == ""
    assert "BUILD.bazel:1:6: note: `@company_macros` is not evaluated (no Bazel output base" in silent.stderr, silent.stderr

    explicit = lint(workspace, "--output-base", output_base)
    assert explicit.stdout.splitlines() == found, explicit.stdout + explicit.stderr
