//! The same inputs give the same bytes: whatever the directory, umask, file mtimes or the order
//! files were created in.

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use pyoci::*;
use tools::{debs_dir, lock_file, tree_contents};

/// One build environment: where it runs, its umask, and how its source files come to be.
struct Setup {
    umask: &'static str,
    reverse_creation: bool,
    mtime: SystemTime,
    file_mode: u32,
    exec_mode: u32,
}

const FILES: [(&str, &str, bool); 5] = [
    ("main.py", "from pkg import util\nutil.run()\n", false),
    ("pkg/__init__.py", "", false),
    ("pkg/util.py", "def run():\n    print('hello')\n", false),
    ("data/config.yaml", "level: info\n", false),
    ("bin/run", "#!/usr/bin/python3\nimport main\n", true),
];

/// pyoci run under a given umask, as a different user session would.
fn pyoci_with_umask(umask: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_pyoci"))
        .env_remove("SOURCE_DATE_EPOCH");
    command
}

fn write_sources(src: &Path, setup: &Setup) {
    let mut files: Vec<_> = FILES.to_vec();
    if setup.reverse_creation {
        files.reverse();
    }
    for (name, content, executable) in files {
        let path = src.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
        }
        fs::write(&path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mode = if executable { setup.exec_mode } else { setup.file_mode };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap_or_else(|e| panic!("{e}"));
        let file = fs::File::options().write(true).open(&path).unwrap_or_else(|e| panic!("{e}"));
        file.set_modified(setup.mtime).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Base, app layer, image and tarball, all built in `dir`. Returns (image layout, digest, tarball).
fn build_everything(dir: &Path, setup: &Setup) -> (PathBuf, String, PathBuf, PathBuf) {
    let src = dir.join("src");
    write_sources(&src, setup);
    let base = dir.join("base");
    pyoci_ok(
        pyoci_with_umask(setup.umask)
            .args(["base", "--variant", "nonroot", "--debs"])
            .arg(debs_dir())
            .arg("--lock")
            .arg(lock_file())
            .arg("-o")
            .arg(&base),
    );
    let blob = dir.join("app.tar.gz");
    let descriptor = dir.join("app.json");
    pyoci_ok(
        pyoci_with_umask(setup.umask)
            .args(["layer", "--dir"])
            .arg(&src)
            .args(["--prefix", "/app", "-o"])
            .arg(&blob)
            .arg("--descriptor-out")
            .arg(&descriptor),
    );
    let image = dir.join("image");
    let digest_file = dir.join("image.digest");
    pyoci_ok(
        pyoci_with_umask(setup.umask)
            .args(["image", "--base"])
            .arg(&base)
            .arg("--layer")
            .arg(format!("{}={}", blob.display(), descriptor.display()))
            .args(["--env", "LOG_LEVEL=INFO", "--label", "org.opencontainers.image.version=1.0.0"])
            .args(["--entrypoint", r#"["/usr/bin/python3", "/app/main.py"]"#, "--port", "8080"])
            .arg("-o")
            .arg(&image)
            .arg("--digest-out")
            .arg(&digest_file),
    );
    let tarball = dir.join("image.tar");
    pyoci_ok(
        pyoci_with_umask(setup.umask)
            .args(["tarball", "--image"])
            .arg(&image)
            .args(["--tag", "localhost/reproducible:1.0", "-o"])
            .arg(&tarball),
    );
    let digest = fs::read_to_string(&digest_file).unwrap_or_else(|e| panic!("{e}"));
    (image, digest, tarball, blob)
}

#[test]
fn same_inputs_in_different_directories_give_identical_bytes() {
    let first = tempfile::Builder::new().prefix("pyoci-repro-a-").tempdir().unwrap_or_else(|e| panic!("{e}"));
    let second_parent = tempfile::Builder::new().prefix("pyoci-repro-b-").tempdir().unwrap_or_else(|e| panic!("{e}"));
    let second = second_parent.path().join("deeper/elsewhere");
    fs::create_dir_all(&second).unwrap_or_else(|e| panic!("{e}"));

    let (image_a, digest_a, tar_a, blob_a) = build_everything(
        first.path(),
        &Setup {
            umask: "022",
            reverse_creation: false,
            mtime: SystemTime::now(),
            file_mode: 0o644,
            exec_mode: 0o755,
        },
    );
    let (image_b, digest_b, tar_b, blob_b) = build_everything(
        &second,
        &Setup {
            umask: "077",
            reverse_creation: true,
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890),
            file_mode: 0o600,
            exec_mode: 0o700,
        },
    );

    assert_eq!(digest_a, digest_b);
    assert!(digest_a.starts_with("sha256:") && !digest_a.ends_with('\n'));
    assert_eq!(fs::read(&blob_a).ok(), fs::read(&blob_b).ok(), "app layer blobs differ");
    let tree_a = tree_contents(&image_a);
    let tree_b = tree_contents(&image_b);
    assert_eq!(tree_a.keys().collect::<Vec<_>>(), tree_b.keys().collect::<Vec<_>>());
    for (path, bytes) in &tree_a {
        assert!(tree_b.get(path) == Some(bytes), "{} differs", path.display());
    }
    assert_eq!(tree_a.len(), 7, "oci-layout, index.json, manifest, config and 3 layers: {:?}", tree_a.keys());
    assert!(fs::read(&tar_a).ok() == fs::read(&tar_b).ok(), "docker tarballs differ");

    // Files we write stay readable under a restrictive umask.
    for file in ["index.json", "oci-layout"] {
        let mode = fs::metadata(image_b.join(file)).map(|m| m.permissions().mode()).unwrap_or(0);
        assert_eq!(mode & 0o777, 0o644, "{file}");
    }
}

#[test]
fn every_base_variant_builds_to_the_same_digest_twice() {
    let dir = tempfile::Builder::new().prefix("pyoci-repro-bases-").tempdir().unwrap_or_else(|e| panic!("{e}"));
    for variant in ["base", "nonroot", "debug", "debug-nonroot"] {
        let mut digests = Vec::new();
        for (attempt, umask) in [(1, "022"), (2, "077")] {
            let out = dir.path().join(format!("{variant}-{attempt}/layout"));
            let digest = pyoci_ok(
                pyoci_with_umask(umask)
                    .args(["base", "--variant", variant, "--debs"])
                    .arg(debs_dir())
                    .arg("--lock")
                    .arg(lock_file())
                    .arg("-o")
                    .arg(&out),
            );
            digests.push(digest.trim().to_owned());
        }
        eprintln!("{variant}: {}", digests[0]);
        assert_eq!(digests[0], digests[1], "{variant} is not reproducible");
    }
}

#[test]
fn source_date_epoch_moves_created_and_mtimes_reproducibly() {
    let dir = tempfile::Builder::new().prefix("pyoci-repro-sde-").tempdir().unwrap_or_else(|e| panic!("{e}"));
    let layer = build_app_layer(dir.path());
    let build = |name: &str, epoch: Option<&str>| -> String {
        let mut command = pyoci();
        if let Some(epoch) = epoch {
            command.env("SOURCE_DATE_EPOCH", epoch);
        }
        pyoci_ok(command.args(["image", "--layer", &layer, "-o"]).arg(dir.path().join(name)))
            .trim()
            .to_owned()
    };
    let unset = build("unset", None);
    let first = build("first", Some("1700000000"));
    let second = build("second", Some("1700000000"));
    assert_eq!(first, second);
    assert_ne!(first, unset);
    assert_eq!(config_of(&dir.path().join("first"))["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config_of(&dir.path().join("unset"))["created"], "1970-01-01T00:00:00Z");
}
