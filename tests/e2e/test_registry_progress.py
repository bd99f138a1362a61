"""`pyoci push` progress as a user sees it: driven under a pseudo-terminal (Python's pty), the
push draws a line per large blob with its bytes, total, rate and state (uploading, resumed,
done); with stderr not a terminal (CI logs, Bazel) it prints only its one-line summary, no
bars and no terminal escapes. Against a real docker-registry on 127.0.0.1.

Needs a built pyoci: PYOCI_BINARY, else target/release/pyoci (`cargo build --release --locked -p pyoci`).
"""

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "support"))
from layouts import random_layout  # noqa: E402
from registry import Registry  # noqa: E402

MIB = 1 << 20


def pyoci_binary():
    given = os.environ.get("PYOCI_BINARY")
    target = Path(os.environ.get("PYOCI_CARGO_TARGET_DIR") or REPO / "target")
    binary = Path(given) if given else target / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"no pyoci at {binary}: run `cargo build --release --locked -p pyoci` or set PYOCI_BINARY")
    return str(binary)


def under_terminal(argv, env):
    """Runs argv with stdin, stdout and stderr on a new pseudo-terminal (120 columns);
    returns (exit code, everything written to the terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        output += data
    os.close(master)
    return process.wait(timeout=120), output.decode(errors="replace")


def push_env(tmp_path):
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "TERM": "xterm"}
    (tmp_path / "docker").mkdir(exist_ok=True)
    return env


def test_progress_lines_under_a_terminal_and_none_without(tmp_path):
    # Two layers over the 8 MiB bar threshold, one under it (no bar: it is done before one draws).
    digests = random_layout(tmp_path / "image", [24 * MIB, 12 * MIB, 64 * 1024])
    env = push_env(tmp_path)
    with Registry(tmp_path / "registry") as registry:
        code, screen = under_terminal(
            [pyoci_binary(), "push", str(tmp_path / "image"), f"{registry.host}/progress/tty", "--tag", "v1",
             "--chunk-size", str(4 * MIB)], env)
        assert code == 0, screen
        # One line per large blob: state and short digest, bytes of total, rate.
        for digest, total in ((digests[0], "24.00 MiB"), (digests[1], "12.00 MiB")):
            short = digest.split(":", 1)[1][:12]
            line = re.search(rf"upload {short} done \[=+\] {re.escape(total)}/{re.escape(total)} "
                             r"[0-9.]+ [KMG]iB/s", screen)
            assert line, f"no finished line for {short} in:\n{screen!r}"
        assert digests[2].split(":", 1)[1][:12] not in screen, "a bar for a blob under 8 MiB"
        # The bar redraws in place while bytes move (carriage return or cursor movement).
        assert "\r" in screen or "\x1b[" in screen
        assert "pushed " in screen

        piped = subprocess.run(
            [pyoci_binary(), "push", str(tmp_path / "image"), f"{registry.host}/progress/pipe", "--tag", "v1",
             "--chunk-size", str(4 * MIB)], env=env, capture_output=True, text=True)
        assert piped.returncode == 0, piped.stderr
        assert "upload " not in piped.stderr and "iB/s" not in piped.stderr, piped.stderr
        assert "\x1b[" not in piped.stderr and "\r" not in piped.stderr, repr(piped.stderr)
        assert [line for line in piped.stderr.splitlines() if line] == [
            line for line in piped.stderr.splitlines() if line.startswith("pushed ")], piped.stderr
