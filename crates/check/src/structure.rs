//! Structure tests in the spirit of container-structure-test (same field
//! names, JSON only): file and metadata checks read the layers directly;
//! command tests run the image with podman in a private, throw-away store.
//!
//! Spec format (every section optional; unknown fields are errors):
//!
//! ```json
//! {
//!   "schemaVersion": "2.0.0",
//!   "globalEnvVars": [{"key": "PYTHONUNBUFFERED", "value": "1"}],
//!   "containerRunOptions": {"user": "65532"},
//!   "commandTests": [{
//!     "name": "python version",
//!     "command": "python3", "args": ["--version"],
//!     "envVars": [{"key": "LANG", "value": "C.UTF-8"}],
//!     "expectedOutput": ["Python 3\\.11"], "excludedOutput": ["rc"],
//!     "expectedError": [], "excludedError": ["Traceback"],
//!     "exitCode": 0
//!   }],
//!   "fileExistenceTests": [{
//!     "name": "app", "path": "/app/main.py", "shouldExist": true,
//!     "permissions": "-rw-r--r--", "uid": 0, "gid": 0, "isExecutableBy": "any"
//!   }],
//!   "fileContentTests": [{
//!     "name": "config", "path": "/app/config.yaml",
//!     "expectedContents": ["port: 8080"], "excludedContents": ["password"]
//!   }],
//!   "metadataTest": {
//!     "envVars": [{"key": "LOG_LEVEL", "value": "INFO"}, {"key": "PATH", "value": "/usr/.*", "isRegex": true}],
//!     "unboundEnvVars": [{"key": "DEBUG"}],
//!     "labels": [{"key": "org.opencontainers.image.version", "value": "1.0.0"}],
//!     "entrypoint": ["/usr/bin/python3", "/app/main.py"], "cmd": [],
//!     "exposedPorts": ["8080/tcp"], "unexposedPorts": ["22"],
//!     "volumes": ["/data"], "unmountedVolumes": ["/tmp"],
//!     "workdir": "/app", "user": "65532"
//!   }
//! }
//! ```
//!
//! Regexes use Rust `regex` syntax and match anywhere in the text (like Go's
//! `MatchString`). As in container-structure-test, a command test replaces
//! the image's entrypoint with `command` + `args`; `exitCode` defaults to 0.
//! `permissions` is either `ls -l` style (`-rwxr-xr-x`, `drwxr-xr-x`,
//! `lrwxrwxrwx`) or octal (`0755`). Paths are checked like `lstat` in the
//! container: symlinks in parent directories are followed, the last one is
//! not; file content tests follow it. Ports without a protocol mean `/tcp`.

pub mod podman;

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::imagefs::{normalize, ImageFs, Kind};
use pyoci_manifest::{Image, Layout};

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub schema_version: Option<String>,
    #[serde(default)]
    pub global_env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub container_run_options: Option<RunOptions>,
    #[serde(default)]
    pub command_tests: Vec<CommandTest>,
    #[serde(default)]
    pub file_existence_tests: Vec<FileExistenceTest>,
    #[serde(default)]
    pub file_content_tests: Vec<FileContentTest>,
    #[serde(default)]
    pub metadata_test: Option<MetadataTest>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunOptions {
    /// Passed to `podman run --user`.
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandTest {
    pub name: String,
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub expected_output: Vec<String>,
    #[serde(default)]
    pub excluded_output: Vec<String>,
    #[serde(default)]
    pub expected_error: Vec<String>,
    #[serde(default)]
    pub excluded_error: Vec<String>,
    #[serde(default)]
    pub exit_code: i32,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileExistenceTest {
    pub name: String,
    pub path: String,
    pub should_exist: bool,
    #[serde(default)]
    pub permissions: Option<String>,
    #[serde(default)]
    pub uid: Option<u64>,
    #[serde(default)]
    pub gid: Option<u64>,
    #[serde(default)]
    pub is_executable_by: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileContentTest {
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub expected_contents: Vec<String>,
    #[serde(default)]
    pub excluded_contents: Vec<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataTest {
    #[serde(default)]
    pub env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub unbound_env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub labels: Vec<EnvVar>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    #[serde(default)]
    pub unexposed_ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub unmounted_volumes: Vec<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

/// The outcome of one check: no failures means it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub kind: &'static str,
    pub name: String,
    pub failures: Vec<String>,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `PASS file existence: app` or `FAIL ...: expected ..., got ...`.
    pub fn line(&self) -> String {
        if self.passed() {
            format!("PASS {}: {}", self.kind, self.name)
        } else {
            format!(
                "FAIL {}: {}: {}",
                self.kind,
                self.name,
                self.failures.join("; ")
            )
        }
    }
}

impl Spec {
    pub fn load(path: &Path) -> Result<Spec> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let spec: Spec = serde_json::from_slice(&bytes).map_err(|source| Error::SpecJson {
            path: path.to_path_buf(),
            source,
        })?;
        spec.validate(path)?;
        Ok(spec)
    }

    /// Compiles every regex once, so a typo fails before anything runs.
    fn validate(&self, path: &Path) -> Result<()> {
        let spec_error = |reason: String| Error::Spec {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(version) = &self.schema_version {
            if !version.starts_with("2.") {
                return Err(spec_error(format!(
                    "schemaVersion {version:?} is not supported (use \"2.0.0\")"
                )));
            }
        }
        let check_regexes = |test: &str, patterns: &[String]| -> Result<()> {
            for pattern in patterns {
                Regex::new(pattern).map_err(|e| {
                    spec_error(format!("test {test:?}: regex {pattern:?} is invalid: {e}"))
                })?;
            }
            Ok(())
        };
        for t in &self.command_tests {
            for group in [
                &t.expected_output,
                &t.excluded_output,
                &t.expected_error,
                &t.excluded_error,
            ] {
                check_regexes(&t.name, group)?;
            }
        }
        for t in &self.file_content_tests {
            check_regexes(&t.name, &t.expected_contents)?;
            check_regexes(&t.name, &t.excluded_contents)?;
        }
        for t in &self.file_existence_tests {
            if let Some(p) = &t.permissions {
                parse_permissions(p).map_err(|reason| {
                    spec_error(format!("test {:?}: permissions {p:?}: {reason}", t.name))
                })?;
            }
            if let Some(who) = &t.is_executable_by {
                if executable_mask(who).is_none() {
                    return Err(spec_error(format!(
                        "test {:?}: isExecutableBy {who:?} must be owner, group, other or any",
                        t.name
                    )));
                }
            }
        }
        if let Some(m) = &self.metadata_test {
            for var in m.env_vars.iter().chain(&m.labels).filter(|v| v.is_regex) {
                check_regexes(
                    &format!("metadata {}", var.key),
                    std::slice::from_ref(&var.value),
                )?;
            }
        }
        Ok(())
    }

    /// Paths whose contents the file content tests read.
    fn content_paths(&self) -> BTreeSet<String> {
        self.file_content_tests
            .iter()
            .map(|t| normalize(&t.path))
            .collect()
    }
}

/// Reads the layers and runs the file and metadata checks.
pub fn run_static_checks(layout: &Layout, image: &Image, spec: &Spec) -> Result<Vec<CheckResult>> {
    let mut wanted = spec.content_paths();
    let mut fs = ImageFs::read(layout, image, &|p| wanted.contains(p), None)?;
    // Content tests may name a symlink; its target is only known now.
    let targets: BTreeSet<String> = spec
        .file_content_tests
        .iter()
        .filter_map(|t| fs.resolve(&t.path, true))
        .map(|(resolved, entry)| match (entry.kind, &entry.link_target) {
            (Kind::Hardlink, Some(target)) => target.clone(),
            _ => resolved,
        })
        .filter(|p| !wanted.contains(p))
        .collect();
    if !targets.is_empty() {
        wanted.extend(targets);
        fs = ImageFs::read(layout, image, &|p| wanted.contains(p), None)?;
    }
    let mut results = Vec::new();
    for test in &spec.file_existence_tests {
        results.push(file_existence(&fs, test));
    }
    for test in &spec.file_content_tests {
        results.push(file_content(&fs, test));
    }
    if let Some(metadata) = &spec.metadata_test {
        results.extend(metadata_checks(image, metadata));
    }
    Ok(results)
}

fn file_existence(fs: &ImageFs, test: &FileExistenceTest) -> CheckResult {
    let mut failures = Vec::new();
    match (fs.resolve(&test.path, false), test.should_exist) {
        (None, true) => failures.push(format!("expected {} to exist, it does not", test.path)),
        (Some((_, entry)), false) => failures.push(format!(
            "expected {} to be absent, found {} {}",
            test.path,
            ls_mode(entry.kind, entry.mode),
            describe_kind(entry.kind)
        )),
        (None, false) => {}
        (Some((_, entry)), true) => {
            if let Some(expected) = &test.permissions {
                let actual_ls = ls_mode(entry.kind, entry.mode);
                let matches = match parse_permissions(expected) {
                    Ok(Permissions::Ls(text)) => text == actual_ls,
                    Ok(Permissions::Octal(bits)) => bits == entry.mode & 0o7777,
                    Err(_) => false,
                };
                if !matches {
                    failures.push(format!(
                        "permissions: expected {expected}, got {actual_ls} ({:04o})",
                        entry.mode & 0o7777
                    ));
                }
            }
            if let Some(uid) = test.uid {
                if uid != entry.uid {
                    failures.push(format!("uid: expected {uid}, got {}", entry.uid));
                }
            }
            if let Some(gid) = test.gid {
                if gid != entry.gid {
                    failures.push(format!("gid: expected {gid}, got {}", entry.gid));
                }
            }
            if let Some(who) = &test.is_executable_by {
                let mask = executable_mask(who).unwrap_or(0o111);
                if entry.mode & mask == 0 {
                    failures.push(format!(
                        "expected executable by {who}, mode is {}",
                        ls_mode(entry.kind, entry.mode)
                    ));
                }
            }
        }
    }
    CheckResult {
        kind: "file existence",
        name: test.name.clone(),
        failures,
    }
}

fn file_content(fs: &ImageFs, test: &FileContentTest) -> CheckResult {
    let mut failures = Vec::new();
    match fs.resolve(&test.path, true) {
        None => failures.push(format!("{} does not exist", test.path)),
        Some((_, entry)) if !matches!(entry.kind, Kind::File | Kind::Hardlink) => {
            failures.push(format!(
                "{} is a {}, not a file",
                test.path,
                describe_kind(entry.kind)
            ))
        }
        Some(_) => match fs.read_file(&test.path) {
            None => failures.push(format!("{} could not be read from the layers", test.path)),
            Some(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                match_regexes(
                    &mut failures,
                    "contents",
                    &text,
                    &test.expected_contents,
                    &test.excluded_contents,
                );
            }
        },
    }
    CheckResult {
        kind: "file content",
        name: test.name.clone(),
        failures,
    }
}

/// Appends a failure for each expected regex that does not match and each
/// excluded regex that does.
pub(crate) fn match_regexes(
    failures: &mut Vec<String>,
    what: &str,
    text: &str,
    expected: &[String],
    excluded: &[String],
) {
    for pattern in expected {
        let matched = Regex::new(pattern)
            .map(|r| r.is_match(text))
            .unwrap_or(false);
        if !matched {
            failures.push(format!(
                "{what}: expected to match /{pattern}/, got {}",
                excerpt(text)
            ));
        }
    }
    for pattern in excluded {
        if let Some(found) = Regex::new(pattern).ok().and_then(|r| r.find(text)) {
            failures.push(format!(
                "{what}: expected not to match /{pattern}/, found {:?}",
                found.as_str()
            ));
        }
    }
}

/// Quoted, escaped and shortened, so a failure stays one readable line.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 300;
    let shortened: String = text.chars().take(LIMIT).collect();
    if text.chars().count() > LIMIT {
        format!("{shortened:?}... ({} bytes)", text.len())
    } else {
        format!("{shortened:?}")
    }
}

fn metadata_checks(image: &Image, test: &MetadataTest) -> Vec<CheckResult> {
    let config = image.config.config().clone().unwrap_or_default();
    let env: Vec<(String, String)> = config
        .env()
        .iter()
        .flatten()
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let labels = config.labels().clone().unwrap_or_default();
    let ports: Vec<String> = config.exposed_ports().iter().flatten().cloned().collect();
    let volumes: Vec<String> = config.volumes().iter().flatten().cloned().collect();
    let mut results = Vec::new();
    let mut push = |name: String, failures: Vec<String>| {
        results.push(CheckResult {
            kind: "metadata",
            name,
            failures,
        })
    };
    for var in &test.env_vars {
        let actual = env
            .iter()
            .find(|(k, _)| *k == var.key)
            .map(|(_, v)| v.as_str());
        push(
            format!("env {}", var.key),
            compare_value(&var.value, var.is_regex, actual),
        );
    }
    for var in &test.unbound_env_vars {
        let failures = match env.iter().find(|(k, _)| *k == var.key) {
            Some((_, v)) => vec![format!("expected unset, got {v:?}")],
            None => Vec::new(),
        };
        push(format!("env {} unset", var.key), failures);
    }
    for label in &test.labels {
        let actual = labels.get(&label.key).map(String::as_str);
        push(
            format!("label {}", label.key),
            compare_value(&label.value, label.is_regex, actual),
        );
    }
    if let Some(expected) = &test.entrypoint {
        let actual = config.entrypoint().clone().unwrap_or_default();
        push("entrypoint".into(), compare_list(expected, &actual));
    }
    if let Some(expected) = &test.cmd {
        let actual = config.cmd().clone().unwrap_or_default();
        push("cmd".into(), compare_list(expected, &actual));
    }
    let has_port = |p: &str| {
        let wanted = if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        };
        ports.contains(&wanted)
    };
    for port in &test.exposed_ports {
        let failures = if has_port(port) {
            Vec::new()
        } else {
            vec![format!("expected exposed, exposed ports are {ports:?}")]
        };
        push(format!("exposed port {port}"), failures);
    }
    for port in &test.unexposed_ports {
        let failures = if has_port(port) {
            vec![format!("expected not exposed, exposed ports are {ports:?}")]
        } else {
            Vec::new()
        };
        push(format!("unexposed port {port}"), failures);
    }
    for volume in &test.volumes {
        let failures = if volumes.contains(volume) {
            Vec::new()
        } else {
            vec![format!("expected a volume, volumes are {volumes:?}")]
        };
        push(format!("volume {volume}"), failures);
    }
    for volume in &test.unmounted_volumes {
        let failures = if volumes.contains(volume) {
            vec![format!("expected no volume, volumes are {volumes:?}")]
        } else {
            Vec::new()
        };
        push(format!("no volume {volume}"), failures);
    }
    if let Some(expected) = &test.workdir {
        let actual = config.working_dir().clone().unwrap_or_default();
        push(
            "workdir".into(),
            compare_value(expected, false, Some(&actual)),
        );
    }
    if let Some(expected) = &test.user {
        let actual = config.user().clone().unwrap_or_default();
        push("user".into(), compare_value(expected, false, Some(&actual)));
    }
    results
}

fn compare_value(expected: &str, is_regex: bool, actual: Option<&str>) -> Vec<String> {
    match actual {
        None => vec![format!("expected {expected:?}, not set")],
        Some(actual) => {
            let ok = if is_regex {
                Regex::new(expected)
                    .map(|r| r.is_match(actual))
                    .unwrap_or(false)
            } else {
                expected == actual
            };
            if ok {
                Vec::new()
            } else if is_regex {
                vec![format!("expected to match /{expected}/, got {actual:?}")]
            } else {
                vec![format!("expected {expected:?}, got {actual:?}")]
            }
        }
    }
}

fn compare_list(expected: &[String], actual: &[String]) -> Vec<String> {
    if expected == actual {
        Vec::new()
    } else {
        vec![format!("expected {expected:?}, got {actual:?}")]
    }
}

enum Permissions {
    Ls(String),
    Octal(u32),
}

fn parse_permissions(text: &str) -> std::result::Result<Permissions, String> {
    if text.len() == 10 && !text.chars().all(|c| c.is_ascii_digit()) {
        let valid = text.chars().enumerate().all(|(i, c)| match i {
            0 => "-dlcbps?".contains(c),
            _ => "rwxsStT-".contains(c),
        });
        return if valid {
            Ok(Permissions::Ls(text.to_string()))
        } else {
            Err("expected ls -l style like -rw-r--r-- or octal like 0644".into())
        };
    }
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|bits| *bits <= 0o7777 && !text.is_empty())
        .map(Permissions::Octal)
        .ok_or_else(|| "expected ls -l style like -rw-r--r-- or octal like 0644".into())
}

fn executable_mask(who: &str) -> Option<u32> {
    match who {
        "owner" => Some(0o100),
        "group" => Some(0o010),
        "other" => Some(0o001),
        "any" => Some(0o111),
        _ => None,
    }
}

fn describe_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::File | Kind::Hardlink => "file",
        Kind::Dir => "directory",
        Kind::Symlink => "symlink",
        Kind::Other => "special file",
    }
}

/// `ls -l` rendering of a mode, setuid/setgid/sticky included.
pub fn ls_mode(kind: Kind, mode: u32) -> String {
    let mut out = String::with_capacity(10);
    out.push(kind.ls_char());
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (class, (special_bit, with_x, without_x)) in special.iter().enumerate() {
        let shift = 6 - class * 3;
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        out.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        let x = bits & 0o1 != 0;
        out.push(match (mode & special_bit != 0, x) {
            (true, true) => *with_x,
            (true, false) => *without_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_modes() {
        assert_eq!(ls_mode(Kind::File, 0o644), "-rw-r--r--");
        assert_eq!(ls_mode(Kind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(ls_mode(Kind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(ls_mode(Kind::Symlink, 0o777), "lrwxrwxrwx");
    }

    #[test]
    fn permissions_syntax() {
        assert!(matches!(
            parse_permissions("0755"),
            Ok(Permissions::Octal(0o755))
        ));
        assert!(matches!(
            parse_permissions("-rw-r--r--"),
            Ok(Permissions::Ls(_))
        ));
        assert!(parse_permissions("rw-r--r--").is_err());
        assert!(parse_permissions("9999").is_err());
    }

    #[test]
    fn spec_rejects_unknown_fields() {
        let result: std::result::Result<Spec, _> = serde_json::from_str(
            r#"{"commandTests": [{"name": "x", "command": "y", "setup": [["z"]]}]}"#,
        );
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("unknown field `setup`"), "{message}");
    }

    #[test]
    fn regex_failures_show_expected_and_actual() {
        let mut failures = Vec::new();
        match_regexes(
            &mut failures,
            "stdout",
            "hello\n",
            &["^bye".into()],
            &["hel+".into()],
        );
        assert_eq!(failures.len(), 2);
        assert_eq!(
            failures[0],
            "stdout: expected to match /^bye/, got \"hello\\n\""
        );
        assert_eq!(
            failures[1],
            "stdout: expected not to match /hel+/, found \"hell\""
        );
    }
}
