"""The `sbom` and `size_report` output groups of the deps_service example, under real Bazel: the SPDX
2.3 document lists every Debian package of the distroless base with the version pinned in the
lock file (python3.11-minimal, libpython3.11-minimal, libc6, ...) and every Python distribution
of the pip lock (requests, pyyaml, ...) with its version, purl and licence; the size report's
layers are the image's own, with the application layers marked."""

import json
import re

import pytest

from conftest import REPO, extension_repository

EXAMPLE = REPO / "examples" / "deps_service"
IMAGE = "deps_service_image"
DEBIAN_LOCK = REPO / "rules" / "private" / "distroless" / "bookworm_amd64.lock.json"
PIP_LOCK = EXAMPLE / "requirements_lock.txt"


@pytest.fixture(scope="module")
def outputs(make_bazel):
    bazel = make_bazel(EXAMPLE)
    bazel.run("build", f"//:{IMAGE}", "--output_groups=sbom,size_report")
    bin_dir = bazel.bin_dir()
    layout = bin_dir / f"{IMAGE}.own"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    yield {
        "sbom": json.loads((bin_dir / f"{IMAGE}.spdx.json").read_text()),
        "size": json.loads((bin_dir / f"{IMAGE}.size.json").read_text()),
        "digest": (bin_dir / f"{IMAGE}.digest").read_text(),
        "manifest": manifest,
    }
    bazel.shutdown()


def packages(sbom, purl_type):
    """{name: package} of the SBOM's packages whose purl is pkg:<purl_type>/..."""
    found = {}
    for package in sbom["packages"]:
        purls = [r["referenceLocator"] for r in package.get("externalRefs", []) if r["referenceType"] == "purl"]
        if purls and purls[0].startswith(f"pkg:{purl_type}/"):
            found[package["name"]] = package
    return found


def purl(package):
    return next(r["referenceLocator"] for r in package["externalRefs"] if r["referenceType"] == "purl")


def test_is_an_spdx_2_3_document_of_the_image(outputs):
    sbom = outputs["sbom"]
    assert sbom["spdxVersion"] == "SPDX-2.3"
    assert sbom["dataLicense"] == "CC0-1.0"
    assert sbom["SPDXID"] == "SPDXRef-DOCUMENT"
    assert sbom["name"] == "localhost/deps_service:latest"
    # Derived from the image digest: a new image gets a new namespace, the same image the same.
    assert sbom["documentNamespace"].endswith(outputs["digest"].split(":")[1]), sbom["documentNamespace"]
    assert sbom["creationInfo"]["created"] == "1970-01-01T00:00:00Z"  # unstamped: reproducible
    ids = {p["SPDXID"] for p in sbom["packages"]}
    relationships = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in sbom["relationships"]}
    described = [r[2] for r in relationships if r[:2] == ("SPDXRef-DOCUMENT", "DESCRIBES")]
    assert len(described) == 1 and described[0] in ids
    contained = {r[2] for r in relationships if r[:2] == (described[0], "CONTAINS")}
    assert contained == ids - {described[0]}


def test_lists_the_debian_packages_with_their_pinned_versions(outputs):
    lock = {p["name"]: p for p in json.loads(DEBIAN_LOCK.read_text())["packages"]}
    debs = packages(outputs["sbom"], "deb")
    # busybox-static goes only into the debug bases.
    assert set(debs) == set(lock) - {"busybox-static"}, sorted(set(debs) ^ (set(lock) - {"busybox-static"}))
    for name in ["python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6"]:
        version, architecture = lock[name]["version"], lock[name]["architecture"]
        assert debs[name]["versionInfo"] == version, debs[name]
        assert purl(debs[name]) == f"pkg:deb/debian/{name}@{version}?arch={architecture}&distro=debian-12"
    assert debs["libc6"]["versionInfo"].startswith("2.36-"), debs["libc6"]
    assert debs["python3.11-minimal"]["versionInfo"].startswith("3.11."), debs["python3.11-minimal"]


def test_lists_the_python_distributions_with_their_locked_versions(outputs):
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", PIP_LOCK.read_text(), re.MULTILINE))
    pypi = {name.lower(): package for name, package in packages(outputs["sbom"], "pypi").items()}
    assert set(pypi) == set(pins), sorted(set(pypi) ^ set(pins))
    for name, version in pins.items():
        assert pypi[name]["versionInfo"] == version, pypi[name]
        assert purl(pypi[name]) == f"pkg:pypi/{name}@{version}"
    assert pypi["requests"]["versionInfo"] == "2.32.3" and pypi["pyyaml"]["versionInfo"] == "6.0.2"
    assert pypi["requests"]["licenseDeclared"] == "Apache-2.0"
    assert pypi["pyyaml"]["licenseDeclared"] == "MIT"


def test_size_report_matches_the_image(outputs):
    size, manifest = outputs["size"], outputs["manifest"]
    assert size["manifestDigest"] == outputs["digest"]
    layers = manifest["layers"]
    assert [layer["digest"] for layer in size["layers"]] == [layer["digest"] for layer in layers]
    assert [layer["compressedSize"] for layer in size["layers"]] == [layer["size"] for layer in layers]
    # Two base layers (Debian packages, distroless files), then third-party and application code.
    assert [layer["application"] for layer in size["layers"]] == [False, False, True, True]
    totals = size["totals"]
    assert totals["layers"] == len(layers)
    # What the gate's max_size counts: compressed layers plus the config blob.
    assert size["configSize"] == manifest["config"]["size"]
    assert totals["compressedSize"] == sum(layer["size"] for layer in layers) + manifest["config"]["size"]
    assert totals["uncompressedSize"] == sum(layer["uncompressedSize"] for layer in size["layers"])
    assert totals["files"] == sum(layer["files"] for layer in size["layers"])
    third_party = [d["path"] for d in size["layers"][2]["topDirectories"]]
    assert any(path.startswith("/app/deps_service.runfiles/" + extension_repository("pip", "pip")) for path in third_party), third_party
