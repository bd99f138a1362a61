#!/usr/bin/env bash
# Provisions the remote-execution cluster that tests/e2e/test_remote_execution.py starts:
#   - BuildGrid 0.4.4 (PyPI; Python >= 3.11) in a virtualenv, with its PostgreSQL drivers;
#   - PostgreSQL (Debian), the only database BuildGrid's scheduler accepts;
#   - a Debian sid root file system with buildbox 1.4.30 (casd, worker, runners), which needs
#     sid's libc; the test `docker import`s it as the workers' image.
# Idempotent and cached under $PYOCI_REMOTE_CACHE (default /var/cache/rules_pyoci/remote):
# each part is built beside its final path and renamed into place, so a stopped run is redone.
set -euo pipefail

cache="${PYOCI_REMOTE_CACHE:-/var/cache/rules_pyoci/remote}"
mirror="${PYOCI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
buildgrid_version=0.4.4
# Bump when the worker root's recipe changes: the test tags the image with this.
worker_recipe=3
mkdir -p "$cache"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
apt_install() {
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "$@" ||
    { "${sudo_cmd[@]}" apt-get update -q && DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "$@"; }
}

missing=()
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-remote-execution: installing ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi

# BuildGrid: the first python3.11+ on PATH.
venv="$cache/buildgrid-$buildgrid_version"
if [ ! -x "$venv/bin/bgd" ]; then
  python=""
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  [ -n "$python" ] || { echo "install-remote-execution: BuildGrid needs Python >= 3.11" >&2; exit 1; }
  "$python" -c 'import venv' 2>/dev/null || apt_install python3-venv
  echo "install-remote-execution: installing buildgrid $buildgrid_version with $python" >&2
  rm -rf "$venv.partial"
  "$python" -m venv "$venv.partial"
  "$venv.partial/bin/pip" install -q "buildgrid[database]==$buildgrid_version"
  # A virtualenv records its own path in its scripts, so it is built where it will live.
  mv "$venv.partial" "$venv"
  find "$venv/bin" -maxdepth 1 -type f -exec sed -i "s#$venv.partial#$venv#g" {} +
fi

# The workers' root file system.
root="$cache/worker-root-$worker_recipe"
if [ ! -f "$root/.pyoci-worker-root" ]; then
  echo "install-remote-execution: building a Debian sid root with buildbox at $root" >&2
  rm -rf "$root.partial"
  debootstrap --variant=minbase sid "$root.partial" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  # The archive's Release files can be past their Valid-Until date on machines with old mirrors.
  echo 'Acquire::Check-Valid-Until "false";' >"$root.partial/etc/apt/apt.conf.d/99no-valid-until"
  cp /etc/resolv.conf "$root.partial/etc/resolv.conf"
  chroot "$root.partial" apt-get update -q >/dev/null
  # python3-minimal runs tests/support/remote/output-paths-runner.py (a client-compatibility
  # shim, see there); the actions themselves need nothing from the image but the pyoci input.
  DEBIAN_FRONTEND=noninteractive chroot "$root.partial" apt-get install -y -q --no-install-recommends \
    buildbox bubblewrap python3-minimal >/dev/null
  # Without buildbox-fuse, casd stages inputs by hard links: containers have no /dev/fuse.
  chroot "$root.partial" dpkg-divert --local --rename --divert /usr/bin/buildbox-fuse.disabled /usr/bin/buildbox-fuse >/dev/null
  chroot "$root.partial" apt-get clean
  rm -rf "$root.partial"/var/lib/apt/lists/*
  chroot "$root.partial" dpkg-query -W buildbox >"$root.partial/.pyoci-worker-root"
  rm -rf "$root"
  mv "$root.partial" "$root"
fi
echo "install-remote-execution: BuildGrid in $venv, worker root in $root ($(cat "$root/.pyoci-worker-root"))" >&2
