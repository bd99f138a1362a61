#!/usr/bin/env bash
# Lints each repository directory given, on one core, and prints one row per repository:
# Starlark files linted, seconds, files/s, the slowest file and the findings per code, then
# the totals. For measuring precision and speed on real public code, which is not committed:
# fetch the repositories anywhere outside the checkout and pass their directories.
#
# Usage: bench/lint_corpus.sh DIR...   (PYOCI=path/to/pyoci to use another binary;
#        PYOCI_CORPUS_REPORT=DIR keeps each repository's JSON report there for classifying)
# Targets: at least 1000 files/s overall, no file over 1 s, at most 5 false findings per
# 1,000 files.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 DIR..." >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
pyoci="$(realpath -m "${PYOCI:-$repo/target/release/pyoci}")"
if [[ ! -x "$pyoci" ]]; then
  (cd "$repo" && cargo build --release --locked -p pyoci)
fi
reports="${PYOCI_CORPUS_REPORT:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for dir in "$@"; do
  name="$(basename "$(realpath "$dir")")"
  start=$(date +%s.%N)
  # Exit status 1 means findings; anything else is a failure of the run itself.
  status=0
  (cd "$dir" && taskset -c 0 "$pyoci" lint --format json --timings . \
    > "$work/$name.json" 2> "$work/$name.timings") || status=$?
  end=$(date +%s.%N)
  if [[ $status -gt 1 ]]; then
    echo "pyoci lint failed on $dir (exit $status):" >&2
    tail -5 "$work/$name.timings" >&2
    exit 1
  fi
  echo "$name $start $end" >> "$work/runs"
  if [[ -n "$reports" ]]; then
    mkdir -p "$reports"
    cp "$work/$name.json" "$reports/$name.json"
  fi
done

python3 - "$work" <<'PY'
import collections, json, os, sys
work = sys.argv[1]
rows, totals, all_files, all_seconds = [], collections.Counter(), 0, 0.0
slowest_overall = (0.0, "")
for line in open(os.path.join(work, "runs")):
    name, start, end = line.split()
    seconds = float(end) - float(start)
    report = json.load(open(os.path.join(work, name + ".json")))
    files = report["filesLinted"]
    codes = collections.Counter(d["code"] for d in report["diagnostics"])
    slow = (0.0, "")
    for timing in open(os.path.join(work, name + ".timings")):
        parts = timing.split()
        if len(parts) == 3 and parts[0] == "timing":
            slow = max(slow, (float(parts[1]), parts[2]))
    slowest_overall = max(slowest_overall, (slow[0], f"{name}/{slow[1]}"))
    totals.update(codes)
    all_files += files
    all_seconds += seconds
    found = " ".join(f"{c}={n}" for c, n in sorted(codes.items())) or "-"
    rows.append((name, files, seconds, files / seconds if seconds else 0, slow, sum(codes.values()), found))
print(f"{'repository':<28} {'files':>6} {'seconds':>8} {'files/s':>8} {'slowest':>8} {'findings':>8}  per code")
for name, files, seconds, rate, slow, count, found in rows:
    print(f"{name:<28} {files:>6} {seconds:>8.2f} {rate:>8.0f} {slow[0]:>8.3f} {count:>8}  {found}")
count = sum(totals.values())
found = " ".join(f"{c}={n}" for c, n in sorted(totals.items())) or "-"
rate = all_files / all_seconds if all_seconds else 0
print(f"{'TOTAL':<28} {all_files:>6} {all_seconds:>8.2f} {rate:>8.0f} {slowest_overall[0]:>8.3f} {count:>8}  {found}")
print(f"findings per 1,000 files: {1000 * count / max(all_files, 1):.1f}; slowest file: "
      f"{slowest_overall[1]} ({slowest_overall[0]:.3f} s); one core: {rate:.0f} files/s "
      f"(target 1000: {rate / 1000:.2f}x)")
PY
