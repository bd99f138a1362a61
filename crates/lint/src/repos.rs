//! Which external repositories a workspace declares, for PYO014: read by evaluating its
//! WORKSPACE and MODULE.bazel with the same fakes as every other file, recording every call that
//! names a repository. When a repository may come from code the linter cannot see (a name-less
//! call of another repository's macro such as `go_rules_dependencies()`, a load that fails, an
//! `include()`), the set is unknown and nothing is reported.

use std::collections::BTreeSet;

use crate::attr_value::AttrValue;
use crate::record::Invocation;

/// Repositories every Bazel workspace can name without declaring them.
const IMPLICIT: &[&str] = &[
    "bazel_tools",
    "local_config_platform",
    "local_config_cc",
    "local_config_cc_toolchains",
    "local_config_sh",
    "local_config_xcode",
    "local_jdk",
    "platforms",
    "rules_java",
    "rules_cc",
    "rules_proto",
    "rules_python",
    "rules_license",
    "rules_shell",
    "remote_coverage_tools",
    "remote_java_tools",
    "build_bazel_apple_support",
    "internal_platforms_do_not_use",
];

/// WORKSPACE calls that declare nothing.
const NON_DECLARING: &[&str] = &[
    "workspace",
    "register_toolchains",
    "register_execution_platforms",
    "bind",
];

#[derive(Debug, Clone)]
pub(crate) enum Repositories {
    /// Some repository may be declared by code the linter cannot see: why.
    Unknown(String),
    Known {
        names: BTreeSet<String>,
        /// The workspace uses MODULE.bazel (the advice is a `bazel_dep`, else an `http_archive`).
        bzlmod: bool,
        /// The file to declare it in, as shown in messages.
        file: String,
    },
}

impl Repositories {
    /// Whether `repo` (without `@`) may be named.
    pub fn declares(&self, repo: &str) -> bool {
        match self {
            Repositories::Unknown(_) => true,
            Repositories::Known { names, .. } => {
                names.contains(repo)
                    || IMPLICIT.contains(&repo)
                    || repo.starts_with("remotejdk")
                    || repo.starts_with("remote_java_tools")
            }
        }
    }

    /// The message for a `load()` or label naming `repo`, which this workspace does not declare.
    pub fn undeclared_message(&self, repo: &str, what: &str) -> String {
        let Repositories::Known { names: _, bzlmod, file } = self else {
            return String::new();
        };
        let advice = if *bzlmod {
            format!("add `bazel_dep(name = \"{repo}\", version = ...)` to {file}")
        } else {
            format!("declare it in {file}, e.g. `http_archive(name = \"{repo}\", urls = [...], sha256 = ...)`")
        };
        // No did-you-mean: `@rules_oci` is not a typo of a declared `@rules_pyoci`.
        format!("{what} names `@{repo}`, which the workspace does not declare: Bazel fails with \"no such repository\"; {advice}")
    }
}

/// What evaluating one WORKSPACE or MODULE.bazel file left behind.
pub(crate) struct DeclaringFile {
    pub invocations: Vec<Invocation>,
    /// Evaluation stopped early, or a `load()` failed.
    pub incomplete: bool,
    /// The file, as shown in messages.
    pub shown: String,
    pub module_file: bool,
}

/// The repositories declared by `files` (the workspace's WORKSPACE and MODULE.bazel, evaluated).
pub(crate) fn collect(files: &[DeclaringFile], shown: String) -> Repositories {
    if files.is_empty() {
        return Repositories::Unknown("the workspace has no WORKSPACE or MODULE.bazel file".to_owned());
    }
    let mut names = BTreeSet::new();
    let mut bzlmod = false;
    for file in files {
        if file.incomplete {
            return Repositories::Unknown(format!(
                "{} does not evaluate to the end (a load or call the linter cannot follow)",
                file.shown
            ));
        }
        bzlmod |= file.module_file;
        for invocation in &file.invocations {
            let kind = invocation.kind.as_str();
            if file.module_file {
                match kind {
                    "include" => {
                        return Repositories::Unknown(format!("{} include()s another file", file.shown))
                    }
                    "bazel_dep" => {
                        let name = invocation
                            .attr("repo_name")
                            .and_then(AttrValue::as_str)
                            .or_else(|| invocation.name());
                        names.extend(name.map(str::to_owned));
                    }
                    "use_repo" => {
                        names.extend(
                            invocation.positional.iter().skip(1).filter_map(AttrValue::as_str).map(str::to_owned),
                        );
                        names.extend(invocation.attrs.iter().map(|(key, _)| key.clone()));
                    }
                    "module" => {}
                    _ => names.extend(invocation.name().map(str::to_owned)),
                }
                continue;
            }
            if NON_DECLARING.contains(&kind) {
                continue;
            }
            match invocation.name() {
                Some(name) => {
                    names.insert(name.to_owned());
                }
                // A macro of a repository the linter does not evaluate may declare anything.
                None => {
                    return Repositories::Unknown(format!(
                        "{} calls `{kind}`, code of a repository that is not evaluated, which may declare repositories",
                        file.shown
                    ))
                }
            }
        }
    }
    Repositories::Known {
        names,
        bzlmod,
        file: shown,
    }
}

impl Repositories {
    /// A workspace nested in another is usually a repository of the outer one (a test
    /// workspace, a `local_repository`), and its labels then resolve among the outer
    /// workspace's repositories too (WORKSPACE mode shares one namespace; under bzlmod a
    /// repository made by the outer module sees the outer module's).
    pub fn nested_in(self, outer: &Repositories, outer_names: &[String], outer_file: &str) -> Repositories {
        match (self, outer) {
            (Repositories::Known { mut names, bzlmod, file }, Repositories::Known { names: more, .. }) => {
                names.extend(more.iter().cloned());
                names.extend(outer_names.iter().cloned());
                Repositories::Known { names, bzlmod, file }
            }
            (Repositories::Known { .. }, Repositories::Unknown(why)) => Repositories::Unknown(format!(
                "the workspace is nested in {outer_file}, whose repositories are unknown: {why}"
            )),
            (unknown, _) => unknown,
        }
    }

    /// Repositories Bazel has fetched were declared when it fetched them.
    pub fn with_fetched(self, fetched: Option<&crate::fetched::FetchedRepos>) -> Repositories {
        match (self, fetched) {
            (Repositories::Known { mut names, bzlmod, file }, Some(fetched)) => {
                names.extend(fetched.apparent_names());
                Repositories::Known { names, bzlmod, file }
            }
            (other, _) => other,
        }
    }
}
