//! pyoci-registry: an OCI distribution client for pushing, pulling, copying and cleaning
//! up images, with docker-compatible credentials.
//!
//! Transport is `ureq` (blocking, rustls): registry work is a handful of large sequential
//! streams per blob, so a few threads over a sync client move as fast as an async runtime
//! would, with far less to build and audit.

mod auth;
mod client;
mod credentials;
mod descriptor;
mod digest;
mod error;
mod gc;
mod layout;
mod progress;
mod reference;
mod sessions;
mod tls;
mod transfer;

pub use client::{Client, MountOutcome, Options, Repository, UploadSession, MANIFEST_ACCEPT};
pub use credentials::{Credential, DockerConfig, Secret};
pub use descriptor::{Descriptor, Platform};
pub use digest::{Algorithm, Digest};
pub use error::{Error, Result};
pub use gc::{delete as gc_delete, plan as gc_plan, Decision, GcEntry, GcOptions};
pub use layout::{LayoutReader, LayoutWriter};
pub use progress::{BlobProgress, Progress, Quiet};
pub use reference::{is_loopback, validate_tag, Reference};
pub use sessions::default_upload_state_dir;
pub use tls::{certs_d_names, certs_d_roots};
pub use transfer::{copy, pull, push_layout, PullReport, PushReport};
