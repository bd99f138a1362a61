"""Remote-cache readiness, with Bazel's disk cache standing in for a remote cache.

Checkout A builds the hello example (base, layers, image, docker tarball) into an empty
`--disk_cache`. Checkout B, a copy at another path with its own clean output root and repository
cache, started under another time zone, locale and umask, builds the same targets: every action
must come from the cache and none may execute. Both builds use the linux-sandbox with network
access off and `--incompatible_strict_action_env`, and both give the golden hello digest.

A third build runs every pyoci action under strace (spawn strategy `local`, so nothing hides a
host path from the tool) and checks that no action reads an absolute path that is not a declared
input: only the action's execroot, the output base that declared inputs resolve into, the
toolchain binary, and the system's loader, /proc, /sys and /dev are allowed.

All three use one prebuilt pyoci (PYOCI_BINARY): the toolchain binary is an input of every
action, and one built from source at another checkout path differs in its debug info (see
docs/remote-execution.md), so sharing a cache means sharing the toolchain binary.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import BZLMOD, REPO, cache_hit, copy_checkout, require_tool, spawns
from test_golden_hello import HELLO, assert_golden

EXAMPLE = "examples/hello"
TARGETS = [f"//:{HELLO}", f"//:{HELLO}_load"]
# The load target writes no tarball at build time (`pyoci load` reads the layout when it runs).
IMAGE_MNEMONICS = {"PyociBase", "PyociLayer", "PyociBytecode", "PyociImage", "PyociCheckLayer", "PyociCheck"}
HERMETIC_FLAGS = [
    "--spawn_strategy=linux-sandbox",
    "--sandbox_default_allow_network=false",
    "--incompatible_strict_action_env",
]


@pytest.fixture(scope="module")
def pyoci_binary(repo_env):
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p pyoci` first")
    return binary


def describe(spawn):
    outputs = [o.get("path", "") for o in spawn.get("actualOutputs", [])]
    return f"{spawn.get('mnemonic')}: {spawn.get('progressMessage')} -> {outputs[:2]}"


@pytest.fixture(scope="module")
def two_checkouts(e2e_tmp, make_bazel, pyoci_binary):
    disk_cache = e2e_tmp / "disk-cache"
    built = {}
    for name, env, umask in [
        ("checkout-a", {}, None),
        ("elsewhere/checkout-b", {"TZ": "Asia/Kathmandu", "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8"}, 0o077),
    ]:
        root = copy_checkout(e2e_tmp / name / "rules_pyoci")
        bazel = make_bazel(
            root / EXAMPLE,
            output_user_root=e2e_tmp / name / "root",
            repository_cache=e2e_tmp / name / "repository-cache",
            extra_repo_env={"PYOCI_BINARY": str(pyoci_binary)},
        )
        log = e2e_tmp / name / "exec.json"
        # The umask is inherited by the Bazel server this first command starts, and so by every
        # action it runs.
        previous = os.umask(umask) if umask is not None else None
        try:
            # The digest is not a default output: Bazel 7 (builds without the bytes, `toplevel`
            # by default, disk cache included) materialises a cache hit's outputs only when a
            # requested output group names them.
            result = bazel.run(
                "build", *TARGETS, *HERMETIC_FLAGS, f"--disk_cache={disk_cache}", "--output_groups=+digest",
                f"--execution_log_json_file={log}", env=env,
            )
        finally:
            if previous is not None:
                os.umask(previous)
        built[name] = (root, bazel, spawns(log), result.stderr)
    yield built
    for _, bazel, _, _ in built.values():
        bazel.shutdown()


def test_first_checkout_executes_every_image_action(two_checkouts):
    _, _, executed, _ = two_checkouts["checkout-a"]
    mnemonics = {s.get("mnemonic") for s in executed if not cache_hit(s)}
    assert IMAGE_MNEMONICS <= mnemonics, f"checkout A did not run every image action: {sorted(mnemonics)}"


def test_second_checkout_hits_the_cache_for_every_action(two_checkouts):
    root_a, bazel_a, _, _ = two_checkouts["checkout-a"]
    root_b, bazel_b, spawned, stderr = two_checkouts["elsewhere/checkout-b"]
    assert root_a != root_b
    assert bazel_a.info("output_base") != bazel_b.info("output_base")

    hits = {s.get("mnemonic") for s in spawned if cache_hit(s)}
    assert IMAGE_MNEMONICS <= hits, f"image actions missing from checkout B's cache hits: {sorted(hits)}"
    executed = [s for s in spawned if not cache_hit(s)]
    assert executed == [], "checkout B executed actions instead of taking them from the cache:\n" + "\n".join(
        describe(s) for s in executed
    )
    summary = re.search(r"INFO: (\d+) process(?:es)?: (.*)", stderr)
    assert summary, f"no process summary in Bazel's output:\n{stderr[-2000:]}"
    # Bazel 4 counts disk cache hits as "remote cache hit"; Bazel 7 says "disk cache hit" (and its
    # execution log says `cacheHit` where Bazel 4's says `remoteCacheHit`: conftest.cache_hit).
    assert re.search(r"\d+ (remote|disk) cache hit", summary.group(2)), summary.group(0)
    assert not re.search(r"\d+ (linux-sandbox|local|processwrapper-sandbox|sandbox)\b", summary.group(2)), summary.group(0)


def test_both_checkouts_give_the_golden_hello_digest(two_checkouts):
    for name, (_, bazel, _, _) in two_checkouts.items():
        digest = (bazel.bin_dir() / f"{HELLO}.digest").read_text()
        assert_golden("hello-bzlmod" if BZLMOD else "hello", digest)


# Absolute paths an action may touch without declaring them: the dynamic loader and libc, and
# the kernel's views of the process and the machine (pyoci reads its CPU quota there).
SYSTEM_PREFIXES = ("/etc/ld.so.", "/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/proc/", "/sys/", "/dev/")
# Scratch space, not input: `pyoci base` spills large package members into a temporary
# directory ($TMPDIR, else /tmp; strict action env leaves TMPDIR unset) and removes it.
# pyoci's own scratch: unpacked .debs, and the symlinks that show an image layout and the
# layouts holding its base's blobs as one (`--blobs-from`; they point at declared inputs).
SCRATCH_PREFIXES = ("/tmp/pyoci-deb-", "/tmp/.pyoci-view-")
# `pyoci base` runs the base's CPython to compile the stdlib's bytecode, and a CPython starts by
# reading the host's time zone (the `time` module calls tzset) and, coercing the C locale to
# C.UTF-8, glibc's locale aliases. Neither reaches the bytes (an unchecked-hash .pyc holds no
# time; sources are read as bytes, paths as UTF-8), so only that process may read them.
INTERPRETER_STARTUP = ("/etc/localtime", "/usr/share/zoneinfo/", "/usr/share/locale/locale.alias")
FILE_CALL = re.compile(r'^(?:\d+\s+)?(\w+)\((?:AT_FDCWD|\d+<[^>]*>|\d+), "((?:[^"\\]|\\.)*)"|^(?:\d+\s+)?(\w+)\("((?:[^"\\]|\\.)*)"')


def traced_paths(trace_dir):
    """(syscall, path) of every file-name system call in the strace logs."""
    found = []
    for log in sorted(Path(trace_dir).glob("*")):
        for line in log.read_text(errors="replace").splitlines():
            match = FILE_CALL.match(line)
            if match:
                call = match.group(1) or match.group(3)
                path = match.group(2) if match.group(1) else match.group(4)
                found.append((call, path, log.name))
    return found


def test_actions_read_no_undeclared_absolute_path(e2e_tmp, make_bazel, pyoci_binary):
    require_tool("strace")
    strace = shutil.which("strace")
    name = "traced"
    root = copy_checkout(e2e_tmp / name / "rules_pyoci")
    traces = e2e_tmp / name / "traces"
    traces.mkdir(parents=True)
    wrapper = e2e_tmp / name / "pyoci-traced"
    # The toolchain repository copies this script as its `pyoci`; it runs the real binary under
    # strace, one log per process, recording every system call that takes a file name.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'exec {strace} -f -qq -e trace=%file -o "{traces}/trace.$$" -ff "{pyoci_binary}" "$@"\n'
    )
    wrapper.chmod(0o755)
    bazel = make_bazel(
        root / EXAMPLE,
        output_user_root=e2e_tmp / name / "root",
        repository_cache=e2e_tmp / name / "repository-cache",
        extra_repo_env={"PYOCI_BINARY": str(wrapper)},
    )
    try:
        bazel.run("build", *TARGETS, "--spawn_strategy=local", "--incompatible_strict_action_env")
        output_base = bazel.info("output_base")
    finally:
        bazel.shutdown()

    calls = traced_paths(traces)
    assert calls, f"strace logged nothing under {traces}: was pyoci run through the wrapper?"
    executed = {path for call, path, _ in calls if call == "execve"}
    assert str(pyoci_binary) in executed, f"the real pyoci never ran: {sorted(executed)[:5]}"
    allowed_prefixes = (output_base + "/", str(pyoci_binary), str(wrapper)) + SYSTEM_PREFIXES + SCRATCH_PREFIXES
    # Resolving a declared input's symlink (realpath) looks at each directory above it.
    output_base_ancestors = {str(p) for p in Path(output_base).parents} | {output_base}
    interpreters = {log for call, path, log in calls if call == "execve" and path.endswith("/python3.11")}
    undeclared = sorted(
        {
            (call, path)
            for call, path, log in calls
            if path.startswith("/")
            and not path.startswith(allowed_prefixes)
            and path not in output_base_ancestors
            and not (log in interpreters and path.startswith(INTERPRETER_STARTUP))
        }
    )
    assert undeclared == [], "pyoci actions touched absolute paths that are not declared inputs:\n" + "\n".join(
        f"{call}({path})" for call, path in undeclared
    )
