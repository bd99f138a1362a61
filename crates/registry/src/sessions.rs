//! Upload sessions kept across processes. A push killed mid-blob leaves the registry holding
//! every chunk it confirmed; the next push finds the session here, asks the registry how far
//! it got (`GET` on the upload URL, answered with `Range: 0-<last byte>`) and sends only the
//! rest. One small JSON file per (registry, repository, blob), written atomically under the
//! user's cache directory (`$XDG_CACHE_HOME/pyoci/uploads`, else `~/.cache/pyoci/uploads`).
//!
//! The files hold no credentials: the registry's origin, the repository, the blob's digest
//! and size, the upload URL the registry gave (refused if it carries a user:password) and the
//! bytes it confirmed. A file is only ever a hint: one that is old, unreadable, owned by
//! someone else, or whose fields do not match the blob asked about is removed and ignored, and
//! its URL must still be on the registry's own origin and pass the plain-HTTP policy before
//! anything is sent to it.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;

/// Registries drop idle upload sessions (distribution purges them after a week); older
/// entries are not worth a request.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A session file is a few hundred bytes; anything much larger is not ours.
const MAX_FILE_BYTES: u64 = 16 * 1024;

const VERSION: u32 = 1;

/// `$XDG_CACHE_HOME/pyoci/uploads` (when absolute, as the XDG spec requires), else
/// `$HOME/.cache/pyoci/uploads`; `None` when neither is set.
pub fn default_upload_state_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
                .map(|home| home.join(".cache"))
        })?;
    Some(cache.join("pyoci").join("uploads"))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: u32,
    /// scheme://host:port of the registry, as the session's URL must be.
    registry: String,
    repository: String,
    digest: String,
    size: u64,
    location: String,
    offset: u64,
    /// Seconds since the epoch.
    saved: u64,
}

/// What one blob's session is keyed by.
pub(crate) struct SessionKey<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
}

pub(crate) struct SessionStore {
    dir: PathBuf,
}

impl SessionStore {
    pub(crate) fn new(dir: PathBuf) -> Self {
        SessionStore { dir }
    }

    fn path(&self, key: &SessionKey<'_>) -> PathBuf {
        let mut hasher = Sha256::new();
        for part in [key.registry, key.repository, &key.digest.to_string()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let hex: String = hasher.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// The saved session for `key`, if one matches in every field; anything else found at
    /// its path is removed. `valid_location` applies the origin and transport rules.
    pub(crate) fn load(
        &self,
        key: &SessionKey<'_>,
        valid_location: impl Fn(&str) -> bool,
    ) -> Option<(String, u64)> {
        let path = self.path(key);
        let saved = read_owned(&path);
        let usable = saved.filter(|saved| {
            let age = now().saturating_sub(saved.saved);
            saved.version == VERSION
                && saved.registry == key.registry
                && saved.repository == key.repository
                && saved.digest == key.digest.to_string()
                && saved.size == key.size
                && saved.offset > 0
                && saved.offset <= key.size
                && age <= MAX_AGE.as_secs()
                && !has_userinfo(&saved.location)
                && valid_location(&saved.location)
        });
        match usable {
            Some(saved) => Some((saved.location, saved.offset)),
            None => {
                if path.exists() {
                    let _ = fs::remove_file(&path);
                }
                None
            }
        }
    }

    /// Records that the registry confirmed `offset` bytes at `location`. Best effort: a
    /// cache that cannot be written costs a restart later, never the push.
    pub(crate) fn save(&self, key: &SessionKey<'_>, location: &str, offset: u64) {
        if has_userinfo(location) {
            return;
        }
        let saved = Saved {
            version: VERSION,
            registry: key.registry.to_string(),
            repository: key.repository.to_string(),
            digest: key.digest.to_string(),
            size: key.size,
            location: location.to_string(),
            offset,
            saved: now(),
        };
        let _ = self.write(&self.path(key), &saved);
    }

    fn write(&self, path: &Path, saved: &Saved) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let bytes = serde_json::to_vec(saved).map_err(std::io::Error::other)?;
        // Beside the destination and renamed over it: a reader sees the old or the new
        // session, never half of one. tempfile creates it 0600.
        let mut temp = tempfile::Builder::new()
            .prefix(".pyoci-upload-")
            .tempfile_in(&self.dir)?;
        temp.write_all(&bytes)?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The blob is stored (or its session is dead): nothing to resume.
    pub(crate) fn forget(&self, key: &SessionKey<'_>) {
        let path = self.path(key);
        if path.exists() {
            let _ = fs::remove_file(path);
        }
    }
}

/// The session at `path` if it is a small regular file of ours that parses.
fn read_owned(path: &Path) -> Option<Saved> {
    let metadata = fs::symlink_metadata(path).ok()?;
    let mine = metadata.uid() == rustix::process::geteuid().as_raw();
    if !metadata.is_file() || !mine || metadata.len() > MAX_FILE_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `user:password@` in a URL's authority: never stored, never followed from the cache.
fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.contains('@')
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap()
    }

    #[test]
    fn saved_sessions_round_trip_and_mismatches_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(dir.path().join("uploads"));
        let digest = digest();
        let key = SessionKey {
            registry: "https://r.example:443",
            repository: "team/app",
            digest: &digest,
            size: 100,
        };
        let location = "https://r.example/v2/team/app/blobs/uploads/u?_state=x";
        store.save(&key, location, 40);
        assert_eq!(store.load(&key, |_| true), Some((location.to_string(), 40)));
        // The same file read for another size (a different blob claiming the digest) or
        // with a location the caller refuses: ignored and removed.
        let other = SessionKey { size: 99, ..key };
        store.save(&key, location, 40);
        assert_eq!(store.load(&other, |_| true), None);
        assert_eq!(
            store.load(&key, |_| true),
            None,
            "a mismatch removes the file"
        );
        store.save(&key, location, 40);
        assert_eq!(store.load(&key, |_| false), None);
        // Credentials in a URL are never written.
        store.save(&key, "https://u:p@r.example/v2/x", 40);
        assert_eq!(store.load(&key, |_| true), None);
        // Garbage at the path is ignored.
        fs::create_dir_all(dir.path().join("uploads")).unwrap();
        fs::write(store.path(&key), b"{not json").unwrap();
        assert_eq!(store.load(&key, |_| true), None);
        store.save(&key, location, 40);
        store.forget(&key);
        assert_eq!(store.load(&key, |_| true), None);
    }

    #[test]
    fn userinfo_is_recognised() {
        assert!(has_userinfo("https://a:b@host/x"));
        assert!(!has_userinfo("https://host/x?next=a@b"));
        assert!(!has_userinfo("/v2/x/blobs/uploads/u"));
    }
}
