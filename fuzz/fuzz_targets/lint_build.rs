//! Any bytes, linted as a BUILD file: the linter must return diagnostics, never crash, hang or
//! exhaust memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pyoci_lint::lint_bytes("BUILD.bazel", data);
});
