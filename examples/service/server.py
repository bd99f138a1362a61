"""The greeter: an HTTP service configured by a file, counting visits in its writable data dir.

    GET /         {"service", "greeting", "uid", "visits", "config"} as JSON
    GET /healthz  "ok"

`--config PATH` names the configuration (default: greeter.yaml, the runfiles path under
`bazel run`; the image passes /etc/greeter/greeter.yaml). `--healthcheck` asks a running server
for /healthz and exits 0 when it answers: the image's Docker healthcheck, which needs no shell.
"""

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from config import load_config


class Greeter(BaseHTTPRequestHandler):
    server_version = "greeter/1.0"

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, "text/plain", b"ok\n")
            return
        if self.path != "/":
            self.reply(404, "text/plain", b"not found\n")
            return
        settings = self.server.settings
        body = {
            "service": settings["config"]["name"],
            "greeting": settings["config"]["greeting"],
            "uid": os.getuid(),
            "visits": self.count_visit(settings["config"]["data_dir"]),
            "config": settings["path"],
        }
        self.reply(200, "application/json", json.dumps(body, sort_keys=True).encode() + b"\n")

    def count_visit(self, data_dir):
        counter = os.path.join(data_dir, "visits")
        with self.server.lock:
            try:
                with open(counter, encoding="utf-8") as handle:
                    visits = int(handle.read() or 0) + 1
            except FileNotFoundError:
                visits = 1
            with open(counter + ".tmp", "w", encoding="utf-8") as handle:
                handle.write(str(visits))
            os.replace(counter + ".tmp", counter)
        return visits

    def reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("greeter: %s\n" % (format % args))


def serve(path, config):
    server = ThreadingHTTPServer((config.get("host", "0.0.0.0"), int(config["port"])), Greeter)
    server.settings = {"path": path, "config": config}
    server.lock = threading.Lock()
    # As PID 1 in a container the default SIGTERM action does nothing: stop cleanly instead.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"greeter listening on port {config['port']} as uid {os.getuid()}, config {path}", flush=True)
    server.serve_forever()
    server.server_close()
    print("greeter stopped", flush=True)


def healthcheck(config):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{config['port']}/healthz", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"greeter healthcheck: {error}", file=sys.stderr)
        return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="greeter.yaml")
    parser.add_argument("--healthcheck", action="store_true")
    args = parser.parse_args()
    config = load_config(args.config)
    if args.healthcheck:
        return healthcheck(config)
    serve(args.config, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
