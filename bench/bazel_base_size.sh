#!/usr/bin/env bash
# Bazel per-edit time against the base's size (not a test; issue: verify a base once).
#
# A workspace with three py_images, identical but for their base: the 24 MB distroless base
# and generated 1 GB and 5 GB bases (the distroless layers plus 512 MB filler layers), each
# pushed to a docker-registry on 127.0.0.1 and brought in with `oci_pull`, as a user brings a
# big base. After a cold build, each round edits one line of each image's main.py and times
# `bazel build` of that image (the default outputs: layout and gate stamp), bases interleaved
# so that the machine's load hits them alike. What grows with the base here is Bazel's own
# work (digesting outputs, staging inputs), not pyoci's: bench/inner_loop.sh part 1 times the
# CLI actions alone. The last round is profiled (`--profile`, `bazel analyze-profile`).
# Target: per-edit time on the 5 GB base within 1.2x of the 24 MB base.
#
# Usage: bench/bazel_base_size.sh [ROUNDS]   (default 5; each figure is the median)
# Env:   PYOCI=/path/to/pyoci                 use this binary instead of building one
#        PYOCI_BENCH_BASE_SIZES="1 5"         generated base sizes in GB
#        PYOCI_BENCH_BAZEL=4|7                Bazel 4.2.3 WORKSPACE (default) or 7.7.1 bzlmod
#        PYOCI_BENCH_LOAD=1                   also time `bazel run :<image>_load` into Docker
#        PYOCI_DEBS_DIR=DIR                   the distroless .debs (default ../shared/debs/bookworm-amd64)
#        TMPDIR                               where the work tree goes (Bazel 7's sid root binds /tmp)
# Needs docker-registry (Debian), Bazel with this machine's offline flags (see ENVIRONMENT.md),
# about 4x the largest base in free disk. The load average is printed before and after.
set -euo pipefail

rounds="${1:-5}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
debs="${PYOCI_DEBS_DIR:-$(cd "$repo/.." && pwd)/shared/debs/bookworm-amd64}"
[[ -d "$debs" ]] || { echo "bazel_base_size.sh: no .deb directory at $debs (set PYOCI_DEBS_DIR)" >&2; exit 1; }
sizes="${PYOCI_BENCH_BASE_SIZES:-1 5}"
bazel_major="${PYOCI_BENCH_BAZEL:-4}"

for tool in docker-registry bazel python3 awk; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
if [[ -z "${PYOCI:-}" ]]; then
  (cd "$repo" && cargo build --release -p pyoci >&2)
  PYOCI="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/pyoci"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pyoci-bazel-base.XXXXXX")"
registry_pid=""
cleanup() {
  [[ -n "$registry_pid" ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  if [[ -d "$work/ws" ]]; then
    (cd "$work/ws" && bz_cmd shutdown >/dev/null 2>&1) || true
  fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# The registry, on a free port of 127.0.0.1.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry/storage
http:
  addr: 127.0.0.1:$port
  secret: pyoci-bench-secret
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/')" 2>/dev/null && break
  sleep 0.1
done

# The bases: generated once, pushed once.
bases="$work/bases"
mkdir -p "$bases"
"$PYOCI" base --debs "$debs" --variant nonroot -o "$bases/base-24mb" --verified-out "$bases/base-24mb.verified.json" >/dev/null
names=(24mb)
for gb in $sizes; do
  fillers=()
  for ((i = 0; i < gb * 2; i++)); do
    mkdir -p "$bases/filler-$gb-$i"
    truncate -s 512M "$bases/filler-$gb-$i/filler-$gb-$i.bin"
    tar -C "$bases/filler-$gb-$i" -cf "$bases/filler-$gb-$i.tar" . && rm -rf "$bases/filler-$gb-$i"
    fillers+=(--layer "$bases/filler-$gb-$i.tar")
  done
  "$PYOCI" image --base "$bases/base-24mb" --base-verified "$bases/base-24mb.verified.json" "${fillers[@]}" \
    -o "$bases/base-${gb}gb" >/dev/null
  rm -f "$bases"/filler-"$gb"-*.tar
  names+=("${gb}gb")
done
declare -A digest
for name in "${names[@]}"; do
  t0=$(now)
  ref=$("$PYOCI" push "$bases/base-$name" "127.0.0.1:$port/bench/base-$name" --tag latest 2>/dev/null | tail -1)
  digest[$name]="${ref##*@}"
  echo "pushed the $name base in $(calc "$(now) - $t0") s: ${digest[$name]}" >&2
  rm -rf "$bases/base-$name"
done

# The workspace: one package per base, each a py_binary and its py_image.
ws="$work/ws"
mkdir -p "$ws"
pulls=""
for name in "${names[@]}"; do
  pulls+="oci_pull(name = \"base_$name\", image = \"127.0.0.1:$port/bench/base-$name\", digest = \"${digest[$name]}\")"$'\n'
  mkdir -p "$ws/img_$name"
  cat > "$ws/img_$name/BUILD.bazel" <<EOF
load("@rules_pyoci//rules:oci_python.bzl", "py_image")
py_binary(name = "app", srcs = ["main.py"], main = "main.py")
py_image(name = "image", base = "@base_$name", binary = ":app", repo_tags = ["localhost/pyoci-bench-bb-$name:latest"])
EOF
  echo 'print("edit 0")' > "$ws/img_$name/main.py"
done
if [[ "$bazel_major" == 7 ]]; then
  cat > "$ws/MODULE.bazel" <<EOF
module(name = "bazel_base_size")
bazel_dep(name = "rules_pyoci")
local_path_override(module_name = "rules_pyoci", path = "$repo")
bazel_dep(name = "rules_python", version = "0.0.0")
pyoci = use_extension("@rules_pyoci//rules:extensions.bzl", "pyoci")
$(for name in "${names[@]}"; do echo "pyoci.pull(name = \"base_$name\", image = \"127.0.0.1:$port/bench/base-$name\", digest = \"${digest[$name]}\")"; done)
use_repo(pyoci, $(for name in "${names[@]}"; do printf '"base_%s", ' "$name"; done))
EOF
  touch "$ws/WORKSPACE.bazel"
else
  cat > "$ws/WORKSPACE.bazel" <<EOF
workspace(name = "bazel_base_size")
local_repository(name = "rules_pyoci", path = "$repo")
load("@rules_pyoci//rules:repositories.bzl", "oci_pull", "pyoci_register_toolchains", "rules_pyoci_dependencies")
rules_pyoci_dependencies()
pyoci_register_toolchains()
$pulls
EOF
fi
touch "$ws/BUILD.bazel"

stand_ins="$repo/tests/bazel"
flags=(--repo_env=PYOCI_DEBS_DIR="$debs" --repo_env=PYOCI_BINARY="$PYOCI")
if [[ "$bazel_major" == 7 ]]; then
  bazel_bin="${PYOCI_BENCH_BAZEL7:-$repo/tools/bazel7}"
  flags+=(--noenable_workspace)
else
  bazel_bin=bazel
  flags+=(--override_repository=rules_cc="$stand_ins/rules_cc" --override_repository=rules_java="$stand_ins/rules_java")
  [[ -d /usr/share/bazel/tools/platforms ]] && flags+=(--override_repository=platforms=/usr/share/bazel/tools/platforms)
fi
bz_cmd() { "$bazel_bin" --output_user_root="$work/bazel-root" --noworkspace_rc --nohome_rc "$@"; }
bz() { (cd "$ws" && bz_cmd "$1" "${flags[@]}" "${@:2}"); }

t0=$(now)
for name in "${names[@]}"; do
  bz build "//img_$name:image" >"$work/cold-$name.log" 2>&1 || { cat "$work/cold-$name.log" >&2; exit 1; }
done
echo "cold build (pull, copy, gates) of all images in $(calc "$(now) - $t0") s" >&2

declare -A runs load_runs
for ((r = 1; r <= rounds; r++)); do
  for name in "${names[@]}"; do
    echo "print(\"edit $r\")" > "$ws/img_$name/main.py"
    profile=()
    ((r == rounds)) && profile=(--profile="$work/profile-$name.gz")
    t0=$(now)
    bz build "${profile[@]}" "//img_$name:image" >"$work/edit.log" 2>&1 || { cat "$work/edit.log" >&2; exit 1; }
    runs[$name]+=" $(calc "$(now) - $t0")"
    if [[ "${PYOCI_BENCH_LOAD:-}" == 1 ]]; then
      t0=$(now)
      bz run "//img_$name:image_load" -- --loader docker >"$work/load.log" 2>&1 || { cat "$work/load.log" >&2; exit 1; }
      ((r > 1)) && load_runs[$name]+=" $(calc "$(now) - $t0")"
    fi
  done
done
[[ "${PYOCI_BENCH_LOAD:-}" == 1 ]] && for name in "${names[@]}"; do docker rmi -f "localhost/pyoci-bench-bb-$name:latest" >/dev/null 2>&1 || true; done

echo
echo "## Bazel $bazel_major: one-line edit of main.py + bazel build of the image, base from oci_pull (median of $rounds, seconds)"
declare -A med
for name in "${names[@]}"; do
  # shellcheck disable=SC2086
  med[$name]=$(median ${runs[$name]})
  line=$(printf '%-6s %8.3f   (runs:%s)' "$name" "${med[$name]}" "${runs[$name]}")
  if [[ "${PYOCI_BENCH_LOAD:-}" == 1 ]]; then
    # shellcheck disable=SC2086
    line+=$(printf '   bazel run :image_load %8.3f' "$(median ${load_runs[$name]})")
  fi
  echo "$line"
done
for name in "${names[@]:1}"; do
  echo "ratio bazel build per edit, $name / 24mb: $(calc "${med[$name]} / ${med[24mb]}")x (target <= 1.2x)"
done
echo
echo "## Where the last edit's time went (bazel analyze-profile, critical path)"
for name in "${names[@]}"; do
  echo "### $name"
  (cd "$ws" && bz_cmd analyze-profile "$work/profile-$name.gz" 2>/dev/null) |
    grep -E "^ *(Total launch|Total init|Total target pattern|Total interleaved|Total preparation|Total execution|Total finish|Total run time|Critical path)|PyociImage|PyociCheck|PyociLayer|action processing|Checking|Assembling" | head -20 || true
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
