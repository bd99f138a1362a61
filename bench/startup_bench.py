#!/usr/bin/env python3
"""Startup benchmark (not a test): the FastAPI image's container start to first HTTP answer.

Builds examples/fastapi_service's `api_image` (with bytecode, the default) and
`api_image_source_only` (`bytecode = False`) with Bazel, loads both into the Docker Engine, and
makes a third image, "warm cache": the source-only image after one run as root wrote CPython's
own __pycache__ (timestamp .pyc, what a long-lived host would have). For each it prints the
median wall time from `docker run` to the first HTTP 200 on 127.0.0.1, and the time the
service's `--import-time` reports for importing fastapi + pydantic + uvicorn. Target: with
bytecode, startup within 10% of the warm cache.

Usage: bench/startup_bench.py [REPS]   (default 5)
Env:   PYOCI_DEBS_DIR (default ../shared/debs/bookworm-amd64), PYOCI_BINARY (a prebuilt pyoci),
       PYOCI_BENCH_ROOT (Bazel output root; default ~/.cache/pyoci-bench/startup)
"""

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "fastapi_service"
PREFIX = "localhost/pyoci-bench-startup"


def bazel(*args):
    root = Path(os.environ.get("PYOCI_BENCH_ROOT", Path.home() / ".cache" / "pyoci-bench" / "startup"))
    debs = os.environ.get("PYOCI_DEBS_DIR", str(REPO.parent / "shared" / "debs" / "bookworm-amd64"))
    command, rest = args[0], args[1:]
    if command == "shutdown":
        subprocess.run(["bazel", f"--output_user_root={root}", "--noworkspace_rc", "--nohome_rc", "shutdown"],
                       cwd=EXAMPLE, check=False, capture_output=True)
        return
    flags = [
        f"--override_repository=rules_cc={REPO / 'tests/bazel/rules_cc'}",
        f"--override_repository=rules_java={REPO / 'tests/bazel/rules_java'}",
        "--override_repository=platforms=/usr/share/bazel/tools/platforms",
        f"--repo_env=PYOCI_DEBS_DIR={debs}",
        f"--repo_env=PYOCI_CARGO_TARGET_DIR={REPO / 'target'}",
        "--nosandbox_debug",
    ]
    if os.environ.get("PYOCI_BINARY"):
        flags.append(f"--repo_env=PYOCI_BINARY={os.environ['PYOCI_BINARY']}")
    subprocess.run(
        ["bazel", f"--output_user_root={root}", "--noworkspace_rc", "--nohome_rc", command, *flags, *rest],
        cwd=EXAMPLE, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_to_answer(image):
    port = free_port()
    started = time.perf_counter()
    container = docker("run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000", image).stdout.strip()
    try:
        deadline = started + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"{image} did not answer within 60 s: {docker('logs', container, check=False).stderr}")
                time.sleep(0.005)
    finally:
        docker("rm", "-f", container, check=False)


def import_time(image):
    return float(docker("run", "--rm", image, "--import-time").stdout.strip())


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    images = {"bytecode": f"{PREFIX}-bytecode:latest", "source only": f"{PREFIX}-source:latest"}
    warm = f"{PREFIX}-warm:latest"
    created = []
    try:
        print("building and loading examples/fastapi_service (pip fetch on the first run) ...", file=sys.stderr)
        bazel("build", ":api_image", ":api_image_source_only")
        bazel("run", ":api_image_load")
        bazel("run", ":api_image_source_only_load")
        docker("tag", "localhost/api:latest", images["bytecode"])
        docker("tag", "localhost/api_source_only:latest", images["source only"])
        created += list(images.values()) + ["localhost/api:latest", "localhost/api_source_only:latest"]

        # One run as root lets CPython write its own __pycache__ next to the sources.
        name = f"pyoci-bench-warm-{os.getpid()}"
        docker("run", "--name", name, "--user", "0", images["source only"], "--import-time")
        # (commit would keep that run's arguments as the default command: reset it.)
        docker("commit", "--change", "USER 65532", "--change", "CMD []", name, warm)
        docker("rm", name)
        created.append(warm)
        images["warm cache"] = warm

        print(f"load average: {os.getloadavg()[0]:.2f}; {reps} runs each, medians")
        print(f"{'image':<12} {'start to first HTTP answer':>28} {'import fastapi+pydantic+uvicorn':>33}")
        results = {}
        for label, image in images.items():
            start_to_answer(image)  # the engine's own first-run costs (layer mounts) are not ours
            startup = statistics.median(start_to_answer(image) for _ in range(reps))
            imports = statistics.median(import_time(image) for _ in range(reps))
            results[label] = (startup, imports)
            print(f"{label:<12} {startup * 1000:>25.0f} ms {imports * 1000:>30.0f} ms")
        ratio = results["bytecode"][0] / results["warm cache"][0]
        print(f"bytecode / warm cache startup: {ratio:.2f} (target <= 1.10)")
        print(f"source only / bytecode startup: {results['source only'][0] / results['bytecode'][0]:.2f}")
        print(f"bytecode / warm cache import: {results['bytecode'][1] / results['warm cache'][1]:.2f}")
    finally:
        for image in created:
            docker("rmi", "-f", image, check=False)
        bazel("shutdown")


if __name__ == "__main__":
    main()
