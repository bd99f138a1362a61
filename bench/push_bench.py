#!/usr/bin/env python3
"""Push benchmark (not a test): a ~300 MB image (three 100 MB incompressible layers and a
config, as an OCI layout) pushed to a loopback docker-registry by `pyoci push`, `crane push`
and `skopeo copy`, each to its own fresh registry, first (every blob uploaded) and second
time (every blob already there), in one run. Prints wall times and pyoci's ratio to each peer.

Usage: bench/push_bench.py [--mb 300] [--reps 1]
Env:   PYOCI=/path/to/pyoci   use this binary instead of target/release/pyoci
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
from registry import Registry  # noqa: E402


def write_blob(blobs, data):
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def make_layout(path, total_mb):
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers = []
    per_layer = total_mb // 3 * 1024 * 1024
    for _ in range(3):
        digest, size = write_blob(blobs, os.urandom(per_layer))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()
    config_digest, config_size = write_blob(blobs, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": config_size},
                           "layers": layers}).encode()
    digest, size = write_blob(blobs, manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    return digest


def timed(argv):
    started = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{result.stderr}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    pyoci = os.environ.get("PYOCI", str(REPO / "target" / "release" / "pyoci"))
    for tool in (pyoci, "crane", "skopeo", "docker-registry"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            raise SystemExit(f"missing {tool} (tools/install-deps.sh installs crane and skopeo)")
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="pyoci-push-bench-") as tmp:
        tmp = Path(tmp)
        layout = tmp / "layout"
        make_layout(layout, args.mb)
        tools = {
            "pyoci push": lambda host: [pyoci, "push", str(layout), f"{host}/bench:v1"],
            "crane push": lambda host: ["crane", "push", "--insecure", str(layout), f"{host}/bench:v1"],
            "skopeo copy": lambda host: ["skopeo", "copy", "--dest-tls-verify=false",
                                         f"oci:{layout}:latest", f"docker://{host}/bench:v1"],
        }
        results = {name: ([], []) for name in tools}
        for rep in range(args.reps):
            for name, argv in tools.items():
                with Registry(tmp / f"registry-{name.split()[0]}-{rep}") as registry:
                    results[name][0].append(timed(argv(registry.host)))
                    results[name][1].append(timed(argv(registry.host)))
        print(f"push of a {args.mb} MB image (3 layers) to docker-registry on 127.0.0.1, "
              f"median of {args.reps}:")
        print(f"{'tool':<14}{'first (s)':>11}{'second (s)':>12}")
        medians = {name: (statistics.median(a), statistics.median(b)) for name, (a, b) in results.items()}
        for name, (first, second) in medians.items():
            print(f"{name:<14}{first:>11.2f}{second:>12.2f}")
        ours = medians["pyoci push"]
        for name in ("crane push", "skopeo copy"):
            theirs = medians[name]
            print(f"pyoci vs {name}: first {theirs[0] / ours[0]:.2f}x, second {theirs[1] / ours[1]:.2f}x "
                  "(>1 means pyoci is faster)")
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
