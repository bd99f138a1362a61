//! Moving an image graph (index → manifests → config and layers) between a layout and a
//! registry, or between registries. Order is what keeps a registry consistent: every blob,
//! then each manifest by digest (children first), and only then the tags.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::client::{Client, MountOutcome, Repository};
use crate::descriptor::{Descriptor, ManifestLinks, Platform, OCI_MANIFEST};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::{LayoutReader, LayoutWriter};
use crate::reference::{api_host, validate_tag, Reference};

/// Where an image's content comes from.
pub trait Source: Sync {
    /// A manifest's bytes, verified against its descriptor.
    fn manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>>;
    /// A local file holding the blob; downloads are written under `scratch`.
    fn blob(&self, descriptor: &Descriptor, scratch: &Path) -> Result<BlobFile>;
    /// The registry and repository holding the blobs, when a registry could mount them.
    fn origin(&self) -> Option<(&str, &str)>;
}

pub enum BlobFile {
    Local(PathBuf),
    Downloaded(tempfile::TempPath),
}

impl BlobFile {
    pub fn path(&self) -> &Path {
        match self {
            BlobFile::Local(path) => path,
            BlobFile::Downloaded(temp) => temp,
        }
    }
}

impl Source for LayoutReader {
    fn manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let bytes = self.read_manifest(descriptor)?;
        check_size("manifest", descriptor, bytes.len() as u64)?;
        Ok(bytes)
    }

    fn blob(&self, descriptor: &Descriptor, _scratch: &Path) -> Result<BlobFile> {
        let path = self.blob_path(&descriptor.digest);
        let metadata = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        check_size("blob", descriptor, metadata.len())?;
        Ok(BlobFile::Local(path))
    }

    fn origin(&self) -> Option<(&str, &str)> {
        None
    }
}

/// An image in a registry, read for a copy or pull.
pub struct RegistrySource<'c> {
    repository: Repository<'c>,
    /// The root manifest, already fetched to learn its digest and type.
    root: (Digest, Vec<u8>),
}

impl Source for RegistrySource<'_> {
    fn manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let bytes = if descriptor.digest == self.root.0 {
            self.root.1.clone()
        } else {
            check_manifest_cap(descriptor)?;
            self.repository
                .get_manifest_sized(&descriptor.digest.to_string(), Some(descriptor.size))?
                .0
        };
        check_size("manifest", descriptor, bytes.len() as u64)?;
        Ok(bytes)
    }

    fn blob(&self, descriptor: &Descriptor, scratch: &Path) -> Result<BlobFile> {
        let progress = self.repository.client().progress().blob(
            "download",
            &descriptor.digest,
            descriptor.size,
        );
        let temp = self.repository.download_blob(
            &descriptor.digest,
            descriptor.size,
            scratch,
            &progress,
        )?;
        progress.finish();
        Ok(BlobFile::Downloaded(temp))
    }

    fn origin(&self) -> Option<(&str, &str)> {
        Some((self.repository.registry(), self.repository.name()))
    }
}

/// Manifests and indexes are small documents; a descriptor claiming more is refused before
/// anything is fetched.
fn check_manifest_cap(descriptor: &Descriptor) -> Result<()> {
    if descriptor.size > crate::client::MAX_MANIFEST_BYTES {
        return Err(Error::BadManifest {
            what: "manifest",
            digest: descriptor.digest.to_string(),
            reason: format!(
                "its descriptor states {} bytes, over the {} byte limit for manifests",
                descriptor.size,
                crate::client::MAX_MANIFEST_BYTES
            ),
        });
    }
    Ok(())
}

/// A pull must fit: checked before the first byte, so a descriptor claiming terabytes
/// fails at once instead of filling the disk.
fn check_free_space(dir: &Path, needed: u64) -> Result<()> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| Error::io(dir, e.into()))?;
    let available = stat.f_bavail.saturating_mul(stat.f_frsize);
    if needed > available {
        return Err(Error::NoSpace {
            path: dir.to_path_buf(),
            needed,
            available,
        });
    }
    Ok(())
}

fn check_size(what: &'static str, descriptor: &Descriptor, actual: u64) -> Result<()> {
    if actual == descriptor.size {
        Ok(())
    } else {
        Err(Error::SizeMismatch {
            what,
            digest: descriptor.digest.to_string(),
            expected: descriptor.size,
            actual,
        })
    }
}

/// Everything reachable from one root, in the order it must be stored.
pub struct Graph {
    pub root: Descriptor,
    /// Manifests and indexes, children before parents; the root is last.
    pub manifests: Vec<(Descriptor, Vec<u8>)>,
    /// Configs and layers, each once.
    pub blobs: Vec<Descriptor>,
}

pub fn walk(source: &dyn Source, root: &Descriptor) -> Result<Graph> {
    let mut graph = Graph {
        root: root.clone(),
        manifests: Vec::new(),
        blobs: Vec::new(),
    };
    let mut seen = HashSet::new();
    visit(source, root, &mut graph, &mut seen, 0)?;
    Ok(graph)
}

fn visit(
    source: &dyn Source,
    descriptor: &Descriptor,
    graph: &mut Graph,
    seen: &mut HashSet<Digest>,
    depth: usize,
) -> Result<()> {
    if !seen.insert(descriptor.digest.clone()) {
        return Ok(());
    }
    // Indexes nest at most a few levels; a deeper chain is a loop or an attack.
    if depth > 8 {
        return Err(Error::BadManifest {
            what: "index",
            digest: descriptor.digest.to_string(),
            reason: "nested more than 8 levels deep".to_string(),
        });
    }
    let bytes = source.manifest(descriptor)?;
    let links = ManifestLinks::parse("manifest", &descriptor.digest, &bytes)?;
    let mut descriptor = descriptor.clone();
    if descriptor.media_type.is_empty() {
        descriptor.media_type = links
            .media_type
            .clone()
            .unwrap_or_else(|| OCI_MANIFEST.to_string());
    }
    if links.is_index(&descriptor.media_type) {
        for child in &links.manifests {
            if child.is_manifest() || child.media_type.is_empty() {
                visit(source, child, graph, seen, depth + 1)?;
            } else if seen.insert(child.digest.clone()) {
                graph.blobs.push(child.clone());
            }
        }
    } else {
        let config = links.config.as_ref().ok_or_else(|| Error::BadManifest {
            what: "manifest",
            digest: descriptor.digest.to_string(),
            reason: "has neither a config nor manifests".to_string(),
        })?;
        for blob in std::iter::once(config).chain(links.layers.iter()) {
            if !blob.is_foreign() && seen.insert(blob.digest.clone()) {
                graph.blobs.push(blob.clone());
            }
        }
    }
    graph.manifests.push((descriptor, bytes));
    Ok(())
}

/// Runs `work` on every item with up to `jobs` threads; the first error stops the rest.
fn parallel<T: Sync>(
    jobs: usize,
    items: &[T],
    work: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(error) = work(item) {
                    stop.store(true, Ordering::Relaxed);
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(error);
                    break;
                }
            });
        }
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// What a push or copy did, for the user and for tests.
#[derive(Debug, Default)]
pub struct PushReport {
    pub digest: Option<Digest>,
    pub blobs_uploaded: usize,
    pub bytes_uploaded: u64,
    pub blobs_existing: usize,
    pub blobs_mounted: usize,
    pub manifests: usize,
    /// The registry already held the image's manifest, so no blob or manifest was sent.
    pub manifest_existed: bool,
    pub tags: Vec<String>,
    /// Tags that pointed elsewhere before: (tag, previous digest). The previous image may
    /// now be untagged; `gc --digest` can consider it.
    pub moved_tags: Vec<(String, Digest)>,
}

#[derive(Default)]
struct Counters {
    uploaded: AtomicUsize,
    bytes: AtomicU64,
    existing: AtomicUsize,
    mounted: AtomicUsize,
}

/// Stores the graph under `destination` (tag or digest in it are ignored) and tags it.
pub fn push_graph(
    client: &Client,
    source: &dyn Source,
    graph: &Graph,
    destination: &Reference,
    tags: &[String],
) -> Result<PushReport> {
    for tag in tags {
        validate_tag(tag)?;
    }
    let repository = client.repository(destination)?;
    let counters = Counters::default();
    let root = graph
        .manifests
        .last()
        .map(|(d, _)| d)
        .unwrap_or(&graph.root);
    let root_bytes = graph
        .manifests
        .last()
        .map(|(_, b)| b.as_slice())
        .unwrap_or_default();
    // A registry accepts a manifest only once it holds every blob (and child manifest) it
    // names, so a manifest already there means the whole graph is: one HEAD instead of one
    // per blob, and the second push of an image costs what crane's does.
    let manifest_existed = repository.manifest_exists(&root.digest)?;
    if manifest_existed {
        counters
            .existing
            .store(graph.blobs.len(), Ordering::Relaxed);
    } else {
        push_content(client, source, graph, &repository, &counters)?;
    }
    let mut moved_tags = Vec::new();
    for tag in tags {
        match repository.resolve_tag(tag)? {
            Some(previous) if previous == root.digest => continue,
            Some(previous) => moved_tags.push((tag.clone(), previous)),
            None => {}
        }
        repository.put_manifest(tag, &root.media_type, root_bytes)?;
    }
    Ok(PushReport {
        digest: Some(root.digest.clone()),
        blobs_uploaded: counters.uploaded.into_inner(),
        bytes_uploaded: counters.bytes.into_inner(),
        blobs_existing: counters.existing.into_inner(),
        blobs_mounted: counters.mounted.into_inner(),
        manifests: graph.manifests.len(),
        manifest_existed,
        tags: tags.to_vec(),
        moved_tags,
    })
}

/// Every blob the repository lacks, then each manifest by digest, children first.
fn push_content(
    client: &Client,
    source: &dyn Source,
    graph: &Graph,
    repository: &Repository<'_>,
    counters: &Counters,
) -> Result<()> {
    let scratch = tempfile::Builder::new()
        .prefix("pyoci-copy-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mount_from = source.origin().and_then(|(registry, from)| {
        let same_registry = api_host(registry) == api_host(repository.registry());
        (same_registry && from != repository.name()).then_some(from)
    });
    parallel(client.options.jobs, &graph.blobs, |blob| {
        if repository.blob_exists(&blob.digest)? {
            repository.forget_upload(&blob.digest, blob.size);
            counters.existing.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let mut session = None;
        if let Some(from) = mount_from {
            match repository.mount_blob(&blob.digest, from)? {
                MountOutcome::Mounted => {
                    counters.mounted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                MountOutcome::UploadAt(location) => {
                    session = Some(crate::client::UploadSession {
                        location,
                        offset: 0,
                    })
                }
            }
        }
        let file = source.blob(blob, scratch.path())?;
        let progress = client.progress().blob("upload", &blob.digest, blob.size);
        client.with_retries(&format!("upload {}", blob.digest), || {
            repository.upload_blob(
                &blob.digest,
                blob.size,
                file.path(),
                &mut session,
                &progress,
            )
        })?;
        progress.finish();
        counters.uploaded.fetch_add(1, Ordering::Relaxed);
        counters.bytes.fetch_add(blob.size, Ordering::Relaxed);
        Ok(())
    })?;
    for (descriptor, bytes) in &graph.manifests {
        repository.put_manifest(
            &descriptor.digest.to_string(),
            &descriptor.media_type,
            bytes,
        )?;
    }
    Ok(())
}

/// `pyoci push`: a layout's image (or index) to `destination`, then its tags.
pub fn push_layout(
    client: &Client,
    layout: &Path,
    ref_name: Option<&str>,
    destination: &Reference,
    tags: &[String],
) -> Result<PushReport> {
    let reader = LayoutReader::open(layout)?;
    let root = reader.root(ref_name)?;
    let graph = walk(&reader, &root)?;
    push_graph(client, &reader, &graph, destination, tags)
}

/// Fetches the root manifest `reference` names, verified.
fn resolve_root<'c>(client: &'c Client, reference: &Reference) -> Result<RegistrySource<'c>> {
    let repository = client.repository(reference)?;
    let (bytes, media_type, digest) = repository.get_manifest(&reference.manifest_reference())?;
    let _ = media_type;
    Ok(RegistrySource {
        repository,
        root: (digest, bytes),
    })
}

impl RegistrySource<'_> {
    pub fn root_descriptor(&self) -> Result<Descriptor> {
        let (digest, bytes) = &self.root;
        let links = ManifestLinks::parse("manifest", digest, bytes)?;
        let media_type = links.media_type.clone().unwrap_or_else(|| {
            if links.is_index("") {
                crate::descriptor::OCI_INDEX.to_string()
            } else {
                OCI_MANIFEST.to_string()
            }
        });
        Ok(Descriptor::new(
            media_type,
            digest.clone(),
            bytes.len() as u64,
        ))
    }
}

/// `pyoci copy`: an image (every platform of an index) from one repository to another,
/// mounting blobs when both are on the same registry.
pub fn copy(
    client: &Client,
    source: &Reference,
    destination: &Reference,
    tags: &[String],
) -> Result<PushReport> {
    let registry_source = resolve_root(client, source)?;
    let root = registry_source.root_descriptor()?;
    let graph = walk(&registry_source, &root)?;
    push_graph(client, &registry_source, &graph, destination, tags)
}

#[derive(Debug)]
pub struct PullReport {
    /// The image manifest written to the layout.
    pub digest: Digest,
    /// The index it was chosen from, if the reference named one.
    pub index_digest: Option<Digest>,
    pub blobs: usize,
    pub bytes: u64,
    pub path: PathBuf,
}

/// `pyoci pull`: one platform's image into a fresh layout at `output`, every byte verified.
pub fn pull(
    client: &Client,
    reference: &Reference,
    platform: &Platform,
    output: &Path,
) -> Result<PullReport> {
    let mut registry_source = resolve_root(client, reference)?;
    let mut root = registry_source.root_descriptor()?;
    let mut index_digest = None;
    let links = ManifestLinks::parse("manifest", &root.digest, &registry_source.root.1)?;
    if links.is_index(&root.media_type) {
        let chosen = links
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| platform.matches(p)))
            .cloned()
            .ok_or_else(|| Error::PlatformNotFound {
                reference: reference.to_string(),
                platform: platform.to_string(),
                available: links
                    .manifests
                    .iter()
                    .map(|m| {
                        m.platform
                            .as_ref()
                            .map_or("(none)".to_string(), Platform::to_string)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        index_digest = Some(root.digest.clone());
        let bytes = registry_source.manifest(&chosen)?;
        registry_source.root = (chosen.digest.clone(), bytes);
        root = chosen;
    }
    let graph = walk(&registry_source, &root)?;
    let writer = LayoutWriter::create(output)?;
    let needed = graph
        .blobs
        .iter()
        .fold(0u64, |sum, blob| sum.saturating_add(blob.size));
    check_free_space(writer.scratch(), needed)?;
    let bytes = AtomicU64::new(0);
    parallel(client.options.jobs, &graph.blobs, |blob| {
        let file = registry_source.blob(blob, writer.scratch())?;
        let destination = writer.blob_path(&blob.digest);
        match file {
            BlobFile::Downloaded(temp) => temp
                .persist(&destination)
                .map_err(|e| Error::io(&destination, e.error))?,
            BlobFile::Local(path) => {
                std::fs::copy(&path, &destination).map_err(|e| Error::io(&destination, e))?;
            }
        }
        bytes.fetch_add(blob.size, Ordering::Relaxed);
        Ok(())
    })?;
    for (descriptor, manifest_bytes) in &graph.manifests {
        writer.write_blob(&descriptor.digest, manifest_bytes)?;
    }
    if index_digest.is_none() {
        check_single_platform(
            reference,
            platform,
            &links_config(&registry_source.root)?,
            &writer,
        )?;
    }
    let mut entry = root.clone();
    entry.annotations.clear();
    let ref_name = reference
        .tag
        .clone()
        .unwrap_or_else(|| "latest".to_string());
    let path = writer.finish(&entry, &ref_name)?;
    Ok(PullReport {
        digest: root.digest,
        index_digest,
        blobs: graph.blobs.len(),
        bytes: bytes.into_inner(),
        path,
    })
}

fn links_config(root: &(Digest, Vec<u8>)) -> Result<Option<Descriptor>> {
    Ok(ManifestLinks::parse("manifest", &root.0, &root.1)?.config)
}

/// A single-platform image must be the platform asked for: running an arm64 base on amd64
/// fails late and confusingly, so it fails here.
fn check_single_platform(
    reference: &Reference,
    wanted: &Platform,
    config: &Option<Descriptor>,
    writer: &LayoutWriter,
) -> Result<()> {
    let Some(config) = config else { return Ok(()) };
    #[derive(serde::Deserialize)]
    struct ConfigPlatform {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let path = writer.blob_path(&config.digest);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let Ok(found) = serde_json::from_slice::<ConfigPlatform>(&bytes) else {
        return Ok(());
    };
    // crane and other builders leave both empty for an image from scratch: unknown, not wrong.
    let (Some(os), Some(architecture)) = (
        found.os.filter(|s| !s.is_empty()),
        found.architecture.filter(|s| !s.is_empty()),
    ) else {
        return Ok(());
    };
    let actual = Platform {
        os,
        architecture,
        variant: found.variant,
    };
    if wanted.matches(&actual) {
        Ok(())
    } else {
        Err(Error::PlatformNotFound {
            reference: reference.to_string(),
            platform: wanted.to_string(),
            available: format!("{actual} (a single-platform image)"),
        })
    }
}
