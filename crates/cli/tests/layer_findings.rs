//! `pyoci check-layer` records and `pyoci check --layer-findings`: the combined check must
//! give the verdicts, report text, stamp and size report of the whole-image check, on a
//! distroless image and on a hostile one (secrets in files, env and labels, a shell, a
//! setuid file, a device node, a whiteout deleting a shell, an opaque directory), whichever
//! layers come with a record; and it must not read the recorded layers' bytes.

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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A GitHub-token-shaped value, assembled so this file holds no token literal.
fn fake_github_token() -> String {
    format!("ghp_{}", "Zq9".repeat(12))
}

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

    /// A `pyoci layer` blob from spec entries; returns (blob, `--layer` argument).
    fn layer(&self, name: &str, entries: Value) -> (PathBuf, String) {
        pyoci_support::spec_layer(&mut pyoci(), self.dir.path(), name, entries)
    }

    /// A plain tar written by Python's tarfile (members `pyoci layer` would not write).
    fn foreign_tar(&self, name: &str, script_body: &str) -> PathBuf {
        let tar = self.path(&format!("{name}.tar"));
        let script = format!(
            "import io, sys, tarfile\n\
             def add(t, name, kind=tarfile.REGTYPE, mode=0o644, data=b'', link='', uid=0, gid=0):\n\
             \x20   info = tarfile.TarInfo(name); info.type = kind; info.mode = mode; info.linkname = link\n\
             \x20   info.uid = uid; info.gid = gid; info.size = len(data) if kind == tarfile.REGTYPE else 0\n\
             \x20   t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)\n\
             with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:\n{script_body}"
        );
        tools::run_ok(Command::new("python3").arg("-c").arg(script).arg(&tar));
        tar
    }

    fn findings(&self, name: &str, args: &[&std::ffi::OsStr]) -> PathBuf {
        let out = self.path(name);
        tools::run_ok(
            pyoci()
                .arg("check-layer")
                .args(args)
                .arg("-o")
                .arg(&out)
                .arg("--quiet"),
        );
        out
    }
}

/// The hostile image: base (users, a shell, a package manager, a key, a private file),
/// a foreign layer (setuid, setgid, a device node, a fifo), and an application layer that
/// deletes the base's /bin/sh by whiteout, empties /opt by an opaque whiteout, hides the key
/// and adds secrets, a world-writable file and an unreadable one. Returns (base, image,
/// blobs of the image's layers, bottom first).
fn hostile(fx: &Fixture) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let token = fake_github_token();
    let key = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAq7BFUpkGp3+6\\n-----END RSA PRIVATE KEY-----\\n";
    let base_tar = fx.foreign_tar(
        "base",
        &format!(
            "    add(t, 'etc/passwd', data=b'root:x:0:0:root:/root:/sbin/nologin\\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\\n')\n\
             \x20   add(t, 'etc/group', data=b'root:x:0:\\nnonroot:x:65532:\\n')\n\
             \x20   add(t, 'root', tarfile.DIRTYPE, 0o700)\n\
             \x20   add(t, 'home/nonroot', tarfile.DIRTYPE, 0o700, uid=65532, gid=65532)\n\
             \x20   add(t, 'bin/sh', mode=0o755, data=b'ELF')\n\
             \x20   add(t, 'bin/bash', tarfile.SYMTYPE, 0o777, link='sh')\n\
             \x20   add(t, 'usr/bin/dpkg', mode=0o755, data=b'ELF')\n\
             \x20   add(t, 'opt/tool/run', mode=0o755, data=b'ELF')\n\
             \x20   add(t, 'opt/tool/busybox', mode=0o755, data=b'ELF')\n\
             \x20   add(t, 'etc/ssl/private/server.key', mode=0o600, data=b'{key}')\n\
             \x20   add(t, 'srv/private.txt', mode=0o600, data=b'hello')\n\
             \x20   add(t, 'etc/app.env', data=b'API_TOKEN={token}\\n')\n"
        ),
    );
    let base = fx.path("hostile-base");
    tools::run_ok(
        pyoci()
            .args(["image", "--user", "65532", "--layer"])
            .arg(&base_tar)
            .arg("-o")
            .arg(&base),
    );
    let special = fx.foreign_tar(
        "special",
        "    add(t, 'usr/bin/su', mode=0o4755, data=b'ELF')\n\
         \x20   add(t, 'usr/bin/wall', mode=0o2755, data=b'ELF')\n\
         \x20   add(t, 'app/mem', tarfile.CHRTYPE, 0o666)\n\
         \x20   add(t, 'app/pipe', tarfile.FIFOTYPE, 0o644)\n\
         \x20   add(t, 'usr/local/bin/zsh', tarfile.LNKTYPE, 0o755, link='usr/bin/su')\n",
    );
    let (app_blob, app) = fx.layer(
        "hostile-app",
        json!([
            {"path": "/bin/sh", "type": "whiteout"},
            {"path": "/opt/tool", "type": "opaque_whiteout"},
            {"path": "/opt/tool/new.py", "type": "file", "content": "print(1)\n"},
            {"path": "/etc/ssl/private/server.key", "type": "file", "content": "gone\n"},
            {"path": "/app/settings.py", "type": "file", "content": format!("GITHUB_TOKEN = \"{token}\"\nDB_PASSWORD = \"hunter2hunter2\"\n")},
            {"path": "/app/.env", "type": "file", "content": "SECRET_KEY=abcdefgh12345678\n"},
            {"path": "/app/creds.json", "type": "file", "content": "{\"password\": \"s3cr3t-s3cr3t\"}\n"},
            {"path": "/app/shared", "type": "file", "mode": "0666", "content": "x\n"},
            {"path": "/app/locked", "type": "file", "mode": "0600", "content": "x\n"},
            {"path": "/app/bin/ash", "type": "symlink", "target": "/bin/busybox"},
            {"path": "/etc/passwd", "type": "file", "content": "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\napp:x:1000:1000::/home/app:/sbin/nologin\n"},
        ]),
    );
    let image = fx.path("hostile");
    tools::run_ok(
        pyoci()
            .args([
                "image",
                "--allow-setuid",
                "--allow-devices",
                "--user",
                "65532",
            ])
            .args(["--env", &format!("GH_TOKEN={token}"), "--env", "MODE=prod"])
            .args(["--label", "db.password=correct-horse-battery"])
            .arg("--base")
            .arg(&base)
            .arg("--layer")
            .arg(&special)
            .arg("--layer")
            .arg(&app)
            .arg("-o")
            .arg(&image),
    );
    (base, image, vec![base_tar, special, app_blob])
}

/// Everything `pyoci check` leaves behind: exit code, stdout, stderr, stamp, size report.
#[derive(Debug, PartialEq)]
struct Verdict {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    stamp: Option<String>,
    size_report: String,
}

fn verdict(fx: &Fixture, image: &Path, args: &[String], findings: &[&Path]) -> Verdict {
    let stamp = fx.path("stamp.json");
    let size_report = fx.path("size.json");
    let _ = std::fs::remove_file(&stamp);
    let _ = std::fs::remove_file(&size_report);
    let mut command = pyoci();
    command.arg("check").arg(image).args(args);
    for file in findings {
        command.arg("--layer-findings").arg(file);
    }
    command
        .arg("--size-report")
        .arg(&size_report)
        .arg("-o")
        .arg(&stamp);
    let out: Output = tools::output(&mut command);
    Verdict {
        code: out.status.code(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
        stamp: std::fs::read_to_string(&stamp).ok(),
        size_report: std::fs::read_to_string(&size_report).unwrap_or_default(),
    }
}

/// The policies each image is checked under: every opt-out, alone and together.
fn policies(base: &Path) -> Vec<Vec<String>> {
    let base = base.display().to_string();
    let list: Vec<Vec<&str>> = vec![
        vec![],
        vec!["--base", &base],
        vec!["--allow-shell"],
        vec!["--allow-secrets"],
        vec!["--allow-secret-in", "/app", "--allow-secret-in", "/etc/ssl"],
        vec!["--allow-permissions"],
        vec!["--allow-setuid", "--allow-devices", "--base", &base],
        vec!["--allow-root", "--max-size", "1K"],
        vec![
            "--allow-shell",
            "--allow-secrets",
            "--allow-permissions",
            "--base",
            &base,
        ],
    ];
    list.into_iter()
        .map(|args| args.into_iter().map(String::from).collect())
        .collect()
}

fn assert_same_verdicts(
    fx: &Fixture,
    base: &Path,
    image: &Path,
    record_sets: &[(&str, Vec<&Path>)],
) {
    for policy in policies(base) {
        let whole = verdict(fx, image, &policy, &[]);
        for (what, records) in record_sets {
            let combined = verdict(fx, image, &policy, records);
            assert_eq!(whole, combined, "policy {policy:?}, records: {what}");
        }
    }
}

#[test]
fn combined_records_give_the_whole_image_verdicts_on_a_hostile_image() {
    let fx = Fixture::new();
    let (base, image, blobs) = hostile(&fx);
    let base_arg = base.as_os_str();
    let all = fx.findings("all.json", &[image.as_os_str()]);
    let base_only = fx.findings("base.json", &[base_arg]);
    let per_blob: Vec<PathBuf> = blobs
        .iter()
        .enumerate()
        .map(|(i, blob)| {
            fx.findings(
                &format!("blob-{i}.json"),
                &["--blob".as_ref(), blob.as_os_str()],
            )
        })
        .collect();

    // The whole check fails every gate but size, with the texts the gates are known by.
    let whole = verdict(&fx, &image, &[], &[]);
    assert_eq!(whole.code, Some(1), "{whole:?}");
    for needle in [
        "no-shell: /bin/bash is a shell (symlink to sh)",
        "no-shell: /usr/bin/dpkg is a package manager",
        "no-shell: /usr/local/bin/zsh is a shell",
        "no-shell: /app/bin/ash is a shell (symlink to /bin/busybox)",
        "secrets: env GH_TOKEN",
        "secrets: label db.password",
        "a later layer hides it, but it still ships in this layer",
        "secrets: /app/settings.py line 1 (layer 2,",
        "secrets: /app/.env (layer 2,",
        "secrets: /etc/app.env line 1 (layer 0,",
        "permissions: /usr/bin/su is setuid 0 (mode 4755)",
        "permissions: /app/mem is a character device",
        "permissions: /app/pipe is a fifo",
        "permissions: /app/shared is world-writable (mode 0666)",
        "permissions: /app/locked is not readable by the image user 65532:65532",
    ] {
        assert!(whole.stderr.contains(needle), "{needle}\n{}", whole.stderr);
    }
    for absent in ["/bin/sh is", "/opt/tool/busybox", "/opt/tool/run"] {
        assert!(!whole.stderr.contains(absent), "{absent}\n{}", whole.stderr);
    }

    let per_blob_refs: Vec<&Path> = per_blob.iter().map(PathBuf::as_path).collect();
    assert_same_verdicts(
        &fx,
        &base,
        &image,
        &[
            ("every layer from the layout", vec![all.as_path()]),
            ("the base's layers only", vec![base_only.as_path()]),
            ("one record per blob", per_blob_refs.clone()),
            ("the application layer only", vec![per_blob[2].as_path()]),
            (
                "overlapping records",
                vec![all.as_path(), per_blob[1].as_path()],
            ),
        ],
    );

    // Recorded layers are not read: with their blobs corrupted, the combined check still
    // gives the same verdicts, while the whole-image check fails on the blobs.
    let before = verdict(&fx, &image, &[], &[all.as_path()]);
    let blobs_dir = image.join("blobs/sha256");
    let manifest = layers_of(&image);
    for digest in &manifest {
        let path = blobs_dir.join(digest.trim_start_matches("sha256:"));
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, b"not a layer").expect("corrupt blob");
    }
    let after = verdict(&fx, &image, &[], &[all.as_path()]);
    assert_eq!(before.stderr, after.stderr);
    assert_eq!(before.size_report, after.size_report);
    let unrecorded = verdict(&fx, &image, &[], &[]);
    assert_eq!(unrecorded.code, Some(1));
    assert!(
        unrecorded.stderr.contains("layer 0 ("),
        "{}",
        unrecorded.stderr
    );
}

fn layers_of(layout: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("index json");
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("manifest digest")
        .to_string();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(manifest_digest.trim_start_matches("sha256:")),
        )
        .expect("manifest"),
    )
    .expect("manifest json");
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_string())
        .collect()
}

#[test]
fn combined_records_give_the_whole_image_verdicts_on_a_distroless_image() {
    let fx = Fixture::new();
    let base = fx.path("base");
    tools::run_ok(
        pyoci()
            .args(["base", "--debs"])
            .arg(tools::debs_dir())
            .arg("--lock")
            .arg(tools::lock_file())
            .args(["--variant", "nonroot", "-o"])
            .arg(&base),
    );
    let (app_blob, app) = fx.layer(
        "app",
        json!([
            {"path": "/app/main.py", "type": "file", "content": "print('hi')\n"},
            {"path": "/app/config.yaml", "type": "file", "content": "port: 8080\n"},
        ]),
    );
    let image = fx.path("image");
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
    let base_findings = fx.findings("base.json", &[base.as_os_str()]);
    let app_findings = fx.findings("app.json", &["--blob".as_ref(), app_blob.as_os_str()]);
    let whole = verdict(
        &fx,
        &image,
        &["--base".into(), base.display().to_string()],
        &[],
    );
    assert_eq!(whole.code, Some(0), "{whole:?}");
    assert_same_verdicts(
        &fx,
        &base,
        &image,
        &[
            (
                "base and app",
                vec![base_findings.as_path(), app_findings.as_path()],
            ),
            ("base only", vec![base_findings.as_path()]),
        ],
    );
}

#[test]
fn records_for_other_layers_or_limits_are_errors_naming_the_file() {
    let fx = Fixture::new();
    let (_, image, blobs) = hostile(&fx);
    let (other_blob, _) = fx.layer(
        "other",
        json!([{"path": "/elsewhere.txt", "type": "file", "content": "x\n"}]),
    );
    let other = fx.findings("other.json", &["--blob".as_ref(), other_blob.as_os_str()]);
    let out = tools::output(
        pyoci()
            .arg("check")
            .arg(&image)
            .arg("--layer-findings")
            .arg(&other),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&other.display().to_string())
            && err.contains("not a layer of the checked image"),
        "{err}"
    );

    let small = fx.path("small.json");
    tools::run_ok(
        pyoci()
            .args(["check-layer", "--max-scan-size", "10", "--blob"])
            .arg(&blobs[2])
            .arg("-o")
            .arg(&small),
    );
    let out = tools::output(
        pyoci()
            .arg("check")
            .arg(&image)
            .arg("--layer-findings")
            .arg(&small),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--max-scan-size"),
        "{}",
        text(&out.stderr)
    );

    let broken = fx.path("broken.json");
    std::fs::write(&broken, "{\"format\": \"something else\", \"layers\": []}").expect("write");
    let out = tools::output(
        pyoci()
            .arg("check")
            .arg(&image)
            .arg("--layer-findings")
            .arg(&broken),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&broken.display().to_string()),
        "{}",
        text(&out.stderr)
    );

    // check-layer writes nothing when the blob is not a layer.
    let garbage = fx.path("garbage.tar.gz");
    std::fs::write(&garbage, [0x1f, 0x8b, 0, 1, 2, 3]).expect("write");
    let out_path = fx.path("garbage.json");
    let out = tools::output(
        pyoci()
            .args(["check-layer", "--blob"])
            .arg(&garbage)
            .arg("-o")
            .arg(&out_path),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_path.exists());
}
