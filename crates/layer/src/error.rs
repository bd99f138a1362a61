use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while building a layer. Each variant names
/// the file, destination or package it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A source file or directory is missing or cannot be read.
    #[error("cannot read source {}: {error}", path.display())]
    Source { path: PathBuf, error: io::Error },

    /// A fifo, socket or device node was given as a source.
    #[error(
        "source {} is a {kind}; only regular files, directories and symlinks can go into a layer",
        path.display()
    )]
    UnsupportedFileType { path: PathBuf, kind: &'static str },

    /// A source file's size changed between validation and reading.
    #[error("source {} changed while the layer was being written: {detail}", path.display())]
    SourceChanged { path: PathBuf, detail: String },

    /// A destination path contains `..`.
    #[error("destination {dest:?} contains '..' and could escape the image root")]
    DestEscapes { dest: String },

    /// A destination path is empty, the root, or contains a NUL byte.
    #[error("invalid destination {dest:?}: {reason}")]
    InvalidDest { dest: String, reason: &'static str },

    /// Two entries claim one destination with different content or attributes.
    #[error("duplicate destination {dest}: {first} and {second} differ in {what}")]
    DuplicateDest { dest: String, first: String, second: String, what: &'static str },

    /// An entry's parent path is a file or symlink instead of a directory.
    #[error("{dest} needs {parent} to be a directory, but {origin} puts a {kind} there")]
    ParentNotDirectory { dest: String, parent: String, origin: String, kind: &'static str },

    /// A hard link whose target is missing, not a file, or part of a cycle.
    #[error("hard link {dest} ({origin}): {reason}")]
    Hardlink { dest: String, origin: String, reason: String },

    /// A compression level outside what the compressor accepts.
    #[error("invalid {compression} level {level}: expected {min} to {max}")]
    InvalidLevel { compression: &'static str, level: i32, min: i32, max: i32 },

    /// The output (or its temporary file) cannot be created or written.
    #[error("cannot write {}: {error}", path.display())]
    Output { path: PathBuf, error: io::Error },

    /// A spec file is unreadable or invalid; `index` is the entry at fault.
    #[error("{}{}: {message}", file.display(), index.map(|i| format!(": entries[{i}]")).unwrap_or_default())]
    Spec { file: PathBuf, index: Option<usize>, message: String },

    /// A .deb file is unreadable, truncated, or not a Debian package.
    #[error("{}: {message}", file.display())]
    Deb { file: PathBuf, message: String },

    /// The compressor reported a failure (not expected with valid input).
    #[error("compression failed: {0}")]
    Compression(String),
}
