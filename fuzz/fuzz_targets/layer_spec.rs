//! Any bytes as a layer spec file (what Bazel writes with json.encode): `spec::parse` must
//! return entries or an error naming the entry, and a layer made from accepted entries must be
//! written or refused with an error, never a panic. Sources are resolved in a small fixture
//! tree; inputs naming absolute sources or `..` are skipped so the fuzzer cannot make the
//! target walk the host's file system.
#![no_main]

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pyoci_layer::{spec, Compression, LayerOptions, LayerWriter};

/// The output directory; the working directory is a fixture tree beside it.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let root = base.join(format!("pyoci-fuzz-spec-{}", std::process::id()));
        let fixture = root.join("fixture");
        std::fs::create_dir_all(fixture.join("bin")).expect("fixture");
        std::fs::create_dir_all(fixture.join("dir/sub")).expect("fixture");
        std::fs::create_dir_all(root.join("out")).expect("fixture");
        std::fs::write(fixture.join("a.txt"), "a\n").expect("fixture");
        std::fs::write(fixture.join("bin/run"), "#!/bin/sh\n").expect("fixture");
        std::fs::set_permissions(fixture.join("bin/run"), std::fs::Permissions::from_mode(0o755)).expect("fixture");
        std::fs::write(fixture.join("dir/x.py"), "x = 1\n").expect("fixture");
        std::fs::write(fixture.join("dir/sub/y"), vec![7u8; 3000]).expect("fixture");
        symlink("../a.txt", fixture.join("dir/link")).expect("fixture");
        symlink("sub", fixture.join("dir/sublink")).expect("fixture");
        std::fs::hard_link(fixture.join("a.txt"), fixture.join("dir/hard")).expect("fixture");
        std::env::set_current_dir(&fixture).expect("entering the fixture");
        root.join("out")
    })
}

/// Sources must stay inside the fixture (the working directory).
fn sources_stay_inside(value: &serde_json::Value) -> bool {
    let Some(entries) = value.get("entries").and_then(|e| e.as_array()) else { return true };
    entries.iter().all(|entry| match entry.get("source").and_then(|s| s.as_str()) {
        Some(source) => !source.starts_with('/') && !source.split('/').any(|part| part == ".."),
        None => true,
    })
}

fuzz_target!(|data: &[u8]| {
    let output = scratch().join("layer.tar.gz");
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if !sources_stay_inside(&value) {
            return;
        }
    }
    let owner = data.first().map(|&b| (u64::from(b), 65532));
    let Ok(entries) = spec::parse(data, Path::new("fuzz.json"), owner) else { return };
    let options = LayerOptions { compression: Compression::Zstd, level: Some(1), mtime: 1_700_000_000, threads: Some(1) };
    let mut layer = LayerWriter::new(options);
    layer.extend(entries);
    if let Ok(descriptor) = layer.write(&output) {
        let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
        assert_eq!(descriptor.size, size, "descriptor size differs from the blob written");
        assert_eq!(descriptor.uncompressed_size % 512, 0, "a tar is whole 512-byte blocks");
    }
});
