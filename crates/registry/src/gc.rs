//! Finding old and untagged images in a repository, and deleting exactly those.
//!
//! The distribution API lists tags, not manifests: an image whose tag moved away is only
//! known by its digest (`pyoci push` reports such moves), so untagged candidates are
//! passed in. Images are ordered by the `created` time in their config; reproducible
//! images without a real time (missing, or the 1970 epoch) cannot be ordered and are kept.

use std::collections::{BTreeMap, BTreeSet};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::client::{Client, Repository};
use crate::descriptor::ManifestLinks;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;

pub struct GcOptions {
    /// Tagged images kept, newest first by config `created`.
    pub keep_last: usize,
    /// Globs (`v*`, `release-?`): images with a matching tag are always kept.
    pub keep_tags: Vec<String>,
    /// Manifests that may have lost their tags (from earlier pushes' reports).
    pub candidates: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Among the `keep_last` newest.
    KeepNewest,
    /// Carries the tag that matched a `--keep-tag` pattern.
    KeepProtected(String),
    /// No usable creation time: never guessed old.
    KeepUndated,
    /// A platform image of a kept index.
    KeepReferenced(Digest),
    DeleteOld,
    DeleteUntagged,
    /// A platform image of an index being deleted, not used by anything kept.
    DeleteWithIndex(Digest),
}

impl Decision {
    pub fn deletes(&self) -> bool {
        matches!(
            self,
            Decision::DeleteOld | Decision::DeleteUntagged | Decision::DeleteWithIndex(_)
        )
    }

    pub fn explain(&self) -> String {
        match self {
            Decision::KeepNewest => "keep: among the newest".to_string(),
            Decision::KeepProtected(tag) => format!("keep: tag {tag} is protected"),
            Decision::KeepUndated => "keep: no creation time to order it by".to_string(),
            Decision::KeepReferenced(index) => format!("keep: part of index {index}"),
            Decision::DeleteOld => "delete: older than the images kept".to_string(),
            Decision::DeleteUntagged => "delete: untagged".to_string(),
            Decision::DeleteWithIndex(index) => format!("delete: part of deleted index {index}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GcEntry {
    pub digest: Digest,
    pub tags: Vec<String>,
    pub created: Option<OffsetDateTime>,
    pub decision: Decision,
}

impl GcEntry {
    pub fn created_text(&self) -> String {
        self.created
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| "-".to_string())
    }
}

struct Inspected {
    created: Option<OffsetDateTime>,
    children: Vec<Digest>,
}

fn parse_created(text: Option<&str>) -> Option<OffsetDateTime> {
    let time = OffsetDateTime::parse(text?, &Rfc3339).ok()?;
    // Reproducible builds pin `created` to the epoch; that orders nothing.
    (time.unix_timestamp() > 0).then_some(time)
}

fn inspect(repository: &Repository<'_>, digest: &Digest) -> Result<Inspected> {
    let (bytes, media_type, _) = repository.get_manifest(&digest.to_string())?;
    let links = ManifestLinks::parse("manifest", digest, &bytes)?;
    #[derive(serde::Deserialize, Default)]
    struct Annotated {
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    let annotated: Annotated = serde_json::from_slice(&bytes).unwrap_or_default();
    let annotated_created = annotated
        .annotations
        .get("org.opencontainers.image.created")
        .map(String::as_str);
    if links.is_index(&media_type) {
        let children: Vec<Digest> = links
            .manifests
            .iter()
            .filter(|m| m.is_manifest())
            .map(|m| m.digest.clone())
            .collect();
        let mut created = parse_created(annotated_created);
        if created.is_none() {
            for child in &children {
                let child_created = inspect(repository, child)?.created;
                created = created.max(child_created);
            }
        }
        return Ok(Inspected { created, children });
    }
    #[derive(serde::Deserialize)]
    struct Config {
        created: Option<String>,
    }
    let created = match &links.config {
        Some(config) => {
            let config_bytes = repository.get_blob_bytes(&config.digest)?;
            let parsed: Option<Config> = serde_json::from_slice(&config_bytes).ok();
            parse_created(parsed.as_ref().and_then(|c| c.created.as_deref()))
        }
        None => None,
    }
    .or_else(|| parse_created(annotated_created));
    Ok(Inspected {
        created,
        children: Vec::new(),
    })
}

/// Decides, without changing anything, what `--delete` would remove.
pub fn plan(
    client: &Client,
    repository_ref: &Reference,
    options: &GcOptions,
) -> Result<Vec<GcEntry>> {
    let keep_tags = options
        .keep_tags
        .iter()
        .map(|glob| {
            glob::Pattern::new(glob).map_err(|e| Error::InvalidGlob {
                glob: glob.clone(),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let repository = client.repository(repository_ref)?;
    let mut tags_of: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for tag in repository.list_tags()? {
        if let Some(digest) = repository.resolve_tag(&tag)? {
            tags_of.entry(digest).or_default().push(tag);
        }
    }
    for candidate in &options.candidates {
        if !tags_of.contains_key(candidate)
            && repository.resolve_tag(&candidate.to_string())?.is_some()
        {
            tags_of.insert(candidate.clone(), Vec::new());
        }
    }
    let mut inspected: BTreeMap<Digest, Inspected> = BTreeMap::new();
    for digest in tags_of.keys() {
        inspected.insert(digest.clone(), inspect(&repository, digest)?);
    }

    let mut decisions: BTreeMap<Digest, Decision> = BTreeMap::new();
    let mut dated: Vec<(&Digest, OffsetDateTime)> = Vec::new();
    for (digest, tags) in &tags_of {
        let protected = tags
            .iter()
            .find(|tag| keep_tags.iter().any(|p| p.matches(tag)));
        let decision = if let Some(tag) = protected {
            Decision::KeepProtected(tag.clone())
        } else if tags.is_empty() {
            Decision::DeleteUntagged
        } else if let Some(created) = inspected[digest].created {
            dated.push((digest, created));
            continue;
        } else {
            Decision::KeepUndated
        };
        decisions.insert(digest.clone(), decision);
    }
    // Newest first; equal times fall back to the digest so the plan is stable.
    dated.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    for (rank, (digest, _)) in dated.iter().enumerate() {
        let decision = if rank < options.keep_last {
            Decision::KeepNewest
        } else {
            Decision::DeleteOld
        };
        decisions.insert((*digest).clone(), decision);
    }

    // Platform images follow their index: kept if any kept index uses them, else deleted
    // with it. A platform image with its own protected or newest tag stays.
    let kept_children: BTreeMap<Digest, Digest> = decisions
        .iter()
        .filter(|(_, d)| !d.deletes())
        .flat_map(|(index, _)| {
            inspected[index]
                .children
                .iter()
                .map(move |c| (c.clone(), index.clone()))
        })
        .collect();
    let mut children_of_deleted: BTreeSet<(Digest, Digest)> = BTreeSet::new();
    for (index, decision) in &decisions {
        if decision.deletes() {
            for child in &inspected[index].children {
                children_of_deleted.insert((child.clone(), index.clone()));
            }
        }
    }
    for (child, index) in &kept_children {
        if decisions.get(child).is_none_or(Decision::deletes) {
            decisions.insert(child.clone(), Decision::KeepReferenced(index.clone()));
        }
    }
    for (child, index) in children_of_deleted {
        decisions
            .entry(child)
            .or_insert(Decision::DeleteWithIndex(index));
    }

    let mut entries: Vec<GcEntry> = decisions
        .into_iter()
        .map(|(digest, decision)| {
            let created = inspected.get(&digest).and_then(|i| i.created);
            GcEntry {
                tags: tags_of.get(&digest).cloned().unwrap_or_default(),
                digest,
                created,
                decision,
            }
        })
        .collect();
    entries.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.digest.cmp(&b.digest))
    });
    Ok(entries)
}

/// Deletes the entries the plan marked: indexes before the images they list.
pub fn delete(client: &Client, repository_ref: &Reference, entries: &[GcEntry]) -> Result<usize> {
    let repository = client.repository(repository_ref)?;
    let mut deleted = 0;
    let (with_index, first): (Vec<&GcEntry>, Vec<&GcEntry>) = entries
        .iter()
        .filter(|e| e.decision.deletes())
        .partition(|e| matches!(e.decision, Decision::DeleteWithIndex(_)));
    for entry in first.into_iter().chain(with_index) {
        repository.delete_manifest(&entry.digest)?;
        deleted += 1;
    }
    Ok(deleted)
}
