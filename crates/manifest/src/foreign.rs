//! Layer tarballs pyoci did not write (`pyoci image --layer BLOB` without a descriptor, so a
//! py_image's `tars`) are held to the rules of pyoci's own layers before they are linked in,
//! member by member, while their diff ID is computed (one pass):
//!
//! - names are relative to the image root: a leading `/` or `./` means the root (as every
//!   runtime unpacks it); a `..` component, a NUL byte, or a name or link target longer than
//!   Linux's PATH_MAX is refused;
//! - no member lies under a symlink an earlier member of the layer made (unpacking would write
//!   through the link), and a hard link names an earlier regular file of the same layer;
//! - regular files, directories, symlinks and hard links only: device nodes and fifos are
//!   refused unless allowed ([`ForeignRules::allow_devices`]);
//! - no setuid or setgid file owned by root unless allowed ([`ForeignRules::allow_setuid`]);
//! - no whiteout (`.wh.*`): a tarball that deletes files of the layers below it must be written
//!   as a `pyoci layer` spec with `whiteout` entries, where the deletion is asked for.
//!
//! The bytes are never rewritten, so a tarball's digest stays what its author computed.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Linux's PATH_MAX: no runtime can create a longer name or link target.
pub const MAX_MEMBER_PATH: usize = 4096;

/// What a foreign layer may hold beyond the rules every layer follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForeignRules {
    /// Character and block devices and fifos.
    pub allow_devices: bool,
    /// setuid/setgid files owned by root.
    pub allow_setuid: bool,
}

/// Reads the uncompressed tar stream `tar`, refusing the first member that breaks the rules;
/// returns the stream's `sha256:` digest and size (the layer's diff ID). `blob` names the
/// tarball in errors.
pub fn check_foreign_tar(
    tar: impl Read,
    blob: &Path,
    rules: ForeignRules,
) -> Result<(String, u64)> {
    let refuse = |member: &str, reason: String| Error::ForeignLayer {
        path: blob.to_path_buf(),
        member: excerpt(member).to_owned(),
        reason,
    };
    let io_error = |e: io::Error| Error::io(blob, e);
    let mut hashing = HashingReader {
        inner: tar,
        hasher: Sha256::new(),
        count: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let mut tree = Tree::default();
        for item in archive.entries().map_err(io_error)? {
            let entry = item.map_err(io_error)?;
            let raw = entry.path_bytes();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let header = entry.header();
            let kind = header.entry_type();
            if raw.len() > MAX_MEMBER_PATH {
                return Err(refuse(
                    &shown,
                    format!(
                        "its name is {} bytes, over PATH_MAX ({MAX_MEMBER_PATH})",
                        raw.len()
                    ),
                ));
            }
            let components =
                member_components(&raw).map_err(|reason| refuse(&shown, reason.to_owned()))?;
            if components.is_empty() {
                if kind.is_dir() {
                    continue; // `./` itself: the root's own entry.
                }
                return Err(refuse(
                    &shown,
                    "it names the image root, which only a directory may".to_owned(),
                ));
            }
            if let Some(last) = components.last() {
                if last.starts_with(b".wh.") {
                    return Err(refuse(
                        &shown,
                        "it is an OCI whiteout, which deletes files of lower layers; write the deletion as a \
                         `pyoci layer` spec entry of type \"whiteout\" or \"opaque_whiteout\" instead"
                            .to_owned(),
                    ));
                }
            }
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            if link.as_ref().is_some_and(|l| l.len() > MAX_MEMBER_PATH) {
                return Err(refuse(
                    &shown,
                    format!("its link target is over PATH_MAX ({MAX_MEMBER_PATH})"),
                ));
            }
            let mode = header.mode().map_err(io_error)?;
            let uid = header.uid().map_err(io_error)?;
            let gid = header.gid().map_err(io_error)?;
            let node_kind = match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => NodeKind::File,
                tar::EntryType::Directory => NodeKind::Dir,
                tar::EntryType::Symlink => NodeKind::Symlink,
                tar::EntryType::Link => {
                    let target = link.as_deref().unwrap_or_default();
                    let target_components = member_components(target).map_err(|reason| {
                        refuse(&shown, format!("its hard link target {reason}"))
                    })?;
                    if tree.kind_of(&target_components) != Some(NodeKind::File) {
                        return Err(refuse(
                            &shown,
                            format!(
                                "it is a hard link to {}, which is not an earlier regular file of this layer",
                                String::from_utf8_lossy(target)
                            ),
                        ));
                    }
                    NodeKind::File
                }
                tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                    if !rules.allow_devices {
                        let what = match kind {
                            tar::EntryType::Char => "a character device",
                            tar::EntryType::Block => "a block device",
                            _ => "a fifo",
                        };
                        return Err(refuse(
                            &shown,
                            format!("it is {what}; allow device nodes explicitly (allow_devices)"),
                        ));
                    }
                    NodeKind::Special
                }
                other => {
                    return Err(refuse(
                        &shown,
                        format!(
                            "its tar type {:?} is not a file, directory or link",
                            other.as_byte() as char
                        ),
                    ));
                }
            };
            let grants_root = (mode & 0o4000 != 0 && uid == 0) || (mode & 0o2000 != 0 && gid == 0);
            if node_kind == NodeKind::File && grants_root && !rules.allow_setuid {
                return Err(refuse(
                    &shown,
                    format!("it is setuid/setgid root (mode {:04o}, owner {uid}:{gid}); allow it explicitly (allow_setuid)", mode & 0o7777),
                ));
            }
            tree.insert(&components, node_kind).map_err(|symlink| {
                refuse(&shown, format!("its path goes through the symlink {symlink}, written earlier in this layer"))
            })?;
        }
    }
    // Tar's end-of-archive blocks and anything after them are part of the diff ID.
    io::copy(&mut hashing, &mut io::sink()).map_err(io_error)?;
    let digest = crate::digest::format_digest(&hashing.hasher.finalize());
    Ok((digest, hashing.count))
}

/// The components of a member name relative to the image root, `.` and empty ones dropped.
fn member_components(name: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    if name.contains(&0) {
        return Err("contains a NUL byte");
    }
    let mut parts = Vec::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("has a '..' component and could escape the image root"),
            other => parts.push(other),
        }
    }
    Ok(parts)
}

fn excerpt(name: &str) -> &str {
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeKind {
    Dir,
    File,
    Symlink,
    Special,
}

/// The layer's paths as a tree keyed by (parent, component): each member costs time and memory
/// linear in its name, however deep.
#[derive(Default)]
struct Tree {
    children: HashMap<(u32, Box<[u8]>), u32>,
    kinds: Vec<NodeKind>,
}

impl Tree {
    fn child(&self, parent: u32, name: &[u8]) -> Option<u32> {
        self.children.get(&(parent, Box::from(name))).copied()
    }

    fn kind_of(&self, components: &[&[u8]]) -> Option<NodeKind> {
        let mut node = None;
        for part in components {
            let next = self.child(node.map_or(u32::MAX, |n| n), part)?;
            node = Some(next);
        }
        node.and_then(|n| self.kinds.get(n as usize).copied())
    }

    /// Records a member; the error is the symlink an ancestor path already is.
    fn insert(&mut self, components: &[&[u8]], kind: NodeKind) -> std::result::Result<(), String> {
        let mut parent = u32::MAX;
        for (depth, part) in components.iter().enumerate() {
            let last = depth + 1 == components.len();
            let key = (parent, Box::<[u8]>::from(*part));
            let node = match self.children.get(&key) {
                Some(&node) => {
                    if !last && self.kinds[node as usize] == NodeKind::Symlink {
                        let shown: Vec<String> = components[..=depth]
                            .iter()
                            .map(|c| String::from_utf8_lossy(c).into_owned())
                            .collect();
                        return Err(format!("/{}", shown.join("/")));
                    }
                    if last {
                        self.kinds[node as usize] = kind;
                    }
                    node
                }
                None => {
                    let node = self.kinds.len() as u32;
                    self.kinds.push(if last { kind } else { NodeKind::Dir });
                    self.children.insert(key, node);
                    node
                }
            };
            parent = node;
        }
        Ok(())
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(members: &[(&str, tar::EntryType, u32, Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, mode, link) in members {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_mode(*mode);
            header.set_size(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            // Written raw so that hostile names reach the checker unchanged.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            builder.append(&header, io::empty()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn check(
        members: &[(&str, tar::EntryType, u32, Option<&str>)],
        rules: ForeignRules,
    ) -> std::result::Result<(), String> {
        check_foreign_tar(&tar_of(members)[..], Path::new("x.tar"), rules)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    use tar::EntryType::{Block, Char, Directory, Link, Regular, Symlink};

    #[test]
    fn ordinary_layers_pass() {
        let ok = [
            ("./", Directory, 0o755, None),
            ("./app/", Directory, 0o755, None),
            ("./app/main.py", Regular, 0o644, None),
            ("/app/abs.py", Regular, 0o644, None),
            ("app/same", Link, 0o644, Some("./app/main.py")),
            ("app/link", Symlink, 0o777, Some("/etc/passwd")),
            ("usr/bin/tool", Regular, 0o4755, None),
        ];
        let err = check(&ok, ForeignRules::default()).unwrap_err();
        assert!(
            err.contains("usr/bin/tool") && err.contains("setuid"),
            "{err}"
        );
        check(
            &ok,
            ForeignRules {
                allow_setuid: true,
                ..Default::default()
            },
        )
        .unwrap();
    }

    #[test]
    fn hostile_members_are_refused_by_name() {
        let cases: &[(&[(&str, tar::EntryType, u32, Option<&str>)], &str)] = &[
            (&[("../etc/passwd", Regular, 0o644, None)], "'..'"),
            (&[("app/../../x", Regular, 0o644, None)], "'..'"),
            (
                &[
                    ("etc", Symlink, 0o777, Some("/tmp")),
                    ("etc/passwd", Regular, 0o644, None),
                ],
                "through the symlink /etc",
            ),
            (
                &[("app/h", Link, 0o644, Some("/etc/shadow"))],
                "hard link to /etc/shadow",
            ),
            (&[("app/h", Link, 0o644, Some("../../etc/shadow"))], "'..'"),
            (&[("dev/mem", Char, 0o666, None)], "character device"),
            (&[("dev/sda", Block, 0o660, None)], "block device"),
            (&[("app/.wh.x", Regular, 0o644, None)], "whiteout"),
            (&[("etc/.wh..wh..opq", Regular, 0o644, None)], "whiteout"),
        ];
        for (members, needle) in cases {
            let err = check(members, ForeignRules::default()).unwrap_err();
            let last = members.last().map(|m| m.0).unwrap_or_default();
            assert!(err.contains(needle) && err.contains(last), "{last}: {err}");
        }
        check(
            &[("dev/null", Char, 0o666, None)],
            ForeignRules {
                allow_devices: true,
                ..Default::default()
            },
        )
        .unwrap();
    }
}
