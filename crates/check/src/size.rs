//! The size report: what each layer weighs, compressed and not, and where
//! its bytes are.

use serde::Serialize;

use crate::imagefs::{ImageFs, SIZE_REPORT_DEPTH};
use pyoci_manifest::Image;

/// Directories listed per layer, largest first.
pub const TOP_DIRECTORIES: usize = 10;

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SizeReport {
    pub manifest_digest: String,
    pub config_digest: String,
    pub config_size: u64,
    /// Directories are cut at this depth, files aggregated into them.
    pub directory_depth: usize,
    pub layers: Vec<LayerReport>,
    pub totals: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct LayerReport {
    pub index: usize,
    pub digest: String,
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub files: u64,
    /// Whether the layer belongs to the application (not the base).
    pub application: bool,
    pub top_directories: Vec<DirectoryReport>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryReport {
    pub path: String,
    pub bytes: u64,
    pub files: u64,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub layers: usize,
    /// Compressed layers plus the config blob; what `--max-size` limits.
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub files: u64,
}

pub fn report(
    image: &Image,
    fs: &ImageFs,
    application_layers: &[bool],
    max_size: Option<u64>,
) -> SizeReport {
    let layers: Vec<LayerReport> = fs
        .layers
        .iter()
        .map(|layer| {
            let mut dirs: Vec<DirectoryReport> = layer
                .dirs
                .iter()
                .map(|(path, usage)| DirectoryReport {
                    path: path.clone(),
                    bytes: usage.bytes,
                    files: usage.files,
                })
                .collect();
            dirs.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
            dirs.truncate(TOP_DIRECTORIES);
            LayerReport {
                index: layer.index,
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
                diff_id: layer.diff_id.clone(),
                compressed_size: layer.compressed_size,
                uncompressed_size: layer.uncompressed_size,
                files: layer.files,
                application: application_layers.get(layer.index).copied().unwrap_or(true),
                top_directories: dirs,
            }
        })
        .collect();
    let config_size = image.manifest.config().size();
    let totals = Totals {
        layers: layers.len(),
        compressed_size: layers.iter().map(|l| l.compressed_size).sum::<u64>() + config_size,
        uncompressed_size: layers.iter().map(|l| l.uncompressed_size).sum(),
        files: layers.iter().map(|l| l.files).sum(),
    };
    SizeReport {
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.manifest.config().digest().to_string(),
        config_size,
        directory_depth: SIZE_REPORT_DEPTH,
        layers,
        totals,
        max_size,
    }
}
