use std::collections::HashMap;
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
    let metadata = fs::metadata(dir).map_err(|e| Error::Source { path: dir.to_path_buf(), error: e })?;
    if !metadata.is_dir() {
        return Err(Error::Source {
            path: dir.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is not a directory"),
        });
    }
    let mut entries = Vec::new();
    if prefix.components().any(|c| matches!(c, std::path::Component::Normal(_))) {
        entries.push(Entry::dir(prefix));
    }
    let mut inodes = HashMap::new();
    walk(dir, prefix, &mut entries, &mut inodes)?;
    Ok(entries)
}

fn walk(dir: &Path, dest: &Path, entries: &mut Vec<Entry>, inodes: &mut HashMap<(u64, u64), PathBuf>) -> Result<(), Error> {
    let read_error = |path: &Path, e| Error::Source { path: path.to_path_buf(), error: e };
    let mut names = Vec::new();
    for child in fs::read_dir(dir).map_err(|e| read_error(dir, e))? {
        names.push(child.map_err(|e| read_error(dir, e))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(&name);
        let target = dest.join(&name);
        let metadata = fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
        let file_type = metadata.file_type();
        if file_type.is_dir() {
            entries.push(Entry::dir(&target));
            walk(&path, &target, entries, inodes)?;
        } else if file_type.is_symlink() {
            let link = fs::read_link(&path).map_err(|e| read_error(&path, e))?;
            entries.push(Entry::symlink(target, link));
        } else if file_type.is_file() {
            if metadata.nlink() > 1 {
                if let Some(first) = inodes.get(&(metadata.dev(), metadata.ino())) {
                    entries.push(Entry::hardlink(target, first.clone()));
                    continue;
                }
                inodes.insert((metadata.dev(), metadata.ino()), target.clone());
            }
            entries.push(Entry::file(target, path));
        } else {
            return Err(Error::UnsupportedFileType { path, kind: special_kind(&file_type) });
        }
    }
    Ok(())
}
