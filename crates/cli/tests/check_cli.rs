//! `pyoci check`, `pyoci sbom` and `pyoci test` against image layouts built with the real
//! tools: `pyoci layer`/`pyoci image`/`pyoci deb`/`pyoci base`, umoci, and podman for
//! command tests. A missing tool fails the test.

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn pyoci() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pyoci"))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// A GitHub-token-shaped value, assembled so this file holds no token literal.
fn fake_github_token() -> String {
    format!("ghp_{}", "Ab1".repeat(12))
}

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
    admin:x:0:0:admin:/root:/sbin/nologin\n\
    nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a layer from `pyoci layer` spec entries; returns the `--layer` argument.
    fn layer(&self, name: &str, entries: Value) -> String {
        pyoci_support::spec_layer(&mut pyoci(), self.dir.path(), name, entries).1
    }

    /// The users layer every test image starts from.
    fn users_layer(&self) -> String {
        self.layer(
            "users",
            json!([
                {"path": "/etc/passwd", "type": "file", "content": PASSWD},
                {"path": "/etc/group", "type": "file", "content": GROUP},
                {"path": "/root", "type": "dir", "mode": "0700"},
                {"path": "/home/nonroot", "type": "dir", "mode": "0700", "uid": 65532, "gid": 65532},
            ]),
        )
    }

    fn image(&self, name: &str, layers: &[String], args: &[&str]) -> PathBuf {
        let out = self.path(name);
        let mut command = pyoci();
        command.arg("image");
        for layer in layers {
            command.arg("--layer").arg(layer);
        }
        tools::run_ok(command.args(args).arg("-o").arg(&out));
        out
    }

    /// An image that passes every gate: non-root, no shell, no secrets, sane permissions.
    fn good_image(&self, name: &str, extra_app_entries: Value, args: &[&str]) -> PathBuf {
        let mut entries = json!([
            {"path": "/app/main.py", "type": "file", "content": "print('hi')\n"},
            {"path": "/app/config.yaml", "type": "file", "content": "port: 8080\nlog_level: INFO\n"},
            {"path": "/app/data", "type": "dir", "mode": "0755", "uid": 65532, "gid": 65532},
            {"path": "/app/tmp", "type": "dir", "mode": "1777"},
            {"path": "/app/bin/tool", "type": "symlink", "target": "../main.py"},
            {"path": "/app/.env.example", "type": "file", "content": "DB_PASSWORD=\n"},
            {"path": "/app/db.py", "type": "file", "content": "password = os.environ['DB_PASSWORD']\n"},
        ]);
        if let (Some(list), Some(extra)) = (entries.as_array_mut(), extra_app_entries.as_array()) {
            list.extend(extra.iter().cloned());
        }
        let app = self.layer(&format!("{name}-app"), entries);
        // "--no-user" leaves the config's User unset, as a base without one would.
        let mut all_args = if args.contains(&"--user") || args.contains(&"--no-user") {
            vec![]
        } else {
            vec!["--user", "65532"]
        };
        all_args.extend_from_slice(&[
            "--env",
            "LOG_LEVEL=INFO",
            "--label",
            "org.opencontainers.image.version=1.0.0",
            "--entrypoint",
            r#"["/usr/bin/python3","/app/main.py"]"#,
            "--cmd",
            r#"["--port","8080"]"#,
            "--workdir",
            "/app",
            "--port",
            "8080/tcp",
            "--volume",
            "/data",
        ]);
        all_args.extend(args.iter().filter(|a| **a != "--no-user"));
        self.image(name, &[self.users_layer(), app], &all_args)
    }
}

fn check(layout: &Path, args: &[&str]) -> Output {
    tools::output(pyoci().arg("check").arg(layout).args(args))
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn good_image_passes_and_gets_a_stamp_and_size_report() {
    let fx = Fixture::new();
    let image = fx.good_image("good", json!([]), &[]);
    let stamp = fx.path("check.stamp");
    let report = fx.path("size.json");
    let out = check(
        &image,
        &[
            "--max-size",
            "10MB",
            "--size-report",
            report.to_str().unwrap_or_default(),
            "-o",
            stamp.to_str().unwrap_or_default(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "",
        "a stamped check prints nothing on success"
    );
    let stamp = read_json(&stamp);
    assert_eq!(stamp["user"], "65532:65532");
    for gate in ["non-root", "no-shell", "secrets", "permissions", "size"] {
        assert_eq!(stamp["gates"][gate], "passed", "{gate} in {stamp}");
    }
    let report = read_json(&report);
    let layers = report["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2);
    let app = &layers[1];
    assert!(app["compressedSize"].as_u64() > Some(0));
    assert!(app["uncompressedSize"].as_u64() > app["compressedSize"].as_u64());
    assert_eq!(app["files"], 4);
    assert_eq!(app["topDirectories"][0]["path"], "/app");
    assert!(app["diffId"]
        .as_str()
        .is_some_and(|d| d.starts_with("sha256:")));
    let layer_sum: u64 = layers
        .iter()
        .filter_map(|l| l["compressedSize"].as_u64())
        .sum();
    assert_eq!(
        report["totals"]["compressedSize"].as_u64(),
        Some(layer_sum + report["configSize"].as_u64().unwrap_or(0))
    );
    assert_eq!(report["maxSize"], 10_000_000);

    // Without -o, a person gets a one-line summary.
    let out = check(&image, &[]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("runs as 65532:65532"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn non_root_gate_fails_for_root_users_and_has_an_opt_out() {
    let fx = Fixture::new();
    let cases: [(&str, &[&str], &str); 4] = [
        ("empty", &["--no-user"], "config User is empty"),
        ("uid0", &["--user", "0:0"], "\"0:0\" is uid 0"),
        ("admin", &["--user", "admin"], "\"admin\" is uid 0"),
        (
            "ghost",
            &["--user", "ghost"],
            "\"ghost\" is not in the image's /etc/passwd",
        ),
    ];
    for (name, args, expected) in cases {
        let image = fx.good_image(name, json!([]), args);
        let stamp = fx.path(&format!("{name}.stamp"));
        let out = check(&image, &["-o", stamp.to_str().unwrap_or_default()]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        let line = err
            .lines()
            .find(|l| l.starts_with("non-root: "))
            .unwrap_or_default();
        assert!(line.contains(expected), "{name}: {err}");
        assert!(line.ends_with("[opt out: --allow-root]"), "{name}: {line}");
        assert!(!stamp.exists(), "no stamp is written when a gate fails");

        let out = check(
            &image,
            &["--allow-root", "-o", stamp.to_str().unwrap_or_default()],
        );
        assert_exit(&out, 0);
        assert_eq!(read_json(&stamp)["gates"]["non-root"], "allowed");
    }
}

#[test]
fn shell_gate_finds_shells_and_package_managers() {
    let fx = Fixture::new();
    let image = fx.good_image(
        "shell",
        json!([
            {"path": "/bin/bash", "type": "file", "content": "\u{7f}ELF", "mode": "0755"},
            {"path": "/bin/sh", "type": "symlink", "target": "bash"},
            {"path": "/usr/bin/apt-get", "type": "file", "content": "\u{7f}ELF", "mode": "0755"},
            {"path": "/usr/share/doc/sh", "type": "file", "content": "not a program", "mode": "0644"},
        ]),
        &[],
    );
    let out = check(&image, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    let findings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("no-shell: "))
        .collect();
    assert_eq!(
        findings,
        [
            "no-shell: /bin/bash is a shell in a non-debug image [opt out: --allow-shell (debug images)]",
            "no-shell: /bin/sh is a shell (symlink to bash) in a non-debug image [opt out: --allow-shell (debug images)]",
            "no-shell: /usr/bin/apt-get is a package manager in a non-debug image [opt out: --allow-shell (debug images)]",
        ],
        "{err}"
    );
    assert_exit(&check(&image, &["--allow-shell"]), 0);
}

#[test]
fn secrets_gate_scans_env_labels_and_every_layer() {
    let fx = Fixture::new();
    let token = fake_github_token();
    let aws_key = format!("AKIA{}", "Z7QWERTYUIOPASDF");
    let old = fx.layer(
        "old",
        json!([{"path": "/app/old.txt", "type": "file", "content": format!("key {aws_key}\n")}]),
    );
    let app = fx.layer(
        "secret-app",
        json!([
            {"path": "/app/old.txt", "type": "whiteout"},
            {"path": "/app/.env", "type": "file", "content": "DB_PASSWORD=hunter2hunter2\n"},
            {"path": "/app/certs/server.key", "type": "file",
             "content": "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oBNMXzNEfQXloAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n"},
            {"path": "/app/settings.py", "type": "file", "content": "DEBUG = False\nSECRET_KEY = 'django-insecure-k3y-v4lu3'\n"},
            {"path": "/app/.env.example", "type": "file", "content": "DB_PASSWORD=\n"},
            {"path": "/app/db.py", "type": "file", "content": "password = os.environ['DB_PASSWORD']\n"},
            {"path": "/etc/ssl/certs/bundle.pem", "type": "file",
             "content": "-----BEGIN PRIVATE KEY-----\nskipped: Debian's certificate directory\n"},
        ]),
    );
    let label = format!("com.example.note={token}");
    let image = fx.image(
        "secrets",
        &[fx.users_layer(), old, app],
        &[
            "--user",
            "65532",
            "--env",
            "API_TOKEN=s3cr3t-t0ken-value",
            "--label",
            &label,
        ],
    );
    let out = check(&image, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    let findings: Vec<&str> = err.lines().filter(|l| l.starts_with("secrets: ")).collect();
    let expect = [
        "secrets: /app/old.txt line 1 (layer 1, sha256:",
        "): AWS access key id; a later layer hides it, but it still ships in this layer [opt out: --allow-secrets, or --allow-secret-in /app/old.txt]",
    ];
    assert!(
        findings
            .iter()
            .any(|l| l.starts_with(expect[0]) && l.ends_with(expect[1])),
        "{err}"
    );
    for needle in [
        "secrets: /app/.env (layer 2, ",
        "secrets: /app/.env line 1 (layer 2, ",
        "secrets: /app/certs/server.key line 1 (layer 2, ",
        "secrets: /app/settings.py line 2 (layer 2, ",
        "secrets: env API_TOKEN: literal credential value [opt out: --allow-secrets]",
        "secrets: label com.example.note: GitHub token [opt out: --allow-secrets]",
    ] {
        assert!(
            findings.iter().any(|l| l.starts_with(needle)),
            "missing {needle:?} in:\n{err}"
        );
    }
    assert_eq!(findings.len(), 7, "{err}");
    for value in [
        "hunter2hunter2",
        "s3cr3t-t0ken-value",
        token.as_str(),
        aws_key.as_str(),
        "django-insecure",
    ] {
        assert!(!err.contains(value), "a secret value was printed: {value}");
    }

    // Allowing the files leaves the env and label findings.
    let out = check(&image, &["--allow-secret-in", "/app"]);
    assert_exit(&out, 1);
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("secrets: "))
            .count(),
        2
    );
    assert_exit(&check(&image, &["--allow-secrets"]), 0);
}

#[test]
fn permissions_gate_checks_application_files_for_the_image_user() {
    let fx = Fixture::new();
    let image = fx.good_image(
        "perms",
        json!([
            {"path": "/app/shared", "type": "dir", "mode": "0777"},
            {"path": "/app/secret.cfg", "type": "file", "content": "x", "mode": "0600"},
            {"path": "/app/private", "type": "dir", "mode": "0700"},
            {"path": "/app/mine.cfg", "type": "file", "content": "x", "mode": "0600", "uid": 65532, "gid": 65532},
        ]),
        &[],
    );
    let out = check(&image, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    let findings: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("permissions: "))
        .collect();
    assert_eq!(
        findings,
        [
            "permissions: /app/private is not readable and searchable by the image user 65532:65532 (owner 0:0, mode 0700) [opt out: --allow-permissions]",
            "permissions: /app/secret.cfg is not readable by the image user 65532:65532 (owner 0:0, mode 0600) [opt out: --allow-permissions]",
            "permissions: /app/shared is world-writable (mode 0777) [opt out: --allow-permissions]",
        ],
        "{err}"
    );
    assert_exit(&check(&image, &["--allow-permissions"]), 0);
    assert_exit(
        &check(
            &image,
            &["--app-prefix", "/app/data", "--app-prefix", "/app/tmp"],
        ),
        0,
    );
}

#[test]
fn base_layers_are_not_application_layers() {
    let fx = Fixture::new();
    let base_layer = fx.layer(
        "base",
        json!([
            {"path": "/etc/passwd", "type": "file", "content": PASSWD},
            {"path": "/etc/shadow", "type": "file", "content": "root:*:1::::::\n", "mode": "0600"},
        ]),
    );
    let base = fx.image("base", &[base_layer], &["--user", "65532"]);
    let app = fx.layer(
        "app",
        json!([{"path": "/app/main.py", "type": "file", "content": "pass\n"}]),
    );
    let image = fx.path("on-base");
    tools::run_ok(
        pyoci()
            .arg("image")
            .arg("--base")
            .arg(&base)
            .arg("--layer")
            .arg(&app)
            .arg("-o")
            .arg(&image),
    );
    // Without --base every layer that installs no Debian package is application.
    let out = check(&image, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("permissions: /etc/shadow is not readable"),
        "{}",
        stderr(&out)
    );

    assert_exit(
        &check(&image, &["--base", base.to_str().unwrap_or_default()]),
        0,
    );

    let unrelated = fx.good_image("unrelated", json!([]), &[]);
    let out = check(&image, &["--base", unrelated.to_str().unwrap_or_default()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("is not the base of"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn size_gate_limits_compressed_size() {
    let fx = Fixture::new();
    let image = fx.good_image("size", json!([]), &[]);
    let report = fx.path("size.json");
    let out = check(
        &image,
        &[
            "--max-size",
            "100",
            "--size-report",
            report.to_str().unwrap_or_default(),
        ],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("size: "))
        .unwrap_or_default();
    assert!(line.contains("over --max-size 100"), "{err}");
    assert!(
        line.ends_with("[opt out: raise or drop --max-size]"),
        "{line}"
    );
    assert!(
        report.exists(),
        "the size report is written even when the size gate fails"
    );
    assert_exit(&check(&image, &["--max-size", "1.5MiB"]), 0);

    let out = check(&image, &["--max-size", "lots"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--max-size"), "{}", stderr(&out));
}

#[test]
fn layouts_written_by_umoci_are_read() {
    tools::require_tool("umoci");
    let fx = Fixture::new();
    let root = fx.path("rootfs");
    std::fs::create_dir_all(root.join("app")).expect("mkdir");
    std::fs::write(root.join("app/main.py"), "print('hi')\n").expect("write");
    std::os::unix::fs::symlink("/usr/bin/dash", root.join("app/sh")).expect("symlink");
    let layout = fx.path("umoci-layout");
    let image_ref = format!("{}:latest", layout.display());
    tools::run_ok(
        Command::new("umoci")
            .arg("init")
            .arg("--layout")
            .arg(&layout),
    );
    tools::run_ok(Command::new("umoci").args(["new", "--image", &image_ref]));
    tools::run_ok(
        Command::new("umoci")
            .args(["insert", "--image", &image_ref])
            .arg(&root)
            .arg("/"),
    );
    tools::run_ok(Command::new("umoci").args([
        "config",
        "--image",
        &image_ref,
        "--config.user",
        "65532",
    ]));
    tools::run_ok(Command::new("umoci").args(["gc", "--layout"]).arg(&layout));
    let out = check(&layout, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("no-shell: /app/sh is a shell (symlink to /usr/bin/dash)"),
        "{err}"
    );
    let out = check(
        &layout,
        &["--allow-shell", "--allow-root", "--allow-permissions"],
    );
    assert_exit(&out, 0);
}

fn spdx_package<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no package {name} in {document}"))
}

fn purl(package: &Value) -> &str {
    package["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn sbom_lists_debian_packages_and_python_distributions() {
    let fx = Fixture::new();
    let layer = fx.layer(
        "sbom",
        json!([
            {"path": "/etc/os-release", "type": "file", "content": "ID=debian\nVERSION_ID=\"12\"\n"},
            {"path": "/var/lib/dpkg/status.d/libfoo1", "type": "file", "content":
                "Package: libfoo1\nVersion: 1:2.3-4+deb12u1\nArchitecture: amd64\nMaintainer: Foo Team <foo@example.org>\nSource: foo\nDescription: foo\n"},
            {"path": "/var/lib/dpkg/status.d/libfoo1.md5sums", "type": "file", "content": "abc  usr/lib/libfoo.so.1\n"},
            {"path": "/usr/share/doc/libfoo1/copyright", "type": "file", "content":
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2020 Foo\nLicense: Expat\n\nFiles: compat/*\nCopyright: 2021 Bar\nLicense: GPL-2+ or custom-terms\n\nLicense: custom-terms\n Do what you like.\n"},
            {"path": "/app/site-packages/requests-2.31.0.dist-info/METADATA", "type": "file", "content":
                "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nAuthor: Kenneth Reitz\nAuthor-email: me@kennethreitz.org\nLicense: Apache 2.0\n\nRequests is HTTP for humans.\n"},
            {"path": "/app/runfiles/pip_pyyaml/site-packages/PyYAML-6.0.1.dist-info/METADATA", "type": "file", "content":
                "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nClassifier: License :: OSI Approved :: MIT License\n\n"},
        ]),
    );
    let image = fx.image("sbom-image", &[layer], &["--user", "65532"]);
    let output = fx.path("image.spdx.json");
    tools::run_ok(
        pyoci()
            .arg("sbom")
            .arg(&image)
            .args(["--name", "my_service"])
            .arg("-o")
            .arg(&output),
    );
    let document = read_json(&output);
    assert_eq!(document["spdxVersion"], "SPDX-2.3");
    assert_eq!(document["dataLicense"], "CC0-1.0");
    assert_eq!(document["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(document["name"], "my_service");
    assert_eq!(document["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    let digest = std::fs::read_to_string(image.join("index.json")).expect("index.json");
    let manifest_hex = read_json(&image.join("index.json"))["manifests"][0]["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no digest in {digest}"));
    assert_eq!(
        document["documentNamespace"],
        format!("https://spdx.org/spdxdocs/my-service-{manifest_hex}")
    );

    let foo = spdx_package(&document, "libfoo1");
    assert_eq!(foo["versionInfo"], "1:2.3-4+deb12u1");
    assert_eq!(foo["supplier"], "Person: Foo Team (foo@example.org)");
    assert_eq!(foo["downloadLocation"], "NOASSERTION");
    assert_eq!(
        foo["licenseDeclared"],
        "MIT AND (GPL-2.0-or-later OR LicenseRef-libfoo1-custom-terms)"
    );
    assert_eq!(
        purl(foo),
        "pkg:deb/debian/libfoo1@1:2.3-4+deb12u1?arch=amd64&distro=debian-12"
    );
    let extracted = &document["hasExtractedLicensingInfos"][0];
    assert_eq!(extracted["licenseId"], "LicenseRef-libfoo1-custom-terms");
    assert_eq!(extracted["extractedText"], "Do what you like.");

    let requests = spdx_package(&document, "requests");
    assert_eq!(requests["versionInfo"], "2.31.0");
    assert_eq!(requests["licenseDeclared"], "Apache-2.0");
    assert_eq!(
        requests["supplier"],
        "Person: Kenneth Reitz (me@kennethreitz.org)"
    );
    assert_eq!(purl(requests), "pkg:pypi/requests@2.31.0");
    let pyyaml = spdx_package(&document, "PyYAML");
    assert_eq!(pyyaml["versionInfo"], "6.0.1");
    assert_eq!(pyyaml["licenseDeclared"], "MIT");
    assert_eq!(purl(pyyaml), "pkg:pypi/pyyaml@6.0.1");

    let image_package = spdx_package(&document, "my_service");
    assert_eq!(image_package["primaryPackagePurpose"], "CONTAINER");
    let relationships = document["relationships"].as_array().expect("relationships");
    assert!(relationships
        .iter()
        .any(|r| r["spdxElementId"] == "SPDXRef-DOCUMENT"
            && r["relationshipType"] == "DESCRIBES"
            && r["relatedSpdxElement"] == image_package["SPDXID"]));
    assert_eq!(
        relationships
            .iter()
            .filter(|r| r["relationshipType"] == "CONTAINS")
            .count(),
        3
    );

    // Deterministic: the same image gives the same bytes.
    let again = fx.path("again.spdx.json");
    tools::run_ok(
        pyoci()
            .arg("sbom")
            .arg(&image)
            .args(["--name", "my_service"])
            .arg("-o")
            .arg(&again),
    );
    assert_eq!(std::fs::read(&output).ok(), std::fs::read(&again).ok());

    let stamped = fx.path("stamped.spdx.json");
    tools::run_ok(
        pyoci()
            .arg("sbom")
            .arg(&image)
            .args(["--created", "2024-05-01T14:00:00+02:00", "-o"])
            .arg(&stamped),
    );
    assert_eq!(
        read_json(&stamped)["creationInfo"]["created"],
        "2024-05-01T12:00:00Z"
    );

    let rejected = fx.path("rejected.spdx.json");
    let out = tools::output(
        pyoci()
            .arg("sbom")
            .arg(&image)
            .args(["--created", "yesterday", "-o"])
            .arg(&rejected),
    );
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("\"yesterday\""), "{}", stderr(&out));
    assert!(!rejected.exists(), "nothing is written on error");
}

#[test]
fn distroless_base_sbom_gates_and_python_in_podman() {
    let fx = Fixture::new();
    let base = fx.path("base");
    tools::run_ok(
        pyoci()
            .arg("base")
            .arg("--debs")
            .arg(tools::debs_dir())
            .arg("--lock")
            .arg(tools::lock_file())
            .args(["--variant", "nonroot", "-o"])
            .arg(&base),
    );
    let output = fx.path("base.spdx.json");
    tools::run_ok(pyoci().arg("sbom").arg(&base).arg("-o").arg(&output));
    let document = read_json(&output);
    let libc = spdx_package(&document, "libc6");
    assert_eq!(libc["versionInfo"], "2.36-9+deb12u14");
    assert_eq!(
        purl(libc),
        "pkg:deb/debian/libc6@2.36-9+deb12u14?arch=amd64&distro=debian-12"
    );
    let python = spdx_package(&document, "python3.11-minimal");
    assert_eq!(python["versionInfo"], "3.11.2-6+deb12u9");
    assert_eq!(spdx_package(&document, "zlib1g")["licenseDeclared"], "Zlib");
    assert_eq!(document["packages"].as_array().map(Vec::len), Some(39));

    // The distroless base itself passes every gate, and its Python runs as nonroot in podman.
    assert_exit(&check(&base, &[]), 0);
    let spec = fx.path("python.json");
    std::fs::write(
        &spec,
        json!({
            "schemaVersion": "2.0.0",
            "commandTests": [{
                "name": "python as nonroot",
                "command": "/usr/bin/python3",
                "args": ["-c", "import os, ssl, sqlite3; print(os.getuid(), ssl.OPENSSL_VERSION)"],
                "expectedOutput": ["^65532 OpenSSL 3\\."],
            }],
            "fileExistenceTests": [{"name": "no shell", "path": "/bin/sh", "shouldExist": false}],
            "metadataTest": {"user": "65532", "entrypoint": ["/usr/bin/python3.11"]},
        })
        .to_string(),
    )
    .expect("write spec");
    let out = run_structure_test(&base, &spec, &[]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("PASS command: python as nonroot\n"),
        "{}",
        stdout(&out)
    );
}

fn run_structure_test(image: &Path, spec: &Path, envs: &[(&str, &Path)]) -> Output {
    let mut command = pyoci();
    command.arg("test").arg(image).arg("--spec").arg(spec);
    for (key, value) in envs {
        command.env(key, value);
    }
    tools::output(&mut command)
}

#[test]
fn structure_file_and_metadata_tests_pass_and_fail_readably() {
    let fx = Fixture::new();
    let image = fx.good_image("structure", json!([]), &[]);
    let passing = fx.path("passing.json");
    std::fs::write(
        &passing,
        json!({
            "schemaVersion": "2.0.0",
            "fileExistenceTests": [
                {"name": "main", "path": "/app/main.py", "shouldExist": true, "permissions": "-rw-r--r--", "uid": 0, "gid": 0},
                {"name": "data dir", "path": "/app/data", "shouldExist": true, "permissions": "0755", "uid": 65532, "gid": 65532},
                {"name": "scratch", "path": "/app/tmp", "shouldExist": true, "permissions": "drwxrwxrwt"},
                {"name": "link", "path": "/app/bin/tool", "shouldExist": true, "permissions": "lrwxrwxrwx"},
                {"name": "no shell", "path": "/bin/sh", "shouldExist": false},
            ],
            "fileContentTests": [
                {"name": "config", "path": "/app/config.yaml", "expectedContents": ["port: 8080"], "excludedContents": ["password"]},
                {"name": "through symlink", "path": "/app/bin/tool", "expectedContents": ["^print"]},
            ],
            "metadataTest": {
                "envVars": [{"key": "LOG_LEVEL", "value": "INFO"}, {"key": "LOG_LEVEL", "value": "^IN", "isRegex": true}],
                "unboundEnvVars": [{"key": "DEBUG"}],
                "labels": [{"key": "org.opencontainers.image.version", "value": "1.0.0"}],
                "entrypoint": ["/usr/bin/python3", "/app/main.py"],
                "cmd": ["--port", "8080"],
                "exposedPorts": ["8080"],
                "unexposedPorts": ["22"],
                "volumes": ["/data"],
                "unmountedVolumes": ["/tmp"],
                "workdir": "/app",
                "user": "65532",
            },
        })
        .to_string(),
    )
    .expect("write spec");
    let out = run_structure_test(&image, &passing, &[]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.lines()
            .all(|l| l.starts_with("PASS ") || l.ends_with("19 passed, 0 failed")),
        "{text}"
    );
    assert!(text.contains("PASS file existence: main\n"), "{text}");
    assert!(text.contains("PASS metadata: env LOG_LEVEL\n"), "{text}");

    let failing = fx.path("failing.json");
    std::fs::write(
        &failing,
        json!({
            "schemaVersion": "2.0.0",
            "fileExistenceTests": [
                {"name": "main mode", "path": "/app/main.py", "shouldExist": true, "permissions": "-rwxr-xr-x", "uid": 65532},
                {"name": "missing", "path": "/app/missing.py", "shouldExist": true},
                {"name": "should be absent", "path": "/app/data", "shouldExist": false},
            ],
            "fileContentTests": [
                {"name": "config port", "path": "/app/config.yaml", "expectedContents": ["port: 9090"], "excludedContents": ["log_level: \\w+"]},
            ],
            "metadataTest": {
                "envVars": [{"key": "LOG_LEVEL", "value": "DEBUG"}],
                "user": "0",
                "entrypoint": ["python3"],
                "exposedPorts": ["9090/tcp"],
            },
        })
        .to_string(),
    )
    .expect("write spec");
    let out = run_structure_test(&image, &failing, &[]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    for expected in [
        "FAIL file existence: main mode: permissions: expected -rwxr-xr-x, got -rw-r--r-- (0644); uid: expected 65532, got 0",
        "FAIL file existence: missing: expected /app/missing.py to exist, it does not",
        "FAIL file existence: should be absent: expected /app/data to be absent, found drwxr-xr-x directory",
        "FAIL file content: config port: contents: expected to match /port: 9090/, got \"port: 8080\\nlog_level: INFO\\n\"; contents: expected not to match /log_level: \\w+/, found \"log_level: INFO\"",
        "FAIL metadata: env LOG_LEVEL: expected \"DEBUG\", got \"INFO\"",
        "FAIL metadata: user: expected \"0\", got \"65532\"",
        "FAIL metadata: entrypoint: expected [\"python3\"], got [\"/usr/bin/python3\", \"/app/main.py\"]",
        "FAIL metadata: exposed port 9090/tcp: expected exposed, exposed ports are [\"8080/tcp\"]",
    ] {
        assert!(text.lines().any(|l| l == expected), "missing line {expected:?} in:\n{text}");
    }
    assert!(text.ends_with("0 passed, 8 failed\n"), "{text}");
}

#[test]
fn structure_spec_errors_name_the_file_and_field() {
    let fx = Fixture::new();
    let image = fx.good_image("spec-errors", json!([]), &[]);
    let cases = [
        (
            json!({"schemaVersion": "2.0.0", "commandTests": [{"name": "x", "command": "y", "setpu": [["z"]]}]}),
            "unknown field commandTests.0.setpu",
        ),
        (
            json!({"schemaVersion": "2.0.0", "fileContentTests": [{"name": "bad regex", "path": "/x", "expectedContents": ["("]}]}),
            "regex \"(\" is invalid",
        ),
        (
            json!({"schemaVersion": "2.0.0", "fileExistenceTests": [{"name": "p", "path": "/x", "shouldExist": true, "permissions": "rw-"}]}),
            "permissions \"rw-\"",
        ),
        (
            json!({"schemaVersion": "1.0.0"}),
            "schemaVersion \"1.0.0\" is not supported",
        ),
    ];
    for (index, (spec, expected)) in cases.into_iter().enumerate() {
        let path = fx.path(&format!("spec{index}.json"));
        std::fs::write(&path, spec.to_string()).expect("write spec");
        let out = run_structure_test(&image, &path, &[]);
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
    }
}

#[test]
fn structure_command_tests_run_in_podman() {
    tools::require_tool("podman");
    tools::require_tool("runc");
    let fx = Fixture::new();
    let deb = std::fs::read_dir(tools::debs_dir())
        .expect("debs dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("busybox-static_"))
        })
        .expect("busybox-static .deb");
    let blob = fx.path("busybox.tar.gz");
    let descriptor = fx.path("busybox.json");
    tools::run_ok(
        pyoci()
            .arg("deb")
            .arg(&deb)
            .arg("-o")
            .arg(&blob)
            .arg("--descriptor-out")
            .arg(&descriptor),
    );
    let image = fx.image(
        "busybox",
        &[
            fx.users_layer(),
            format!("{}={}", blob.display(), descriptor.display()),
        ],
        &[
            "--user",
            "65532",
            "--entrypoint",
            r#"["/bin/busybox","false"]"#,
            "--env",
            "FROM_IMAGE=yes",
        ],
    );
    let spec = fx.path("commands.json");
    std::fs::write(
        &spec,
        json!({
            "schemaVersion": "2.0.0",
            "globalEnvVars": [{"key": "GLOBAL", "value": "g"}],
            "commandTests": [
                {"name": "echo", "command": "/bin/busybox", "args": ["echo", "hello"], "expectedOutput": ["^hello\n$"]},
                {"name": "runs as the image user", "command": "/bin/busybox", "args": ["id", "-u"], "expectedOutput": ["65532"]},
                {"name": "env", "command": "/bin/busybox", "args": ["sh", "-c", "echo $FROM_IMAGE $GLOBAL $LOCAL; /bin/busybox env"],
                 "envVars": [{"key": "LOCAL", "value": "l"}], "expectedOutput": ["^yes g\n", "(?m)^LOCAL=l$"]},
                {"name": "exit code and stderr", "command": "/bin/busybox", "args": ["sh", "-c", "echo oops >&2; exit 3"],
                 "exitCode": 3, "expectedError": ["oops"], "excludedOutput": ["."]},
                {"name": "no network but loopback", "command": "/bin/busybox", "args": ["ip", "-o", "link"],
                 "expectedOutput": ["lo:"], "excludedOutput": ["eth0"]},
                {"name": "wrong output", "command": "/bin/busybox", "args": ["echo", "hello"], "expectedOutput": ["bye"], "excludedError": ["."]},
                {"name": "wrong exit", "command": "/bin/busybox", "args": ["sh", "-c", "echo boom >&2; exit 2"]},
                {"name": "missing command", "command": "/no/such/program"},
            ],
        })
        .to_string(),
    )
    .expect("write spec");
    let tmp = fx.path("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir tmp");
    let out = run_structure_test(&image, &spec, &[("TMPDIR", &tmp)]);
    assert_exit(&out, 1);
    let text = stdout(&out);
    for expected in [
        "PASS command: echo",
        "PASS command: runs as the image user",
        "PASS command: env",
        "PASS command: exit code and stderr",
        "PASS command: no network but loopback",
        "FAIL command: wrong output: stdout: expected to match /bye/, got \"hello\\n\"",
        "FAIL command: wrong exit: exit code: expected 0, got 2 (stderr \"boom\\n\")",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing line {expected:?} in:\n{text}\n{}",
            stderr(&out)
        );
    }
    let missing = text
        .lines()
        .find(|l| l.starts_with("FAIL command: missing command: "))
        .unwrap_or_default();
    assert!(missing.contains("exit code: expected 0, got 12"), "{text}");
    assert!(text.ends_with("5 passed, 3 failed\n"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .expect("read tmp")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(
        leftovers.is_empty(),
        "the private podman store was not removed: {leftovers:?}"
    );
}

#[test]
fn setuid_files_and_device_nodes_in_application_layers_fail_the_permissions_gate() {
    let fx = Fixture::new();
    // A foreign tarball (Python's tarfile) that `pyoci image` accepts only when told to.
    let tar = fx.path("special.tar");
    let script = "import io, sys, tarfile\n\
        with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:\n\
        \x20   for name, kind, mode in [('usr/bin/su', tarfile.REGTYPE, 0o4755), ('usr/bin/wall', tarfile.REGTYPE, 0o2755),\n\
        \x20                            ('app/mem', tarfile.CHRTYPE, 0o666)]:\n\
        \x20       info = tarfile.TarInfo(name); info.type = kind; info.mode = mode\n\
        \x20       data = b'x' if kind == tarfile.REGTYPE else b''; info.size = len(data); t.addfile(info, io.BytesIO(data))\n";
    tools::run_ok(Command::new("python3").arg("-c").arg(script).arg(&tar));
    let image = fx.path("special");
    tools::run_ok(
        pyoci()
            .args(["image", "--allow-setuid", "--allow-devices", "--user", "65532"])
            .arg("--layer")
            .arg(fx.users_layer())
            .arg("--layer")
            .arg(&tar)
            .arg("-o")
            .arg(&image),
    );
    let out = check(&image, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for needle in [
        "permissions: /usr/bin/su is setuid 0 (mode 4755) in an application layer [opt out: --allow-permissions, or --allow-setuid]",
        "permissions: /usr/bin/wall is setgid 0 (mode 2755)",
        "permissions: /app/mem is a character device (mode 0666) in an application layer [opt out: --allow-permissions, or --allow-devices]",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    let out = check(&image, &["--allow-setuid"]);
    assert!(!stderr(&out).contains("setuid") && stderr(&out).contains("/app/mem"), "{}", stderr(&out));
    let out = check(&image, &["--allow-setuid", "--allow-devices"]);
    assert_exit(&out, 0);
    // Base layers (here: the users layer, given as --base) are not the application's business.
    let base = fx.image("special-base", &[fx.users_layer()], &["--user", "65532"]);
    let base_arg = base.display().to_string();
    assert_exit(&check(&base, &[]), 0);
    let out = check(&image, &["--base", &base_arg]);
    assert_exit(&out, 1);
}

#[test]
fn secrets_on_one_line_of_json_yaml_toml_or_env_are_found() {
    let fx = Fixture::new();
    let image = fx.good_image(
        "one-line-secrets",
        json!([
            {"path": "/app/settings.json", "type": "file", "content": "{\"password\":\"hunter2hunter2\"}\n"},
            {"path": "/app/db.json", "type": "file", "content": "{\"host\":\"db\",\"DB_PASSWORD\":\"Zq9xWv3r8s\"}"},
            {"path": "/app/credentials", "type": "file", "content": "{\"user\":\"svc\",\"api_token\":\"tok-4f9a8b7c6d5e\"}\n"},
            {"path": "/app/flow.yaml", "type": "file", "content": "db: {host: x, password: s3cr3t-pw-42}\n"},
            {"path": "/app/inline.toml", "type": "file", "content": "db = { host = \"x\", secret_key = \"k3y-v4lu3-99\" }\n"},
            {"path": "/app/pretty.json", "type": "file", "content": "{\n  \"password\": \"hunter2hunter2\"\n}\n"},
            {"path": "/app/clean.json", "type": "file", "content": "{\"password\":\"\",\"token\":null,\"password_hash\":\"abcdefghijkl\"}\n"},
        ]),
        &[],
    );
    let out = check(&image, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    for needle in [
        "/app/settings.json line 1 (layer 1, ",
        "literal value assigned to password",
        "/app/db.json line 1",
        "literal value assigned to DB_PASSWORD",
        "/app/credentials line 1",
        "literal value assigned to api_token",
        "/app/flow.yaml line 1",
        "/app/inline.toml line 1",
        "/app/pretty.json line 2",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    assert!(!err.contains("clean.json") && !err.contains("hunter2"), "{err}");
}
