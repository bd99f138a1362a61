//! pyoci-manifest: OCI image layouts read and verified, images assembled from a base, layers
//! and config changes, multi-platform indexes, `docker load` tarballs, and image summaries.
//!
//! Every JSON document is written canonically (compact, keys sorted), every output is staged
//! beside its destination and renamed into place, and base blobs are hard-linked rather than
//! copied. oci-spec's types are used to read; config edits work on the JSON itself so keys
//! oci-spec does not model (Docker's `Healthcheck`) survive.

mod config;
mod digest;
mod error;
mod foreign;
mod image;
mod index;
mod inspect;
mod json;
mod layout;
pub mod media;
mod output;
mod tarball;
mod verified;
mod view;
mod writer;

pub use config::{
    parse_key_value, resolve_created, source_date_epoch, ConfigChanges, Healthcheck, StampInfo,
};
pub use digest::{digest_file, sha256_digest, sha256_hex};
pub use error::{Error, Result};
pub use foreign::{check_foreign_tar, ForeignRules};
pub use image::{
    build_image, build_image_on_verified_base, validate_ref_name, ImageSpec, LayerDescriptor, LayerInput, Platform,
    BASE_DIGEST_ANNOTATION,
};
pub use index::build_index;
pub use inspect::{human_size, inspect, ImageReport, LayerReport, RuntimeConfig};
pub use json::to_canonical_json;
pub use output::{is_own_staging_name, staging_prefix, write_file_atomic};
pub use layout::{ref_name_of, Image, Layout, DEFAULT_ARCHITECTURE, DEFAULT_OS, REF_NAME_ANNOTATION};
pub use tarball::{write_tarball, ImageTag, TarballPlan, TarballFormat, TarballSummary, CONTAINERD_NAME_ANNOTATION};
pub use verified::{verify_with_record, VerifiedRecord, VERIFIED_RECORD_SCHEMA};
pub use view::{write_blob_layout, write_complete_layout, BlobFile, LayoutView};
pub use writer::WrittenImage;

/// The default `org.opencontainers.image.ref.name` of an image we write.
pub const DEFAULT_REF_NAME: &str = "latest";
