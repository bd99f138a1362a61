use std::path::PathBuf;

/// Everything that can go wrong talking to a registry or reading and writing layouts.
/// Each variant names what it was working on (reference, URL, digest, file).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    #[error("invalid tag {tag:?}: tags are 1-128 characters of [A-Za-z0-9_.-] and do not start with '.' or '-'")]
    InvalidTag { tag: String },

    #[error("invalid digest {digest:?}: expected sha256:<64 hex> or sha512:<128 hex>")]
    InvalidDigest { digest: String },

    #[error(
        "invalid platform {platform:?}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"
    )]
    InvalidPlatform { platform: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("docker config {path}: {reason}")]
    DockerConfig { path: PathBuf, reason: String },

    #[error("credential helper docker-credential-{helper} (for {registry}): {reason}")]
    CredentialHelper {
        helper: String,
        registry: String,
        reason: String,
    },

    #[error("{registry}: {reason}")]
    Unauthorized { registry: String, reason: String },

    #[error("{host}: TLS failed: {problem}; {advice}")]
    Tls {
        host: String,
        problem: &'static str,
        advice: String,
    },

    #[error("{path}: {reason}")]
    TlsFile { path: PathBuf, reason: String },

    #[error("{url}: {reason}")]
    BadUrl { url: String, reason: String },

    #[error(
        "refusing plain HTTP to {url}: the registry handed us this address, and without TLS \
         credentials and content could be read or changed on the way; only loopback \
         addresses and registries named with --insecure are reached over plain HTTP"
    )]
    PlainHttpRefused { url: String },

    #[error("{method} {url}: {source}")]
    Transport {
        method: &'static str,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },

    #[error("{host}: {what}: the command's deadline of {} s passed (raise it with --timeout)", limit.as_secs())]
    DeadlineExceeded {
        host: String,
        what: String,
        limit: std::time::Duration,
    },

    #[error("{host}: {what}: stalled for {} s while {phase} (raise the limit with --stall-timeout)", limit.as_secs())]
    Stalled {
        host: String,
        what: String,
        phase: &'static str,
        limit: std::time::Duration,
    },

    #[error("{what} {digest}: the registry sent more than the {limit} bytes its descriptor states; stopped reading")]
    Oversized {
        what: &'static str,
        digest: String,
        limit: u64,
    },

    #[error("{what} {digest}: the registry announces {announced} bytes (Content-Length) but the descriptor states {expected}; not downloading it")]
    AnnouncedSize {
        what: &'static str,
        digest: String,
        announced: u64,
        expected: u64,
    },

    #[error(
        "{path}: not enough free space for the pull: {needed} bytes needed, {available} available"
    )]
    NoSpace {
        path: PathBuf,
        needed: u64,
        available: u64,
    },

    #[error("{method} {url}: HTTP {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        detail: String,
    },

    #[error("{what} {digest}: content has digest {actual} (tampered or corrupted)")]
    DigestMismatch {
        what: &'static str,
        digest: String,
        actual: String,
    },

    #[error("{what} {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: &'static str,
        digest: String,
        expected: u64,
        actual: u64,
    },

    #[error("{what} {digest}: {reason}")]
    BadManifest {
        what: &'static str,
        digest: String,
        reason: String,
    },

    #[error(transparent)]
    Manifest(#[from] pyoci_manifest::Error),

    #[error("OCI layout {path}: {reason}")]
    Layout { path: PathBuf, reason: String },

    #[error("{reference}: no manifest for platform {platform} in the index (it has: {available})")]
    PlatformNotFound {
        reference: String,
        platform: String,
        available: String,
    },

    #[error(
        "{repository}: the registry refuses deletes (HTTP {status}); enable them in its \
         configuration (distribution: storage.delete.enabled: true)"
    )]
    DeleteDisabled { repository: String, status: u16 },

    #[error("tag pattern {glob:?}: {reason}")]
    InvalidGlob { glob: String, reason: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Worth trying again after a pause: the server was briefly unable to answer,
    /// or the connection dropped. Client errors (4xx) and bad content are final.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::Stalled { .. } => true,
            Error::Transport { source, .. } => matches!(
                source.as_ref(),
                ureq::Error::Io(_)
                    | ureq::Error::Timeout(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Protocol(_)
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
