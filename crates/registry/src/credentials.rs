//! Registry credentials the way the docker CLI stores them: `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`) with `auths`, `credHelpers` and `credsStore`, the
//! last two through the `docker-credential-<name> get` helper protocol.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
}

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
        })
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
            return run_helper(helper, registry, &server);
        }
        if let Some(store) = self.file.creds_store.as_deref().filter(|s| !s.is_empty()) {
            if let Some(found) = run_helper(store, registry, &server)? {
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

fn run_helper(helper: &str, registry: &str, server: &str) -> Result<Option<Credential>> {
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
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(format!("writing the server URL to it: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for it: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // The protocol reports "not found" on stdout with a non-zero exit.
        let message = format!(
            "{} {}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        if message.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!(
            "exited with {}: {}",
            output.status,
            message.trim()
        )));
    }
    let reply: HelperReply = serde_json::from_str(&stdout).map_err(|e| {
        fail(format!(
            "answered with something other than credentials JSON: {e}"
        ))
    })?;
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
    fn missing_helper_is_a_clear_error() {
        let (_dir, c) = config(r#"{"credHelpers":{"r.io":"pyoci-test-no-such-helper"}}"#);
        let err = c.credential_for("r.io").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-pyoci-test-no-such-helper"),
            "{err}"
        );
    }
}
