//! The filesystem an image presents to its container: its layers applied in
//! order, whiteouts included, plus what each layer weighs.
//!
//! Layers are streamed once. Metadata of every path is kept; file contents are
//! kept only for the paths a caller asks for, so a 200 MB site-packages costs
//! one decompression pass and no memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Bound;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use pyoci_manifest::{Image, Layout};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Directory depth at which the size report aggregates a layer's files:
/// deep enough to tell `/usr/lib/python3.11` from `/app/service.runfiles`.
pub const SIZE_REPORT_DEPTH: usize = 3;
const MAX_SYMLINK_HOPS: usize = 40;
/// Linux's PATH_MAX: no runtime can create a member whose name or link
/// target is longer, so a layer holding one is hostile or broken.
pub const MAX_MEMBER_PATH: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
}

impl Kind {
    /// The first character `ls -l` prints for this kind.
    pub fn ls_char(self) -> char {
        match self {
            Kind::File | Kind::Hardlink => '-',
            Kind::Dir => 'd',
            Kind::Symlink => 'l',
            Kind::Other => '?',
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits including setuid/setgid/sticky (0o7777).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Symlink target as written, or the absolute path a hard link points to.
    pub link_target: Option<String>,
    /// Index of the layer this version of the path comes from.
    pub layer: usize,
    /// Present only when the reader's `keep` predicate selected the path.
    pub content: Option<Vec<u8>>,
    /// True for parent directories no layer listed explicitly.
    pub implicit: bool,
    /// For a [`Kind::Other`] member: what it is ("character device", "block
    /// device", "fifo"), so the gates can name device nodes.
    pub special: Option<&'static str>,
}

/// One tar entry as it appears in one layer, before whiteouts are applied.
pub struct RawEntry<'a> {
    pub layer: usize,
    pub layer_digest: &'a str,
    pub path: &'a str,
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
}

/// Sees every entry of every layer, including ones later layers delete
/// (a deleted secret still ships in its layer blob).
pub trait Observer {
    fn wants_content(&mut self, entry: &RawEntry) -> bool;
    fn observe(&mut self, entry: &RawEntry, content: Option<&[u8]>);
    /// A layer replayed from its findings record instead of read: the observer gets
    /// what the record says about the layer's raw entries.
    fn recorded(
        &mut self,
        _layer: usize,
        _layer_digest: &str,
        _findings: &crate::layer_findings::LayerFindings,
    ) {
    }
}

#[derive(Clone, Debug, Default)]
pub struct DirUsage {
    pub bytes: u64,
    pub files: u64,
}

#[derive(Clone, Debug)]
pub struct LayerStats {
    pub index: usize,
    pub digest: String,
    pub media_type: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub diff_id: Option<String>,
    pub files: u64,
    pub file_bytes: u64,
    /// File bytes per directory, cut at [`SIZE_REPORT_DEPTH`].
    pub dirs: BTreeMap<String, DirUsage>,
    /// The layer writes the dpkg database: it installs Debian packages.
    pub writes_dpkg_database: bool,
}

pub struct ImageFs {
    entries: BTreeMap<String, Entry>,
    /// Whiteouts already applied in the layer being read: repeating one in the
    /// same layer changes nothing, so it is not applied (and scanned) again.
    whiteouts_applied: std::collections::HashSet<String>,
    /// One implied directory per layer, answered for parents no layer lists.
    implicit_dirs: Vec<Entry>,
    pub layers: Vec<LayerStats>,
}

impl ImageFs {
    /// Reads every layer of `image`. `keep(path)` selects the paths whose
    /// contents stay in memory; `observer` sees every raw entry.
    pub fn read(
        layout: &Layout,
        image: &Image,
        keep: &dyn Fn(&str) -> bool,
        observer: Option<&mut dyn Observer>,
    ) -> Result<ImageFs> {
        ImageFs::read_with_records(layout, image, keep, observer, &|_| None)
    }

    /// [`ImageFs::read`], except that a layer for which `record(index)` gives a
    /// per-layer findings record is replayed from it: its blob is not opened, and the
    /// observer gets the record's secret findings instead of the raw entries
    /// ([`Observer::recorded`]). The caller has matched each record to its layer.
    pub fn read_with_records<'r>(
        layout: &Layout,
        image: &Image,
        keep: &dyn Fn(&str) -> bool,
        mut observer: Option<&mut dyn Observer>,
        record: &dyn Fn(usize) -> Option<&'r crate::layer_findings::LayerFindings>,
    ) -> Result<ImageFs> {
        let mut fs = ImageFs::empty(image.manifest.layers().len());
        let diff_ids = image.config.rootfs().diff_ids();
        for (index, descriptor) in image.manifest.layers().iter().enumerate() {
            let digest = descriptor.digest().to_string();
            let mut stats = LayerStats {
                index,
                digest: digest.clone(),
                media_type: descriptor.media_type().to_string(),
                compressed_size: descriptor.size(),
                uncompressed_size: 0,
                diff_id: diff_ids.get(index).cloned(),
                files: 0,
                file_bytes: 0,
                dirs: BTreeMap::new(),
                writes_dpkg_database: false,
            };
            fs.whiteouts_applied.clear();
            match record(index) {
                Some(findings) => {
                    findings.replay_stats(&mut stats);
                    for member in &findings.members {
                        fs.apply_member(member.to_member(index), keep);
                    }
                    if let Some(o) = observer.as_mut() {
                        o.recorded(index, &digest, findings);
                    }
                }
                None => {
                    let path = layout.blob_path(&digest);
                    let scanned = scan_layer(
                        layout.root(),
                        &path,
                        &mut stats,
                        keep,
                        &mut observer,
                        false,
                        &mut |member| fs.apply_member(member, keep),
                    )?;
                    if scanned.digest != digest {
                        return Err(Error::LayerContent {
                            layout: layout.root().to_path_buf(),
                            index,
                            digest,
                            reason: format!("blob content has digest {}", scanned.digest),
                        });
                    }
                }
            }
            fs.layers.push(stats);
        }
        Ok(fs)
    }

    fn empty(layer_count: usize) -> ImageFs {
        let implicit_dirs = (0..layer_count.max(1))
            .map(|layer| Entry {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                link_target: None,
                layer,
                content: None,
                implicit: true,
                special: None,
            })
            .collect();
        ImageFs {
            entries: BTreeMap::new(),
            whiteouts_applied: Default::default(),
            implicit_dirs,
            layers: Vec::new(),
        }
    }

    /// Applies one member of a layer, read from its blob or replayed from a record.
    fn apply_member(&mut self, member: Member, keep: &dyn Fn(&str) -> bool) {
        let Member {
            path,
            kind,
            mode,
            uid,
            gid,
            size,
            link_target,
            layer,
            content,
            special,
        } = member;
        let content = match (&kind, &link_target) {
            (Kind::Hardlink, Some(target)) if keep(&path) => {
                self.entries.get(target).and_then(|e| e.content.clone())
            }
            _ => content.filter(|_| keep(&path)),
        };
        self.apply(
            path,
            Entry {
                kind,
                mode,
                uid,
                gid,
                size,
                link_target,
                layer,
                content,
                implicit: false,
                special,
            },
        );
    }

    fn apply(&mut self, path: String, entry: Entry) {
        let (parent, name) = split_parent(&path);
        if name == OPAQUE_WHITEOUT {
            if self.whiteouts_applied.insert(path.clone()) {
                self.remove_descendants(parent, entry.layer);
            }
            return;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            let target = join(parent, hidden);
            if !self.whiteouts_applied.insert(path.clone()) {
                return;
            }
            if self
                .entries
                .get(&target)
                .is_some_and(|e| e.layer < entry.layer)
            {
                self.entries.remove(&target);
            }
            self.remove_descendants(&target, entry.layer);
            return;
        }
        if path == "/" && entry.kind != Kind::Dir {
            // Nothing replaces the root of a container's filesystem.
            return;
        }
        if entry.kind != Kind::Dir {
            // Extraction replaces a directory with a non-directory whatever layer
            // wrote its children; removing them all keeps each removal one-time.
            self.remove_descendants(&path, usize::MAX);
        }
        self.entries.insert(path, entry);
    }

    fn remove_descendants(&mut self, dir: &str, below_layer: usize) {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .entries
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, e)| e.layer < below_layer && p.as_str() != "/")
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            self.entries.remove(&p);
        }
    }

    /// The entry at `path` as stored, or the directory implied by a deeper
    /// entry. Implied parents are answered from the sorted map, never stored:
    /// storing every parent of a 1 MiB-deep path costs memory quadratic in
    /// its length.
    fn lookup(&self, path: &str) -> Option<&Entry> {
        if let Some(entry) = self.entries.get(path) {
            return Some(entry);
        }
        if path == "/" {
            return self.implicit_dirs.first();
        }
        let prefix = format!("{path}/");
        let (_, below) = self
            .entries
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .next()
            .filter(|(p, _)| p.starts_with(&prefix))?;
        self.implicit_dir(below.layer)
    }

    fn implicit_dir(&self, layer: usize) -> Option<&Entry> {
        self.implicit_dirs
            .get(layer)
            .or_else(|| self.implicit_dirs.first())
    }

    /// The entry at exactly `path` (no symlink in any component followed).
    /// Directories no layer lists but a deeper entry implies are reported as
    /// `implicit` root-owned 0755 directories.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.lookup(&normalize(path))
    }

    /// Every path of the final filesystem, sorted.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(p, e)| (p.as_str(), e))
    }

    /// Resolves symlinks in the directories of `path` (and in its last
    /// component when `follow_last`), as the kernel would inside the container.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Option<(String, &Entry)> {
        let mut pending: Vec<String> = components(&normalize(path))
            .rev()
            .map(String::from)
            .collect();
        let mut resolved = String::from("/");
        let mut hops = 0;
        while let Some(component) = pending.pop() {
            if component == ".." {
                resolved = split_parent(&resolved).0.to_string();
                continue;
            }
            let candidate = join(&resolved, &component);
            let entry = self.lookup(&candidate)?;
            let is_last = pending.is_empty();
            if entry.kind == Kind::Symlink && (!is_last || follow_last) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return None;
                }
                let target = entry.link_target.as_deref().unwrap_or("");
                if target.starts_with('/') {
                    resolved = String::from("/");
                }
                for part in components(target).rev() {
                    pending.push(part.to_string());
                }
                continue;
            }
            resolved = candidate;
        }
        let entry = self.lookup(&resolved)?;
        Some((resolved, entry))
    }

    /// A kept file's contents, following symlinks and hard links.
    pub fn read_file(&self, path: &str) -> Option<&[u8]> {
        let (_, entry) = self.resolve(path, true)?;
        match entry.kind {
            Kind::File => entry.content.as_deref(),
            Kind::Hardlink => {
                let target = entry.link_target.as_deref()?;
                entry
                    .content
                    .as_deref()
                    .or_else(|| self.entries.get(target).and_then(|e| e.content.as_deref()))
            }
            _ => None,
        }
    }

    /// Compressed bytes of all layers.
    pub fn compressed_layer_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.compressed_size).sum()
    }
}

/// One tar member of one layer, before whiteouts are applied: what the
/// filesystem view needs of it (contents only for kept paths).
#[derive(Clone, Debug)]
pub struct Member {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub link_target: Option<String>,
    pub layer: usize,
    pub content: Option<Vec<u8>>,
    pub special: Option<&'static str>,
}

/// What reading a layer blob found out about the blob itself.
pub struct Scanned {
    /// sha256 of the blob as stored.
    pub digest: String,
    /// sha256 of the uncompressed tar, when asked for.
    pub diff_id: Option<String>,
}

/// Streams one layer blob at `blob` (layer `stats.index` of `origin`, for errors):
/// fills `stats`, shows raw entries to `observer`, hands each member to `visit`,
/// and returns the blob's digest (and its diff ID when `diff_id` is set).
pub(crate) fn scan_layer(
    origin: &Path,
    blob: &Path,
    stats: &mut LayerStats,
    keep: &dyn Fn(&str) -> bool,
    observer: &mut Option<&mut dyn Observer>,
    diff_id: bool,
    visit: &mut dyn FnMut(Member),
) -> Result<Scanned> {
    let index = stats.index;
    let digest = stats.digest.clone();
    let layer_error = |source: io::Error| Error::Layer {
        layout: origin.to_path_buf(),
        index,
        digest: digest.clone(),
        source,
    };
    let file = File::open(blob).map_err(layer_error)?;
    let mut hashing = HashingReader::new(file);
    let plain;
    let uncompressed_digest = {
        let mut buffered = BufReader::with_capacity(1 << 20, &mut hashing);
        let magic = buffered.fill_buf().map_err(layer_error)?.to_vec();
        // A plain tar's diff ID is its digest: hashing its bytes twice would double the cost.
        plain = !magic.starts_with(&[0x1f, 0x8b]) && !magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let decoded: Box<dyn Read + '_> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(buffered))
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(layer_error)?)
        } else {
            Box::new(buffered)
        };
        let mut archive = tar::Archive::new(EndOfArchivePadding {
            inner: CountingReader {
                inner: decoded,
                count: 0,
                hasher: (diff_id && !plain).then(Sha256::new),
            },
            padding_left: None,
        });
        for item in archive.entries().map_err(layer_error)? {
            let mut tar_entry = item.map_err(layer_error)?;
            let raw_path = String::from_utf8_lossy(&tar_entry.path_bytes()).into_owned();
            let link_len = tar_entry.link_name_bytes().map_or(0, |l| l.len());
            if raw_path.len() > MAX_MEMBER_PATH || link_len > MAX_MEMBER_PATH {
                return Err(Error::LayerContent {
                    layout: origin.to_path_buf(),
                    index,
                    digest: digest.clone(),
                    reason: format!(
                        "member {}... has a name or link target of {} bytes, over Linux's PATH_MAX ({MAX_MEMBER_PATH}); no runtime can unpack it",
                        excerpt(&raw_path),
                        raw_path.len().max(link_len)
                    ),
                });
            }
            let path = normalize(&raw_path);
            let header = tar_entry.header();
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink,
                tar::EntryType::Link => Kind::Hardlink,
                _ => Kind::Other,
            };
            let special = match header.entry_type() {
                tar::EntryType::Char => Some(crate::layer_findings::CHAR_DEVICE),
                tar::EntryType::Block => Some(crate::layer_findings::BLOCK_DEVICE),
                tar::EntryType::Fifo => Some(crate::layer_findings::FIFO),
                _ => None,
            };
            let mode = header.mode().map_err(layer_error)? & 0o7777;
            let uid = header.uid().map_err(layer_error)?;
            let gid = header.gid().map_err(layer_error)?;
            let size = if kind == Kind::File {
                tar_entry.size()
            } else {
                0
            };
            let link_target = match kind {
                Kind::Symlink => tar_entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
                Kind::Hardlink => tar_entry
                    .link_name_bytes()
                    .map(|b| normalize(&String::from_utf8_lossy(&b))),
                _ => None,
            };
            if path.starts_with("/var/lib/dpkg/") {
                stats.writes_dpkg_database = true;
            }
            if kind == Kind::File {
                stats.files += 1;
                stats.file_bytes += size;
                let usage = stats.dirs.entry(size_bucket(&path)).or_default();
                usage.bytes += size;
                usage.files += 1;
            }
            let raw = RawEntry {
                layer: index,
                layer_digest: &digest,
                path: &path,
                kind,
                mode,
                size,
            };
            let keep_this = kind == Kind::File && keep(&path);
            let observe_this =
                kind == Kind::File && observer.as_mut().is_some_and(|o| o.wants_content(&raw));
            let content = if keep_this || observe_this {
                let mut buf = Vec::with_capacity(size.min(1 << 24) as usize);
                tar_entry.read_to_end(&mut buf).map_err(layer_error)?;
                Some(buf)
            } else {
                None
            };
            if let Some(o) = observer.as_mut() {
                o.observe(&raw, content.as_deref().filter(|_| observe_this));
            }
            let content = if keep_this { content } else { None };
            visit(Member {
                path,
                kind,
                mode,
                uid,
                gid,
                size,
                link_target,
                layer: index,
                content,
                special,
            });
        }
        let mut padded = archive.into_inner();
        // Tar's end-of-archive padding is part of the diff the layer ships.
        io::copy(&mut padded, &mut io::sink()).map_err(layer_error)?;
        stats.uncompressed_size = padded.inner.count;
        padded.inner.hasher.take().map(|h| format!("sha256:{}", crate::hex(&h.finalize())))
    };
    io::copy(&mut hashing, &mut io::sink()).map_err(layer_error)?;
    let digest = format!("sha256:{}", crate::hex(&hashing.hasher.finalize()));
    let diff_id = match (diff_id, plain) {
        (true, true) => Some(digest.clone()),
        _ => uncompressed_digest,
    };
    Ok(Scanned { digest, diff_id })
}

/// `/a/b/../c/` -> `/a/c`; tar's `./x` and `x` both mean `/x`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The first 64 bytes of a (possibly huge) member name, cut on a character boundary.
fn excerpt(path: &str) -> &str {
    let mut end = path.len().min(64);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty() && *p != ".")
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("/", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// True when `path` is `prefix` or lies below it.
pub fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = normalize(prefix);
    prefix == "/"
        || path == prefix
        || (path.starts_with(&prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn size_bucket(path: &str) -> String {
    let (parent, _) = split_parent(path);
    let parts: Vec<&str> = components(parent).take(SIZE_REPORT_DEPTH).collect();
    format!("/{}", parts.join("/"))
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Debian's umoci 0.4.7 ends layer tars right after the last file's data,
/// without block padding or the two zero blocks; podman accepts such layers,
/// so this supplies the missing zeros when the stream ends early.
struct EndOfArchivePadding<R> {
    inner: CountingReader<R>,
    padding_left: Option<u64>,
}

impl<R: Read> Read for EndOfArchivePadding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.padding_left.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let to_block = (512 - self.inner.count % 512) % 512;
            self.padding_left = Some(to_block + 1024);
        }
        let left = self.padding_left.unwrap_or(0);
        let n = (left.min(buf.len() as u64)) as usize;
        buf[..n].fill(0);
        self.padding_left = Some(left - n as u64);
        Ok(n)
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
    /// Hashes the uncompressed stream when the diff ID is wanted.
    hasher: Option<Sha256>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_tar_paths() {
        assert_eq!(normalize("./usr/bin/"), "/usr/bin");
        assert_eq!(normalize("usr//lib/../bin"), "/usr/bin");
        assert_eq!(normalize("."), "/");
        assert_eq!(normalize("../../etc"), "/etc");
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(is_under("/app/x.py", "/app"));
        assert!(is_under("/app", "/app/"));
        assert!(!is_under("/application", "/app"));
        assert!(is_under("/anything", "/"));
    }

    fn entry(kind: Kind, layer: usize, target: Option<&str>) -> Entry {
        Entry {
            kind,
            mode: if kind == Kind::Dir { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            size: 0,
            link_target: target.map(String::from),
            layer,
            content: Some(format!("layer {layer}").into_bytes()),
            implicit: false,
            special: None,
        }
    }

    fn layered(entries: &[(&str, Kind, usize, Option<&str>)]) -> ImageFs {
        let mut fs = ImageFs::empty(2);
        for (path, kind, layer, target) in entries {
            fs.apply(normalize(path), entry(*kind, *layer, *target));
        }
        fs
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let fs = layered(&[
            ("/app/a.py", Kind::File, 0, None),
            ("/app/pkg/x.py", Kind::File, 0, None),
            ("/etc/old", Kind::File, 0, None),
            ("/app/.wh.a.py", Kind::File, 1, None),
            ("/app/pkg/.wh..wh..opq", Kind::File, 1, None),
            ("/app/pkg/y.py", Kind::File, 1, None),
            ("/.wh.etc", Kind::File, 1, None),
        ]);
        let paths: Vec<&str> = fs.entries().map(|(p, _)| p).collect();
        assert_eq!(paths, ["/app/pkg/y.py"]);
        assert!(fs.get("/app").is_some_and(|e| e.implicit && e.layer == 1));
        assert!(fs.get("/").is_some_and(|e| e.kind == Kind::Dir));
        assert!(fs.get("/etc").is_none());
    }

    #[test]
    fn a_file_replacing_a_directory_removes_its_children() {
        let fs = layered(&[
            ("/data/file", Kind::File, 0, None),
            ("/data", Kind::Symlink, 1, Some("/srv")),
        ]);
        assert!(fs.get("/data/file").is_none());
        assert_eq!(fs.get("/data").map(|e| e.kind), Some(Kind::Symlink));
    }

    #[test]
    fn symlinks_resolve_like_the_kernel() {
        let fs = layered(&[
            ("/usr/bin/python3.11", Kind::File, 0, None),
            ("/usr/bin/python3", Kind::Symlink, 0, Some("python3.11")),
            ("/bin", Kind::Symlink, 0, Some("usr/bin")),
            (
                "/etc/os-release",
                Kind::Symlink,
                0,
                Some("../usr/lib/os-release"),
            ),
            ("/usr/lib/os-release", Kind::File, 1, None),
            ("/loop", Kind::Symlink, 0, Some("/loop")),
        ]);
        assert_eq!(
            fs.resolve("/bin/python3", true).map(|(p, _)| p).as_deref(),
            Some("/usr/bin/python3.11")
        );
        assert_eq!(
            fs.resolve("/bin/python3", false).map(|(p, _)| p).as_deref(),
            Some("/usr/bin/python3")
        );
        assert_eq!(fs.read_file("/etc/os-release"), Some(&b"layer 1"[..]));
        assert!(fs.resolve("/loop", true).is_none());
        assert!(fs.resolve("/bin/missing", true).is_none());
    }

    #[test]
    fn buckets_cut_at_depth() {
        assert_eq!(
            size_bucket("/usr/lib/python3.11/os.py"),
            "/usr/lib/python3.11"
        );
        assert_eq!(
            size_bucket("/usr/lib/python3.11/json/x.py"),
            "/usr/lib/python3.11"
        );
        assert_eq!(size_bucket("/app/main.py"), "/app");
        assert_eq!(size_bucket("/top"), "/");
    }
}
