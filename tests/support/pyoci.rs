//! Helpers for tests of the `pyoci` binary (crates/cli/tests): run it, build bases and a small
//! app image the way a user would. Include with
//! `#[path = "../../../tests/support/pyoci.rs"] mod pyoci;` next to `tools.rs`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::tools::{debs_dir, lock_file};

/// The app the image tests run: the Python version, the uid, and whether the CA bundle loads.
pub const APP_MAIN: &str = "\
import os, platform, ssl
print('Python', platform.python_version())
print('uid', os.getuid())
print('ca certificates', len(ssl.create_default_context().get_ca_certs()) > 100)
";

/// What APP_MAIN prints in the nonroot base.
pub const APP_OUTPUT_NONROOT: &str = "Python 3.11.2\nuid 65532\nca certificates True\n";

pub fn pyoci() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyoci"));
    command.env_remove("SOURCE_DATE_EPOCH").stdin(Stdio::null());
    command
}

pub fn output(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs pyoci, which must succeed; returns stdout.
pub fn pyoci_ok(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs pyoci, which must fail; returns stderr.
pub fn pyoci_fails(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        !out.status.success(),
        "{command:?} should have failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Builds a base variant from the shared .debs, pinned by the committed lock file.
pub fn build_base(variant: &str, output: &Path) -> String {
    pyoci_ok(
        pyoci()
            .args(["base", "--variant", variant, "--debs"])
            .arg(debs_dir())
            .arg("--lock")
            .arg(lock_file())
            .arg("-o")
            .arg(output),
    )
    .trim()
    .to_owned()
}

/// Writes the app's files under `dir/src` and its layer (spec-built) as `dir/app.tar.gz` with
/// its descriptor `dir/app.json`. Returns the `--layer` argument.
pub fn build_app_layer(dir: &Path) -> String {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    std::fs::write(src.join("main.py"), APP_MAIN).unwrap_or_else(|e| panic!("{e}"));
    let spec = serde_json::json!({"entries": [
        {"path": "/app/main.py", "source": src.join("main.py")},
        {"path": "/app", "type": "dir", "mode": "0755"},
    ]});
    let spec_path = dir.join("app-spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let blob = dir.join("app.tar.gz");
    let descriptor = dir.join("app.json");
    pyoci_ok(
        pyoci()
            .args(["layer", "--spec"])
            .arg(&spec_path)
            .arg("-o")
            .arg(&blob)
            .arg("--descriptor-out")
            .arg(&descriptor),
    );
    format!("{}={}", blob.display(), descriptor.display())
}

/// The nonroot base plus the app layer, running /app/main.py. Returns the layout and digest.
pub fn build_app_image(dir: &Path, variant: &str) -> (PathBuf, String) {
    let base = dir.join(format!("base-{variant}"));
    build_base(variant, &base);
    let layer = build_app_layer(dir);
    let image = dir.join("image");
    let digest = pyoci_ok(
        pyoci()
            .args(["image", "--base"])
            .arg(&base)
            .args(["--layer", &layer, "--cmd", r#"["/app/main.py"]"#, "--label", "test=pyoci"])
            .arg("-o")
            .arg(&image),
    )
    .trim()
    .to_owned();
    (image, digest)
}

/// Writes a docker-load tarball of `image` tagged `tag`.
pub fn build_tarball(image: &Path, tag: &str, output: &Path) {
    pyoci_ok(
        pyoci()
            .args(["tarball", "--image"])
            .arg(image)
            .args(["--tag", tag, "-o"])
            .arg(output),
    );
}

pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// The manifest `index.json` points at (for a single-image layout).
pub fn manifest_of(layout: &Path) -> (String, Value) {
    let index = read_json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap_or_default().to_owned();
    let manifest = read_json(&blob_path(layout, &digest));
    (digest, manifest)
}

pub fn config_of(layout: &Path) -> Value {
    let (_, manifest) = manifest_of(layout);
    read_json(&blob_path(layout, manifest["config"]["digest"].as_str().unwrap_or_default()))
}

/// Asserts a failed command left nothing at `output` and no staging files beside it.
pub fn assert_nothing_written(output: &Path) {
    assert!(!output.exists(), "{} exists after a failed run", output.display());
    let parent = output.parent().unwrap_or(Path::new("."));
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".pyoci-") && !name.starts_with(".tmp"),
                "leftover staging file {}",
                entry.path().display()
            );
        }
    }
}

/// Every entry of a tar as `bsdtar -tvf` lists it (an independent tar reader), with runs of
/// spaces collapsed: `drwx------ 0 65532 65532 0 Jan 1 1970 home/nonroot/`.
pub fn list_layer(blob: &Path) -> Vec<String> {
    super::tools::require_tool("bsdtar");
    let out = output(Command::new("bsdtar").arg("-tvf").arg(blob));
    assert!(out.status.success(), "bsdtar -tvf {}: {}", blob.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The names (without leading `./` or `/`) in a layer blob.
pub fn layer_names(blob: &Path) -> Vec<String> {
    super::tools::require_tool("bsdtar");
    let out = output(Command::new("bsdtar").arg("-tf").arg(blob));
    assert!(out.status.success(), "bsdtar -tf {}: {}", blob.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_owned())
        .collect()
}

/// One file's contents from a layer blob, read by bsdtar.
pub fn layer_file(blob: &Path, name: &str) -> Vec<u8> {
    let out = output(Command::new("bsdtar").arg("-xOf").arg(blob).arg(name));
    assert!(out.status.success(), "bsdtar -xOf {} {name}: {}", blob.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Writes `<name>.spec.json` in `dir` from `pyoci layer` spec entries and runs `layer` (the
/// given pyoci command) on it; returns (the layer blob, the `--layer BLOB=DESCRIPTOR`
/// argument of `pyoci image`).
pub fn spec_layer(pyoci: &mut Command, dir: &Path, name: &str, entries: Value) -> (PathBuf, String) {
    let spec = dir.join(format!("{name}.spec.json"));
    std::fs::write(&spec, serde_json::json!({ "entries": entries }).to_string()).expect("write spec");
    let blob = dir.join(format!("{name}.tar.gz"));
    let descriptor = dir.join(format!("{name}.descriptor.json"));
    super::tools::run_ok(
        pyoci
            .args(["layer", "--spec"])
            .arg(&spec)
            .arg("-o")
            .arg(&blob)
            .arg("--descriptor-out")
            .arg(&descriptor),
    );
    let arg = format!("{}={}", blob.display(), descriptor.display());
    (blob, arg)
}
