"""The `hello` example image, built by real Bazel, has the digest committed in
tests/golden/digests.txt. tests/e2e/test_remote_cache.py asserts the same digest from two more
checkouts at other paths (one under another time zone, locale and umask); crates/cli/tests/golden.rs
covers the four distroless bases. Under bzlmod (PYOCI_BAZEL=7) the image differs only where the
main repository's runfiles directory is `_main` instead of `hello_example` (its own golden line,
`hello-bzlmod`), and its base is byte for byte the one Bazel 4 builds: `nonroot-bytecode`, the
nonroot base with its standard library's bytecode, which crates/cli/tests/base_bytecode.rs
builds with `pyoci base` alone. A base built with `bytecode = False` is the `nonroot` line, as
`pyoci base` writes it without --compile-bytecode-with.
"""

import re
import subprocess

from conftest import BZLMOD, REPO, extension_repository, module_file, workspace_file

GOLDEN = REPO / "tests" / "golden" / "digests.txt"
HELLO = "hello_image"


def golden(name):
    for line in GOLDEN.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, digest = line.split(" ", 1)
            if key == name:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"{GOLDEN}: {line!r}"
                return digest
    return None


def hello_digest(bazel):
    """Builds //:hello_image in `bazel`'s workspace and returns the digest Bazel wrote."""
    bazel.run("build", f"//:{HELLO}")
    bin_dir = bazel.bin_dir()
    digest = (bin_dir / f"{HELLO}.digest").read_text()
    layout_index = (bin_dir / f"{HELLO}.own" / "index.json").read_text()
    assert digest in layout_index, f"index.json of {HELLO} does not name {digest}"
    return digest


def assert_golden(name, actual):
    expected = golden(name)
    assert expected is not None, f"{GOLDEN} has no line for {name!r}; this build gives `{name} {actual}`"
    assert actual == expected, (
        f"{name} is {actual}, tests/golden/digests.txt says {expected}. If the change is intended, "
        "update the file (see tests/golden/README.md)."
    )


def test_hello_image_matches_golden_digest(make_bazel):
    bazel = make_bazel(REPO / "examples" / "hello")
    assert_golden("hello-bzlmod" if BZLMOD else "hello", hello_digest(bazel))


def nonroot_base_digest(bazel):
    """Builds @distroless_python_nonroot in `bazel`'s workspace and returns the digest Bazel wrote."""
    bazel.run("build", "@distroless_python_nonroot//:distroless_python_nonroot")
    repository = extension_repository("distroless_python_nonroot", "distroless")
    return (bazel.bin_dir() / "external" / repository / "distroless_python_nonroot.digest").read_text()


def test_hello_base_is_the_golden_nonroot_base(make_bazel):
    """The same base digest under WORKSPACE (Bazel 4) and bzlmod (Bazel 7), and from the CLI."""
    assert_golden("nonroot-bytecode", nonroot_base_digest(make_bazel(REPO / "examples" / "hello")))


def test_a_base_without_bytecode_is_the_golden_nonroot_base(make_bazel, e2e_tmp):
    """`bytecode = False` (hosts that cannot run Debian 12's CPython) leaves the compiler out of
    the base's build: the base is the one `pyoci base` writes without bytecode."""
    workspace = e2e_tmp / "no-bytecode-ws"
    workspace.mkdir()
    (workspace / "WORKSPACE").write_text(workspace_file("no_bytecode", bases_args="bytecode = False"))
    (workspace / "MODULE.bazel").write_text(module_file("no_bytecode", bases_args="bytecode = False"))
    (workspace / "BUILD.bazel").write_text("")
    bazel = make_bazel(workspace)
    assert_golden("nonroot", nonroot_base_digest(bazel))
    bazel.shutdown()


def test_stdlib_bytecode_is_loaded_by_the_nonroot_user(make_bazel, docker):
    """The base ships the stdlib's __pycache__ (the image's user could not write it), and the
    interpreter takes modules from it instead of compiling their sources at every start."""
    bazel = make_bazel(REPO / "examples" / "hello")
    tag = "localhost/hello:latest"
    docker.append(tag)
    loaded = bazel.run("run", f"//:{HELLO}_load", env={"PYOCI_LOADER": ""})
    assert tag in loaded.stdout + loaded.stderr, loaded.stdout + loaded.stderr
    code = "import asyncio, os, sys; print(os.getuid(), os.path.exists(asyncio.__cached__))"
    ran = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "/usr/bin/python3", tag, "-v", "-c", code],
        capture_output=True, text=True, timeout=300,
    )
    assert ran.returncode == 0, f"docker run failed:\n{ran.stdout}\n{ran.stderr}"
    assert ran.stdout.split() == ["65532", "True"], ran.stdout
    # `python -v` names where each module's code came from.
    cached = "code object from '/usr/lib/python3.11/asyncio/__pycache__/__init__.cpython-311.pyc'"
    assert cached in ran.stderr, ran.stderr[-3000:]
