"""Prebuilt pyoci binaries of a release, by host platform; tools/release.sh writes them here.

In a git checkout this is empty and the toolchain builds pyoci from source with cargo. In a
release archive each entry is {"urls": [...], "sha256": "..."}: the toolchain downloads the
binary for the host and verifies it, and still builds from source when the host has no entry
or the download fails.
"""

PREBUILT_PYOCI = {}
