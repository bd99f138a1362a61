#!/usr/bin/env bash
# Benchmark of `pyoci lint`: generates a workspace of N packages (default 2000), each with a
# BUILD file written the way the seed document writes them (py_binary, py_library, py_image
# loaded from rules_pyoci, oci_push) whose library also depends on the next package's, so every
# file has a label into another package to check; lints it on one core and prints files per
# second.
#
# Usage: bench/lint_bench.sh [PACKAGES]   (target: at least 1000 files/s)
set -euo pipefail

packages="${1:-2000}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
pyoci="$(realpath -m "${PYOCI:-$repo/target/release/pyoci}")"
if [[ ! -x "$pyoci" ]]; then
  (cd "$repo" && cargo build --release -p pyoci)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat > "$work/WORKSPACE" <<WORKSPACE
workspace(name = "bench")

local_repository(
    name = "rules_pyoci",
    path = "$repo",
)

load("@rules_pyoci//rules:repositories.bzl", "distroless_python_bases", "rules_pyoci_dependencies")

rules_pyoci_dependencies()

distroless_python_bases()

local_repository(
    name = "pip",
    path = "third_party/pip",
)
WORKSPACE
for ((i = 0; i < packages; i++)); do
  dir="$work/services/svc$i"
  next=$(((i + 1) % packages))
  mkdir -p "$dir"
  : > "$dir/main.py"
  : > "$dir/service.py"
  : > "$dir/config.yaml"
  cat > "$dir/BUILD.bazel" <<BUILD
load("@rules_pyoci//rules:oci_python.bzl", "py_image")
load("@rules_pyoci//rules:defs.bzl", "oci_push")

py_library(
    name = "svc${i}_lib",
    srcs = ["service.py"],
    deps = [
        "//services/svc${next}:svc${next}_lib",
        "@pip//requests:pkg",
        "@pip//pydantic:pkg",
    ],
)

py_binary(
    name = "svc${i}",
    srcs = ["main.py"],
    main = "main.py",
    data = ["config.yaml"],
    deps = [":svc${i}_lib"],
)

py_image(
    name = "svc${i}_image",
    base = "@distroless_python_nonroot",
    binary = ":svc${i}",
    env = {"LOG_LEVEL": "INFO", "SERVICE_INDEX": "${i}"},
    labels = {
        "org.opencontainers.image.description": "Service ${i}",
        "org.opencontainers.image.version": "1.0.${i}",
    },
)

oci_push(
    name = "svc${i}_push",
    image = ":svc${i}_image",
    repository = "registry.example.com/team/svc${i}",
    remote_tags = ["latest"],
)
BUILD
done

files=$(find "$work" -name BUILD.bazel -o -name WORKSPACE | wc -l)
cd "$work"
# Wall time counts whatever else runs on the machine; CPU time (user + system of pyoci and its
# worker) is what one core spends, so it is printed too and compared against the target.
exec python3 - "$files" "$pyoci" "$work" <<'PY'
import resource, subprocess, sys, time
files, pyoci, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
run = subprocess.run(["taskset", "-c", "0", pyoci, "lint", "."], cwd=work, capture_output=True, text=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
if run.returncode != 0:
    sys.exit(f"pyoci lint reported findings on the generated workspace (exit {run.returncode}):\n{run.stdout[:2000]}")
rate = files / cpu
print(f"pyoci lint: {files} files in {cpu:.3f} CPU s ({wall:.3f} s wall) on one core = {rate:.0f} files per CPU second "
      f"({files / wall:.0f} files/s wall; target 1000: {rate / 1000:.2f}x)")
PY
