//! The verification record: proof, written by the action that produced or pulled an image,
//! that every blob of the image was hashed against its digest.
//!
//! Bazel re-runs an action whenever its inputs or outputs change, so a record that travels
//! with a layout through the action graph lets the next action trust that layout's blobs
//! after checking only their sizes and the manifest chain: a base is hashed once, not on
//! every edit of the application above it. A layout handed over without a record is hashed
//! in full.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::json::to_canonical_json;
use crate::layout::{Image, Layout};
use crate::output::write_file_atomic;

/// The `schema` field of every record this version writes and reads.
pub const VERIFIED_RECORD_SCHEMA: &str = "pyoci.verified.v1";

/// Digests and sizes of an image's manifest, config and layers, all checked against their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedRecord {
    pub schema: String,
    pub manifest_digest: String,
    /// digest -> size of every blob the manifest names (config and layers).
    pub blobs: BTreeMap<String, u64>,
}

impl VerifiedRecord {
    /// The record of an image whose blobs the caller has verified (or has just written).
    pub fn of_image(image: &Image) -> VerifiedRecord {
        let config = image.manifest.config();
        let mut blobs = BTreeMap::new();
        blobs.insert(config.digest().to_string(), config.size());
        for layer in image.manifest.layers() {
            blobs.insert(layer.digest().to_string(), layer.size());
        }
        VerifiedRecord {
            schema: VERIFIED_RECORD_SCHEMA.to_owned(),
            manifest_digest: image.manifest_digest.clone(),
            blobs,
        }
    }

    pub fn read(path: &Path) -> Result<VerifiedRecord> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let record: VerifiedRecord = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            error: source,
        })?;
        let invalid = |reason: String| Error::InvalidDocument {
            path: path.to_path_buf(),
            what: "verification record",
            reason,
        };
        if record.schema != VERIFIED_RECORD_SCHEMA {
            return Err(invalid(format!(
                "schema {:?} is not {VERIFIED_RECORD_SCHEMA:?}",
                record.schema
            )));
        }
        sha256_hex(&record.manifest_digest).map_err(|e| invalid(e.to_string()))?;
        for digest in record.blobs.keys() {
            sha256_hex(digest).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(record)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = to_canonical_json(self).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            error: source,
        })?;
        write_file_atomic(path, &bytes)
    }

    /// Whether this record vouches for a blob of exactly this digest and size.
    pub fn covers(&self, digest: &str, size: u64) -> bool {
        self.blobs.get(digest) == Some(&size)
    }
}

/// Verifies the layers of `image` in `layout`. Blobs `record` vouches for are only checked to
/// exist with the recorded size; the rest are hashed. The record must be the image's own
/// (same manifest digest): a record of another image is a wiring mistake, not a shortcut.
/// Returns how many layer blobs were hashed.
pub fn verify_with_record(
    layout: &Layout,
    image: &Image,
    record: Option<(&Path, &VerifiedRecord)>,
) -> Result<usize> {
    let Some((record_path, record)) = record else {
        layout.verify_layers(image)?;
        return Ok(image.manifest.layers().len());
    };
    if record.manifest_digest != image.manifest_digest {
        return Err(Error::InvalidDocument {
            path: record_path.to_path_buf(),
            what: "verification record",
            reason: format!(
                "it is for manifest {}, but {} holds {}",
                record.manifest_digest,
                layout.root().display(),
                image.manifest_digest
            ),
        });
    }
    let mut unrecorded = Vec::new();
    for layer in image.manifest.layers() {
        let digest = layer.digest().to_string();
        if record.covers(&digest, layer.size()) {
            layout.check_blob_size(layer)?;
        } else {
            unrecorded.push(layer.clone());
        }
    }
    layout.verify_blobs(&unrecorded)?;
    Ok(unrecorded.len())
}
