//! Multi-platform image indexes over several single-platform image layouts.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::image::validate_ref_name;
use crate::json::to_canonical_json;
use crate::layout::Layout;
use crate::media;
use crate::writer::{LayoutWriter, WrittenImage};

/// Writes a layout at `output` whose `index.json` names (as `ref_name`) one image index listing
/// each input image with its platform, in the order given. All blobs are linked, not copied.
pub fn build_index(images: &[(PathBuf, Option<String>)], ref_name: &str, output: &Path) -> Result<WrittenImage> {
    validate_ref_name(ref_name)?;
    if images.is_empty() {
        return Err(Error::invalid_argument("images", "", "an index needs at least one image"));
    }
    let mut writer = LayoutWriter::new(output)?;
    let mut entries: Vec<Value> = Vec::new();
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    for (path, image_ref) in images {
        let layout = Layout::open(path)?;
        let image = layout.image(image_ref.as_deref())?;
        layout.verify_layers(&image)?;
        for layer in image.manifest.layers() {
            let digest = layer.digest().to_string();
            writer.link_blob(&layout.blob_path(&digest), &digest)?;
        }
        writer.add_blob(&image.config_bytes)?;
        let (digest, size) = writer.add_blob(&image.manifest_bytes)?;

        let config = &image.config;
        let mut platform = Map::new();
        platform.insert("architecture".to_owned(), Value::from(config.architecture().to_string()));
        platform.insert("os".to_owned(), Value::from(config.os().to_string()));
        if let Some(variant) = config.variant() {
            platform.insert("variant".to_owned(), Value::from(variant.clone()));
        }
        if let Some(os_version) = config.os_version() {
            platform.insert("os.version".to_owned(), Value::from(os_version.clone()));
        }
        let platform_name = [config.os().to_string(), config.architecture().to_string()]
            .into_iter()
            .chain(config.variant().clone())
            .collect::<Vec<_>>()
            .join("/");
        if let Some((_, first)) = seen.iter().find(|(name, _)| *name == platform_name) {
            return Err(Error::DuplicatePlatform {
                layout: output.to_path_buf(),
                platform: platform_name,
                first: first.display().to_string(),
                second: path.display().to_string(),
            });
        }
        seen.push((platform_name, path.clone()));

        let manifest_media_type = image
            .manifest
            .media_type()
            .as_ref()
            .map_or_else(|| media::OCI_MANIFEST.to_owned(), |m| m.to_string());
        entries.push(serde_json::json!({
            "mediaType": manifest_media_type,
            "digest": digest,
            "size": size,
            "platform": Value::Object(platform),
        }));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": entries,
    });
    let index_bytes = to_canonical_json(&index).map_err(|source| Error::Json {
        path: output.to_path_buf(),
        error: source,
    })?;
    writer.finish_single(&index_bytes, media::OCI_INDEX, ref_name, None)
}
