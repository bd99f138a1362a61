"""Trivy 0.76 as a witness of what CI scanners see in our images, offline (no database):

- for every example image built by Bazel, Trivy's package inventory (Debian packages and
  Python distributions, with versions) equals the packages of `pyoci sbom`;
- on an image with planted secrets (private keys, cloud and forge tokens, .env files,
  passwords in config files), every file Trivy's secret scanner flags is flagged by our
  secrets gate too;
- `py_image_scan` under real `bazel test` passes on the examples and fails on an image with a
  planted key, naming the file, and leaves JSON and SARIF reports as test outputs.

Tokens are assembled at run time from random characters, so no credential-shaped string is
committed.
"""

import json
import re
import secrets
import shutil
import string
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import copy_checkout, require_tool, tail
from example_images import EXAMPLES, build_examples, pyoci_path, tool

TRIVY_OFFLINE = ["--offline-scan", "--skip-db-update", "--skip-java-db-update", "--skip-check-update",
                 "--skip-version-check", "--quiet"]


def trivy_json(trivy, target, scanners, cache, extra=()):
    run = subprocess.run(
        [trivy, "image", "--input", str(target), "--format", "json", "--list-all-pkgs",
         "--scanners", scanners, "--cache-dir", str(cache), *TRIVY_OFFLINE, *extra],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, tail(run.stdout + run.stderr)
    return json.loads(run.stdout)


def normalize_python(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def trivy_inventory(report):
    found = set()
    for result in report.get("Results", []):
        for package in result.get("Packages") or []:
            if result.get("Class") == "os-pkgs":
                version = package["Version"]
                if package.get("Release"):
                    version += "-" + package["Release"]
                if package.get("Epoch"):
                    version = f"{package['Epoch']}:{version}"
                found.add(("deb", package["Name"], version))
            elif result.get("Type") == "python-pkg":
                found.add(("pypi", normalize_python(package["Name"]), package["Version"]))
            else:
                found.add((result.get("Type"), package["Name"], package.get("Version")))
    return found


def sbom_inventory(document):
    found = set()
    for package in document["packages"]:
        purls = [ref["referenceLocator"] for ref in package.get("externalRefs", [])
                 if ref.get("referenceType") == "purl"]
        for purl in purls:
            if purl.startswith("pkg:deb/"):
                found.add(("deb", package["name"], package["versionInfo"]))
            elif purl.startswith("pkg:pypi/"):
                found.add(("pypi", normalize_python(package["name"]), package["versionInfo"]))
    return found


@pytest.fixture(scope="module")
def trivy():
    return tool("trivy")


@pytest.fixture(scope="module")
def example_layouts(make_bazel, repo_env, tmp_path_factory):
    return build_examples(make_bazel, pyoci_path(repo_env), tmp_path_factory.mktemp("trivy-tarballs"),
                          sorted(EXAMPLES), False)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_trivy_inventory_equals_our_sbom(example, example_layouts, trivy, repo_env, tmp_path):
    image = example_layouts[example]
    # The docker tarball, as a CI job would hand it to Trivy.
    report = trivy_json(trivy, image.tarball, "license", tmp_path / "cache")
    assert report["Metadata"]["OS"] == {"Family": "debian", "Name": report["Metadata"]["OS"]["Name"]}
    sbom = tmp_path / "sbom.spdx.json"
    subprocess.run([str(pyoci_path(repo_env)), "sbom", str(image.layout), "--output", str(sbom)],
                   check=True, capture_output=True)
    theirs = trivy_inventory(report)
    ours = sbom_inventory(json.loads(sbom.read_text()))
    debs = {p for p in theirs if p[0] == "deb"}
    assert len(debs) >= 38, sorted(theirs)
    if example == "deps_service":
        assert {("pypi", "requests"), ("pypi", "pyyaml")} <= {p[:2] for p in theirs}, sorted(theirs)
    assert theirs - ours == set() and ours - theirs == set(), (
        f"only Trivy: {sorted(theirs - ours)}\nonly our SBOM: {sorted(ours - theirs)}")


def random_token(alphabet, length):
    return "".join(secrets.choice(alphabet) for _ in range(length))


def planted_files(tmp):
    """{image path: contents}: one credential of each kind CI scanners look for."""
    upper = string.ascii_uppercase + "234567"
    alnum = string.ascii_letters + string.digits
    aws_id = "AKIA" + random_token(upper, 16)
    aws_secret = random_token(alnum + "/+", 40)
    github = "ghp_" + random_token(alnum, 36)
    gitlab = "glpat-" + random_token(alnum, 20)
    slack = "xoxb-" + random_token(string.digits, 12) + "-" + random_token(string.digits, 12) + "-" + random_token(alnum, 24)
    keys = {}
    for name, algorithm in [("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                            ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])]:
        key = tmp / f"{name}.pem"
        subprocess.run(["openssl", "genpkey", *algorithm, "-out", str(key)], check=True, capture_output=True)
        keys[name] = key.read_text()
    rsa_traditional = tmp / "rsa-traditional.pem"
    subprocess.run(["openssl", "pkey", "-in", str(tmp / "rsa.pem"), "-traditional", "-out", str(rsa_traditional)],
                   check=True, capture_output=True)
    db_password = random_token(alnum, 20)
    hexdigits = "0123456789abcdef"
    return {
        "/app/cloud/azure.cfg": "DefaultEndpointsProtocol=https;AccountName=acct;"
                                f"AccountKey={random_token(alnum + '+/', 86)}==;EndpointSuffix=core.windows.net\n",
        "/app/cloud/gcp-service-account.json": json.dumps({
            "type": "service_account", "project_id": "p", "private_key_id": random_token(hexdigits, 40),
            "client_email": "deployer@p.iam.gserviceaccount.com"}),
        "/app/payments.py": f'STRIPE = "sk_live_{random_token(alnum, 24)}"\n',
        "/app/publish.txt": f"pypi-AgEIcHlwaS5vcmc{random_token(alnum, 60)}\n",
        "/app/mail.py": f'SG = "SG.{random_token(alnum, 22)}.{random_token(alnum, 43)}"\n',
        "/app/models.py": f'HF = "hf_{random_token(string.ascii_letters, 34)}"\n',
        "/app/sms.py": f'TWILIO = "SK{random_token(hexdigits, 32)}"\n',
        "/app/keys/service.pem": keys["rsa"],
        "/app/keys/id_ec": keys["ec"],
        "/home/nonroot/.ssh/id_rsa": rsa_traditional.read_text(),
        "/app/.env": f"AWS_ACCESS_KEY_ID={aws_id}\nAWS_SECRET_ACCESS_KEY={aws_secret}\nDB_PASSWORD={db_password}\n",
        "/app/deploy.py": f'GITHUB_TOKEN = "{github}"\n\nprint("deploying")\n',
        "/app/ci/gitlab.ini": f"[ci]\ntoken = {gitlab}\n",
        "/app/notify.py": f'SLACK_TOKEN = "{slack}"\n',
        "/home/nonroot/.aws/credentials": f"[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\n",
        "/app/config/settings.yaml": f"database:\n  host: db\n  password: {db_password}\n",
        "/app/config/app.json": json.dumps({"db": {"user": "app", "password": db_password}}),
        "/app/config/clean.yaml": "database:\n  host: db\n  password: ${DB_PASSWORD}\n",
    }


def build_planted_image(pyoci, tmp):
    files = planted_files(tmp)
    sources = tmp / "src"
    entries = []
    for index, (path, text) in enumerate(sorted(files.items())):
        source = sources / str(index)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        entries.append({"path": path, "source": str(source)})
    spec = tmp / "layer.json"
    spec.write_text(json.dumps({"entries": entries}))
    blob, descriptor = tmp / "layer.tar.gz", tmp / "layer.descriptor.json"
    subprocess.run([str(pyoci), "layer", "--spec", str(spec), "-o", str(blob), "--descriptor-out", str(descriptor)],
                   check=True, capture_output=True)
    layout = tmp / "planted"
    subprocess.run([str(pyoci), "image", "--layer", f"{blob}={descriptor}", "-o", str(layout)],
                   check=True, capture_output=True)
    return layout, files


def test_every_secret_trivy_finds_our_gate_finds(trivy, repo_env, tmp_path):
    require_tool("openssl")
    pyoci = pyoci_path(repo_env)
    layout, files = build_planted_image(pyoci, tmp_path)
    report = trivy_json(trivy, layout, "secret", tmp_path / "cache")
    trivy_found = {}
    for result in report.get("Results", []):
        if result.get("Class") == "secret":
            path = "/" + result["Target"].lstrip("/")
            trivy_found[path] = sorted({s["RuleID"] for s in result.get("Secrets", [])})
    check = subprocess.run([str(pyoci), "check", str(layout), "--allow-root"], capture_output=True, text=True)
    gate_output = check.stdout + check.stderr
    ours = {path for path in files if re.search(rf"(^|\W){re.escape(path)}(\W|$)", gate_output)}
    print("\nTrivy flagged:", json.dumps(trivy_found, indent=1))
    print("our secrets gate flagged:", sorted(ours))
    assert check.returncode == 1, gate_output
    assert len(trivy_found) >= 15, trivy_found
    missed = {path: rules for path, rules in trivy_found.items() if path not in ours}
    assert not missed, f"Trivy flags files our secrets gate misses: {missed}\n{gate_output}"
    # Our gate must not flag the placeholder-only config.
    assert "/app/config/clean.yaml" not in ours, gate_output


SCAN_TARGETS = """
load("@rules_pyoci//rules:defs.bzl", "py_image_scan")

py_image_scan(
    name = "hello_image_scan",
    image = ":hello_image",
    scanners = ["secret", "license"],
    # Debian's GPL packages are "restricted" (HIGH) licences to Trivy; forbidden ones are CRITICAL.
    severity = "CRITICAL",
    trivy = "//trivy_bin:trivy",
)

py_binary(
    name = "leaky",
    srcs = ["main.py"],
    data = ["greeting.txt", "deploy_key.pem"],
    main = "main.py",
    deps = [":greeting"],
)

py_image(
    name = "leaky_image",
    allow_secrets = True,
    base = "@distroless_python_nonroot",
    binary = ":leaky",
)

py_image_scan(
    name = "leaky_image_scan",
    image = ":leaky_image",
    scanners = ["secret"],
    trivy = "//trivy_bin:trivy",
)
"""


def test_py_image_scan_under_bazel(e2e_tmp, make_bazel, repo_env, offline_test_flags, trivy):
    require_tool("openssl")
    root = copy_checkout(e2e_tmp / "scan" / "rules_pyoci")
    hello = root / "examples" / "hello"
    (hello / "trivy_bin").mkdir()
    shutil.copy2(trivy, hello / "trivy_bin" / "trivy")
    (hello / "trivy_bin" / "BUILD.bazel").write_text('exports_files(["trivy"])\n')
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(hello / "deploy_key.pem")], check=True, capture_output=True)
    build = hello / "BUILD.bazel"
    build.write_text(build.read_text() + SCAN_TARGETS)
    # Trivy's built-in allow rules skip every path with an `example/` directory in it, and under
    # WORKSPACE the runfiles path holds the workspace name: name it like a user's workspace
    # (under bzlmod the main repository's runfiles directory is `_main` whatever the module's name).
    workspace = hello / "WORKSPACE.bazel"
    workspace.write_text(workspace.read_text().replace('name = "hello_example"', 'name = "hello_service"'))
    bazel = make_bazel(hello, output_user_root=e2e_tmp / "scan" / "root",
                       extra_repo_env={"PYOCI_BINARY": str(pyoci_path(repo_env))}, extra_flags=offline_test_flags)
    result = bazel.run("test", "//:hello_image_scan", "//:leaky_image_scan", "--test_output=errors", check=False)
    output = result.stdout + result.stderr
    testlogs = Path(bazel.info("bazel-testlogs"))

    def logs():
        return "".join(f"\n--- {t} ---\n" + tail((testlogs / t / "test.log").read_text())
                       for t in ["hello_image_scan", "leaky_image_scan"] if (testlogs / t / "test.log").is_file())

    assert re.search(r"//:hello_image_scan +(\(cached\) )?PASSED", output), tail(output, 8) + logs()
    assert re.search(r"//:leaky_image_scan +FAILED", output), tail(output, 8) + logs()
    log = (testlogs / "leaky_image_scan" / "test.log").read_text()
    assert "deploy_key.pem" in log and "private-key" in log.lower(), log
    assert "findings at or above HIGH" in log, log
    for target in ["hello_image_scan", "leaky_image_scan"]:
        with zipfile.ZipFile(testlogs / target / "test.outputs" / "outputs.zip") as outputs:
            names = set(outputs.namelist())
            assert {"trivy.json", "trivy.sarif"} <= names, names
            sarif = json.loads(outputs.read("trivy.sarif"))
            assert sarif["version"] == "2.1.0"
            report = json.loads(outputs.read("trivy.json"))
            assert report["Metadata"]["OS"]["Family"] == "debian"
    leaked = json.loads(zipfile.ZipFile(testlogs / "leaky_image_scan" / "test.outputs" / "outputs.zip").read("trivy.sarif"))
    locations = json.dumps(leaked["runs"][0]["results"])
    assert "deploy_key.pem" in locations, locations
