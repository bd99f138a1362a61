//! Reading OCI image layouts: `oci-layout`, `index.json`, and verified blobs.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::digest::{digest_reader, sha256_digest, sha256_hex};
use crate::error::{Error, Result};
use crate::media::{is_index_media_type, is_manifest_media_type};

/// The annotation naming an image inside a layout (what `LAYOUT:TAG` refers to).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The platform picked from a multi-platform index.
pub const DEFAULT_OS: &str = "linux";
pub const DEFAULT_ARCHITECTURE: &str = "amd64";

/// Nested indexes deeper than this are refused rather than followed forever.
const MAX_INDEX_DEPTH: usize = 4;

/// An OCI image layout directory on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    index: ImageIndex,
}

/// One image read from a layout, with its manifest and config verified against their digests.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest_digest: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    pub manifest_bytes: Vec<u8>,
    pub config_bytes: Vec<u8>,
}

impl Layout {
    /// Opens a layout, checking its `oci-layout` marker and parsing `index.json`.
    pub fn open(path: &Path) -> Result<Layout> {
        let not_a_layout = |reason: String| Error::NotALayout {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_dir() {
            return Err(not_a_layout(if path.exists() {
                "not a directory".to_owned()
            } else {
                "no such directory".to_owned()
            }));
        }
        let marker_path = path.join("oci-layout");
        let marker = fs::read(&marker_path)
            .map_err(|e| not_a_layout(format!("cannot read oci-layout: {e}")))?;
        let marker: serde_json::Value = serde_json::from_slice(&marker).map_err(|source| Error::Json {
            path: marker_path.clone(),
            error: source,
        })?;
        match marker.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some(version) if version.starts_with("1.") => {}
            other => {
                return Err(Error::InvalidDocument {
                    path: marker_path,
                    what: "imageLayoutVersion",
                    reason: format!("expected 1.x, found {other:?}"),
                })
            }
        }
        let index_path = path.join("index.json");
        let index_bytes = fs::read(&index_path)
            .map_err(|e| not_a_layout(format!("cannot read index.json: {e}")))?;
        let index = parse_index(&index_path, &index_bytes)?;
        Ok(Layout {
            root: path.to_path_buf(),
            index,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The top-level `index.json`.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The ref names (`org.opencontainers.image.ref.name`) listed in `index.json`.
    pub fn ref_names(&self) -> Vec<String> {
        self.index
            .manifests()
            .iter()
            .filter_map(|d| ref_name_of(d).map(str::to_owned))
            .collect()
    }

    /// Where a blob lives: `blobs/<algorithm>/<encoded>`. The digest is not checked here;
    /// the reading functions refuse anything but well-formed sha256 digests.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (algorithm, encoded) = digest.split_once(':').unwrap_or(("sha256", digest));
        self.root.join("blobs").join(algorithm).join(encoded)
    }

    /// Reads a whole blob and checks it against its digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        sha256_hex(digest)?;
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|e| self.missing_or_io(&path, digest, e))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(Error::DigestMismatch {
                path,
                expected: digest.to_owned(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Reads a blob and checks both its size and digest against a descriptor.
    pub fn read_described_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let digest = descriptor.digest().to_string();
        sha256_hex(&digest)?;
        let path = self.blob_path(&digest);
        let bytes = fs::read(&path).map_err(|e| self.missing_or_io(&path, &digest, e))?;
        if bytes.len() as u64 != descriptor.size() {
            return Err(Error::SizeMismatch {
                path,
                expected: descriptor.size(),
                actual: bytes.len() as u64,
            });
        }
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(Error::DigestMismatch {
                path,
                expected: digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Streams a blob through sha256 and checks size and digest against its descriptor,
    /// without holding it in memory. Returns the blob's path.
    pub fn verify_blob(&self, descriptor: &Descriptor) -> Result<PathBuf> {
        let digest = descriptor.digest().to_string();
        sha256_hex(&digest)?;
        let path = self.blob_path(&digest);
        let mut file = File::open(&path).map_err(|e| self.missing_or_io(&path, &digest, e))?;
        let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if size != descriptor.size() {
            return Err(Error::SizeMismatch {
                path,
                expected: descriptor.size(),
                actual: size,
            });
        }
        let (actual, _) = digest_reader(&mut file).map_err(|e| Error::io(&path, e))?;
        if actual != digest {
            return Err(Error::DigestMismatch {
                path,
                expected: digest,
                actual,
            });
        }
        Ok(path)
    }

    /// Verifies every layer blob of an image (the manifest and config were verified when
    /// the image was read).
    pub fn verify_layers(&self, image: &Image) -> Result<()> {
        self.verify_blobs(image.manifest.layers())
    }

    /// Checks that a blob exists with its descriptor's size, without reading it.
    pub fn check_blob_size(&self, descriptor: &Descriptor) -> Result<PathBuf> {
        let digest = descriptor.digest().to_string();
        sha256_hex(&digest)?;
        let path = self.blob_path(&digest);
        let size = fs::metadata(&path).map_err(|e| self.missing_or_io(&path, &digest, e))?.len();
        if size != descriptor.size() {
            return Err(Error::SizeMismatch {
                path,
                expected: descriptor.size(),
                actual: size,
            });
        }
        Ok(path)
    }

    /// Hashes blobs against their descriptors, on every core at once: a full read of a base
    /// happens only here.
    pub fn verify_blobs(&self, blobs: &[Descriptor]) -> Result<()> {
        let layers = blobs;
        if layers.is_empty() {
            return Ok(());
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(layers.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            match layers.get(i) {
                                Some(layer) => {
                                    self.verify_blob(layer)?;
                                }
                                None => return Ok(()),
                            }
                        }
                    })
                })
                .collect();
            let mut first_error = Ok(());
            for handle in handles {
                let outcome = handle.join().unwrap_or_else(|_| {
                    Err(Error::io(
                        &self.root,
                        std::io::Error::other("a verification thread panicked"),
                    ))
                });
                if first_error.is_ok() {
                    first_error = outcome;
                }
            }
            first_error
        })
    }

    /// Resolves `index.json` to one image manifest. With a ref name, the entry carrying that
    /// `org.opencontainers.image.ref.name`; without, the only entry. An entry that is itself an
    /// index resolves to its linux/amd64 image.
    pub fn image(&self, ref_name: Option<&str>) -> Result<Image> {
        let descriptor = self.select_entry(ref_name)?;
        self.resolve(descriptor, 0)
    }

    /// The top-level `index.json` entry an image reference picks, without following it.
    pub fn select_entry(&self, ref_name: Option<&str>) -> Result<&Descriptor> {
        let manifests = self.index.manifests();
        match ref_name {
            Some(wanted) => {
                let mut matching = manifests.iter().filter(|d| ref_name_of(d) == Some(wanted));
                let first = matching.next().ok_or_else(|| Error::RefNotFound {
                    layout: self.root.clone(),
                    ref_name: wanted.to_owned(),
                    available: self.ref_names(),
                })?;
                if matching.any(|other| other.digest() != first.digest()) {
                    return Err(Error::InvalidDocument {
                        path: self.root.join("index.json"),
                        what: "index.json",
                        reason: format!("ref name {wanted:?} names more than one image"),
                    });
                }
                Ok(first)
            }
            None => match manifests.as_slice() {
                [only] => Ok(only),
                _ => Err(Error::AmbiguousImage {
                    layout: self.root.clone(),
                    count: manifests.len(),
                    available: self.ref_names(),
                }),
            },
        }
    }

    /// Every blob `index.json` reaches: nested indexes and manifests (read and verified),
    /// configs and layers (named only), each once, in the order they are reached.
    pub fn reachable_blobs(&self) -> Result<Vec<Descriptor>> {
        let mut reached = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for entry in self.index.manifests() {
            self.reach(entry, 0, &mut seen, &mut reached)?;
        }
        Ok(reached)
    }

    fn reach(
        &self,
        descriptor: &Descriptor,
        depth: usize,
        seen: &mut std::collections::BTreeSet<String>,
        reached: &mut Vec<Descriptor>,
    ) -> Result<()> {
        let digest = descriptor.digest().to_string();
        if !seen.insert(digest.clone()) {
            return Ok(());
        }
        reached.push(descriptor.clone());
        let media_type = descriptor.media_type().to_string();
        if is_manifest_media_type(&media_type) {
            let image = self.read_image(descriptor)?;
            for blob in std::iter::once(image.manifest.config()).chain(image.manifest.layers()) {
                if seen.insert(blob.digest().to_string()) {
                    reached.push(blob.clone());
                }
            }
            return Ok(());
        }
        if !is_index_media_type(&media_type) {
            return Err(Error::UnsupportedMediaType {
                path: self.blob_path(&digest),
                what: "an index entry",
                media_type,
            });
        }
        if depth >= MAX_INDEX_DEPTH {
            return Err(Error::InvalidDocument {
                path: self.blob_path(&digest),
                what: "image index",
                reason: format!("indexes nested more than {MAX_INDEX_DEPTH} deep"),
            });
        }
        let bytes = self.read_described_blob(descriptor)?;
        let nested = parse_index(&self.blob_path(&digest), &bytes)?;
        for entry in nested.manifests() {
            self.reach(entry, depth + 1, seen, reached)?;
        }
        Ok(())
    }

    fn resolve(&self, descriptor: &Descriptor, depth: usize) -> Result<Image> {
        let media_type = descriptor.media_type().to_string();
        if is_manifest_media_type(&media_type) {
            return self.read_image(descriptor);
        }
        if !is_index_media_type(&media_type) {
            return Err(Error::UnsupportedMediaType {
                path: self.blob_path(descriptor.digest().as_ref()),
                what: "an index.json entry",
                media_type,
            });
        }
        let digest = descriptor.digest().to_string();
        if depth >= MAX_INDEX_DEPTH {
            return Err(Error::InvalidDocument {
                path: self.blob_path(&digest),
                what: "image index",
                reason: format!("indexes nested more than {MAX_INDEX_DEPTH} deep"),
            });
        }
        let bytes = self.read_described_blob(descriptor)?;
        let nested = parse_index(&self.blob_path(&digest), &bytes)?;
        let chosen = nested
            .manifests()
            .iter()
            .find(|entry| {
                entry.platform().as_ref().is_some_and(|p| {
                    p.os().to_string() == DEFAULT_OS && p.architecture().to_string() == DEFAULT_ARCHITECTURE
                })
            })
            .ok_or_else(|| Error::PlatformNotFound {
                layout: self.root.clone(),
                digest: digest.clone(),
                platform: format!("{DEFAULT_OS}/{DEFAULT_ARCHITECTURE}"),
            })?;
        self.resolve(chosen, depth + 1)
    }

    fn read_image(&self, descriptor: &Descriptor) -> Result<Image> {
        let manifest_digest = descriptor.digest().to_string();
        let manifest_path = self.blob_path(&manifest_digest);
        let manifest_bytes = self.read_described_blob(descriptor)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| Error::Json {
                path: manifest_path.clone(),
                error: source,
            })?;
        let config_media_type = manifest.config().media_type().to_string();
        if !crate::media::is_config_media_type(&config_media_type) {
            return Err(Error::UnsupportedMediaType {
                path: manifest_path,
                what: "the image config",
                media_type: config_media_type,
            });
        }
        let config_bytes = self.read_described_blob(manifest.config())?;
        let config_path = self.blob_path(manifest.config().digest().as_ref());
        let config: ImageConfiguration =
            serde_json::from_slice(&config_bytes).map_err(|source| Error::Json {
                path: config_path.clone(),
                error: source,
            })?;
        if config.rootfs().diff_ids().len() != manifest.layers().len() {
            return Err(Error::InvalidDocument {
                path: config_path,
                what: "image config",
                reason: format!(
                    "rootfs lists {} diff_ids but the manifest has {} layers",
                    config.rootfs().diff_ids().len(),
                    manifest.layers().len()
                ),
            });
        }
        for layer in manifest.layers() {
            sha256_hex(layer.digest().as_ref())?;
            let media_type = layer.media_type().to_string();
            if crate::media::layer_compression(&media_type).is_none() {
                return Err(Error::UnsupportedMediaType {
                    path: manifest_path,
                    what: "a layer",
                    media_type,
                });
            }
        }
        Ok(Image {
            manifest_digest,
            manifest,
            config,
            manifest_bytes,
            config_bytes,
        })
    }

    fn missing_or_io(&self, path: &Path, digest: &str, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingBlob {
                path: path.to_path_buf(),
                digest: digest.to_owned(),
            }
        } else {
            Error::io(path, e)
        }
    }
}

/// The ref name annotation of an index entry.
pub fn ref_name_of(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME_ANNOTATION))
        .map(String::as_str)
}

fn parse_index(path: &Path, bytes: &[u8]) -> Result<ImageIndex> {
    let index: ImageIndex = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        error: source,
    })?;
    if let Some(media_type) = index.media_type() {
        if !is_index_media_type(media_type.as_ref()) && *media_type != MediaType::ImageIndex {
            return Err(Error::UnsupportedMediaType {
                path: path.to_path_buf(),
                what: "an image index",
                media_type: media_type.to_string(),
            });
        }
    }
    Ok(index)
}
