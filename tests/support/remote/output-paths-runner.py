#!/usr/bin/env python3
"""A buildbox runner in front of buildbox-run-hosttools for clients older than REAPI v2.1.

Bazel 4.2 describes an action's outputs with the Command fields `output_files` and
`output_directories`. REAPI v2.1 replaced them with `output_paths`, and buildbox 1.4.30's
runners read only `output_paths`: they neither create the outputs' parent directories nor
capture the outputs, so every action "succeeds" with no outputs and Bazel fails with
"output ... was not created". This runner copies the old fields into `output_paths` (the spec
says the two forms name the same outputs), stores the rewritten Command in the worker's CAS,
points the Action at it, and hands over to the real runner. The Action that the scheduler
caches and reports is the client's original one, so action keys and cache hits are unchanged.

Protocol buffers are edited on the wire (appending fields is valid protobuf; a repeated
singular message field merges), so the worker image needs no protobuf library.
"""

import hashlib
import os
import subprocess
import sys
import tempfile

REAL_RUNNER = os.environ.get("PYOCI_REAL_RUNNER", "/usr/bin/buildbox-run-hosttools")
CASUPLOAD = "/usr/bin/casupload"
CASDOWNLOAD = "/usr/bin/casdownload"

# Field numbers in build.bazel.remote.execution.v2.
ACTION_COMMAND_DIGEST = 1
COMMAND_OUTPUT_FILES = 3
COMMAND_OUTPUT_DIRECTORIES = 4
COMMAND_OUTPUT_PATHS = 7
DIGEST_HASH = 1
DIGEST_SIZE = 2


def read_varint(data, position):
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def fields(data):
    """(field number, wire type, value) of each field; value is bytes or int."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = read_varint(data, position)
        elif wire == 2:
            length, position = read_varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire == 1:
            value, position = data[position:position + 8], position + 8
        elif wire == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def length_delimited(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def argument(argv, name):
    prefix = f"--{name}="
    for arg in argv:
        if arg.startswith(prefix):
            return arg[len(prefix):]
    return None


def fetch_blob(remote, digest_hash, size, directory):
    destination = os.path.join(directory, "fetched")
    os.mkdir(destination)
    subprocess.run(
        [CASDOWNLOAD, f"--remote={remote}", f"--destination-dir={destination}",
         f"--file-digest={digest_hash}/{size}"],
        check=True, stdout=subprocess.DEVNULL,
    )
    (name,) = os.listdir(destination)
    with open(os.path.join(destination, name), "rb") as handle:
        return handle.read()


def main(argv):
    action_path = argument(argv, "action")
    remote = argument(argv, "remote")
    if action_path is None or remote is None or "--validate-parameters" in argv:
        os.execv(REAL_RUNNER, [REAL_RUNNER, *argv])

    with open(action_path, "rb") as handle:
        action = handle.read()
    digest = next(value for number, wire, value in fields(action) if number == ACTION_COMMAND_DIGEST)
    digest_fields = {number: value for number, _, value in fields(digest)}
    command_hash = digest_fields[DIGEST_HASH].decode()
    command_size = digest_fields.get(DIGEST_SIZE, 0)

    with tempfile.TemporaryDirectory(prefix="output-paths-runner-") as scratch:
        command = fetch_blob(remote, command_hash, command_size, scratch)
        parsed = list(fields(command))
        if any(number == COMMAND_OUTPUT_PATHS for number, _, _ in parsed):
            os.execv(REAL_RUNNER, [REAL_RUNNER, *argv])
        legacy = sorted(
            value for number, _, value in parsed if number in (COMMAND_OUTPUT_FILES, COMMAND_OUTPUT_DIRECTORIES)
        )
        rewritten = command + b"".join(length_delimited(COMMAND_OUTPUT_PATHS, path) for path in legacy)
        rewritten_path = os.path.join(scratch, "command.rewritten")
        with open(rewritten_path, "wb") as handle:
            handle.write(rewritten)
        subprocess.run([CASUPLOAD, f"--remote={remote}", rewritten_path], check=True, stdout=subprocess.DEVNULL)

        new_digest = length_delimited(DIGEST_HASH, hashlib.sha256(rewritten).hexdigest().encode())
        new_digest += varint(DIGEST_SIZE << 3) + varint(len(rewritten))
        new_action_path = os.path.join(scratch, "action.rewritten")
        with open(new_action_path, "wb") as handle:
            # A later occurrence of a singular message field is merged into the earlier one:
            # both of Digest's fields are set, so the new digest replaces the old.
            handle.write(action + length_delimited(ACTION_COMMAND_DIGEST, new_digest))
        args = [f"--action={new_action_path}" if arg.startswith("--action=") else arg for arg in argv]
        return subprocess.run([REAL_RUNNER, *args]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
