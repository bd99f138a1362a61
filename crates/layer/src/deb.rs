//! Debian packages as layer entries.
//!
//! A `.deb` is an ar archive of `debian-binary`, `control.tar[.gz|.xz|.zst]`
//! and `data.tar[.gz|.xz|.zst]`. [`DebPackage::open`] reads it in one pass
//! and returns the control fields, the data entries in the [`Entry`] model,
//! and the distroless-style dpkg database entries
//! ([`DebPackage::status_entries`]): `/var/lib/dpkg/status.d/<package>` (the
//! control paragraph with `Status: install ok installed` after `Package`)
//! and `/var/lib/dpkg/status.d/<package>.md5sums`, which is where Trivy and
//! syft look for packages in an image without a full dpkg database.
//!
//! Data entries keep the package's paths (made absolute), modes, numeric
//! owners, symlinks and hard links; owner names are dropped, and setuid and
//! setgid bits are removed from regular files, because the images built
//! here run unprivileged and a setuid binary would only be a way back to
//! root (the dropped paths are listed in [`DebPackage::setuid_dropped`]).
//! Directory modes are kept whole (`/tmp` stays 1777).
//!
//! Small files are held in memory; larger ones are spilled into a private
//! temporary directory that lives as long as the `DebPackage`, so several
//! packages can be merged into one layer without holding them all in RAM.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::{Entry, EntryKind, Error};

/// Files up to this size stay in memory; larger ones go to the spill directory.
const IN_MEMORY_LIMIT: u64 = 64 * 1024;
const STATUS_DIR: &str = "/var/lib/dpkg/status.d";

/// The fields of a control paragraph, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFields {
    text: String,
    fields: Vec<(String, String)>,
}

impl ControlFields {
    /// Parses one deb822 paragraph. Continuation lines (starting with a
    /// space or tab) are joined to their field's value with `\n`.
    pub fn parse(text: &str) -> Result<ControlFields, String> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                if fields.is_empty() {
                    continue;
                }
                break;
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = fields.last_mut() else {
                    return Err(format!("line {} continues a field that was never started", number + 1));
                };
                value.push('\n');
                value.push_str(line.trim_start());
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!("line {} is not \"Field: value\": {line:?}", number + 1));
            };
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
        let mut text = text.trim_end_matches('\n').to_string();
        text.push('\n');
        Ok(ControlFields { text, fields })
    }

    /// A field's value; names compare case-insensitively, as in deb822.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The paragraph as it appeared in the package, ending in one newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The paragraph as dpkg's status database holds an installed package:
    /// `Status: install ok installed` right after `Package`.
    pub fn status_text(&self) -> String {
        if self.get("Status").is_some() {
            return self.text.clone();
        }
        let mut out = String::with_capacity(self.text.len() + 32);
        let mut inserted = false;
        for line in self.text.lines() {
            out.push_str(line);
            out.push('\n');
            if !inserted && line.split_once(':').is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("Package")) {
                out.push_str("Status: install ok installed\n");
                inserted = true;
            }
        }
        out
    }
}

/// A package read from a `.deb` file.
#[derive(Debug)]
pub struct DebPackage {
    /// The .deb this came from.
    pub file: PathBuf,
    /// `Package`, validated as a Debian package name.
    pub package: String,
    pub version: String,
    pub architecture: String,
    /// Every field of the control file (`Source`, `Depends`, ...).
    pub control: ControlFields,
    /// `md5sums` from control.tar, if the package has one.
    pub md5sums: Option<Vec<u8>>,
    /// data.tar's members with absolute paths (the root itself left out).
    pub entries: Vec<Entry>,
    /// Regular files whose setuid or setgid bit was removed.
    pub setuid_dropped: Vec<PathBuf>,
    /// Holds spilled file contents for as long as `entries` may be written.
    _spill: Option<tempfile::TempDir>,
}

impl DebPackage {
    /// Reads a .deb. Fails, naming `path`, on a missing, truncated or
    /// corrupt file, anything that is not a Debian binary package, a
    /// device or fifo in data.tar, or a bzip2/lzma member.
    pub fn open(path: &Path) -> Result<DebPackage, Error> {
        let fail = |message: String| Error::Deb { file: path.to_path_buf(), message };
        let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let mut archive = ar::Archive::new(BufReader::with_capacity(256 * 1024, file));
        let mut reader = PackageReader { path, spill: None, spill_count: 0 };

        let mut saw_format = false;
        let mut control: Option<(ControlFields, Option<Vec<u8>>)> = None;
        let mut data: Option<(Vec<Entry>, Vec<PathBuf>)> = None;
        while let Some(member) = archive.next_entry() {
            let member = member.map_err(|e| fail(format!("not a valid ar archive (truncated or not a .deb?): {e}")))?;
            let name = String::from_utf8_lossy(member.header().identifier()).trim_end_matches('/').to_string();
            if !saw_format {
                if name != "debian-binary" {
                    return Err(fail(format!("not a Debian package: first member is {name:?}, not \"debian-binary\"")));
                }
                let mut version = String::new();
                member.take(64).read_to_string(&mut version).map_err(|e| fail(format!("reading debian-binary: {e}")))?;
                if !version.starts_with("2.") {
                    return Err(fail(format!("unsupported .deb format version {:?}", version.trim())));
                }
                saw_format = true;
            } else if let Some(compression) = name.strip_prefix("control.tar") {
                let tar = decompressor(member, compression).map_err(|e| fail(format!("{name}: {e}")))?;
                control = Some(read_control(tar).map_err(|e| fail(member_error(&name, e)))?);
            } else if let Some(compression) = name.strip_prefix("data.tar") {
                let tar = decompressor(member, compression).map_err(|e| fail(format!("{name}: {e}")))?;
                data = Some(reader.read_data(tar).map_err(|e| fail(member_error(&name, e)))?);
            }
        }
        if !saw_format {
            return Err(fail("not a Debian package: the file is empty or has no members".to_string()));
        }
        let (control, md5sums) = control.ok_or_else(|| fail("not a Debian package: no control.tar member".to_string()))?;
        let (entries, setuid_dropped) = data.ok_or_else(|| fail("not a Debian package: no data.tar member".to_string()))?;

        let required = |field: &str| {
            control.get(field).map(str::to_string).ok_or_else(|| fail(format!("the control file has no {field} field")))
        };
        let package = required("Package")?;
        let version = required("Version")?;
        let architecture = required("Architecture")?;
        if !is_package_name(&package) {
            return Err(fail(format!("invalid package name {package:?}")));
        }
        Ok(DebPackage {
            file: path.to_path_buf(),
            package,
            version,
            architecture,
            control,
            md5sums,
            entries,
            setuid_dropped,
            _spill: reader.spill,
        })
    }

    /// `/var/lib/dpkg/status.d/<package>` and, when the package has
    /// md5sums, `/var/lib/dpkg/status.d/<package>.md5sums` (0644, root).
    pub fn status_entries(&self) -> Vec<Entry> {
        let origin = format!("the dpkg status of {}", self.file.display());
        let mut entries = vec![Entry::bytes(format!("{STATUS_DIR}/{}", self.package), self.control.status_text())
            .with_origin(origin.clone())];
        if let Some(md5sums) = &self.md5sums {
            entries.push(
                Entry::bytes(format!("{STATUS_DIR}/{}.md5sums", self.package), md5sums.clone()).with_origin(origin),
            );
        }
        entries
    }

    /// Everything a layer for this package holds: the data entries and the
    /// status entries.
    pub fn layer_entries(&self) -> Vec<Entry> {
        let mut entries = self.entries.clone();
        entries.extend(self.status_entries());
        entries
    }
}

fn is_package_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn decompressor<'a>(member: impl Read + 'a, suffix: &str) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match suffix {
        "" => Box::new(member),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(member)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new(member)),
        ".zst" => Box::new(zstd::stream::read::Decoder::new(member)?),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported compression {other:?} (expected none, .gz, .xz or .zst)"),
            ))
        }
    })
}

/// A member path of a package tar (`./usr/bin/x`) as an absolute image
/// path, or `None` for the package root.
fn image_path(member: &[u8]) -> Option<PathBuf> {
    let mut rest = member;
    loop {
        if let Some(stripped) = rest.strip_prefix(b"./") {
            rest = stripped;
        } else if let Some(stripped) = rest.strip_prefix(b"/") {
            rest = stripped;
        } else {
            break;
        }
    }
    let rest = rest.strip_suffix(b"/").unwrap_or(rest);
    if rest.is_empty() || rest == b"." {
        return None;
    }
    let mut absolute = b"/".to_vec();
    absolute.extend_from_slice(rest);
    Some(PathBuf::from(OsStr::from_bytes(&absolute)))
}

fn read_control(tar: impl Read) -> io::Result<(ControlFields, Option<Vec<u8>>)> {
    let mut control = None;
    let mut md5sums = None;
    let mut archive = tar::Archive::new(tar);
    for member in archive.entries()? {
        let mut member = member?;
        let name = image_path(&member.path_bytes());
        let wanted = match name.as_deref().and_then(Path::to_str) {
            Some("/control") => &mut control,
            Some("/md5sums") => &mut md5sums,
            _ => continue,
        };
        let mut bytes = Vec::new();
        member.read_to_end(&mut bytes)?;
        *wanted = Some(bytes);
    }
    let control = control.ok_or_else(|| invalid("it has no control file".to_string()))?;
    let text = String::from_utf8(control).map_err(|_| invalid("the control file is not UTF-8".to_string()))?;
    let fields = ControlFields::parse(&text).map_err(|e| invalid(format!("control file: {e}")))?;
    Ok((fields, md5sums))
}

struct PackageReader<'a> {
    path: &'a Path,
    spill: Option<tempfile::TempDir>,
    spill_count: u64,
}

impl PackageReader<'_> {
    fn read_data(&mut self, tar: impl Read) -> io::Result<(Vec<Entry>, Vec<PathBuf>)> {
        let mut entries = Vec::new();
        let mut setuid_dropped = Vec::new();
        let mut archive = tar::Archive::new(tar);
        for member in archive.entries()? {
            let mut member = member?;
            let member_name = member.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&member_name).into_owned();
            let Some(dest) = image_path(&member_name) else { continue };
            let header = member.header();
            let mode = header.mode()? & 0o7777;
            let (uid, gid) = (header.uid()?, header.gid()?);
            let entry_type = header.entry_type();
            let link = member.link_name_bytes().map(|l| l.into_owned());
            let (kind, mode) = match entry_type {
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    let kept = if mode & 0o6000 != 0 {
                        setuid_dropped.push(dest.clone());
                        mode & !0o6000
                    } else {
                        mode
                    };
                    (self.contents(&mut member)?, kept)
                }
                EntryType::Directory => (EntryKind::Dir, mode),
                EntryType::Symlink => {
                    let target = link.ok_or_else(|| invalid(format!("symlink {shown} has no target")))?;
                    (EntryKind::Symlink(PathBuf::from(OsStr::from_bytes(&target))), mode)
                }
                EntryType::Link => {
                    let target = link
                        .as_deref()
                        .and_then(image_path)
                        .ok_or_else(|| invalid(format!("hard link {shown} has no target")))?;
                    (EntryKind::Hardlink(target), mode)
                }
                EntryType::XGlobalHeader => continue,
                other => {
                    return Err(invalid(format!(
                        "member {shown} is a {}; only files, directories and links can go into a layer",
                        describe_type(other)
                    )))
                }
            };
            let mut entry = Entry::new(dest, kind).with_owner(uid, gid).with_origin(format!("{}: {shown}", self.path.display()));
            entry.mode = Some(mode);
            entries.push(entry);
        }
        Ok((entries, setuid_dropped))
    }

    fn contents(&mut self, member: &mut (impl Read + ?Sized)) -> io::Result<EntryKind> {
        let mut small = Vec::new();
        let read = member.take(IN_MEMORY_LIMIT + 1).read_to_end(&mut small)? as u64;
        if read <= IN_MEMORY_LIMIT {
            return Ok(EntryKind::Bytes(small));
        }
        if self.spill.is_none() {
            self.spill = Some(tempfile::Builder::new().prefix("pyoci-deb-").tempdir()?);
        }
        let dir = self.spill.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default();
        let path = dir.join(self.spill_count.to_string());
        self.spill_count += 1;
        let mut out = io::BufWriter::new(File::create(&path)?);
        io::Write::write_all(&mut out, &small)?;
        io::copy(member, &mut out)?;
        io::Write::flush(&mut out)?;
        Ok(EntryKind::File(path))
    }
}

/// Something wrong with the package's contents (as opposed to its bytes
/// failing to decompress), so no "truncated?" hint is added.
#[derive(Debug)]
struct PackageProblem(String);

impl std::fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PackageProblem {}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, PackageProblem(message))
}

/// Describes a failure reading member `name`; decoding failures usually
/// mean a cut-off download, so they say so.
fn member_error(name: &str, error: io::Error) -> String {
    if error.get_ref().is_some_and(|inner| inner.is::<PackageProblem>()) {
        format!("{name}: {error}")
    } else {
        format!("{name}: {error} (truncated or corrupt package?)")
    }
}

fn describe_type(entry_type: EntryType) -> &'static str {
    match entry_type {
        EntryType::Char => "character device",
        EntryType::Block => "block device",
        EntryType::Fifo => "fifo",
        _ => "special file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_fields_and_status() {
        let fields = ControlFields::parse(
            "Package: libfoo1\nVersion: 1.0-1\nArchitecture: amd64\nDescription: short\n long line\n .\n more\n",
        )
        .unwrap();
        assert_eq!(fields.get("package"), Some("libfoo1"));
        assert_eq!(fields.get("Description"), Some("short\nlong line\n.\nmore"));
        assert!(fields.status_text().starts_with("Package: libfoo1\nStatus: install ok installed\nVersion: 1.0-1\n"));
        assert!(fields.status_text().ends_with(" more\n"));
    }

    #[test]
    fn member_paths_become_absolute() {
        assert_eq!(image_path(b"./usr/bin/x"), Some(PathBuf::from("/usr/bin/x")));
        assert_eq!(image_path(b"./etc/"), Some(PathBuf::from("/etc")));
        assert_eq!(image_path(b"./"), None);
        assert_eq!(image_path(b"."), None);
    }

    #[test]
    fn package_names() {
        assert!(is_package_name("libstdc++6"));
        assert!(is_package_name("python3.11-minimal"));
        assert!(!is_package_name("../etc"));
        assert!(!is_package_name("Foo"));
    }
}
