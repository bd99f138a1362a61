//! The container-structure-test spec file, schema version 2.0.0, read the way CST 1.19 reads
//! it: the extension picks the syntax (`.json`, `.yaml`, `.yml`), and the syntax decides the
//! defaults. CST decodes YAML with hooks that make `shouldExist` default to true and leave
//! `uid`/`gid` unchecked, but decodes JSON with Go's plain decoder, where an absent
//! `shouldExist` is false and an absent `uid` or `gid` is 0 and therefore compared. We keep
//! both, so a spec gets the verdict CST gives it.

use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

impl Syntax {
    /// CST chooses by extension only; so do we, so one file never means two things.
    pub fn from_path(path: &Path) -> Option<Syntax> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Some(Syntax::Json),
            Some("yaml") | Some("yml") => Some(Syntax::Yaml),
            _ => None,
        }
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub schema_version: String,
    #[serde(default)]
    pub global_env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub container_run_options: RunOptions,
    #[serde(default)]
    pub command_tests: Vec<CommandTest>,
    #[serde(default)]
    pub file_existence_tests: Vec<FileExistenceTest>,
    #[serde(default)]
    pub file_content_tests: Vec<FileContentTest>,
    #[serde(default)]
    pub metadata_test: MetadataTest,
    #[serde(default)]
    pub license_tests: Vec<LicenseTest>,
    /// Which syntax the file was written in (decides the defaults above).
    #[serde(skip)]
    pub syntax: Option<Syntax>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RunOptions {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub allocate_tty: bool,
    /// Names of variables of the environment `pyoci test` runs in, passed on when set.
    #[serde(default)]
    pub env_vars: Vec<String>,
    /// A dotenv file (KEY=VALUE lines) whose non-empty values are passed in.
    #[serde(default)]
    pub env_file: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// `host:container[:options]`, as `docker run -v`.
    #[serde(default)]
    pub bind_mounts: Vec<String>,
}

impl RunOptions {
    /// CST applies the run options only when one of them is set (and then replaces the
    /// per-test environment, see `podman.rs`).
    pub fn is_set(&self) -> bool {
        !self.user.is_empty()
            || self.privileged
            || self.allocate_tty
            || !self.env_file.is_empty()
            || !self.env_vars.is_empty()
            || !self.capabilities.is_empty()
            || !self.bind_mounts.is_empty()
    }
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CommandTest {
    #[serde(default)]
    pub name: String,
    /// Commands run (and committed to a new image) before the test, in order.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// Accepted and not run, as CST's docker driver does: each test's container is discarded.
    #[serde(default)]
    pub teardown: Vec<Vec<String>>,
    #[serde(default)]
    pub env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub expected_output: Vec<String>,
    #[serde(default)]
    pub excluded_output: Vec<String>,
    #[serde(default)]
    pub expected_error: Vec<String>,
    #[serde(default)]
    pub excluded_error: Vec<String>,
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileExistenceTest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub path: String,
    /// Filled in from the syntax's default after parsing.
    #[serde(default)]
    pub should_exist: Option<bool>,
    #[serde(default)]
    pub permissions: String,
    /// -1 means "not checked", as in CST.
    #[serde(default)]
    pub uid: Option<i64>,
    #[serde(default)]
    pub gid: Option<i64>,
    #[serde(default)]
    pub is_executable_by: String,
}

impl FileExistenceTest {
    pub fn should_exist(&self) -> bool {
        self.should_exist.unwrap_or(true)
    }
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileContentTest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub expected_contents: Vec<String>,
    #[serde(default)]
    pub excluded_contents: Vec<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MetadataTest {
    #[serde(default)]
    pub env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub unbound_env_vars: Vec<EnvVar>,
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    #[serde(default)]
    pub unexposed_ports: Vec<String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub workdir: String,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub unmounted_volumes: Vec<String>,
    #[serde(default)]
    pub labels: Vec<EnvVar>,
    #[serde(default)]
    pub user: String,
}

impl MetadataTest {
    /// CST skips a metadata test with nothing in it.
    pub fn is_empty(&self) -> bool {
        self.env_vars.is_empty()
            && self.unbound_env_vars.is_empty()
            && self.exposed_ports.is_empty()
            && self.unexposed_ports.is_empty()
            && self.entrypoint.is_none()
            && self.cmd.is_none()
            && self.workdir.is_empty()
            && self.user.is_empty()
            && self.volumes.is_empty()
            && self.unmounted_volumes.is_empty()
            && self.labels.is_empty()
    }
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LicenseTest {
    /// Check every `/usr/share/doc/<package>/copyright`.
    #[serde(default)]
    pub debian: bool,
    #[serde(default)]
    pub files: Vec<String>,
}

impl Spec {
    /// Reads a spec. Unknown fields are errors (CST rejects them in YAML and silently ignores
    /// them in JSON, where a typo then passes unnoticed); `ignore_unknown_json_fields` gives
    /// CST's JSON behaviour.
    pub fn load(path: &Path, ignore_unknown_json_fields: bool) -> Result<Spec> {
        let spec_error = |reason: String| Error::Spec {
            path: path.to_path_buf(),
            reason,
        };
        let syntax = Syntax::from_path(path).ok_or_else(|| {
            spec_error(
                "the file name must end in .json, .yaml or .yml (container-structure-test \
                 picks the syntax by extension)"
                    .into(),
            )
        })?;
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut unknown = Vec::new();
        let parsed: std::result::Result<Spec, String> = match syntax {
            Syntax::Json => {
                let mut de = serde_json::Deserializer::from_slice(&bytes);
                serde_ignored::deserialize(&mut de, |p| unknown.push(p.to_string()))
                    .map_err(|e| e.to_string())
            }
            Syntax::Yaml => {
                let de = serde_yaml_ng::Deserializer::from_slice(&bytes);
                serde_ignored::deserialize(de, |p| unknown.push(p.to_string()))
                    .map_err(|e| e.to_string())
            }
        };
        let mut spec = parsed.map_err(|e| spec_error(format!("cannot parse: {e}")))?;
        if !unknown.is_empty() && !(syntax == Syntax::Json && ignore_unknown_json_fields) {
            return Err(spec_error(format!(
                "unknown field{} {} (field names follow container-structure-test's schema 2.0.0)",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", ")
            )));
        }
        spec.syntax = Some(syntax);
        for test in &mut spec.file_existence_tests {
            match syntax {
                Syntax::Json => {
                    test.should_exist.get_or_insert(false);
                    test.uid.get_or_insert(0);
                    test.gid.get_or_insert(0);
                }
                Syntax::Yaml => {
                    test.should_exist.get_or_insert(true);
                }
            }
            test.uid = test.uid.filter(|id| *id != -1);
            test.gid = test.gid.filter(|id| *id != -1);
        }
        spec.validate().map_err(spec_error)?;
        Ok(spec)
    }

    /// What CST refuses before running anything, plus every regex compiled once, so a typo
    /// fails before anything runs.
    fn validate(&self) -> std::result::Result<(), String> {
        match self.schema_version.as_str() {
            "2.0.0" => {}
            "" => return Err("schemaVersion is missing (use \"2.0.0\")".into()),
            other => {
                return Err(format!(
                    "schemaVersion {other:?} is not supported (use \"2.0.0\")"
                ))
            }
        }
        let check_regexes = |test: &str, patterns: &[String]| {
            for pattern in patterns {
                Regex::new(pattern)
                    .map_err(|e| format!("test {test:?}: regex {pattern:?} is invalid: {e}"))?;
            }
            Ok::<(), String>(())
        };
        for t in &self.command_tests {
            if t.name.is_empty() {
                return Err("a command test has no name".into());
            }
            if t.command.is_empty() {
                return Err(format!("command test {:?} has no command", t.name));
            }
            for (what, commands) in [("setup", &t.setup), ("teardown", &t.teardown)] {
                if commands.iter().any(|c| c.is_empty()) {
                    return Err(format!(
                        "command test {:?}: an empty {what} command",
                        t.name
                    ));
                }
            }
            if t.env_vars
                .iter()
                .any(|v| v.key.is_empty() || v.value.is_empty())
            {
                return Err(format!(
                    "command test {:?}: every envVars entry needs a non-empty key and value",
                    t.name
                ));
            }
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
            if t.name.is_empty() || t.path.is_empty() {
                return Err(format!(
                    "file content test {:?} needs a name and a path",
                    t.name
                ));
            }
            check_regexes(&t.name, &t.expected_contents)?;
            check_regexes(&t.name, &t.excluded_contents)?;
        }
        for t in &self.file_existence_tests {
            if t.name.is_empty() || t.path.is_empty() {
                return Err(format!(
                    "file existence test {:?} needs a name and a path",
                    t.name
                ));
            }
            if !t.permissions.is_empty() && super::Permissions::parse(&t.permissions).is_none() {
                return Err(format!(
                    "test {:?}: permissions {:?}: expected Go's rendering as \
                     container-structure-test prints it (-rw-r--r--, drwxr-xr-x, dtrwxrwxrwx, \
                     Lrwxrwxrwx, urwxr-xr-x), `ls -l` style (drwxrwxrwt) or octal (0644)",
                    t.name, t.permissions
                ));
            }
            if !matches!(
                t.is_executable_by.as_str(),
                "" | "owner" | "group" | "other" | "any"
            ) {
                return Err(format!(
                    "test {:?}: isExecutableBy {:?} must be owner, group, other or any",
                    t.name, t.is_executable_by
                ));
            }
        }
        let m = &self.metadata_test;
        if m.env_vars.iter().any(|v| v.key.is_empty()) || m.labels.iter().any(|v| v.key.is_empty())
        {
            return Err("metadataTest: an env var or label has an empty key".into());
        }
        if m.exposed_ports.iter().any(String::is_empty) || m.volumes.iter().any(String::is_empty) {
            return Err("metadataTest: an empty port or volume".into());
        }
        for var in m.env_vars.iter().chain(&m.labels).filter(|v| v.is_regex) {
            check_regexes(
                &format!("metadata {}", var.key),
                std::slice::from_ref(&var.value),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<Spec> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        Spec::load(&path, false)
    }

    #[test]
    fn json_and_yaml_defaults_differ_as_in_cst() {
        let json = load(
            "s.json",
            r#"{"schemaVersion": "2.0.0", "fileExistenceTests": [{"name": "a", "path": "/a", "uid": 5}]}"#,
        )
        .unwrap();
        let t = &json.file_existence_tests[0];
        assert_eq!((t.should_exist(), t.uid, t.gid), (false, Some(5), Some(0)));
        let yaml = load(
            "s.yaml",
            "schemaVersion: 2.0.0\nfileExistenceTests:\n- name: a\n  path: /a\n  uid: 5\n",
        )
        .unwrap();
        let t = &yaml.file_existence_tests[0];
        assert_eq!((t.should_exist(), t.uid, t.gid), (true, Some(5), None));
    }

    #[test]
    fn unknown_fields_are_named() {
        let err = load(
            "s.yaml",
            "schemaVersion: 2.0.0\ncommandTests:\n- name: a\n  command: b\n  exitcode: 1\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("commandTests.0.exitcode"), "{err}");
    }

    #[test]
    fn extension_picks_the_syntax() {
        assert!(load("s.txt", "{}").is_err());
        assert!(load("s.json", r#"{"schemaVersion": "2.0.0"}"#).is_ok());
        assert!(load("s.yml", "schemaVersion: 2.0.0").is_ok());
        assert!(load("s.yml", "schemaVersion: 1.0.0").is_err());
    }
}
