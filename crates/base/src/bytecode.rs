//! The standard library's bytecode, which Debian's postinst (`py3compile`) would have written.
//!
//! Maintainer scripts never run here, and the image's user (65532 in the nonroot variants)
//! cannot write `__pycache__` under /usr/lib, so without this every container start compiles
//! typing, enum, asyncio, logging, ... from source again. The .pyc files are written by
//! rules/private/compile_pyc.py (the script py_image compiles application layers with, embedded
//! so there is one source of truth) under an interpreter the caller names, which must be the
//! base's own Python version: the magic number and code layout belong to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};
use std::process::{Command, Output, Stdio};

use pyoci_layer::deb::DebPackage;
use pyoci_layer::{Entry, EntryKind};

use crate::error::{Error, Result};
use crate::files::entry_bytes;

/// The compiler script; see its docstring for the manifest format and the .pyc it writes.
const COMPILE_PYC: &str = include_str!("../../../rules/private/compile_pyc.py");

/// The interpreter flags of every run: no user site, no `site` (the compiler's stdlib may be a
/// bare extraction), and no bytecode of its own written next to that stdlib.
const PYTHON_FLAGS: [&str; 3] = ["-s", "-S", "-B"];

/// Prints the version the .pyc would be for, and the tag naming the .pyc files it writes.
const PROBE: &str = "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.cache_tag)";

/// At most this much of a failing child's stderr goes into the error.
const STDERR_TAIL: usize = 2000;

/// The `__pycache__` entries of the packages layer, and the directory their files live in,
/// which must outlive the layer's writing (`dir`).
pub(crate) struct Bytecode {
    pub entries: Vec<Entry>,
    /// The Python version compiled for ("3.11"), or `None` when there was nothing to compile.
    pub version: Option<String>,
    pub dir: Option<tempfile::TempDir>,
}

/// One standard-library source file: its in-image path, relative ("usr/lib/python3.11/x.py").
struct Source<'a> {
    package: &'a DebPackage,
    entry: &'a Entry,
}

/// Compiles every regular `*.py` file the packages install under /usr/lib/python3.X/ with
/// `python`, in a scratch directory created inside `scratch`.
pub(crate) fn compile_stdlib(packages: &[DebPackage], python: &Path, scratch: &Path) -> Result<Bytecode> {
    let mut versions = BTreeSet::new();
    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    for package in packages {
        for entry in &package.entries {
            // A symlinked module (sitecustomize.py -> /etc/python3.11/...) points at a file a
            // later layer may replace; an unchecked .pyc would keep running the old one.
            if !matches!(entry.kind, EntryKind::File(_) | EntryKind::Bytes(_)) {
                continue;
            }
            let Some((version, relative)) = stdlib_source(&entry.path) else { continue };
            versions.insert(version);
            // The first package wins, as its file does in the layer; a conflicting second one
            // fails when the layer is written.
            sources.entry(relative).or_insert(Source { package, entry });
        }
    }
    if sources.is_empty() {
        return Ok(Bytecode { entries: Vec::new(), version: None, dir: None });
    }

    let fail = |reason: String| Error::BytecodeCompiler { python: python.to_path_buf(), reason };
    let (found, cache_tag) = probe(python).map_err(fail)?;
    if let Some(expected) = versions.iter().find(|v| **v != found) {
        return Err(Error::BytecodeCompilerVersion {
            python: python.to_path_buf(),
            found,
            expected: expected.clone(),
        });
    }

    let dir = tempfile::Builder::new()
        .prefix("bytecode")
        .tempdir_in(scratch)
        .map_err(|e| Error::io(scratch, e))?;
    // The manifest names files by absolute path, so the child can run where pyoci runs (a
    // relative PYTHONHOME, as Bazel's action gives, stays valid) and read them all the same.
    let root = std::path::absolute(dir.path()).map_err(|e| Error::io(dir.path(), e))?;
    let Some(root_text) = root.to_str().filter(|text| manifest_safe(text)) else {
        return Err(Error::BytecodeScratchPath { path: root });
    };
    let source_dir = root.join("src");
    let out_dir = root.join("pyc");
    let mut manifest = String::from("/\n");
    for (relative, source) in &sources {
        let path = source_dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        std::fs::write(&path, entry_bytes(source.package, source.entry)?).map_err(|e| Error::io(&path, e))?;
        manifest.push_str(&format!("{root_text}/src/{relative}\t/{relative}\n"));
    }
    let manifest_path = root.join("manifest.txt");
    std::fs::write(&manifest_path, manifest).map_err(|e| Error::io(&manifest_path, e))?;
    let script = root.join("compile_pyc.py");
    std::fs::write(&script, COMPILE_PYC).map_err(|e| Error::io(&script, e))?;

    let output = run(Command::new(python).args(PYTHON_FLAGS).arg(&script).arg(&manifest_path).arg(&out_dir))
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if !output.status.success() {
        return Err(fail(format!("compiling the standard library failed ({}){}", output.status, stderr_tail(&output))));
    }

    let mut entries = Vec::new();
    let mut cache_dirs = BTreeSet::new();
    for relative in sources.keys() {
        let (directory, name) = relative.rsplit_once('/').unwrap_or(("", relative.as_str()));
        let stem = &name[..name.len() - ".py".len()];
        let cache_dir = format!("{directory}/__pycache__");
        let pyc = out_dir.join(&cache_dir).join(format!("{stem}.{cache_tag}.pyc"));
        // No .pyc means the file does not compile (lib2to3's Python 2 test data): it would
        // fail at import in the image as well, and keeps only its source.
        if !pyc.is_file() {
            continue;
        }
        entries.push(
            Entry::file(format!("/{cache_dir}/{stem}.{cache_tag}.pyc"), pyc)
                .with_mode(0o644)
                .with_origin(format!("bytecode of /{relative} compiled by {}", python.display())),
        );
        cache_dirs.insert(cache_dir);
    }
    entries.extend(cache_dirs.into_iter().map(|dir| {
        Entry::dir(format!("/{dir}"))
            .with_mode(0o755)
            .with_origin(format!("bytecode compiled by {}", python.display()))
    }));
    Ok(Bytecode { entries, version: Some(found), dir: Some(dir) })
}

/// `("3.11", "usr/lib/python3.11/asyncio/__init__.py")` for a module file under
/// /usr/lib/python3.X/ whose path the compiler's line-based manifest can carry.
fn stdlib_source(path: &Path) -> Option<(String, String)> {
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return None;
    }
    let relative = components.as_path().to_str()?;
    let rest = relative.strip_prefix("usr/lib/python")?;
    let (version, inside) = rest.split_once('/')?;
    let minor = version.strip_prefix("3.")?;
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = inside.rsplit('/').next()?;
    if name.len() <= ".py".len() || !name.ends_with(".py") || !manifest_safe(relative) {
        return None;
    }
    Some((version.to_owned(), relative.to_owned()))
}

/// Whether `text` fits in one field of the manifest, which Python splits with
/// `str.splitlines` and then at the first tab.
fn manifest_safe(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
}

/// The compiler's `major.minor` and cache tag, or why it could not say.
fn probe(python: &Path) -> std::result::Result<(String, String), String> {
    let output = run(Command::new(python).args(PYTHON_FLAGS).args(["-c", PROBE]))
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !output.status.success() {
        return Err(format!("asking it for its version failed ({}){}", output.status, stderr_tail(&output)));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(version), Some(tag), None) => Ok((version.to_owned(), tag.to_owned())),
        _ => Err(format!(
            "it does not answer like Python: `{PROBE}` printed {:?}",
            text.chars().take(200).collect::<String>()
        )),
    }
}

/// Runs a child with the caller's environment (a hermetic compiler needs its PYTHONHOME) and
/// a fixed hash seed, without which the order of marshalled sets, and so the bytes, would vary.
fn run(command: &mut Command) -> std::io::Result<Output> {
    command
        .env("PYTHONHASHSEED", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
}

fn stderr_tail(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let start = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| text.len() - i <= STDERR_TAIL)
        .unwrap_or(0);
    format!(":\n{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_module_files_of_a_versioned_stdlib_are_sources() {
        let source = |path: &str| stdlib_source(Path::new(path));
        assert_eq!(
            source("/usr/lib/python3.11/asyncio/__init__.py"),
            Some(("3.11".to_owned(), "usr/lib/python3.11/asyncio/__init__.py".to_owned()))
        );
        assert_eq!(source("/usr/lib/python3.12/os.py").map(|s| s.0), Some("3.12".to_owned()));
        for path in [
            "/usr/lib/python3/dist-packages/x.py",
            "/usr/lib/python3.11/os.pyc",
            "/usr/lib/python3.11/.py",
            "/usr/lib/python3.x/os.py",
            "/usr/lib/python2.7/os.py",
            "/usr/lib/python3.11",
            "/usr/lib/python3.11/a\tb.py",
            "/usr/lib/python3.11/a\nb.py",
            "/usr/share/python3.11/os.py",
            "usr/lib/python3.11/os.py",
        ] {
            assert_eq!(source(path), None, "{path}");
        }
    }

    #[test]
    fn stderr_tail_keeps_the_end() {
        let output = Output {
            status: Default::default(),
            stdout: Vec::new(),
            stderr: format!("{}é\nlast line\n", "x".repeat(3 * STDERR_TAIL)).into_bytes(),
        };
        let tail = stderr_tail(&output);
        assert!(tail.ends_with("é\nlast line"), "{tail}");
        assert!(tail.len() <= STDERR_TAIL + 2, "{}", tail.len());
    }
}
