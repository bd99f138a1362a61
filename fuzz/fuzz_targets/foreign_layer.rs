//! Any bytes as a tarball given to `pyoci image --layer` without a descriptor (py_image `tars`):
//! the member-by-member check must accept or refuse with an error, never panic, and what it
//! accepts must be a layer `pyoci image` builds on and the image filesystem reader can read.
//!
//! Input: one byte of allowances (bit 0: devices, bit 1: setuid), then the uncompressed tar.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pyoci_manifest::{build_image, check_foreign_tar, ForeignRules, ImageSpec, LayerInput, Layout};

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("pyoci-fuzz-foreign-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, tar)) = data.split_first() else { return };
    let rules = ForeignRules { allow_devices: flags & 1 != 0, allow_setuid: flags & 2 != 0 };
    let blob = scratch().join("layer.tar");
    if check_foreign_tar(tar, &blob, rules).is_err() {
        return;
    }
    std::fs::write(&blob, tar).expect("writing the layer");
    let spec = ImageSpec {
        base: None,
        platform: None,
        layers: vec![LayerInput { blob: blob.clone(), descriptor: None, created_by: None, foreign_rules: rules }],
        changes: Default::default(),
        created: "1970-01-01T00:00:00Z".to_owned(),
        ref_name: "latest".to_owned(),
        omit_base_blobs: false,
    };
    let output = scratch().join("image");
    build_image(&spec, &output).expect("a tarball the check accepts must build");
    let layout = Layout::open(&output).expect("an image pyoci wrote must open");
    let image = layout.image(None).expect("an image pyoci wrote must read back");
    // The reader may still refuse (e.g. a layer it cannot apply), but must not panic.
    let _ = pyoci_check::gates::check(&layout, &image, &pyoci_check::gates::Policy::default());
});
