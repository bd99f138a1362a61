"""The `hello` example image, built by real Bazel, has the digest committed in
tests/golden/digests.txt. tests/e2e/test_remote_cache.py asserts the same digest from two more
checkouts at other paths (one under another time zone, locale and umask); crates/cli/tests/golden.rs
covers the four distroless bases.
"""

import re

from conftest import REPO

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
    layout_index = (bin_dir / HELLO / "index.json").read_text()
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
    assert_golden("hello", hello_digest(bazel))
