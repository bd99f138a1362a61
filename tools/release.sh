#!/usr/bin/env bash
# Makes the release artifacts of rules_pyoci:
#
#   tools/release.sh VERSION OUT_DIR [BASE_URL]
#
#   OUT_DIR/rules_pyoci-VERSION.tar.gz              source archive (prefix rules_pyoci-VERSION/),
#                                                   MODULE.bazel at VERSION, prebuilt.bzl naming
#                                                   the binary below
#   OUT_DIR/pyoci-VERSION-linux-x86_64              prebuilt pyoci (cargo build --release --locked)
#   OUT_DIR/SHA256SUMS                              sha256 of both
#
# BASE_URL is where the artifacts will be served (default: the GitHub release of tag vVERSION);
# the toolchain downloads the binary from BASE_URL/pyoci-VERSION-linux-x86_64. The archive holds
# the committed tree plus uncommitted changes to tracked files (`git stash create`).
# The Bazel Central Registry's publishing tooling reads .bcr/ to turn the archive into an entry.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 VERSION OUT_DIR [BASE_URL]" >&2
  exit 2
fi
version="$1"
out="$(mkdir -p "$2" && cd "$2" && pwd)"
base_url="${3:-https://github.com/rules-pyoci/rules_pyoci/releases/download/v$version}"
checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.]+)?$ ]]; then
  echo "release: VERSION must look like 1.2.3, got '$version'" >&2
  exit 2
fi

prefix="rules_pyoci-$version"
binary="pyoci-$version-linux-x86_64"
archive="$prefix.tar.gz"
work="$(mktemp -d "$out/.pyoci-release-XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "release: building pyoci" >&2
(cd "$checkout" && cargo build --release --locked -p pyoci >&2)
cp "$checkout/target/release/pyoci" "$work/$binary"
strip "$work/$binary" 2>/dev/null || true
binary_sha256="$(sha256sum "$work/$binary" | cut -d' ' -f1)"

echo "release: source archive $archive" >&2
tree="$(cd "$checkout" && git stash create)"
(cd "$checkout" && git archive --format=tar --prefix="$prefix/" "${tree:-HEAD}") | tar -x -C "$work"
src="$work/$prefix"
# The module's version is the release's; the registry checks they agree.
sed -i -E '0,/^    version = "[^"]*",/s//    version = "'"$version"'",/' "$src/MODULE.bazel"
grep -q "version = \"$version\"" "$src/MODULE.bazel" \
  || { echo "release: could not set the version in MODULE.bazel" >&2; exit 1; }
cat >"$src/rules/private/prebuilt.bzl" <<EOF
"""Prebuilt pyoci binaries of rules_pyoci $version, by host platform (written by tools/release.sh).

The toolchain downloads the host's binary and verifies its sha256; other hosts, or a failed
download, build pyoci from the sources in this archive with cargo.
"""

PREBUILT_PYOCI = {
    "linux_x86_64": {
        "sha256": "$binary_sha256",
        "urls": ["$base_url/$binary"],
    },
}
EOF
# Reproducible: sorted names, fixed owner and time, gzip without a name or time stamp.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='1970-01-01 00:00:00Z' \
  -C "$work" -cf - "$prefix" | gzip -n -9 >"$work/$archive"

mv -f "$work/$binary" "$out/$binary"
mv -f "$work/$archive" "$out/$archive"
(cd "$out" && sha256sum "$archive" "$binary" >SHA256SUMS.tmp && mv -f SHA256SUMS.tmp SHA256SUMS)
cat "$out/SHA256SUMS"
