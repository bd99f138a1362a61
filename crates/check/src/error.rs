//! Errors for bad input: each names the file, layer or spec entry involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] pyoci_manifest::Error),
    #[error("layer {index} ({digest}) of {layout} cannot be read")]
    Layer {
        layout: PathBuf,
        index: usize,
        digest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("layer {index} ({digest}) of {layout}: {reason}")]
    LayerContent {
        layout: PathBuf,
        index: usize,
        digest: String,
        reason: String,
    },
    #[error("layer findings {path}: {reason}")]
    Findings { path: PathBuf, reason: String },
    #[error("base image {base} is not the base of {image}: {reason}")]
    BaseMismatch {
        base: PathBuf,
        image: PathBuf,
        reason: String,
    },
    #[error("structure test spec {path} is invalid")]
    SpecJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("structure test spec {path}: {reason}")]
    Spec { path: PathBuf, reason: String },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed while {action}: {detail}")]
    Container {
        program: String,
        action: String,
        detail: String,
    },
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
