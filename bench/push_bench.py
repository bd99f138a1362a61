#!/usr/bin/env python3
"""Push benchmark (not a test): a ~300 MB image (three 100 MB incompressible layers and a
config, as an OCI layout) pushed to a loopback docker-registry by `pyoci push`, `crane push`
and `skopeo copy`, each to its own fresh registry, first (every blob uploaded) and second
time (every blob already there), in one run. Prints wall times and pyoci's ratio to each peer.

Usage: bench/push_bench.py [--mb 300] [--reps 1]
Env:   PYOCI=/path/to/pyoci   use this binary instead of target/release/pyoci
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "support"))
from layouts import random_layout  # noqa: E402
from registry import Registry  # noqa: E402


def make_layout(path, total_mb):
    random_layout(path, [total_mb // 3 * 1024 * 1024] * 3, ref_name="latest")


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
