//! sha256 content digests in the `sha256:<hex>` form OCI uses.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const BUFFER_SIZE: usize = 1 << 20;

/// `sha256:<hex>` of a byte string.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format_digest(&Sha256::digest(bytes))
}

/// Checks that `digest` is `sha256:` followed by 64 lowercase hex digits and returns the hex part.
/// Anything else is refused, which also keeps digests from naming paths outside `blobs/sha256`.
pub fn sha256_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(hex)
        }
        _ => Err(Error::InvalidDigest {
            digest: digest.to_owned(),
        }),
    }
}

/// Streams a file through sha256 and returns its digest and size.
pub fn digest_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    digest_reader(&mut file).map_err(|e| Error::io(path, e))
}

/// Streams a reader through sha256 and returns its digest and size.
pub(crate) fn digest_reader(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER_SIZE];
    let mut size = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((format_digest(&hasher.finalize()), size))
}

/// A reader that hashes and counts everything read through it.
pub(crate) struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> DigestReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The digest and size of what was read so far.
    pub(crate) fn finish(self) -> (String, u64) {
        (format_digest(&self.hasher.finalize()), self.size)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.size += read as u64;
        Ok(read)
    }
}

pub(crate) fn format_digest(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(7 + bytes.len() * 2);
    out.push_str("sha256:");
    for byte in bytes {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rejects_malformed_digests() {
        assert!(sha256_hex("sha256:../../etc/passwd").is_err());
        assert!(sha256_hex("sha512:00").is_err());
        assert!(sha256_hex(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(sha256_hex(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }
}
