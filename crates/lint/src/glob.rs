//! Bazel's `glob()` over a package directory: `*` and `?` within a path segment, `**` across
//! segments, never descending into subpackages.

use std::fs;
use std::path::Path;

/// Directories deeper than this below a package are not listed.
const MAX_DEPTH: usize = 64;
/// At most this many entries are listed per package.
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Relative paths of files (and symlinks to files), sorted.
    pub files: Vec<String>,
    /// Relative paths of directories that belong to the package, sorted.
    pub dirs: Vec<String>,
}

pub(crate) fn is_build_file_name(name: &str) -> bool {
    matches!(name, "BUILD" | "BUILD.bazel")
}

fn is_package_dir(dir: &Path) -> bool {
    build_file(dir).is_some() && !is_deleted_package(dir)
}

/// Package directories a workspace's `.bazelrc` passes to `--deleted_packages`: Bazel does not
/// read them as packages, so their files belong to the enclosing package.
static DELETED_PACKAGES: std::sync::RwLock<Vec<std::path::PathBuf>> = std::sync::RwLock::new(Vec::new());

pub(crate) fn is_deleted_package(dir: &Path) -> bool {
    DELETED_PACKAGES
        .read()
        .is_ok_and(|deleted| deleted.iter().any(|d| d == dir))
}

/// Reads `--deleted_packages=a,b` from `root/.bazelrc` (`build`, `common` or `query` lines).
pub(crate) fn note_deleted_packages(root: &Path) {
    let Ok(text) = std::fs::read_to_string(root.join(".bazelrc")) else {
        return;
    };
    let mut found = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        for word in line.split_whitespace() {
            if let Some(list) = word.strip_prefix("--deleted_packages=") {
                found.extend(
                    list.split(',')
                        .map(|p| p.trim().trim_start_matches("@//").trim_start_matches("//"))
                        .filter(|p| !p.is_empty())
                        .map(|p| root.join(p)),
                );
            }
        }
    }
    if !found.is_empty() {
        if let Ok(mut deleted) = DELETED_PACKAGES.write() {
            deleted.extend(found);
        }
    }
}

/// The BUILD file that makes `dir` a package: BUILD.bazel, which Bazel reads when a package
/// has both, else BUILD.
pub(crate) fn build_file(dir: &Path) -> Option<std::path::PathBuf> {
    ["BUILD.bazel", "BUILD"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

pub(crate) fn list_package(dir: &Path) -> Listing {
    let mut listing = Listing::default();
    walk(dir, "", 0, &mut listing);
    listing.files.sort();
    listing.dirs.sort();
    listing
}

fn walk(dir: &Path, prefix: &str, depth: usize, listing: &mut Listing) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if listing.files.len() + listing.dirs.len() >= MAX_ENTRIES {
            return;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if file_type.is_dir() {
            if depth < MAX_DEPTH && !is_package_dir(&path) {
                listing.dirs.push(relative.clone());
                walk(&path, &relative, depth + 1, listing);
            }
        } else if file_type.is_symlink() {
            // Followed for files only: a symlinked directory could loop.
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => listing.dirs.push(relative),
                Ok(_) => listing.files.push(relative),
                Err(_) => {}
            }
        } else {
            listing.files.push(relative);
        }
    }
}

/// Paths of `listing` matching any of `include` and none of `exclude`, sorted.
pub(crate) fn glob(
    listing: &Listing,
    include: &[String],
    exclude: &[String],
    directories: bool,
) -> Vec<String> {
    let include: Vec<Vec<&str>> = include.iter().map(|p| p.split('/').collect()).collect();
    let exclude: Vec<Vec<&str>> = exclude.iter().map(|p| p.split('/').collect()).collect();
    let candidates = listing.files.iter().chain(if directories {
        listing.dirs.iter()
    } else {
        [].iter()
    });
    let mut matched: Vec<String> = candidates
        .filter(|path| {
            let segments: Vec<&str> = path.split('/').collect();
            include.iter().any(|p| matches_path(p, &segments))
                && !exclude.iter().any(|p| matches_path(p, &segments))
        })
        .cloned()
        .collect();
    matched.sort();
    matched.dedup();
    matched
}

/// Whether the `/`-separated `path` matches the glob `pattern` (`*`, `?`, `**`).
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    matches_path(&pattern, &path)
}

fn matches_path(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| matches_path(rest, &path[skip..])),
        Some((segment, rest)) => match path.split_first() {
            Some((first, path_rest)) => {
                matches_segment(segment, first) && matches_path(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` matches any run of characters, `?` one character.
fn matches_segment(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(files: &[&str]) -> Listing {
        Listing {
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            dirs: vec![],
        }
    }

    #[test]
    fn star_stays_in_its_segment_and_double_star_crosses() {
        let l = listing(&["a.py", "b.txt", "sub/c.py", "sub/deep/d.py"]);
        assert_eq!(glob(&l, &["*.py".into()], &[], false), vec!["a.py"]);
        assert_eq!(
            glob(&l, &["**/*.py".into()], &[], false),
            vec!["a.py", "sub/c.py", "sub/deep/d.py"]
        );
        assert_eq!(
            glob(&l, &["**/*.py".into()], &["sub/**".into()], false),
            vec!["a.py"]
        );
        assert_eq!(glob(&l, &["?.txt".into()], &[], false), vec!["b.txt"]);
    }
}
