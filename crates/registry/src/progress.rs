//! How transfers report to whoever drives them (a terminal, a log, nothing).
//! The library never prints; the binary decides what a user sees.

use std::sync::Arc;
use std::time::Duration;

use crate::digest::Digest;

pub trait Progress: Send + Sync {
    /// A blob starts moving; `verb` is "upload" or "download".
    fn blob(&self, verb: &'static str, digest: &Digest, size: u64) -> Arc<dyn BlobProgress>;

    /// A transient failure; the operation is tried again after `delay`.
    fn retrying(&self, what: &str, error: &crate::Error, delay: Duration);
}

pub trait BlobProgress: Send + Sync {
    /// `bytes` more were sent or received. Called again from zero when a transfer restarts.
    fn advance(&self, bytes: u64);
    /// Restart counting (a retry resends the blob from its start).
    fn reset(&self);
    /// The upload continues a session the registry already holds `offset` bytes of.
    fn resumed(&self, _offset: u64) {}
    fn finish(&self);
}

/// Reports nothing.
pub struct Quiet;

struct QuietBlob;

impl Progress for Quiet {
    fn blob(&self, _verb: &'static str, _digest: &Digest, _size: u64) -> Arc<dyn BlobProgress> {
        Arc::new(QuietBlob)
    }
    fn retrying(&self, _what: &str, _error: &crate::Error, _delay: Duration) {}
}

impl BlobProgress for QuietBlob {
    fn advance(&self, _bytes: u64) {}
    fn reset(&self) {}
    fn finish(&self) {}
}
