//! Any bytes as the layer of an OCI image layout read by `pyoci check`, `sbom` and `test`: the
//! image filesystem reader (whiteouts, links, implied parents, huge names), the gates and the
//! SBOM must succeed or return an error, never panic, in bounded time and memory. pyoci reads
//! no docker archives (it only writes them), so this is the layout reader's layer path; the
//! layout's JSON is fuzzed by oci_layout_json.
//!
//! Input: the layer blob (plain tar, or gzip/zstd recognised from its first bytes); the index,
//! manifest and config around it are written here with the blob's real digest.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pyoci_check::imagefs::ImageFs;
use pyoci_manifest::{sha256_digest, Layout};

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("pyoci-fuzz-layers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fn store(blobs: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).expect("writing a blob");
    digest
}

fuzz_target!(|data: &[u8]| {
    let layout = scratch().join("layout");
    let _ = std::fs::remove_dir_all(&layout);
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout directory");
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let layer_digest = store(&blobs, data);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"User": "nonroot"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let config_digest = store(&blobs, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": data.len()}],
    })
    .to_string();
    let manifest_digest = store(&blobs, manifest.as_bytes());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len()}]});
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index.json");

    let opened = Layout::open(&layout).expect("the layout written here opens");
    let image = opened.image(None).expect("the image written here reads");
    if let Ok(fs) = ImageFs::read(&opened, &image, &|p| p.starts_with("/etc/") || p.ends_with("METADATA"), None) {
        for path in ["/", "/etc/passwd", "/app/x/../y", "/usr/bin/python3", "/a/b/c"] {
            let _ = fs.resolve(path, true);
            let _ = fs.read_file(path);
            let _ = fs.get(path);
        }
        let options = pyoci_check::sbom::SbomOptions { name: "fuzz".into(), created: None, creator: "fuzz".into() };
        let _ = pyoci_check::sbom::from_fs(&fs, &image, &options);
    }
    let _ = pyoci_check::gates::check(&opened, &image, &pyoci_check::gates::Policy::default());
});
