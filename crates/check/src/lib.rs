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
//! - [`layer_findings`]: per-layer records of what the gates read from layer bytes,
//!   so that a check after an edit reads only the changed layers;
//!
//! Everything reads an OCI image layout; [`imagefs`] turns its layers into the
//! filesystem a container would see.

pub mod error;
pub mod gates;
pub mod imagefs;
pub mod layer_findings;
pub mod sbom;
pub mod secrets;
pub mod size;
pub mod structure;
pub mod users;

mod licenses;

pub use error::{Error, Result};

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}
