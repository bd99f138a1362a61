#!/usr/bin/env bash
# `make demo`: build the hello example image with Bazel, load it with `bazel run`, run it with
# `docker run --rm`. Its output (uid=65532 and a line of its data file) is printed last.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

debs="${PYOCI_DEBS_DIR:-$root/../shared/debs/bookworm-amd64}"
if [[ -d "$debs" ]]; then
  # Offline: local .deb files and stand-ins for what Bazel 4 would otherwise download.
  bash "$root/tests/bazel/configure_offline.sh" "$debs"
else
  echo "demo: no local .deb directory at $debs; the bases are fetched from the Debian mirror" >&2
fi

cd "$root/examples/hello"
# Debian's /etc/bazel/bazelrc turns on --sandbox_debug, which floods the output.
echo "demo: bazel build :hello_image" >&2
bazel build --nosandbox_debug //:hello_image
echo "demo: bazel run :hello_image_load" >&2
bazel run --nosandbox_debug //:hello_image_load
echo "demo: docker run --rm localhost/hello" >&2
docker run --rm localhost/hello
