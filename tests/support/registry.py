"""A real CNCF distribution registry (`docker-registry`, Debian) for pytest: 127.0.0.1 on a
free port, storage in a temporary directory, optional htpasswd basic auth, optional TLS with
a CA made by openssl (`Pki`), stopped by the test (also on failure). The Rust twin is
tests/support/registry.rs.

    from registry import Pki, Registry
    with Registry(tmp_path, user=("ci", "s3cret"), delete=True) as registry:
        registry.host  # "127.0.0.1:PORT"
    pki = Pki(tmp_path / "pki")
    with Registry(tmp_path / "tls", tls=pki) as registry:
        pki.certs_d(tmp_path / "certs.d", registry.host)  # <dir>/127.0.0.1:PORT/ca.crt
"""

import base64
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {result.stderr}")


class Pki:
    """A CA and a server certificate for 127.0.0.1 and localhost, signed by it."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=pyoci test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", "ca.key", "-out", "ca.crt", cwd=self.dir)
        (self.dir / "server.ext").write_text(
            "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=pyoci test server",
                "-keyout", "server.key", "-out", "server.csr", cwd=self.dir)
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
                cwd=self.dir)

    @property
    def ca(self):
        return self.dir / "ca.crt"

    def certs_d(self, root, host):
        """A certs.d tree (as /etc/docker/certs.d) trusting the CA for `host`; returns root."""
        root = Path(root)
        (root / host).mkdir(parents=True, exist_ok=True)
        shutil.copy(self.ca, root / host / "ca.crt")
        return root


class Registry:
    def __init__(self, directory, user=None, delete=False, tls=None):
        if shutil.which("docker-registry") is None:
            raise AssertionError("docker-registry is not installed (Debian package docker-registry)")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.user = user
        self.delete = delete
        self.tls = tls
        self.process = None
        self._write_config()

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self):
        return self.dir / "storage"

    @property
    def log_path(self):
        return self.dir / "registry.log"

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def blob_uploads(self, repository):
        """Completed blob uploads (final PUT of an upload session) into `repository`."""
        needle = f'"PUT /v2/{repository}/blobs/uploads/'
        return sum(1 for line in self.log().splitlines() if needle in line)

    def blob_data_path(self, digest):
        hex_digest = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"

    def docker_config(self, directory, password=None):
        """A DOCKER_CONFIG directory whose config.json logs in to this registry."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        user, real_password = self.user
        secret = base64.b64encode(f"{user}:{password or real_password}".encode()).decode()
        (directory / "config.json").write_text(json.dumps({"auths": {self.host: {"auth": secret}}}))
        return directory

    def _write_config(self):
        self.storage.mkdir(parents=True, exist_ok=True)
        auth = ""
        if self.user:
            user, password = self.user
            htpasswd = subprocess.run(
                ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True
            ).stdout
            (self.dir / "htpasswd").write_text(htpasswd)
            auth = f"auth:\n  htpasswd:\n    realm: pyoci-test\n    path: {self.dir / 'htpasswd'}\n"
        (self.dir / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
            f"  delete:\n    enabled: {'true' if self.delete else 'false'}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: pyoci-test-secret\n"
            + (f"  tls:\n    certificate: {self.tls.dir / 'server.crt'}\n"
               f"    key: {self.tls.dir / 'server.key'}\n" if self.tls else "")
            + auth
        )

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.dir / "config.yml")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"docker-registry exited {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1."):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"docker-registry did not answer on {self.host}:\n{self.log()}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
