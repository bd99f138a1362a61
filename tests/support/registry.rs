//! A real CNCF distribution registry (`docker-registry`, Debian) for tests: listens on
//! 127.0.0.1 on a free port, stores into a temporary directory, optionally with htpasswd
//! basic auth, and is killed when dropped (also when the test panics).
//!
//! Included by Rust integration tests with
//! `#[path = "../../../tests/support/registry.rs"] mod registry;`.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Default, Clone)]
pub struct RegistryOptions {
    /// Basic auth with this one user (htpasswd, bcrypt); with `token_auth`, the user the
    /// token service accepts.
    pub user: Option<(String, String)>,
    /// Bearer tokens instead of basic auth: the registry trusts a self-signed certificate
    /// and a token service in this process signs JWTs with its key (RS256, x5c header).
    pub token_auth: bool,
    /// Allow DELETE of manifests (`storage.delete.enabled`).
    pub delete: bool,
    /// Serve HTTPS with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// With `tls`, require client certificates signed by this CA.
    pub client_ca: Option<PathBuf>,
}

pub struct TestRegistry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    options: RegistryOptions,
    token_service: Option<TokenService>,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port on 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::start_with(RegistryOptions::default())
    }

    pub fn start_with(options: RegistryOptions) -> Self {
        let dir = tempfile::tempdir().expect("temporary registry directory");
        let token_service = options
            .token_auth
            .then(|| TokenService::start(dir.path(), options.user.clone()));
        let mut registry = TestRegistry {
            child: None,
            port: free_port(),
            dir,
            options,
            token_service,
        };
        registry.write_config();
        registry.launch();
        registry
    }

    /// `127.0.0.1:PORT`, the registry part of references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Everything the registry logged so far (access log included).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Completed blob uploads (the final PUT of an upload session) for `repository`.
    pub fn blob_uploads(&self, repository: &str) -> usize {
        let needle = format!("\"PUT /v2/{repository}/blobs/uploads/");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// The file holding a blob's bytes in the filesystem driver's layout.
    pub fn blob_data_path(&self, hex: &str) -> PathBuf {
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn write_config(&self) {
        let storage = self.storage();
        fs::create_dir_all(&storage).expect("storage directory");
        let mut auth = String::new();
        if let Some(service) = &self.token_service {
            auth = format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: {TOKEN_AUDIENCE}\n    \
                 issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                service.port,
                service.cert.display()
            );
        } else if let Some((user, password)) = &self.options.user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("running htpasswd (apache2-utils) for the test registry");
            assert!(out.status.success(), "htpasswd failed: {out:?}");
            let htpasswd = self.dir.path().join("htpasswd");
            fs::write(&htpasswd, &out.stdout).expect("writing htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: pyoci-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let mut tls = String::new();
        if let Some((cert, key)) = &self.options.tls {
            tls = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            if let Some(ca) = &self.options.client_ca {
                tls.push_str(&format!("    clientcas:\n      - {}\n", ca.display()));
            }
        }
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{}\n  secret: pyoci-test-secret\n{tls}\
             {auth}",
            storage.display(),
            self.options.delete,
            self.port
        );
        fs::write(self.dir.path().join("config.yml"), config).expect("writing registry config");
    }

    fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("registry log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting docker-registry (Debian package docker-registry) for the test");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("docker-registry exited with {status}:\n{}", self.log());
                }
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.write_all(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer on port {}:\n{}",
            self.port,
            self.log()
        );
    }

    /// Request targets the token service received (`/token?service=..&scope=..`).
    pub fn token_requests(&self) -> Vec<String> {
        self.token_service
            .as_ref()
            .map(|s| s.requests.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Kills the registry at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// A docker config directory holding `config.json` with `json` as its content.
    pub fn docker_config(dir: &Path, json: &str) -> PathBuf {
        fs::create_dir_all(dir).expect("docker config directory");
        fs::write(dir.join("config.json"), json).expect("writing config.json");
        dir.to_path_buf()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.kill();
        if let Some(service) = self.token_service.take() {
            service.stop();
        }
    }
}

const TOKEN_ISSUER: &str = "pyoci-test-issuer";
const TOKEN_AUDIENCE: &str = "pyoci-test-registry";

/// A minimal token service (the docker token protocol): `GET /token?service=..&scope=..`
/// with optional basic auth answers `{"token": JWT}` granting the asked scopes. Requests are
/// logged so tests can see which scopes were asked for.
pub struct TokenService {
    pub port: u16,
    cert: PathBuf,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenService {
    fn start(dir: &Path, user: Option<(String, String)>) -> Self {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let out = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=pyoci-test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl, to make the token service's certificate");
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .expect("openssl x509");
        assert!(der.status.success());
        let listener = TcpListener::bind("127.0.0.1:0").expect("token service port");
        let port = listener.local_addr().unwrap().port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let requests = requests.clone();
            let stop = stop.clone();
            let x5c = b64(&der.stdout, false);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve_token(stream, &key, &x5c, user.as_ref(), &requests);
                    }
                }
            })
        };
        TokenService {
            port,
            cert,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn b64(bytes: &[u8], url: bool) -> String {
    use base64::Engine as _;
    if url {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve_token(
    mut stream: TcpStream,
    key: &Path,
    x5c: &str,
    user: Option<&(String, String)>,
    requests: &std::sync::Mutex<Vec<String>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    requests.lock().unwrap().push(target.clone());
    let authorization = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Authorization: Basic ")
                .or_else(|| l.strip_prefix("authorization: Basic "))
        })
        .map(|v| v.trim().to_string());
    let respond = |stream: &mut TcpStream, status: &str, body: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    let subject = match (user, authorization) {
        (Some((name, password)), Some(given)) => {
            if given != b64(format!("{name}:{password}").as_bytes(), false) {
                respond(
                    &mut stream,
                    "401 Unauthorized",
                    r#"{"details":"bad credentials"}"#,
                );
                return;
            }
            name.clone()
        }
        (Some(_), None) => String::new(),
        (None, _) => String::new(),
    };
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k != "scope" {
            continue;
        }
        let scope = percent_decode(v);
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // Anonymous callers may only pull.
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| !subject.is_empty() || *a == "pull")
            .collect();
        access.push(format!(
            r#"{{"type":"{kind}","name":"{name}","actions":[{}]}}"#,
            granted
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = format!(r#"{{"typ":"JWT","alg":"RS256","x5c":["{x5c}"]}}"#);
    let claims = format!(
        r#"{{"iss":"{TOKEN_ISSUER}","sub":"{subject}","aud":"{TOKEN_AUDIENCE}","exp":{},"nbf":{},"iat":{},"jti":"{}-{}","access":[{}]}}"#,
        now + 600,
        now - 60,
        now - 60,
        now,
        requests.lock().unwrap().len(),
        access.join(",")
    );
    let signing_input = format!(
        "{}.{}",
        b64(header.as_bytes(), true),
        b64(claims.as_bytes(), true)
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl dgst");
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let signature = openssl.wait_with_output().unwrap().stdout;
    let token = format!("{signing_input}.{}", b64(&signature, true));
    respond(
        &mut stream,
        "200 OK",
        &format!(r#"{{"token":"{token}","expires_in":600}}"#),
    );
}
