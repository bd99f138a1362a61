//! Any bytes, evaluated as a .bzl file (with `def`, loops and `rule()`), whose macros a BUILD file
//! could call.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pyoci_lint::lint_bytes("defs.bzl", data);
});
