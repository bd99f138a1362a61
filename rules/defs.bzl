"""Public API: loading, pushing and promoting images; testing and scanning images; linting BUILD files.

    load("@rules_pyoci//rules:defs.bzl", "oci_load", "oci_promote", "oci_push", "py_image_scan", "py_image_test", "pyoci_lint_test")
"""

load("//rules/private:image_test.bzl", _py_image_test = "py_image_test")
load("//rules/private:lint_test.bzl", _pyoci_lint_test = "pyoci_lint_test")
load("//rules/private:load.bzl", _oci_load = "oci_load")
load("//rules/private:push.bzl", _oci_promote = "oci_promote", _oci_push = "oci_push")
load("//rules/private:scan.bzl", _py_image_scan = "py_image_scan")
load("//rules/private:providers.bzl", _OciImageInfo = "OciImageInfo")

oci_load = _oci_load
oci_push = _oci_push
oci_promote = _oci_promote
py_image_scan = _py_image_scan
py_image_test = _py_image_test
pyoci_lint_test = _pyoci_lint_test
OciImageInfo = _OciImageInfo
