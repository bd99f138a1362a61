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
    /// Basic auth with this one user (htpasswd, bcrypt).
    pub user: Option<(String, String)>,
    /// Allow DELETE of manifests (`storage.delete.enabled`).
    pub delete: bool,
}

pub struct TestRegistry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    options: RegistryOptions,
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
        let mut registry = TestRegistry {
            child: None,
            port: free_port(),
            dir,
            options,
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
        if let Some((user, password)) = &self.options.user {
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
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {}\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{}\n  secret: pyoci-test-secret\n\
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
        panic!("docker-registry did not answer on port {}:\n{}", self.port, self.log());
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
    }
}
