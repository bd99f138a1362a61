"""Bytes a Bazel client receives for build + load of a FastAPI service built on the remote
cluster, with --remote_download_minimal against --remote_download_outputs=all.

    python3 tests/support/remote/measure_downloads.py [WORK_DIR]
    PYOCI_BAZEL=7 python3 tests/support/remote/measure_downloads.py [WORK_DIR]   # Bazel 7.7.1, bzlmod

A measurement for docs/remote-execution.md, not a test. It writes a FastAPI service workspace
(fastapi, uvicorn, pydantic and their dependencies, pinned with the hashes of the wheels pip
downloads now) into a copy of this checkout, starts the cluster, and for each mode builds the
image and its load target with a fresh output base, then runs the load target. Every action
runs on a worker (--spawn_strategy=remote), so each byte under bazel-out that is not a symlink
was downloaded (Bazel's own small files, such as the layer spec JSON, are counted too).
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from cluster import Cluster  # noqa: E402
from conftest import BZLMOD, Bazel, copy_checkout, debs_dir  # noqa: E402

PACKAGES = ["fastapi==0.115.6", "uvicorn==0.34.0", "pydantic==2.10.4"]
BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(
    name = "api",
    srcs = ["main.py"],
    main = "main.py",
    deps = ["@pip//fastapi:pkg", "@pip//uvicorn:pkg", "@pip//pydantic:pkg"],
)

py_image(
    name = "api_image",
    base = "@distroless_python_nonroot",
    binary = ":api",
    repo_tags = ["localhost/pyoci-remote-measure:latest"],
)
"""
MAIN = """\
import fastapi
import pydantic
import uvicorn

app = fastapi.FastAPI()

if __name__ == "__main__":
    print(f"fastapi={fastapi.__version__} pydantic={pydantic.VERSION} uvicorn={uvicorn.__version__}")
"""


def lock(wheels):
    lines = ["# FastAPI service: the wheels pip chose for CPython 3.11 on manylinux2014_x86_64."]
    for wheel in sorted(wheels.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name.replace('_', '-').lower()}=={version} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def workspace(work):
    root = copy_checkout(work / "rules_pyoci")
    example = root / "examples" / "fastapi_measure"
    example.mkdir()
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
         "--python-version", "3.11", "--implementation", "cp", "-d", str(wheels), *PACKAGES],
        check=True,
    )
    workspace_file = (REPO / "examples" / "deps_service" / "WORKSPACE.bazel").read_text()
    (example / "WORKSPACE.bazel").write_text(workspace_file.replace("deps_service_example", "fastapi_measure"))
    module_file = (REPO / "examples" / "deps_service" / "MODULE.bazel").read_text()
    (example / "MODULE.bazel").write_text(module_file.replace("deps_service_example", "fastapi_measure"))
    (example / "requirements_lock.txt").write_text(lock(wheels))
    (example / "BUILD.bazel").write_text(BUILD)
    (example / "main.py").write_text(MAIN)
    return example


def downloaded_bytes(output_base):
    total = files = 0
    for bazel_out in Path(output_base).glob("execroot/*/bazel-out"):
        for directory, _, names in os.walk(bazel_out):
            for name in names:
                path = Path(directory) / name
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
                    files += 1
    return total, files


def main():
    work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="pyoci-remote-measure-"))
    example = workspace(work)
    pyoci = REPO / "target" / "release" / "pyoci"
    env = {"PYOCI_DEBS_DIR": str(debs_dir()), "PYOCI_BINARY": str(pyoci)}
    with Cluster(work / "cluster", workers=2, prefix="pyoci-remote-measure") as cluster:
        common = [f"--remote_executor={cluster.executor}", "--spawn_strategy=remote",
                  "--remote_local_fallback=false", "--incompatible_strict_action_env", "--jobs=8"]
        for mode, flags in [("all", ["--remote_download_outputs=all"]), ("minimal", ["--remote_download_minimal"])]:
            bazel = Bazel(example, work / f"root-{mode}", work / "repository-cache", env, [*common, *flags],
                          binds=[REPO, work, debs_dir(), pyoci.parent])
            try:
                started = time.monotonic()
                bazel.run("build", "//:api_image", "//:api_image_load")
                built = downloaded_bytes(bazel.info("output_base"))
                # Bazel 4.2's run fetches no runfiles under minimal: the documented toplevel for run
                # (Bazel 7 fetches the runfiles of the target it runs by itself; the flag is kept
                # so both Bazels measure the same thing).
                run_flags = ["--remote_download_toplevel"] if mode == "minimal" else []
                bazel.run("run", *run_flags, "//:api_image_load", env={"PYOCI_LOADER": ""})
                loaded = downloaded_bytes(bazel.info("output_base"))
                print(f"Bazel {'7.7.1 bzlmod' if BZLMOD else '4.2.3'} {mode:8} build: {built[0]:>12,} bytes in {built[1]} files; "
                      f"build+load: {loaded[0]:>12,} bytes in {loaded[1]} files; {time.monotonic() - started:.0f} s",
                      flush=True)
            finally:
                bazel.shutdown()
    subprocess.run(["docker", "rmi", "-f", "localhost/pyoci-remote-measure:latest"], capture_output=True)
    if len(sys.argv) <= 1:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
