//! The lock file pinning the Debian packages of a base: name, version, architecture, the
//! file's path under a Debian mirror root, and its sha256.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub distribution: String,
    pub architecture: String,
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Path under a Debian mirror root, e.g. `pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb`.
    pub filename: String,
    /// Lowercase hex sha256 of the .deb file.
    pub sha256: String,
}

/// The identity of a package, from its control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageId {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The `Source` field without a version in parentheses; the package name if absent.
    pub source: String,
}

impl PackageId {
    /// Where Debian's archive keeps this package: `pool/<component>/<prefix>/<source>/<file>`,
    /// the prefix being `libX` for sources starting with "lib", else the first letter, and the
    /// file name carrying the version without its epoch.
    pub fn pool_path(&self, component: &str) -> String {
        let prefix = if self.source.starts_with("lib") && self.source.len() > 3 {
            &self.source[..4]
        } else {
            &self.source[..self.source.char_indices().nth(1).map_or(self.source.len(), |(i, _)| i)]
        };
        format!("pool/{component}/{prefix}/{}/{}", self.source, self.archive_file_name())
    }

    /// `<name>_<version without epoch>_<architecture>.deb`, as in the archive.
    pub fn archive_file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.name, strip_epoch(&self.version), self.architecture)
    }
}

fn strip_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, rest)| rest)
}

impl LockedPackage {
    /// File names this package may have in a download directory: the archive's own name, or
    /// the one `apt-get download` writes (epoch kept, ':' URL-encoded as `%3a`).
    pub fn local_file_names(&self) -> Vec<String> {
        let archive_name = self
            .filename
            .rsplit('/')
            .next()
            .unwrap_or(&self.filename)
            .to_owned();
        let apt_name = format!("{}_{}_{}.deb", self.name, self.version.replace(':', "%3a"), self.architecture);
        if apt_name == archive_name {
            vec![archive_name]
        } else {
            vec![archive_name, apt_name]
        }
    }
}

impl Lock {
    pub fn from_file(path: &Path) -> Result<Lock> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let lock: Lock = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidLock {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        for package in &lock.packages {
            let valid_hex = package.sha256.len() == 64
                && package.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !valid_hex {
                return Err(Error::InvalidLock {
                    path: path.to_path_buf(),
                    reason: format!("package {}: sha256 must be 64 lowercase hex digits", package.name),
                });
            }
            let safe_name = |n: &str| !n.is_empty() && !n.contains('/') && n != "." && n != "..";
            if !package.local_file_names().iter().all(|n| safe_name(n)) {
                return Err(Error::InvalidLock {
                    path: path.to_path_buf(),
                    reason: format!("package {}: invalid filename {:?}", package.name, package.filename),
                });
            }
        }
        Ok(lock)
    }

    /// The lock as committed: two-space indented JSON, packages sorted by name, final newline.
    pub fn to_pretty_json(&self) -> Result<Vec<u8>> {
        let mut sorted = self.clone();
        sorted.packages.sort_by(|a, b| a.name.cmp(&b.name).then(a.architecture.cmp(&b.architecture)));
        let mut bytes = serde_json::to_vec_pretty(&sorted).map_err(|e| Error::InvalidLock {
            path: PathBuf::from("<lock>"),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Finds every locked package in `dir` and checks its sha256. Files the lock does not list
    /// are ignored. Returns the paths in lock order.
    pub fn verify_dir(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::with_capacity(self.packages.len());
        for package in &self.packages {
            let candidates = package.local_file_names();
            let path = candidates
                .iter()
                .map(|name| dir.join(name))
                .find(|path| path.is_file())
                .ok_or_else(|| Error::MissingPackage {
                    package: package.name.clone(),
                    dir: dir.to_path_buf(),
                    expected: candidates.clone(),
                })?;
            let (digest, _) = pyoci_manifest::digest_file(&path)?;
            let actual = digest.strip_prefix("sha256:").unwrap_or(&digest);
            if actual != package.sha256 {
                return Err(Error::PackageDigestMismatch {
                    path,
                    expected: package.sha256.clone(),
                    actual: actual.to_owned(),
                });
            }
            paths.push(path);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, version: &str, source: &str) -> PackageId {
        PackageId {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            source: source.into(),
        }
    }

    #[test]
    fn pool_paths_follow_debian_layout() {
        assert_eq!(
            id("libc6", "2.36-9+deb12u14", "glibc").pool_path("main"),
            "pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb"
        );
        assert_eq!(
            id("libcrypt1", "1:4.4.33-2", "libxcrypt").pool_path("main"),
            "pool/main/libx/libxcrypt/libcrypt1_4.4.33-2_amd64.deb"
        );
    }

    #[test]
    fn apt_download_names_are_accepted() {
        let package = LockedPackage {
            name: "zlib1g".into(),
            version: "1:1.2.13.dfsg-1".into(),
            architecture: "amd64".into(),
            filename: "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb".into(),
            sha256: "0".repeat(64),
        };
        assert_eq!(
            package.local_file_names(),
            vec!["zlib1g_1.2.13.dfsg-1_amd64.deb".to_owned(), "zlib1g_1%3a1.2.13.dfsg-1_amd64.deb".to_owned()]
        );
    }
}
