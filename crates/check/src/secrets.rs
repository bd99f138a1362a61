//! Finding credentials in an image: env values, labels and layer files.
//!
//! Every entry of every layer is scanned, including files a later layer
//! deletes: the deleted file still ships inside its layer blob. Values are
//! never printed, only where they are and what they look like.

use std::sync::LazyLock;

use regex::Regex;

use crate::imagefs::{is_under, Kind, Observer, RawEntry};

/// Files bigger than this are not scanned by default (bundled data, wheels).
pub const DEFAULT_MAX_SCAN_SIZE: u64 = 1 << 20;
/// Bytes inspected for a NUL to decide a file is binary.
const BINARY_PROBE: usize = 8192;
/// Lines longer than this are minified code or data, not assignments.
const MAX_ASSIGNMENT_LINE: usize = 1000;
const MIN_FILE_SECRET_LEN: usize = 8;
const MIN_CONFIG_SECRET_LEN: usize = 4;

/// Debian's CA bundle: public certificates, large, and never secret.
const KNOWN_CERTIFICATE_DIRS: &[&str] = &["/etc/ssl/certs", "/usr/share/ca-certificates"];

/// Files whose very presence is a finding: they exist to hold credentials.
const CREDENTIAL_FILE_NAMES: &[&str] = &[".git-credentials", ".pgpass", ".netrc", ".pypirc"];
/// `.env.example` and friends document variables; they are not secrets.
const DOTENV_TEMPLATE_SUFFIXES: &[&str] = &[
    "example", "sample", "template", "dist", "defaults", "schema",
];
/// Formats where `key = value` needs no quotes around a literal value.
const CONFIG_EXTENSIONS: &[&str] = &[
    "env",
    "ini",
    "cfg",
    "conf",
    "properties",
    "yaml",
    "yml",
    "toml",
    "json",
];

struct TokenRule {
    what: &'static str,
    pattern: Regex,
}

fn rule(what: &'static str, pattern: &str) -> TokenRule {
    TokenRule {
        what,
        // The patterns are constants of this file, covered by its tests.
        pattern: Regex::new(pattern).expect("constant secret pattern compiles"),
    }
}

static TOKEN_RULES: LazyLock<Vec<TokenRule>> = LazyLock::new(|| {
    vec![
        rule("AWS access key id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
        rule(
            "AWS secret access key",
            r#"(?i)aws_secret_access_key["']?\s*[=:]\s*["']?[A-Za-z0-9/+=]{40}"#,
        ),
        rule("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
        rule(
            "GitHub fine-grained token",
            r"\bgithub_pat_[A-Za-z0-9_]{22,}",
        ),
        rule("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        rule("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        // Kinds Trivy's secret scanner reports too (tests/e2e/test_trivy.py checks the match).
        rule("Azure storage account key", r"(?i)\bAccountKey=[A-Za-z0-9+/]{86}=="),
        rule("GCP service account key", r#""type"\s*:\s*"service_account""#),
        rule("Stripe secret key", r"\b[sr]k_live_[A-Za-z0-9]{20,}"),
        rule("PyPI upload token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
        rule("SendGrid API key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
        rule("Hugging Face token", r"\bhf_[A-Za-z]{34}\b"),
        rule("Twilio API key", r"\bSK[0-9a-fA-F]{32}\b"),
    ]
});

/// A PEM private key block: the BEGIN line, optional headers (encrypted
/// keys), then base64, on real or `\n`-escaped lines. A bare BEGIN marker, as
/// parsers keep in constants, is not a key.
static PEM_PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[ \t]*(?:\r?\n|\\n)(?:[A-Za-z-]+: [^\n]*(?:\r?\n|\\n))*(?:\r?\n|\\n)?[A-Za-z0-9+/=]{16}",
    )
    .expect("constant PEM pattern compiles")
});

/// A name that says its value is a credential: it ends in one of these words.
static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:[A-Za-z0-9_.-]*[_.-])?(?:password|passwd|secret|secret[_-]?key|token|auth[_-]?token|access[_-]?token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)$",
    )
    .expect("constant secret-name pattern compiles")
});

/// `NAME = value`, `NAME: value`, `"name": "value",`, `export NAME=value`.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:export\s+)?(["']?)([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*(:=|=|:)\s*(.*?)\s*[,;]?\s*$"#)
        .expect("constant assignment pattern compiles")
});

/// One `key: value` or `key = value` pair inside a line: JSON objects on one line
/// (`{"password":"..."}`), YAML flow mappings (`{password: ...}`), TOML inline tables
/// (`db = { password = "..." }`). The key is quoted or starts after `{`, `,` or a space.
static INLINE_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:^|[{,\s])(["']?)([A-Za-z_][A-Za-z0-9_.-]*)["']?\s*(?::|=)\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^,}\]\s"']+)"#,
    )
    .expect("constant inline-pair pattern compiles")
});

/// Constant-style names (`SECRET_KEY`, `DB_PASSWORD`): in source code only
/// these count, since lower-case assignments are variables, parameters and
/// docstring examples far more often than hard-coded credentials.
static CONSTANT_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9_]*$").expect("constant name pattern compiles"));

/// Words that mark a value as a placeholder in docs, templates and tests.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "your_",
    "your-",
    "dummy",
    "xxxx",
    "****",
    "redacted",
    "fake",
    "sample",
    "<",
    "todo",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretLocation {
    Env {
        key: String,
    },
    Label {
        key: String,
    },
    File {
        layer: usize,
        layer_digest: String,
        path: String,
        line: Option<usize>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretFinding {
    pub location: SecretLocation,
    pub what: String,
}

pub struct SecretScanner {
    max_scan_size: u64,
    allowed_paths: Vec<String>,
    pub findings: Vec<SecretFinding>,
}

impl SecretScanner {
    pub fn new(max_scan_size: u64, allowed_paths: Vec<String>) -> Self {
        SecretScanner {
            max_scan_size,
            allowed_paths,
            findings: Vec::new(),
        }
    }

    fn skipped(&self, path: &str) -> bool {
        KNOWN_CERTIFICATE_DIRS.iter().any(|d| is_under(path, d))
            || self.allowed_paths.iter().any(|d| is_under(path, d))
    }

    /// Env entries of the image config (`KEY=VALUE`).
    pub fn scan_env(&mut self, env: &[String]) {
        for item in env {
            let (key, value) = item.split_once('=').unwrap_or((item.as_str(), ""));
            for what in classify_config_value(key, value) {
                self.findings.push(SecretFinding {
                    location: SecretLocation::Env {
                        key: key.to_string(),
                    },
                    what,
                });
            }
        }
    }

    pub fn scan_labels<'a>(&mut self, labels: impl IntoIterator<Item = (&'a String, &'a String)>) {
        for (key, value) in labels {
            for what in classify_config_value(key, value) {
                self.findings.push(SecretFinding {
                    location: SecretLocation::Label { key: key.clone() },
                    what,
                });
            }
        }
    }

    fn file_finding(&mut self, entry: &RawEntry, line: Option<usize>, what: String) {
        self.findings.push(SecretFinding {
            location: SecretLocation::File {
                layer: entry.layer,
                layer_digest: entry.layer_digest.to_string(),
                path: entry.path.to_string(),
                line,
            },
            what,
        });
    }
}

impl Observer for SecretScanner {
    fn wants_content(&mut self, entry: &RawEntry) -> bool {
        entry.kind == Kind::File && entry.size <= self.max_scan_size && !self.skipped(entry.path)
    }

    fn observe(&mut self, entry: &RawEntry, content: Option<&[u8]>) {
        if entry.kind != Kind::File || self.skipped(entry.path) {
            return;
        }
        let name = entry.path.rsplit('/').next().unwrap_or("");
        if let Some(what) = credential_file_kind(entry.path, name, entry.size) {
            self.file_finding(entry, None, what);
        }
        let Some(content) = content else { return };
        if content[..content.len().min(BINARY_PROBE)].contains(&0) {
            return;
        }
        let text = String::from_utf8_lossy(content);
        for key in PEM_PRIVATE_KEY.find_iter(&text) {
            let line = text[..key.start()].matches('\n').count() + 1;
            self.file_finding(entry, Some(line), "private key (PEM block)".into());
        }
        let config_syntax = is_config_file(name);
        for (number, line) in text.lines().enumerate() {
            for what in classify_line(line, config_syntax) {
                self.file_finding(entry, Some(number + 1), what);
            }
        }
    }

    fn recorded(
        &mut self,
        layer: usize,
        layer_digest: &str,
        findings: &crate::layer_findings::LayerFindings,
    ) {
        // The record was scanned with no allowed paths; `observe` skips an allowed
        // path's entry whole, so dropping its findings here gives the same list.
        for secret in &findings.secrets {
            if self.skipped(&secret.path) {
                continue;
            }
            self.findings.push(SecretFinding {
                location: SecretLocation::File {
                    layer,
                    layer_digest: layer_digest.to_string(),
                    path: secret.path.clone(),
                    line: secret.line,
                },
                what: secret.what.clone(),
            });
        }
    }
}

fn credential_file_kind(path: &str, name: &str, size: u64) -> Option<String> {
    if size == 0 {
        return None;
    }
    if name == ".env" {
        return Some(".env file".into());
    }
    if let Some(suffix) = name.strip_prefix(".env.") {
        if !DOTENV_TEMPLATE_SUFFIXES.contains(&suffix) {
            return Some(".env file".into());
        }
    }
    if CREDENTIAL_FILE_NAMES.contains(&name) {
        return Some(format!("{name} credentials file"));
    }
    if path.ends_with("/.aws/credentials") {
        return Some("AWS credentials file".into());
    }
    None
}

fn is_config_file(name: &str) -> bool {
    name.starts_with(".env")
        || name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| CONFIG_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

fn token_matches(text: &str) -> Vec<String> {
    TOKEN_RULES
        .iter()
        .filter(|r| {
            r.pattern
                .find_iter(text)
                .any(|m| !is_placeholder(m.as_str()))
        })
        .map(|r| r.what.to_string())
        .collect()
}

/// Token shapes anywhere in the line, then a credential-named assignment of a
/// literal. Config files (`config_syntax`) allow any name case, `key: value`
/// and unquoted values; source code needs a constant-style name, `=` (or `:`
/// after a quoted key) and a quoted literal, so annotations (`key: "Type"`)
/// and `password = os.environ[...]` do not count.
fn classify_line(line: &str, config_syntax: bool) -> Vec<String> {
    let mut found = token_matches(line);
    if found.is_empty() && line.len() <= MAX_ASSIGNMENT_LINE {
        if let Some(caps) = ASSIGNMENT.captures(line) {
            let quoted_name = !caps[1].is_empty();
            let name = &caps[2];
            let operator = &caps[3];
            let raw_value = &caps[4];
            let shape_ok =
                config_syntax || (CONSTANT_NAME.is_match(name) && (operator != ":" || quoted_name));
            if shape_ok && SECRET_NAME.is_match(name) {
                let literal = match unquote(raw_value) {
                    Some(inner) => Some(inner),
                    None if config_syntax => Some(raw_value),
                    None => None,
                };
                if literal.is_some_and(|v| is_literal_secret(name, v, MIN_FILE_SECRET_LEN)) {
                    found.push(format!("literal value assigned to {name}"));
                }
            }
        }
    }
    if found.is_empty() && (config_syntax || is_one_line_json(line)) {
        found.extend(inline_pair_findings(line));
    }
    found
}

/// A whole JSON object on one line, in a file of any name (a `credentials` blob).
fn is_one_line_json(line: &str) -> bool {
    let line = line.trim();
    line.starts_with('{') && line.ends_with('}') && line.contains("\":")
}

/// Credential-named keys given literal values anywhere in the line, each name once.
fn inline_pair_findings(line: &str) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for caps in INLINE_PAIR.captures_iter(line) {
        let (Some(name), Some(raw_value)) = (caps.get(2), caps.get(3)) else {
            continue;
        };
        let name = name.as_str();
        if !SECRET_NAME.is_match(name) || names.contains(&name) {
            continue;
        }
        let raw_value = raw_value.as_str();
        let literal = unquote(raw_value).unwrap_or(raw_value);
        if is_literal_secret(name, literal, MIN_FILE_SECRET_LEN) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| format!("literal value assigned to {name}"))
        .collect()
}

fn classify_config_value(key: &str, value: &str) -> Vec<String> {
    let mut found = token_matches(value);
    if PEM_PRIVATE_KEY.is_match(value) {
        found.push("private key (PEM block)".into());
    }
    if found.is_empty()
        && SECRET_NAME.is_match(key)
        && is_literal_secret(key, value, MIN_CONFIG_SECRET_LEN)
    {
        found.push("literal credential value".into());
    }
    found
}

fn unquote(value: &str) -> Option<&str> {
    let first = value.chars().next()?;
    if (first == '"' || first == '\'') && value.len() >= 2 && value.ends_with(first) {
        Some(&value[1..value.len() - 1])
    } else {
        None
    }
}

fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
}

/// A media type (`application/x-www-form-urlencoded`, `application/vnd.x.auth-token+json`):
/// what `CONTENT_TYPE_TOKEN`-style constants of HTTP clients hold, never a credential.
static MEDIA_TYPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:application|text|image|audio|video|multipart|message|font|model)/[a-z0-9][a-z0-9!#$&^_.+-]*(?:;[a-z0-9_-]+=[a-z0-9_.-]+)*$",
    )
    .expect("constant media-type pattern compiles")
});

/// A lower-case dotted attribute or metric name (`gen_ai.usage.input_tokens`): what
/// telemetry constants named `*_TOKEN(S)` hold. Words, not random characters: at most two
/// digits ending each segment.
static DOTTED_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z][a-z_]*[0-9]{0,2}(?:\.[a-z][a-z_]*[0-9]{0,2})+$")
        .expect("constant dotted-name pattern compiles")
});

/// Values that describe rather than authenticate. Dotted names count only under a `token`
/// name: a password may well be words joined by dots, a random token never is.
fn is_descriptive_value(name: &str, value: &str) -> bool {
    MEDIA_TYPE.is_match(value)
        || (name.to_ascii_lowercase().ends_with("token") && DOTTED_NAME.is_match(value))
}

fn is_literal_secret(name: &str, value: &str, min_len: usize) -> bool {
    let value = value.trim();
    if is_descriptive_value(name, value) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    value.chars().count() >= min_len
        && !value.chars().any(char::is_whitespace)
        && !value.starts_with(['$', '{', '<', '%', '!', '(', '[', '@', '/', '.'])
        && !matches!(
            lower.as_str(),
            "true" | "false" | "null" | "none" | "password" | "secret"
        )
        && !is_placeholder(value)
        && value
            .chars()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks() {
        let key = "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAxyz0123456789\n";
        assert!(PEM_PRIVATE_KEY.is_match(key));
        let escaped = r#"KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA""#;
        assert!(PEM_PRIVATE_KEY.is_match(escaped));
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB\n\nMIIEowIBAAKCAQEAxyz0123\n";
        assert!(PEM_PRIVATE_KEY.is_match(encrypted));
        assert!(!PEM_PRIVATE_KEY.is_match(r#"_SK_START = b"-----BEGIN OPENSSH PRIVATE KEY-----""#));
        assert!(!PEM_PRIVATE_KEY.is_match("-----BEGIN CERTIFICATE-----\nMIIEowIBAAKCAQEAxyz0123\n"));
    }

    #[test]
    fn tokens() {
        assert_eq!(
            token_matches("key=AKIAZ7QWERTYUIOPASDF"),
            ["AWS access key id"]
        );
        assert!(token_matches("AKIAIOSFODNN7EXAMPLE").is_empty());
        assert_eq!(
            token_matches("ghp_0123456789abcdefghijABCDEFGHIJ012345"),
            ["GitHub token"]
        );
        assert_eq!(
            token_matches("glpat-abcdefghij0123456789"),
            ["GitLab token"]
        );
        assert_eq!(token_matches("xoxb-1234567890-abcdef"), ["Slack token"]);
        assert!(token_matches("xoxb-xxxx-xxxxxxxx").is_empty());
    }

    #[test]
    fn media_types_and_metric_names_under_token_names_are_not_secrets() {
        // Shapes of HTTP-client and telemetry constants (pydantic_extra_types, sentry_sdk).
        for line in [
            "CONTENT_TYPE_TOKEN = \"application/x-www-form-urlencoded\"",
            "HEADER_CONTENT_TYPE_TOKEN = \"application/x-www-form-urlencoded;charset=UTF-8\"",
            "VIDEOSTORE_AUTH_TOKEN = \"application/vnd.dsa.videostore.auth-token+json\"",
            "STATUS_LIST_TOKEN = 'application/statuslist+jwt'",
            "GEN_AI_USAGE_TOKEN = \"gen_ai.usage.input_tokens\"",
            "AI_COMPLETION_TOKEN = \"ai.completion_tokens.used\"",
        ] {
            assert!(classify_line(line, false).is_empty(), "{line}");
        }
        assert!(classify_config_value("UPLOAD_TOKEN", "text/plain").is_empty());
        // Real tokens and passwords keep being found.
        for line in [
            "API_TOKEN = \"a8f5f167f44f4964e6c998dee827110c\"",
            "SESSION_TOKEN = \"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\"",
            "AUTH_TOKEN = \"v2.local.k9x0q7w3z8r2\"",
            "DB_PASSWORD = \"correct.horse.battery\"",
            "ACCESS_TOKEN = \"application-secret-4f9a8b7c\"",
        ] {
            assert_eq!(classify_line(line, false).len(), 1, "{line}");
        }
    }

    #[test]
    fn assignments() {
        assert_eq!(classify_line("DB_PASSWORD=hunter2hunter2", true).len(), 1);
        assert_eq!(classify_line("DB_PASSWORD=hunter2hunter2", false).len(), 0);
        assert_eq!(
            classify_line("SECRET_KEY = 'k3y-v4lue-abcdef'", false).len(),
            1
        );
        assert_eq!(
            classify_line("  \"API_KEY\": \"abcdef123456\",", false).len(),
            1
        );
        assert_eq!(
            classify_line("  \"api_key\": \"abcdef123456\",", true).len(),
            1
        );
        assert!(classify_line("  \"api_key\": \"abcdef123456\",", false).is_empty());
        assert!(classify_line("    private_key: \"_RSAPrivateKey\",", false).is_empty());
        assert!(classify_line(
            "    AttributeOID.CHALLENGE_PASSWORD: \"challengePassword\",",
            false
        )
        .is_empty());
        assert!(classify_line("            oauth_token=\"ad180jjd733klru7\",", false).is_empty());
        assert_eq!(classify_line("db_password: hunter2hunter2", true).len(), 1);
        assert!(classify_line("password = os.environ['PASSWORD']", false).is_empty());
        assert!(classify_line("password: ${DB_PASSWORD}", true).is_empty());
        assert!(classify_line("TOKEN_URL = 'https://example.com/token'", false).is_empty());
        assert!(classify_line("token = 'changeme-please'", false).is_empty());
        assert!(classify_line("password_hash = 'abcdefghijk'", false).is_empty());
    }

    #[test]
    fn one_line_json_yaml_and_toml() {
        for line in [
            r#"{"password":"hunter2hunter2"}"#,
            r#"{"DB_PASSWORD":"hunter2hunter2","user":"app"}"#,
            r#"{"user": "app", "api_token": "tok-4f9a8b7c6d5e"}"#,
            r#"{"db": {"host": "x", "password": "hunter2hunter2"}}"#,
            "{user: app, password: hunter2hunter2}",
            r#"db = { host = "x", password = "hunter2hunter2" }"#,
        ] {
            assert_eq!(classify_line(line, true).len(), 1, "{line}");
        }
        // A one-line JSON document counts in a file of any name; a Python dict does not.
        assert_eq!(classify_line(r#"{"password":"hunter2hunter2"}"#, false).len(), 1);
        assert!(classify_line(r#"    opts = {"password": "hunter2hunter2"}"#, false).is_empty());
        for clean in [
            r#"{"password":"","token":null,"secret":"${SECRET}"}"#,
            r#"{"password_hash":"abcdefghijkl","tokens":["a","b"]}"#,
            r#"{"api_key":"<your key here>","passwd":"changeme-now"}"#,
            r#"{"type":"password","label":"Password"}"#,
        ] {
            assert!(classify_line(clean, true).is_empty(), "{clean}");
        }
    }

    #[test]
    fn config_values() {
        assert_eq!(classify_config_value("API_TOKEN", "s3cr3t-value").len(), 1);
        assert!(classify_config_value("API_TOKEN", "").is_empty());
        assert!(classify_config_value("PASSWORD_FILE", "/run/secrets/db").is_empty());
        assert!(
            classify_config_value("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D").is_empty()
        );
        assert_eq!(
            classify_config_value(
                "org.example.note",
                "ghp_0123456789abcdefghijABCDEFGHIJ012345"
            ),
            ["GitHub token"]
        );
    }

    #[test]
    fn credential_files() {
        assert!(credential_file_kind("/app/.env", ".env", 10).is_some());
        assert!(credential_file_kind("/app/.env.production", ".env.production", 10).is_some());
        assert!(credential_file_kind("/app/.env.example", ".env.example", 10).is_none());
        assert!(credential_file_kind("/app/.env", ".env", 0).is_none());
        assert!(credential_file_kind("/home/u/.aws/credentials", "credentials", 5).is_some());
    }
}
