//! Any bytes as a .deb: `DebPackage::open` must return a package or an error naming the file,
//! never panic, hang or exhaust memory; a package it accepts must then either make a layer or
//! fail with an error (its member names, links and modes come from the untrusted archive).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pyoci_layer::deb::DebPackage;
use pyoci_layer::{Compression, LayerOptions, LayerWriter};

/// A per-process scratch directory, in memory when /dev/shm exists (fuzz/run_formats.sh
/// removes these afterwards: libFuzzer exits without running destructors).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("pyoci-fuzz-deb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let input = scratch().join("input.deb");
    std::fs::write(&input, data).expect("writing the input");
    let Ok(package) = DebPackage::open(&input) else { return };
    let _ = package.status_entries();
    let options = LayerOptions { compression: Compression::Gzip, level: Some(0), mtime: 0, threads: Some(1) };
    let mut layer = LayerWriter::new(options);
    layer.extend(package.layer_entries());
    let output = scratch().join("layer.tar.gz");
    if let Ok(descriptor) = layer.write(&output) {
        let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
        assert_eq!(descriptor.size, size, "descriptor size differs from the blob written");
    }
});
