use std::path::PathBuf;

/// Everything that can go wrong reading or writing images. Each variant names the file,
/// digest or argument at fault so the binary can print it without more context.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("{}: not an OCI image layout: {reason}", path.display())]
    NotALayout { path: PathBuf, reason: String },

    #[error("{}: invalid JSON: {error}", path.display())]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },

    #[error("{}: {what} is invalid: {reason}", path.display())]
    InvalidDocument {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },

    #[error("{}: blob does not match its digest: expected {expected}, found {actual}", path.display())]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("{}: blob size {actual} does not match its descriptor's size {expected}", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    #[error("{}: member {member:?} is refused: {reason}", path.display())]
    ForeignLayer {
        path: PathBuf,
        member: String,
        reason: String,
    },

    #[error("{}: missing blob {digest}", path.display())]
    MissingBlob { path: PathBuf, digest: String },

    #[error("invalid digest {digest:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest { digest: String },

    #[error("{}: no image tagged {ref_name:?} (available: {})", layout.display(), list_or_none(available))]
    RefNotFound {
        layout: PathBuf,
        ref_name: String,
        available: Vec<String>,
    },

    #[error("{}: index.json lists {count} images; choose one by ref name (available: {})", layout.display(), list_or_none(available))]
    AmbiguousImage {
        layout: PathBuf,
        count: usize,
        available: Vec<String>,
    },

    #[error("{}: the image index {digest} has no {platform} image", layout.display())]
    PlatformNotFound {
        layout: PathBuf,
        digest: String,
        platform: String,
    },

    #[error("{}: unsupported media type {media_type:?} for {what}", path.display())]
    UnsupportedMediaType {
        path: PathBuf,
        what: &'static str,
        media_type: String,
    },

    #[error("{what} {value:?} is invalid: {reason}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        reason: String,
    },

    #[error("{}:{line}: {reason}", path.display())]
    InvalidStampInfo {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error("{}: images {first} and {second} are both for platform {platform}", layout.display())]
    DuplicatePlatform {
        layout: PathBuf,
        platform: String,
        first: String,
        second: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn invalid_argument(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidArgument {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
