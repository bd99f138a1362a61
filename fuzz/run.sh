#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each (default 60 s): the linter's here, starting from
# a corpus of the fixture workspace's BUILD files and rules_pyoci's .bzl files, then the input
# formats' (.deb, layer spec, layout JSON) through run_formats.sh.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: fuzz/run.sh [SECONDS_PER_TARGET]
# Env:   PYOCI_FUZZ_SANITIZER=none  build without AddressSanitizer (see run_formats.sh).
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
sanitizer="${PYOCI_FUZZ_SANITIZER:-address}"
cd "$here"

command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2; exit 1; }

seed() {
  local target="$1" pattern="$2" root="$3"
  mkdir -p "corpus/$target"
  while IFS= read -r -d '' file; do
    cp "$file" "corpus/$target/$(sha256sum "$file" | cut -c1-16)"
  done < <(find "$root" -type f -name "$pattern" -print0)
}
seed lint_build 'BUILD*' "$repo/crates/lint/tests/fixtures"
seed lint_build 'BUILD*' "$repo/examples"
seed lint_bzl '*.bzl' "$repo/rules"
seed lint_bzl '*.bzl' "$repo/crates/lint/tests/fixtures"

status=0
for target in lint_build lint_bzl; do
  echo "fuzz/run.sh: $target for ${seconds}s"
  # -rss_limit_mb bounds what one input may make the linter allocate; -timeout what it may take.
  if ! cargo +nightly fuzz run -s "$sanitizer" "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
      -dict="$here/starlark.dict" -print_final_stats=1; then
    echo "fuzz/run.sh: $target found a crash; the input is under fuzz/artifacts/$target/" >&2
    status=1
  fi
done
bash "$here/run_formats.sh" "$seconds" || status=1
exit "$status"
