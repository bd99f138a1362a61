//! A hostile registry, written here so each attack is exact: registry-supplied URLs that try
//! to pull credentials to another origin or over plain HTTP, and bodies that never end, lie
//! about their length or trickle. A second listener records everything it is sent, so the
//! tests assert that no credential reaches it. Everything listens on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest as _;

const USER: &str = "alice";
const PASSWORD: &str = "pw-never-leaves-home";
const TOKEN: &str = "tok-only-for-the-registry";

#[derive(Clone, Debug)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Anything that looks like a credential of ours in the head of the request.
    fn carries_credentials(&self) -> bool {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        self.header("Authorization").is_some()
            || self.target.contains(PASSWORD)
            || self.target.contains(TOKEN)
            || self
                .headers
                .iter()
                .any(|(_, v)| v.contains(&basic) || v.contains(TOKEN) || v.contains(PASSWORD))
    }
}

enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Declares `length` bytes but sends `body` and then zeros until the client hangs up.
    LyingLength { length: u64, body: Vec<u8> },
    /// Chunked, never ends.
    Endless,
    /// One byte per second of `body`.
    Trickle { body: Vec<u8> },
    /// Headers, then silence.
    Hang,
}

fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 that records every request and answers with `handler`.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    /// Bytes written in bodies, to show a download stopped early.
    sent: Arc<Mutex<u64>>,
    connections: Arc<Mutex<usize>>,
}

impl Server {
    fn start(handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(0));
        let connections = Arc::new(Mutex::new(0));
        let (r, s, c) = (requests.clone(), sent.clone(), connections.clone());
        // Test threads end with the test process; each connection is served on its own.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                *c.lock().unwrap() += 1;
                let (handler, r, s) = (handler.clone(), r.clone(), s.clone());
                std::thread::spawn(move || serve(stream, &*handler, &r, &s));
            }
        });
        Server {
            port,
            requests,
            sent,
            connections,
        }
    }

    fn recorder() -> Server {
        Server::start(Arc::new(|_: &Request| reply(404, &[], "")))
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn sent(&self) -> u64 {
        *self.sent.lock().unwrap()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>, sent: &Mutex<u64>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return;
        };
        let mut request = Request {
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                request
                    .headers
                    .push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let length: u64 = request
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if (&mut reader)
            .take(length)
            .read_to_end(&mut request.body)
            .is_err()
        {
            return;
        }
        log.lock().unwrap().push(request.clone());
        let count = |n: usize| *sent.lock().unwrap() += n as u64;
        match handler(&request) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                if request.method != "HEAD" {
                    if writer.write_all(&body).is_err() {
                        return;
                    }
                    count(body.len());
                }
            }
            Reply::LyingLength { length, body } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
                if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
                    return;
                }
                count(body.len());
                let zeros = vec![0u8; 64 * 1024];
                while writer.write_all(&zeros).is_ok() {
                    count(zeros.len());
                }
                return;
            }
            Reply::Endless => {
                let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                loop {
                    let framed =
                        [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                    if writer.write_all(&framed).is_err() {
                        return;
                    }
                    count(chunk.len());
                }
            }
            Reply::Hang => {
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 115\r\n\r\n");
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Reply::Trickle { body } => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for byte in body {
                    if writer.write_all(&[byte]).is_err() || writer.flush().is_err() {
                        return;
                    }
                    count(1);
                    std::thread::sleep(Duration::from_secs(1));
                }
                return;
            }
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A one-layer image: manifest bytes, and blobs by digest.
struct Image {
    manifest: Vec<u8>,
    digest: String,
    config: (String, Vec<u8>),
    layer: (String, Vec<u8>),
}

/// `declared_layer_size` lets a manifest lie about its layer's size.
fn image(declared_layer_size: Option<u64>) -> Image {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    // 115 bytes, the size of the layer in the report this test reproduces.
    let layer = vec![7u8; 115];
    let (config_digest, layer_digest) = (sha256(&config), sha256(&layer));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": declared_layer_size.unwrap_or(layer.len() as u64)}],
    })
    .to_string()
    .into_bytes();
    Image {
        digest: sha256(&manifest),
        manifest,
        config: (config_digest, config),
        layer: (layer_digest, layer),
    }
}

/// The plain parts of a registry: manifests and blobs of `image`, uploads accepted.
/// `auth` is the challenge `GET /v2/` answers with when the request carries no credentials.
fn registry_routes(request: &Request, image: &Image) -> Reply {
    let path = request.target.split('?').next().unwrap_or("");
    let manifest_type = [
        ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
        ("Docker-Content-Digest", image.digest.as_str()),
    ];
    if path.contains("/manifests/") {
        return match request.method.as_str() {
            "PUT" => reply(201, &[], ""),
            _ => reply(200, &manifest_type, image.manifest.clone()),
        };
    }
    if let Some(digest) = path
        .split("/blobs/")
        .nth(1)
        .filter(|d| d.starts_with("sha256:"))
    {
        let body = if digest == image.config.0 {
            image.config.1.clone()
        } else if digest == image.layer.0 {
            image.layer.1.clone()
        } else {
            return reply(404, &[], "");
        };
        return reply(200, &[], body);
    }
    if path.ends_with("/blobs/uploads/") && request.method == "POST" {
        return reply(202, &[("Location", "/upload/session-1")], "");
    }
    if path.starts_with("/upload/") {
        return reply(201, &[], "");
    }
    reply(404, &[], "")
}

fn pyoci(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyoci"));
    command
        .env("DOCKER_CONFIG", home.join("docker"))
        .env_remove("HOME")
        .env("TMPDIR", home)
        .stdin(Stdio::null());
    command
}

/// A docker config with basic credentials for `registry`.
fn credentials(home: &Path, registry: &str) {
    let dir = home.join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"auths": {registry: {"username": USER, "password": PASSWORD}}})
            .to_string(),
    )
    .unwrap();
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn failed(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure; stderr:\n{}",
        stderr(output)
    );
    stderr(output)
}

fn is_basic(request: &Request) -> bool {
    request
        .header("Authorization")
        .is_some_and(|v| v.starts_with("Basic "))
}

/// Proof that "0.0.0.0" reaches a listener on 127.0.0.1 on this machine (Linux routes it to the
/// local host), so a client that did follow a URL naming it would hand the recorder whatever
/// it sent: the address is not spelled as loopback, so it must get the non-loopback policy.
fn assert_zero_address_reaches(recorder: &Server) {
    let before = *recorder.connections.lock().unwrap();
    let mut stream =
        TcpStream::connect(("0.0.0.0", recorder.port)).expect("0.0.0.0 reaches 127.0.0.1");
    let _ = stream.write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 12];
    let _ = stream.read(&mut buf);
    assert_eq!(*recorder.connections.lock().unwrap(), before + 1);
    recorder.requests.lock().unwrap().clear();
}

#[test]
fn realm_over_plain_http_off_loopback_gets_no_password() {
    let home = tempfile::tempdir().unwrap();
    let recorder = Server::recorder();
    assert_zero_address_reaches(&recorder);
    let img = Arc::new(image(None));
    let realm = format!("http://0.0.0.0:{}/token", recorder.port);
    let registry = {
        let img = img.clone();
        Server::start(Arc::new(move |r: &Request| {
            if r.header("Authorization").is_none() {
                return reply(
                    401,
                    &[(
                        "WWW-Authenticate",
                        &format!("Bearer realm=\"{realm}\",service=\"r\""),
                    )],
                    "",
                );
            }
            registry_routes(r, &img)
        }))
    };
    credentials(home.path(), &registry.host());
    let output = pyoci(home.path())
        .args([
            "pull",
            &format!("{}/app@{}", registry.host(), img.digest),
            "-o",
        ])
        .arg(home.path().join("out"))
        .output()
        .unwrap();
    let message = failed(&output);
    assert!(
        message.contains("refusing plain HTTP") && message.contains("0.0.0.0"),
        "{message}"
    );
    assert!(
        recorder.requests().is_empty(),
        "the realm was contacted: {:?}",
        recorder.requests()
    );
    assert!(!home.path().join("out").exists());
}

#[test]
fn upload_location_on_another_origin_gets_no_token() {
    let home = tempfile::tempdir().unwrap();
    let recorder = Server::start(Arc::new(|r: &Request| {
        if r.method == "PUT" {
            reply(201, &[], "")
        } else {
            reply(202, &[("Location", "/x")], "")
        }
    }));
    let elsewhere = format!("http://{}/upload/stolen", recorder.host());
    let registry = Server::start(Arc::new(move |r: &Request| {
        let path = r.target.split('?').next().unwrap_or("");
        if path == "/token" {
            return if is_basic(r) {
                reply(200, &[], format!("{{\"token\":\"{TOKEN}\"}}"))
            } else {
                reply(401, &[], "")
            };
        }
        if r.header("Authorization") != Some(&format!("Bearer {TOKEN}")) {
            let realm = format!(
                "Bearer realm=\"http://{}/token\",service=\"r\"",
                r.header("Host").unwrap_or("")
            );
            return reply(401, &[("WWW-Authenticate", &realm)], "");
        }
        match (r.method.as_str(), path) {
            ("HEAD", p) if p.contains("/blobs/") => reply(404, &[], ""),
            ("POST", p) if p.ends_with("/blobs/uploads/") => {
                reply(202, &[("Location", &elsewhere)], "")
            }
            ("PUT", p) if p.contains("/manifests/") => reply(201, &[], ""),
            ("HEAD", p) if p.contains("/manifests/") => reply(404, &[], ""),
            _ => reply(404, &[], ""),
        }
    }));
    credentials(home.path(), &registry.host());
    let layout = oci_layout(home.path());
    let output = pyoci(home.path())
        .arg("push")
        .arg(&layout)
        .arg(format!("{}/app:v1", registry.host()))
        .output()
        .unwrap();
    let uploads = recorder.requests();
    assert!(
        !uploads.is_empty(),
        "the upload never reached the other origin: {}",
        stderr(&output)
    );
    for request in &uploads {
        assert!(
            !request.carries_credentials(),
            "credentials sent to another origin: {request:?}"
        );
    }
    // The registry itself did get the token, so the scoping is what kept it home.
    assert!(registry
        .requests()
        .iter()
        .any(|r| r.header("Authorization") == Some(&format!("Bearer {TOKEN}"))));
}

#[test]
fn redirect_to_another_origin_drops_authorization_and_still_pulls() {
    let home = tempfile::tempdir().unwrap();
    let img = Arc::new(image(None));
    let cdn = {
        let img = img.clone();
        Server::start(Arc::new(move |r: &Request| {
            let digest = r
                .target
                .trim_start_matches("/cdn/")
                .split('?')
                .next()
                .unwrap_or("")
                .to_string();
            if digest == img.layer.0 {
                reply(200, &[], img.layer.1.clone())
            } else if digest == img.config.0 {
                reply(200, &[], img.config.1.clone())
            } else {
                reply(404, &[], "")
            }
        }))
    };
    let cdn_host = cdn.host();
    let registry = {
        let img = img.clone();
        Server::start(Arc::new(move |r: &Request| {
            if !is_basic(r) {
                return reply(401, &[("WWW-Authenticate", "Basic realm=\"r\"")], "");
            }
            if let Some(digest) = r.target.split("/blobs/").nth(1) {
                return reply(
                    307,
                    &[("Location", &format!("http://{cdn_host}/cdn/{digest}?sig=1"))],
                    "",
                );
            }
            registry_routes(r, &img)
        }))
    };
    credentials(home.path(), &registry.host());
    let out = home.path().join("out");
    let output = pyoci(home.path())
        .args([
            "pull",
            &format!("{}/app@{}", registry.host(), img.digest),
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(out.join("blobs/sha256").join(&img.layer.0[7..]).exists());
    let fetched = cdn.requests();
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    for request in &fetched {
        assert!(
            !request.carries_credentials(),
            "credentials followed the redirect: {request:?}"
        );
    }
}

#[test]
fn redirect_to_plain_http_off_loopback_is_refused() {
    let home = tempfile::tempdir().unwrap();
    let recorder = Server::recorder();
    assert_zero_address_reaches(&recorder);
    let img = Arc::new(image(None));
    let target = format!("http://0.0.0.0:{}/cdn", recorder.port);
    let registry = {
        let img = img.clone();
        Server::start(Arc::new(move |r: &Request| {
            if r.target.contains("/blobs/") {
                return reply(302, &[("Location", &target)], "");
            }
            registry_routes(r, &img)
        }))
    };
    let out = home.path().join("out");
    let output = pyoci(home.path())
        .args([
            "pull",
            &format!("{}/app@{}", registry.host(), img.digest),
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let message = failed(&output);
    assert!(message.contains("refusing plain HTTP"), "{message}");
    assert!(recorder.requests().is_empty(), "{:?}", recorder.requests());
    assert!(!out.exists());
}

/// A minimal OCI layout holding `image(None)`, written by hand (push only reads it).
fn oci_layout(dir: &Path) -> PathBuf {
    let img = image(None);
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for (digest, bytes) in [
        (&img.digest, &img.manifest),
        (&img.config.0, &img.config.1),
        (&img.layer.0, &img.layer.1),
    ] {
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
    }
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": img.digest, "size": img.manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    layout
}

/// A registry serving `image`, except that the layer is answered by `layer`.
fn registry_with_layer(img: Arc<Image>, layer: fn(&Image) -> Reply) -> Server {
    Server::start(Arc::new(move |r: &Request| {
        if r.method == "GET" && r.target.ends_with(&format!("/blobs/{}", img.layer.0)) {
            return layer(&img);
        }
        registry_routes(r, &img)
    }))
}

fn layer_requests(server: &Server, img: &Image) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.target.ends_with(&img.layer.0))
        .count()
}

/// Pulls `image` by digest with `extra` flags; returns (stderr, seconds taken), and checks
/// the pull failed and left nothing at the output.
fn failing_pull(registry: &Server, img: &Image, extra: &[&str]) -> (String, f64) {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let started = Instant::now();
    let output = pyoci(home.path())
        .args([
            "pull",
            &format!("{}/app@{}", registry.host(), img.digest),
            "-o",
        ])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let message = failed(&output);
    assert!(!out.exists(), "a failed pull left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "docker")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    (message, elapsed)
}

#[test]
fn layer_announcing_ten_terabytes_is_refused_at_once() {
    let img = Arc::new(image(None));
    let registry = registry_with_layer(img.clone(), |img| Reply::LyingLength {
        length: 10_000_000_000_000,
        body: img.layer.1.clone(),
    });
    let (message, elapsed) = failing_pull(&registry, &img, &[]);
    assert!(
        message.contains(&img.layer.0) && message.contains("10000000000000"),
        "{message}"
    );
    assert!(elapsed < 5.0, "took {elapsed} s");
    assert_eq!(
        layer_requests(&registry, &img),
        1,
        "refused content is not retried"
    );
}

#[test]
fn endless_layer_body_stops_one_byte_past_the_descriptor() {
    let img = Arc::new(image(None));
    let registry = registry_with_layer(img.clone(), |_| Reply::Endless);
    let (message, elapsed) = failing_pull(&registry, &img, &[]);
    assert!(
        message.contains(&img.layer.0) && message.contains("more than the 115 bytes"),
        "{message}"
    );
    assert!(elapsed < 5.0, "took {elapsed} s");
    assert_eq!(layer_requests(&registry, &img), 1);
    // The server keeps writing until the socket closes; what it got out is socket buffers,
    // not an unbounded stream.
    assert!(
        registry.sent() < 64 * 1024 * 1024,
        "server sent {} bytes",
        registry.sent()
    );
}

#[test]
fn one_byte_per_second_hits_the_deadline() {
    let img = Arc::new(image(None));
    let registry = registry_with_layer(img.clone(), |img| Reply::Trickle {
        body: img.layer.1.clone(),
    });
    let (message, elapsed) = failing_pull(&registry, &img, &["--timeout", "3"]);
    assert!(
        message.contains("deadline of 3 s") && message.contains(&registry.host()),
        "{message}"
    );
    assert!(elapsed < 8.0, "took {elapsed} s");
}

#[test]
fn silent_registry_is_a_stall_naming_host_and_request() {
    let img = Arc::new(image(None));
    let registry = registry_with_layer(img.clone(), |_| Reply::Hang);
    let (message, elapsed) =
        failing_pull(&registry, &img, &["--stall-timeout", "1", "--retries", "1"]);
    assert!(
        message.contains("stalled for 1 s")
            && message.contains(&registry.host())
            && message.contains(&img.layer.0),
        "{message}"
    );
    assert!(elapsed < 8.0, "took {elapsed} s");
    assert_eq!(
        layer_requests(&registry, &img),
        2,
        "one retry after a stall"
    );
}

#[test]
fn tag_pull_declaring_more_than_the_disk_holds_fails_before_downloading() {
    let img = Arc::new(image(Some(10_000_000_000_000_000)));
    let registry = Server::start({
        let img = img.clone();
        Arc::new(move |r: &Request| registry_routes(r, &img))
    });
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let output = pyoci(home.path())
        .args(["pull", &format!("{}/app:latest", registry.host()), "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let message = failed(&output);
    assert!(message.contains("not enough free space"), "{message}");
    assert_eq!(layer_requests(&registry, &img), 0);
    assert!(!out.exists());
}

#[test]
fn oversized_manifest_is_cut_off() {
    let img = Arc::new(image(None));
    let registry = Server::start({
        let img = img.clone();
        Arc::new(move |r: &Request| {
            if r.target.contains("/manifests/") {
                return Reply::LyingLength {
                    length: 1 << 40,
                    body: img.manifest.clone(),
                };
            }
            registry_routes(r, &img)
        })
    });
    let (message, elapsed) = failing_pull(&registry, &img, &[]);
    assert!(message.contains("manifests/"), "{message}");
    assert!(elapsed < 5.0, "took {elapsed} s");
    assert!(registry.sent() < 64 * 1024 * 1024);
}

/// A registry that takes chunked uploads, answers upload status with the offset it holds,
/// and fails one PATCH (503, body discarded) in the middle of the blob.
#[test]
fn chunked_upload_resumes_from_the_registrys_offset_after_a_failure() {
    const CHUNK: usize = 1 << 20;
    let home = tempfile::tempdir().unwrap();
    let layer: Vec<u8> = (0..5 * CHUNK + 1000)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    let layer_digest = sha256(&layer);
    let received = Arc::new(Mutex::new(Vec::<u8>::new()));
    let patches = Arc::new(Mutex::new(0usize));
    let stored: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let registry = {
        let (received, patches, stored) = (received.clone(), patches.clone(), stored.clone());
        Server::start(Arc::new(move |r: &Request| {
            let path = r.target.split('?').next().unwrap_or("").to_string();
            let held = received.lock().unwrap().len();
            match (r.method.as_str(), path.as_str()) {
                ("HEAD", p) if p.contains("/blobs/") => {
                    let digest = p.rsplit('/').next().unwrap_or("");
                    reply(
                        if stored.lock().unwrap().contains_key(digest) {
                            200
                        } else {
                            404
                        },
                        &[],
                        "",
                    )
                }
                ("POST", p) if p.ends_with("/blobs/uploads/") => {
                    received.lock().unwrap().clear();
                    reply(
                        202,
                        &[("Location", "/v2/app/blobs/uploads/s1?_state=0")],
                        "",
                    )
                }
                ("GET", "/v2/app/blobs/uploads/s1") => reply(
                    204,
                    &[
                        ("Range", &format!("0-{}", held.max(1) - 1)),
                        (
                            "Location",
                            &format!("/v2/app/blobs/uploads/s1?_state={held}"),
                        ),
                    ],
                    "",
                ),
                ("PATCH", "/v2/app/blobs/uploads/s1") => {
                    let mut n = patches.lock().unwrap();
                    *n += 1;
                    if *n == 3 {
                        return reply(503, &[], "");
                    }
                    let start: usize = r
                        .header("Content-Range")
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(usize::MAX);
                    if start != held {
                        return reply(416, &[], "");
                    }
                    received.lock().unwrap().extend_from_slice(&r.body);
                    let end = held + r.body.len();
                    reply(
                        202,
                        &[
                            (
                                "Location",
                                &format!("/v2/app/blobs/uploads/s1?_state={end}"),
                            ),
                            ("Range", &format!("0-{}", end - 1)),
                        ],
                        "",
                    )
                }
                ("PUT", "/v2/app/blobs/uploads/s1") => {
                    let data = received.lock().unwrap().clone();
                    let digest = sha256(&data);
                    stored.lock().unwrap().insert(digest.clone(), data);
                    reply(201, &[("Docker-Content-Digest", &digest)], "")
                }
                ("PUT", p) if p.starts_with("/v2/app/blobs/uploads/") => {
                    let digest = r
                        .target
                        .split("digest=")
                        .nth(1)
                        .unwrap_or("")
                        .replace("%3A", ":");
                    stored.lock().unwrap().insert(digest, r.body.clone());
                    reply(201, &[], "")
                }
                ("PUT", p) if p.contains("/manifests/") => reply(201, &[], ""),
                ("HEAD", p) if p.contains("/manifests/") => reply(404, &[], ""),
                _ => reply(404, &[], ""),
            }
        }))
    };
    // A layout whose layer is the 5 MiB blob.
    let layout = oci_layout(home.path());
    let img = image(None);
    let blobs = layout.join("blobs/sha256");
    std::fs::write(blobs.join(&layer_digest[7..]), &layer).unwrap();
    let manifest = String::from_utf8(img.manifest.clone())
        .unwrap()
        .replace(&img.layer.0, &layer_digest)
        .replace("\"size\":115", &format!("\"size\":{}", layer.len()));
    let manifest_digest = sha256(manifest.as_bytes());
    std::fs::write(blobs.join(&manifest_digest[7..]), &manifest).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest.len()}]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();

    let output = pyoci(home.path())
        .arg("push")
        .arg(&layout)
        .arg(format!("{}/app:v1", registry.host()))
        .args(["--chunk-size", &CHUNK.to_string(), "--jobs", "1"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stored.lock().unwrap().get(&layer_digest).map(|b| b.len()),
        Some(layer.len())
    );
    let sent: usize = registry
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body.len())
        .sum();
    // Six chunks, one of them sent twice (the refused one), never the blob from the start.
    assert_eq!(sent, layer.len() + CHUNK, "bytes sent in PATCHes");
    assert_eq!(*patches.lock().unwrap(), 7);
    assert!(registry
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.target.starts_with("/v2/app/blobs/uploads/s1")));
}

/// A `docker-credential-NAME` script in a fresh PATH directory, configured for `registry`.
fn helper(home: &Path, registry: &str, name: &str, script: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = home.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = home.join("docker");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"credHelpers": {registry: name}}).to_string(),
    )
    .unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn failing_credential_helper_is_summarised_without_its_secrets() {
    let home = tempfile::tempdir().unwrap();
    let registry = Server::recorder();
    let path = helper(
        home.path(),
        &registry.host(),
        "leaky",
        "echo 'refresh failed: token ghp_Leak3dT0kenValue0123 rejected' >&2\n\
         echo 'second line password=hunter2' >&2\nexit 3",
    );
    let output = pyoci(home.path())
        .env("PATH", path)
        .args(["pull", &format!("{}/app:latest", registry.host()), "-o"])
        .arg(home.path().join("out"))
        .output()
        .unwrap();
    let message = failed(&output);
    assert!(
        message.contains("docker-credential-leaky")
            && message.contains("exit status: 3")
            && message.contains("refresh failed: token [redacted] rejected"),
        "{message}"
    );
    assert!(
        !message.contains("ghp_") && !message.contains("hunter2"),
        "{message}"
    );
}

#[test]
fn hanging_credential_helper_times_out() {
    let home = tempfile::tempdir().unwrap();
    let registry = Server::recorder();
    let path = helper(home.path(), &registry.host(), "hang", "exec sleep 60");
    let started = Instant::now();
    let output = pyoci(home.path())
        .env("PATH", path)
        .args([
            "pull",
            &format!("{}/app:latest", registry.host()),
            "--stall-timeout",
            "1",
            "-o",
        ])
        .arg(home.path().join("out"))
        .output()
        .unwrap();
    let message = failed(&output);
    assert!(
        message.contains("docker-credential-hang") && message.contains("did not answer within 1 s"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
