#!/usr/bin/env bash
# Fuzzes the input formats pyoci reads (the .deb reader, the layer spec parser, the JSON of a base
# image layout, foreign layer tarballs given to `pyoci image --layer`, and the layers of a layout as
# check/sbom/test read them) for a bounded time each (default 60 s), from seeds built here: the smallest
# pinned .debs (as shipped and with uncompressed members), spec files like the ones Bazel writes,
# and a small layout. Not part of CI. Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). A crash leaves its input under fuzz/artifacts/<target>/; turn it
# into a regression test in the owning crate's tests/fuzz_regressions.rs.
# Usage: fuzz/run_formats.sh [SECONDS_PER_TARGET [TARGET...]]
# Env:   PYOCI_FUZZ_SANITIZER=none  build without AddressSanitizer (coverage-guided all the same):
#        the ASan build of the fuzz crate (starlark included) takes very long on 2 shared cores.
set -euo pipefail

seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
debs="${PYOCI_DEBS_DIR:-$repo/../shared/debs/bookworm-amd64}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(deb_reader layer_spec oci_layout_json foreign_layer oci_layout_layers)
sanitizer="${PYOCI_FUZZ_SANITIZER:-address}"
cd "$here"

command -v cargo-fuzz >/dev/null || { echo "fuzz/run_formats.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2; exit 1; }
command -v ar >/dev/null || { echo "fuzz/run_formats.sh: ar (binutils) is needed to build .deb seeds" >&2; exit 1; }
[ -d "$debs" ] || { echo "fuzz/run_formats.sh: no .deb directory at $debs (set PYOCI_DEBS_DIR)" >&2; exit 1; }

seed_debs() {
  local out="corpus/deb_reader" work
  mkdir -p "$out"
  work="$(mktemp -d)"
  # The four smallest packages, as shipped (xz/zstd members) and rebuilt with plain tar members,
  # which mutations reach far more easily than compressed ones.
  while IFS= read -r deb; do
    local name
    name="$(basename "$deb" .deb)"
    cp "$deb" "$out/$name.deb"
    rm -rf "${work:?}"/*
    (cd "$work" && ar x "$deb")
    for member in "$work"/control.tar.* "$work"/data.tar.*; do
      case "$member" in
        *.xz) xz -dc "$member" > "${member%.xz}" ;;
        *.zst) zstd -qdc "$member" > "${member%.zst}" ;;
        *.gz) gzip -dc "$member" > "${member%.gz}" ;;
      esac
    done
    (cd "$work" && ar rc "$here/$out/$name.plain.deb" debian-binary control.tar data.tar)
  done < <(find "$debs" -name '*.deb' -printf '%s %p\n' | sort -n | head -4 | cut -d' ' -f2-)
  rm -rf "$work"
}

seed_specs() {
  local out="corpus/layer_spec"
  mkdir -p "$out"
  # Sources are relative to the target's fixture: a.txt, bin/run, dir/{x.py,sub/y,link,sublink,hard}.
  cat > "$out/contract.json" <<'JSON'
{"entries": [
  {"path": "/app/main.py", "source": "dir/x.py"},
  {"path": "/app/run", "source": "bin/run", "mode": "0755"},
  {"path": "/app/site", "source": "dir"},
  {"path": "/app/data", "type": "dir", "mode": "0755", "uid": 65532, "gid": 65532},
  {"path": "/app/link", "type": "symlink", "target": "../x"},
  {"path": "/app/same", "type": "hardlink", "target": "/app/run"},
  {"path": "/etc/motd", "type": "file", "content": "inline text"}
]}
JSON
  cat > "$out/owners.json" <<'JSON'
{"entries": [
  {"path": "app/./x", "content": "1", "mode": 420, "uid": 4294967296, "gid": 2097152, "uname": "a-very-long-user-name-over-32-bytes", "gname": "g"},
  {"path": "/app/x", "content": "1", "mode": "0o644", "uid": 4294967296, "gid": 2097152, "uname": "a-very-long-user-name-over-32-bytes", "gname": "g"},
  {"path": "/app/dir", "type": "dir", "mode": "1777"},
  {"path": "/app/dir/h", "type": "hardlink", "target": "/app/x"},
  {"path": "/app/dir/s", "type": "symlink", "target": "/app/x"}
]}
JSON
  python3 - "$out/long.json" <<'PY'
import json, sys
long_dir = "/" + "/".join(["d" * 120] * 5)
entries = [
    {"path": long_dir + "/f\u00e9.txt", "content": "x" * 600},
    {"path": long_dir + "/l", "type": "symlink", "target": "t" * 300},
    {"path": "/\u65e5\u672c/\u00e9", "source": "a.txt"},
    {"path": "/a", "content": "file"},
    {"path": "/a/b", "content": "under a file"},
]
open(sys.argv[1], "w").write(json.dumps({"entries": entries}))
PY
}

seed_layouts() {
  local out="corpus/oci_layout_json"
  mkdir -p "$out"
  python3 - "$out" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
out = sys.argv[1]
def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
blob, diff_id = layer([("app/main.py", b"print(1)\n"), ("app/.wh.old", b""), ("etc/.wh..wh..opq", b"")])
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "$MD", "size": 999999,
     "annotations": {"org.opencontainers.image.ref.name": "latest"},
     "platform": {"architecture": "amd64", "os": "linux"}}]}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "$CD", "size": 999999},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "$LD", "size": 999999}],
    "annotations": {"org.opencontainers.image.base.digest": "sha256:" + "0" * 64}}
config = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/usr/local/bin:/usr/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
               "User": "65532", "WorkingDir": "/home/nonroot", "Entrypoint": ["/usr/bin/python3"], "Cmd": ["-c", "1"],
               "Labels": {"org.opencontainers.image.version": "1.0.0"}, "ExposedPorts": {"8080/tcp": {}},
               "Volumes": {"/data": {}}, "StopSignal": "SIGTERM",
               "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000}},
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "pyoci base"}]}
changes = {"env": {"A": "1", "PATH": "/app/bin"}, "labels": {"x": "y"}, "annotations": {"k": "v"},
    "entrypoint": ["/usr/bin/python3"], "cmd": ["/app/main.py"], "user": "65532:65532", "workdir": "/app",
    "exposedPorts": ["8080/tcp", "53/udp"], "volumes": ["/data"], "stopSignal": "SIGINT",
    "healthcheck": {"test": ["CMD", "python3", "-c", "1"], "interval": "30s", "timeout": "5s",
                    "startPeriod": "1m30s", "retries": 3}}
def doc(value):
    # Sizes become placeholders, so mutations keep them right.
    text = json.dumps(value, separators=(",", ":"))
    for key, placeholder in (("$MD", "$MS"), ("$CD", "$CS"), ("$LD", "$LS")):
        text = text.replace('"%s","size":999999' % key, '"%s","size":%s' % (key, placeholder))
    return text.encode()
sep = b"\n###\n"
open(f"{out}/image", "wb").write(sep.join([doc(index), doc(manifest), doc(config), blob, doc(changes)]))
nested = {"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "$MD", "size": 999999}]}
inner = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "$CD", "size": 999999,
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]}
open(f"{out}/nested-index", "wb").write(sep.join([doc(nested), doc(inner), doc(manifest), blob]))
zstd_manifest = json.loads(json.dumps(manifest))
zstd_manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
open(f"{out}/zstd-mediatype", "wb").write(sep.join([doc(index), doc(zstd_manifest), doc(config), blob]))
with open(f"{out}.dict", "w") as d:
    for token in ["$MD", "$MS", "$CD", "$CS", "$LD", "$LS", "\\x0a###\\x0a", "mediaType", "digest", "size",
                  "manifests", "layers", "config", "rootfs", "diff_ids", "platform", "annotations",
                  "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip",
                  "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.distribution.manifest.v2+json",
                  "org.opencontainers.image.ref.name", "sha256:", "Env", "Entrypoint", "Cmd", "User", "Healthcheck"]:
        d.write('"%s"\n' % token.replace('"', '\\"'))
PY
}

# Tars written by Python's tarfile: ordinary members, links, whiteouts, devices, setuid files,
# PAX long names and a deep path; the foreign_layer seeds start with the allowances byte.
seed_tars() {
  local out="corpus/$1" flags="$2"
  mkdir -p "$out"
  python3 - "$out" "$flags" <<'PY'
import io, os, sys, tarfile
out, flags = sys.argv[1], sys.argv[2]
def member(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link="", uid=0):
    info = tarfile.TarInfo(name); info.type = kind; info.mode = mode; info.linkname = link; info.uid = uid
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data)
seeds = {
    "ordinary": [member("./", tarfile.DIRTYPE, mode=0o755), member("./app/", tarfile.DIRTYPE, mode=0o755),
                 member("./app/main.py", data=b"print(1)\n"), member("/app/abs.py", data=b"x"),
                 member("app/same", tarfile.LNKTYPE, link="./app/main.py"),
                 member("app/link", tarfile.SYMTYPE, link="/etc/passwd", mode=0o777),
                 member("etc/passwd", data=b"nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n")],
    "hostile": [member("etc", tarfile.SYMTYPE, link="/tmp"), member("etc/passwd", data=b"x"),
                member("../x", data=b"x"), member("app/h", tarfile.LNKTYPE, link="/etc/shadow"),
                member("dev/mem", tarfile.CHRTYPE, mode=0o666), member("usr/bin/su", data=b"x", mode=0o4755),
                member("app/.wh.x"), member("etc/.wh..wh..opq")],
    "secrets": [member("app/settings.json", data=b'{"password":"hunter2hunter2"}\n'),
                member("app/.env", data=b"DB_PASSWORD=Zq9xWv3r8s\n"),
                member("usr/lib/python3/dist-packages/x.dist-info/METADATA", data=b"Name: x\nVersion: 1\n")],
    "deep": [member("d/" * 300 + "f", data=b"deep")],
}
for name, members in seeds.items():
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, data)
    prefix = bytes([int(flags)]) if flags != "-" else b""
    open(os.path.join(out, name), "wb").write(prefix + raw.getvalue())
PY
}

# libFuzzer exits without destructors: remove the scratch directories of targets that ended.
clean_scratch() {
  local dir pid
  for dir in /dev/shm/pyoci-fuzz-* "${TMPDIR:-/tmp}"/pyoci-fuzz-*; do
    [ -e "$dir" ] || continue
    pid="${dir##*-}"
    [ -d "/proc/$pid" ] || rm -rf "$dir"
  done
}

status=0
for target in "${targets[@]}"; do
  case "$target" in
    deb_reader) seed_debs; extra=(-max_len=262144 -len_control=0) ;;
    layer_spec) seed_specs; extra=(-max_len=65536) ;;
    foreign_layer) seed_tars foreign_layer 0; extra=(-max_len=65536) ;;
    oci_layout_layers) seed_tars oci_layout_layers -; extra=(-max_len=65536) ;;
    oci_layout_json) seed_layouts; extra=(-max_len=65536 -len_control=0 -dict="$here/corpus/oci_layout_json.dict") ;;
    *) echo "fuzz/run_formats.sh: unknown target $target" >&2; exit 2 ;;
  esac
  echo "fuzz/run_formats.sh: $target for ${seconds}s"
  # -rss_limit_mb bounds what one input may make pyoci allocate; -timeout what it may take.
  if ! cargo +nightly fuzz run -O -s "$sanitizer" "$target" "$here/corpus/$target" -- \
      -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 "${extra[@]}" -print_final_stats=1; then
    echo "fuzz/run_formats.sh: $target found a crash; the input is under fuzz/artifacts/$target/" >&2
    status=1
  fi
  clean_scratch
done
exit "$status"
