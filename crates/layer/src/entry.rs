use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// What an [`Entry`] puts at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// The contents of a host file. Symlinks in the source path are followed,
    /// because build systems hand inputs over as symlinks.
    File(PathBuf),
    /// Inline contents.
    Bytes(Vec<u8>),
    /// A directory.
    Dir,
    /// A symbolic link; the target is stored verbatim and may be relative or dangle.
    Symlink(PathBuf),
    /// A hard link to another in-image path of the same layer, which must be a file.
    Hardlink(PathBuf),
    /// An OCI whiteout: hides the path (and everything under it) of lower layers.
    /// Written as `.wh.<name>`; the only way such a name gets into a layer.
    Whiteout,
    /// An OCI opaque whiteout: hides everything lower layers put under the directory.
    /// Written as `<dir>/.wh..wh..opq`.
    OpaqueWhiteout,
}

/// One path in a layer.
///
/// `path` is the in-image path; it is made absolute (`app/x` and `/app/x`
/// are the same), `.` components are dropped and `..` is rejected.
/// `mode: None` means 0755 for directories and for files whose source is
/// executable by its owner, 0644 for other files, 0777 for symlinks.
/// Owners default to 0:0 with empty names. `origin` says where the entry
/// came from in error messages (for example `pkg.deb: ./usr/bin/x`); without
/// it the source path or "inline content" is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub kind: EntryKind,
    pub mode: Option<u32>,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub origin: Option<String>,
}

impl Entry {
    pub fn new(path: impl Into<PathBuf>, kind: EntryKind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: None,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            origin: None,
        }
    }

    pub fn file(path: impl Into<PathBuf>, source: impl Into<PathBuf>) -> Entry {
        Entry::new(path, EntryKind::File(source.into()))
    }

    pub fn bytes(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Entry {
        Entry::new(path, EntryKind::Bytes(contents.into()))
    }

    pub fn dir(path: impl Into<PathBuf>) -> Entry {
        Entry::new(path, EntryKind::Dir)
    }

    pub fn symlink(path: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Entry {
        Entry::new(path, EntryKind::Symlink(target.into()))
    }

    pub fn hardlink(path: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Entry {
        Entry::new(path, EntryKind::Hardlink(target.into()))
    }

    /// Permission bits (`0o7777` at most; file type bits are ignored).
    pub fn with_mode(mut self, mode: u32) -> Entry {
        self.mode = Some(mode);
        self
    }

    pub fn with_owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn with_names(mut self, uname: impl Into<String>, gname: impl Into<String>) -> Entry {
        self.uname = uname.into();
        self.gname = gname.into();
        self
    }

    pub fn with_origin(mut self, origin: impl Into<String>) -> Entry {
        self.origin = Some(origin.into());
        self
    }

    /// Where this entry came from, for error messages.
    pub(crate) fn describe(&self) -> String {
        if let Some(origin) = &self.origin {
            return origin.clone();
        }
        match &self.kind {
            EntryKind::File(source) => format!("source {}", source.display()),
            EntryKind::Bytes(_) => "inline content".to_string(),
            EntryKind::Dir => "a directory entry".to_string(),
            EntryKind::Symlink(target) => format!("a symlink to {}", target.display()),
            EntryKind::Hardlink(target) => format!("a hard link to {}", target.display()),
            EntryKind::Whiteout => "a whiteout entry".to_string(),
            EntryKind::OpaqueWhiteout => "an opaque whiteout entry".to_string(),
        }
    }
}

/// Prefix of OCI whiteout names: a member named `.wh.x` deletes `x` of lower layers.
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";

/// The in-image path as archive bytes: components joined by `/`, without a
/// leading slash. A component named `.wh.*` is refused: in a layer it deletes
/// files of the layers below, which only [`EntryKind::Whiteout`] may ask for.
pub(crate) fn archive_name(path: &Path) -> Result<Vec<u8>, Error> {
    let shown = || path.to_string_lossy().into_owned();
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(Error::InvalidDest { dest: shown(), reason: "it contains a NUL byte" });
    }
    let mut name = Vec::with_capacity(path.as_os_str().len());
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                if part.as_bytes().starts_with(WHITEOUT_PREFIX) {
                    return Err(Error::InvalidDest {
                        dest: shown(),
                        reason: "a name starting with .wh. is an OCI whiteout, which deletes files of lower layers \
                                 (ask for one with a spec entry of type \"whiteout\" or \"opaque_whiteout\")",
                    });
                }
                if !name.is_empty() {
                    name.push(b'/');
                }
                name.extend_from_slice(part.as_bytes());
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(Error::DestEscapes { dest: shown() }),
            Component::Prefix(_) => {
                return Err(Error::InvalidDest { dest: shown(), reason: "it is not a Unix path" })
            }
        }
    }
    if name.is_empty() {
        return Err(Error::InvalidDest { dest: shown(), reason: "it is empty or the image root" });
    }
    Ok(name)
}

/// An archive name shown as the absolute in-image path.
pub(crate) fn display_name(name: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_relative_and_normalised() {
        assert_eq!(archive_name(Path::new("/app//x/./y")).unwrap(), b"app/x/y");
        assert_eq!(archive_name(Path::new("app/x")).unwrap(), b"app/x");
        assert_eq!(archive_name(Path::new("./app/")).unwrap(), b"app");
    }

    #[test]
    fn parent_components_are_rejected_with_the_path() {
        let err = archive_name(Path::new("/app/../../etc/passwd")).unwrap_err();
        assert!(matches!(err, Error::DestEscapes { .. }));
        assert!(err.to_string().contains("/app/../../etc/passwd"), "{err}");
    }

    #[test]
    fn whiteout_names_are_refused() {
        for path in ["/etc/.wh.passwd", "/.wh.etc", "/data/.wh..wh..opq/x"] {
            let err = archive_name(Path::new(path)).unwrap_err();
            assert!(err.to_string().contains(path) && err.to_string().contains("whiteout"), "{err}");
        }
        assert!(archive_name(Path::new("/app/x.wh.y")).is_ok());
    }

    #[test]
    fn root_is_not_a_destination() {
        assert!(matches!(archive_name(Path::new("/")), Err(Error::InvalidDest { .. })));
        assert!(matches!(archive_name(Path::new("")), Err(Error::InvalidDest { .. })));
    }
}
