//! `pyoci push/pull/copy/gc` against a real docker-registry serving HTTPS on 127.0.0.1 with
//! a CA this test makes (openssl): trusted through certs.d, --ca-cert and SSL_CERT_FILE,
//! refused clearly without it, client certificates, and token auth over TLS. skopeo reads
//! what we push as an independent witness. certs.d is pointed at a test directory with
//! PYOCI_CERTS_D so /etc is never written; the default locations are unit-tested in the
//! registry crate.

#[path = "../../../tests/support/registry.rs"]
mod registry;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use registry::{RegistryOptions, TestRegistry};
use sha2::Digest as _;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=pyoci test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
            d,
        );
        for (name, usage, san) in [
            (
                "server",
                "serverAuth",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
            ),
            ("client", "clientAuth", ""),
        ] {
            fs::write(
                d.join(format!("{name}.ext")),
                format!("basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n{san}"),
            )
            .unwrap();
            openssl(
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    &format!("/CN=pyoci test {name}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                ],
                d,
            );
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &format!("{name}.ext"),
                    "-out",
                    &format!("{name}.crt"),
                ],
                d,
            );
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn registry(&self, mut options: RegistryOptions) -> TestRegistry {
        options.tls = Some((self.path("server.crt"), self.path("server.key")));
        TestRegistry::start_with(options)
    }
}

/// A fresh certs.d root; `files` are (name in the registry's directory, source file).
fn certs_d(home: &Path, host: &str, files: &[(&str, PathBuf)]) -> PathBuf {
    let root = home.join(format!("certs.d-{}", files.len()));
    let dir = root.join(host);
    fs::create_dir_all(&dir).unwrap();
    for (name, source) in files {
        fs::copy(source, dir.join(name)).unwrap();
    }
    root
}

fn pyoci(home: &Path, certs_d: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyoci"));
    let docker = home.join("docker");
    fs::create_dir_all(&docker).unwrap();
    command
        .env("DOCKER_CONFIG", &docker)
        .env_remove("HOME")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env("PYOCI_CERTS_D", certs_d)
        .stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("running pyoci")
}

fn ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn fails(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        !output.status.success(),
        "{command:?} succeeded but should not have"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sha256(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// A one-layer OCI layout written by hand; returns (layout, manifest digest).
fn layout(dir: &Path, seed: &str) -> (PathBuf, String) {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#).into_bytes();
    let layer = format!("layer bytes for {seed}").into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}],
    }).to_string().into_bytes();
    let layout = dir.join(format!("layout-{seed}"));
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    for bytes in [&config, &layer, &manifest] {
        fs::write(blobs.join(&sha256(bytes)[7..]), bytes).unwrap();
    }
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&manifest), "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    fs::write(layout.join("index.json"), index.to_string()).unwrap();
    (layout, sha256(&manifest))
}

fn skopeo_digest(reference: &str, cert_dir: &Path) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--cert-dir"])
        .arg(cert_dir)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is required (Debian package skopeo)");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sha256(&out.stdout)
}

#[test]
fn tls_registry_trusted_through_certs_d_ca_cert_and_ssl_cert_file() {
    let pki = Pki::new();
    let registry = pki.registry(RegistryOptions {
        delete: true,
        ..Default::default()
    });
    let host = registry.host();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (image, digest) = layout(h, "tls");
    let empty = certs_d(h, "nothing-here", &[]);
    let trusted = certs_d(h, &host, &[("ca.crt", pki.path("ca.crt"))]);

    // Without the CA: a clear refusal naming the host, the problem and the file to add.
    let message = fails(
        pyoci(h, &empty)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/app:v1")),
    );
    assert!(
        message.contains(&host)
            && message.contains("unknown certificate authority")
            && message.contains(&format!("{}/{host}/ca.crt", empty.display())),
        "{message}"
    );
    let out = h.join("pulled-without-ca");
    let message = fails(
        pyoci(h, &empty)
            .args(["pull", &format!("{host}/app@{digest}"), "-o"])
            .arg(&out),
    );
    assert!(
        message.contains("unknown certificate authority"),
        "{message}"
    );
    assert!(!out.exists());
    assert!(
        !registry.log().contains("PUT /v2/app/manifests/"),
        "something was pushed without trust"
    );

    // certs.d/<host:port>/ca.crt, as docker and podman read it.
    let pushed = ok(pyoci(h, &trusted)
        .arg("push")
        .arg(&image)
        .arg(format!("{host}/app:v1")));
    assert_eq!(pushed, format!("{host}/app@{digest}"));
    assert_eq!(
        skopeo_digest(&format!("{host}/app:v1"), &trusted.join(&host)),
        digest
    );
    let out = h.join("pulled-certs-d");
    ok(pyoci(h, &trusted)
        .args(["pull", &format!("{host}/app@{digest}"), "-o"])
        .arg(&out));
    assert!(out.join("blobs/sha256").join(&digest[7..]).exists());
    ok(pyoci(h, &trusted).args([
        "copy",
        &format!("{host}/app@{digest}"),
        &format!("{host}/copied:v1"),
    ]));
    assert_eq!(
        skopeo_digest(&format!("{host}/copied:v1"), &trusted.join(&host)),
        digest
    );
    ok(pyoci(h, &trusted).args(["gc", &format!("{host}/copied"), "--keep-last", "1"]));

    // --ca-cert.
    let out = h.join("pulled-ca-cert");
    ok(pyoci(h, &empty)
        .args(["pull", &format!("{host}/app@{digest}"), "--ca-cert"])
        .arg(pki.path("ca.crt"))
        .arg("-o")
        .arg(&out));
    assert!(out.exists());

    // The system store, as SSL_CERT_FILE replaces it.
    let out = h.join("pulled-ssl-cert-file");
    ok(pyoci(h, &empty)
        .env("SSL_CERT_FILE", pki.path("ca.crt"))
        .args(["pull", &format!("{host}/app@{digest}"), "-o"])
        .arg(&out));
    assert!(out.exists());
}

#[test]
fn client_certificate_required_works_from_certs_d_and_refuses_without() {
    let pki = Pki::new();
    let registry = pki.registry(RegistryOptions {
        client_ca: Some(pki.path("ca.crt")),
        ..Default::default()
    });
    let host = registry.host();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (image, digest) = layout(h, "mtls");
    let ca_only = certs_d(h, &host, &[("ca.crt", pki.path("ca.crt"))]);
    let message = fails(
        pyoci(h, &ca_only)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/app:v1")),
    );
    assert!(
        message.contains(&host)
            && message.contains("client certificate")
            && message.contains("client.cert"),
        "{message}"
    );
    let with_client = certs_d(
        h,
        &host,
        &[
            ("ca.crt", pki.path("ca.crt")),
            ("client.cert", pki.path("client.crt")),
            ("client.key", pki.path("client.key")),
        ],
    );
    let pushed = ok(pyoci(h, &with_client)
        .arg("push")
        .arg(&image)
        .arg(format!("{host}/app:v1")));
    assert_eq!(pushed, format!("{host}/app@{digest}"));
    let out = h.join("pulled");
    ok(pyoci(h, &with_client)
        .args(["pull", &format!("{host}/app:v1"), "-o"])
        .arg(&out));
    assert!(out.join("blobs/sha256").join(&digest[7..]).exists());
}

#[test]
fn token_auth_over_tls() {
    let pki = Pki::new();
    let registry = pki.registry(RegistryOptions {
        token_auth: true,
        user: Some(("tls-user".into(), "tls-password".into())),
        ..Default::default()
    });
    let host = registry.host();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let (image, digest) = layout(h, "token");
    let trusted = certs_d(h, &host, &[("ca.crt", pki.path("ca.crt"))]);
    TestRegistry::docker_config(
        &h.join("docker"),
        &serde_json::json!({"auths": {&host: {"username": "tls-user", "password": "tls-password"}}}).to_string(),
    );
    let pushed = ok(pyoci(h, &trusted)
        .arg("push")
        .arg(&image)
        .arg(format!("{host}/team/app:v1")));
    assert_eq!(pushed, format!("{host}/team/app@{digest}"));
    assert!(
        registry.token_requests().iter().any(|r| r.contains("push")),
        "{:?}",
        registry.token_requests()
    );
}

fn witness(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut command = Command::new(program);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap_or_else(|e| {
        panic!("{program} is required (tools/install-deps.sh installs it): {e}")
    });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Our pushes read by crane and skopeo, and their pushes read by us, by digest; over TLS
/// (CA through certs.d for us and skopeo, SSL_CERT_FILE for crane) and over plain HTTP.
fn round_trips(registry: &TestRegistry, pki: Option<&Pki>, h: &Path) {
    let host = registry.host();
    let certs = match pki {
        Some(pki) => certs_d(h, &host, &[("ca.crt", pki.path("ca.crt"))]),
        None => certs_d(h, "none", &[]),
    };
    let cert_dir = certs.join(&host);
    let crane_env: Vec<(&str, &Path)> = match pki {
        Some(pki) => vec![(
            "SSL_CERT_FILE",
            Box::leak(pki.path("ca.crt").into_boxed_path()) as &Path,
        )],
        None => vec![],
    };
    let crane_insecure: &[&str] = if pki.is_some() { &[] } else { &["--insecure"] };
    let skopeo_tls = if pki.is_some() {
        format!("--cert-dir={}", cert_dir.display())
    } else {
        "--tls-verify=false".to_string()
    };

    // pyoci -> crane, skopeo.
    let (image, digest) = layout(
        h,
        if pki.is_some() {
            "witness-tls"
        } else {
            "witness-plain"
        },
    );
    ok(pyoci(h, &certs)
        .arg("push")
        .arg(&image)
        .arg(format!("{host}/ours:v1")));
    let crane_digest = witness(
        "crane",
        &[&["digest", &format!("{host}/ours:v1")], crane_insecure].concat(),
        &crane_env,
    );
    assert_eq!(crane_digest, digest);
    let raw = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &skopeo_tls,
            &format!("docker://{host}/ours:v1"),
        ])
        .output()
        .expect("skopeo");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(sha256(&raw.stdout), digest);

    // crane -> pyoci: an image crane builds and pushes itself.
    let tar = h.join("crane-layer.tar");
    let src = h.join("crane-src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("hello.txt"), "from crane\n").unwrap();
    witness(
        "tar",
        &[
            "-cf",
            tar.to_str().unwrap(),
            "-C",
            src.to_str().unwrap(),
            "hello.txt",
        ],
        &[],
    );
    witness(
        "crane",
        &[
            &[
                "append",
                "-f",
                tar.to_str().unwrap(),
                "-t",
                &format!("{host}/crane:v1"),
            ],
            crane_insecure,
        ]
        .concat(),
        &crane_env,
    );
    let crane_digest = witness(
        "crane",
        &[&["digest", &format!("{host}/crane:v1")], crane_insecure].concat(),
        &crane_env,
    );
    let out = h.join(format!("pulled-crane-{}", pki.is_some()));
    let pulled = ok(pyoci(h, &certs)
        .args(["pull", &format!("{host}/crane@{crane_digest}"), "-o"])
        .arg(&out));
    assert_eq!(pulled, format!("{host}/crane@{crane_digest}"));

    // skopeo -> pyoci: skopeo copies our layout under another name; we read it by digest.
    let dest_tls = if pki.is_some() {
        format!("--dest-cert-dir={}", cert_dir.display())
    } else {
        "--dest-tls-verify=false".to_string()
    };
    witness(
        "skopeo",
        &[
            "copy",
            &dest_tls,
            &format!("oci:{}:latest", image.display()),
            &format!("docker://{host}/skopeo:v1"),
        ],
        &[],
    );
    let out = h.join(format!("pulled-skopeo-{}", pki.is_some()));
    let pulled = ok(pyoci(h, &certs)
        .args(["pull", &format!("{host}/skopeo:v1"), "-o"])
        .arg(&out));
    let skopeo_raw = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            &skopeo_tls,
            &format!("docker://{host}/skopeo:v1"),
        ])
        .output()
        .expect("skopeo");
    assert_eq!(
        pulled,
        format!("{host}/skopeo@{}", sha256(&skopeo_raw.stdout))
    );
}

#[test]
fn crane_and_skopeo_agree_on_digests_both_ways_with_and_without_tls() {
    let home = tempfile::tempdir().unwrap();
    let plain = TestRegistry::start();
    round_trips(&plain, None, home.path());
    let pki = Pki::new();
    let tls = pki.registry(RegistryOptions::default());
    round_trips(&tls, Some(&pki), home.path());
}
