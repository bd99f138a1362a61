//! Deterministic OCI layer blobs.
//!
//! A layer is built from [`Entry`] values (a file, inline bytes, a directory,
//! a symlink or a hard link, each at an absolute in-image path) with a
//! [`LayerWriter`]. Writing validates every entry first, then streams the
//! sorted tar through two SHA-256 hashers and a parallel compressor into a
//! temporary file next to the output, and renames it into place only when
//! everything succeeded: a failed write never leaves a file at the output.
//!
//! The same entries always give the same bytes: entries are sorted by path
//! components, missing parent directories are added (0755, root), every
//! mtime is the one in [`LayerOptions`], owners default to 0:0 with no names,
//! modes are 0644 or 0755 unless given, headers are ustar with PAX records
//! only where ustar cannot hold a value, and compression output does not
//! depend on the number of threads.
//!
//! Entries come from a spec file ([`spec::load`]), a directory tree
//! ([`from_dir`]) or a Debian package ([`deb::DebPackage::open`]).

mod compress;
pub mod deb;
mod entry;
mod error;
mod plan;
pub mod spec;
mod tar_stream;
mod walk;

pub use compress::Compression;
pub use entry::{Entry, EntryKind};
pub use error::Error;
pub use walk::{from_dir, from_dir_following_symlinks};

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a layer blob is: the OCI descriptor fields plus the uncompressed
/// digest and size an image config needs. Serialises to
/// `{"mediaType","digest","size","diffId","uncompressedSize"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerDescriptor {
    /// `application/vnd.oci.image.layer.v1.tar+gzip` or `...+zstd`.
    pub media_type: String,
    /// `sha256:<hex>` of the compressed blob.
    pub digest: String,
    /// Size of the compressed blob in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// Size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
}

/// How a layer is encoded. `Default` is gzip at its default level, mtime 0,
/// one compression thread per available core.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LayerOptions {
    /// Compression of the blob.
    pub compression: Compression,
    /// Compression level; `None` takes [`Compression::default_level`].
    pub level: Option<i32>,
    /// Modification time written into every tar header (seconds since the epoch).
    pub mtime: u64,
    /// Compression threads; `None` takes [`default_threads`]. The output is
    /// byte-identical whatever the value.
    pub threads: Option<usize>,
}

/// Collects entries and writes them as one layer blob.
///
/// ```no_run
/// use pyoci_layer::{Entry, LayerOptions, LayerWriter};
/// let mut layer = LayerWriter::new(LayerOptions::default());
/// layer.add(Entry::file("/app/main.py", "src/main.py"));
/// layer.add(Entry::symlink("/app/current", "main.py"));
/// let descriptor = layer.write(std::path::Path::new("layer.tar.gz"))?;
/// println!("{}", descriptor.digest);
/// # Ok::<(), pyoci_layer::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct LayerWriter {
    options: LayerOptions,
    entries: Vec<Entry>,
}

impl LayerWriter {
    pub fn new(options: LayerOptions) -> Self {
        LayerWriter { options, entries: Vec::new() }
    }

    pub fn add(&mut self, entry: Entry) -> &mut Self {
        self.entries.push(entry);
        self
    }

    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) -> &mut Self {
        self.entries.extend(entries);
        self
    }

    /// Validates the entries and writes the blob to `output` atomically.
    ///
    /// Errors name the offending path: a missing or unreadable source, a
    /// destination with `..`, two different entries for one destination, a
    /// fifo/socket/device, a hard link to nothing, a parent that is not a
    /// directory, or a source that changed while it was read. On error
    /// nothing is left at `output` (an existing file there is untouched).
    pub fn write(self, output: &Path) -> Result<LayerDescriptor, Error> {
        let level = self.options.compression.checked_level(self.options.level)?;
        let plan = plan::Plan::build(self.entries)?;
        let threads = self.options.threads.unwrap_or_else(default_threads).max(1);
        compress::write_blob(output, self.options.compression, level, threads, plan.tar_size(), |sink| {
            tar_stream::write_tar(&plan, self.options.mtime, sink)
        })
    }
}

/// One compression thread per core plus one. The thread that reads files
/// and the one that hashes and writes the blob each need a fraction of a
/// core; the extra worker fills what they leave idle. On 2 cores this makes
/// the benchmark's gzip and zstd layers about 5% faster
/// (bench/layer_bench.sh); the bytes never depend on the number.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

/// `sha256:<lowercase hex>` of a finished SHA-256 state.
pub(crate) fn sha256_digest(hasher: sha2::Sha256) -> String {
    use sha2::Digest;
    let bytes = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in bytes.iter() {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    out
}
