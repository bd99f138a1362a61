"""Reproducibility, incrementality and analysis errors, on copies of this checkout.

Two copies at two different paths, each with its own clean output root and repository cache,
build the deps_service example (pip packages, a distroless base, three layers). Both use the
same prebuilt pyoci ($PYOCI_BINARY): building it again from a second source path would only
recompile the toolchain, which is not what is being tested.
"""

import json
import os
from pathlib import Path

import pytest

from conftest import REPO, BazelError, copy_checkout, spawns

EXAMPLE = "examples/deps_service"
IMAGE = "deps_service_image"


@pytest.fixture(scope="module")
def pyoci_binary(repo_env):
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p pyoci` first")
    return binary


@pytest.fixture(scope="module")
def checkouts(e2e_tmp, make_bazel, pyoci_binary):
    """Two copies of the checkout, each built once from a clean output root."""
    built = []
    for name in ["checkout-a", "checkout-b"]:
        root = copy_checkout(e2e_tmp / name / "rules_pyoci")
        bazel = make_bazel(
            root / EXAMPLE,
            output_user_root=e2e_tmp / name / "root",
            repository_cache=e2e_tmp / name / "repository-cache",
            extra_repo_env={"PYOCI_BINARY": str(pyoci_binary)},
        )
        bazel.run("build", f"//:{IMAGE}")
        built.append((root, bazel))
    yield built
    for _, bazel in built:
        bazel.shutdown()


def digest_of(bazel):
    return (bazel.bin_dir() / f"{IMAGE}.digest").read_text()


def layer_descriptor(bazel, group):
    return json.loads((bazel.bin_dir() / f"{IMAGE}.layers" / f"{group}.descriptor.json").read_text())


def test_two_checkouts_give_the_same_digest(checkouts):
    (root_a, bazel_a), (root_b, bazel_b) = checkouts
    assert root_a != root_b
    assert bazel_a.info("output_base") != bazel_b.info("output_base")
    assert digest_of(bazel_a) == digest_of(bazel_b)


def test_rebuild_without_change_executes_nothing(checkouts, tmp_path):
    _, bazel = checkouts[0]
    log = tmp_path / "exec.json"
    bazel.run("build", f"//:{IMAGE}", f"--execution_log_json_file={log}")
    executed = spawns(log)
    assert executed == [], "a no-change rebuild executed:\n" + "\n".join(
        f"{s.get('mnemonic')}: {s.get('progressMessage')}" for s in executed
    )


def test_editing_app_code_reruns_only_app_layer_and_image(checkouts, tmp_path):
    root, bazel = checkouts[0]
    third_party_before = layer_descriptor(bazel, "third_party")
    app_before = layer_descriptor(bazel, "app")
    digest_before = digest_of(bazel)

    service = root / EXAMPLE / "service.py"
    service.write_text(service.read_text() + "\n# edited by test_editing_app_code\n")
    log = tmp_path / "exec.json"
    bazel.run("build", f"//:{IMAGE}", f"--execution_log_json_file={log}")

    executed = spawns(log)
    mnemonics = sorted(s.get("mnemonic", "?") for s in executed)
    # (PyociBytecode: the application's .pyc, compiled beside its layer. PyociCheckLayer: the
    # gate findings of the new app layer only; PyociCheck combines them with the unchanged
    # records of the base, interpreter and third-party layers. PyociLayerBlob: the new app
    # layer as the blob layout readers of `.own` take it from.)
    assert mnemonics == ["PyociBytecode", "PyociCheck", "PyociCheckLayer", "PyociImage", "PyociLayer", "PyociLayerBlob"], "\n".join(
        f"{s.get('mnemonic')}: {s.get('progressMessage')}" for s in executed
    )
    for mnemonic in ["PyociLayer", "PyociCheckLayer", "PyociLayerBlob"]:
        outputs = [
            output["path"]
            for s in executed if s.get("mnemonic") == mnemonic
            for output in s.get("actualOutputs", [])
        ]
        assert outputs and all("/app." in path for path in outputs), (mnemonic, outputs)
    check_layer_inputs = [
        i["path"] for s in executed if s.get("mnemonic") == "PyociCheckLayer" for i in s.get("inputs", [])
    ]
    assert not any("third_party" in p or "interpreter" in p or "distroless" in p for p in check_layer_inputs), check_layer_inputs
    # The image-level check reads records, not layers: its inputs name no layer blob of ours.
    check_inputs = [i["path"] for s in executed if s.get("mnemonic") == "PyociCheck" for i in s.get("inputs", [])]
    assert not any(p.endswith((".tar.gz", ".tar.zst")) for p in check_inputs), check_inputs
    findings = [p for p in check_inputs if p.endswith("findings.json")]
    assert any("distroless" in p for p in findings) and any("/app.findings.json" in p for p in findings), findings

    assert layer_descriptor(bazel, "third_party") == third_party_before
    assert layer_descriptor(bazel, "app")["digest"] != app_before["digest"]
    assert digest_of(bazel) != digest_before


BAD_BUILD = """\
load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_library(
    name = "library",
    srcs = ["library.py"],
)

filegroup(
    name = "not_an_image",
    srcs = ["library.py"],
)

py_image(
    name = "library_as_binary",
    base = "@distroless_python_nonroot",
    binary = ":library",
)

py_image(
    name = "filegroup_as_base",
    base = ":not_an_image",
    binary = "//:deps_service",
)
"""


@pytest.fixture(scope="module")
def bad_package(checkouts):
    root, bazel = checkouts[1]
    package = root / EXAMPLE / "bad"
    package.mkdir()
    (package / "library.py").write_text("VALUE = 1\n")
    (package / "BUILD.bazel").write_text(BAD_BUILD)
    return bazel


@pytest.mark.parametrize(
    "target, attribute",
    [("library_as_binary", "binary"), ("filegroup_as_base", "base")],
)
def test_bad_attribute_fails_at_analysis(bad_package, target, attribute, tmp_path):
    log = tmp_path / "exec.json"
    with pytest.raises(BazelError) as failure:
        bad_package.run("build", f"//bad:{target}", f"--execution_log_json_file={log}")
    message = str(failure.value)
    assert "Analysis of target" in message or "analysis" in message.lower(), message
    assert (f"attribute `{attribute}`" in message or f"in {attribute} attribute" in message), message
    assert spawns(log) == [], "nothing may be executed when analysis fails"
