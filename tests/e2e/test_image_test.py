"""py_image_test under real `bazel test`: one test per check kind (metadata, file existence, file
content, command) passes on the hello and deps_service examples and on examples/service (its own
BUILD), a spec file works like the inline attributes, and a test per kind written against the
wrong image fails with a log that names the check and shows expected vs actual.

The tests are appended to the examples' root packages (their images are private to them) in a
copy of the checkout, so the examples stay as users see them; the copy uses the prebuilt pyoci (as
test_incremental does): a second source path would only recompile the toolchain.
"""

import json
import re
from pathlib import Path

import pytest

from conftest import copy_checkout, extension_repository, main_repository, tail

HELLO_RUNFILES = "/app/hello.runfiles/" + main_repository("hello_example")

HELLO_TESTS = f'RUNFILES = "{HELLO_RUNFILES}"\n' + """

py_image_test(
    name = "image_tests_metadata_test",
    image = ":hello_image",
    metadata_test = {
        "entrypoint": ["/usr/bin/python3", RUNFILES + "/main.py"],
        "envVars": [{"key": "LOG_LEVEL", "value": "INFO"}, {"key": "PYTHONPATH", "value": "^/app/hello.runfiles", "isRegex": True}],
        "labels": [{"key": "org.opencontainers.image.version", "value": "1.0.0"}],
        "user": "65532",
        "workdir": RUNFILES,
    },
)

py_image_test(
    name = "image_tests_files_test",
    file_existence_tests = [
        {"name": "data file", "path": RUNFILES + "/greeting.txt", "shouldExist": True, "permissions": "-rw-r--r--", "uid": 0},
        {"name": "library", "path": RUNFILES + "/greeting.py", "shouldExist": True},
        {"name": "no shell", "path": "/bin/sh", "shouldExist": False},
    ],
    image = ":hello_image",
)

py_image_test(
    name = "image_tests_content_test",
    file_content_tests = [{"name": "greeting", "path": RUNFILES + "/greeting.txt", "expectedContents": ["^Hello from a distroless Python image!"]}],
    image = ":hello_image",
)

py_image_test(
    name = "image_tests_command_test",
    command_tests = [{
        "name": "prints its greeting as nonroot",
        "command": "/usr/bin/python3",
        "args": [RUNFILES + "/main.py"],
        "expectedOutput": ["uid=65532", "Hello from a distroless Python image!"],
    }],
    image = ":hello_image",
)

py_image_test(
    name = "image_tests_spec_test",
    image = ":hello_image",
    spec = "image_tests_spec.json",
)
"""

HELLO_SPEC = {
    "schemaVersion": "2.0.0",
    "metadataTest": {"user": "65532", "envVars": [{"key": "LOG_LEVEL", "value": "INFO"}]},
    "fileExistenceTests": [{"name": "main", "path": HELLO_RUNFILES + "/main.py", "shouldExist": True}],
}

DEPS_TESTS = f'PIP = "/app/deps_service.runfiles/{extension_repository("pip", "pip")}"\n' + """

py_image_test(
    name = "image_tests_metadata_test",
    image = ":deps_service_image",
    metadata_test = {
        "envVars": [{"key": "PYTHONPATH", "value": ".*[/~+]pip/requests/site-packages.*", "isRegex": True}],
        "labels": [{"key": "org.opencontainers.image.version", "value": "1.0.0"}],
        "user": "65532",
    },
)

py_image_test(
    name = "image_tests_files_test",
    file_existence_tests = [
        {"name": "requests", "path": PIP + "/requests/site-packages/requests/__init__.py", "shouldExist": True, "permissions": "-rw-r--r--"},
        {"name": "pyyaml", "path": PIP + "/pyyaml/site-packages/yaml/__init__.py", "shouldExist": True},
    ],
    image = ":deps_service_image",
)

py_image_test(
    name = "image_tests_content_test",
    file_content_tests = [
        {"name": "requests version", "path": PIP + "/requests/site-packages/requests-2.32.3.dist-info/METADATA", "expectedContents": ["(?m)^Version: 2\\\\.32\\\\.3$"]},
        {"name": "pyyaml version", "path": PIP + "/pyyaml/site-packages/PyYAML-6.0.2.dist-info/METADATA", "expectedContents": ["(?m)^Version: 6\\\\.0\\\\.2$"]},
    ],
    image = ":deps_service_image",
)

py_image_test(
    name = "image_tests_command_test",
    command_tests = [{
        "name": "imports its third-party packages",
        "command": "/usr/bin/python3",
        "args": ["-c", "import requests, yaml; print(requests.__version__, yaml.__version__)"],
        "expectedOutput": ["(?m)^2\\\\.32\\\\.3 6\\\\.0\\\\.2$"],
    }],
    image = ":deps_service_image",
)
"""

# Each test expects something the greeter image does not have.
WRONG_TESTS = """\
py_image_test(
    name = "image_tests_metadata_test",
    image = ":greeter_image",
    metadata_test = {"user": "0", "exposedPorts": ["9090/tcp"]},
)

py_image_test(
    name = "image_tests_files_test",
    file_existence_tests = [
        {"name": "config is world-writable", "path": "/etc/greeter/greeter.yaml", "shouldExist": True, "permissions": "-rw-rw-rw-"},
        {"name": "has a shell", "path": "/bin/sh", "shouldExist": True},
    ],
    image = ":greeter_image",
)

py_image_test(
    name = "image_tests_content_test",
    file_content_tests = [{"name": "listens on 9090", "path": "/etc/greeter/greeter.yaml", "expectedContents": ["port: 9090"]}],
    image = ":greeter_image",
)

py_image_test(
    name = "image_tests_command_test",
    command_tests = [{
        "name": "runs as root",
        "command": "/usr/bin/python3",
        "args": ["-c", "import os; print('uid', os.getuid())"],
        "expectedOutput": ["^uid 0$"],
    }],
    image = ":greeter_image",
)

py_image_test(
    name = "image_tests_spec_and_inline_test",
    image = ":greeter_image",
    metadata_test = {"user": "65532"},
    spec = "image_tests_spec.json",
)
"""

# (test target, lines its log must hold) for the wrong tests.
WRONG = {
    "image_tests_metadata_test": [
        'FAIL metadata: user: expected "0", got "65532"',
        'FAIL metadata: exposed port 9090/tcp: expected exposed, exposed ports are ["8080/tcp"]',
    ],
    "image_tests_files_test": [
        "FAIL file existence: config is world-writable: permissions: expected -rw-rw-rw-, got -rw-r--r-- (0644)",
        "FAIL file existence: has a shell: expected /bin/sh to exist, it does not",
    ],
    "image_tests_content_test": ["FAIL file content: listens on 9090: contents: expected to match /port: 9090/, got "],
    "image_tests_command_test": ['FAIL command: runs as root: stdout: expected to match /^uid 0$/, got "uid 65532\\n"'],
}


@pytest.fixture(scope="module")
def checkout(e2e_tmp, repo_env):
    binary = Path(repo_env["PYOCI_CARGO_TARGET_DIR"]) / "release" / "pyoci"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release -p pyoci` first")
    root = copy_checkout(e2e_tmp / "image-test" / "rules_pyoci")
    for example, tests in [("hello", HELLO_TESTS), ("deps_service", DEPS_TESTS), ("service", WRONG_TESTS)]:
        build = root / "examples" / example / "BUILD.bazel"
        text = build.read_text()
        build.write_text('load("@rules_pyoci//rules:defs.bzl", "py_image_test")\n' + text + "\n" + tests)
        (root / "examples" / example / "image_tests_spec.json").write_text(json.dumps(HELLO_SPEC))
    return root, str(binary)


@pytest.fixture(scope="module")
def workspace(checkout, make_bazel, offline_test_flags, e2e_tmp):
    root, binary = checkout
    started = {}

    def bazel(example):
        if example not in started:
            started[example] = make_bazel(
                root / "examples" / example,
                output_user_root=e2e_tmp / "image-test" / "root",
                extra_repo_env={"PYOCI_BINARY": binary},
                extra_flags=offline_test_flags,
            )
        return started[example]

    yield bazel
    for handle in started.values():
        handle.shutdown()


def read_test_log(bazel, target):
    return (Path(bazel.info("bazel-testlogs")) / target / "test.log").read_text()


@pytest.mark.parametrize("example", ["hello", "deps_service"])
def test_each_check_kind_passes_on_the_example(workspace, example):
    bazel = workspace(example)
    kinds = ["metadata", "files", "content", "command"] + (["spec"] if example == "hello" else [])
    targets = [f"//:image_tests_{kind}_test" for kind in kinds]
    result = bazel.run("test", *targets, "--test_output=errors", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, tail(output) + "".join(
        f"\n--- {target} ---\n{read_test_log(bazel, target[3:])}" for target in targets
    )
    for kind, target in zip(kinds, targets):
        assert re.search(rf"{target} +(\(cached\) )?PASSED", output), tail(output)
        log = read_test_log(bazel, target[3:])
        assert re.search(r": [1-9]\d* passed, 0 failed", log), log
    assert "PASS command: " in read_test_log(bazel, "image_tests_command_test")


def test_each_check_kind_fails_with_expected_and_actual(workspace):
    bazel = workspace("service")
    result = bazel.run("test", *[f"//:{name}" for name in WRONG], "--test_output=errors", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, tail(output)
    for name, lines in WRONG.items():
        assert re.search(rf"//:{name} +FAILED", output), tail(output)
        log = read_test_log(bazel, name)
        for line in lines:
            assert line in log, f"{name}: {line!r} not in its log:\n{log}"
        assert re.search(r"greeter_image: \d+ passed, [1-9]\d* failed", log), log


def test_spec_and_inline_tests_together_fail_at_analysis(workspace):
    result = workspace("service").run("build", "//:image_tests_spec_and_inline_test", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "give either `spec` or the inline tests" in output, tail(output)


def test_only_tests_that_may_start_containers_leave_the_sandbox(workspace):
    """podman cannot run in Bazel's linux-sandbox; file and metadata tests stay sandboxed."""
    result = workspace("hello").run("aquery", 'mnemonic("TestRunner", //:all)')
    requirements = {}
    target = None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("Target: "):
            target = line[len("Target: "):].lstrip("@")
            requirements.setdefault(target, "")
        elif line.startswith("ExecutionInfo: ") and target:
            requirements[target] = line[len("ExecutionInfo: "):]
    unsandboxed = {t for t, info in requirements.items() if "no-sandbox: 1" in info and "no-remote-exec: 1" in info}
    assert unsandboxed == {"//:image_tests_command_test", "//:image_tests_spec_test"}, requirements
