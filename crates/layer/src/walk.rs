use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::plan::special_kind;
use crate::{Entry, Error};

/// Entries for the tree under `dir`, placed at `prefix` in the image.
///
/// `dir` itself may be a symlink to a directory; below it nothing is
/// followed: symlinks become symlink entries with their target verbatim.
/// Files that share an inode become one file and hard links to it. Names
/// are kept as raw bytes (they need not be UTF-8) and walked in sorted
/// order, so the result does not depend on the order files were created
/// in. Modes are left to the default rule (0755 directories and
/// owner-executable files, 0644 other files). `prefix` itself is included
/// as a directory unless it is `/`. A fifo, socket or device fails with
/// its path.
pub fn from_dir(dir: &Path, prefix: &Path) -> Result<Vec<Entry>, Error> {
    Walker::new(false).run(dir, prefix)
}

/// Like [`from_dir`], but every symlink below `dir` is replaced by what it
/// points to, and files are never turned into hard links. This is the view
/// a build sandbox needs, where each input file of a directory artifact is
/// a symlink to the real file somewhere outside the tree. A dangling
/// symlink or a directory loop fails with its path.
pub fn from_dir_following_symlinks(dir: &Path, prefix: &Path) -> Result<Vec<Entry>, Error> {
    Walker::new(true).run(dir, prefix)
}

struct Walker {
    follow: bool,
    entries: Vec<Entry>,
    inodes: HashMap<(u64, u64), PathBuf>,
    /// Directories on the current path (device, inode), to stop loops when following links.
    ancestors: HashSet<(u64, u64)>,
}

fn read_error(path: &Path, error: std::io::Error) -> Error {
    Error::Source { path: path.to_path_buf(), error }
}

impl Walker {
    fn new(follow: bool) -> Walker {
        Walker { follow, entries: Vec::new(), inodes: HashMap::new(), ancestors: HashSet::new() }
    }

    fn run(mut self, dir: &Path, prefix: &Path) -> Result<Vec<Entry>, Error> {
        let metadata = fs::metadata(dir).map_err(|e| read_error(dir, e))?;
        if !metadata.is_dir() {
            return Err(read_error(dir, std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is not a directory")));
        }
        if prefix.components().any(|c| matches!(c, std::path::Component::Normal(_))) {
            self.entries.push(Entry::dir(prefix));
        }
        self.ancestors.insert((metadata.dev(), metadata.ino()));
        self.walk(dir, prefix)?;
        Ok(self.entries)
    }

    fn walk(&mut self, dir: &Path, dest: &Path) -> Result<(), Error> {
        let mut names = Vec::new();
        for child in fs::read_dir(dir).map_err(|e| read_error(dir, e))? {
            names.push(child.map_err(|e| read_error(dir, e))?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let target = dest.join(&name);
            let metadata = if self.follow { fs::metadata(&path) } else { fs::symlink_metadata(&path) }
                .map_err(|e| read_error(&path, e))?;
            let file_type = metadata.file_type();
            if file_type.is_dir() {
                let id = (metadata.dev(), metadata.ino());
                if !self.ancestors.insert(id) {
                    return Err(read_error(
                        &path,
                        std::io::Error::new(std::io::ErrorKind::InvalidInput, "it links back to a directory above it"),
                    ));
                }
                self.entries.push(Entry::dir(&target));
                self.walk(&path, &target)?;
                self.ancestors.remove(&id);
            } else if file_type.is_symlink() {
                let link = fs::read_link(&path).map_err(|e| read_error(&path, e))?;
                self.entries.push(Entry::symlink(target, link));
            } else if file_type.is_file() {
                if !self.follow && metadata.nlink() > 1 {
                    let id = (metadata.dev(), metadata.ino());
                    if let Some(first) = self.inodes.get(&id) {
                        self.entries.push(Entry::hardlink(target, first.clone()));
                        continue;
                    }
                    self.inodes.insert(id, target.clone());
                }
                self.entries.push(Entry::file(target, path));
            } else {
                return Err(Error::UnsupportedFileType { path, kind: special_kind(&file_type) });
            }
        }
        Ok(())
    }
}
