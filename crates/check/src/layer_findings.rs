//! Per-layer findings records: what the gates need to know about one layer's bytes,
//! computed once per layer and keyed by its digests, so that checking an image after an
//! edit reads only the layers that changed.
//!
//! A record holds the layer's members as the filesystem view applies them (path, kind,
//! mode, owner, size, link target, device kind, and the contents of /etc/passwd and
//! /etc/group), the secret findings of its files (scanned with no `--allow-secret-in`,
//! which is applied when records are combined), and its size statistics. It depends on
//! no opt-out: combining records with the image config gives the verdicts and report
//! text that reading the layers would ([`crate::gates::check_with_records`]). Its size
//! grows with the layer's member count, not with its bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::imagefs::{scan_layer, DirUsage, Kind, LayerStats, Member, Observer};
use crate::secrets::{SecretLocation, SecretScanner};
use pyoci_manifest::{Image, Layout};

/// The `format` every findings file carries; a reader refuses any other.
pub const FORMAT: &str = "pyoci-layer-findings/1";

/// A findings file: the records of one layer or of every layer of a layout.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FindingsFile {
    pub format: String,
    pub layers: Vec<LayerFindings>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerFindings {
    /// sha256 of the blob.
    pub digest: String,
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Size of the blob.
    pub size: u64,
    pub uncompressed_size: u64,
    /// Files larger than this were not scanned for secrets.
    pub max_scan_size: u64,
    pub files: u64,
    pub file_bytes: u64,
    /// File bytes and file count per directory (the size report's buckets).
    pub dirs: BTreeMap<String, [u64; 2]>,
    pub writes_dpkg_database: bool,
    pub secrets: Vec<RecordedSecret>,
    pub members: Vec<RecordedMember>,
}

/// A secret found in a file of the layer (values are never recorded).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordedSecret {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub what: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum RecordedKind {
    #[serde(rename = "f")]
    File,
    #[serde(rename = "d")]
    Dir,
    #[serde(rename = "l")]
    Symlink,
    #[serde(rename = "h")]
    Hardlink,
    #[serde(rename = "c")]
    CharDevice,
    #[serde(rename = "b")]
    BlockDevice,
    #[serde(rename = "p")]
    Fifo,
    #[serde(rename = "o")]
    Other,
}

/// One tar member, in the order the layer lists it. Short keys: base layers list thousands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordedMember {
    #[serde(rename = "p")]
    pub path: String,
    #[serde(rename = "k")]
    pub kind: RecordedKind,
    #[serde(rename = "m")]
    pub mode: u32,
    #[serde(rename = "u", default, skip_serializing_if = "is_zero")]
    pub uid: u64,
    #[serde(rename = "g", default, skip_serializing_if = "is_zero")]
    pub gid: u64,
    #[serde(rename = "s", default, skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// Contents of a kept file (/etc/passwd, /etc/group).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<u8>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RecordedMember {
    fn of(member: Member) -> RecordedMember {
        let kind = match (member.kind, member.special) {
            (Kind::File, _) => RecordedKind::File,
            (Kind::Dir, _) => RecordedKind::Dir,
            (Kind::Symlink, _) => RecordedKind::Symlink,
            (Kind::Hardlink, _) => RecordedKind::Hardlink,
            (Kind::Other, Some(CHAR_DEVICE)) => RecordedKind::CharDevice,
            (Kind::Other, Some(BLOCK_DEVICE)) => RecordedKind::BlockDevice,
            (Kind::Other, Some(FIFO)) => RecordedKind::Fifo,
            (Kind::Other, _) => RecordedKind::Other,
        };
        RecordedMember {
            path: member.path,
            kind,
            mode: member.mode,
            uid: member.uid,
            gid: member.gid,
            size: member.size,
            link_target: member.link_target,
            content: member.content,
        }
    }

    pub(crate) fn to_member(&self, layer: usize) -> Member {
        let (kind, special) = match self.kind {
            RecordedKind::File => (Kind::File, None),
            RecordedKind::Dir => (Kind::Dir, None),
            RecordedKind::Symlink => (Kind::Symlink, None),
            RecordedKind::Hardlink => (Kind::Hardlink, None),
            RecordedKind::CharDevice => (Kind::Other, Some(CHAR_DEVICE)),
            RecordedKind::BlockDevice => (Kind::Other, Some(BLOCK_DEVICE)),
            RecordedKind::Fifo => (Kind::Other, Some(FIFO)),
            RecordedKind::Other => (Kind::Other, None),
        };
        Member {
            path: self.path.clone(),
            kind,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            size: self.size,
            link_target: self.link_target.clone(),
            layer,
            content: self.content.clone(),
            special,
        }
    }
}

pub(crate) const CHAR_DEVICE: &str = "character device";
pub(crate) const BLOCK_DEVICE: &str = "block device";
pub(crate) const FIFO: &str = "fifo";

impl LayerFindings {
    /// Fills what the size report and the gates read from a layer's statistics.
    pub(crate) fn replay_stats(&self, stats: &mut LayerStats) {
        stats.uncompressed_size = self.uncompressed_size;
        stats.files = self.files;
        stats.file_bytes = self.file_bytes;
        stats.writes_dpkg_database = self.writes_dpkg_database;
        stats.dirs = self
            .dirs
            .iter()
            .map(|(dir, [bytes, files])| {
                (
                    dir.clone(),
                    DirUsage {
                        bytes: *bytes,
                        files: *files,
                    },
                )
            })
            .collect();
    }
}

/// The paths whose contents the gates keep (the image user's passwd and group).
pub fn kept_by_gates(path: &str) -> bool {
    path == crate::users::PASSWD || path == crate::users::GROUP
}

/// Reads one layer blob (gzip, zstd or plain tar) and records its findings; its digest
/// and diff ID are computed in the same pass. `origin` and `index` name it in errors.
pub fn scan_blob(
    origin: &Path,
    index: usize,
    expected_digest: Option<&str>,
    blob: &Path,
    max_scan_size: u64,
) -> Result<LayerFindings> {
    let size = std::fs::metadata(blob)
        .map_err(|source| Error::Io {
            path: blob.to_path_buf(),
            source,
        })?
        .len();
    let mut stats = LayerStats {
        index,
        digest: expected_digest
            .unwrap_or("its digest unknown yet")
            .to_string(),
        media_type: String::new(),
        compressed_size: size,
        uncompressed_size: 0,
        diff_id: None,
        files: 0,
        file_bytes: 0,
        dirs: BTreeMap::new(),
        writes_dpkg_database: false,
    };
    let mut scanner = SecretScanner::new(max_scan_size, Vec::new());
    let mut members = Vec::new();
    let scanned = {
        let mut observer: Option<&mut dyn Observer> = Some(&mut scanner);
        scan_layer(
            origin,
            blob,
            &mut stats,
            &kept_by_gates,
            &mut observer,
            true,
            &mut |member| members.push(RecordedMember::of(member)),
        )?
    };
    if let Some(expected) = expected_digest {
        if scanned.digest != expected {
            return Err(Error::LayerContent {
                layout: origin.to_path_buf(),
                index,
                digest: expected.to_string(),
                reason: format!("blob content has digest {}", scanned.digest),
            });
        }
    }
    let secrets = scanner
        .findings
        .into_iter()
        .filter_map(|finding| match finding.location {
            SecretLocation::File { path, line, .. } => Some(RecordedSecret {
                path,
                line,
                what: finding.what,
            }),
            _ => None,
        })
        .collect();
    Ok(LayerFindings {
        digest: scanned.digest,
        diff_id: scanned.diff_id.unwrap_or_default(),
        size,
        uncompressed_size: stats.uncompressed_size,
        max_scan_size,
        files: stats.files,
        file_bytes: stats.file_bytes,
        dirs: stats
            .dirs
            .into_iter()
            .map(|(dir, usage)| (dir, [usage.bytes, usage.files]))
            .collect(),
        writes_dpkg_database: stats.writes_dpkg_database,
        secrets,
        members,
    })
}

/// Records every layer of `image` in `layout`, each blob checked against its digest and
/// the config's diff ID.
pub fn scan_layout(
    layout: &Layout,
    image: &Image,
    max_scan_size: u64,
) -> Result<Vec<LayerFindings>> {
    let diff_ids = image.config.rootfs().diff_ids();
    let mut layers = Vec::new();
    for (index, descriptor) in image.manifest.layers().iter().enumerate() {
        let digest = descriptor.digest().to_string();
        let findings = scan_blob(
            layout.root(),
            index,
            Some(&digest),
            &layout.blob_path(&digest),
            max_scan_size,
        )?;
        if diff_ids.get(index) != Some(&findings.diff_id) {
            return Err(Error::LayerContent {
                layout: layout.root().to_path_buf(),
                index,
                digest,
                reason: format!(
                    "uncompressed content has diff ID {}, the config lists {}",
                    findings.diff_id,
                    diff_ids.get(index).map_or("none", String::as_str)
                ),
            });
        }
        layers.push(findings);
    }
    Ok(layers)
}

impl FindingsFile {
    pub fn new(layers: Vec<LayerFindings>) -> FindingsFile {
        FindingsFile {
            format: FORMAT.to_string(),
            layers,
        }
    }

    pub fn read(path: &Path) -> Result<FindingsFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file: FindingsFile = serde_json::from_slice(&bytes).map_err(|e| Error::Findings {
            path: path.to_path_buf(),
            reason: format!("not a layer findings file written by `pyoci check-layer`: {e}"),
        })?;
        if file.format != FORMAT {
            return Err(Error::Findings {
                path: path.to_path_buf(),
                reason: format!("format {:?}, expected {FORMAT:?}", file.format),
            });
        }
        Ok(file)
    }
}

/// Matches records to the layers of `image`: for each layer index, the record for its
/// blob, if one was given. A record for a layer the image does not have, or whose diff ID,
/// size or secret-scan limit disagrees with the image and check, is an error naming it.
pub fn match_to_image<'a>(
    image: &Image,
    files: &'a [(PathBuf, FindingsFile)],
    max_scan_size: Option<u64>,
) -> Result<Vec<Option<&'a LayerFindings>>> {
    let layers = image.manifest.layers();
    let diff_ids = image.config.rootfs().diff_ids();
    let mut matched: Vec<Option<&LayerFindings>> = vec![None; layers.len()];
    for (path, file) in files {
        for record in &file.layers {
            let mismatch = |reason: String| Error::Findings {
                path: path.clone(),
                reason,
            };
            let indexes: Vec<usize> = layers
                .iter()
                .enumerate()
                .filter(|(_, l)| l.digest().to_string() == record.digest)
                .map(|(i, _)| i)
                .collect();
            if indexes.is_empty() {
                return Err(mismatch(format!(
                    "the record is for layer {} (diff ID {}), which is not a layer of the checked image",
                    record.digest, record.diff_id
                )));
            }
            for index in indexes {
                if diff_ids.get(index) != Some(&record.diff_id) {
                    return Err(mismatch(format!(
                        "layer {index} ({}): the record's diff ID {} is not the config's {}",
                        record.digest,
                        record.diff_id,
                        diff_ids.get(index).map_or("(none)", String::as_str)
                    )));
                }
                if layers[index].size() != record.size {
                    return Err(mismatch(format!(
                        "layer {index} ({}): the record says {} bytes, the manifest {}",
                        record.digest,
                        record.size,
                        layers[index].size()
                    )));
                }
                if let Some(limit) = max_scan_size {
                    if record.max_scan_size != limit {
                        return Err(mismatch(format!(
                            "layer {index} ({}) was scanned for secrets up to {} bytes per file, this check asks for {limit} (--max-scan-size): record it again with the same limit",
                            record.digest, record.max_scan_size
                        )));
                    }
                }
                matched[index] = Some(record);
            }
        }
    }
    Ok(matched)
}
