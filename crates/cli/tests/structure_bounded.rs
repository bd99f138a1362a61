//! `pyoci test` content checks read a bounded amount: a layer holding a 1.1 GB file of zeros
//! (about 1 MB gzipped, a compression bomb) costs one streaming pass, not 1.1 GB of memory.
//! The file's content test fails with its size; the small file beside it, and the small
//! version that replaces a big file of a lower layer, are read and pass.

#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;
#[path = "../../../tests/support/tools.rs"]
mod tools;

use std::path::Path;
use std::process::Command;

use pyoci::*;
use tools::require_tool;

const BOMB_BYTES: u64 = 1_100_000_000;
const PEAK_LIMIT_KB: u64 = 200 * 1024;

fn layer(dir: &Path, name: &str, files: &[(&str, &Path)]) -> String {
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|(path, source)| serde_json::json!({"path": path, "source": source}))
        .collect();
    let spec = dir.join(format!("{name}.json"));
    std::fs::write(&spec, serde_json::json!({ "entries": entries }).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let blob = dir.join(format!("{name}.tar.gz"));
    let descriptor = dir.join(format!("{name}.descriptor.json"));
    pyoci_ok(
        pyoci()
            .args(["layer", "--spec"])
            .arg(&spec)
            .arg("-o")
            .arg(&blob)
            .arg("--descriptor-out")
            .arg(&descriptor),
    );
    format!("{}={}", blob.display(), descriptor.display())
}

#[test]
fn content_tests_read_bounded_bytes_from_a_gzip_bomb() {
    require_tool("/usr/bin/time");
    let dir = tempfile::Builder::new()
        .prefix("pyoci-structure-bomb-")
        .tempdir()
        .unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let bomb = d.join("bomb.bin");
    std::fs::File::create(&bomb)
        .and_then(|f| f.set_len(BOMB_BYTES))
        .unwrap_or_else(|e| panic!("{e}"));
    // A lower layer's big file that a later layer replaces is never read either.
    let replaced = d.join("replaced.bin");
    std::fs::File::create(&replaced)
        .and_then(|f| f.set_len(100_000_000))
        .unwrap_or_else(|e| panic!("{e}"));
    let small = d.join("small.txt");
    std::fs::write(&small, "port: 8080\n").unwrap_or_else(|e| panic!("{e}"));
    let lower = layer(
        d,
        "lower",
        &[("/data/bomb.bin", &bomb), ("/data/replaced.txt", &replaced)],
    );
    let upper = layer(
        d,
        "upper",
        &[("/data/replaced.txt", &small), ("/data/small.txt", &small)],
    );
    let image = d.join("image");
    pyoci_ok(
        pyoci()
            .args(["image", "--layer", &lower, "--layer", &upper, "-o"])
            .arg(&image),
    );
    let compressed: u64 = std::fs::read_dir(image.join("blobs/sha256"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(
        compressed < 10_000_000,
        "the bomb should compress well: {compressed} bytes"
    );

    let spec = d.join("spec.yaml");
    std::fs::write(
        &spec,
        "schemaVersion: 2.0.0\n\
         fileContentTests:\n\
         - name: bomb\n  path: /data/bomb.bin\n  excludedContents: ['x']\n\
         - name: replaced\n  path: /data/replaced.txt\n  expectedContents: ['port: 8080']\n\
         - name: small\n  path: /data/small.txt\n  expectedContents: ['^port: 8080$|8080']\n\
         fileExistenceTests:\n\
         - name: bomb exists\n  path: /data/bomb.bin\n  permissions: '-rw-r--r--'\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = output(
        Command::new("/usr/bin/time")
            .args(["-f", "peak_kb=%M"])
            .arg(env!("CARGO_BIN_EXE_pyoci"))
            .arg("test")
            .arg(&image)
            .arg("--spec")
            .arg(&spec),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak_kb: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_kb="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in:\n{stderr}"));
    eprintln!(
        "pyoci test on a {BOMB_BYTES}-byte file: peak {} MB",
        peak_kb / 1024
    );
    assert!(
        peak_kb < PEAK_LIMIT_KB,
        "peak memory {peak_kb} KB is over 200 MB\n{stdout}\n{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "FAIL file content: bomb: /data/bomb.bin is {BOMB_BYTES} bytes, more than the 33554432 bytes content tests read (raise --max-file-bytes)"
        )),
        "{stdout}"
    );
    for pass in [
        "PASS file content: replaced",
        "PASS file content: small",
        "PASS file existence: bomb exists",
    ] {
        assert!(
            stdout.lines().any(|l| l == pass),
            "{pass} missing:\n{stdout}"
        );
    }
}
