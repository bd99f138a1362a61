//! Registry credentials the way the docker CLI stores them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`) with `auths`, `credHelpers` and `credsStore`, the
//! last two through the `docker-credential-<name> get` helper protocol.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::error::{Error, Result};
use crate::reference::DOCKER_HUB;

/// The key docker uses for Docker Hub in config files and helpers.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// A username/password pair, or an identity (refresh) token for a bearer token service.
#[derive(Clone)]
pub enum Secret {
    Basic { username: String, password: String },
    IdentityToken { token: String },
}

/// A secret and where it came from, so an authentication failure can say which to fix.
#[derive(Clone)]
pub struct Credential {
    pub secret: Secret,
    pub origin: String,
}

impl Credential {
    pub fn describe(&self) -> String {
        match &self.secret {
            Secret::Basic { username, .. } => format!("user {username:?} from {}", self.origin),
            Secret::IdentityToken { .. } => format!("identity token from {}", self.origin),
        }
    }
}

// Secrets must never reach logs through a derived Debug.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Default, serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct HelperReply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The docker CLI's credential configuration, read once.
#[derive(Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    file: ConfigFile,
    /// How long a credential helper may take; `None` means the default.
    helper_timeout: Option<Duration>,
}

/// A helper that has not answered by then is hung (a locked keychain, a prompt nobody sees).
const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(60);

impl DockerConfig {
    /// Reads `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    /// A missing file means anonymous access, not an error.
    pub fn load() -> Result<Self> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("HOME") {
                Some(home) => Path::new(&home).join(".docker"),
                None => return Ok(DockerConfig::default()),
            },
        };
        Self::from_path(&dir.join("config.json"))
    }

    pub fn from_path(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DockerConfig::default())
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let file: ConfigFile = serde_json::from_str(&text).map_err(|e| Error::DockerConfig {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(DockerConfig {
            path: Some(path.to_path_buf()),
            file,
            helper_timeout: None,
        })
    }

    /// Bounds every credential helper run.
    pub fn set_helper_timeout(&mut self, timeout: Duration) {
        self.helper_timeout = Some(timeout);
    }

    /// Credentials for `registry` (host[:port] as written in references), following docker's
    /// precedence: a per-registry helper, then the default store, then inline `auths`.
    pub fn credential_for(&self, registry: &str) -> Result<Option<Credential>> {
        let server = server_key(registry);
        if let Some(helper) = self
            .file
            .cred_helpers
            .iter()
            .find(|(key, _)| same_registry(key, registry))
            .map(|(_, helper)| helper)
        {
            return run_helper(helper, registry, &server, self.timeout());
        }
        if let Some(store) = self.file.creds_store.as_deref().filter(|s| !s.is_empty()) {
            if let Some(found) = run_helper(store, registry, &server, self.timeout())? {
                return Ok(Some(found));
            }
        }
        let Some(entry) = self
            .file
            .auths
            .iter()
            .find(|(key, _)| same_registry(key, registry))
            .map(|(_, entry)| entry)
        else {
            return Ok(None);
        };
        self.decode_entry(registry, entry)
    }

    fn timeout(&self) -> Duration {
        self.helper_timeout.unwrap_or(DEFAULT_HELPER_TIMEOUT)
    }

    fn origin(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => "docker config".to_string(),
        }
    }

    fn decode_entry(&self, registry: &str, entry: &AuthEntry) -> Result<Option<Credential>> {
        let origin = self.origin();
        let bad = |reason: String| Error::DockerConfig {
            path: self.path.clone().unwrap_or_default(),
            reason: format!("auths entry for {registry}: {reason}"),
        };
        if let Some(token) = entry.identity_token.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential {
                secret: Secret::IdentityToken {
                    token: token.to_string(),
                },
                origin,
            }));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| bad(format!("\"auth\" is not base64: {e}")))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| bad("\"auth\" does not decode to UTF-8".to_string()))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad("\"auth\" does not decode to USER:PASSWORD".to_string()))?;
            return Ok(Some(Credential {
                secret: Secret::Basic {
                    username: username.to_string(),
                    password: password.to_string(),
                },
                origin,
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(username), Some(password)) => Ok(Some(Credential {
                secret: Secret::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
                origin,
            })),
            _ => Ok(None),
        }
    }
}

/// What a config key or helper calls `registry`: Docker Hub has its historical URL.
fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB || registry == "index.docker.io" || registry == "registry-1.docker.io"
    {
        DOCKER_HUB_SERVER.to_string()
    } else {
        registry.to_string()
    }
}

/// Config keys may be written `host`, `https://host`, or `https://host/v1/`.
fn same_registry(key: &str, registry: &str) -> bool {
    let host_of = |s: &str| -> String {
        let s = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let host = s.split('/').next().unwrap_or(s);
        match host {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            other => other.to_string(),
        }
    };
    host_of(key) == host_of(registry)
}

fn run_helper(
    helper: &str,
    registry: &str,
    server: &str,
    timeout: Duration,
) -> Result<Option<Credential>> {
    let program = format!("docker-credential-{helper}");
    let fail = |reason: String| Error::CredentialHelper {
        helper: helper.to_string(),
        registry: registry.to_string(),
        reason,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program} (is it on PATH?): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is reported by its exit status.
        let _ = stdin.write_all(server.as_bytes());
    }
    // Pipes are drained on their own threads so a chatty helper cannot block on a full
    // pipe while we wait for it, and a hung one can be abandoned.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = (&mut pipe).take(1 << 20).read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "did not answer within {} s, so it was stopped (a locked keychain or \
                     a prompt waiting for input?)",
                    timeout.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(fail(format!("waiting for it: {e}"))),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let stdout = String::from_utf8_lossy(&stdout);
    if !status.success() {
        // The protocol reports "not found" on stdout with a non-zero exit.
        if stdout.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // Helpers have printed tokens in their errors; only a redacted first line is shown.
        let stderr = String::from_utf8_lossy(&stderr);
        let first_line = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(redact)
            .unwrap_or_else(|| "(no message)".to_string());
        return Err(fail(format!("exited with {status}: {first_line}")));
    }
    let reply: HelperReply = serde_json::from_str(&stdout)
        .map_err(|_| fail("answered with something other than credentials JSON".to_string()))?;
    let origin = program.clone();
    let secret = if reply.username == "<token>" {
        Secret::IdentityToken {
            token: reply.secret,
        }
    } else {
        Secret::Basic {
            username: reply.username,
            password: reply.secret,
        }
    };
    Ok(Some(Credential { secret, origin }))
}

/// One line of helper output fit for a CI log: at most 200 characters, and every word that
/// could be a secret (long, or mixing letters with digits or symbols) replaced, as are
/// values after `password`, `token`, `secret` or `key`.
fn redact(line: &str) -> String {
    let mut out = Vec::new();
    let mut hide_next = false;
    for word in line.split_whitespace().take(40) {
        let core = word.trim_matches(|c: char| "\"'`,;()[]{}<>".contains(c));
        let lower = core.to_ascii_lowercase();
        let letters = core.chars().filter(|c| c.is_ascii_alphabetic()).count();
        let others = core.chars().filter(|c| !c.is_ascii_alphabetic()).count();
        let token_shaped = core.len() >= 20 || (core.len() >= 8 && letters > 0 && others > 0);
        let (key, value) = match core.split_once(['=', ':']) {
            Some((k, v)) if !v.is_empty() => (k.to_ascii_lowercase(), true),
            _ => (lower.clone(), false),
        };
        let key = key.trim_end_matches(':');
        let names_secret = ["password", "passwd", "token", "secret", "key", "auth"]
            .iter()
            .any(|s| {
                key == *s
                    || key
                        .strip_suffix(s)
                        .is_some_and(|rest| rest.ends_with(['_', '-']))
            });
        if hide_next || token_shaped || (names_secret && value) {
            out.push("[redacted]".to_string());
        } else {
            out.push(word.to_string());
        }
        hide_next = names_secret && !value;
    }
    let line = out.join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let config = DockerConfig::from_path(&path).unwrap();
        (dir, config)
    }

    #[test]
    fn decodes_auths_with_url_keys() {
        let (_dir, c) =
            config(r#"{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"dXNlcjpwYTpzcw=="}}}"#);
        let cred = c.credential_for("127.0.0.1:5000").unwrap().unwrap();
        match cred.secret {
            Secret::Basic { username, password } => {
                assert_eq!(username, "user");
                assert_eq!(password, "pa:ss");
            }
            Secret::IdentityToken { .. } => panic!("expected basic"),
        }
        assert!(c.credential_for("127.0.0.1:5001").unwrap().is_none());
    }

    #[test]
    fn docker_hub_aliases() {
        let (_dir, c) =
            config(r#"{"auths":{"https://index.docker.io/v1/":{"identitytoken":"tok"}}}"#);
        assert!(matches!(
            c.credential_for("docker.io").unwrap().unwrap().secret,
            Secret::IdentityToken { .. }
        ));
    }

    #[test]
    fn bad_base64_names_the_file() {
        let (_dir, c) = config(r#"{"auths":{"r.io":{"auth":"%%%"}}}"#);
        let err = c.credential_for("r.io").unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("r.io"), "{err}");
    }

    #[test]
    fn redaction_hides_token_shaped_words_and_labelled_values() {
        assert_eq!(
            redact("error: token ghp_1234abcd5678efgh is invalid"),
            "error: token [redacted] is invalid"
        );
        assert_eq!(
            redact("login failed password=hunter2 for alice"),
            "login failed [redacted] for alice"
        );
        assert_eq!(
            redact("secret: s3cr3tvalue expired"),
            "secret: [redacted] expired"
        );
        assert_eq!(
            redact("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
            "[redacted]"
        );
        assert_eq!(redact("keychain is locked"), "keychain is locked");
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let (_dir, c) = config(r#"{"credHelpers":{"r.io":"pyoci-test-no-such-helper"}}"#);
        let err = c.credential_for("r.io").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-pyoci-test-no-such-helper"),
            "{err}"
        );
    }
}
