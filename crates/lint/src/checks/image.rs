//! Container checks on what the BUILD file asks an image to be: its base and user, secrets in
//! env and labels, variable names, OCI label keys and versions, and registry references.

use std::sync::OnceLock;

use regex::Regex;

use super::{BuildContext, IMAGE_KINDS};
use crate::attr_value::AttrValue;
use crate::codes;
use crate::diagnostic::Finding;
use crate::record::Invocation;
use crate::suggest;

const OCI_PREFIX: &str = "org.opencontainers.image.";

/// The annotation keys the OCI image spec pre-defines.
const OCI_KEYS: &[&str] = &[
    "created",
    "authors",
    "url",
    "documentation",
    "source",
    "version",
    "revision",
    "vendor",
    "licenses",
    "ref.name",
    "title",
    "description",
    "base.digest",
    "base.name",
];

pub(super) fn check(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    findings: &mut Vec<Finding>,
) {
    if !invocation.direct {
        return;
    }
    let kind = invocation.kind.as_str();
    if IMAGE_KINDS.contains(&kind) || kind == "oci_image" {
        check_base_and_user(context, invocation, findings);
        check_env(context, invocation, findings);
        for attr in ["labels", "annotations"] {
            check_labels(context, invocation, attr, findings);
        }
    }
    if kind == "oci_push" {
        if let Some(AttrValue::Str(repository)) = invocation.attr("repository") {
            if let Some(problem) = repository_problem(repository) {
                findings.push(Finding::new(
                    context.value_span(invocation, "repository"),
                    codes::INVALID_REFERENCE,
                    format!("repository {repository:?} of `{kind}` {problem}"),
                ));
            }
        }
        check_tags(context, invocation, "remote_tags", false, findings);
    }
    if kind == "oci_load" || IMAGE_KINDS.contains(&kind) {
        check_tags(context, invocation, "repo_tags", true, findings);
    }
}

fn target_name(invocation: &Invocation) -> &str {
    invocation.name().unwrap_or(&invocation.kind)
}

fn strings(value: Option<&AttrValue>) -> Vec<&str> {
    value.map(|v| v.label_strings()).unwrap_or_default()
}

fn check_base_and_user(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    findings: &mut Vec<Finding>,
) {
    let name = target_name(invocation);
    let tags = strings(invocation.attr("tags"));
    let for_debugging = name.to_lowercase().contains("debug")
        || tags.iter().any(|t| t.to_lowercase().contains("debug"));
    let testonly = matches!(
        invocation.attr("testonly"),
        Some(AttrValue::Bool(true) | AttrValue::Int(1))
    );
    let production = !for_debugging && !testonly;

    let user = invocation
        .attr("user")
        .and_then(AttrValue::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let runs_as_root = user.map(|u| {
        let id = u.split(':').next().unwrap_or(u);
        id == "0" || id == "root"
    });
    if production && runs_as_root == Some(true) {
        findings.push(Finding::new(
            context.value_span(invocation, "user"),
            codes::ROOT_IMAGE,
            format!("`{name}` runs as root (user = {:?}); production images should run as a non-root user such as 65532", user.unwrap_or_default()),
        ));
    }

    let Some(AttrValue::Str(base)) = invocation.attr("base") else {
        return;
    };
    let lower = base.to_lowercase();
    let debug_base = lower.contains("debug");
    let nonroot_base = ["nonroot", "non_root", "non-root", "rootless"]
        .iter()
        .any(|marker| lower.contains(marker));
    let span = context.value_span(invocation, "base");
    if debug_base && !for_debugging {
        findings.push(Finding::new(
            span,
            codes::DEBUG_BASE,
            format!("`{name}` uses the debug base `{base}`, which has a shell; use it only in targets named or tagged `debug`"),
        ));
    }
    if production && runs_as_root.is_none() && lower.contains("distroless") && !nonroot_base {
        findings.push(Finding::new(
            span,
            codes::ROOT_IMAGE,
            format!("`{name}` runs as root: `{base}` is a root base; use `@distroless_python_nonroot` for production images"),
        ));
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_env(context: &BuildContext<'_>, invocation: &Invocation, findings: &mut Vec<Finding>) {
    let Some(env) = invocation.attr("env") else {
        return;
    };
    for (key, value) in env.dict_entries() {
        let (key_span, value_span) = context.entry_spans(invocation, "env", key);
        if !valid_env_name(key) {
            findings.push(Finding::new(
                key_span,
                codes::INVALID_ENV_NAME,
                format!("env name {key:?} is not a valid variable name (letters, digits and `_`, not starting with a digit)"),
            ));
        }
        check_secret(key, value, "env", value_span, findings);
    }
}

fn check_labels(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    attr: &str,
    findings: &mut Vec<Finding>,
) {
    let Some(labels) = invocation.attr(attr) else {
        return;
    };
    let what = if attr == "labels" {
        "label"
    } else {
        "annotation"
    };
    for (key, value) in labels.dict_entries() {
        let (key_span, value_span) = context.entry_spans(invocation, attr, key);
        if let Some(problem) = oci_key_problem(key) {
            findings.push(Finding::new(
                key_span,
                codes::UNKNOWN_OCI_LABEL,
                format!("{what} key {key:?} {problem}"),
            ));
        }
        if key == "org.opencontainers.image.version" {
            if let AttrValue::Str(version) = value {
                if !is_version(version) {
                    findings.push(Finding::new(
                        value_span,
                        codes::INVALID_VERSION_LABEL,
                        format!("{what} {key:?} is {version:?}, which is not a version (e.g. \"1.2.3\", or \"{{STABLE_VERSION}}\" with stamping)"),
                    ));
                }
            }
        }
        check_secret(key, value, what, value_span, findings);
    }
}

fn oci_key_problem(key: &str) -> Option<String> {
    let full_keys = || OCI_KEYS.iter().map(|k| format!("{OCI_PREFIX}{k}"));
    if let Some(suffix) = key.strip_prefix(OCI_PREFIX) {
        if OCI_KEYS.contains(&suffix) {
            return None;
        }
        let hint = suggest::closest(suffix, OCI_KEYS.iter().copied())
            .map(|k| format!(" (did you mean `{OCI_PREFIX}{k}`?)"))
            .unwrap_or_default();
        return Some(format!("is not a key the OCI image spec defines{hint}"));
    }
    if !key.starts_with("org.") {
        return None;
    }
    let keys: Vec<String> = full_keys().collect();
    suggest::closest(key, keys.iter().map(String::as_str))
        .map(|k| format!("is not an OCI key (did you mean `{k}`?)"))
}

fn is_version(version: &str) -> bool {
    static VERSION: OnceLock<Option<Regex>> = OnceLock::new();
    let re = VERSION
        .get_or_init(|| Regex::new(r"^v?[0-9]+(\.[0-9]+){0,3}([-+~][0-9A-Za-z.+~_-]+)?$").ok());
    // `{KEY}` is replaced from the workspace status when stamping.
    version.contains('{') || re.as_ref().is_some_and(|re| re.is_match(version))
}

fn words(name: &str) -> Vec<String> {
    name.to_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Names that say their value is a secret (`DB_PASSWORD`, `API_KEY`, `GITHUB_TOKEN`), but not
/// names that point at one (`DB_PASSWORD_FILE`) or describe one (`TOKEN_TTL`).
fn is_secret_name(name: &str) -> bool {
    let words = words(name);
    let Some(last) = words.last() else {
        return false;
    };
    const DESCRIBES: &[&str] = &[
        "FILE", "FILES", "PATH", "DIR", "NAME", "ID", "URL", "LENGTH", "TTL", "TIMEOUT", "TYPE",
        "HEADER", "ENDPOINT", "ENABLED", "DISABLED", "MODE", "BACKEND", "PROVIDER", "STORE",
        "MANAGER", "KIND", "VERSION", "SECONDS", "EXPIRY", "REF", "ARN", "REGION", "SIZE",
    ];
    if DESCRIBES.contains(&last.as_str()) {
        return false;
    }
    let secret_word = words.iter().any(|w| {
        w.contains("PASSWORD")
            || w.contains("PASSWD")
            || w.contains("PASSPHRASE")
            || w.contains("SECRET")
            || w.contains("APIKEY")
            || matches!(
                w.as_str(),
                "TOKEN" | "TOKENS" | "CREDENTIAL" | "CREDENTIALS" | "PRIVATEKEY"
            )
    });
    let secret_pair = words.windows(2).any(|pair| {
        matches!(
            (pair[0].as_str(), pair[1].as_str()),
            (
                "API" | "ACCESS" | "PRIVATE" | "SECRET" | "AUTH" | "SIGNING" | "ENCRYPTION",
                "KEY"
            )
        )
    });
    secret_word || secret_pair
}

/// Values that refer to a secret instead of being one.
fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    value.is_empty()
        || value.starts_with('$')
        || (value.starts_with('{') && value.ends_with('}'))
        || value.starts_with("/run/secrets")
        || value.starts_with("/var/run/secrets")
        || value.starts_with("file://")
        || matches!(
            value.to_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off"
        )
}

fn credential_patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            (
                r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",
                "a private key",
            ),
            (
                r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
                "an AWS access key",
            ),
            (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", "a GitHub token"),
            (r"\bgithub_pat_[A-Za-z0-9_]{40,}", "a GitHub token"),
            (r"\bglpat-[A-Za-z0-9_\-]{20,}", "a GitLab token"),
            (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", "a Slack token"),
            (r"\bAIza[0-9A-Za-z_\-]{35}", "a Google API key"),
            (
                r"\bdckr_pat_[A-Za-z0-9_\-]{20,}",
                "a Docker Hub access token",
            ),
            (r"\bnpm_[A-Za-z0-9]{36}\b", "an npm token"),
            (r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{20,}", "a PyPI token"),
            (r"\b[sr]k_live_[0-9A-Za-z]{16,}", "a Stripe key"),
            (
                r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
                "a JSON Web Token",
            ),
            (
                r"AccountKey=[A-Za-z0-9+/]{40,}={0,2}",
                "an Azure storage key",
            ),
            (
                r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]+:[^/\s@$\{]+@",
                "a URL with a password",
            ),
        ]
        .into_iter()
        .filter_map(|(pattern, what)| Regex::new(pattern).ok().map(|re| (re, what)))
        .collect()
    })
}

fn check_secret(
    key: &str,
    value: &AttrValue,
    what: &str,
    span: (u32, u32),
    findings: &mut Vec<Finding>,
) {
    let AttrValue::Str(text) = value else { return };
    if let Some((_, kind)) = credential_patterns()
        .iter()
        .find(|(re, _)| re.is_match(text))
    {
        findings.push(Finding::new(
            span,
            codes::CREDENTIAL_SHAPED_VALUE,
            format!(
                "{what} {key:?} holds what looks like {kind}; images must not carry credentials"
            ),
        ));
        return;
    }
    if is_secret_name(key) && !is_placeholder(text) {
        findings.push(Finding::new(
            span,
            codes::SECRET_IN_NAMED_VARIABLE,
            format!(
                "{what} {key:?} has a literal value; pass secrets at run time, not in the image"
            ),
        ));
    }
}

fn path_component_ok(component: &str) -> bool {
    static COMPONENT: OnceLock<Option<Regex>> = OnceLock::new();
    COMPONENT
        .get_or_init(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(component))
}

/// Why `repository` is not a valid `[host[:port]/]path` repository, if it is not.
pub(super) fn repository_problem(repository: &str) -> Option<String> {
    if repository.contains('{') || repository.contains('$') {
        return None;
    }
    if repository.is_empty() {
        return Some("is empty".to_owned());
    }
    if repository.contains("://") {
        return Some("must not include a scheme (`https://`)".to_owned());
    }
    if let Some((_, digest)) = repository.split_once('@') {
        return Some(format!("must not contain a digest (`@{digest}`)"));
    }
    if repository.len() > 255 {
        return Some("is longer than 255 characters".to_owned());
    }
    let mut components: Vec<&str> = repository.split('/').collect();
    let first = components[0];
    let has_domain = components.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if has_domain {
        components.remove(0);
        if let Some((_, port)) = first.split_once(':') {
            if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
                return Some(format!("has an invalid port in `{first}`"));
            }
        }
    }
    if components.iter().any(|c| c.is_empty()) {
        return Some("has an empty path component (a leading, trailing or doubled `/`)".to_owned());
    }
    if let Some(tagged) = components.iter().find(|c| c.contains(':')) {
        let tag = tagged.split_once(':').map_or("", |(_, tag)| tag);
        return Some(format!(
            "contains a tag (`:{tag}`); give tags separately, not in the repository"
        ));
    }
    if components
        .iter()
        .any(|c| c.chars().any(|ch| ch.is_ascii_uppercase()))
    {
        return Some(format!(
            "must be lower case (use {:?})",
            repository.to_lowercase()
        ));
    }
    if let Some(bad) = components.iter().find(|c| !path_component_ok(c)) {
        return Some(format!("has an invalid path component `{bad}` (lower case letters and digits, separated by `.`, `_`, `__` or `-`)"));
    }
    None
}

fn tag_ok(tag: &str) -> bool {
    static TAG: OnceLock<Option<Regex>> = OnceLock::new();
    TAG.get_or_init(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(tag))
}

/// `remote_tags` (bare tags) or `repo_tags` (`repository:tag`).
fn check_tags(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    attr: &str,
    with_repository: bool,
    findings: &mut Vec<Finding>,
) {
    let Some(AttrValue::List(items)) = invocation.attr(attr) else {
        return;
    };
    let kind = &invocation.kind;
    for (index, item) in items.iter().enumerate() {
        let Some(text) = item.as_str() else { continue };
        if text.contains('{') || text.contains('$') {
            continue;
        }
        let problem = if with_repository {
            let last_slash = text.rfind('/').map_or(0, |i| i + 1);
            match text[last_slash..].rfind(':') {
                Some(colon) => {
                    let (repository, tag) = text.split_at(last_slash + colon);
                    repository_problem(repository)
                        .map(|p| format!("repository {repository:?} {p}"))
                        .or_else(|| {
                            (!tag_ok(&tag[1..]))
                                .then(|| format!("tag {:?} is not a valid tag", &tag[1..]))
                        })
                }
                None => repository_problem(text).map(|p| format!("repository {text:?} {p}")),
            }
        } else {
            (!tag_ok(text)).then(|| {
                "is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128)".to_owned()
            })
        };
        if let Some(problem) = problem {
            findings.push(Finding::new(
                context.element_span(invocation, attr, index),
                codes::INVALID_REFERENCE,
                format!("`{attr}` entry {text:?} of `{kind}`: {problem}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        assert_eq!(repository_problem("localhost/my_service"), None);
        assert_eq!(repository_problem("ghcr.io/org/app"), None);
        assert_eq!(repository_problem("localhost:5000/a/b-c"), None);
        assert!(repository_problem("ghcr.io/Org/app")
            .unwrap()
            .contains("lower case"));
        assert!(repository_problem("ghcr.io/org/app:1.0")
            .unwrap()
            .contains("tag"));
        assert!(repository_problem("ghcr.io/")
            .unwrap()
            .contains("empty path"));
        assert!(repository_problem("").unwrap().contains("empty"));
        assert!(repository_problem("https://ghcr.io/x")
            .unwrap()
            .contains("scheme"));
        assert!(repository_problem("app@sha256:abc")
            .unwrap()
            .contains("digest"));
    }

    #[test]
    fn secret_names() {
        for name in [
            "DB_PASSWORD",
            "API_KEY",
            "GITHUB_TOKEN",
            "client_secret",
            "AWS_SECRET_ACCESS_KEY",
            "apikey",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "LOG_LEVEL",
            "DB_PASSWORD_FILE",
            "TOKENIZERS_PARALLELISM",
            "TOKEN_TTL",
            "PWD",
            "SECRET_NAME",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn versions() {
        for v in [
            "1.0.0",
            "v2",
            "1.2.3-rc.1",
            "2024.01.15",
            "{STABLE_VERSION}",
            "1.0.0+build.5",
        ] {
            assert!(is_version(v), "{v}");
        }
        for v in ["latest", "", "one", "1.x"] {
            assert!(!is_version(v), "{v}");
        }
    }
}
