//! Tarballs for `docker load` / `podman load` (and OCI archives).
//!
//! The docker format is what `docker save` writes since Docker 25: the OCI layout (`oci-layout`,
//! `index.json`, `blobs/sha256/...`) plus the classic `manifest.json` whose `RepoTags`, `Config`
//! and `Layers` point into `blobs/`. The classic image store reads `manifest.json`, the
//! containerd store and podman read `index.json`, so one file loads everywhere.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::config::source_date_epoch;
use crate::digest::{sha256_hex, DigestReader};
use crate::error::{Error, Result};
use crate::json::to_canonical_json;
use crate::layout::{Layout, REF_NAME_ANNOTATION};
use crate::media::{self, Compression};
use crate::output::write_file_atomically;
use crate::writer::OCI_LAYOUT_FILE;

/// The annotation containerd (and podman) name a loaded image by.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarballFormat {
    /// OCI layout plus `manifest.json`: loads with `docker load` and `podman load`.
    Docker,
    /// OCI layout only: an OCI archive (`skopeo copy oci-archive:...`, `podman load`).
    Oci,
}

/// A `REPO:TAG` image name, as given and in containerd's fully qualified form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageTag {
    /// As the user wrote it (with `:latest` added if no tag was given): what `RepoTags` lists.
    pub familiar: String,
    /// With the registry made explicit, e.g. `docker.io/library/app:1.0`.
    pub qualified: String,
    pub tag: String,
}

impl std::str::FromStr for ImageTag {
    type Err = Error;

    fn from_str(text: &str) -> Result<ImageTag> {
        let invalid = |reason: &str| Error::invalid_argument("image tag", text, reason);
        if text.contains('@') {
            return Err(invalid("a tarball names images by tag, not by digest"));
        }
        let last_slash = text.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match text[last_slash..].rfind(':') {
            Some(colon) => (&text[..last_slash + colon], &text[last_slash + colon + 1..]),
            None => (text, "latest"),
        };
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !tag_ok {
            return Err(invalid("the tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -"));
        }
        let components: Vec<&str> = repository.split('/').collect();
        let has_domain = components.len() > 1
            && (components[0].contains('.') || components[0].contains(':') || components[0] == "localhost");
        let path_components = if has_domain { &components[1..] } else { &components[..] };
        if has_domain {
            let domain_ok = components[0]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !domain_ok {
                return Err(invalid("the registry must be a host name with an optional :port"));
            }
        }
        let component_ok = |c: &&str| {
            !c.is_empty()
                && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
        };
        if path_components.is_empty() || !path_components.iter().all(component_ok) {
            return Err(invalid(
                "repository path components must be lowercase letters, digits and . _ -, \
                 starting and ending with a letter or digit",
            ));
        }
        let qualified_repository = if has_domain {
            repository.to_owned()
        } else if components.len() == 1 {
            format!("docker.io/library/{repository}")
        } else {
            format!("docker.io/{repository}")
        };
        Ok(ImageTag {
            familiar: format!("{repository}:{tag}"),
            qualified: format!("{qualified_repository}:{tag}"),
            tag: tag.to_owned(),
        })
    }
}

/// What went into a tarball.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TarballSummary {
    pub manifest_digest: String,
    pub config_digest: String,
    pub tags: Vec<ImageTag>,
    /// zstd-compressed layers, which Docker Engine before 23.0 cannot load.
    pub zstd_layers: Vec<String>,
}

#[derive(Serialize)]
struct DockerManifestEntry<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<&'a str>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Writes the image `ref_name` of `layout` (its only image if None; linux/amd64 of an index)
/// as a tarball at `output`. Every blob is verified while it is copied.
pub fn write_tarball(
    layout: &Path,
    ref_name: Option<&str>,
    tags: &[ImageTag],
    format: TarballFormat,
    output: &Path,
) -> Result<TarballSummary> {
    let plan = TarballPlan::new(layout, ref_name, tags, format, output)?;
    write_file_atomically(output, |file| {
        plan.write(BufWriter::with_capacity(1 << 20, &mut *file), &BTreeSet::new())
            .map(|_| ())
    })?;
    Ok(plan.summary())
}

/// A tarball of one image, ready to be written (whole, or leaving out layers a loader
/// already has).
pub struct TarballPlan {
    manifest_digest: String,
    config_digest: String,
    tags: Vec<ImageTag>,
    zstd_layers: Vec<String>,
    blobs: Vec<(String, BlobSource)>,
    index_bytes: Vec<u8>,
    docker_manifest: Option<Vec<u8>>,
    mtime: u64,
    /// Named in errors about the stream being written.
    destination: PathBuf,
}

impl TarballPlan {
    /// Reads the image's manifest and config (verified); layers are verified when written.
    pub fn new(
        layout: &Path,
        ref_name: Option<&str>,
        tags: &[ImageTag],
        format: TarballFormat,
        destination: &Path,
    ) -> Result<TarballPlan> {
        if tags.is_empty() {
            return Err(Error::invalid_argument("tags", "", "give at least one REPO:TAG"));
        }
        let layout = Layout::open(layout)?;
        let image = layout.image(ref_name)?;
        let mtime = source_date_epoch()?;

        let config_digest = image.manifest.config().digest().to_string();
        let mut blobs: Vec<(String, BlobSource)> = vec![
            (
                sha256_hex(&image.manifest_digest)?.to_owned(),
                BlobSource::Bytes(image.manifest_bytes.clone()),
            ),
            (
                sha256_hex(&config_digest)?.to_owned(),
                BlobSource::Bytes(image.config_bytes.clone()),
            ),
        ];
        let mut zstd_layers = Vec::new();
        for layer in image.manifest.layers() {
            let digest = layer.digest().to_string();
            if media::layer_compression(layer.media_type().as_ref()) == Some(Compression::Zstd) {
                zstd_layers.push(digest.clone());
            }
            blobs.push((
                sha256_hex(&digest)?.to_owned(),
                BlobSource::File {
                    path: layout.blob_path(&digest),
                    digest,
                    size: layer.size(),
                },
            ));
        }
        blobs.sort_by(|a, b| a.0.cmp(&b.0));
        blobs.dedup_by(|a, b| a.0 == b.0);

        let manifest_entries: Vec<Value> = tags
            .iter()
            .map(|tag| {
                serde_json::json!({
                    "mediaType": media::OCI_MANIFEST,
                    "digest": image.manifest_digest,
                    "size": image.manifest_bytes.len(),
                    "annotations": {
                        CONTAINERD_NAME_ANNOTATION: tag.qualified,
                        REF_NAME_ANNOTATION: tag.tag,
                    },
                })
            })
            .collect();
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": manifest_entries,
        });
        let json_error = |source| Error::Json {
            path: destination.to_path_buf(),
            error: source,
        };
        let index_bytes = to_canonical_json(&index).map_err(json_error)?;
        let docker_manifest = match format {
            TarballFormat::Docker => Some(
                to_canonical_json(&[DockerManifestEntry {
                    config: blob_member(&config_digest)?,
                    repo_tags: tags.iter().map(|t| t.familiar.as_str()).collect(),
                    layers: image
                        .manifest
                        .layers()
                        .iter()
                        .map(|l| blob_member(l.digest().as_ref()))
                        .collect::<Result<_>>()?,
                }])
                .map_err(json_error)?,
            ),
            TarballFormat::Oci => None,
        };
        Ok(TarballPlan {
            manifest_digest: image.manifest_digest,
            config_digest,
            tags: tags.to_vec(),
            zstd_layers,
            blobs,
            index_bytes,
            docker_manifest,
            mtime,
            destination: destination.to_path_buf(),
        })
    }

    pub fn summary(&self) -> TarballSummary {
        TarballSummary {
            manifest_digest: self.manifest_digest.clone(),
            config_digest: self.config_digest.clone(),
            tags: self.tags.clone(),
            zstd_layers: self.zstd_layers.clone(),
        }
    }

    /// Writes the tarball to `out`, leaving out the layer blobs in `omit` (digests). Such a
    /// partial docker-archive still names every layer in `manifest.json`: the classic Docker
    /// image store skips reading the layers it already has. Returns the bytes written.
    pub fn write<W: Write>(&self, out: W, omit: &BTreeSet<String>) -> Result<u64> {
        let output = self.destination.as_path();
        let mtime = self.mtime;
        let mut tar = tar::Builder::new(CountingWriter { inner: out, count: 0 });
        let io_error = |e| Error::io(output, e);
        append_dir(&mut tar, "blobs/", mtime).map_err(io_error)?;
        append_dir(&mut tar, "blobs/sha256/", mtime).map_err(io_error)?;
        for (hex, source) in &self.blobs {
            let member = format!("blobs/sha256/{hex}");
            match source {
                BlobSource::Bytes(bytes) => append_file(&mut tar, &member, mtime, bytes.len() as u64, bytes.as_slice())
                    .map_err(io_error)?,
                BlobSource::File { digest, .. } if omit.contains(digest) => {}
                BlobSource::File { path, digest, size } => append_verified_blob(&mut tar, output, &member, mtime, path, digest, *size)?,
            }
        }
        append_file(&mut tar, "index.json", mtime, self.index_bytes.len() as u64, self.index_bytes.as_slice()).map_err(io_error)?;
        if let Some(bytes) = &self.docker_manifest {
            append_file(&mut tar, "manifest.json", mtime, bytes.len() as u64, bytes.as_slice()).map_err(io_error)?;
        }
        append_file(&mut tar, "oci-layout", mtime, OCI_LAYOUT_FILE.len() as u64, OCI_LAYOUT_FILE)
            .map_err(io_error)?;
        let mut counted = tar.into_inner().map_err(io_error)?;
        counted.flush().map_err(io_error)?;
        Ok(counted.count)
    }
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum BlobSource {
    Bytes(Vec<u8>),
    File { path: PathBuf, digest: String, size: u64 },
}

fn blob_member(digest: &str) -> Result<String> {
    Ok(format!("blobs/sha256/{}", sha256_hex(digest)?))
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str, mtime: u64) -> std::io::Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, mtime, 0);
    tar.append_data(&mut header, path, std::io::empty())
}

fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mtime: u64,
    size: u64,
    data: impl Read,
) -> std::io::Result<()> {
    let mut header = header(tar::EntryType::Regular, 0o644, mtime, size);
    tar.append_data(&mut header, path, data)
}

/// Copies a layer blob into the tarball, hashing it on the way: a tampered or truncated blob
/// fails the whole tarball rather than producing one that fails at load time.
fn append_verified_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    output: &Path,
    member: &str,
    mtime: u64,
    path: &Path,
    digest: &str,
    size: u64,
) -> Result<()> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingBlob {
                path: path.to_path_buf(),
                digest: digest.to_owned(),
            }
        } else {
            Error::io(path, e)
        }
    })?;
    let actual_size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if actual_size != size {
        return Err(Error::SizeMismatch {
            path: path.to_path_buf(),
            expected: size,
            actual: actual_size,
        });
    }
    let mut reader = ReadFailures {
        inner: DigestReader::new(file.take(size)),
        failed: false,
    };
    append_file(tar, member, mtime, size, &mut reader).map_err(|e| {
        // A failed write (a full disk) is about the tarball, not the blob being copied.
        if reader.failed {
            Error::io(path, e)
        } else {
            Error::io(output, e)
        }
    })?;
    let (actual, read) = reader.inner.finish();
    if read != size {
        return Err(Error::SizeMismatch {
            path: path.to_path_buf(),
            expected: size,
            actual: read,
        });
    }
    if actual != digest {
        return Err(Error::DigestMismatch {
            path: path.to_path_buf(),
            expected: digest.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Remembers whether reading failed, so an I/O error is blamed on the right file.
struct ReadFailures<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for ReadFailures<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<ImageTag> {
        text.parse().ok()
    }

    #[test]
    fn qualifies_names_like_docker() {
        let tag = parse("app");
        assert_eq!(tag.as_ref().map(|t| t.familiar.as_str()), Some("app:latest"));
        assert_eq!(tag.as_ref().map(|t| t.qualified.as_str()), Some("docker.io/library/app:latest"));
        assert_eq!(parse("team/app:1.0").map(|t| t.qualified), Some("docker.io/team/app:1.0".to_owned()));
        assert_eq!(
            parse("localhost:5000/app:v2").map(|t| (t.qualified, t.tag)),
            Some(("localhost:5000/app:v2".to_owned(), "v2".to_owned()))
        );
        assert_eq!(parse("localhost/app").map(|t| t.qualified), Some("localhost/app:latest".to_owned()));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["App:1", "app:", "app@sha256:00", "app:-x", "/app", "app//x", "app:a b"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
