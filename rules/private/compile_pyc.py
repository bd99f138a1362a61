"""Writes deterministic bytecode for a layer: `python3.11 compile_pyc.py MANIFEST OUT_DIR`.

MANIFEST is text: the image directory on the first line, then `SOURCE_PATH<TAB>IMAGE_PATH`
lines (not JSON: `json` is not in python3.11-minimal, the only stdlib the compiler has). For each
source, OUT_DIR/IMAGE_DIR_RELATIVE/__pycache__/<stem>.cpython-311.pyc is written with PEP 552
unchecked-hash invalidation (no mtime in the header, and the interpreter never rewrites it),
and the image path as the code's file name, so tracebacks name the file in the image.

Run by the image's own interpreter version (the base's CPython 3.11, extracted from its .deb),
with PYTHONHASHSEED=0 so set constants are marshalled in a fixed order. Files are compiled in
sorted order in one process, so the same inputs give the same bytes.

Only built-in and frozen modules are imported: the stdlib beside the compiler has no bytecode of
its own, and importing py_compile (enum, traceback, tokenize, ...) from source cost ~65 ms of
every action, more than compiling an application's files. The bytes written are those of
`py_compile.compile(..., invalidation_mode=UNCHECKED_HASH)`: the same header and marshalled code.
"""

import _imp
import marshal
import os
import sys
from importlib import _bootstrap_external

# PEP 552 flags: bit 0 = hash-based, bit 1 = check_source. Unchecked: hash-based only.
_UNCHECKED_HASH_FLAGS = (0b01).to_bytes(4, "little")


def pyc_bytes(source, image_path):
    """The .pyc for SOURCE (bytes) as py_compile writes it, or None if it does not compile."""
    try:
        code = compile(source, image_path, "exec", dont_inherit=True)
    except Exception:  # SyntaxError, ValueError (NUL bytes, bad coding cookie), RecursionError
        # A file that does not compile (a Python 2 test, a template named *.py) would fail at
        # import in the image as well; it keeps its source and gets no bytecode.
        return None
    source_hash = _imp.source_hash(_bootstrap_external._RAW_MAGIC_NUMBER, source)
    return _bootstrap_external.MAGIC_NUMBER + _UNCHECKED_HASH_FLAGS + source_hash + marshal.dumps(code)


def main(manifest_path, out_dir):
    with open(manifest_path, encoding="utf-8") as handle:
        root, *lines = handle.read().splitlines()
    os.makedirs(os.path.join(out_dir, root.strip("/")), exist_ok=True)
    tag = sys.implementation.cache_tag
    files = sorted((line.split("\t", 1) for line in lines if line), key=lambda pair: pair[1])
    for source_path, image_path in files:
        with open(source_path, "rb") as handle:
            data = pyc_bytes(handle.read(), image_path)
        if data is None:
            continue
        directory, name = os.path.split(image_path.lstrip("/"))
        cache_dir = os.path.join(out_dir, directory, "__pycache__")
        os.makedirs(cache_dir, exist_ok=True)
        with open(os.path.join(cache_dir, f"{name[:-3]}.{tag}.pyc"), "wb") as handle:
            handle.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: compile_pyc.py MANIFEST OUT_DIR")
    main(sys.argv[1], sys.argv[2])
