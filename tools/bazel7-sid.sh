#!/usr/bin/env bash
# Provides Bazel 7.7.1 (bzlmod) offline on a Debian bookworm machine: Debian sid packages it, and
# it needs sid's libc, so it lives in a sid root filesystem that tools/bazel7 runs it in (chroot).
#
#   tools/bazel7-sid.sh            create the root once (about 3 minutes; network to Debian)
#   tools/bazel7 <bazel args...>   run Bazel 7.7.1 in it, with this checkout at the same path
#
# The root is cached at $PYOCI_BAZEL7_ROOT (default /var/cache/pyoci/bazel7-sid); a second run
# finds its stamp and returns at once. What the root holds besides Bazel:
#   - the offline stand-ins Debian's Bazel still asks for (apple_support, buildozer, protobuf,
#     zlib modules of @bazel_tools) and an empty file:// registry, named in
#     /etc/bazel/pyoci-offline.bazelrc, which the system bazelrc imports;
#   - podman and runc (py_image_test command tests run inside Bazel's test actions), the docker
#     CLI (oci_load talks to the host's Docker Engine through its bound socket), git (stamping),
#     python3-pip (pip_lock_repository runs pip at fetch time);
#   - bookworm's python3.11, for rules_python 0.22.1's pip.parse (its tools need Python <= 3.11);
#   - the host's own extra CA certificates, so pip inside the root trusts the same TLS
#     interception proxy the host's pip does (without them pip fails certificate checks).
# Root is needed (debootstrap, chroot).
set -euo pipefail

root="${PYOCI_BAZEL7_ROOT:-/var/cache/pyoci/bazel7-sid}"
mirror="${PYOCI_SID_MIRROR:-http://deb.debian.org/debian}"
packages=(bazel-bootstrap ca-certificates git python3-pip podman runc conmon uidmap netavark
          aardvark-dns catatonit fuse-overlayfs docker-cli iproute2 nftables strace
          zip docker.io containerd)
# zip: Bazel's test-setup.sh zips undeclared test outputs (test.outputs/outputs.zip).
# docker.io, containerd: a second Docker Engine (28) with the containerd image store, which the
# load tests start privately (tests/e2e/conftest.py, containerd_docker); the host's is 20.10.
# Changes when the contents below change: an older root is brought up to date in place.
stamp_version="pyoci-bazel7-sid 3: ${packages[*]} + bookworm python3.11"
stamp="$root/.pyoci-ready"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_version" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bazel7-sid: must run as root (debootstrap and chroot); try: sudo $0" >&2
  exit 1
fi

log() { echo "bazel7-sid: $*" >&2; }

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap \
    || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap; }
fi

# Built beside the final path and renamed into place: a failed run leaves no root at $root.
# The staging tree stays for the next run to resume from (each step leaves a marker). An
# existing root with an older stamp is updated where it is.
staging="$root.staging"
if [ -f "$stamp" ]; then
  staging="$root"
  rm -f "$staging/.pyoci-packages-done"
fi
unmount() {
  for point in dev proc; do
    if mountpoint -q "$staging/$point" 2>/dev/null; then umount -lR "$staging/$point"; fi
  done
}
trap unmount EXIT
mkdir -p "$(dirname "$root")"

if [ ! -f "$staging/.pyoci-debootstrap-done" ]; then
  rm -rf "$staging"
  log "debootstrap sid into $staging (about a minute)"
  debootstrap --variant=minbase sid "$staging" "$mirror" >"$staging.log" 2>&1 \
    || { tail -n 30 "$staging.log" >&2; log "debootstrap failed (full log: $staging.log)"; exit 1; }
  touch "$staging/.pyoci-debootstrap-done"
fi

mountpoint -q "$staging/proc" || mount -t proc proc "$staging/proc"
mountpoint -q "$staging/dev" || mount --rbind /dev "$staging/dev"
in_root() { chroot "$staging" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }

if [ ! -f "$staging/.pyoci-packages-done" ]; then
  # The host's extra CAs (e.g. a TLS-intercepting egress proxy's) are trusted inside too.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$staging/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$staging/usr/local/share/ca-certificates/"
  fi
  # sid's Release file can be past its Valid-Until date on a mirror snapshot.
  apt_opts=(-o Acquire::Check-Valid-Until=false -q)
  log "apt-get install ${packages[*]} (a few minutes)"
  in_root apt-get "${apt_opts[@]}" update >"$staging.log" 2>&1 \
    || { tail -n 30 "$staging.log" >&2; log "apt-get update in the sid root failed"; exit 1; }
  in_root apt-get "${apt_opts[@]}" install -y --no-install-recommends "${packages[@]}" >"$staging.log" 2>&1 \
    || { tail -n 30 "$staging.log" >&2; log "apt-get install in the sid root failed"; exit 1; }
  in_root update-ca-certificates >/dev/null
  in_root apt-get clean
  rm -f "$staging.log"
  touch "$staging/.pyoci-packages-done"
fi

# rules_python 0.22.1 (the version Debian ships with Bazel 7) runs its fetch-time wheel tools
# with a setuptools whose pkg_resources needs Python <= 3.11; sid has 3.14 only. Bookworm's
# python3.11 (this host's Debian), unpacked into the root, runs on sid's libraries.
if [ ! -x "$staging/usr/bin/python3.11" ]; then
  log "unpacking bookworm's python3.11 into the root (for rules_python 0.22.1's pip.parse)"
  debs="$(mktemp -d)"
  chmod 0755 "$debs"
  (cd "$debs" && apt-get download -q python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 >/dev/null 2>&1) \
    || { apt-get update -q >/dev/null && (cd "$debs" && apt-get download -q python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 >/dev/null); } \
    || { rm -rf "$debs"; log "apt-get download of bookworm's python3.11 failed"; exit 1; }
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$staging"; done
  rm -rf "$debs"
  in_root python3.11 -c "import ssl, ctypes, zlib" || { log "python3.11 does not run in the sid root"; exit 1; }
fi

# (Debian's build answers `bazel --version` but not `bazel version`.)
release="$(in_root bazel --version 2>&1 | sed -n 's/^bazel //p')"
case "$release" in
  7.*) log "Bazel $release" ;;
  *) log "the sid root's bazel reports release '$release', not 7.x"; exit 1 ;;
esac

# Offline stand-ins for the modules @bazel_tools asks for that Debian does not ship.
stubs="$staging/opt/pyoci-bazel-offline"
stub_module() { # name version
  mkdir -p "$stubs/$1"
  printf 'module(name = "%s", version = "%s")\n' "$1" "$2" >"$stubs/$1/MODULE.bazel"
  : >"$stubs/$1/BUILD.bazel"
}
stub_module apple_support 1.23.1
stub_module buildozer 7.1.2
stub_module protobuf 3.19.6
stub_module zlib 1.3.1.bcr.3
cat >"$stubs/buildozer/buildozer_binary.bzl" <<'EOF'
# @bazel_tools names this extension; offline it yields an empty repository.
def _empty_repository_impl(rctx):
    rctx.file("BUILD.bazel", "")

_empty_repository = repository_rule(implementation = _empty_repository_impl)

def _buildozer_binary_impl(module_ctx):
    _empty_repository(name = "buildozer_binary")

buildozer_binary = module_extension(implementation = _buildozer_binary_impl)
EOF
mkdir -p "$stubs/registry"
echo '{}' >"$stubs/registry/bazel_registry.json"

cat >"$staging/etc/bazel/pyoci-offline.bazelrc" <<EOF
# Written by rules_pyoci's tools/bazel7-sid.sh: Bazel 7.7.1 without network access.
common --registry=file:///opt/pyoci-bazel-offline/registry
common --override_module=apple_support=/opt/pyoci-bazel-offline/apple_support
common --override_module=buildozer=/opt/pyoci-bazel-offline/buildozer
common --override_module=protobuf=/opt/pyoci-bazel-offline/protobuf
common --override_module=zlib=/opt/pyoci-bazel-offline/zlib
# Debian's rc turns on --sandbox_debug, which keeps every sandbox directory on disk.
build --nosandbox_debug
EOF
grep -q pyoci-offline "$staging/etc/bazel/bazelrc" \
  || echo "import /etc/bazel/pyoci-offline.bazelrc" >>"$staging/etc/bazel/bazelrc"

# tools/bazel7 binds the Docker socket here.
mkdir -p "$staging/run" && touch "$staging/run/docker.sock"

unmount
trap - EXIT
echo "$stamp_version" >"$staging/.pyoci-ready"
if [ "$staging" != "$root" ]; then
  rm -rf "$root"
  mv "$staging" "$root"
fi
log "ready: $root"
