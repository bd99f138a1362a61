//! Atomic outputs: everything is staged beside its destination and renamed into place, so a
//! failed or killed run never leaves a half-written file or layout at the output path.

use std::fs::{self, File, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name prefix of this process's staging entries beside outputs: `.pyoci-<what>-<pid>-`.
/// pyoci's signal handler finds its own by [`is_own_staging_name`]. (pyoci-layer, which depends
/// on no crate of ours, writes the same shape itself.)
pub fn staging_prefix(what: &str) -> String {
    format!(".pyoci-{what}-{}-", std::process::id())
}

/// Whether a directory entry's name is one of this process's staging entries.
pub fn is_own_staging_name(name: &str) -> bool {
    name.strip_prefix(".pyoci-").is_some_and(|rest| rest.contains(&format!("-{}-", std::process::id())))
}

/// The parent directory an output is staged in (created if missing, as Bazel would have).
fn staging_parent(dest: &Path) -> Result<PathBuf> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    Ok(parent)
}

/// A directory being filled; it becomes `dest` only on [`StagedDir::commit`].
pub(crate) struct StagedDir {
    temp: tempfile::TempDir,
    dest: PathBuf,
}

impl StagedDir {
    pub(crate) fn new(dest: &Path) -> Result<Self> {
        let parent = staging_parent(dest)?;
        let temp = tempfile::Builder::new()
            .prefix(&staging_prefix("staging"))
            .tempdir_in(&parent)
            .map_err(|e| Error::io(&parent, e))?;
        Ok(StagedDir {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    pub(crate) fn create_dir(&self, relative: &str) -> Result<PathBuf> {
        let dir = self.path().join(relative);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        set_mode(&dir, 0o755)?;
        Ok(dir)
    }

    pub(crate) fn write_file(&self, relative: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path().join(relative);
        write_new_file(&path, bytes)?;
        Ok(path)
    }

    /// Replaces whatever is at the destination (an empty directory Bazel created, or a previous
    /// output) with the staged directory.
    pub(crate) fn commit(self) -> Result<()> {
        // tempdir creates 0700; a layout must be readable like any other build output.
        set_mode(self.temp.path(), 0o755)?;
        let staged = self.temp.keep();
        replace_path(&staged, &self.dest).inspect_err(|_| {
            let _ = fs::remove_dir_all(&staged);
        })
    }
}

/// Writes a file at `dest` through a temporary file in the same directory.
pub(crate) fn write_file_atomically(dest: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let parent = staging_parent(dest)?;
    let mut temp = tempfile::Builder::new()
        .prefix(&staging_prefix("staging"))
        .tempfile_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    write(temp.as_file_mut())?;
    temp.as_file_mut()
        .flush()
        .and_then(|()| temp.as_file().set_permissions(Permissions::from_mode(0o644)))
        .map_err(|e| Error::io(temp.path(), e))?;
    if dest.is_dir() {
        return Err(Error::io(
            dest,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "output path is a directory"),
        ));
    }
    temp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    Ok(())
}

/// Writes `bytes` to `dest` through a temporary file beside it (for small outputs such as
/// `--digest-out` files).
pub fn write_file_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_file_atomically(dest, |file| file.write_all(bytes).map_err(|e| Error::io(dest, e)))
}

pub(crate) fn write_new_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(|e| Error::io(path, e))?;
    set_mode(path, 0o644)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(|e| Error::io(path, e))
}

fn replace_path(staged: &Path, dest: &Path) -> Result<()> {
    // rename(2) replaces a file or an empty directory in one step; anything else is moved
    // aside first and removed once the new output is in place.
    let first_try = match fs::symlink_metadata(dest) {
        Err(_) => fs::rename(staged, dest),
        Ok(meta) if meta.is_dir() && is_empty_dir(dest) => fs::rename(staged, dest),
        Ok(_) => Err(std::io::Error::from(std::io::ErrorKind::DirectoryNotEmpty)),
    };
    if first_try.is_ok() {
        return Ok(());
    }
    let parent = staging_parent(dest)?;
    let aside = tempfile::Builder::new()
        .prefix(&staging_prefix("replaced"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let old = aside.path().join("old");
    fs::rename(dest, &old).map_err(|e| Error::io(dest, e))?;
    if let Err(e) = fs::rename(staged, dest) {
        let _ = fs::rename(&old, dest);
        return Err(Error::io(dest, e));
    }
    make_removable(&old);
    drop(aside);
    Ok(())
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).map(|mut entries| entries.next().is_none()).unwrap_or(false)
}

/// Bazel leaves its outputs read-only; a previous output must be writable to be removed.
fn make_removable(path: &Path) {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.is_dir() {
            let _ = fs::set_permissions(path, Permissions::from_mode(0o755));
            if let Ok(entries) = fs::read_dir(path) {
                for entry in entries.flatten() {
                    make_removable(&entry.path());
                }
            }
        }
    }
}

/// Puts `src`'s content at `dst` without copying bytes when the filesystem allows: a hard link
/// to the file itself (symlinks, as in Bazel's sandbox, are followed first), else a copy.
pub(crate) fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    let real = fs::canonicalize(src).map_err(|e| Error::io(src, e))?;
    if fs::hard_link(&real, dst).is_ok() {
        return Ok(());
    }
    // EXDEV (another filesystem) or EPERM (protected_hardlinks on a file we do not own).
    copy_blaming_the_failing_side(src, &real, dst)?;
    set_mode(dst, 0o644)
}

/// Copies `real` (the resolved `src`) to `dst`. A read error names the source, a write error
/// (a full disk, a quota) the destination, so the user looks at the right file system.
fn copy_blaming_the_failing_side(src: &Path, real: &Path, dst: &Path) -> Result<()> {
    let mut from = File::open(real).map_err(|e| Error::io(src, e))?;
    let mut to = File::create(dst).map_err(|e| Error::io(dst, e))?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(src, e)),
        };
        to.write_all(&buffer[..n]).map_err(|e| Error::io(dst, e))?;
    }
}
