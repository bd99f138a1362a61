//! Writing an OCI image layout into a staging directory and committing it in one rename.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::digest::{sha256_digest, sha256_hex};
use crate::error::{Error, Result};
use crate::json::to_canonical_json;
use crate::layout::REF_NAME_ANNOTATION;
use crate::media;
use crate::output::{link_or_copy, write_new_file, StagedDir};

pub(crate) const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// What was written: the digest `index.json` points at (an image manifest or an image index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenImage {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

pub(crate) struct LayoutWriter {
    staged: StagedDir,
    blobs: PathBuf,
    present: BTreeSet<String>,
}

impl LayoutWriter {
    pub(crate) fn new(output: &Path) -> Result<Self> {
        let staged = StagedDir::new(output)?;
        staged.write_file("oci-layout", OCI_LAYOUT_FILE)?;
        staged.create_dir("blobs")?;
        let blobs = staged.create_dir("blobs/sha256")?;
        Ok(LayoutWriter {
            staged,
            blobs,
            present: BTreeSet::new(),
        })
    }

    /// Adds an existing blob file (already verified by the caller) without copying its bytes.
    pub(crate) fn link_blob(&mut self, source: &Path, digest: &str) -> Result<()> {
        let hex = sha256_hex(digest)?;
        if self.present.insert(hex.to_owned()) {
            link_or_copy(source, &self.blobs.join(hex))?;
        }
        Ok(())
    }

    pub(crate) fn add_blob(&mut self, bytes: &[u8]) -> Result<(String, u64)> {
        let digest = sha256_digest(bytes);
        let hex = sha256_hex(&digest)?.to_owned();
        if self.present.insert(hex.clone()) {
            write_new_file(&self.blobs.join(&hex), bytes)?;
        }
        Ok((digest, bytes.len() as u64))
    }

    /// Writes `index_bytes` as `index.json` unchanged and moves the layout into place.
    pub(crate) fn finish_with_index(self, index_bytes: &[u8]) -> Result<()> {
        self.staged.write_file("index.json", index_bytes)?;
        self.staged.commit()
    }

    /// Writes the top manifest (or index) blob, an `index.json` naming it `ref_name`, and
    /// moves the layout into place.
    pub(crate) fn finish_single(
        mut self,
        top_bytes: &[u8],
        media_type: &str,
        ref_name: &str,
        platform: Option<Value>,
    ) -> Result<WrittenImage> {
        let (digest, size) = self.add_blob(top_bytes)?;
        let mut entry = Map::new();
        entry.insert("mediaType".to_owned(), Value::from(media_type));
        entry.insert("digest".to_owned(), Value::from(digest.clone()));
        entry.insert("size".to_owned(), Value::from(size));
        entry.insert(
            "annotations".to_owned(),
            serde_json::json!({ REF_NAME_ANNOTATION: ref_name }),
        );
        if let Some(platform) = platform {
            entry.insert("platform".to_owned(), platform);
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": [Value::Object(entry)],
        });
        let index_bytes = to_canonical_json(&index).map_err(|source| Error::Json {
            path: self.staged.path().join("index.json"),
            error: source,
        })?;
        self.staged.write_file("index.json", &index_bytes)?;
        self.staged.commit()?;
        Ok(WrittenImage {
            digest,
            size,
            media_type: media_type.to_owned(),
        })
    }
}
