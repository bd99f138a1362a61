#!/usr/bin/env bash
# Inner-loop benchmark (not a test): what a developer waits for between an edit and a running
# container, measured in one run against the peers on the same machine.
#
# Part 1, bases (issues: verify a base once; gates per layer): the per-edit actions (`pyoci
# layer` of the app, `pyoci image`, the gates: `pyoci check-layer` of the app layer plus
# `pyoci check` combining the per-layer records, and `pyoci load` into Docker) on the 24 MB
# distroless base and on generated 1 GB and 5 GB bases, with the base's verification record and
# gate findings recorded once (what Bazel passes) and without them (every base blob hashed and
# every layer re-scanned, as before). Targets: per-edit time and gate time on the 5 GB base
# within 1.2x of the 24 MB base.
#
# Part 2, the loop (issue: the inner loop): a FastAPI service on ~300 MB of real dependencies
# (numpy, pandas, scipy, fastapi, uvicorn; pip at bench time) built with Bazel and loaded with
# `bazel run :api_image_load`, against `docker build` (legacy builder) of a well-ordered
# Dockerfile FROM the same base, and against sending the full tarball on every load
# (rules_oci's approach, `-- --full`). Rows: cold build+load; one-line edit to the new
# container's first output line; bytes sent to the engine; a dependency version bump.
# Targets: edit-to-output >= 1.5x faster than docker build and within 1.5 s; bytes sent on an
# edit <= the changed layers + 64 KB.
# The edit is what a developer types: `bazel run :api_image_load` (it builds what changed),
# then `docker run`. The service prints its first line as it starts, then imports its
# dependencies and prints "ready": the first line is when the tool's work is done and the
# container runs; the ready line adds the app's own import time, the same whichever tool built
# the image (given bytecode for the stdlib and the dependencies, which both images carry).
# Times are taken when a line arrives, not when the container has exited and been removed.
#
# Usage: bench/inner_loop.sh [REPS]         (default 3; each figure is the median)
# Env:   PYOCI=/path/to/pyoci               use this binary instead of building one
#        PYOCI_BENCH_BASE_SIZES="1 5"       generated base sizes in GB (part 1)
#        PYOCI_BENCH_PARTS="bases loop"     which parts to run
#        PYOCI_DEBS_DIR=DIR                 the distroless .debs (default ../shared/debs/bookworm-amd64)
#        PYOCI_BENCH_CACHE=DIR              wheel cache (default ~/.cache/pyoci-bench)
# Needs a running Docker Engine (images and containers it creates are named pyoci-bench-il*
# and removed afterwards), Bazel with this machine's offline flags (see ENVIRONMENT.md), pip.
# The machine may be shared: the load average is printed before and after.
set -euo pipefail

reps="${1:-3}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
debs="${PYOCI_DEBS_DIR:-$(cd "$repo/.." && pwd)/shared/debs/bookworm-amd64}"
[[ -d "$debs" ]] || debs=/work/shared/debs/bookworm-amd64
sizes="${PYOCI_BENCH_BASE_SIZES:-1 5}"
parts="${PYOCI_BENCH_PARTS:-bases loop}"
cache="${PYOCI_BENCH_CACHE:-$HOME/.cache/pyoci-bench}"
prefix="localhost/pyoci-bench-il"

for tool in docker python3 tar awk; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the Docker Engine does not answer docker info" >&2; exit 1; }

if [[ -z "${PYOCI:-}" ]]; then
  (cd "$repo" && cargo build --release -p pyoci >&2)
  PYOCI="$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/pyoci"
fi

# Bazel's repository rules resolve $PYOCI_BINARY from their own directory, not from here.
PYOCI="$(realpath "$PYOCI")"

work="$(mktemp -d "${TMPDIR:-/tmp}/pyoci-inner-loop.XXXXXX")"
loaded_ids="$work/loaded-ids"
cleanup() {
  # Images superseded under a tag stay behind untagged: remove every one this run loaded.
  [[ -f "$loaded_ids" ]] && sort -u "$loaded_ids" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker ps -aq --filter "name=pyoci-bench-il" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker images --format '{{.Repository}}:{{.Tag}}' | grep "^$prefix" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  if [[ -n "${bazel_root:-}" && -d "${bazel_root:-}" ]]; then
    (cd "$work/ws" && bazel --output_user_root="$bazel_root" shutdown >/dev/null 2>&1) || true
    chmod -R u+w "$bazel_root" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
# Every load goes through here, so that cleanup finds what it loaded.
remember() { echo "$1" | json_field imageId >> "$loaded_ids"; echo "$1"; }
nonce="$$-$RANDOM"  # edits differ from any earlier run's, so no image is already in the engine
human() { awk -v b="$1" 'BEGIN { split("B KB MB GB", u); i = 1; while (b >= 1000 && i < 4) { b /= 1000; i++ } printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# ---------------------------------------------------------------------------------------------
# Part 1: per-edit actions against the base's size.
# ---------------------------------------------------------------------------------------------
bases_part() {
  local dir="$work/bases"
  mkdir -p "$dir/app"
  "$PYOCI" base --debs "$debs" --variant nonroot -o "$dir/base-24mb" --verified-out "$dir/base-24mb.verified.json" >/dev/null
  local names=(24mb)
  for gb in $sizes; do
    # A generated base: the distroless layers plus 512 MB filler layers (plain tar, each
    # distinct), assembled and hashed once, as the base's own action would.
    local fillers=()
    for ((i = 0; i < gb * 2; i++)); do
      mkdir -p "$dir/filler-$gb-$i"
      truncate -s 512M "$dir/filler-$gb-$i/filler-$gb-$i.bin"
      tar -C "$dir/filler-$gb-$i" -cf "$dir/filler-$gb-$i.tar" . && rm -rf "$dir/filler-$gb-$i"
      fillers+=(--layer "$dir/filler-$gb-$i.tar")
    done
    local t0; t0=$(now)
    "$PYOCI" image --base "$dir/base-24mb" --base-verified "$dir/base-24mb.verified.json" "${fillers[@]}" \
      -o "$dir/base-${gb}gb" --verified-out "$dir/base-${gb}gb.verified.json" >/dev/null
    echo "generated the ${gb} GB base and hashed it once in $(calc "$(now) - $t0") s" >&2
    rm -f "$dir"/filler-"$gb"-*.tar
    names+=("${gb}gb")
  done
  for name in "${names[@]}"; do
    # The base's gate findings, recorded once (Bazel: the base's own PyociCheckLayer action).
    local t0; t0=$(now)
    "$PYOCI" check-layer "$dir/base-$name" -o "$dir/base-$name.findings.json" --quiet
    echo "recorded the gate findings of the $name base once in $(calc "$(now) - $t0") s" >&2
  done

  echo '{"entries":[{"path":"/app/main.py","source":"'"$dir"'/app/main.py"}]}' > "$dir/app.spec.json"
  declare -gA t_layer t_image t_image_hashed t_check t_gates t_load t_total bytes_edit
  for name in "${names[@]}"; do
    local base="$dir/base-$name" tag="$prefix/base-$name:latest"
    # The first load of this base is the cold one; edits follow.
    echo "print(\"edit 0 $nonce\")" > "$dir/app/main.py"
    "$PYOCI" layer --spec "$dir/app.spec.json" -o "$dir/app.tar.gz" --descriptor-out "$dir/app.json" >/dev/null
    "$PYOCI" image --base "$base" --base-verified "$base.verified.json" --trust-layer-descriptors --layer "$dir/app.tar.gz=$dir/app.json" -o "$dir/img-$name" >/dev/null
    remember "$("$PYOCI" load --image "$dir/img-$name" --tag "$tag" --loader docker --json 2>/dev/null)" >/dev/null
    local layer=() image=() hashed=() check=() gates=() load=() total=() sent=()
    for ((r = 1; r <= reps; r++)); do
      echo "print(\"edit $r $nonce\")" > "$dir/app/main.py"
      local a b c d e f
      a=$(now)
      "$PYOCI" layer --spec "$dir/app.spec.json" -o "$dir/app.tar.gz" --descriptor-out "$dir/app.json" >/dev/null
      b=$(now)
      "$PYOCI" image --base "$base" --base-verified "$base.verified.json" --trust-layer-descriptors --layer "$dir/app.tar.gz=$dir/app.json" -o "$dir/img-$name" >/dev/null
      c=$(now)
      # The gates as Bazel runs them on an edit: the app layer's findings, then the combine.
      "$PYOCI" check-layer --blob "$dir/app.tar.gz" -o "$dir/app.findings.json" --quiet
      "$PYOCI" check "$dir/img-$name" --base "$base" --layer-findings "$base.findings.json" \
        --layer-findings "$dir/app.findings.json" -o "$dir/check.json" >/dev/null
      d=$(now)
      local report; report=$(remember "$("$PYOCI" load --image "$dir/img-$name" --tag "$tag" --loader docker --json 2>/dev/null)")
      e=$(now)
      # The whole-image check (no records: every layer read), as before.
      "$PYOCI" check "$dir/img-$name" --base "$base" -o "$dir/check-whole.json" >/dev/null
      f=$(now)
      cmp -s "$dir/check.json" "$dir/check-whole.json" || { echo "combined and whole-image stamps differ" >&2; exit 1; }
      layer+=("$(calc "$b - $a")"); image+=("$(calc "$c - $b")"); gates+=("$(calc "$d - $c")"); load+=("$(calc "$e - $d")")
      check+=("$(calc "$f - $e")"); total+=("$(calc "$e - $a")")
      sent+=("$(echo "$report" | json_field bytesSent)")
      local h0; h0=$(now)
      "$PYOCI" image --base "$base" --layer "$dir/app.tar.gz=$dir/app.json" -o "$dir/img-hashed-$name" >/dev/null
      hashed+=("$(calc "$(now) - $h0")")
      rm -rf "$dir/img-hashed-$name"
    done
    t_layer[$name]=$(median "${layer[@]}"); t_image[$name]=$(median "${image[@]}")
    t_image_hashed[$name]=$(median "${hashed[@]}"); t_load[$name]=$(median "${load[@]}")
    t_check[$name]=$(median "${check[@]}"); t_total[$name]=$(median "${total[@]}"); t_gates[$name]=$(median "${gates[@]}")
    bytes_edit[$name]=$(median "${sent[@]}")
    docker rmi -f "$tag" >/dev/null 2>&1 || true
  done

  echo
  echo "## Per-edit actions against base size (median of $reps, seconds)"
  printf '%-8s %10s %12s %22s %12s %12s %14s %22s %22s\n' base "app layer" "pyoci image" "pyoci image (no record)" "gates" "pyoci load" "bytes sent" "layer+image+gates+load" "pyoci check (no records)"
  for name in "${names[@]}"; do
    printf '%-8s %10.3f %12.3f %22.3f %12.3f %12.3f %14s %22.3f %22.3f\n' "$name" "${t_layer[$name]}" "${t_image[$name]}" \
      "${t_image_hashed[$name]}" "${t_gates[$name]}" "${t_load[$name]}" "$(human "${bytes_edit[$name]}")" "${t_total[$name]}" "${t_check[$name]}"
  done
  # The gates alone take tens of milliseconds, where a shared machine's noise is of the same
  # order: measure them again in interleaved rounds (every base once per round), median.
  local rounds="${PYOCI_BENCH_GATES_ROUNDS:-15}"
  declare -A gate_runs
  for ((r = 1; r <= rounds; r++)); do
    for name in "${names[@]}"; do
      local base="$dir/base-$name" g0
      g0=$(now)
      "$PYOCI" check-layer --blob "$dir/app.tar.gz" -o "$dir/app.findings.json" --quiet
      "$PYOCI" check "$dir/img-$name" --base "$base" --layer-findings "$base.findings.json" \
        --layer-findings "$dir/app.findings.json" -o "$dir/check.json" >/dev/null
      gate_runs[$name]+=" $(calc "$(now) - $g0")"
    done
  done
  echo
  echo "## Gates on an edit, $rounds interleaved rounds (median, seconds): check-layer of the app layer + check combining records"
  for name in "${names[@]}"; do
    # shellcheck disable=SC2086
    t_gates[$name]=$(median ${gate_runs[$name]})
    printf '%-8s %8.3f   (base record: %s)\n' "$name" "${t_gates[$name]}" "$(human "$(stat -c %s "$dir/base-$name.findings.json")")"
  done

  local largest="${names[-1]}"
  echo "ratio pyoci image, $largest / 24mb: $(calc "${t_image[$largest]} / ${t_image[24mb]}")x (without the record: $(calc "${t_image_hashed[$largest]} / ${t_image_hashed[24mb]}")x)"
  echo "ratio gates (check-layer of the app + check combining records), $largest / 24mb: $(calc "${t_gates[$largest]} / ${t_gates[24mb]}")x (target <= 1.2x; whole-image check: $(calc "${t_check[$largest]} / ${t_check[24mb]}")x)"
  echo "ratio per-edit layer+image+gates+load, $largest / 24mb: $(calc "${t_total[$largest]} / ${t_total[24mb]}")x (target <= 1.2x)"
  rm -rf "$dir"
}

# ---------------------------------------------------------------------------------------------
# Part 2: the loop, Bazel against docker build.
# ---------------------------------------------------------------------------------------------
# The dependency set and the bump (a small package's version, as a routine bump would be).
pins=(numpy==1.26.4 pandas==2.2.3 scipy==1.13.1 fastapi==0.115.5 uvicorn==0.32.0)
bump_from="uvicorn==0.32.0"
bump_to="uvicorn==0.32.1"

write_lock() { # write_lock OUT PIN... : a hashed lock of PINs and their dependencies, from the wheel cache
  local out="$1"; shift
  python3 - "$cache/wheels" "$out" "$@" <<'EOF'
import hashlib, pathlib, shutil, subprocess, sys, tempfile
wheels, out, pins = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3:]
lines = ["# generated by bench/inner_loop.sh"]
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                    "--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                    "--implementation", "cp", "--find-links", str(wheels), "-d", tmp, *pins], check=True)
    for wheel in sorted(pathlib.Path(tmp).glob("*.whl"), key=lambda p: p.name.lower()):
        name, version = wheel.name.split("-")[:2]
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{sha}")
        if not (wheels / wheel.name).exists():
            shutil.copy(wheel, wheels / wheel.name)
out.write_text("\n".join(lines) + "\n")
EOF
}

loop_part() {
  mkdir -p "$cache/wheels" "$work/ws" "$work/docker"
  local ws="$work/ws"
  write_lock "$work/lock-1.txt" "${pins[@]}"
  local bumped=("${pins[@]/$bump_from/$bump_to}")
  write_lock "$work/lock-2.txt" "${bumped[@]}"
  cp "$work/lock-1.txt" "$ws/requirements_lock.txt"

  cat > "$ws/WORKSPACE.bazel" <<EOF
workspace(name = "inner_loop")
local_repository(name = "rules_pyoci", path = "$repo")
load("@rules_pyoci//rules:repositories.bzl", "distroless_python_bases", "pip_lock_repository", "pyoci_register_toolchains", "rules_pyoci_dependencies")
rules_pyoci_dependencies()
pyoci_register_toolchains()
distroless_python_bases()
pip_lock_repository(name = "pip", requirements_lock = "//:requirements_lock.txt")
EOF
  cat > "$ws/BUILD.bazel" <<EOF
load("@rules_pyoci//rules:oci_python.bzl", "py_image")
py_binary(
    name = "api",
    srcs = ["main.py"],
    main = "main.py",
    deps = ["@pip//numpy:pkg", "@pip//pandas:pkg", "@pip//scipy:pkg", "@pip//fastapi:pkg", "@pip//uvicorn:pkg"],
)
py_image(
    name = "api_image",
    base = "@distroless_python_nonroot",
    binary = ":api",
    repo_tags = ["$prefix/api:latest"],
)
EOF
  write_main() {
    cat > "$1" <<EOF
print("started $2", flush=True)  # $nonce
import fastapi, numpy, pandas, scipy, uvicorn
print("ready $2", flush=True)
EOF
  }
  write_main "$ws/main.py" 0

  bazel_root="$work/bazel-root"
  local stand_ins="$repo/tests/bazel"
  local flags=(--override_repository=rules_cc="$stand_ins/rules_cc" --override_repository=rules_java="$stand_ins/rules_java"
    --repo_env=PYOCI_DEBS_DIR="$debs" --repo_env=PYOCI_BINARY="$PYOCI")
  [[ -d /usr/share/bazel/tools/platforms ]] && flags+=(--override_repository=platforms=/usr/share/bazel/tools/platforms)
  bz() { (cd "$ws" && bazel --output_user_root="$bazel_root" --noworkspace_rc --nohome_rc "$1" "${flags[@]}" "${@:2}"); }
  # run_timed IMAGE: "<when the first line arrived> <when the last did> <the first line>"
  run_timed() {
    docker run --rm --name "pyoci-bench-il-$RANDOM" "$1" | {
      local line first="" t_first="" t_last=""
      while IFS= read -r line; do
        t_last=$(now)
        [[ -n "$t_first" ]] || { t_first=$t_last; first=$line; }
      done
      echo "$t_first $t_last $first"
    }
  }
  local tag="$prefix/api:latest"

  # Cold: fetch (pip), build, load everything.
  local t0; t0=$(now)
  bz build //:api_image >/dev/null 2>&1 || { bz build //:api_image; exit 1; }
  local cold_report; cold_report=$(remember "$(bz run //:api_image_load -- --loader docker --json 2>/dev/null)")
  local bazel_cold; bazel_cold=$(calc "$(now) - $t0")
  local image_mb; image_mb=$(calc "$(docker image inspect --format '{{.Size}}' "$tag") / 1000000")
  local layers; layers=$(echo "$cold_report" | json_field layersTotal)

  local edit=() edit_ready=() edit_bytes=() edit_bazel=() edit_pyoci_load=() edit_run=() full=() full_bytes=() r
  local t_first t_ready line
  for ((r = 1; r <= reps; r++)); do
    write_main "$ws/main.py" "edit-$r"
    t0=$(now)
    local report; report=$(remember "$(bz run //:api_image_load -- --loader docker --json 2>/dev/null)")
    local t1; t1=$(now)
    read -r t_first t_ready line < <(run_timed "$tag")
    [[ "$line" == "started edit-$r" ]] || { echo "unexpected first line: $line" >&2; exit 1; }
    edit+=("$(calc "$t_first - $t0")"); edit_ready+=("$(calc "$t_ready - $t0")")
    edit_bytes+=("$(echo "$report" | json_field bytesSent)")
    edit_bazel+=("$(calc "$t1 - $t0")"); edit_pyoci_load+=("$(echo "$report" | json_field seconds)")
    edit_run+=("$(calc "$t_first - $t1")")

    write_main "$ws/main.py" "full-$r"
    t0=$(now)
    report=$(remember "$(bz run //:api_image_load -- --loader docker --full --json 2>/dev/null)")
    read -r t_first t_ready line < <(run_timed "$tag")
    full+=("$(calc "$t_first - $t0")"); full_bytes+=("$(echo "$report" | json_field bytesSent)")
  done
  local app_layer; app_layer=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["size"])' \
    "$(cd "$ws" && bazel --output_user_root="$bazel_root" info "${flags[@]}" bazel-bin 2>/dev/null)/api_image.layers/app.descriptor.json")

  cp "$work/lock-2.txt" "$ws/requirements_lock.txt"
  write_main "$ws/main.py" bump
  t0=$(now)
  local bump_report; bump_report=$(remember "$(bz run //:api_image_load -- --loader docker --json 2>/dev/null)")
  read -r t_first t_ready line < <(run_timed "$tag")
  local bazel_bump; bazel_bump=$(calc "$t_first - $t0")
  local bazel_bump_bytes; bazel_bump_bytes=$(echo "$bump_report" | json_field bytesSent)

  # docker build: the same base (the layout Bazel built), the same wheels installed with the
  # host's pip (distroless has no pip or shell), dependencies in their own layer below the
  # application's and compiled to bytecode by the image's own Python, as pip in the image would.
  local ctx="$work/docker" base_tag="$prefix/base:latest" base_layout
  bz build @distroless_python_nonroot//:distroless_python_nonroot >/dev/null 2>&1
  base_layout="$(cd "$ws" && bazel --output_user_root="$bazel_root" info "${flags[@]}" bazel-bin 2>/dev/null)/external/distroless_python_nonroot/distroless_python_nonroot"
  remember "$("$PYOCI" load --image "$base_layout" --tag "$base_tag" --loader docker --json 2>/dev/null)" >/dev/null
  cat > "$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY deps/ /app/deps/
USER 0
RUN ["/usr/bin/python3", "-c", "import compileall; compileall.compile_dir('/app/deps', quiet=1, workers=0)"]
USER 65532
ENV PYTHONPATH=/app/deps
COPY main.py /app/main.py
ENTRYPOINT ["/usr/bin/python3", "/app/main.py"]
EOF
  pip_deps() {
    rm -rf "$ctx/deps"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --no-compile --only-binary=:all: \
      --find-links "$cache/wheels" --require-hashes -r "$1" --target "$ctx/deps" 2>&1 | grep -v "^WARNING: Running pip as" >&2 || true
  }
  local dtag="$prefix/api-docker:latest"
  write_main "$ctx/main.py" 0
  t0=$(now)
  pip_deps "$work/lock-1.txt"
  DOCKER_BUILDKIT=0 docker build -q -t "$dtag" "$ctx" >/dev/null 2>&1
  read -r t_first t_ready line < <(run_timed "$dtag")
  local docker_cold; docker_cold=$(calc "$t_first - $t0")
  local dedit=() dedit_ready=() dedit_build=() dedit_run=()
  for ((r = 1; r <= reps; r++)); do
    write_main "$ctx/main.py" "edit-$r"
    t0=$(now)
    DOCKER_BUILDKIT=0 docker build -q -t "$dtag" "$ctx" >/dev/null 2>&1
    local t1; t1=$(now)
    docker image inspect --format '{{.Id}}' "$dtag" >> "$loaded_ids"
    read -r t_first t_ready line < <(run_timed "$dtag")
    [[ "$line" == "started edit-$r" ]] || { echo "unexpected first line: $line" >&2; exit 1; }
    dedit+=("$(calc "$t_first - $t0")"); dedit_ready+=("$(calc "$t_ready - $t0")")
    dedit_build+=("$(calc "$t1 - $t0")"); dedit_run+=("$(calc "$t_first - $t1")")
  done
  t0=$(now)
  pip_deps "$work/lock-2.txt"
  DOCKER_BUILDKIT=0 docker build -q -t "$dtag" "$ctx" >/dev/null 2>&1
  read -r t_first t_ready line < <(run_timed "$dtag")
  local docker_bump; docker_bump=$(calc "$t_first - $t0")

  local e f d
  e=$(median "${edit[@]}"); f=$(median "${full[@]}"); d=$(median "${dedit[@]}")
  echo
  echo "## Inner loop: FastAPI + numpy/pandas/scipy, ${image_mb} MB image, $layers layers (median of $reps edits, seconds)"
  printf '%-48s %10s %14s\n' row seconds "bytes sent"
  printf '%-48s %10.2f %14s\n' "bazel: cold build + load" "$bazel_cold" "$(human "$(echo "$cold_report" | json_field bytesSent)")"
  printf '%-48s %10.2f %14s\n' "bazel: edit -> first output line" "$e" "$(human "$(median "${edit_bytes[@]}")")"
  printf '%-48s %10.2f %14s\n' "  of which bazel run :api_image_load" "$(median "${edit_bazel[@]}")" ""
  printf '%-48s %10.2f %14s\n' "    of which pyoci load (its report)" "$(median "${edit_pyoci_load[@]}")" ""
  printf '%-48s %10.2f %14s\n' "  of which docker run to first line" "$(median "${edit_run[@]}")" ""
  printf '%-48s %10.2f %14s\n' "bazel: edit -> ready (after the app's imports)" "$(median "${edit_ready[@]}")" ""
  printf '%-48s %10.2f %14s\n' "bazel, full tarball each load (rules_oci): edit" "$f" "$(human "$(median "${full_bytes[@]}")")"
  printf '%-48s %10.2f %14s\n' "bazel: dependency bump ($bump_to) -> output" "$bazel_bump" "$(human "$bazel_bump_bytes")"
  printf '%-48s %10.2f %14s\n' "docker build: cold (host pip + build)" "$docker_cold" "-"
  printf '%-48s %10.2f %14s\n' "docker build: edit -> first output line" "$d" "-"
  printf '%-48s %10.2f %14s\n' "  of which docker build" "$(median "${dedit_build[@]}")" ""
  printf '%-48s %10.2f %14s\n' "  of which docker run to first line" "$(median "${dedit_run[@]}")" ""
  printf '%-48s %10.2f %14s\n' "docker build: edit -> ready" "$(median "${dedit_ready[@]}")" ""
  printf '%-48s %10.2f %14s\n' "docker build: dependency bump -> output" "$docker_bump" "-"
  echo "ratio docker build edit / bazel edit: $(calc "$d / $e")x (target >= 1.5x; bazel edit target <= 1.5 s)"
  echo "ratio to ready, docker build / bazel: $(calc "$(median "${dedit_ready[@]}") / $(median "${edit_ready[@]}")")x"
  echo "ratio full-tarball edit / incremental edit: $(calc "$f / $e")x"
  echo "bytes sent on an edit: $(median "${edit_bytes[@]}") for an app layer of $app_layer bytes (target <= layer + 65536)"
  echo "ratio docker bump / bazel bump: $(calc "$docker_bump / $bazel_bump")x"
}

for part in $parts; do
  case "$part" in
    bases) bases_part ;;
    loop) loop_part ;;
    *) echo "unknown part $part (bases, loop)" >&2; exit 2 ;;
  esac
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
