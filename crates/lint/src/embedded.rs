//! This repository's rules, compiled into the binary (see `build.rs`).

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// The embedded file at `path` (e.g. `rules/oci_python.bzl`).
pub(crate) fn get(path: &str) -> Option<&'static str> {
    EMBEDDED_RULES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
}

/// The exported names users load from the rules' public entry points, with the file to load
/// them from, for "did you forget to load" hints.
pub(crate) const PUBLIC_SYMBOLS: &[(&str, &str)] = &[
    ("py_image", "@rules_pyoci//rules:oci_python.bzl"),
    ("py_service_image", "@rules_pyoci//rules:oci_python.bzl"),
    ("oci_load", "@rules_pyoci//rules:defs.bzl"),
    ("oci_push", "@rules_pyoci//rules:defs.bzl"),
];
