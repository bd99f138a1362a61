#!/usr/bin/env bash
# Lints each repository directory given, on one core, and prints one row per repository:
# Starlark files linted, CPU seconds, files per CPU second, the slowest file (CPU seconds) and
# the findings per code, then the totals. CPU time (user + system of the linting processes) is
# what is compared against the targets, so that other load on the machine does not skew it;
# wall-clock seconds are printed too.
#
# For measuring precision and speed on real public code, which is not committed: fetch the
# repositories anywhere outside the checkout and pass their directories.
#
# Usage: bench/lint_corpus.sh DIR...
#   PYOCI=path/to/pyoci           another binary
#   PYOCI_CORPUS_REPORT=DIR       keep each repository's JSON report there, for classifying
# Targets: at least 1000 files per CPU second overall, no file over 1 s.
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

exec python3 - "$pyoci" "${PYOCI_CORPUS_REPORT:-}" "$@" <<'PY'
import collections, json, os, resource, subprocess, sys, time

pyoci, reports, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, totals = [], collections.Counter()
all_files = all_cpu = all_wall = 0.0
slowest = (0.0, "")
for directory in dirs:
    name = os.path.basename(os.path.realpath(directory))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    run = subprocess.run(
        ["taskset", "-c", "0", pyoci, "lint", "--format", "json", "--timings", "."],
        cwd=directory, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Exit status 1 means findings; anything else is a failure of the run itself.
    if run.returncode not in (0, 1):
        sys.exit(f"pyoci lint failed on {directory} (exit {run.returncode}):\n{run.stderr[-2000:]}")
    report = json.loads(run.stdout)
    if reports:
        os.makedirs(reports, exist_ok=True)
        with open(os.path.join(reports, name + ".json"), "w") as out:
            out.write(run.stdout)
    slow = (0.0, "")
    for line in run.stderr.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "timing":
            slow = max(slow, (float(parts[1]), parts[2]))
    slowest = max(slowest, (slow[0], f"{name}/{slow[1]}"))
    files = report["filesLinted"]
    codes = collections.Counter(d["code"] for d in report["diagnostics"])
    totals.update(codes)
    all_files += files
    all_cpu += cpu
    all_wall += wall
    found = " ".join(f"{c}={n}" for c, n in sorted(codes.items())) or "-"
    rows.append((name, files, cpu, wall, slow[0], sum(codes.values()), found))

print(f"{'repository':<26} {'files':>6} {'cpu s':>6} {'wall s':>6} {'files/s':>7} {'slowest':>7} {'findings':>8}  per code")
for name, files, cpu, wall, slow, count, found in rows:
    rate = files / cpu if cpu else 0
    print(f"{name:<26} {files:>6} {cpu:>6.2f} {wall:>6.2f} {rate:>7.0f} {slow:>7.3f} {count:>8}  {found}")
count = sum(totals.values())
found = " ".join(f"{c}={n}" for c, n in sorted(totals.items())) or "-"
rate = all_files / all_cpu if all_cpu else 0
print(f"{'TOTAL':<26} {int(all_files):>6} {all_cpu:>6.2f} {all_wall:>6.2f} {rate:>7.0f} {slowest[0]:>7.3f} {count:>8}  {found}")
print(f"findings per 1,000 files: {1000 * count / max(all_files, 1):.1f}; slowest file: {slowest[1]} "
      f"({slowest[0]:.3f} CPU s); one core: {rate:.0f} files per CPU second (target 1000: {rate / 1000:.2f}x)")
PY
