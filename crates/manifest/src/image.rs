//! Assembling an image layout from a base, layers and config changes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{object_field, ConfigChanges};
use crate::digest::{digest_file, digest_reader, sha256_hex};
use crate::error::{Error, Result};
use crate::json::to_canonical_json;
use crate::layout::Layout;
use crate::media::{self, Compression};
use crate::verified::{verify_with_record, VerifiedRecord};
use crate::writer::{LayoutWriter, WrittenImage};

/// The annotation recording which base an image was built on.
pub const BASE_DIGEST_ANNOTATION: &str = "org.opencontainers.image.base.digest";

/// What `pyoci layer` and `pyoci deb` print: a layer blob's descriptor plus its diff ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerDescriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// sha256 of the uncompressed tar: what the config's rootfs lists.
    pub diff_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_size: Option<u64>,
}

impl LayerDescriptor {
    pub fn from_json_file(path: &Path) -> Result<LayerDescriptor> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let descriptor: LayerDescriptor =
            serde_json::from_slice(&bytes).map_err(|source| Error::Json {
                path: path.to_path_buf(),
                error: source,
            })?;
        let invalid = |what: &'static str, reason: String| Error::InvalidDocument {
            path: path.to_path_buf(),
            what,
            reason,
        };
        sha256_hex(&descriptor.digest).map_err(|e| invalid("digest", e.to_string()))?;
        sha256_hex(&descriptor.diff_id).map_err(|e| invalid("diffId", e.to_string()))?;
        if media::layer_compression(&descriptor.media_type).is_none() {
            return Err(invalid(
                "mediaType",
                format!("{:?} is not a layer media type", descriptor.media_type),
            ));
        }
        Ok(descriptor)
    }

    /// Computes a descriptor by reading the blob: its digest, and the digest of its
    /// decompressed content. Compression is recognised from the blob's first bytes.
    pub fn compute(blob: &Path) -> Result<LayerDescriptor> {
        Self::compute_with(blob, |compression, reader, digest, size| {
            match compression {
                Compression::None => Ok((digest.to_owned(), size)),
                Compression::Gzip => digest_reader(&mut flate2::read::MultiGzDecoder::new(reader)),
                Compression::Zstd => zstd::stream::read::Decoder::with_buffer(reader)
                    .and_then(|mut decoder| digest_reader(&mut decoder)),
            }
            .map_err(|e| Error::io(blob, e))
        })
    }

    /// [`LayerDescriptor::compute`] for a tarball pyoci did not write: its members are held to
    /// the rules of pyoci's own layers in the same pass that computes the diff ID.
    pub fn compute_foreign(blob: &Path, rules: crate::ForeignRules) -> Result<LayerDescriptor> {
        Self::compute_with(blob, |compression, reader, _, _| match compression {
            Compression::None => crate::check_foreign_tar(reader, blob, rules),
            Compression::Gzip => crate::check_foreign_tar(flate2::read::MultiGzDecoder::new(reader), blob, rules),
            Compression::Zstd => {
                let decoder = zstd::stream::read::Decoder::with_buffer(reader).map_err(|e| Error::io(blob, e))?;
                crate::check_foreign_tar(decoder, blob, rules)
            }
        })
    }

    /// Hashes the blob, recognises its compression from its first bytes, and lets `diff`
    /// read the blob from the start for the diff ID and uncompressed size.
    fn compute_with(
        blob: &Path,
        diff: impl FnOnce(Compression, BufReader<File>, &str, u64) -> Result<(String, u64)>,
    ) -> Result<LayerDescriptor> {
        let (digest, size) = digest_file(blob)?;
        let mut file = File::open(blob).map_err(|e| Error::io(blob, e))?;
        let mut head = [0u8; 4];
        let head_len = read_up_to(&mut file, &mut head).map_err(|e| Error::io(blob, e))?;
        let compression = Compression::sniff(&head[..head_len]);
        let file = File::open(blob).map_err(|e| Error::io(blob, e))?;
        let (diff_id, uncompressed_size) =
            diff(compression, BufReader::with_capacity(1 << 20, file), &digest, size)?;
        Ok(LayerDescriptor {
            media_type: compression.oci_layer_media_type().to_owned(),
            digest,
            size,
            diff_id,
            uncompressed_size: Some(uncompressed_size),
        })
    }

    /// Checks that a blob's size matches this descriptor (not its bytes).
    pub fn verify_size(&self, blob: &Path) -> Result<()> {
        let actual_size = std::fs::metadata(blob).map_err(|e| Error::io(blob, e))?.len();
        if actual_size != self.size {
            return Err(Error::SizeMismatch {
                path: blob.to_path_buf(),
                expected: self.size,
                actual: actual_size,
            });
        }
        Ok(())
    }

    /// Checks that a blob's size and sha256 match this descriptor.
    pub fn verify(&self, blob: &Path) -> Result<()> {
        self.verify_size(blob)?;
        let (actual, _) = digest_file(blob)?;
        if actual != self.digest {
            return Err(Error::DigestMismatch {
                path: blob.to_path_buf(),
                expected: self.digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A layer to put on top of the base.
#[derive(Debug, Clone)]
pub struct LayerInput {
    pub blob: PathBuf,
    /// Its descriptor if known (it is then verified against the blob); computed otherwise.
    pub descriptor: Option<LayerDescriptor>,
    /// The history entry's `created_by`.
    pub created_by: Option<String>,
    /// Trust the descriptor's digest and check only the blob's size: for a blob whose
    /// descriptor the same build action wrote while hashing it (a build system's action
    /// graph vouches for the pair). False hashes the blob against the descriptor.
    pub trust_descriptor: bool,
    /// Without a descriptor the blob is a tarball pyoci did not write: it is checked member
    /// by member (see [`crate::check_foreign_tar`]) with these allowances.
    pub foreign_rules: crate::ForeignRules,
}

/// The platform of an image built from scratch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: crate::layout::DEFAULT_OS.to_owned(),
            architecture: crate::layout::DEFAULT_ARCHITECTURE.to_owned(),
            variant: None,
        }
    }
}

impl std::str::FromStr for Platform {
    type Err = Error;

    /// `os/architecture[/variant]`, e.g. `linux/arm64/v8`.
    fn from_str(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(Error::invalid_argument(
                "platform",
                text,
                "expected OS/ARCHITECTURE[/VARIANT], e.g. linux/amd64",
            )),
        }
    }
}

/// Everything `pyoci image` needs.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Base layout and the ref name of the image in it (None: its only image). None: scratch.
    pub base: Option<(PathBuf, Option<String>)>,
    /// Only for scratch images; a base brings its own platform.
    pub platform: Option<Platform>,
    pub layers: Vec<LayerInput>,
    pub changes: ConfigChanges,
    /// RFC 3339; see [`crate::resolve_created`].
    pub created: String,
    /// The `org.opencontainers.image.ref.name` of the image in the output's index.json.
    pub ref_name: String,
    /// Leave the base's layer blobs out of the output: the manifest still lists them, and
    /// readers find them in the base's layout (a [`crate::LayoutView`]).
    pub omit_base_blobs: bool,
    /// Leave out the blobs of the layers given with a descriptor: readers get each from its
    /// file (a [`crate::LayoutView`] blob file). Layers computed here are still written.
    pub omit_layer_blobs: bool,
}

/// Builds an image layout at `output`, replacing what is there only once everything succeeded.
/// Every base blob is hashed.
pub fn build_image(spec: &ImageSpec, output: &Path) -> Result<WrittenImage> {
    build_image_on_verified_base(spec, None, output)
}

/// [`build_image`], trusting the base blobs that `base_record` (the base's
/// [`VerifiedRecord`] file) vouches for: their sizes and the manifest chain are checked, and
/// only blobs it does not list are hashed.
pub fn build_image_on_verified_base(spec: &ImageSpec, base_record: Option<&Path>, output: &Path) -> Result<WrittenImage> {
    spec.changes.validate()?;
    validate_ref_name(&spec.ref_name)?;

    let base = match &spec.base {
        Some((path, ref_name)) => {
            let layout = Layout::open(path)?;
            let image = layout.image(ref_name.as_deref())?;
            let record = base_record.map(|p| VerifiedRecord::read(p).map(|r| (p, r))).transpose()?;
            verify_with_record(&layout, &image, record.as_ref().map(|(p, r)| (*p, r)))?;
            Some((layout, image))
        }
        None if base_record.is_some() => {
            return Err(Error::invalid_argument(
                "base verification record",
                base_record.map(|p| p.display().to_string()).unwrap_or_default(),
                "a verification record needs a base",
            ))
        }
        None => None,
    };

    let mut config: Map<String, Value> = match &base {
        Some((layout, image)) => {
            if spec.platform.is_some() {
                return Err(Error::invalid_argument(
                    "platform",
                    format!("{:?}", spec.platform),
                    format!("an image on a base ({}) takes the base's platform", layout.root().display()),
                ));
            }
            serde_json::from_slice(&image.config_bytes).map_err(|source| Error::Json {
                path: layout.blob_path(image.manifest.config().digest().as_ref()),
                error: source,
            })?
        }
        None => scratch_config(spec.platform.clone().unwrap_or_default()),
    };

    let mut layers = Vec::with_capacity(spec.layers.len());
    for input in &spec.layers {
        let descriptor = match &input.descriptor {
            Some(descriptor) => {
                if input.trust_descriptor {
                    descriptor.verify_size(&input.blob)?;
                } else {
                    descriptor.verify(&input.blob)?;
                }
                descriptor.clone()
            }
            None => LayerDescriptor::compute_foreign(&input.blob, input.foreign_rules)?,
        };
        layers.push((input, descriptor));
    }

    spec.changes.apply(&mut config)?;
    config.insert("created".to_owned(), Value::String(spec.created.clone()));
    let rootfs = object_field(&mut config, "rootfs");
    rootfs.insert("type".to_owned(), Value::String("layers".to_owned()));
    let diff_ids = rootfs
        .entry("diff_ids".to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(ids) = diff_ids {
        ids.extend(layers.iter().map(|(_, d)| Value::String(d.diff_id.clone())));
    }
    if !layers.is_empty() {
        let history = config
            .entry("history".to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !history.is_array() {
            *history = Value::Array(Vec::new());
        }
        if let Value::Array(entries) = history {
            for (input, _) in &layers {
                let mut entry = Map::new();
                entry.insert("created".to_owned(), Value::String(spec.created.clone()));
                entry.insert(
                    "created_by".to_owned(),
                    Value::String(input.created_by.clone().unwrap_or_else(|| "pyoci image".to_owned())),
                );
                entries.push(Value::Object(entry));
            }
        }
    }

    let config_bytes = to_canonical_json(&config).map_err(|source| Error::Json {
        path: output.to_path_buf(),
        error: source,
    })?;
    // The result must still be a config every OCI tool can read.
    serde_json::from_slice::<ImageConfiguration>(&config_bytes).map_err(|e| Error::InvalidDocument {
        path: output.to_path_buf(),
        what: "resulting image config",
        reason: e.to_string(),
    })?;

    let mut writer = LayoutWriter::new(output)?;
    let mut manifest_layers = Vec::new();
    if let Some((layout, image)) = &base {
        for layer in image.manifest.layers() {
            let digest = layer.digest().to_string();
            if !spec.omit_base_blobs {
                writer.link_blob(&layout.blob_path(&digest), &digest)?;
            }
            let mut descriptor = serde_json::to_value(layer).map_err(|source| Error::Json {
                path: layout.root().to_path_buf(),
                error: source,
            })?;
            descriptor["mediaType"] = Value::String(media::to_oci_layer_media_type(layer.media_type().as_ref()));
            manifest_layers.push(descriptor);
        }
    }
    for (input, descriptor) in &layers {
        if !(spec.omit_layer_blobs && input.descriptor.is_some()) {
            writer.link_blob(&input.blob, &descriptor.digest)?;
        }
        manifest_layers.push(serde_json::json!({
            "mediaType": descriptor.media_type,
            "digest": descriptor.digest,
            "size": descriptor.size,
        }));
    }
    let (config_digest, config_size) = writer.add_blob(&config_bytes)?;

    let mut manifest = Map::new();
    manifest.insert("schemaVersion".to_owned(), Value::from(2));
    manifest.insert("mediaType".to_owned(), Value::from(media::OCI_MANIFEST));
    manifest.insert(
        "config".to_owned(),
        serde_json::json!({"mediaType": media::OCI_CONFIG, "digest": config_digest, "size": config_size}),
    );
    manifest.insert("layers".to_owned(), Value::Array(manifest_layers));
    let mut annotations = spec.changes.annotations.clone();
    if let Some((_, image)) = &base {
        annotations
            .entry(BASE_DIGEST_ANNOTATION.to_owned())
            .or_insert_with(|| image.manifest_digest.clone());
    }
    if !annotations.is_empty() {
        manifest.insert(
            "annotations".to_owned(),
            serde_json::to_value(&annotations).map_err(|source| Error::Json {
                path: output.to_path_buf(),
                error: source,
            })?,
        );
    }
    let manifest_bytes = to_canonical_json(&manifest).map_err(|source| Error::Json {
        path: output.to_path_buf(),
        error: source,
    })?;
    writer.finish_single(&manifest_bytes, media::OCI_MANIFEST, &spec.ref_name, None)
}

fn scratch_config(platform: Platform) -> Map<String, Value> {
    let mut config = Map::new();
    config.insert("architecture".to_owned(), Value::String(platform.architecture));
    config.insert("os".to_owned(), Value::String(platform.os));
    if let Some(variant) = platform.variant {
        config.insert("variant".to_owned(), Value::String(variant));
    }
    config.insert("config".to_owned(), Value::Object(Map::new()));
    config.insert(
        "rootfs".to_owned(),
        serde_json::json!({"type": "layers", "diff_ids": []}),
    );
    config
}

/// A ref name as the OCI layout spec allows: alphanumerics and `-._:@/+`, separated sensibly.
pub fn validate_ref_name(ref_name: &str) -> Result<()> {
    let valid = !ref_name.is_empty()
        && ref_name.len() <= 256
        && ref_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '@' | '/' | '+'))
        && ref_name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "ref name",
            ref_name,
            "expected letters, digits and -._:@/+, starting with a letter or digit",
        ))
    }
}
