//! Image config changes (`--config-json` and flags), stamping, and `created`.
//!
//! Changes are applied to the config as JSON rather than through oci-spec's types: those drop
//! keys they do not model (Docker's `Healthcheck`, `ArgsEscaped`, `OnBuild`, ...), and a base
//! image's config must survive untouched apart from what we change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// What an image adds to or overrides in its base's config. Field names match the
/// `--config-json` file (camelCase).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ConfigChanges {
    /// Merged over the base's environment by key; new keys are appended in this order.
    #[serde(deserialize_with = "env_from_object")]
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// Replaces the base's entrypoint; as in a Dockerfile, this also clears the base's cmd
    /// unless `cmd` is given too.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `PORT[/tcp|udp|sctp]`, added to the base's.
    pub exposed_ports: Vec<String>,
    /// Absolute paths, added to the base's.
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Healthcheck>,
}

/// Docker's HEALTHCHECK, which OCI has no field for; Docker and podman read it from the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Healthcheck {
    /// `["CMD", exe, args...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Go-style durations such as `30s` or `1m30s`.
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub retries: Option<u32>,
}

fn env_from_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<(String, String)>, D::Error> {
    let map = BTreeMap::<String, String>::deserialize(deserializer)?;
    Ok(map.into_iter().collect())
}

impl ConfigChanges {
    /// Reads a `--config-json` file.
    pub fn from_json_file(path: &Path) -> Result<ConfigChanges> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            error: source,
        })
    }

    /// Layers `other` on top: its scalars win, its env/labels/annotations win by key, its
    /// ports and volumes are added.
    pub fn merge(&mut self, other: ConfigChanges) {
        for (key, value) in other.env {
            set_env(&mut self.env, key, value);
        }
        self.labels.extend(other.labels);
        self.annotations.extend(other.annotations);
        replace(&mut self.entrypoint, other.entrypoint);
        replace(&mut self.cmd, other.cmd);
        replace(&mut self.user, other.user);
        replace(&mut self.workdir, other.workdir);
        replace(&mut self.stop_signal, other.stop_signal);
        replace(&mut self.healthcheck, other.healthcheck);
        self.exposed_ports.extend(other.exposed_ports);
        self.volumes.extend(other.volumes);
    }

    /// Substitutes `{KEY}` in label and annotation values with stamp values.
    pub fn stamp(&mut self, stamp: &StampInfo) {
        for value in self.labels.values_mut().chain(self.annotations.values_mut()) {
            *value = stamp.substitute(value);
        }
    }

    /// Checks every value before anything is written.
    pub fn validate(&self) -> Result<()> {
        for (key, _) in &self.env {
            validate_env_key(key)?;
        }
        for port in &self.exposed_ports {
            normalize_port(port)?;
        }
        for volume in &self.volumes {
            if !volume.starts_with('/') {
                return Err(Error::invalid_argument("volume", volume, "must be an absolute path"));
            }
        }
        if let Some(workdir) = &self.workdir {
            if !workdir.starts_with('/') {
                return Err(Error::invalid_argument("workdir", workdir, "must be an absolute path"));
            }
        }
        if let Some(user) = &self.user {
            if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(Error::invalid_argument(
                    "user",
                    user,
                    "expected a user name or uid, optionally with :group or :gid",
                ));
            }
        }
        if let Some(signal) = &self.stop_signal {
            validate_signal(signal)?;
        }
        if let Some(healthcheck) = &self.healthcheck {
            healthcheck.to_docker_json()?;
        }
        Ok(())
    }

    /// Applies the changes to a config document (the whole config JSON, not just `config`).
    pub(crate) fn apply(&self, image_config: &mut Map<String, Value>) -> Result<()> {
        self.validate()?;
        let config = object_field(image_config, "config");

        if !self.env.is_empty() {
            let mut env = string_pairs(config.get("Env"));
            for (key, value) in &self.env {
                set_env(&mut env, key.clone(), value.clone());
            }
            config.insert(
                "Env".to_owned(),
                Value::Array(env.into_iter().map(|(k, v)| Value::String(format!("{k}={v}"))).collect()),
            );
        }
        if !self.labels.is_empty() {
            let labels = object_field(config, "Labels");
            for (key, value) in &self.labels {
                labels.insert(key.clone(), Value::String(value.clone()));
            }
        }
        if let Some(entrypoint) = &self.entrypoint {
            config.insert("Entrypoint".to_owned(), string_array(entrypoint));
            if self.cmd.is_none() {
                config.remove("Cmd");
            }
        }
        if let Some(cmd) = &self.cmd {
            config.insert("Cmd".to_owned(), string_array(cmd));
        }
        if let Some(user) = &self.user {
            config.insert("User".to_owned(), Value::String(user.clone()));
        }
        if let Some(workdir) = &self.workdir {
            config.insert("WorkingDir".to_owned(), Value::String(workdir.clone()));
        }
        if !self.exposed_ports.is_empty() {
            let ports = object_field(config, "ExposedPorts");
            for port in &self.exposed_ports {
                ports.insert(normalize_port(port)?, Value::Object(Map::new()));
            }
        }
        if !self.volumes.is_empty() {
            let volumes = object_field(config, "Volumes");
            for volume in &self.volumes {
                volumes.insert(volume.clone(), Value::Object(Map::new()));
            }
        }
        if let Some(signal) = &self.stop_signal {
            config.insert("StopSignal".to_owned(), Value::String(signal.clone()));
        }
        if let Some(healthcheck) = &self.healthcheck {
            config.insert("Healthcheck".to_owned(), healthcheck.to_docker_json()?);
        }
        Ok(())
    }
}

impl Healthcheck {
    /// The `Healthcheck` object as Docker stores it: durations in nanoseconds.
    fn to_docker_json(&self) -> Result<Value> {
        let test_text = || format!("{:?}", self.test);
        match self.test.first().map(String::as_str) {
            Some("NONE") if self.test.len() == 1 => {}
            Some("CMD") | Some("CMD-SHELL") if self.test.len() >= 2 => {}
            _ => {
                return Err(Error::invalid_argument(
                    "healthcheck test",
                    test_text(),
                    "expected [\"CMD\", exe, args...], [\"CMD-SHELL\", command] or [\"NONE\"]",
                ))
            }
        }
        let mut out = Map::new();
        out.insert("Test".to_owned(), string_array(&self.test));
        for (key, what, value) in [
            ("Interval", "healthcheck interval", &self.interval),
            ("Timeout", "healthcheck timeout", &self.timeout),
            ("StartPeriod", "healthcheck startPeriod", &self.start_period),
        ] {
            if let Some(text) = value {
                let duration = humantime::parse_duration(text)
                    .map_err(|e| Error::invalid_argument(what, text, e.to_string()))?;
                let nanos = u64::try_from(duration.as_nanos())
                    .map_err(|_| Error::invalid_argument(what, text, "too long"))?;
                out.insert(key.to_owned(), Value::from(nanos));
            }
        }
        if let Some(retries) = self.retries {
            out.insert("Retries".to_owned(), Value::from(retries));
        }
        Ok(Value::Object(out))
    }
}

/// Parses `KEY=VALUE` (the `--env`, `--label` and `--annotation` flag syntax).
pub fn parse_key_value(what: &'static str, text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(Error::invalid_argument(what, text, "expected KEY=VALUE")),
    }
}

fn validate_env_key(key: &str) -> Result<()> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        return Err(Error::invalid_argument(
            "env",
            key,
            "an environment variable name must be non-empty and contain no '=' or NUL",
        ));
    }
    Ok(())
}

fn normalize_port(port: &str) -> Result<String> {
    let (number, protocol) = port.split_once('/').unwrap_or((port, "tcp"));
    let valid_number = number.parse::<u16>().is_ok_and(|n| n > 0);
    if !valid_number || !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(Error::invalid_argument(
            "exposed port",
            port,
            "expected PORT or PORT/tcp, PORT/udp, PORT/sctp with PORT in 1..65535",
        ));
    }
    Ok(format!("{number}/{protocol}"))
}

fn validate_signal(signal: &str) -> Result<()> {
    let named = signal
        .strip_prefix("SIG")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-'));
    let numbered = signal.parse::<u8>().is_ok_and(|n| n > 0);
    if named || numbered {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "stop signal",
            signal,
            "expected a signal name such as SIGTERM or SIGRTMIN+3, or a number",
        ))
    }
}

fn replace<T>(mine: &mut Option<T>, theirs: Option<T>) {
    if theirs.is_some() {
        *mine = theirs;
    }
}

fn set_env(env: &mut Vec<(String, String)>, key: String, value: String) {
    match env.iter_mut().find(|(k, _)| *k == key) {
        Some(existing) => existing.1 = value,
        None => env.push((key, value)),
    }
}

fn string_pairs(value: Option<&Value>) -> Vec<(String, String)> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|item| match item.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (item.to_owned(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// The object under `key`, created (or replacing a null) if absent.
pub(crate) fn object_field<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = parent.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("slot was just made an object"),
    }
}

/// Values from Bazel's workspace status files (`stable-status.txt`, `volatile-status.txt`):
/// one `KEY value` per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampInfo {
    pub values: BTreeMap<String, String>,
}

impl StampInfo {
    pub fn from_files(paths: &[PathBuf]) -> Result<StampInfo> {
        let mut values = BTreeMap::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let (key, value) = line.split_once(' ').unwrap_or((line, ""));
                if key.is_empty() || key.contains('{') || key.contains('}') {
                    return Err(Error::InvalidStampInfo {
                        path: path.clone(),
                        line: index + 1,
                        reason: format!("expected \"KEY value\", found {line:?}"),
                    });
                }
                values.insert(key.to_owned(), value.to_owned());
            }
        }
        Ok(StampInfo { values })
    }

    /// Replaces each `{KEY}` naming a known key; other braces are left as they are.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}').and_then(|close| self.values.get(&after[..close]).map(|v| (close, v))) {
                Some((close, value)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// `BUILD_TIMESTAMP` (seconds since the epoch) as RFC 3339, if present.
    pub fn build_timestamp(&self) -> Result<Option<String>> {
        self.values
            .get("BUILD_TIMESTAMP")
            .map(|text| rfc3339_from_epoch("BUILD_TIMESTAMP", text))
            .transpose()
    }
}

/// The image's `created`: an explicit RFC 3339 time, else the stamp's BUILD_TIMESTAMP, else
/// $SOURCE_DATE_EPOCH, else the epoch, so unstamped builds are reproducible.
pub fn resolve_created(explicit: Option<&str>, stamp: Option<&StampInfo>) -> Result<String> {
    if let Some(text) = explicit {
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| Error::invalid_argument("created", text, format!("not an RFC 3339 time: {e}")))?;
        return Ok(text.to_owned());
    }
    if let Some(created) = stamp.map(StampInfo::build_timestamp).transpose()?.flatten() {
        return Ok(created);
    }
    rfc3339_from_epoch("SOURCE_DATE_EPOCH", &source_date_epoch()?.to_string())
}

/// $SOURCE_DATE_EPOCH, or 0 when unset: the time written into everything unstamped.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => text.trim().parse::<u64>().map_err(|_| {
            Error::invalid_argument("SOURCE_DATE_EPOCH", text.as_str(), "expected whole seconds since 1970-01-01")
        }),
        _ => Ok(0),
    }
}

fn rfc3339_from_epoch(what: &'static str, text: &str) -> Result<String> {
    let seconds: i64 = text
        .trim()
        .parse()
        .map_err(|_| Error::invalid_argument(what, text, "expected whole seconds since 1970-01-01"))?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .ok_or_else(|| Error::invalid_argument(what, text, "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_merges_by_key_in_place() {
        let mut config = serde_json::json!({"config": {"Env": ["PATH=/bin", "LANG=C"]}});
        let changes = ConfigChanges {
            env: vec![("LANG".into(), "C.UTF-8".into()), ("APP".into(), "x=y".into())],
            ..Default::default()
        };
        let map = config.as_object_mut().map(|m| changes.apply(m));
        assert!(matches!(map, Some(Ok(()))));
        assert_eq!(
            config["config"]["Env"],
            serde_json::json!(["PATH=/bin", "LANG=C.UTF-8", "APP=x=y"])
        );
    }

    #[test]
    fn entrypoint_clears_inherited_cmd() {
        let mut config = serde_json::json!({"config": {"Cmd": ["bash"]}});
        let changes = ConfigChanges {
            entrypoint: Some(vec!["/usr/bin/python3".into()]),
            ..Default::default()
        };
        assert!(config.as_object_mut().is_some_and(|m| changes.apply(m).is_ok()));
        assert!(config["config"].get("Cmd").is_none());
    }

    #[test]
    fn healthcheck_durations_in_nanoseconds() {
        let check = Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: Some("1m30s".into()),
            timeout: Some("5s".into()),
            start_period: None,
            retries: Some(3),
        };
        let json = check.to_docker_json().ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"Test": ["CMD", "true"], "Interval": 90_000_000_000u64,
                "Timeout": 5_000_000_000u64, "Retries": 3}))
        );
    }

    #[test]
    fn stamp_substitutes_known_keys_only() {
        let stamp = StampInfo {
            values: [("BUILD_SCM_REVISION".to_owned(), "abc123".to_owned())].into_iter().collect(),
        };
        assert_eq!(stamp.substitute("rev {BUILD_SCM_REVISION} {json} {"), "rev abc123 {json} {");
    }

    #[test]
    fn created_from_epoch() {
        assert_eq!(rfc3339_from_epoch("x", "0").ok().as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339_from_epoch("x", "1700000000").ok().as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
    }

    #[test]
    fn rejects_bad_ports_and_paths() {
        for changes in [
            ConfigChanges { exposed_ports: vec!["http".into()], ..Default::default() },
            ConfigChanges { exposed_ports: vec!["80/icmp".into()], ..Default::default() },
            ConfigChanges { volumes: vec!["data".into()], ..Default::default() },
            ConfigChanges { env: vec![("".into(), "x".into())], ..Default::default() },
            ConfigChanges { stop_signal: Some("TERM now".into()), ..Default::default() },
        ] {
            assert!(changes.validate().is_err(), "{changes:?}");
        }
    }
}
