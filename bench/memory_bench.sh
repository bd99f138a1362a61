#!/usr/bin/env bash
# Peak memory benchmark (not a test): pyoci's peak RSS (`/usr/bin/time -v`, "Maximum resident set
# size") while it packs trees whose size must not show in its memory, against the 100 MB target:
#   - 50,000 small files (the metadata of every entry is held until the tar is written);
#   - one 2 GB file of incompressible bytes (streamed in 1 MiB chunks);
#   - a 9 GiB sparse file, gzip (the slow half of the sparse test in
#     crates/cli/tests/hostile_inputs.rs, which uses zstd to stay fast), also listed by bsdtar;
#   - an image and a docker tarball holding the 2 GB layer (blobs are linked or streamed).
# Each case runs with gzip and zstd. Prints one line per case: wall time, peak RSS, the ratio
# to 100 MB, and PASS/OVER.
#
# Usage: bench/memory_bench.sh
# Env:   PYOCI=/path/to/pyoci   use this binary instead of building one
#        PYOCI_BENCH_TMP=DIR    where the trees are made (default $TMPDIR or /tmp; needs ~15 GB
#                               of free space for the 2 GB file, its layers and the tarball)
#        PYOCI_BENCH_SKIP_SPARSE=1   skip the 9 GiB sparse case (about a minute)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_kb=$((100 * 1024))

for tool in /usr/bin/time python3 bsdtar; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool (tools/install-deps.sh)" >&2; exit 1; }
done

if [[ -z "${PYOCI:-}" ]]; then
  (cd "$repo" && cargo build --release -p pyoci >&2)
  PYOCI="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/pyoci"
fi

work="$(mktemp -d "${PYOCI_BENCH_TMP:-${TMPDIR:-/tmp}}/pyoci-memory-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "making the trees in $work" >&2
python3 - "$work" <<'PY'
import os, sys
work = sys.argv[1]
small = os.path.join(work, "small-files")
for package in range(50):
    os.makedirs(os.path.join(small, f"pkg{package:02}"))
for i in range(50_000):
    with open(os.path.join(small, f"pkg{i // 1000:02}", f"module_{i:05}.py"), "w") as f:
        f.write(f"VALUE = {i}\n")
big = os.path.join(work, "big-file")
os.makedirs(big)
# Incompressible, so the compressor does real work on every byte.
with open(os.path.join(big, "data.bin"), "wb") as f:
    for _ in range(2000):
        f.write(os.urandom(1 << 20))
sparse = os.path.join(work, "sparse")
os.makedirs(sparse)
with open(os.path.join(sparse, "hole.bin"), "wb") as f:
    f.truncate(9 << 30)
PY

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %9s %12s %8s  %s\n' "case" "wall s" "peak RSS MB" "/100MB" "verdict"
over=0
measure() {
  local name="$1"
  shift
  local log="$work/time.log"
  if ! /usr/bin/time -v -o "$log" "$@" >/dev/null 2>"$work/stderr.log"; then
    echo "$name failed:" >&2
    cat "$work/stderr.log" >&2
    exit 1
  fi
  local kb wall
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" |
    awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
  local verdict=PASS
  if (( kb > target_kb )); then verdict=OVER; over=1; fi
  awk -v name="$name" -v wall="$wall" -v kb="$kb" -v target="$target_kb" -v verdict="$verdict" \
    'BEGIN { printf "%-44s %9.2f %12.1f %8.2f  %s\n", name, wall, kb / 1024, kb / target, verdict }'
}

for compression in gzip zstd; do
  ext=$([[ $compression == gzip ]] && echo gz || echo zst)
  measure "layer: 50,000 small files ($compression)" \
    "$PYOCI" layer --compression "$compression" --dir "$work/small-files" --prefix /app -o "$work/small.tar.$ext"
  measure "layer: one 2 GB file ($compression)" \
    "$PYOCI" layer --compression "$compression" --dir "$work/big-file" --prefix /data -o "$work/big.tar.$ext" \
    --descriptor-out "$work/big-$compression.json"
  measure "image: the 2 GB layer ($compression)" \
    "$PYOCI" image --layer "$work/big.tar.$ext=$work/big-$compression.json" -o "$work/image-$compression"
  measure "tarball: the 2 GB image ($compression)" \
    "$PYOCI" tarball --image "$work/image-$compression" --tag localhost/bench:latest -o "$work/image-$compression.tar"
  rm -rf "$work/image-$compression" "$work/image-$compression.tar" "$work/big.tar.$ext"
done

if [[ -z "${PYOCI_BENCH_SKIP_SPARSE:-}" ]]; then
  measure "layer: 9 GiB sparse file (gzip)" \
    "$PYOCI" layer --dir "$work/sparse" --prefix /data -o "$work/sparse.tar.gz"
  measure "layer: 9 GiB sparse file (zstd)" \
    "$PYOCI" layer --compression zstd --dir "$work/sparse" --prefix /data -o "$work/sparse.tar.zst"
  start=$(date +%s%N)
  size=$(bsdtar -tvf "$work/sparse.tar.gz" | awk '$9 == "data/hole.bin" {print $5}')
  echo "bsdtar -tvf of the gzip sparse layer: $(( ($(date +%s%N) - start) / 1000000 )) ms, size $size (expected $((9 << 30)))"
  [[ "$size" == "$((9 << 30))" ]] || { echo "bsdtar lists the wrong size" >&2; exit 1; }
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if (( over )); then
  echo "peak RSS over the 100 MB target in at least one case" >&2
  exit 1
fi
