//! Turns user entries into the validated, sorted list of tar members.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;

use rayon::prelude::*;

use crate::entry::{archive_name, display_name};
use crate::{Entry, EntryKind, Error};

const DIR_MODE: u32 = 0o755;
const EXECUTABLE_MODE: u32 = 0o755;
const REGULAR_MODE: u32 = 0o644;
const SYMLINK_MODE: u32 = 0o777;

#[derive(Debug, Clone)]
pub(crate) enum Content {
    File { source: PathBuf, size: u64 },
    Bytes(Vec<u8>),
}

impl Content {
    pub(crate) fn size(&self) -> u64 {
        match self {
            Content::File { size, .. } => *size,
            Content::Bytes(bytes) => bytes.len() as u64,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum ItemKind {
    Regular(Content),
    Dir,
    Symlink(Vec<u8>),
    /// Archive name of the member holding the contents.
    Hardlink(Vec<u8>),
}

impl ItemKind {
    fn noun(&self) -> &'static str {
        match self {
            ItemKind::Regular(_) => "file",
            ItemKind::Dir => "directory",
            ItemKind::Symlink(_) => "symlink",
            ItemKind::Hardlink(_) => "hard link",
        }
    }
}

/// One tar member, with every attribute decided.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Archive name: components joined by `/`, no leading or trailing slash.
    pub name: Vec<u8>,
    pub kind: ItemKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub origin: String,
}

impl Item {
    fn has_default_dir_attributes(&self) -> bool {
        self.mode == DIR_MODE && self.uid == 0 && self.gid == 0 && self.uname.is_empty() && self.gname.is_empty()
    }

    fn same_attributes(&self, other: &Item) -> bool {
        self.mode == other.mode
            && self.uid == other.uid
            && self.gid == other.gid
            && self.uname == other.uname
            && self.gname == other.gname
    }
}

/// Members in archive order.
#[derive(Debug)]
pub(crate) struct Plan {
    pub items: Vec<Item>,
}

/// Orders names component by component, so a directory's members follow it
/// directly (`a`, `a/b`, `a-b`), as `tar --sort=name` does. Names cannot
/// contain NUL, so mapping `/` to NUL keeps the key unique.
fn sort_key(name: &[u8]) -> Vec<u8> {
    name.iter().map(|&b| if b == b'/' { 0 } else { b }).collect()
}

impl Plan {
    pub(crate) fn build(entries: Vec<Entry>) -> Result<Plan, Error> {
        let mut members: BTreeMap<Vec<u8>, Item> = BTreeMap::new();
        let stats = stat_sources(&entries);
        for (entry, stat) in entries.into_iter().zip(stats) {
            let item = resolve(entry, stat)?;
            match members.entry(sort_key(&item.name)) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(item);
                }
                std::collections::btree_map::Entry::Occupied(mut slot) => {
                    if let Some(replacement) = merge_duplicate(slot.get(), item)? {
                        slot.insert(replacement);
                    }
                }
            }
        }
        add_parents(&mut members)?;
        canonicalise_hardlinks(&mut members)?;
        Ok(Plan { items: members.into_values().collect() })
    }
}

/// What the plan keeps of a source file's metadata (a whole `fs::Metadata`
/// per entry would be most of the plan's memory on trees of 50,000 files).
struct SourceStat {
    file_type: fs::FileType,
    len: u64,
    owner_executable: bool,
}

fn stat_source(source: &std::path::Path) -> io::Result<SourceStat> {
    let metadata = fs::metadata(source)?;
    Ok(SourceStat {
        file_type: metadata.file_type(),
        len: metadata.len(),
        owner_executable: metadata.permissions().mode() & 0o100 != 0,
    })
}

/// The stat of every file entry's source (None for other kinds), in entry
/// order, spread over the cores: on a pip tree of 7,000 files the stats are a
/// third of the time before the first byte of tar, when the compression
/// threads have nothing to do yet.
fn stat_sources(entries: &[Entry]) -> Vec<Option<io::Result<SourceStat>>> {
    entries
        .par_iter()
        .with_min_len(64)
        .map(|entry| match &entry.kind {
            EntryKind::File(source) => Some(stat_source(source)),
            _ => None,
        })
        .collect()
}

fn resolve(entry: Entry, stat: Option<io::Result<SourceStat>>) -> Result<Item, Error> {
    let name = archive_name(&entry.path)?;
    let origin = entry.describe();
    let (kind, default_mode) = match entry.kind {
        EntryKind::File(source) => {
            let stat = stat
                .unwrap_or_else(|| stat_source(&source))
                .map_err(|e| Error::Source { path: source.clone(), error: e })?;
            if stat.file_type.is_dir() {
                return Err(Error::Source {
                    path: source,
                    error: io::Error::new(io::ErrorKind::InvalidInput, "it is a directory where a file was expected"),
                });
            }
            if !stat.file_type.is_file() {
                return Err(Error::UnsupportedFileType { path: source, kind: special_kind(&stat.file_type) });
            }
            let default_mode = if stat.owner_executable { EXECUTABLE_MODE } else { REGULAR_MODE };
            (ItemKind::Regular(Content::File { source, size: stat.len }), default_mode)
        }
        EntryKind::Bytes(bytes) => (ItemKind::Regular(Content::Bytes(bytes)), REGULAR_MODE),
        EntryKind::Dir => (ItemKind::Dir, DIR_MODE),
        EntryKind::Symlink(target) => {
            let target = target.as_os_str().as_bytes().to_vec();
            if target.is_empty() || target.contains(&0) {
                return Err(Error::InvalidDest {
                    dest: display_name(&name),
                    reason: "its symlink target is empty or contains a NUL byte",
                });
            }
            (ItemKind::Symlink(target), SYMLINK_MODE)
        }
        EntryKind::Hardlink(target) => (ItemKind::Hardlink(archive_name(&target)?), REGULAR_MODE),
        kind @ (EntryKind::Whiteout | EntryKind::OpaqueWhiteout) => {
            // Whiteouts are empty root-owned files; only their names carry meaning.
            let name = whiteout_name(&name, kind == EntryKind::OpaqueWhiteout);
            return Ok(Item {
                name,
                kind: ItemKind::Regular(Content::Bytes(Vec::new())),
                mode: REGULAR_MODE,
                uid: 0,
                gid: 0,
                uname: String::new(),
                gname: String::new(),
                origin,
            });
        }
    };
    Ok(Item {
        name,
        kind,
        mode: entry.mode.map_or(default_mode, |mode| mode & 0o7777),
        uid: entry.uid,
        gid: entry.gid,
        uname: entry.uname,
        gname: entry.gname,
        origin,
    })
}

/// `dir/.wh.name` for a whiteout of `dir/name`; `dir/name/.wh..wh..opq` for an opaque one.
fn whiteout_name(name: &[u8], opaque: bool) -> Vec<u8> {
    if opaque {
        return [name, b"/.wh..wh..opq"].concat();
    }
    match name.iter().rposition(|&b| b == b'/') {
        Some(slash) => [&name[..=slash], crate::entry::WHITEOUT_PREFIX, &name[slash + 1..]].concat(),
        None => [crate::entry::WHITEOUT_PREFIX, name].concat(),
    }
}

pub(crate) fn special_kind(file_type: &fs::FileType) -> &'static str {
    if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// Decides what one destination becomes when two entries name it:
/// `Ok(None)` keeps the existing item, `Ok(Some(item))` replaces it.
fn merge_duplicate(existing: &Item, new: Item) -> Result<Option<Item>, Error> {
    let conflict = |what: &'static str| Error::DuplicateDest {
        dest: display_name(&existing.name),
        first: existing.origin.clone(),
        second: new.origin.clone(),
        what,
    };
    match (&existing.kind, &new.kind) {
        (ItemKind::Dir, ItemKind::Dir) => {
            // A directory that a tree walk or a parent implies yields to one
            // given with explicit attributes.
            if existing.same_attributes(&new) || new.has_default_dir_attributes() {
                Ok(None)
            } else if existing.has_default_dir_attributes() {
                Ok(Some(new))
            } else {
                Err(conflict("mode or owner"))
            }
        }
        (ItemKind::Regular(a), ItemKind::Regular(b)) => {
            if !same_contents(a, b)? {
                Err(conflict("content"))
            } else if !existing.same_attributes(&new) {
                Err(conflict("mode or owner"))
            } else {
                Ok(None)
            }
        }
        (ItemKind::Symlink(a), ItemKind::Symlink(b)) | (ItemKind::Hardlink(a), ItemKind::Hardlink(b)) => {
            if a != b {
                Err(conflict("target"))
            } else if !existing.same_attributes(&new) {
                Err(conflict("mode or owner"))
            } else {
                Ok(None)
            }
        }
        _ => Err(conflict("type")),
    }
}

fn same_contents(a: &Content, b: &Content) -> Result<bool, Error> {
    if a.size() != b.size() {
        return Ok(false);
    }
    match (a, b) {
        (Content::Bytes(a), Content::Bytes(b)) => Ok(a == b),
        (Content::File { source: a, .. }, Content::File { source: b, .. }) if a == b => Ok(true),
        _ => {
            let mut left = content_reader(a)?;
            let mut right = content_reader(b)?;
            let (mut left_buf, mut right_buf) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
            loop {
                let n = read_full(&mut left, &mut left_buf, a)?;
                let m = read_full(&mut right, &mut right_buf, b)?;
                if n != m || left_buf[..n] != right_buf[..m] {
                    return Ok(false);
                }
                if n == 0 {
                    return Ok(true);
                }
            }
        }
    }
}

fn content_reader(content: &Content) -> Result<Box<dyn Read + '_>, Error> {
    match content {
        Content::Bytes(bytes) => Ok(Box::new(bytes.as_slice())),
        Content::File { source, .. } => {
            let file = File::open(source).map_err(|e| Error::Source { path: source.clone(), error: e })?;
            Ok(Box::new(file))
        }
    }
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8], content: &Content) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let path = match content {
                    Content::File { source, .. } => source.clone(),
                    Content::Bytes(_) => PathBuf::from("<inline content>"),
                };
                return Err(Error::Source { path, error: e });
            }
        }
    }
    Ok(filled)
}

/// Adds every missing ancestor directory as 0755 root, and rejects entries
/// whose ancestor is a file or link.
fn add_parents(members: &mut BTreeMap<Vec<u8>, Item>) -> Result<(), Error> {
    let mut missing: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for item in members.values() {
        let mut end = item.name.len();
        while let Some(slash) = item.name[..end].iter().rposition(|&b| b == b'/') {
            end = slash;
            let parent = &item.name[..end];
            let key = sort_key(parent);
            match members.get(&key) {
                Some(existing) if matches!(existing.kind, ItemKind::Dir) => break,
                Some(existing) => {
                    return Err(Error::ParentNotDirectory {
                        dest: display_name(&item.name),
                        parent: display_name(parent),
                        origin: existing.origin.clone(),
                        kind: existing.kind.noun(),
                    })
                }
                None => {
                    if missing.insert(key, parent.to_vec()).is_some() {
                        break;
                    }
                }
            }
        }
    }
    for (key, name) in missing {
        members.insert(
            key,
            Item {
                origin: format!("the parent directory {}", display_name(&name)),
                name,
                kind: ItemKind::Dir,
                mode: DIR_MODE,
                uid: 0,
                gid: 0,
                uname: String::new(),
                gname: String::new(),
            },
        );
    }
    Ok(())
}

/// Points every hard link at the first member (in archive order) of its
/// group and gives that member the contents, so extractors always meet the
/// contents before a link to them, whichever path the caller made primary.
fn canonicalise_hardlinks(members: &mut BTreeMap<Vec<u8>, Item>) -> Result<(), Error> {
    let mut groups: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    for (key, item) in members.iter() {
        let ItemKind::Hardlink(first_target) = &item.kind else { continue };
        let fail = |reason: String| Error::Hardlink {
            dest: display_name(&item.name),
            origin: item.origin.clone(),
            reason,
        };
        let mut target = first_target.clone();
        let mut hops = 0usize;
        let root_key = loop {
            let target_key = sort_key(&target);
            match members.get(&target_key).map(|t| &t.kind) {
                Some(ItemKind::Regular(_)) => break target_key,
                Some(ItemKind::Hardlink(next)) => {
                    hops += 1;
                    if hops > members.len() {
                        return Err(fail("its chain of hard links loops".to_string()));
                    }
                    target = next.clone();
                }
                Some(other) => {
                    return Err(fail(format!("its target {} is a {}", display_name(&target), other.noun())))
                }
                None => {
                    return Err(fail(format!("its target {} is not in the layer", display_name(&target))))
                }
            }
        };
        groups.entry(root_key).or_default().push(key.clone());
    }
    for (root_key, link_keys) in groups {
        let holder_key = link_keys.iter().chain(Some(&root_key)).min().cloned().unwrap_or(root_key.clone());
        if holder_key != root_key {
            let (Some(root), Some(holder)) = (members.get(&root_key).cloned(), members.get(&holder_key).cloned())
            else {
                continue;
            };
            members.insert(holder_key.clone(), Item { name: holder.name.clone(), origin: holder.origin, ..root.clone() });
            members.insert(root_key.clone(), Item { kind: ItemKind::Hardlink(holder.name.clone()), ..root });
        }
        let Some(holder) = members.get(&holder_key).cloned() else { continue };
        for key in link_keys.iter().chain(Some(&root_key)) {
            if *key == holder_key {
                continue;
            }
            if let Some(link) = members.get_mut(key) {
                link.kind = ItemKind::Hardlink(holder.name.clone());
                link.mode = holder.mode;
                link.uid = holder.uid;
                link.gid = holder.gid;
                link.uname = holder.uname.clone();
                link.gname = holder.gname.clone();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(plan: &Plan) -> Vec<String> {
        plan.items.iter().map(|i| String::from_utf8_lossy(&i.name).into_owned()).collect()
    }

    #[test]
    fn sorted_by_components_with_parents() {
        let plan = Plan::build(vec![
            Entry::bytes("/a-b", "1"),
            Entry::bytes("/a/b/c", "2"),
            Entry::bytes("/a/a", "3"),
        ])
        .unwrap();
        assert_eq!(names(&plan), ["a", "a/a", "a/b", "a/b/c", "a-b"]);
        assert!(matches!(plan.items[0].kind, ItemKind::Dir));
        assert_eq!(plan.items[0].mode, 0o755);
    }

    #[test]
    fn identical_duplicates_are_merged() {
        let plan = Plan::build(vec![Entry::bytes("/x", "same"), Entry::bytes("x", "same")]).unwrap();
        assert_eq!(names(&plan), ["x"]);
    }

    #[test]
    fn different_duplicates_name_both_origins() {
        let err = Plan::build(vec![
            Entry::bytes("/x", "one").with_origin("first.deb"),
            Entry::bytes("/x", "two").with_origin("second.deb"),
        ])
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("/x") && message.contains("first.deb") && message.contains("second.deb"), "{message}");
    }

    #[test]
    fn explicit_directory_attributes_win_over_implied_ones() {
        let plan = Plan::build(vec![
            Entry::bytes("/app/data/x", "1"),
            Entry::dir("/app/data").with_owner(65532, 65532),
            Entry::dir("/app/data"),
        ])
        .unwrap();
        let data = plan.items.iter().find(|i| i.name == b"app/data").unwrap();
        assert_eq!((data.uid, data.gid), (65532, 65532));
    }

    #[test]
    fn parent_that_is_a_file_is_rejected() {
        let err = Plan::build(vec![Entry::bytes("/a", "file"), Entry::bytes("/a/b", "x")]).unwrap_err();
        assert!(matches!(err, Error::ParentNotDirectory { .. }), "{err}");
    }

    #[test]
    fn hardlink_contents_move_to_the_first_member() {
        let plan = Plan::build(vec![
            Entry::bytes("/usr/bin/perl5", "binary").with_mode(0o755),
            Entry::hardlink("/usr/bin/perl", "/usr/bin/perl5"),
        ])
        .unwrap();
        let perl = plan.items.iter().find(|i| i.name == b"usr/bin/perl").unwrap();
        let perl5 = plan.items.iter().find(|i| i.name == b"usr/bin/perl5").unwrap();
        assert!(matches!(&perl.kind, ItemKind::Regular(Content::Bytes(b)) if b == b"binary"));
        assert_eq!(perl.mode, 0o755);
        assert!(matches!(&perl5.kind, ItemKind::Hardlink(t) if t == b"usr/bin/perl"));
    }

    #[test]
    fn hardlink_to_missing_target_is_rejected() {
        let err = Plan::build(vec![Entry::hardlink("/a", "/b")]).unwrap_err();
        assert!(err.to_string().contains("/b"), "{err}");
    }

    #[test]
    fn missing_source_names_the_path() {
        let err = Plan::build(vec![Entry::file("/x", "/nonexistent/source.py")]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/source.py"), "{err}");
    }
}
