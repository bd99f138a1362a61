use std::path::PathBuf;

/// Why a base could not be built. Each variant names the package, file or directory at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error(transparent)]
    Layer(#[from] pyoci_layer::Error),

    #[error(transparent)]
    Manifest(#[from] pyoci_manifest::Error),

    #[error("{}: invalid lock file: {reason}", path.display())]
    InvalidLock { path: PathBuf, reason: String },

    #[error("{}: package {package} from the lock file is missing (looked for {})", dir.display(), expected.join(" or "))]
    MissingPackage {
        package: String,
        dir: PathBuf,
        expected: Vec<String>,
    },

    #[error("{}: sha256 {actual} does not match the lock file's {expected}", path.display())]
    PackageDigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error("{}: no .deb files", dir.display())]
    NoDebs { dir: PathBuf },

    #[error("package {package} is given twice: {} and {}", first.display(), second.display())]
    DuplicatePackage {
        package: String,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("packages for different architectures: {} is {second}, others are {first}", path.display())]
    MixedArchitectures {
        path: PathBuf,
        first: String,
        second: String,
    },

    #[error("no {package} package among the .debs; it is needed for {needed_for}")]
    MissingRequiredPackage {
        package: &'static str,
        needed_for: &'static str,
    },

    #[error("{}: {reason}", path.display())]
    InvalidPackageContent { path: PathBuf, reason: String },

    #[error("unknown variant {value:?}: expected base, nonroot, debug or debug-nonroot")]
    UnknownVariant { value: String },

    #[error("bytecode compiler {}: {reason}", python.display())]
    BytecodeCompiler { python: PathBuf, reason: String },

    #[error(
        "bytecode compiler {} is Python {found}, but the base's standard library is Python {expected} \
         (/usr/lib/python{expected}); its .pyc files would not load: give a python{expected}",
        python.display()
    )]
    BytecodeCompilerVersion {
        python: PathBuf,
        found: String,
        expected: String,
    },

    #[error("{}: the bytecode compiler's manifest cannot name files under this directory (not UTF-8, or a control character in it)", path.display())]
    BytecodeScratchPath { path: PathBuf },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
