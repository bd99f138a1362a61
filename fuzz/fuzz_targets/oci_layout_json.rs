//! Any bytes as the JSON of a base image layout: reading it (`Layout::open`, `image`,
//! `verify_layers`, `inspect`) and building an image on it (`build_image`, with config changes
//! parsed from the input too) must succeed or return an error, never panic.
//!
//! Input: up to five parts separated by "\n###\n": index.json, the manifest, the config, one
//! layer blob, and a --config-json document. The manifest, config and layer are stored as blobs
//! under their real digests, and `$MD`/`$MS`, `$CD`/`$CS`, `$LD`/`$LS` in the documents are
//! replaced by the manifest's, config's and layer's digest and size, so mutations get past
//! digest checks to the parsers.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pyoci_manifest::{build_image, inspect, sha256_digest, ConfigChanges, ImageSpec, Layout};

const SEPARATOR: &[u8] = b"\n###\n";

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("pyoci-fuzz-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() < 4 {
        match rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

fn substitute(document: &[u8], replacements: &[(&str, String)]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(document).into_owned();
    if !text.contains('$') {
        return document.to_vec();
    }
    for (placeholder, value) in replacements {
        text = text.replace(placeholder, value);
    }
    text.into_bytes()
}

fn store(blobs: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).expect("writing a blob");
    digest
}

fuzz_target!(|data: &[u8]| {
    let parts = split(data);
    let part = |i: usize| parts.get(i).copied().unwrap_or(b"");
    let layout = scratch().join("layout");
    let _ = std::fs::remove_dir_all(&layout);
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("layout directory");
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");

    let layer = part(3);
    let layer_digest = store(&blobs, layer);
    let config = substitute(part(2), &[("$LD", layer_digest.clone()), ("$LS", layer.len().to_string())]);
    let config_digest = store(&blobs, &config);
    let manifest = substitute(
        part(1),
        &[
            ("$CD", config_digest),
            ("$CS", config.len().to_string()),
            ("$LD", layer_digest),
            ("$LS", layer.len().to_string()),
        ],
    );
    let manifest_digest = store(&blobs, &manifest);
    let index = substitute(part(0), &[("$MD", manifest_digest), ("$MS", manifest.len().to_string())]);
    std::fs::write(layout.join("index.json"), &index).expect("index.json");

    let Ok(opened) = Layout::open(&layout) else { return };
    let _ = opened.ref_names();
    let _ = opened.image(Some("latest"));
    let Ok(image) = opened.image(None) else { return };
    let _ = opened.verify_layers(&image);
    let _ = inspect(&layout, None);

    let changes: ConfigChanges = serde_json::from_slice(part(4)).unwrap_or_default();
    let spec = ImageSpec {
        base: Some((layout.clone(), None)),
        platform: None,
        layers: Vec::new(),
        changes,
        created: "1970-01-01T00:00:00Z".to_owned(),
        ref_name: "latest".to_owned(),
        omit_base_blobs: false,
    };
    let output = scratch().join("image");
    if build_image(&spec, &output).is_ok() {
        let rebuilt = Layout::open(&output).and_then(|l| l.image(None).map(|i| (l, i)));
        let (rebuilt_layout, rebuilt_image) = rebuilt.expect("an image pyoci wrote must read back");
        rebuilt_layout.verify_layers(&rebuilt_image).expect("layers of an image pyoci wrote must verify");
    }
});
