//! The stable diagnostic codes. A code never changes meaning once released; retired codes are
//! not reused. `README.md` documents each one with an example.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One diagnostic code: what it means and how bad it is by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    pub code: &'static str,
    /// A stable kebab-case name (SARIF `rules[].name` uses its PascalCase form).
    pub name: &'static str,
    pub severity: Severity,
    /// One line: what was found.
    pub summary: &'static str,
    /// Why it matters and how to fix it.
    pub help: &'static str,
}

macro_rules! codes {
    ($( $ident:ident = ($code:literal, $name:literal, $sev:ident, $summary:literal, $help:literal); )*) => {
        $( pub const $ident: &CodeInfo = &CodeInfo {
            code: $code, name: $name, severity: Severity::$sev, summary: $summary, help: $help,
        }; )*
        /// Every code, in code order.
        pub const ALL: &[&CodeInfo] = &[$($ident),*];
    };
}

codes! {
    SYNTAX_ERROR = ("PYO001", "syntax-error", Error,
        "The file does not parse as Starlark.",
        "Bazel would refuse the whole file. Fix the syntax at the reported position.");
    EVALUATION_ERROR = ("PYO002", "evaluation-error", Error,
        "Evaluating the file (or a macro it calls) failed.",
        "Bazel would fail loading the package with the same error: a `fail()`, a type error, a bad argument to a built-in.");
    INVALID_ENCODING = ("PYO003", "invalid-encoding", Error,
        "The file is not valid UTF-8.",
        "BUILD and .bzl files are UTF-8 text. Re-encode the file; the rest of it is linted with the bad bytes replaced.");
    LIMIT_EXCEEDED = ("PYO004", "limit-exceeded", Error,
        "The file exceeds a linter limit (size, nesting depth, evaluation steps, memory or call depth).",
        "Such files are not evaluated, so nothing else in them is checked. Split the file or simplify the expression.");
    INTERNAL_ERROR = ("PYO005", "internal-error", Error,
        "The linter failed on this file.",
        "This is a bug in pyoci lint (or the file exhausts memory or stack). Please report it with the file.");
    BUILD_RESTRICTION = ("PYO006", "build-file-restriction", Error,
        "A statement that Bazel forbids in this kind of file (`def`, or top-level `for`/`if`).",
        "BUILD, WORKSPACE and MODULE.bazel files may not define functions or use top-level `for`/`if`; move the logic into a macro in a .bzl file.");
    UNREADABLE_FILE = ("PYO007", "unreadable-file", Error,
        "The file cannot be read.",
        "Check its permissions; nothing in it was checked.");
    LOAD_FAILED = ("PYO010", "load-failed", Error,
        "A `load()` names a file that does not exist or does not evaluate.",
        "Bazel fails the package. Check the label, or fix the loaded file (its own diagnostics say how).");
    LOAD_MISSING_SYMBOL = ("PYO011", "load-missing-symbol", Error,
        "A `load()` asks for a symbol that the loaded file does not export.",
        "Check the spelling; symbols starting with `_` are private and cannot be loaded.");
    UNUSED_LOAD = ("PYO012", "unused-load", Warning,
        "A loaded symbol is never used.",
        "Remove it from the `load()` statement.");
    UNDEFINED_NAME = ("PYO013", "undefined-name", Error,
        "A name is used that is neither defined, loaded nor built in.",
        "Bazel fails the file. Fix the spelling or add the missing `load()`.");
    UNDECLARED_REPOSITORY = ("PYO014", "undeclared-repository", Error,
        "A `load()` or label names a repository that the WORKSPACE/MODULE.bazel does not declare.",
        "Bazel fails with \"no such repository\". Add a `bazel_dep` to MODULE.bazel or an `http_archive` to WORKSPACE. Not reported when a macro the linter cannot evaluate may declare repositories.");
    UNKNOWN_ATTRIBUTE = ("PYO020", "unknown-attribute", Error,
        "A rule or macro is called with an attribute it does not have.",
        "Bazel fails the package. Fix the spelling (a suggestion is given when one is close).");
    WRONG_ATTRIBUTE_TYPE = ("PYO021", "wrong-attribute-type", Error,
        "An attribute value has the wrong type for the rule's schema.",
        "Bazel fails the package. The message names the expected type.");
    MISSING_MANDATORY_ATTRIBUTE = ("PYO022", "missing-mandatory-attribute", Error,
        "A mandatory attribute is not given.",
        "Bazel fails the package. Add the attribute.");
    ATTRIBUTE_VALUE_NOT_ALLOWED = ("PYO023", "attribute-value-not-allowed", Error,
        "An attribute value is not one of the values the rule allows.",
        "Use one of the listed values.");
    DUPLICATE_TARGET = ("PYO024", "duplicate-target", Error,
        "Two targets in one package have the same name.",
        "Bazel fails the package. Rename one of them (macros may create extra targets named after theirs).");
    MISSING_MAIN = ("PYO025", "missing-main", Error,
        "A py_binary or py_test has no `main` and no source named after the target.",
        "Bazel's analysis fails (\"corresponding default '<name>.py' does not appear in srcs\"). Set `main` to the entry point.");
    BINARY_NOT_PY_BINARY = ("PYO030", "binary-not-py-binary", Error,
        "An image's `binary` does not name a py_binary (in its own package or the one the label names).",
        "py_image runs a py_binary's runfiles; point `binary` at one.");
    MISSING_FILE = ("PYO031", "missing-file", Error,
        "A source or data file a label names (in this package or another) does not exist on disk.",
        "Bazel fails when the target is built. Add the file or fix the name.");
    UNKNOWN_TARGET = ("PYO032", "unknown-target", Error,
        "A label points at a target its package does not define, or at a package that does not exist.",
        "Bazel fails when the target is built. Fix the name or define the target.");
    IMAGE_TAG_COLLISION = ("PYO033", "image-tag-collision", Error,
        "Two image targets of the workspace would load the same tag (`localhost/<package>/<binary>:latest`, or `:<target name>` for a later image of the same binary, unless `repo_tags` is given).",
        "The second `bazel run :<image>_load` replaces the first image in the engine. Give one of them `repo_tags`.");
    ROOT_IMAGE = ("PYO040", "root-image", Warning,
        "A production image runs as root (a root base, or `user` set to root).",
        "Use `@distroless_python_nonroot` (uid 65532), or name/tag the target as a debugging one if it is.");
    DEBUG_BASE = ("PYO041", "debug-base", Warning,
        "A debug base (with a shell) is used by a target that does not say it is for debugging.",
        "Debug bases carry busybox; production images should not. Use a non-debug base, or put `debug` in the target's name or tags.");
    SECRET_IN_NAMED_VARIABLE = ("PYO050", "secret-literal", Error,
        "An env variable or label whose name says it is a secret has a literal value.",
        "Anyone who can pull the image can read it. Pass secrets at run time (mounted files or the orchestrator's secret store).");
    CREDENTIAL_SHAPED_VALUE = ("PYO051", "credential-value", Error,
        "An env or label value looks like a credential (private key, cloud access key, registry or VCS token, URL with a password).",
        "Anyone who can pull the image can read it. Remove it and rotate the credential.");
    INVALID_ENV_NAME = ("PYO060", "invalid-env-name", Error,
        "An environment variable name is not a valid variable name.",
        "Use letters, digits and `_`, not starting with a digit; shells and most runtimes cannot read other names.");
    UNKNOWN_OCI_LABEL = ("PYO061", "unknown-oci-label", Warning,
        "An `org.opencontainers.image.*` label key is not one the OCI image spec defines.",
        "Tools read only the spec's keys; a misspelt key is silently ignored.");
    INVALID_VERSION_LABEL = ("PYO062", "invalid-version-label", Warning,
        "The `org.opencontainers.image.version` label is not a version.",
        "Use a version such as `1.2.3` (or a stamped `{STABLE_VERSION}` placeholder).");
    INVALID_REFERENCE = ("PYO063", "invalid-reference", Error,
        "A repository or tag is not a valid OCI reference.",
        "Repositories are lower case `[host[:port]/]path` with no tag or digest inside; tags go in their own attribute.");
}

/// The code's metadata, by its identifier (`PYO020`).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    ALL.iter().copied().find(|info| info.code == code)
}
