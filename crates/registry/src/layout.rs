//! OCI image layouts as the source of a push and the destination of a pull.

use std::path::{Path, PathBuf};

use crate::descriptor::{Descriptor, OCI_INDEX, REF_NAME_ANNOTATION};
use crate::digest::Digest;
use crate::error::{Error, Result};

fn blob_path_in(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm().name())
        .join(digest.hex())
}

/// A layout on disk, read for pushing; opening and entry selection are pyoci-manifest's.
pub struct LayoutReader {
    layout: pyoci_manifest::Layout,
}

impl LayoutReader {
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(LayoutReader {
            layout: pyoci_manifest::Layout::open(dir)?,
        })
    }

    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// The manifest to push: the one whose ref name is `ref_name`, or the only one.
    pub fn root(&self, ref_name: Option<&str>) -> Result<Descriptor> {
        let entry = self.layout.select_entry(ref_name)?;
        let value = serde_json::to_value(entry).map_err(|e| self.bad_entry(e))?;
        serde_json::from_value(value).map_err(|e| self.bad_entry(e))
    }

    fn bad_entry(&self, error: serde_json::Error) -> Error {
        Error::Layout {
            path: self.dir().join("index.json"),
            reason: format!("unreadable entry: {error}"),
        }
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path_in(self.dir(), digest)
    }

    /// A manifest or index blob, checked against its descriptor.
    pub fn read_manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let path = self.blob_path(&descriptor.digest);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        descriptor.digest.verify("manifest", &bytes)?;
        Ok(bytes)
    }
}

/// A layout being written by a pull: everything goes to a hidden directory beside the
/// destination, which replaces the destination only when complete.
pub struct LayoutWriter {
    destination: PathBuf,
    staging: tempfile::TempDir,
}

impl LayoutWriter {
    pub fn create(destination: &Path) -> Result<Self> {
        let parent = match destination.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(&pyoci_manifest::staging_prefix("pull"))
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        for algorithm in ["sha256", "sha512"] {
            let dir = staging.path().join("blobs").join(algorithm);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok(LayoutWriter {
            destination: destination.to_path_buf(),
            staging,
        })
    }

    /// Where downloads wait for verification (same filesystem, so moving them is a rename).
    pub fn scratch(&self) -> &Path {
        self.staging.path()
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path_in(self.staging.path(), digest)
    }

    pub fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(digest);
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
    }

    /// Writes `oci-layout` and `index.json` naming `root`, then moves the layout into place.
    pub fn finish(self, root: &Descriptor, ref_name: &str) -> Result<PathBuf> {
        let mut entry = root.clone();
        entry
            .annotations
            .insert(REF_NAME_ANNOTATION.to_string(), ref_name.to_string());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [entry],
        });
        let staging = self.staging.path();
        let write = |name: &str, bytes: &[u8]| {
            let path = staging.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
        };
        write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let index_bytes = serde_json::to_vec(&index).map_err(|e| Error::Layout {
            path: staging.to_path_buf(),
            reason: format!("serialising index.json: {e}"),
        })?;
        write("index.json", &index_bytes)?;
        let staged = self.staging.keep();
        let destination = &self.destination;
        // An existing layout is swapped out, not merged into: stale blobs must not survive.
        if destination.exists() {
            let parent = staged.parent().unwrap_or(Path::new("."));
            let old = tempfile::Builder::new()
                .prefix(&pyoci_manifest::staging_prefix("old"))
                .tempdir_in(parent)
                .map_err(|e| Error::io(parent, e))?;
            let old_path = old.path().join("layout");
            std::fs::rename(destination, &old_path).map_err(|e| Error::io(destination, e))?;
            if let Err(e) = std::fs::rename(&staged, destination) {
                let _ = std::fs::rename(&old_path, destination);
                let _ = std::fs::remove_dir_all(&staged);
                return Err(Error::io(destination, e));
            }
            drop(old);
        } else if let Err(e) = std::fs::rename(&staged, destination) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(Error::io(destination, e));
        }
        Ok(destination.clone())
    }
}
