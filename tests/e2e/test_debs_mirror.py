"""The distroless bases built from .debs downloaded from a Debian mirror, verified by sha256.

The mirror is a real HTTP server on 127.0.0.1 serving the pinned .deb files under their pool
paths (as deb.debian.org lays them out), so the download path is exercised offline.
"""

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, BazelError, debs_dir, extension_repository, module_file, workspace_file

LOCK = REPO / "rules" / "private" / "distroless" / "bookworm_amd64.lock.json"
BASE_DIGEST = f"external/{extension_repository('distroless_python_nonroot', 'distroless')}/distroless_python_nonroot.digest"


def local_file(package):
    pool_name = package["filename"].rsplit("/", 1)[1]
    for candidate in [pool_name, f"{package['name']}_{package['version'].replace(':', '%3a')}_{package['architecture']}.deb"]:
        if (debs_dir() / candidate).is_file():
            return debs_dir() / candidate
    pytest.fail(f"{package['name']} {package['version']} is not in {debs_dir()}")


@pytest.fixture(scope="module")
def mirror(e2e_tmp):
    root = e2e_tmp / "mirror"
    for package in json.loads(LOCK.read_text())["packages"]:
        target = root / package["filename"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_file(package), target)
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        # "Serving HTTP on 127.0.0.1 port 43211 (http://127.0.0.1:43211/) ..."
        line = server.stdout.readline()
        port = int(line.split(" port ")[1].split()[0])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield root, url
    finally:
        server.terminate()
        server.wait(timeout=30)


def mirror_workspace(path, url):
    path.mkdir(parents=True)
    (path / "WORKSPACE").write_text(workspace_file("mirror_test", bases_args=f'mirrors = ["{url}"]'))
    (path / "MODULE.bazel").write_text(module_file("mirror_test", mirror=url))
    (path / "BUILD.bazel").write_text("")
    return path


def test_bases_from_a_mirror_match_the_local_debs(e2e_tmp, mirror, make_bazel, repo_env):
    _, url = mirror
    from_mirror = make_bazel(
        mirror_workspace(e2e_tmp / "mirror-ws", url),
        output_user_root=e2e_tmp / "mirror-root",
        repository_cache=e2e_tmp / "mirror-cache",
        extra_repo_env={"PYOCI_DEBS_DIR": ""},
    )
    from_mirror.run("build", "@distroless_python_nonroot//:distroless_python_nonroot")
    mirror_digest = (from_mirror.bin_dir() / BASE_DIGEST).read_text()

    from_local = make_bazel(
        mirror_workspace(e2e_tmp / "local-ws", "http://127.0.0.1:9/unused"),
        output_user_root=e2e_tmp / "local-root",
        repository_cache=e2e_tmp / "local-cache",
    )
    from_local.run("build", "@distroless_python_nonroot//:distroless_python_nonroot")
    assert (from_local.bin_dir() / BASE_DIGEST).read_text() == mirror_digest
    from_mirror.shutdown()
    from_local.shutdown()


def test_a_tampered_deb_is_rejected(e2e_tmp, mirror, make_bazel):
    root, url = mirror
    package = json.loads(LOCK.read_text())["packages"][0]
    served = root / package["filename"]
    original = served.read_bytes()
    served.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        bazel = make_bazel(
            mirror_workspace(e2e_tmp / "tampered-ws", url),
            output_user_root=e2e_tmp / "tampered-root",
            repository_cache=e2e_tmp / "tampered-cache",
            extra_repo_env={"PYOCI_DEBS_DIR": ""},
        )
        with pytest.raises(BazelError) as failure:
            bazel.run("build", "@distroless_python_nonroot//:distroless_python_nonroot")
        message = str(failure.value)
        assert package["sha256"] in message, message
        assert "Checksum" in message or "checksum" in message, message
        bazel.shutdown()
    finally:
        served.write_bytes(original)
