//! One image layout put together from several places: the layout an image action wrote
//! without its base's blobs (`pyoci image --omit-base-blobs`) or its layers' blobs
//! (`--omit-layer-blobs`), plus the layouts (`--blobs-from`) and the layer files (`--blob`)
//! that hold those blobs.
//!
//! Why: Bazel digests every file of a directory an action writes. An image layout that links
//! a 5 GB base's blobs makes Bazel re-hash 5 GB after every edit, since each new link changes
//! the blobs' ctime, which Bazel's digest cache keys on. The same holds for an image's own
//! layers: a numpy layer linked into the image layout is re-digested on every edit of the app.
//! An image action that writes only its index, manifest and config leaves Bazel nothing big to
//! hash; readers then see the whole image through a view.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::image::LayerDescriptor;
use crate::layout::Layout;
use crate::output::staging_prefix;
use crate::writer::LayoutWriter;

/// A blob kept outside any layout: a layer file and the digest and size its descriptor gives.
#[derive(Debug, Clone)]
pub struct BlobFile {
    pub path: PathBuf,
    /// Lowercase hex of the sha256 digest.
    hex: String,
}

impl BlobFile {
    /// The blob at `path` as `descriptor` (a `pyoci layer` descriptor JSON) describes it. Its
    /// size is checked; its bytes are trusted, as `pyoci image --trust-layer-descriptors`
    /// trusts them: the action that wrote the descriptor hashed them.
    pub fn from_descriptor_file(path: &Path, descriptor: &Path) -> Result<BlobFile> {
        let descriptor = LayerDescriptor::from_json_file(descriptor)?;
        descriptor.verify_size(path)?;
        // from_json_file checked the digest's form.
        let hex = sha256_hex(&descriptor.digest)?.to_owned();
        Ok(BlobFile {
            path: path.to_path_buf(),
            hex,
        })
    }
}

/// A directory that reads as one complete layout: `oci-layout` and `index.json` of the image
/// layout, and under `blobs/sha256` a symlink per blob, found in the image layout first, then
/// among the blob files, then in each blob layout in order. The directory is temporary and
/// removed on drop; with no blob sources the view is the image layout itself.
#[derive(Debug)]
pub struct LayoutView {
    path: PathBuf,
    _staged: Option<tempfile::TempDir>,
}

impl LayoutView {
    pub fn new(image_layout: &Path, blob_files: &[BlobFile], blob_sources: &[PathBuf]) -> Result<LayoutView> {
        if blob_files.is_empty() && blob_sources.is_empty() {
            return Ok(LayoutView {
                path: image_layout.to_path_buf(),
                _staged: None,
            });
        }
        Layout::open(image_layout)?;
        for source in blob_sources {
            Layout::open(source)?;
        }
        let temp = std::env::temp_dir();
        let staged = tempfile::Builder::new()
            .prefix(&staging_prefix("view"))
            .tempdir_in(&temp)
            .map_err(|e| Error::io(&temp, e))?;
        let root = staged.path();
        for name in ["oci-layout", "index.json"] {
            symlink_to_real(&image_layout.join(name), &root.join(name))?;
        }
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let mut present = BTreeSet::new();
        for (name, path) in layout_blobs(image_layout)? {
            present.insert(name.clone());
            symlink_to_real(&path, &blobs.join(name))?;
        }
        for file in blob_files {
            if present.insert(file.hex.clone()) {
                symlink_to_real(&file.path, &blobs.join(&file.hex))?;
            }
        }
        for dir in blob_sources {
            for (name, path) in layout_blobs(dir)? {
                if present.insert(name.clone()) {
                    symlink_to_real(&path, &blobs.join(name))?;
                }
            }
        }
        Ok(LayoutView {
            path: root.to_path_buf(),
            _staged: Some(staged),
        })
    }

    /// The directory to open as the image's layout.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The sha256 blob files of a layout, by name. Anything else there (staging leftovers, other
/// algorithms) is not a blob this view offers.
fn layout_blobs(layout: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = layout.join("blobs").join("sha256");
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            files.push((name, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

fn symlink_to_real(target: &Path, link: &Path) -> Result<()> {
    let real = fs::canonicalize(target).map_err(|e| Error::io(target, e))?;
    std::os::unix::fs::symlink(&real, link).map_err(|e| Error::io(link, e))
}

/// Writes the image at `view` as one self-contained layout at `output`: `oci-layout`,
/// `index.json` and every blob the index reaches (manifests, configs, layers), hard-linked
/// where the file system allows, else copied. Each blob must exist with its descriptor's
/// size; the bytes are not re-hashed (whoever wrote them hashed them).
pub fn write_complete_layout(view: &Path, output: &Path) -> Result<usize> {
    let layout = Layout::open(view)?;
    let index_path = view.join("index.json");
    let index_bytes = fs::read(&index_path).map_err(|e| Error::io(&index_path, e))?;
    let blobs = layout.reachable_blobs()?;
    let mut writer = LayoutWriter::new(output)?;
    for descriptor in &blobs {
        let source = layout.check_blob_size(descriptor)?;
        writer.link_blob(&source, descriptor.digest().as_ref())?;
    }
    writer.finish_with_index(&index_bytes)?;
    Ok(blobs.len())
}

/// Writes `files` as a layout of blobs only (`index.json` lists no manifest), hard-linked where
/// the file system allows: a `--blobs-from` source for one layer. Sizes were checked when each
/// [`BlobFile`] was made.
pub fn write_blob_layout(files: &[BlobFile], output: &Path) -> Result<usize> {
    let mut writer = LayoutWriter::new(output)?;
    for file in files {
        writer.link_blob(&file.path, &format!("sha256:{}", file.hex))?;
    }
    writer.finish_with_index(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#)?;
    Ok(files.len())
}
