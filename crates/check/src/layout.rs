//! Reading OCI image layouts, with the API of pyoci-manifest's `Layout`.
//!
//! pyoci-manifest is being written in parallel; this module mirrors its
//! contract (`Layout::open`, `image`, `blob_path`, `read_blob`, `Image`) so the
//! rest of the crate switches to it by replacing this file with a re-export.

use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

pub struct Layout {
    root: PathBuf,
}

pub struct Image {
    pub manifest_digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    pub manifest_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
}

impl Layout {
    pub fn open(root: &Path) -> Result<Layout> {
        let marker = root.join("oci-layout");
        if !marker.is_file() {
            return Err(Error::Layout {
                path: root.to_path_buf(),
                reason: "no oci-layout file (is this an OCI image layout directory?)".into(),
            });
        }
        if !root.join("index.json").is_file() {
            return Err(Error::Layout {
                path: root.to_path_buf(),
                reason: "no index.json".into(),
            });
        }
        Ok(Layout {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        self.root.join("blobs").join(algorithm).join(hex)
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let actual = format!("sha256:{}", crate::hex(&Sha256::digest(&bytes)));
        if actual != digest {
            return Err(self.invalid(format!("blob {digest} has digest {actual}")));
        }
        Ok(bytes)
    }

    pub fn image(&self, ref_name: Option<&str>) -> Result<Image> {
        let index_path = self.root.join("index.json");
        let index_bytes = std::fs::read(&index_path).map_err(|source| Error::Io {
            path: index_path.clone(),
            source,
        })?;
        let index: ImageIndex = serde_json::from_slice(&index_bytes)
            .map_err(|e| self.invalid(format!("index.json: {e}")))?;
        let candidates: Vec<_> = index
            .manifests()
            .iter()
            .filter(|d| match ref_name {
                None => true,
                Some(name) => d
                    .annotations()
                    .as_ref()
                    .and_then(|a| a.get(REF_NAME_ANNOTATION))
                    .is_some_and(|n| n == name),
            })
            .collect();
        let descriptor = match (candidates.as_slice(), ref_name) {
            ([one], _) => *one,
            ([], Some(name)) => {
                return Err(self.invalid(format!("no manifest with ref name {name:?} in index.json")))
            }
            ([], None) => return Err(self.invalid("index.json lists no manifests".into())),
            (_, _) => {
                return Err(self.invalid(
                    "index.json lists several manifests; choose one with --ref".into(),
                ))
            }
        };
        let digest = descriptor.digest().to_string();
        let mut bytes = self.read_blob(&digest)?;
        let mut manifest_digest = digest;
        if descriptor.media_type().to_string().contains("image.index") {
            let nested: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| self.invalid(format!("nested index {manifest_digest}: {e}")))?;
            let chosen = nested
                .manifests()
                .iter()
                .find(|d| {
                    d.platform().as_ref().is_some_and(|p| {
                        p.os().to_string() == "linux" && p.architecture().to_string() == "amd64"
                    })
                })
                .ok_or_else(|| {
                    self.invalid(format!("nested index {manifest_digest} has no linux/amd64 image"))
                })?;
            manifest_digest = chosen.digest().to_string();
            bytes = self.read_blob(&manifest_digest)?;
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| self.invalid(format!("manifest {manifest_digest}: {e}")))?;
        let config_digest = manifest.config().digest().to_string();
        let config_bytes = self.read_blob(&config_digest)?;
        let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
            .map_err(|e| self.invalid(format!("config {config_digest}: {e}")))?;
        Ok(Image {
            manifest_digest,
            manifest,
            config,
            manifest_bytes: bytes,
            config_bytes,
        })
    }

    fn invalid(&self, reason: String) -> Error {
        Error::Layout {
            path: self.root.clone(),
            reason,
        }
    }
}
