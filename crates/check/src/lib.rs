//! pyoci-check: what rules_pyoci verifies about a built image.
//!
//! - [`gates`]: security gates (non-root, no shell or package manager, no
//!   secrets, permissions, size) with one opt-out each;
//! - [`sbom`]: an SPDX 2.3 document of the Debian packages and Python
//!   distributions inside the image;
//! - [`size`]: a per-layer size report;
//! - [`structure`]: container-structure-test style checks (commands run with
//!   podman, files and metadata read from the layers).
//!
//! Everything reads an OCI image layout; [`imagefs`] turns its layers into the
//! filesystem a container would see.

pub mod error;
pub mod gates;
pub mod imagefs;
pub mod layout;
pub mod sbom;
pub mod secrets;
pub mod size;
pub mod structure;
pub mod users;

mod licenses;

pub use error::{Error, Result};

use std::io::Write;
use std::path::Path;

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// so a reader (or Bazel) never sees a half-written output.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_error = |source: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".pyoci-")
        .tempfile_in(dir)
        .map_err(write_error)?;
    temp.write_all(bytes).map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}
