"""Writes deterministic bytecode for a layer: `python3.11 compile_pyc.py MANIFEST OUT_DIR`.

MANIFEST is text: the image directory on the first line, then `SOURCE_PATH<TAB>IMAGE_PATH`
lines (not JSON: `json` is not in python3.11-minimal, the only stdlib the compiler has). For each
source, OUT_DIR/IMAGE_DIR_RELATIVE/__pycache__/<stem>.cpython-311.pyc is written with PEP 552
unchecked-hash invalidation (no mtime in the header, and the interpreter never rewrites it),
and the image path as the code's file name, so tracebacks name the file in the image.

Run by the image's own interpreter version (the base's CPython 3.11, extracted from its .deb),
with PYTHONHASHSEED=0 so set constants are marshalled in a fixed order. Files are compiled in
sorted order in one process, so the same inputs give the same bytes.
"""

import os
import py_compile
import sys


def main(manifest_path, out_dir):
    with open(manifest_path, encoding="utf-8") as handle:
        root, *lines = handle.read().splitlines()
    os.makedirs(os.path.join(out_dir, root.strip("/")), exist_ok=True)
    tag = sys.implementation.cache_tag
    files = sorted((line.split("\t", 1) for line in lines if line), key=lambda pair: pair[1])
    for source, image_path in files:
        directory, name = os.path.split(image_path.lstrip("/"))
        cfile = os.path.join(out_dir, directory, "__pycache__", f"{name[:-3]}.{tag}.pyc")
        try:
            py_compile.compile(
                source,
                cfile=cfile,
                dfile=image_path,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            # A file that does not compile (a Python 2 test, a template named *.py) would fail
            # at import in the image as well; it keeps its source and gets no bytecode.
            continue


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: compile_pyc.py MANIFEST OUT_DIR")
    main(sys.argv[1], sys.argv[2])
