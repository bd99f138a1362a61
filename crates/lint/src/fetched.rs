//! External repositories Bazel has already fetched into its output base: when a workspace has
//! been built (or `bazel fetch`ed), their .bzl files are on disk under
//! `<output_base>/external/<canonical name>`, and the linter evaluates them as written instead of
//! standing in for them.
//!
//! The output base is given (`--output-base DIR`) or found through the workspace's
//! `bazel-<directory name>` convenience symlink, which points at `<output_base>/execroot/<name>`.
//! Under bzlmod the directories carry canonical names (`rules_python~`, `rules_python~~pip~pypi`
//! in Bazel 7, `rules_python+`, `+pip+pypi` in Bazel 8); a `load()` names the apparent one. The
//! main module's `bazel_dep(..., repo_name = ...)` maps an apparent name to its module; otherwise
//! the apparent name is read off the canonical one (the module name of a `module~version`
//! repository, the last part of an extension's `module~version~extension~name`). A name that two
//! directories would both answer to is left unresolved: that repository stays unknown.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

#[derive(Debug)]
pub(crate) struct FetchedRepos {
    /// `<output_base>/external`.
    pub external: PathBuf,
    /// Apparent name -> directory name under `external`; `None` when ambiguous.
    by_apparent: HashMap<String, Option<String>>,
}

/// The output base that `root`'s `bazel-<dir name>` symlink leads to, if it has an `external`
/// directory.
pub(crate) fn detect_output_base(root: &Path) -> Option<PathBuf> {
    let name = root.file_name()?.to_str()?;
    let link = root.join(format!("bazel-{name}"));
    fs::symlink_metadata(&link).ok()?.file_type().is_symlink().then_some(())?;
    // bazel-<ws> -> <output_base>/execroot/<workspace name>
    let execroot_dir = fs::canonicalize(&link).ok()?;
    let output_base = execroot_dir.parent()?.parent()?.to_path_buf();
    output_base.join("external").is_dir().then_some(output_base)
}

/// The apparent name a canonical repository name answers to.
pub(crate) fn apparent_name(canonical: &str) -> Option<&str> {
    if !canonical.contains(['~', '+']) {
        return Some(canonical);
    }
    let parts: Vec<&str> = canonical.split(['~', '+']).collect();
    match parts.as_slice() {
        // module~version (version may be empty): the module's own repository.
        [module, _] if !module.is_empty() => Some(module),
        // module~version~extension~name, or Bazel 8's module+extension+name.
        [.., last] if parts.len() >= 3 && !last.is_empty() => Some(last),
        _ => None,
    }
}

impl FetchedRepos {
    /// The repositories under `output_base/external`, named as `root`'s main module names them.
    pub fn read(output_base: &Path, root: &Path) -> Option<FetchedRepos> {
        let external = output_base.join("external");
        let entries = fs::read_dir(&external).ok()?;
        let mut directories: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| !n.starts_with('@') && !n.starts_with('.'))
            .collect();
        directories.sort();
        let mut by_apparent: HashMap<String, Option<String>> = HashMap::new();
        // Exact names first (WORKSPACE mode), which no canonical name can shadow.
        for name in directories.iter().filter(|n| !n.contains(['~', '+'])) {
            by_apparent.insert(name.clone(), Some(name.clone()));
        }
        for name in directories.iter().filter(|n| n.contains(['~', '+'])) {
            let Some(apparent) = apparent_name(name) else {
                continue;
            };
            match by_apparent.get(apparent) {
                Some(Some(existing)) if !existing.contains(['~', '+']) => {}
                Some(_) => {
                    by_apparent.insert(apparent.to_owned(), None);
                }
                None => {
                    by_apparent.insert(apparent.to_owned(), Some(name.clone()));
                }
            }
        }
        // `bazel_dep(name = "rules_python", repo_name = "py")`: `@py` is `rules_python~`.
        for (module, repo_name) in module_repo_names(root) {
            let canonical = directories
                .iter()
                .find(|d| {
                    d.split(['~', '+']).count() == 2 && d.split(['~', '+']).next() == Some(&module)
                })
                .cloned();
            if canonical.is_some() {
                by_apparent.insert(repo_name, canonical);
            }
        }
        Some(FetchedRepos {
            external,
            by_apparent,
        })
    }

    /// The directory of the repository a `load()` names `@apparent`, when it has been fetched.
    pub fn dir(&self, apparent: &str) -> Option<PathBuf> {
        let name = self.by_apparent.get(apparent)?.as_ref()?;
        Some(self.external.join(name))
    }

    /// The apparent names of every fetched repository.
    pub fn apparent_names(&self) -> impl Iterator<Item = String> + '_ {
        self.by_apparent.keys().cloned()
    }
}

/// `(module, repo_name)` of the main module's `bazel_dep`s that rename their repository.
fn module_repo_names(root: &Path) -> Vec<(String, String)> {
    static DEP: OnceLock<Option<Regex>> = OnceLock::new();
    static FIELD: OnceLock<Option<Regex>> = OnceLock::new();
    let (Some(dep), Some(field)) = (
        DEP.get_or_init(|| Regex::new(r"(?s)\bbazel_dep\s*\(([^)]*)\)").ok()),
        FIELD.get_or_init(|| {
            Regex::new(r#"\b(name|repo_name)\s*=\s*["']([A-Za-z0-9_.\-]+)["']"#).ok()
        }),
    ) else {
        return Vec::new();
    };
    let Ok(text) = fs::read_to_string(root.join("MODULE.bazel")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for call in dep.captures_iter(&text) {
        let (mut name, mut repo_name) = (None, None);
        for f in field.captures_iter(&call[1]) {
            match &f[1] {
                "name" => name = Some(f[2].to_owned()),
                _ => repo_name = Some(f[2].to_owned()),
            }
        }
        if let (Some(name), Some(repo_name)) = (name, repo_name) {
            out.push((name, repo_name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::apparent_name;

    #[test]
    fn canonical_names_map_to_apparent_ones() {
        assert_eq!(apparent_name("rules_python"), Some("rules_python"));
        assert_eq!(apparent_name("rules_python~"), Some("rules_python"));
        assert_eq!(apparent_name("rules_python~0.22.1"), Some("rules_python"));
        assert_eq!(apparent_name("rules_python+"), Some("rules_python"));
        assert_eq!(apparent_name("rules_python~~pip~pypi"), Some("pypi"));
        assert_eq!(apparent_name("_main~pip~pypi"), Some("pypi"));
        assert_eq!(apparent_name("+pip+pypi"), Some("pypi"));
        assert_eq!(apparent_name("rules_python++pip+pypi"), Some("pypi"));
        assert_eq!(apparent_name("~~"), None);
    }
}
