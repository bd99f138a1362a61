//! `pyoci image`, `index`, `tarball`, `inspect` and `base` through the real binary: what they
//! write, and how they refuse bad input (non-zero exit, the path named, nothing at -o).

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pyoci::*;
use serde_json::json;
use tools::{debs_dir, lock_file, require_tool, run_ok};

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pyoci-image-cli-")
        .tempdir()
        .unwrap_or_else(|e| panic!("temp dir: {e}"))
}

/// A small scratch image with one layer and a config, used as a base by several tests.
fn scratch_base(dir: &Path) -> PathBuf {
    let layer = build_app_layer(dir);
    let base = dir.join("scratch-base");
    pyoci_ok(
        pyoci()
            .args(["image", "--layer", &layer])
            .args(["--env", "PATH=/usr/bin", "--env", "LANG=C", "--label", "base=yes"])
            .args(["--entrypoint", r#"["/usr/bin/python3"]"#, "--cmd", r#"["--version"]"#])
            .args(["--port", "80", "--volume", "/base-data"])
            .arg("-o")
            .arg(&base),
    );
    base
}

#[test]
fn help_of_every_image_command_documents_every_flag() {
    for command in ["image", "index", "tarball", "load", "inspect", "base", "check-layer"] {
        let help = pyoci_ok(pyoci().args([command, "--help"]));
        let lines: Vec<&str> = help
            .lines()
            .skip_while(|l| *l != "Options:")
            .take_while(|l| l.is_empty() || l.starts_with(' ') || *l == "Options:")
            .collect();
        assert!(lines.len() > 4, "`pyoci {command} --help` has no options section:\n{help}");
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_option = trimmed.starts_with("--") || (trimmed.starts_with('-') && trimmed.get(2..4) == Some(", "));
            if is_option && line.starts_with("  ") {
                let documented = lines.get(i + 1).is_some_and(|next| !next.trim().is_empty());
                assert!(documented, "`pyoci {command} --help`: {trimmed} has no description\n{help}");
            }
        }
        assert!(help.len() > 600, "`pyoci {command} --help` is too thin:\n{help}");
    }
}

#[test]
fn image_config_follows_flags_and_config_json() {
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let config_json = dir.path().join("config.json");
    fs::write(
        &config_json,
        json!({
            "env": {"LANG": "C.UTF-8", "APP_MODE": "file"},
            "labels": {"from": "file", "org.opencontainers.image.version": "0.1"},
            "annotations": {"org.opencontainers.image.source": "https://example.com/repo"},
            "entrypoint": ["/usr/bin/python3", "/app/main.py"],
            "user": "65532",
            "workdir": "/app",
            "exposedPorts": ["8080/tcp"],
            "volumes": ["/data"],
            "stopSignal": "SIGINT",
            "healthcheck": {"test": ["CMD", "python3", "-c", "print(1)"], "interval": "30s",
                            "timeout": "5s", "startPeriod": "1s", "retries": 3}
        })
        .to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let image = dir.path().join("image");
    let digest_out = dir.path().join("digest");
    let stdout = pyoci_ok(
        pyoci()
            .args(["image", "--base"])
            .arg(&base)
            .arg("--config-json")
            .arg(&config_json)
            .args(["--env", "APP_MODE=flag", "--label", "org.opencontainers.image.version=1.0.0"])
            .args(["--port", "9090/udp", "--ref-name", "v1"])
            .arg("-o")
            .arg(&image)
            .arg("--digest-out")
            .arg(&digest_out),
    );
    let digest = fs::read_to_string(&digest_out).unwrap_or_default();
    assert_eq!(stdout.trim(), digest);

    let index = read_json(&image.join("index.json"));
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "v1");
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    let (_, manifest) = manifest_of(&image);
    let (base_digest, base_manifest) = manifest_of(&base);
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.source"], "https://example.com/repo");
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.digest"], base_digest.as_str());
    assert_eq!(manifest["layers"], base_manifest["layers"], "no layers given: the base's, unchanged");

    let config = config_of(&image);
    let c = &config["config"];
    assert_eq!(c["Env"], json!(["PATH=/usr/bin", "LANG=C.UTF-8", "APP_MODE=flag"]));
    assert_eq!(c["Labels"], json!({"base": "yes", "from": "file", "org.opencontainers.image.version": "1.0.0"}));
    assert_eq!(c["Entrypoint"], json!(["/usr/bin/python3", "/app/main.py"]));
    assert!(c.get("Cmd").is_none(), "a new entrypoint drops the base's cmd: {c}");
    assert_eq!(c["User"], "65532");
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "8080/tcp": {}, "9090/udp": {}}));
    assert_eq!(c["Volumes"], json!({"/base-data": {}, "/data": {}}));
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"],
        json!({"Test": ["CMD", "python3", "-c", "print(1)"], "Interval": 30_000_000_000u64,
               "Timeout": 5_000_000_000u64, "StartPeriod": 1_000_000_000u64, "Retries": 3})
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().map(Vec::len), Some(1));

    let text = pyoci_ok(pyoci().arg("inspect").arg(format!("{}:v1", image.display())));
    for expected in [digest.as_str(), "User        65532", "APP_MODE=flag", "9090/udp", "Healthcheck", "Total size"] {
        assert!(text.contains(expected), "inspect output lacks {expected:?}:\n{text}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&pyoci_ok(pyoci().arg("inspect").arg(&image).args(["--format", "json"])))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["manifestDigest"], digest.as_str());
    assert_eq!(report["config"]["user"], "65532");
    let layer_size = manifest["layers"][0]["size"].as_u64().unwrap_or(0);
    assert_eq!(report["layersSize"].as_u64(), Some(layer_size));
}

#[test]
fn stamping_substitutes_labels_and_sets_created() {
    let dir = temp_dir();
    let layer = build_app_layer(dir.path());
    let stable = dir.path().join("stable-status.txt");
    let volatile = dir.path().join("volatile-status.txt");
    fs::write(&stable, "BUILD_SCM_REVISION abc123\nSTABLE_VERSION 2.0.1\n").unwrap_or_else(|e| panic!("{e}"));
    fs::write(&volatile, "BUILD_TIMESTAMP 1700000000\n").unwrap_or_else(|e| panic!("{e}"));
    let image = dir.path().join("image");
    pyoci_ok(
        pyoci()
            .args(["image", "--layer", &layer])
            .args(["--label", "org.opencontainers.image.revision={BUILD_SCM_REVISION}"])
            .args(["--annotation", "org.opencontainers.image.version=v{STABLE_VERSION}-{UNKNOWN}"])
            .arg("--stamp-info")
            .arg(&stable)
            .arg("--stamp-info")
            .arg(&volatile)
            .arg("-o")
            .arg(&image),
    );
    let config = config_of(&image);
    assert_eq!(config["config"]["Labels"]["org.opencontainers.image.revision"], "abc123");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["history"][0]["created"], "2023-11-14T22:13:20Z");
    let (_, manifest) = manifest_of(&image);
    assert_eq!(manifest["annotations"]["org.opencontainers.image.version"], "v2.0.1-{UNKNOWN}");
}

#[test]
fn base_blobs_are_hard_linked_and_outputs_replaced_whole() {
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let image = dir.path().join("image");
    fs::create_dir_all(image.join("stale")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(image.join("stale/file"), "old").unwrap_or_else(|e| panic!("{e}"));
    pyoci_ok(pyoci().args(["image", "--base"]).arg(&base).args(["--env", "X=1", "-o"]).arg(&image));
    assert!(!image.join("stale").exists(), "the previous output was replaced, not merged");
    let (_, manifest) = manifest_of(&image);
    let layer = manifest["layers"][0]["digest"].as_str().unwrap_or_default();
    let inode = |layout: &Path| fs::metadata(blob_path(layout, layer)).map(|m| m.ino()).unwrap_or(0);
    assert_eq!(inode(&base), inode(&image), "base layer blob is a hard link, not a copy");
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pyoci-"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn an_image_without_its_base_blobs_reads_whole_through_blobs_from() {
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let second = dir.path().join("second");
    fs::create_dir_all(&second).unwrap_or_else(|e| panic!("{e}"));
    let (_, layer) = spec_layer(&mut pyoci(), &second, "config", json!([{"path": "/etc/app.conf", "type": "file", "content": "x=1\n"}]));
    let whole = dir.path().join("whole");
    let whole_digest = pyoci_ok(pyoci().args(["image", "--base"]).arg(&base).args(["--layer", &layer, "-o"]).arg(&whole));
    let own = dir.path().join("image.own");
    let own_digest = pyoci_ok(
        pyoci().args(["image", "--omit-base-blobs", "--base"]).arg(&base).args(["--layer", &layer, "-o"]).arg(&own),
    );
    assert_eq!(own_digest, whole_digest, "leaving the base's blobs out changes no byte of the image");
    let (_, manifest) = manifest_of(&own);
    let base_layer = manifest["layers"][0]["digest"].as_str().unwrap_or_default().to_owned();
    assert!(!blob_path(&own, &base_layer).exists(), "the base's layer was linked into the own layout");

    // Alone, the own layout is missing a blob, and readers say which.
    let tar = dir.path().join("image.tar");
    let stderr = pyoci_fails(pyoci().args(["tarball", "--image"]).arg(&own).args(["--tag", "x/y:z", "-o"]).arg(&tar));
    assert!(stderr.contains(&base_layer), "{stderr}");
    assert_nothing_written(&tar);

    // With --blobs-from the base, every reader sees the image whole: the same tarball, the
    // same complete layout.
    pyoci_ok(pyoci().args(["tarball", "--image"]).arg(&own).arg("--blobs-from").arg(&base).args(["--tag", "x/y:z", "-o"]).arg(&tar));
    let whole_tar = dir.path().join("whole.tar");
    pyoci_ok(pyoci().args(["tarball", "--image"]).arg(&whole).args(["--tag", "x/y:z", "-o"]).arg(&whole_tar));
    assert_eq!(fs::read(&tar).unwrap_or_default(), fs::read(&whole_tar).unwrap_or_default());
    let complete = dir.path().join("complete");
    pyoci_ok(pyoci().args(["layout", "--image"]).arg(&own).arg("--blobs-from").arg(&base).arg("-o").arg(&complete));
    let names = |layout: &Path| -> BTreeSet<String> {
        fs::read_dir(layout.join("blobs/sha256"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&complete), names(&whole));
    let inode = |layout: &Path| fs::metadata(blob_path(layout, &base_layer)).map(|m| m.ino()).unwrap_or(0);
    assert_eq!(inode(&complete), inode(&base), "the complete layout links the base's blob");

    // An image on an image: its base is an own layout, whose blobs come from further down.
    let top = dir.path().join("top.own");
    let top_digest = pyoci_ok(
        pyoci()
            .args(["image", "--omit-base-blobs", "--base"])
            .arg(&own)
            .arg("--blobs-from")
            .arg(&base)
            .args(["--env", "TOP=1", "-o"])
            .arg(&top),
    );
    pyoci_ok(pyoci().arg("inspect").arg(&complete));
    let top_complete = dir.path().join("top");
    pyoci_ok(
        pyoci().args(["layout", "--image"]).arg(&top).arg("--blobs-from").arg(&own).arg("--blobs-from").arg(&base).arg("-o").arg(&top_complete),
    );
    let (top_manifest_digest, top_manifest) = manifest_of(&top_complete);
    assert_eq!(top_manifest_digest, top_digest.trim());
    assert_eq!(top_manifest["layers"].as_array().map(Vec::len), Some(2));

    // A blob source that is not a layout is named; a blob missing everywhere too, and
    // nothing is written.
    let not_a_layout = dir.path().join("second");
    let out = dir.path().join("out");
    let stderr = pyoci_fails(pyoci().args(["layout", "--image"]).arg(&own).arg("--blobs-from").arg(&not_a_layout).arg("-o").arg(&out));
    assert!(stderr.contains(&not_a_layout.display().to_string()), "{stderr}");
    assert_nothing_written(&out);
    let stderr = pyoci_fails(pyoci().args(["layout", "--image"]).arg(&top).arg("--blobs-from").arg(&own).arg("-o").arg(&out));
    assert!(stderr.contains(&base_layer), "{stderr}");
    assert_nothing_written(&out);
}

#[test]
fn an_image_without_its_layer_blobs_reads_whole_through_blob_files() {
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let layers = dir.path().join("layers");
    fs::create_dir_all(&layers).unwrap_or_else(|e| panic!("{e}"));
    let (blob, layer) = spec_layer(&mut pyoci(), &layers, "app", json!([{"path": "/app/main.py", "type": "file", "content": "print(1)\n"}]));
    let whole = dir.path().join("whole");
    let whole_digest = pyoci_ok(pyoci().args(["image", "--base"]).arg(&base).args(["--layer", &layer, "-o"]).arg(&whole));
    let own = dir.path().join("image.own");
    let own_digest = pyoci_ok(
        pyoci()
            .args(["image", "--omit-base-blobs", "--omit-layer-blobs", "--trust-layer-descriptors", "--base"])
            .arg(&base)
            .args(["--layer", &layer, "-o"])
            .arg(&own),
    );
    assert_eq!(own_digest, whole_digest, "leaving the layers' blobs out changes no byte of the image");
    let (manifest_digest, manifest) = manifest_of(&own);
    let config = manifest["config"]["digest"].as_str().unwrap_or_default().to_owned();
    let present: BTreeSet<String> = fs::read_dir(own.join("blobs/sha256"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
        .collect();
    assert_eq!(present, BTreeSet::from([manifest_digest, config]), "only the manifest and config are written");

    // Every reader sees the whole image through the layer's file and the base's layout.
    let tar = dir.path().join("image.tar");
    let read_whole = |command: &mut std::process::Command| {
        command.args(["--blob", &layer]).arg("--blobs-from").arg(&base);
    };
    let mut tarball = pyoci();
    tarball.args(["tarball", "--image"]).arg(&own).args(["--tag", "x/y:z", "-o"]).arg(&tar);
    read_whole(&mut tarball);
    pyoci_ok(&mut tarball);
    let whole_tar = dir.path().join("whole.tar");
    pyoci_ok(pyoci().args(["tarball", "--image"]).arg(&whole).args(["--tag", "x/y:z", "-o"]).arg(&whole_tar));
    assert_eq!(fs::read(&tar).unwrap_or_default(), fs::read(&whole_tar).unwrap_or_default());
    // A layout of the layer's blob alone (what py_image gives each layer) serves the same.
    let blob_layout = dir.path().join("app.blob");
    pyoci_ok(pyoci().args(["layout", "--blob", &layer, "-o"]).arg(&blob_layout));
    let from_blob_layout = dir.path().join("from-blob-layout.tar");
    pyoci_ok(
        pyoci()
            .args(["tarball", "--image"])
            .arg(&own)
            .arg("--blobs-from")
            .arg(&blob_layout)
            .arg("--blobs-from")
            .arg(&base)
            .args(["--tag", "x/y:z", "-o"])
            .arg(&from_blob_layout),
    );
    assert_eq!(fs::read(&from_blob_layout).unwrap_or_default(), fs::read(&whole_tar).unwrap_or_default());
    let mut check = pyoci();
    check.args(["check", "--allow-root"]).arg(&own);
    read_whole(&mut check);
    pyoci_ok(&mut check);

    // A blob file that is not what its descriptor says, or an argument without its
    // descriptor, is named, and nothing is written.
    let out = dir.path().join("out");
    let (_, descriptor) = layer.split_once('=').unwrap_or_default();
    let longer = layers.join("longer.tar.gz");
    let mut bytes = fs::read(&blob).unwrap_or_default();
    bytes.push(0);
    fs::write(&longer, bytes).unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(
        pyoci()
            .args(["layout", "--image"])
            .arg(&own)
            .arg("--blob")
            .arg(format!("{}={descriptor}", longer.display()))
            .arg("--blobs-from")
            .arg(&base)
            .arg("-o")
            .arg(&out),
    );
    assert!(stderr.contains(&longer.display().to_string()), "{stderr}");
    assert_nothing_written(&out);
    let stderr = pyoci_fails(pyoci().args(["layout", "--image"]).arg(&own).arg("--blob").arg(&blob).arg("-o").arg(&out));
    assert!(stderr.contains("BLOB=DESCRIPTOR"), "{stderr}");
    assert_nothing_written(&out);
}

#[test]
fn index_lists_platforms_and_refuses_duplicates() {
    let dir = temp_dir();
    let layer = build_app_layer(dir.path());
    for platform in ["linux/amd64", "linux/arm64"] {
        let out = dir.path().join(platform.replace('/', "-"));
        pyoci_ok(pyoci().args(["image", "--platform", platform, "--layer", &layer, "-o"]).arg(&out));
    }
    let index = dir.path().join("index");
    let digest = pyoci_ok(
        pyoci()
            .args(["index", "--image"])
            .arg(dir.path().join("linux-amd64"))
            .arg("--image")
            .arg(format!("{}:latest", dir.path().join("linux-arm64").display()))
            .arg("-o")
            .arg(&index),
    );
    let top = read_json(&index.join("index.json"));
    assert_eq!(top["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(top["manifests"][0]["digest"], digest.trim());
    let nested = read_json(&blob_path(&index, digest.trim()));
    let platforms: Vec<String> = nested["manifests"]
        .as_array()
        .map(|m| m.iter().map(|d| format!("{}/{}", d["platform"]["os"], d["platform"]["architecture"])).collect())
        .unwrap_or_default();
    assert_eq!(platforms, ["\"linux\"/\"amd64\"", "\"linux\"/\"arm64\""]);
    // inspect resolves a multi-platform layout to linux/amd64.
    let report = pyoci_ok(pyoci().arg("inspect").arg(&index));
    assert!(report.contains("linux/amd64"), "{report}");

    let duplicate = dir.path().join("duplicate");
    let stderr = pyoci_fails(
        pyoci()
            .args(["index", "--image"])
            .arg(dir.path().join("linux-amd64"))
            .arg("--image")
            .arg(dir.path().join("linux-amd64"))
            .arg("-o")
            .arg(&duplicate),
    );
    assert!(stderr.contains("linux/amd64"), "{stderr}");
    assert_nothing_written(&duplicate);
}

#[test]
fn tarball_is_deterministic_and_shaped_like_docker_save() {
    require_tool("bsdtar");
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let first = dir.path().join("first.tar");
    let second = dir.path().join("second.tar");
    for out in [&first, &second] {
        pyoci_ok(
            pyoci()
                .args(["tarball", "--image"])
                .arg(&base)
                .args(["--tag", "localhost/app:1.0", "--tag", "app", "-o"])
                .arg(out),
        );
    }
    assert!(fs::read(&first).ok() == fs::read(&second).ok());
    let listing = list_layer(&first);
    let names = layer_names(&first);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "members are sorted");
    for name in ["oci-layout", "index.json", "manifest.json", "blobs/sha256"] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    assert!(listing.iter().all(|l| l.split(' ').nth(2) == Some("0") && l.split(' ').nth(3) == Some("0")), "{listing:?}");
    assert!(listing.iter().all(|l| l.contains(" Jan 1 1970 ")), "mtime 0: {listing:?}");
    let manifest_json: serde_json::Value =
        serde_json::from_slice(&layer_file(&first, "manifest.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest_json[0]["RepoTags"], json!(["localhost/app:1.0", "app:latest"]));
    assert!(manifest_json[0]["Config"].as_str().is_some_and(|c| c.starts_with("blobs/sha256/")));
    let index: serde_json::Value =
        serde_json::from_slice(&layer_file(&first, "index.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(index["manifests"][1]["annotations"]["io.containerd.image.name"], "docker.io/library/app:latest");
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1.0");
}

#[test]
fn base_variants_have_the_distroless_contents() {
    let dir = temp_dir();
    let nonroot = dir.path().join("nonroot");
    build_base("nonroot", &nonroot);
    let config = config_of(&nonroot);
    assert_eq!(config["config"]["User"], "65532");
    assert_eq!(config["config"]["WorkingDir"], "/home/nonroot");
    assert_eq!(config["config"]["Entrypoint"], json!(["/usr/bin/python3.11"]));
    assert_eq!(
        config["config"]["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "LANG=C.UTF-8"
        ])
    );
    let (_, manifest) = manifest_of(&nonroot);
    let layers: Vec<PathBuf> = manifest["layers"]
        .as_array()
        .map(|l| l.iter().map(|d| blob_path(&nonroot, d["digest"].as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    assert_eq!(layers.len(), 2);

    let packages = layer_names(&layers[0]);
    let statuses: BTreeSet<&str> = packages
        .iter()
        .filter_map(|n| n.strip_prefix("var/lib/dpkg/status.d/"))
        .filter(|n| !n.ends_with(".md5sums"))
        .collect();
    let lock = read_json(&lock_file());
    let expected: BTreeSet<&str> = lock["packages"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["name"].as_str()).filter(|n| *n != "busybox-static").collect())
        .unwrap_or_default();
    assert_eq!(statuses, expected, "one status.d entry per package, busybox-static left out");
    let status = String::from_utf8_lossy(&layer_file(&layers[0], "var/lib/dpkg/status.d/libc6")).into_owned();
    assert!(status.starts_with("Package: libc6\nStatus: install ok installed\n"), "{status}");

    let files = list_layer(&layers[1]);
    let line = |name: &str| {
        files
            .iter()
            .find(|l| l.split_whitespace().nth(8).map(|n| n.trim_start_matches("./").trim_end_matches('/')) == Some(name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in the distroless layer: {files:#?}"))
    };
    assert!(line("tmp").starts_with("drwxrwxrwt"), "{}", line("tmp"));
    assert!(line("root").starts_with("drwx------ 0 0 0"), "{}", line("root"));
    assert!(line("home/nonroot").starts_with("drwx------ 0 65532 65532"), "{}", line("home/nonroot"));
    assert!(line("usr/bin/python3").ends_with("-> python3.11"));
    assert!(line("usr/bin/python").ends_with("-> python3.11"));
    assert!(line("etc/os-release").ends_with("-> ../usr/lib/os-release"));
    let passwd = String::from_utf8_lossy(&layer_file(&layers[1], "etc/passwd")).into_owned();
    assert!(passwd.contains("root:x:0:0:root:/root:/sbin/nologin\n"));
    assert!(passwd.contains("nobody:x:65534:65534:"));
    assert!(passwd.contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"));
    let group = String::from_utf8_lossy(&layer_file(&layers[1], "etc/group")).into_owned();
    assert!(group.contains("nonroot:x:65532:"));
    assert!(String::from_utf8_lossy(&layer_file(&layers[1], "etc/nsswitch.conf")).contains("hosts:"));
    assert!(String::from_utf8_lossy(&layer_file(&layers[1], "usr/lib/os-release")).contains("VERSION_ID=\"12\""));

    // The CA bundle is every mozilla certificate of the package, concatenated in sorted order.
    let bundle = layer_file(&layers[1], "etc/ssl/certs/ca-certificates.crt");
    let deb = fs::read_dir(debs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ca-certificates_")))
        .unwrap_or_else(|| panic!("no ca-certificates deb"));
    let extracted = dir.path().join("ca");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted));
    let mut certs: Vec<PathBuf> = fs::read_dir(extracted.join("usr/share/ca-certificates/mozilla"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    certs.sort();
    let mut expected_bundle = Vec::new();
    for cert in &certs {
        let mut pem = fs::read(cert).unwrap_or_default();
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        expected_bundle.extend(pem);
    }
    assert!(certs.len() > 100);
    assert!(bundle == expected_bundle, "CA bundle differs from the package's certificates");
}

/// What must never be in a non-debug base: a shell or a package manager.
const FORBIDDEN: [&str; 12] = [
    "bin/sh", "bin/bash", "bin/dash", "bin/busybox", "usr/bin/sh", "usr/bin/bash", "usr/bin/dpkg",
    "usr/bin/apt", "usr/bin/apt-get", "usr/bin/perl", "sbin/apk", "busybox",
];

#[test]
fn only_debug_variants_have_a_shell_and_busybox_applets_match_busybox_list() {
    let dir = temp_dir();
    for variant in ["base", "nonroot"] {
        let layout = dir.path().join(variant);
        build_base(variant, &layout);
        let (_, manifest) = manifest_of(&layout);
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            let names = layer_names(&blob_path(&layout, layer["digest"].as_str().unwrap_or_default()));
            for name in &names {
                assert!(!FORBIDDEN.contains(&name.as_str()), "{variant} contains {name}");
                assert!(!name.starts_with("busybox/"), "{variant} contains {name}");
            }
        }
        let user = &config_of(&layout)["config"]["User"];
        assert_eq!(user, if variant == "base" { "0" } else { "65532" });
    }

    let debug = dir.path().join("debug");
    build_base("debug", &debug);
    let config = config_of(&debug);
    assert!(config["config"]["Env"][0].as_str().is_some_and(|p| p.ends_with(":/busybox")));
    assert_eq!(config["config"]["WorkingDir"], "/");
    let (_, manifest) = manifest_of(&debug);
    let busybox_layer = blob_path(&debug, manifest["layers"][2]["digest"].as_str().unwrap_or_default());
    let listing = list_layer(&busybox_layer);
    let applets: BTreeSet<String> = listing
        .iter()
        .filter(|l| l.ends_with("-> busybox"))
        .filter_map(|l| l.split_whitespace().nth(8))
        .filter_map(|n| n.trim_start_matches("./").strip_prefix("busybox/"))
        .map(str::to_owned)
        .collect();
    assert!(
        listing.iter().any(|l| l.contains("busybox/busybox link to bin/busybox")),
        "/busybox/busybox is a hard link to /bin/busybox: {listing:#?}"
    );

    // The applet list read from the binary matches what the binary itself says.
    let deb = fs::read_dir(debs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("busybox-static_")))
        .unwrap_or_else(|| panic!("no busybox-static deb"));
    let extracted = dir.path().join("busybox-static");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&extracted));
    let listed = run_ok(Command::new(extracted.join("bin/busybox")).arg("--list"));
    let expected: BTreeSet<String> = listed.lines().filter(|a| *a != "busybox").map(str::to_owned).collect();
    assert_eq!(applets, expected);
    assert!(applets.contains("sh") && applets.contains("ls"));
}

#[test]
fn lock_file_pins_the_shared_debs() {
    let dir = temp_dir();
    let lock = read_json(&lock_file());
    let packages = lock["packages"].as_array().cloned().unwrap_or_default();
    assert_eq!(lock["distribution"], "bookworm");
    assert_eq!(lock["architecture"], "amd64");
    assert_eq!(packages.len(), 39);

    // Regenerating from the .debs gives the same packages, versions and hashes; the archive
    // paths differ only where apt knows a security update's real place (pool/updates/...).
    let generated_path = dir.path().join("lock.json");
    pyoci_ok(pyoci().args(["base", "--debs"]).arg(debs_dir()).arg("--write-lock").arg(&generated_path));
    let generated = read_json(&generated_path);
    let generated_packages = generated["packages"].as_array().cloned().unwrap_or_default();
    assert_eq!(generated_packages.len(), packages.len());
    for (ours, fresh) in packages.iter().zip(&generated_packages) {
        for key in ["name", "version", "architecture", "sha256"] {
            assert_eq!(ours[key], fresh[key], "{key} of {}", ours["name"]);
        }
        let committed = ours["filename"].as_str().unwrap_or_default();
        let derived = fresh["filename"].as_str().unwrap_or_default();
        assert!(
            committed == derived || committed == derived.replacen("pool/main/", "pool/updates/main/", 1),
            "{committed} vs {derived}"
        );
    }
    assert_eq!(
        packages.iter().find(|p| p["name"] == "libc6").map(|p| p["filename"].clone()),
        Some(json!("pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb"))
    );
}

#[test]
fn lock_verification_and_conflicting_packages_fail_clearly() {
    require_tool("dpkg-deb");
    let dir = temp_dir();
    let debs = dir.path().join("debs");
    fs::create_dir_all(&debs).unwrap_or_else(|e| panic!("{e}"));
    let lock: serde_json::Value = read_json(&lock_file());

    // A lock entry whose .deb is missing names the package and the file looked for.
    let output = dir.path().join("missing-out");
    let stderr = pyoci_fails(
        pyoci()
            .args(["base", "--variant", "nonroot", "--debs"])
            .arg(&debs)
            .arg("--lock")
            .arg(lock_file())
            .arg("-o")
            .arg(&output),
    );
    assert!(stderr.contains("base-files") && stderr.contains(&debs.display().to_string()), "{stderr}");
    assert_nothing_written(&output);

    // A .deb whose bytes differ from the lock's sha256 is named, with both hashes.
    let first = &lock["packages"][0];
    let name = first["filename"].as_str().and_then(|f| f.rsplit('/').next()).unwrap_or_default();
    fs::write(debs.join(name), b"not the locked bytes").unwrap_or_else(|e| panic!("{e}"));
    let one_package_lock = dir.path().join("one.lock.json");
    let mut one = lock.clone();
    one["packages"] = json!([first]);
    fs::write(&one_package_lock, one.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(
        pyoci()
            .args(["base", "--variant", "base", "--debs"])
            .arg(&debs)
            .arg("--lock")
            .arg(&one_package_lock)
            .arg("-o")
            .arg(&output),
    );
    assert!(stderr.contains(name) && stderr.contains(first["sha256"].as_str().unwrap_or("?")), "{stderr}");
    assert_nothing_written(&output);

    // Two packages putting different files at one path: both packages are named.
    let conflict_dir = dir.path().join("conflict");
    fs::create_dir_all(&conflict_dir).unwrap_or_else(|e| panic!("{e}"));
    for (package, content) in [("pkga", "from a"), ("pkgb", "from b")] {
        let root = dir.path().join(package);
        fs::create_dir_all(root.join("DEBIAN")).unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(root.join("usr/share/shared")).unwrap_or_else(|e| panic!("{e}"));
        fs::write(
            root.join("DEBIAN/control"),
            format!("Package: {package}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@example.com>\nDescription: test\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        fs::write(root.join("usr/share/shared/file"), content).unwrap_or_else(|e| panic!("{e}"));
        run_ok(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "--build"])
                .arg(&root)
                .arg(conflict_dir.join(format!("{package}_1.0_amd64.deb"))),
        );
    }
    let stderr = pyoci_fails(
        pyoci()
            .args(["base", "--variant", "base", "--debs"])
            .arg(&conflict_dir)
            .arg("-o")
            .arg(&output),
    );
    assert!(
        stderr.contains("pkga_1.0_amd64.deb") && stderr.contains("pkgb_1.0_amd64.deb") && stderr.contains("/usr/share/shared/file"),
        "{stderr}"
    );
    assert_nothing_written(&output);
}

/// Every bad input: non-zero exit, a message naming the culprit, nothing at the output path.
#[test]
fn bad_input_is_refused_without_writing_anything() {
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let layer = build_app_layer(dir.path());
    let out = dir.path().join("out");

    // A base layout whose layer blob was tampered with.
    let tampered = dir.path().join("tampered");
    run_ok(Command::new("cp").arg("-a").arg(&base).arg(&tampered));
    let (_, manifest) = manifest_of(&tampered);
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap_or_default().to_owned();
    let blob = blob_path(&tampered, &layer_digest);
    let mut bytes = fs::read(&blob).unwrap_or_default();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::remove_file(&blob).unwrap_or_else(|e| panic!("{e}"));
    fs::write(&blob, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(pyoci().args(["image", "--base"]).arg(&tampered).arg("-o").arg(&out));
    assert!(stderr.contains(&blob.display().to_string()) && stderr.contains(&layer_digest), "{stderr}");
    assert_nothing_written(&out);
    let tar_out = dir.path().join("out.tar");
    let stderr = pyoci_fails(
        pyoci().args(["tarball", "--image"]).arg(&tampered).args(["--tag", "app:1", "-o"]).arg(&tar_out),
    );
    assert!(stderr.contains(&blob.display().to_string()), "{stderr}");
    assert_nothing_written(&tar_out);

    // A base config blob that no longer matches its digest.
    let bad_config = dir.path().join("bad-config");
    run_ok(Command::new("cp").arg("-a").arg(&base).arg(&bad_config));
    let (_, manifest) = manifest_of(&bad_config);
    let config_blob = blob_path(&bad_config, manifest["config"]["digest"].as_str().unwrap_or_default());
    fs::remove_file(&config_blob).unwrap_or_else(|e| panic!("{e}"));
    fs::write(&config_blob, b"{}").unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(pyoci().args(["image", "--base"]).arg(&bad_config).arg("-o").arg(&out));
    assert!(stderr.contains(&config_blob.display().to_string()), "{stderr}");
    assert_nothing_written(&out);

    // A directory that is not a layout.
    let stderr = pyoci_fails(pyoci().args(["image", "--base"]).arg(dir.path().join("src")).arg("-o").arg(&out));
    assert!(stderr.contains("not an OCI image layout"), "{stderr}");
    assert_nothing_written(&out);

    // A missing layer file.
    let missing = dir.path().join("no-such-layer.tar.gz");
    let stderr = pyoci_fails(pyoci().arg("image").arg("--layer").arg(&missing).arg("-o").arg(&out));
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert_nothing_written(&out);

    // A layer that does not match its descriptor.
    let (blob_arg, descriptor_arg) = layer.split_once('=').unwrap_or_default();
    let other_blob = dir.path().join("other.tar.gz");
    fs::write(&other_blob, b"\x1f\x8bnot the described layer").unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(
        pyoci()
            .arg("image")
            .arg("--layer")
            .arg(format!("{}={descriptor_arg}", other_blob.display()))
            .arg("-o")
            .arg(&out),
    );
    assert!(stderr.contains(&other_blob.display().to_string()), "{stderr}");
    assert!(!blob_arg.is_empty());
    assert_nothing_written(&out);

    // Bad flag values name the value.
    for (flag, value) in [
        ("--env", "NO_EQUALS_SIGN"),
        ("--port", "http"),
        ("--entrypoint", "/usr/bin/python3"),
        ("--volume", "relative/path"),
        ("--created", "yesterday"),
        ("--user", "a b"),
    ] {
        let stderr = pyoci_fails(pyoci().args(["image", "--layer", &layer, flag, value, "-o"]).arg(&out));
        assert!(stderr.contains(value), "{flag} {value}: {stderr}");
        assert_nothing_written(&out);
    }
    let bad_json = dir.path().join("bad-config.json");
    fs::write(&bad_json, r#"{"env": {"A": "1"}, "entrypiont": ["x"]}"#).unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(pyoci().arg("image").arg("--config-json").arg(&bad_json).arg("-o").arg(&out));
    assert!(stderr.contains(&bad_json.display().to_string()) && stderr.contains("entrypiont"), "{stderr}");
    assert_nothing_written(&out);

    // A bad tag.
    let stderr = pyoci_fails(pyoci().args(["tarball", "--image"]).arg(&base).args(["--tag", "Bad Tag", "-o"]).arg(&tar_out));
    assert!(stderr.contains("Bad Tag"), "{stderr}");
    assert_nothing_written(&tar_out);

    // An unknown base variant.
    let stderr = pyoci_fails(
        pyoci().args(["base", "--variant", "alpine", "--debs"]).arg(debs_dir()).arg("-o").arg(&out),
    );
    assert!(stderr.contains("alpine"), "{stderr}");
    assert_nothing_written(&out);

    // A file in --debs that is named .deb but is not a Debian package.
    let debs = dir.path().join("debs");
    fs::create_dir_all(&debs).unwrap_or_else(|e| panic!("{e}"));
    let junk = debs.join("junk_1.0_amd64.deb");
    fs::write(&junk, b"this is not an ar archive").unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(pyoci().args(["base", "--variant", "nonroot", "--debs"]).arg(&debs).arg("-o").arg(&out));
    assert!(stderr.contains(&junk.display().to_string()), "{stderr}");
    assert_nothing_written(&out);
}

/// Writes a tar with Python's tarfile (an independent writer) from (name, type, mode, uid, link)
/// members; type is one of file, dir, symlink, link, chr, blk.
fn python_tar(path: &Path, members: &[(&str, &str, u32, u32, &str)]) {
    let script = "import io, json, sys, tarfile\n\
        kinds = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, \
                 'link': tarfile.LNKTYPE, 'chr': tarfile.CHRTYPE, 'blk': tarfile.BLKTYPE}\n\
        with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:\n\
        \x20   for name, kind, mode, uid, link in json.loads(sys.argv[2]):\n\
        \x20       info = tarfile.TarInfo(name); info.type = kinds[kind]; info.mode = mode; info.uid = uid\n\
        \x20       info.linkname = link; data = b'x' if kind == 'file' else b''; info.size = len(data)\n\
        \x20       t.addfile(info, io.BytesIO(data))\n";
    let members: Vec<serde_json::Value> = members.iter().map(|m| json!([m.0, m.1, m.2, m.3, m.4])).collect();
    run_ok(Command::new("python3").arg("-c").arg(script).arg(path).arg(serde_json::Value::Array(members).to_string()));
}

#[test]
fn foreign_tarballs_follow_the_rules_of_our_own_layers() {
    let dir = temp_dir();
    let d = dir.path();
    let cases: &[(&str, &[(&str, &str, u32, u32, &str)], &str)] = &[
        ("dotdot", &[("../../etc/cron.d/x", "file", 0o644, 0, "")], "'..'"),
        ("through-symlink", &[("app", "symlink", 0o777, 0, "/etc"), ("app/passwd", "file", 0o644, 0, "")], "symlink /app"),
        ("hardlink-out", &[("app/shadow", "link", 0o644, 0, "/etc/shadow")], "not an earlier regular file"),
        ("device", &[("dev/mem", "chr", 0o666, 0, "")], "character device"),
        ("setuid-root", &[("usr/bin/su", "file", 0o4755, 0, "")], "setuid"),
        ("whiteout", &[("etc/.wh.passwd", "file", 0o644, 0, "")], "whiteout"),
        ("opaque-whiteout", &[("etc/.wh..wh..opq", "file", 0o644, 0, "")], "whiteout"),
    ];
    for (name, members, needle) in cases {
        let tar = d.join(format!("{name}.tar"));
        python_tar(&tar, members);
        let out = d.join(format!("{name}-image"));
        let stderr = pyoci_fails(pyoci().arg("image").arg("--layer").arg(&tar).arg("-o").arg(&out));
        let member = members.last().map(|m| m.0).unwrap_or_default();
        assert!(stderr.contains(needle) && stderr.contains(member) && stderr.contains(&*tar.to_string_lossy()), "{name}: {stderr}");
        assert_nothing_written(&out);
    }

    // Allowed explicitly, a device and a setuid-root file go in; the gates still see them.
    let special = d.join("special.tar");
    python_tar(&special, &[("dev/null", "chr", 0o666, 0, ""), ("usr/bin/su", "file", 0o4755, 0, "")]);
    pyoci_ok(pyoci().arg("image").arg("--layer").arg(&special).arg("-o").arg(d.join("special-refused-out")).arg("--allow-devices").arg("--allow-setuid"));

    // What tar tools commonly write passes untouched and unpacks with umoci.
    let ordinary = d.join("ordinary.tar.gz");
    python_tar(
        &d.join("ordinary.tar"),
        &[
            ("./", "dir", 0o755, 0, ""),
            ("./app/", "dir", 0o755, 0, ""),
            ("./app/main.py", "file", 0o644, 0, ""),
            ("/app/abs.py", "file", 0o644, 0, ""),
            ("app/same.py", "link", 0o644, 0, "./app/main.py"),
            ("app/passwd", "symlink", 0o777, 0, "/etc/passwd"),
            ("app/tool", "file", 0o4755, 65532, ""),
        ],
    );
    run_ok(Command::new("gzip").arg("-n").arg(d.join("ordinary.tar")));
    let image = d.join("ordinary-image");
    pyoci_ok(pyoci().arg("image").arg("--layer").arg(&ordinary).arg("-o").arg(&image));
    let (_, manifest) = manifest_of(&image);
    let blob = blob_path(&image, manifest["layers"][0]["digest"].as_str().unwrap_or_default());
    assert_eq!(fs::read(&blob).ok(), fs::read(&ordinary).ok(), "the tarball is linked byte for byte");
    require_tool("umoci");
    let bundle = d.join("bundle");
    run_ok(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", image.display())).arg(&bundle));
    let rootfs = bundle.join("rootfs");
    assert_eq!(fs::read(rootfs.join("app/same.py")).ok(), Some(b"x".to_vec()));
    assert!(rootfs.join("app/abs.py").is_file());
    assert_eq!(fs::read_link(rootfs.join("app/passwd")).ok(), Some(PathBuf::from("/etc/passwd")));
}

#[test]
fn a_verified_base_is_trusted_by_size_and_a_hand_given_one_is_hashed() {
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let layer = build_app_layer(dir.path());
    let record = dir.path().join("base.verified.json");
    let out = dir.path().join("out");

    // The record is written only after every blob was hashed: `inspect --verified-out`
    // refuses a tampered layout.
    let tampered = dir.path().join("tampered");
    run_ok(Command::new("cp").arg("-a").arg(&base).arg(&tampered));
    let (_, manifest) = manifest_of(&tampered);
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap_or_default().to_owned();
    let blob = blob_path(&tampered, &layer_digest);
    let mut bytes = fs::read(&blob).unwrap_or_default();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::remove_file(&blob).unwrap_or_else(|e| panic!("{e}"));
    fs::write(&blob, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(pyoci().arg("inspect").arg(&tampered).arg("--verified-out").arg(&record));
    assert!(stderr.contains(&layer_digest), "{stderr}");
    assert_nothing_written(&record);

    pyoci_ok(pyoci().arg("inspect").arg(&base).arg("--verified-out").arg(&record));
    let recorded: serde_json::Value =
        serde_json::from_slice(&fs::read(&record).unwrap_or_default()).unwrap_or_default();
    assert_eq!(recorded["schema"], "pyoci.verified.v1");
    assert_eq!(recorded["blobs"][&layer_digest], manifest["layers"][0]["size"]);

    // With the record, the base's image is what it was without it, and the output's own
    // record lists the base's blobs and the new layer.
    let image_record = dir.path().join("image.verified.json");
    let with_record = pyoci_ok(
        pyoci()
            .arg("image")
            .arg("--base")
            .arg(&base)
            .arg("--base-verified")
            .arg(&record)
            .args(["--layer", &layer, "-o"])
            .arg(&out)
            .arg("--verified-out")
            .arg(&image_record),
    );
    let plain = pyoci_ok(pyoci().arg("image").arg("--base").arg(&base).args(["--layer", &layer, "-o"]).arg(dir.path().join("plain")));
    assert_eq!(with_record, plain);
    let image_recorded: serde_json::Value =
        serde_json::from_slice(&fs::read(&image_record).unwrap_or_default()).unwrap_or_default();
    assert_eq!(image_recorded["manifestDigest"], with_record.trim());
    let (_, out_manifest) = manifest_of(&out);
    for blob in [&out_manifest["config"], &out_manifest["layers"][0], &out_manifest["layers"][1]] {
        assert_eq!(image_recorded["blobs"][blob["digest"].as_str().unwrap_or_default()], blob["size"], "{image_recorded}");
    }

    // A hand-given layout (no record) is hashed: the tampered blob is caught.
    let stderr = pyoci_fails(pyoci().arg("image").arg("--base").arg(&tampered).arg("-o").arg(&out));
    assert!(stderr.contains(&layer_digest), "{stderr}");

    // A record vouches for sizes, not for a blob that changed size, nor for another image.
    let truncated = dir.path().join("truncated");
    run_ok(Command::new("cp").arg("-a").arg(&base).arg(&truncated));
    let truncated_blob = blob_path(&truncated, &layer_digest);
    fs::remove_file(&truncated_blob).unwrap_or_else(|e| panic!("{e}"));
    fs::write(&truncated_blob, &bytes[..last]).unwrap_or_else(|e| panic!("{e}"));
    let out2 = dir.path().join("out2");
    let stderr = pyoci_fails(
        pyoci().arg("image").arg("--base").arg(&truncated).arg("--base-verified").arg(&record).arg("-o").arg(&out2),
    );
    assert!(stderr.contains("size") && stderr.contains(&truncated_blob.display().to_string()), "{stderr}");
    assert_nothing_written(&out2);
    let stderr = pyoci_fails(
        pyoci().arg("image").arg("--base").arg(&out).arg("--base-verified").arg(&record).arg("-o").arg(&out2),
    );
    assert!(stderr.contains("verification record") && stderr.contains(&record.display().to_string()), "{stderr}");
    assert_nothing_written(&out2);
}

#[test]
fn trusted_layer_descriptors_are_checked_by_size_and_others_are_hashed() {
    let dir = temp_dir();
    let layer = build_app_layer(dir.path());
    let (blob_arg, descriptor_arg) = layer.split_once('=').unwrap_or_default();
    let trusted = pyoci_ok(pyoci().args(["image", "--trust-layer-descriptors", "--layer", &layer, "-o"]).arg(dir.path().join("trusted")));
    let hashed = pyoci_ok(pyoci().args(["image", "--layer", &layer, "-o"]).arg(dir.path().join("hashed")));
    assert_eq!(trusted, hashed);

    // Same size, other bytes: only hashing catches it (what the flag gives up, for blobs a
    // build action wrote together with their descriptor).
    let mut bytes = fs::read(blob_arg).unwrap_or_default();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let flipped = dir.path().join("flipped.tar.gz");
    fs::write(&flipped, &bytes).unwrap_or_else(|e| panic!("{e}"));
    let flipped_arg = format!("{}={descriptor_arg}", flipped.display());
    let out = dir.path().join("out");
    let stderr = pyoci_fails(pyoci().args(["image", "--layer", &flipped_arg, "-o"]).arg(&out));
    assert!(stderr.contains(&flipped.display().to_string()), "{stderr}");
    assert_nothing_written(&out);

    // Another size is caught either way, naming the blob.
    let short = dir.path().join("short.tar.gz");
    fs::write(&short, &bytes[..last]).unwrap_or_else(|e| panic!("{e}"));
    let short_arg = format!("{}={descriptor_arg}", short.display());
    let stderr = pyoci_fails(pyoci().args(["image", "--trust-layer-descriptors", "--layer", &short_arg, "-o"]).arg(&out));
    assert!(stderr.contains("size") && stderr.contains(&short.display().to_string()), "{stderr}");
    assert_nothing_written(&out);
}

#[test]
fn load_sends_only_missing_layers_and_the_loaded_id_is_the_config_digest() {
    require_tool("docker");
    let dir = temp_dir();
    let base = scratch_base(dir.path());
    let tag = format!("localhost/pyoci-cli-load-{}/app:latest", std::process::id());
    let mut loaded = RemoveImagesOnDrop(vec![tag.clone()]);
    let load = |layout: &Path| -> serde_json::Value {
        let out = pyoci_ok(
            pyoci().args(["load", "--loader", "docker", "--json", "--tag", &tag, "--image"]).arg(layout),
        );
        serde_json::from_str(out.trim()).unwrap_or_default()
    };
    let config_of = |layout: &Path| manifest_of(layout).1["config"]["digest"].as_str().unwrap_or_default().to_owned();

    loaded.0.extend([config_of(&base)]);
    let first = load(&base);
    assert_eq!(first["imageId"], config_of(&base), "{first}");

    // One more layer on top: only it is sent (the base's layer is in the engine now).
    let other = dir.path().join("other.txt");
    fs::write(&other, format!("{}\n", std::process::id())).unwrap_or_else(|e| panic!("{e}"));
    let spec = dir.path().join("other-spec.json");
    fs::write(&spec, json!({"entries": [{"path": "/other.txt", "source": other}]}).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let blob = dir.path().join("other.tar.gz");
    pyoci_ok(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&blob));
    let image = dir.path().join("image");
    pyoci_ok(pyoci().arg("image").arg("--base").arg(&base).arg("--layer").arg(&blob).arg("-o").arg(&image));
    loaded.0.push(config_of(&image));
    let second = load(&image);
    let blob_size = fs::metadata(&blob).map(|m| m.len()).unwrap_or_default();
    assert_eq!((second["method"].as_str(), second["layersSent"].as_u64()), (Some("partial"), Some(1)), "{second}");
    assert!(second["bytesSent"].as_u64().unwrap_or(u64::MAX) <= blob_size + 64 * 1024, "{second}");
    assert_eq!(second["imageId"], config_of(&image), "{second}");

    // Loading the same image again only tags it.
    let again = load(&image);
    assert_eq!((again["method"].as_str(), again["bytesSent"].as_u64()), (Some("tagged"), Some(0)), "{again}");

    run_ok(Command::new("docker").args(["rmi", "-f", &tag]));
    let after_rmi = load(&image);
    assert_eq!(after_rmi["imageId"], config_of(&image), "{after_rmi}");
}

/// The Docker Engine is shared: what a test loads (tags, and images by ID) is removed even
/// when it fails.
struct RemoveImagesOnDrop(Vec<String>);

impl Drop for RemoveImagesOnDrop {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", name]).output();
        }
    }
}
