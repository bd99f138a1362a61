//! Our images checked by independent implementations: umoci + runc, skopeo, oci-image-tool,
//! podman, the Docker Engine, and the docker CLI through podman's Docker API.

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;

use std::path::Path;
use std::process::Command;

use pyoci::*;
use tools::{require_tool, run_ok, unique_name, DockerImages, Podman, PodmanService};

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pyoci-oci-tools-")
        .tempdir()
        .unwrap_or_else(|e| panic!("temp dir: {e}"))
}

/// `umoci unpack` the image and `runc run` it with the given args; returns stdout.
fn run_with_runc(dir: &Path, layout: &Path, args: &[&str]) -> String {
    require_tool("umoci");
    require_tool("runc");
    let bundle = dir.join("bundle");
    run_ok(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", layout.display())).arg(&bundle));
    let config_path = bundle.join("config.json");
    let mut config = read_json(&config_path);
    config["process"]["terminal"] = serde_json::Value::Bool(false);
    config["process"]["args"] = serde_json::json!(args);
    std::fs::write(&config_path, config.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let state = dir.join("runc-state");
    let id = unique_name("pyoci-runc");
    let out = tools::output(
        Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "-b"])
            .arg(&bundle)
            .arg(&id),
    );
    let _ = Command::new("runc").arg("--root").arg(&state).args(["delete", "--force", &id]).output();
    assert!(
        out.status.success(),
        "runc run failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn nonroot_base_with_app_runs_under_umoci_and_runc() {
    let dir = temp_dir();
    let (image, _) = build_app_image(dir.path(), "nonroot");
    let stdout = run_with_runc(dir.path(), &image, &["python3", "-c", APP_MAIN]);
    assert_eq!(stdout, APP_OUTPUT_NONROOT);
    assert!(stdout.contains("Python 3.11.2") && stdout.contains("uid 65532"));
}

#[test]
fn debug_nonroot_base_has_a_busybox_shell() {
    let dir = temp_dir();
    let base = dir.path().join("debug-nonroot");
    build_base("debug-nonroot", &base);
    let stdout = run_with_runc(
        dir.path(),
        &base,
        &["sh", "-c", "echo \"$PATH\"; id -u; ls /busybox/ls; python3 -c 'print(42)'"],
    );
    assert_eq!(
        stdout,
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox\n65532\n/busybox/ls\n42\n"
    );
}

#[test]
fn skopeo_and_oci_image_tool_agree_with_our_digests() {
    require_tool("skopeo");
    require_tool("oci-image-tool");
    let dir = temp_dir();
    let (image, digest) = build_app_image(dir.path(), "nonroot");
    let (_, manifest) = manifest_of(&image);
    let reference = format!("oci:{}:latest", image.display());

    let inspected: serde_json::Value =
        serde_json::from_str(&run_ok(Command::new("skopeo").args(["inspect", &reference])))
            .unwrap_or_else(|e| panic!("skopeo inspect output: {e}"));
    assert_eq!(inspected["Digest"], digest.as_str());
    let our_layers: Vec<&str> = manifest["layers"]
        .as_array()
        .map(|layers| layers.iter().filter_map(|l| l["digest"].as_str()).collect())
        .unwrap_or_default();
    let their_layers: Vec<&str> = inspected["Layers"]
        .as_array()
        .map(|layers| layers.iter().filter_map(|l| l.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(their_layers, our_layers);
    assert_eq!(our_layers.len(), 3, "base packages, distroless files, app");
    assert_eq!(inspected["Labels"]["test"], "pyoci");

    let raw_manifest = run_ok(Command::new("skopeo").args(["inspect", "--raw", &reference]));
    assert_eq!(raw_manifest.as_bytes(), std::fs::read(blob_path(&image, &digest)).unwrap_or_default());
    let raw_config = run_ok(Command::new("skopeo").args(["inspect", "--config", "--raw", &reference]));
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
    assert_eq!(raw_config.as_bytes(), std::fs::read(blob_path(&image, config_digest)).unwrap_or_default());

    run_ok(Command::new("oci-image-tool").args(["validate", "--type", "image"]).arg(&image));

    // A skopeo copy of our layout re-verifies every blob and must keep the digest.
    let copy = dir.path().join("copy");
    run_ok(Command::new("skopeo").args(["copy", &reference]).arg(format!("oci:{}:latest", copy.display())));
    let copied: serde_json::Value = serde_json::from_str(&run_ok(
        Command::new("skopeo").args(["inspect"]).arg(format!("oci:{}:latest", copy.display())),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(copied["Digest"], digest.as_str());

    // The OCI archive and the docker tarball hold the same image.
    let archive = dir.path().join("image-oci.tar");
    pyoci_ok(pyoci().args(["tarball", "--format", "oci", "--image"]).arg(&image).args(["--tag", "localhost/pyoci-test:v1", "-o"]).arg(&archive));
    let from_archive: serde_json::Value = serde_json::from_str(&run_ok(
        Command::new("skopeo").args(["inspect"]).arg(format!("oci-archive:{}:v1", archive.display())),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_archive["Digest"], digest.as_str());
    let tarball = dir.path().join("image-docker.tar");
    build_tarball(&image, "localhost/pyoci-test:v1", &tarball);
    let docker_config = run_ok(
        Command::new("skopeo").args(["inspect", "--config", "--raw"]).arg(format!("docker-archive:{}", tarball.display())),
    );
    assert_eq!(docker_config, raw_config);
}

#[test]
fn multi_platform_index_validates_and_resolves() {
    require_tool("skopeo");
    require_tool("oci-image-tool");
    let dir = temp_dir();
    let layer = build_app_layer(dir.path());
    let mut digests = Vec::new();
    for platform in ["linux/amd64", "linux/arm64/v8"] {
        let out = dir.path().join(platform.replace('/', "-"));
        let digest = pyoci_ok(pyoci().args(["image", "--platform", platform, "--layer", &layer, "-o"]).arg(&out));
        digests.push(digest.trim().to_owned());
    }
    let index = dir.path().join("index");
    let index_digest = pyoci_ok(
        pyoci()
            .args(["index", "--image"])
            .arg(dir.path().join("linux-amd64"))
            .arg("--image")
            .arg(dir.path().join("linux-arm64-v8"))
            .arg("-o")
            .arg(&index),
    );
    let raw = run_ok(Command::new("skopeo").args(["inspect", "--raw"]).arg(format!("oci:{}:latest", index.display())));
    let parsed: serde_json::Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed["manifests"][0]["digest"], digests[0].as_str());
    assert_eq!(parsed["manifests"][1]["platform"]["architecture"], "arm64");
    assert_eq!(parsed["manifests"][1]["platform"]["variant"], "v8");
    assert_eq!(format!("sha256:{}", hex_sha256(raw.as_bytes())), index_digest.trim());
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let mut skopeo = Command::new("skopeo");
        skopeo.args(["--override-os", "linux", "--override-arch", arch]);
        if let Some(variant) = variant {
            skopeo.args(["--override-variant", variant]);
        }
        let inspected: serde_json::Value =
            serde_json::from_str(&run_ok(skopeo.arg("inspect").arg(format!("oci:{}:latest", index.display()))))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inspected["Architecture"], arch);
        assert_eq!(inspected["Digest"], index_digest.trim(), "skopeo reports the index's digest");
    }
    run_ok(Command::new("oci-image-tool").args(["validate", "--type", "image"]).arg(&index));
}

fn hex_sha256(bytes: &[u8]) -> String {
    pyoci_manifest::sha256_digest(bytes).trim_start_matches("sha256:").to_owned()
}

#[test]
fn podman_loads_and_runs_the_docker_tarball() {
    let dir = temp_dir();
    let (image, _) = build_app_image(dir.path(), "nonroot");
    let tag = format!("localhost/{}:v1", unique_name("pyoci-podman"));
    let tarball = dir.path().join("image.tar");
    build_tarball(&image, &tag, &tarball);
    let config_digest = config_digest_of(&image);

    let podman = Podman::new(dir.path());
    let loaded = podman.run([std::ffi::OsStr::new("load"), "-i".as_ref(), tarball.as_os_str()]);
    assert!(loaded.contains(&tag), "podman load output: {loaded}");
    let id = podman.run(["image", "inspect", "--format", "{{.Id}}", &tag]);
    assert_eq!(format!("sha256:{}", id.trim()), config_digest);
    let stdout = podman.run(["run", "--rm", "--network", "none", &tag]);
    assert_eq!(stdout, APP_OUTPUT_NONROOT);
}

#[test]
fn docker_engine_loads_and_runs_the_docker_tarball() {
    require_tool("docker");
    let dir = temp_dir();
    let (image, _) = build_app_image(dir.path(), "nonroot");
    let tag = format!("localhost/{}:v1", unique_name("pyoci-docker"));
    let tarball = dir.path().join("image.tar");
    build_tarball(&image, &tag, &tarball);
    let _cleanup = DockerImages::new(std::slice::from_ref(&tag));

    let loaded = run_ok(Command::new("docker").args(["load", "-i"]).arg(&tarball));
    assert!(loaded.contains(&tag), "docker load output: {loaded}");
    let id = run_ok(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", &tag]));
    assert_eq!(id.trim(), config_digest_of(&image));
    let stdout = run_ok(Command::new("docker").args(["run", "--rm", "--network", "none", &tag]));
    assert_eq!(stdout, APP_OUTPUT_NONROOT);
}

#[test]
fn docker_cli_loads_through_podmans_docker_api() {
    let dir = temp_dir();
    let (image, _) = build_app_image(dir.path(), "nonroot");
    let tag = format!("localhost/{}:v1", unique_name("pyoci-podman-api"));
    let tarball = dir.path().join("image.tar");
    build_tarball(&image, &tag, &tarball);

    let podman = Podman::new(dir.path());
    let service = PodmanService::start(&podman, dir.path());
    let loaded = run_ok(service.docker().args(["load", "-i"]).arg(&tarball));
    assert!(loaded.contains(&tag), "docker load (podman API) output: {loaded}");
    let stdout = run_ok(service.docker().args(["run", "--rm", "--network", "none", &tag]));
    assert_eq!(stdout, APP_OUTPUT_NONROOT);
    run_ok(service.docker().args(["rmi", &tag]));
}

fn config_digest_of(layout: &Path) -> String {
    let (_, manifest) = manifest_of(layout);
    manifest["config"]["digest"].as_str().unwrap_or_default().to_owned()
}
