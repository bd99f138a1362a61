//! Bazel labels as written in BUILD and .bzl files.

use std::fmt;

/// A parsed label. `repo` and `package` are `None` when the label is relative to the file it
/// appears in (`:name`, `name`, `//pkg:name` has `repo == None` but a package).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    /// `Some("")` for `@//...` (the main repository).
    pub repo: Option<String>,
    pub package: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LabelError {
    #[error("an empty string is not a label")]
    Empty,
    #[error("invalid repository name `{0}`")]
    Repository(String),
    #[error("invalid package name `{0}`")]
    Package(String),
    #[error("invalid target name `{0}`")]
    Target(String),
}

fn valid_repo(repo: &str) -> bool {
    repo.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '+'))
        && !matches!(repo, "." | "..")
}

fn valid_package(package: &str) -> bool {
    package.is_empty()
        || (!package.starts_with('/')
            && !package.ends_with('/')
            && !package.contains("//")
            && package.split('/').all(|part| !matches!(part, "." | ".."))
            && !package.contains(':'))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && !name.contains(':')
        && name.split('/').all(|part| !matches!(part, "." | ".."))
        && !name.chars().any(|c| c == '\0' || c == '\n')
}

impl Label {
    pub fn parse(text: &str) -> Result<Label, LabelError> {
        if text.is_empty() {
            return Err(LabelError::Empty);
        }
        let (repo, rest) = if let Some(after_at) = text.strip_prefix('@') {
            let after_at = after_at.strip_prefix('@').unwrap_or(after_at);
            match after_at.find("//") {
                Some(i) => (Some(after_at[..i].to_owned()), &after_at[i..]),
                None => {
                    // `@repo` is `@repo//:repo`.
                    if !valid_repo(after_at) || after_at.is_empty() {
                        return Err(LabelError::Repository(after_at.to_owned()));
                    }
                    return Ok(Label {
                        repo: Some(after_at.to_owned()),
                        package: Some(String::new()),
                        name: after_at.to_owned(),
                    });
                }
            }
        } else {
            (None, text)
        };
        if let Some(repo) = &repo {
            if !valid_repo(repo) {
                return Err(LabelError::Repository(repo.clone()));
            }
        }
        if let Some(absolute) = rest.strip_prefix("//") {
            let (package, name) = match absolute.split_once(':') {
                Some((package, name)) => (package, name.to_owned()),
                None => (
                    absolute,
                    absolute.rsplit('/').next().unwrap_or(absolute).to_owned(),
                ),
            };
            if !valid_package(package) {
                return Err(LabelError::Package(package.to_owned()));
            }
            if name.is_empty() && package.is_empty() {
                return Err(LabelError::Target(String::new()));
            }
            if !valid_name(&name) {
                return Err(LabelError::Target(name));
            }
            return Ok(Label {
                repo,
                package: Some(package.to_owned()),
                name,
            });
        }
        if repo.is_some() {
            return Err(LabelError::Package(rest.to_owned()));
        }
        let name = rest.strip_prefix(':').unwrap_or(rest);
        if !valid_name(name) {
            return Err(LabelError::Target(name.to_owned()));
        }
        Ok(Label {
            repo: None,
            package: None,
            name: name.to_owned(),
        })
    }

    /// Whether this label names something in `package` of the main repository, as seen from
    /// a BUILD file of that package.
    pub fn is_in_package(&self, package: &str, main_repo_names: &[&str]) -> bool {
        self.is_in_main_repo(main_repo_names) && self.package.as_deref().is_none_or(|p| p == package)
    }

    /// The package of the main repository this label names explicitly (`//pkg:name`,
    /// `@//pkg:name`), if any.
    /// The package in the main repository the label names. `//external` is not one: it holds
    /// the `bind()` targets of the WORKSPACE.
    pub fn main_repo_package(&self, main_repo_names: &[&str]) -> Option<&str> {
        self.package
            .as_deref()
            .filter(|package| *package != "external" && !package.starts_with("external/"))
            .filter(|_| self.is_in_main_repo(main_repo_names))
    }

    fn is_in_main_repo(&self, main_repo_names: &[&str]) -> bool {
        match &self.repo {
            None => true,
            Some(repo) => repo.is_empty() || main_repo_names.contains(&repo.as_str()),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(repo) = &self.repo {
            write!(f, "@{repo}")?;
        }
        match &self.package {
            Some(package) => write!(f, "//{package}:{}", self.name),
            None => write!(f, ":{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Label {
        Label::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse(":a").name, "a");
        assert_eq!(parse("a/b.txt").name, "a/b.txt");
        assert_eq!(parse("//x/y").name, "y");
        assert_eq!(parse("//x/y").package.as_deref(), Some("x/y"));
        assert_eq!(parse("//:z").package.as_deref(), Some(""));
        let external = parse("@pip//requests:pkg");
        assert_eq!(external.repo.as_deref(), Some("pip"));
        assert_eq!(external.package.as_deref(), Some("requests"));
        let bare = parse("@distroless_python_nonroot");
        assert_eq!(bare.name, "distroless_python_nonroot");
        assert_eq!(
            parse("@@canonical~1//p:t").repo.as_deref(),
            Some("canonical~1")
        );
        assert_eq!(parse("@//p:t").repo.as_deref(), Some(""));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "//a:b:c",
            "//a//b",
            "@bad repo//x",
            "../x",
            "//a/",
            ":",
            "@x/y",
        ] {
            assert!(Label::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
