"""The py_service_image example (examples/service): built by real Bazel, loaded into podman and the
Docker Engine, run as uid 65532 with its real entrypoint, answering on its port over the
container's own loopback (no published port, no network), reading its config file, counting
visits in its writable dir, healthy by its exec-form healthcheck, stopped by SIGTERM; its config
replaced by a mount at the fixed path, also through the runfiles path; its OCI labels stamped
from the workspace status only when stamping."""

import json
import subprocess
import time

import pytest

from conftest import REPO, main_repository, tail

EXAMPLE = REPO / "examples" / "service"
IMAGE = "greeter_image"
TAG = "localhost/greeter:latest"
RUNFILES = "/app/greeter.runfiles/" + main_repository("service_example")

# Asks the service over the container's loopback: distroless has no curl and no shell.
GET = (
    "import sys, time, urllib.request\n"
    "for attempt in range(300):\n"
    "    try:\n"
    "        print(urllib.request.urlopen('http://127.0.0.1:8080' + sys.argv[1], timeout=2).read().decode(), end='')\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.05)\n"
    "else:\n"
    "    sys.exit('nothing answers on 127.0.0.1:8080')\n"
)


@pytest.fixture(scope="module")
def service(make_bazel, offline_test_flags):
    bazel = make_bazel(EXAMPLE, extra_flags=offline_test_flags)
    bazel.run("build", f"//:{IMAGE}")
    yield bazel
    bazel.shutdown()


def image_config(bazel):
    """The image config of the built layout, read from its blobs."""
    layout = bazel.bin_dir() / f"{IMAGE}.own"
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest).read_text())
    return json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text())


class Engine:
    """podman or docker, with the containers a test started removed afterwards."""

    def __init__(self, name, run):
        self.name = name
        self._run = run
        self.containers = []

    def __call__(self, *args, check=True, timeout=300):
        result = self._run(*args, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args[:3])}... exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start(self, name, *args):
        self("rm", "--force", name, check=False)
        self.containers.append(name)
        # --network none: the service is reachable only on the container's own loopback.
        return self("run", "--detach", "--network", "none", "--name", name, *args)

    def get(self, container, path="/"):
        return self("exec", container, "/usr/bin/python3", "-c", GET, path).stdout

    def cleanup(self):
        for name in self.containers:
            self("rm", "--force", name, check=False)


@pytest.fixture(params=["podman", "docker"])
def engine(request, service, podman):
    if request.param == "podman":
        loaded = service.run("run", f"//:{IMAGE}_load", env={**podman.env(), "PYOCI_LOADER": podman.loader()})
        runner = Engine("podman", lambda *args, timeout: podman.run(*args, check=False, timeout=timeout))
    else:
        docker = request.getfixturevalue("docker")
        docker.append(TAG)
        loaded = service.run("run", f"//:{IMAGE}_load", env={"PYOCI_LOADER": "docker"})
        runner = Engine("docker", lambda *args, timeout: subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout))
    assert TAG in loaded.stdout + loaded.stderr, tail(loaded.stdout + loaded.stderr)
    yield runner
    runner.cleanup()


def test_serves_on_loopback_as_nonroot_with_its_config(engine):
    engine.start("greeter-e2e", TAG)
    first = json.loads(engine.get("greeter-e2e"))
    second = json.loads(engine.get("greeter-e2e"))
    assert first == {
        "config": "/etc/greeter/greeter.yaml",
        "greeting": "Hello from a distroless Python service",
        "service": "greeter",
        "uid": 65532,
        "visits": 1,
    }, first
    # The visit counter lives in the writable dir the image created for uid 65532.
    assert second["visits"] == 2, second
    assert engine.get("greeter-e2e", "/healthz") == "ok\n"
    logs = engine("logs", "greeter-e2e")
    assert "greeter listening on port 8080 as uid 65532, config /etc/greeter/greeter.yaml" in logs.stdout + logs.stderr


def test_healthcheck_and_sigterm_stop(engine, service):
    if engine.name == "podman":
        # podman honours HEALTHCHECK only in Docker-format (v2s2) images and these are OCI
        # images, so the image's own healthcheck command is handed over explicitly.
        test = image_config(service)["config"]["Healthcheck"]["Test"]
        assert test[0] == "CMD", test
        engine.start("greeter-stop", "--health-cmd", json.dumps(test[1:]), TAG)
        engine.get("greeter-stop", "/healthz")
        health = engine("healthcheck", "run", "greeter-stop", check=False)
        assert health.returncode == 0, f"healthcheck failed:\n{health.stdout}\n{health.stderr}"
    else:
        # The image's healthcheck command, probed every second instead of every 30.
        engine.start("greeter-stop", "--health-interval", "1s", TAG)
        deadline = time.monotonic() + 60
        while True:
            status = engine("inspect", "--format", "{{.State.Health.Status}}", "greeter-stop").stdout.strip()
            if status == "healthy" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status == "healthy", engine("inspect", "--format", "{{json .State.Health}}", "greeter-stop").stdout
    started = time.monotonic()
    engine("stop", "--time", "20", "greeter-stop")
    stopped_in = time.monotonic() - started
    exit_code = engine("inspect", "--format", "{{.State.ExitCode}}", "greeter-stop").stdout.strip()
    logs = engine("logs", "greeter-stop")
    # A stop that needed SIGKILL would take the whole 20 s and exit 137.
    assert exit_code == "0" and stopped_in < 15, f"exit {exit_code} after {stopped_in:.1f}s:\n{logs.stdout}{logs.stderr}"
    assert "greeter stopped" in logs.stdout + logs.stderr


def test_config_mounted_at_the_fixed_path_replaces_the_built_in_one(engine, tmp_path):
    mounted = tmp_path / "greeter.yaml"
    mounted.write_text("name: greeter\ngreeting: Mounted greeting\nport: 8080\ndata_dir: /var/lib/greeter\n")
    mounted.chmod(0o644)
    volume = f"{mounted}:/etc/greeter/greeter.yaml:ro"
    engine.start("greeter-mounted", "--volume", volume, TAG)
    assert json.loads(engine.get("greeter-mounted"))["greeting"] == "Mounted greeting"

    # The runfiles path (what `bazel run` reads) is a symlink to the fixed path, so it follows the mount.
    engine.start("greeter-runfiles", "--volume", volume, TAG, "--config", f"{RUNFILES}/greeter.yaml")
    answer = json.loads(engine.get("greeter-runfiles"))
    assert answer["greeting"] == "Mounted greeting" and answer["config"] == f"{RUNFILES}/greeter.yaml", answer


def test_engine_sees_the_service_config(engine):
    inspected = json.loads(engine("image", "inspect", TAG).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "65532"
    assert list(config["ExposedPorts"]) == ["8080/tcp"]
    assert list(config["Volumes"]) == ["/var/lib/greeter"]
    assert config["StopSignal"] == "SIGTERM"
    assert config["Cmd"] == ["--config", "/etc/greeter/greeter.yaml"]
    if engine.name == "docker":
        # (podman keeps HEALTHCHECK only from Docker-format images: see the healthcheck test.)
        healthcheck = config["Healthcheck"]
        assert healthcheck["Test"][0] == "CMD" and healthcheck["Test"][-1] == "--healthcheck", healthcheck


def test_structure_tests_of_the_example_pass(service):
    """The example's py_image_tests, one per check kind (metadata, files, contents, commands)."""
    result = service.run("test", "//...", "--test_output=errors")
    for kind in ["metadata", "files", "content", "command"]:
        assert f"//:greeter_image_{kind}_test" in result.stdout + result.stderr, tail(result.stderr)
    assert "4 tests pass" in result.stdout + result.stderr, tail(result.stderr)


def config_labels(bazel):
    config = image_config(bazel)
    return config["config"].get("Labels", {}), config["created"]


def test_oci_labels_come_from_the_workspace_status_only_when_stamping(service, tmp_path):
    unstamped_digest = (service.bin_dir() / f"{IMAGE}.digest").read_text()
    labels, created = config_labels(service)
    assert created == "1970-01-01T00:00:00Z"
    assert not [key for key in labels if key != "org.opencontainers.image.description"], labels

    status = tmp_path / "status.sh"
    status.write_text(
        "#!/bin/sh\n"
        "echo STABLE_VERSION 2.5.0\n"
        "echo STABLE_GIT_COMMIT 0123456789abcdef0123456789abcdef01234567\n"
        "echo BUILD_TIMESTAMP_RFC3339 2030-01-02T03:04:05Z\n"
    )
    status.chmod(0o755)
    service.run("build", f"//:{IMAGE}", "--stamp", f"--workspace_status_command={status}")
    labels, created = config_labels(service)
    assert labels == {
        "org.opencontainers.image.created": "2030-01-02T03:04:05Z",
        "org.opencontainers.image.description": "Greets over HTTP, configured by /etc/greeter/greeter.yaml",
        "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
        # The status printed no STABLE_GIT_URL: empty, never a literal "{STABLE_GIT_URL}".
        "org.opencontainers.image.source": "",
        "org.opencontainers.image.version": "2.5.0",
    }, labels
    assert created != "1970-01-01T00:00:00Z"

    service.run("build", f"//:{IMAGE}")
    assert (service.bin_dir() / f"{IMAGE}.digest").read_text() == unstamped_digest
