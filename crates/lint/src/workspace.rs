//! Finding the files to lint, the workspace each belongs to, and the package of a BUILD file.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use crate::glob::is_build_file_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FileKind {
    Build,
    Bzl,
    Workspace,
    Module,
}

impl FileKind {
    /// The kind of a file by name; files given explicitly with other names are read as BUILD files.
    pub fn of(path: &Path) -> FileKind {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match name {
            "WORKSPACE" | "WORKSPACE.bazel" | "WORKSPACE.bzlmod" => FileKind::Workspace,
            "MODULE.bazel" => FileKind::Module,
            _ if name.ends_with(".bzl") => FileKind::Bzl,
            _ => FileKind::Build,
        }
    }

    fn is_lintable_name(name: &str) -> bool {
        is_build_file_name(name)
            || name.ends_with(".bzl")
            || matches!(
                name,
                "WORKSPACE" | "WORKSPACE.bazel" | "WORKSPACE.bzlmod" | "MODULE.bazel"
            )
    }
}

const WORKSPACE_MARKERS: &[&str] = &["WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel", "REPO.bazel"];

/// `path` made absolute against `base`, with `.` and `..` resolved lexically (symlinks are kept,
/// as Bazel keeps them).
pub(crate) fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The path as users should see it: relative to `base` when under it, `/`-separated.
pub(crate) fn display_path(base: &Path, path: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(relative) if !relative.as_os_str().is_empty() => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        _ => path.to_string_lossy().into_owned(),
    }
}

/// The nearest directory at or above `dir` with a WORKSPACE/MODULE.bazel/REPO.bazel file.
pub(crate) fn workspace_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| WORKSPACE_MARKERS.iter().any(|m| d.join(m).is_file()))
        .map(Path::to_path_buf)
}

/// Whether a workspace root sits inside another workspace.
pub(crate) fn is_nested(root: &Path) -> bool {
    root.parent().and_then(workspace_root).is_some()
}

/// Names the main repository is known by: from `workspace(name = ...)` and `module(name = ...)`.
pub(crate) fn repository_names(root: &Path) -> Vec<String> {
    static WORKSPACE_NAME: OnceLock<Option<Regex>> = OnceLock::new();
    static MODULE_NAME: OnceLock<Option<Regex>> = OnceLock::new();
    let workspace_re = WORKSPACE_NAME.get_or_init(|| {
        Regex::new(r#"(?s)\bworkspace\s*\(\s*name\s*=\s*["']([A-Za-z0-9_.\-]+)["']"#).ok()
    });
    let module_re = MODULE_NAME.get_or_init(|| {
        Regex::new(r#"(?s)\bmodule\s*\([^)]*?\bname\s*=\s*["']([A-Za-z0-9_.\-]+)["']"#).ok()
    });
    let mut names = Vec::new();
    for (file, re) in [
        ("WORKSPACE", workspace_re),
        ("WORKSPACE.bazel", workspace_re),
        ("MODULE.bazel", module_re),
    ] {
        let (Some(re), Ok(text)) = (re, fs::read_to_string(root.join(file))) else {
            continue;
        };
        if let Some(captures) = re.captures(&text) {
            names.push(captures[1].to_owned());
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The package of a BUILD file: its directory relative to the workspace root.
pub(crate) fn package_of(root: &Path, dir: &Path) -> String {
    dir.strip_prefix(root)
        .map(|rel| {
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{path}: no such file or directory")]
    NotFound { path: PathBuf },
}

/// The files to lint under `paths` (files as given, directories walked), sorted, without
/// duplicates. Walks skip what the workspace's `.bazelignore` lists, paths (relative to `base`)
/// matching an `exclude` glob, and symlinks to files outside the workspace.
pub(crate) fn discover(
    base: &Path,
    paths: &[PathBuf],
    exclude: &[String],
) -> Result<Vec<PathBuf>, DiscoveryError> {
    let mut files = Vec::new();
    for path in paths {
        let path = absolute(base, path);
        let meta =
            fs::metadata(&path).map_err(|_| DiscoveryError::NotFound { path: path.clone() })?;
        if meta.is_dir() {
            let root = workspace_root(&path).unwrap_or_else(|| path.clone());
            let walker = Walker {
                base,
                exclude,
                ignored: bazelignored(&root),
                root: fs::canonicalize(&root).unwrap_or(root),
            };
            walker.walk(&path, &mut files);
        } else if !excluded(base, &path, exclude) {
            files.push(path);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn excluded(base: &Path, path: &Path, exclude: &[String]) -> bool {
    let shown = display_path(base, path);
    exclude
        .iter()
        .any(|pattern| crate::glob::path_matches(pattern, &shown))
}

/// The directories a workspace's `.bazelignore` lists (paths relative to its root; `#` starts
/// a comment), which Bazel never reads as packages.
fn bazelignored(root: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(root.join(".bazelignore")) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| absolute(root, Path::new(line.trim_end_matches('/'))))
        .collect()
}

struct Walker<'a> {
    base: &'a Path,
    exclude: &'a [String],
    ignored: Vec<PathBuf>,
    /// The workspace root, with symlinks resolved: symlinked files must point inside it.
    root: PathBuf,
}

impl Walker<'_> {
    fn walk(&self, dir: &Path, files: &mut Vec<PathBuf>) {
        // Cargo's target directory and other caches mark themselves so tools skip them.
        if dir.join("CACHEDIR.TAG").exists() || self.ignored.iter().any(|i| i == dir) {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if excluded(self.base, &path, self.exclude) {
                continue;
            }
            if file_type.is_dir() {
                // Hidden directories, and Bazel's output symlinks are never sources.
                if !name.starts_with('.') && !name.starts_with("bazel-") {
                    self.walk(&path, files);
                }
            } else if file_type.is_file() && FileKind::is_lintable_name(&name) {
                files.push(path);
            } else if file_type.is_symlink()
                && FileKind::is_lintable_name(&name)
                && path.is_file()
                && inside(&self.root, &path)
            {
                files.push(path);
            }
        }
    }
}

/// Whether `path`, with symlinks resolved, is under `root` (already resolved): a workspace's
/// files are never read through a link that leaves it.
pub(crate) fn inside(root: &Path, path: &Path) -> bool {
    fs::canonicalize(path).is_ok_and(|real| real.starts_with(root))
}

/// Names Bazel's BUILD-file prelude (`tools/build_rules/prelude_bazel`, read before every BUILD
/// file of the main repository) loads or defines: BUILD files may use them without a `load()`.
pub(crate) fn prelude_names(root: &Path) -> std::collections::HashSet<String> {
    static LOAD: OnceLock<Option<Regex>> = OnceLock::new();
    static SYMBOL: OnceLock<Option<Regex>> = OnceLock::new();
    static DEFINED: OnceLock<Option<Regex>> = OnceLock::new();
    let mut names = std::collections::HashSet::new();
    let Ok(text) = fs::read_to_string(root.join("tools/build_rules/prelude_bazel")) else {
        return names;
    };
    let (Some(load), Some(symbol), Some(defined)) = (
        LOAD.get_or_init(|| Regex::new(r"(?s)\bload\s*\(\s*(?:'[^']*'|\x22[^\x22]*\x22)\s*,([^)]*)\)").ok()),
        SYMBOL.get_or_init(|| {
            Regex::new(r#"(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?["']([A-Za-z_][A-Za-z0-9_]*)["']"#).ok()
        }),
        DEFINED.get_or_init(|| Regex::new(r"(?m)^(?:def\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[=(]").ok()),
    ) else {
        return names;
    };
    for call in load.captures_iter(&text) {
        for s in symbol.captures_iter(&call[1]) {
            let name = s.get(1).unwrap_or_else(|| s.get(2).expect("group 2 always matches"));
            names.insert(name.as_str().to_owned());
        }
    }
    for d in defined.captures_iter(&text) {
        names.insert(d[1].to_owned());
    }
    names
}

/// Whether a `.gitignore` in `path`'s directory or above (up to `root`) names it: such a file
/// is generated (by a script, a test driver) where it is used, so its absence is not an error.
pub(crate) fn is_gitignored(root: &Path, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    path.ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(root))
        .any(|dir| {
            let Ok(text) = fs::read_to_string(dir.join(".gitignore")) else {
                return false;
            };
            let relative = display_path(dir, path);
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
                .any(|pattern| {
                    crate::glob::path_matches(pattern, &relative)
                        || (!pattern.trim_matches('/').contains('/') && crate::glob::path_matches(pattern, name))
                })
        })
}
