//! Media types we read (OCI and Docker schema 2) and the OCI ones we write.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises a blob by its first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => OCI_LAYER_TAR,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }
}

pub fn is_manifest_media_type(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

pub fn is_config_media_type(media_type: &str) -> bool {
    media_type == OCI_CONFIG || media_type == DOCKER_CONFIG
}

/// The compression a layer media type declares, or None if it is not a layer type we know.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    let suffix = media_type
        .strip_prefix("application/vnd.oci.image.layer.v1.")
        .or_else(|| media_type.strip_prefix("application/vnd.oci.image.layer.nondistributable.v1."))
        .or_else(|| media_type.strip_prefix("application/vnd.docker.image.rootfs.diff."))
        .or_else(|| media_type.strip_prefix("application/vnd.docker.image.rootfs.foreign.diff."))?;
    match suffix {
        "tar" => Some(Compression::None),
        "tar+gzip" | "tar.gzip" => Some(Compression::Gzip),
        "tar+zstd" | "tar.zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// The OCI media type for a layer we copy from a base, which may use Docker's names.
pub fn to_oci_layer_media_type(media_type: &str) -> String {
    let foreign = media_type.starts_with("application/vnd.docker.image.rootfs.foreign.")
        || media_type.starts_with("application/vnd.oci.image.layer.nondistributable.");
    match (layer_compression(media_type), foreign) {
        (Some(compression), false) => compression.oci_layer_media_type().to_owned(),
        (Some(compression), true) => compression
            .oci_layer_media_type()
            .replace(".layer.v1.", ".layer.nondistributable.v1."),
        (None, _) => media_type.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_layer_types_become_oci() {
        assert_eq!(
            to_oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            OCI_LAYER_GZIP
        );
        assert_eq!(
            to_oci_layer_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        );
        assert_eq!(to_oci_layer_media_type(OCI_LAYER_ZSTD), OCI_LAYER_ZSTD);
    }
}
