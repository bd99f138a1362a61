//! `pyoci push/pull/copy/gc` against a real docker-registry on 127.0.0.1, checked with
//! skopeo and the registry's own access log. Test images are built with umoci.

#[path = "../../../tests/support/registry.rs"]
mod registry;

#[path = "../../../tests/support/counting_proxy.rs"]
mod counting_proxy;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use registry::{RegistryOptions, TestRegistry};
use serde_json::Value;

fn pyoci(docker_config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyoci"));
    // Never the developer's own ~/.docker credentials.
    command.env("DOCKER_CONFIG", docker_config);
    command.env_remove("HOME");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("running pyoci")
}

fn ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required for this test: {e}"))
}

fn tool_ok(program: &str, args: &[&str]) -> String {
    let output = tool(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A one-image layout built by umoci: one layer per entry of `layers` (random bytes of that
/// size, so layers never collide), with `created` set.
fn umoci_image(dir: &Path, name: &str, layers: &[usize], created: &str) -> PathBuf {
    let layout = dir.join(name);
    let l = layout.to_str().unwrap();
    tool_ok("umoci", &["init", "--layout", l]);
    tool_ok("umoci", &["new", "--image", &format!("{l}:latest")]);
    for (i, size) in layers.iter().enumerate() {
        add_layer(&layout, &format!("{name}-{i}"), *size);
    }
    set_created(&layout, created);
    layout
}

fn add_layer(layout: &Path, name: &str, size: usize) {
    let content = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..size).map(|_| rand_byte()).collect();
    fs::write(content.path().join(name), bytes).unwrap();
    let l = layout.to_str().unwrap();
    tool_ok(
        "umoci",
        &[
            "insert",
            "--image",
            &format!("{l}:latest"),
            content.path().to_str().unwrap(),
            &format!("/{name}"),
        ],
    );
    tool_ok("umoci", &["gc", "--layout", l]);
}

fn set_created(layout: &Path, created: &str) {
    let l = layout.to_str().unwrap();
    tool_ok(
        "umoci",
        &[
            "config",
            "--image",
            &format!("{l}:latest"),
            "--created",
            created,
        ],
    );
    tool_ok("umoci", &["gc", "--layout", l]);
}

/// A copy of `base` with one more layer on top: shares all of base's layers.
fn derive_image(dir: &Path, base: &Path, name: &str, size: usize) -> PathBuf {
    let layout = dir.join(name);
    tool_ok(
        "cp",
        &["-a", base.to_str().unwrap(), layout.to_str().unwrap()],
    );
    add_layer(&layout, name, size);
    layout
}

fn rand_byte() -> u8 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    ));
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 24) as u8
    })
}

fn skopeo_inspect(reference: &str, creds: Option<&str>) -> Output {
    let target = format!("docker://{reference}");
    let mut args = vec!["inspect", "--tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--creds", creds]);
    }
    args.push(&target);
    tool("skopeo", &args)
}

fn skopeo_json(reference: &str, creds: Option<&str>) -> Value {
    let out = skopeo_inspect(reference, creds);
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn layout_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

struct Env {
    dir: tempfile::TempDir,
    docker_config: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let docker_config = dir.path().join("docker");
    fs::create_dir_all(&docker_config).unwrap();
    Env { dir, docker_config }
}

#[test]
fn push_tags_dedups_and_shares_base_layers() {
    let registry = TestRegistry::start();
    let env = env();
    let base = umoci_image(
        env.dir.path(),
        "base",
        &[50_000, 70_000],
        "2024-01-01T00:00:00Z",
    );
    let repo = format!("{}/team/app", registry.host());
    let report_path = env.dir.path().join("report.json");

    let out = ok(pyoci(&env.docker_config)
        .args([
            "push",
            base.to_str().unwrap(),
            &repo,
            "--tag",
            "v1",
            "--tag",
            "latest",
            "--report",
        ])
        .arg(&report_path));
    let digest = layout_digest(&base);
    assert_eq!(out, format!("{repo}@{digest}"));
    let first = report(&report_path);
    assert_eq!(
        first["blobsUploaded"], 3,
        "two layers and a config: {first}"
    );
    assert_eq!(registry.blob_uploads("team/app"), 3);

    let inspected = skopeo_json(&format!("{repo}:v1"), None);
    assert_eq!(inspected["Digest"], digest.as_str());
    let mut tags: Vec<String> = inspected["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["latest", "v1"]);
    assert_eq!(
        skopeo_json(&format!("{repo}@{digest}"), None)["Digest"],
        digest.as_str()
    );

    // The same image again: every blob is already there.
    ok(pyoci(&env.docker_config)
        .args([
            "push",
            base.to_str().unwrap(),
            &repo,
            "--tag",
            "v1",
            "--report",
        ])
        .arg(&report_path));
    let second = report(&report_path);
    assert_eq!(second["blobsUploaded"], 0, "{second}");
    assert_eq!(second["blobsExisting"], 3, "{second}");
    assert_eq!(
        registry.blob_uploads("team/app"),
        3,
        "registry log shows a second upload"
    );

    // An image on the same base: only its new layer and config travel.
    let app = derive_image(env.dir.path(), &base, "app2", 30_000);
    let tag_file = env.dir.path().join("tags.txt");
    fs::write(&tag_file, "sha-abc123\nmain\n\n").unwrap();
    ok(pyoci(&env.docker_config)
        .args(["push", app.to_str().unwrap(), &repo, "--tag-file"])
        .arg(&tag_file)
        .arg("--report")
        .arg(&report_path));
    let third = report(&report_path);
    assert_eq!(third["blobsUploaded"], 2, "{third}");
    assert_eq!(third["blobsExisting"], 2, "{third}");
    assert_eq!(registry.blob_uploads("team/app"), 5);
    assert_eq!(
        skopeo_json(&format!("{repo}:main"), None)["Digest"],
        layout_digest(&app).as_str()
    );
}

#[test]
fn chunked_upload_of_large_blob_round_trips() {
    let registry = TestRegistry::start();
    let env = env();
    let image = umoci_image(env.dir.path(), "big", &[3_000_000], "2024-01-01T00:00:00Z");
    let repo = format!("{}/big", registry.host());
    ok(pyoci(&env.docker_config).args([
        "push",
        image.to_str().unwrap(),
        &repo,
        "--tag",
        "v1",
        "--chunk-size",
        "1000000",
    ]));
    let patches = registry
        .log()
        .lines()
        .filter(|l| l.contains("\"PATCH /v2/big/blobs/uploads/"))
        .count();
    assert!(
        patches >= 3,
        "expected chunked PATCH uploads, saw {patches}"
    );
    let digest = layout_digest(&image);
    let pulled = env.dir.path().join("pulled");
    let out = ok(pyoci(&env.docker_config)
        .args(["pull", &format!("{repo}@{digest}"), "-o"])
        .arg(&pulled));
    assert_eq!(out, format!("{repo}@{digest}"));
    // skopeo (an independent implementation) reads what we wrote.
    let copied = env.dir.path().join("skopeo-copy");
    tool_ok(
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:latest", pulled.display()),
            &format!("oci:{}:x", copied.display()),
        ],
    );
    assert_eq!(layout_digest(&pulled), digest);
}

fn auth_config(registry_host: &str, user: &str, password: &str) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!(r#"{{"auths":{{"{registry_host}":{{"auth":"{auth}"}}}}}}"#)
}

#[test]
fn basic_auth_from_config_json_and_credential_helper() {
    let registry = TestRegistry::start_with(RegistryOptions {
        user: Some(("ci".into(), "s3cret".into())),
        ..Default::default()
    });
    let env = env();
    let image = umoci_image(env.dir.path(), "img", &[10_000], "2024-01-01T00:00:00Z");
    let repo = format!("{}/secure/app", registry.host());

    // No credentials at all.
    let out = run(pyoci(&env.docker_config).args(["push", image.to_str().unwrap(), &repo]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("requires credentials") && stderr.contains("docker login"),
        "{stderr}"
    );

    // auths in config.json.
    let config_dir = TestRegistry::docker_config(
        &env.dir.path().join("cfg-auths"),
        &auth_config(&registry.host(), "ci", "s3cret"),
    );
    ok(pyoci(&config_dir).args([
        "push",
        image.to_str().unwrap(),
        &repo,
        "--tag",
        "from-auths",
    ]));
    let digest = layout_digest(&image);
    assert_eq!(
        skopeo_json(&format!("{repo}:from-auths"), Some("ci:s3cret"))["Digest"],
        digest.as_str()
    );

    // A wrong password is reported as such, naming the user and the file.
    let bad_dir = TestRegistry::docker_config(
        &env.dir.path().join("cfg-bad"),
        &auth_config(&registry.host(), "ci", "wrong"),
    );
    let out = run(pyoci(&bad_dir).args(["push", image.to_str().unwrap(), &repo, "--tag", "bad"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rejected")
            && stderr.contains("\"ci\"")
            && stderr.contains("cfg-bad/config.json"),
        "unclear error: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A credential helper (credHelpers) and the default store (credsStore).
    let bin = env.dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-pyocitest");
    let seen = env.dir.path().join("helper-asked-for");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> {}\n\
             echo '{{\"ServerURL\":\"'\"$server\"'\",\"Username\":\"ci\",\"Secret\":\"s3cret\"}}'\n",
            seen.display()
        ),
    )
    .unwrap();
    tool_ok("chmod", &["+x", helper.to_str().unwrap()]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (name, config) in [
        (
            "cfg-helper",
            format!(r#"{{"credHelpers":{{"{}":"pyocitest"}}}}"#, registry.host()),
        ),
        ("cfg-store", r#"{"credsStore":"pyocitest"}"#.to_string()),
    ] {
        let dir = TestRegistry::docker_config(&env.dir.path().join(name), &config);
        ok(pyoci(&dir).env("PATH", &path).args([
            "push",
            image.to_str().unwrap(),
            &repo,
            "--tag",
            name,
        ]));
        assert_eq!(
            skopeo_json(&format!("{repo}:{name}"), Some("ci:s3cret"))["Digest"],
            digest.as_str()
        );
    }
    let asked = fs::read_to_string(&seen).unwrap();
    assert_eq!(
        asked.lines().collect::<Vec<_>>(),
        [registry.host(), registry.host()]
    );
}

fn all_blobs_present(registry: &TestRegistry, repo_path: &str, tag: &str) {
    let raw = tool_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/{repo_path}:{tag}", registry.host()),
        ],
    );
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
    for layer in manifest["layers"].as_array().unwrap() {
        digests.push(layer["digest"].as_str().unwrap().to_string());
    }
    for digest in digests {
        let hex = digest.trim_start_matches("sha256:");
        assert!(
            registry.blob_data_path(hex).is_file(),
            "tag {tag} points at a manifest whose blob {digest} is missing"
        );
    }
}

#[test]
fn registry_killed_mid_push_then_push_completes() {
    let mut registry = TestRegistry::start();
    let env = env();
    let image = umoci_image(
        env.dir.path(),
        "crash",
        &[40_000, 6_000_000],
        "2024-01-01T00:00:00Z",
    );
    let repo = format!("{}/crash", registry.host());

    // Without retries the interrupted push fails; nothing may be tagged.
    let child = pyoci(&env.docker_config)
        .args([
            "push",
            image.to_str().unwrap(),
            &repo,
            "--tag",
            "v1",
            "--retries",
            "0",
            "--chunk-size",
            "100000",
            "--jobs",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !registry.log().contains("\"PATCH /v2/crash/blobs/uploads/") {
        assert!(
            Instant::now() < deadline,
            "the push never started uploading"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    registry.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "push survived a killed registry without retries"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:"), "{stderr}");
    registry.restart();
    assert!(
        !skopeo_inspect(&format!("{repo}:v1"), None).status.success(),
        "v1 tagged after a failed push"
    );

    // With retries, a registry that comes back mid-push is waited for.
    let child = pyoci(&env.docker_config)
        .args([
            "push",
            image.to_str().unwrap(),
            &repo,
            "--tag",
            "v2",
            "--chunk-size",
            "100000",
            "--jobs",
            "1",
            "--retries",
            "6",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let before = registry
        .log()
        .matches("\"PATCH /v2/crash/blobs/uploads/")
        .count();
    let deadline = Instant::now() + Duration::from_secs(30);
    while registry
        .log()
        .matches("\"PATCH /v2/crash/blobs/uploads/")
        .count()
        <= before
    {
        assert!(
            Instant::now() < deadline,
            "the second push never started uploading"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    registry.kill();
    std::thread::sleep(Duration::from_millis(800));
    registry.restart();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "push did not recover: {stderr}");
    assert!(stderr.contains("retrying"), "{stderr}");

    // And a plain next push completes too.
    ok(pyoci(&env.docker_config).args(["push", image.to_str().unwrap(), &repo, "--tag", "v3"]));
    for tag in ["v2", "v3"] {
        assert_eq!(
            skopeo_json(&format!("{repo}:{tag}"), None)["Digest"],
            layout_digest(&image).as_str()
        );
        all_blobs_present(&registry, "crash", tag);
    }
}

#[test]
fn pull_by_digest_verifies_and_rejects_tampering() {
    let registry = TestRegistry::start();
    let env = env();
    let image = umoci_image(
        env.dir.path(),
        "pullme",
        &[20_000, 30_000],
        "2024-01-01T00:00:00Z",
    );
    let repo = format!("{}/base/python", registry.host());
    ok(pyoci(&env.docker_config).args(["push", image.to_str().unwrap(), &repo, "--tag", "3.11"]));
    let digest = layout_digest(&image);

    let out_dir = env.dir.path().join("base-layout");
    let digest_file = env.dir.path().join("digest");
    let printed = ok(pyoci(&env.docker_config)
        .args(["pull", &format!("{repo}@{digest}"), "-o"])
        .arg(&out_dir)
        .arg("--digest-out")
        .arg(&digest_file));
    assert_eq!(printed, format!("{repo}@{digest}"));
    assert_eq!(fs::read_to_string(&digest_file).unwrap(), digest);
    assert_eq!(layout_digest(&out_dir), digest);
    // umoci (independent) unpacks what we wrote.
    let bundle = env.dir.path().join("bundle");
    tool_ok(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:latest", out_dir.display()),
            bundle.to_str().unwrap(),
        ],
    );
    assert!(bundle.join("rootfs/pullme-1/pullme-1").is_file());

    // By tag: works, warns, and says which digest to pin.
    let by_tag = run(pyoci(&env.docker_config)
        .args(["pull", &format!("{repo}:3.11"), "-o"])
        .arg(env.dir.path().join("by-tag")));
    assert!(by_tag.status.success());
    let stderr = String::from_utf8_lossy(&by_tag.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains(&digest),
        "{stderr}"
    );

    // Flip one byte of a layer inside the registry's storage.
    let raw: Value = serde_json::from_str(&tool_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{repo}@{digest}"),
        ],
    ))
    .unwrap();
    let layer = raw["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let data = registry.blob_data_path(&layer);
    let mut bytes = fs::read(&data).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&data, bytes).unwrap();
    let tampered = env.dir.path().join("tampered");
    let out = run(pyoci(&env.docker_config)
        .args(["pull", &format!("{repo}@{digest}"), "-o"])
        .arg(&tampered));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tampered or corrupted") && stderr.contains(&layer),
        "{stderr}"
    );
    assert!(!tampered.exists(), "a rejected pull left output behind");
    let leftovers: Vec<_> = fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pyoci-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging directories left: {leftovers:?}"
    );
}

#[test]
fn copy_between_repositories_and_registries() {
    let first = TestRegistry::start();
    let second = TestRegistry::start();
    let env = env();
    let image = umoci_image(
        env.dir.path(),
        "promote",
        &[25_000, 35_000],
        "2024-01-01T00:00:00Z",
    );
    let digest = layout_digest(&image);
    let staging = format!("{}/app-staging", first.host());
    ok(pyoci(&env.docker_config).args(["push", image.to_str().unwrap(), &staging, "--tag", "rc1"]));
    let report_path = env.dir.path().join("copy.json");

    // Same registry: blobs are mounted, none uploaded.
    let prod = format!("{}/app-prod", first.host());
    let out = ok(pyoci(&env.docker_config)
        .args([
            "copy",
            &format!("{staging}@{digest}"),
            &format!("{prod}:v1"),
            "--report",
        ])
        .arg(&report_path));
    assert_eq!(out, format!("{prod}@{digest}"));
    let same = report(&report_path);
    assert_eq!(same["blobsMounted"], 3, "{same}");
    assert_eq!(same["blobsUploaded"], 0, "{same}");
    assert_eq!(first.blob_uploads("app-prod"), 0);
    assert!(
        first.log().contains("mount=sha256"),
        "no cross-repository mount in the registry log"
    );
    assert_eq!(
        skopeo_json(&format!("{prod}:v1"), None)["Digest"],
        digest.as_str()
    );

    // Another registry: blobs travel, digest unchanged.
    let remote = format!("{}/mirror/app", second.host());
    ok(pyoci(&env.docker_config)
        .args([
            "copy",
            &format!("{staging}@{digest}"),
            &format!("{remote}:v1"),
            "--report",
        ])
        .arg(&report_path));
    let cross = report(&report_path);
    assert_eq!(cross["blobsUploaded"], 3, "{cross}");
    assert_eq!(
        skopeo_json(&format!("{remote}:v1"), None)["Digest"],
        digest.as_str()
    );
}

#[test]
fn gc_lists_then_deletes_exactly_what_it_listed() {
    let registry = TestRegistry::start_with(RegistryOptions {
        delete: true,
        ..Default::default()
    });
    let env = env();
    let repo = format!("{}/svc", registry.host());
    let mut digests = Vec::new();
    for (i, year) in ["2021", "2022", "2023", "2024"].iter().enumerate() {
        let image = umoci_image(
            env.dir.path(),
            &format!("gc{i}"),
            &[5_000],
            &format!("{year}-06-01T00:00:00Z"),
        );
        ok(pyoci(&env.docker_config).args([
            "push",
            image.to_str().unwrap(),
            &repo,
            "--tag",
            &format!("build-{year}"),
        ]));
        digests.push(layout_digest(&image));
    }
    // `latest` moves from the 2021 image... onto the 2022 one: the moved-tag note names 2021's.
    let image = env.dir.path().join("gc0");
    ok(pyoci(&env.docker_config).args(["push", image.to_str().unwrap(), &repo, "--tag", "latest"]));
    let image = env.dir.path().join("gc1");
    let out = run(pyoci(&env.docker_config).args([
        "push",
        image.to_str().unwrap(),
        &repo,
        "--tag",
        "latest",
    ]));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("moved from {}", digests[0])));
    // An image that lost its only tag: push 2020 under a tag, then move that tag away.
    let orphan = umoci_image(env.dir.path(), "orphan", &[5_000], "2020-06-01T00:00:00Z");
    ok(pyoci(&env.docker_config).args(["push", orphan.to_str().unwrap(), &repo, "--tag", "pr-7"]));
    let orphan_digest = layout_digest(&orphan);
    ok(pyoci(&env.docker_config).args([
        "push",
        env.dir.path().join("gc3").to_str().unwrap(),
        &repo,
        "--tag",
        "pr-7",
    ]));

    let plan = ok(pyoci(&env.docker_config).args([
        "gc",
        &repo,
        "--keep-last",
        "2",
        "--digest",
        &orphan_digest,
    ]));
    let listed: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("\tdelete:"))
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    // 2024 and 2023 are newest, 2022 carries `latest`; 2021 is old; the orphan is untagged.
    let mut expected = vec![digests[0].as_str(), orphan_digest.as_str()];
    expected.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, expected, "plan:\n{plan}");
    // Listing alone deletes nothing.
    for digest in digests.iter().chain([&orphan_digest]) {
        assert!(skopeo_inspect(&format!("{repo}@{digest}"), None)
            .status
            .success());
    }

    ok(pyoci(&env.docker_config).args([
        "gc",
        &repo,
        "--keep-last",
        "2",
        "--digest",
        &orphan_digest,
        "--delete",
    ]));
    for digest in &expected {
        assert!(
            !skopeo_inspect(&format!("{repo}@{digest}"), None)
                .status
                .success(),
            "{digest} survived"
        );
    }
    for digest in &digests[1..] {
        assert!(
            skopeo_inspect(&format!("{repo}@{digest}"), None)
                .status
                .success(),
            "{digest} was deleted"
        );
    }
}

#[test]
fn gc_delete_on_registry_without_deletes_is_explained() {
    let registry = TestRegistry::start();
    let env = env();
    let repo = format!("{}/nodelete", registry.host());
    for (i, year) in ["2021", "2022"].iter().enumerate() {
        let image = umoci_image(
            env.dir.path(),
            &format!("nd{i}"),
            &[1_000],
            &format!("{year}-01-01T00:00:00Z"),
        );
        ok(pyoci(&env.docker_config).args(["push", image.to_str().unwrap(), &repo, "--tag", year]));
    }
    let out = run(pyoci(&env.docker_config).args(["gc", &repo, "--keep-last", "1", "--delete"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("storage.delete.enabled"), "{stderr}");
}

#[test]
fn bearer_token_auth_with_scoped_tokens() {
    let registry = TestRegistry::start_with(RegistryOptions {
        user: Some(("ci".into(), "s3cret".into())),
        token_auth: true,
        ..Default::default()
    });
    let env = env();
    let image = umoci_image(env.dir.path(), "tok", &[10_000], "2024-01-01T00:00:00Z");
    let digest = layout_digest(&image);
    let repo = format!("{}/tokens/app", registry.host());
    let config = TestRegistry::docker_config(
        &env.dir.path().join("cfg-token"),
        &auth_config(&registry.host(), "ci", "s3cret"),
    );
    ok(pyoci(&config).args(["push", image.to_str().unwrap(), &repo, "--tag", "v1"]));
    let asked = registry.token_requests();
    assert!(
        asked
            .iter()
            .any(|r| r.contains("scope=repository%3Atokens%2Fapp%3Apull%2Cpush")),
        "no push-scoped token was requested: {asked:?}"
    );

    // Copy within the registry asks for a token covering both repositories, and mounts.
    let report_path = env.dir.path().join("copy.json");
    ok(pyoci(&config)
        .args([
            "copy",
            &format!("{repo}@{digest}"),
            &format!("{}/tokens/prod:v1", registry.host()),
            "--report",
        ])
        .arg(&report_path));
    assert_eq!(report(&report_path)["blobsMounted"], 2);

    // Anonymous pulls get a pull-only token; this registry's tokens say what they grant.
    let pulled = env.dir.path().join("pulled");
    ok(pyoci(&env.docker_config)
        .args(["pull", &format!("{repo}@{digest}"), "-o"])
        .arg(&pulled));
    assert_eq!(layout_digest(&pulled), digest);

    // The token service refuses a wrong password: the error says so.
    let bad = TestRegistry::docker_config(
        &env.dir.path().join("cfg-token-bad"),
        &auth_config(&registry.host(), "ci", "nope"),
    );
    let out = run(pyoci(&bad).args(["push", image.to_str().unwrap(), &repo, "--tag", "v2"]));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("token service") && stderr.contains("rejected"),
        "{stderr}"
    );
}

#[test]
fn multi_platform_index_push_and_platform_pull() {
    let registry = TestRegistry::start();
    let env = env();
    let amd64 = umoci_image(env.dir.path(), "amd", &[4_000], "2024-01-01T00:00:00Z");
    let arm64 = umoci_image(env.dir.path(), "arm", &[4_000], "2024-01-01T00:00:00Z");
    let l = arm64.to_str().unwrap();
    tool_ok(
        "umoci",
        &[
            "config",
            "--image",
            &format!("{l}:latest"),
            "--architecture",
            "arm64",
        ],
    );
    tool_ok("umoci", &["gc", "--layout", l]);
    let index = env.dir.path().join("index");
    ok(pyoci(&env.docker_config)
        .args([
            "index",
            "--image",
            amd64.to_str().unwrap(),
            "--image",
            l,
            "-o",
        ])
        .arg(&index));
    let repo = format!("{}/multi", registry.host());
    let pushed =
        ok(pyoci(&env.docker_config).args(["push", index.to_str().unwrap(), &repo, "--tag", "v1"]));
    let index_digest = pushed.rsplit_once('@').unwrap().1.to_string();
    let raw: Value = serde_json::from_str(&tool_ok(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{repo}:v1"),
        ],
    ))
    .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2, "{raw}");

    for (platform, layout) in [("linux/arm64", &arm64), ("linux/amd64", &amd64)] {
        let out = env.dir.path().join(platform.replace('/', "-"));
        let printed = ok(pyoci(&env.docker_config)
            .args([
                "pull",
                &format!("{repo}@{index_digest}"),
                "--platform",
                platform,
                "-o",
            ])
            .arg(&out));
        assert_eq!(printed, format!("{repo}@{}", layout_digest(layout)));
        assert_eq!(layout_digest(&out), layout_digest(layout));
    }
    let missing = run(pyoci(&env.docker_config)
        .args([
            "pull",
            &format!("{repo}@{index_digest}"),
            "--platform",
            "linux/s390x",
            "-o",
        ])
        .arg(env.dir.path().join("s390x")));
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("linux/s390x") && stderr.contains("linux/arm64"),
        "{stderr}"
    );

    // A single-platform image is checked against --platform too.
    let arm_repo = format!("{}/armonly", registry.host());
    ok(pyoci(&env.docker_config).args(["push", l, &arm_repo]));
    let wrong = run(pyoci(&env.docker_config)
        .args([
            "pull",
            &format!("{arm_repo}@{}", layout_digest(&arm64)),
            "-o",
        ])
        .arg(env.dir.path().join("wrong")));
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("linux/arm64 (a single-platform image)")
    );
    assert!(!env.dir.path().join("wrong").exists());
}

/// A registry killed halfway through a chunked blob: after it comes back, the push asks
/// where the upload stands and sends only the rest (the chunk in flight at the kill is the
/// only one sent twice), instead of starting the blob over.
///
/// The push goes through a buffering proxy that holds the 13th chunk while the registry is
/// killed: straight to distribution, a kill that lands after part of a chunk was written
/// makes it refuse the session ("upload resumed at wrong offest"), and under load that
/// happened often enough to make this test flaky.
#[test]
fn chunked_upload_resumes_at_the_registrys_offset_after_a_registry_restart() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 24;
    let mut registry = TestRegistry::start();
    let env = env();
    let image = umoci_image(
        env.dir.path(),
        "resume",
        &[CHUNKS * CHUNK - 4096],
        "2024-01-01T00:00:00Z",
    );
    let proxy = counting_proxy::CountingProxy::start(registry.port, true);
    proxy.hold_at((CHUNKS / 2 * CHUNK + CHUNK / 2) as u64);
    let repo = format!("{}/resume", proxy.host());
    let child = pyoci(&env.docker_config)
        .args([
            "push",
            image.to_str().unwrap(),
            &repo,
            "--tag",
            "v1",
            "--jobs",
            "1",
        ])
        .args(["--chunk-size", &CHUNK.to_string(), "--retries", "6"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let patches = |registry: &TestRegistry| {
        registry
            .log()
            .matches("\"PATCH /v2/resume/blobs/uploads/")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.holding() {
        assert!(Instant::now() < deadline, "the push never got halfway");
        std::thread::sleep(Duration::from_millis(2));
    }
    registry.kill();
    let before_kill = patches(&registry);
    std::thread::sleep(Duration::from_millis(300));
    registry.restart();
    // The held chunk now goes to a connection of the killed registry: the push sees it fail.
    proxy.release();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "push did not recover: {stderr}");
    let log = registry.log();
    let total = patches(&registry);
    // The umoci layer is gzip of random bytes, so its size is close to CHUNKS MiB.
    let layer_chunks = total - before_kill;
    eprintln!(
        "chunks before the kill: {before_kill}, after: {layer_chunks}; resume queries: {}",
        log.matches("\"GET /v2/resume/blobs/uploads/").count()
    );
    assert!(
        log.contains("\"GET /v2/resume/blobs/uploads/"),
        "no upload status query"
    );
    assert!(
        total <= CHUNKS + 2,
        "{total} chunks sent for a blob of about {CHUNKS}: the upload started over"
    );
    assert_eq!(
        skopeo_json(&format!("{repo}:v1"), None)["Digest"],
        layout_digest(&image).as_str()
    );
    all_blobs_present(&registry, "resume", "v1");
}

/// A layout of one image whose single layer is `size` random bytes (media type tar; nothing
/// here unpacks it), written directly so a large blob costs no compression.
fn raw_layout(dir: &Path, name: &str, size: usize) -> (PathBuf, u64) {
    use sha2::Digest as _;
    let layout = dir.join(name);
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let write = |bytes: &[u8]| {
        let hex: String = sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        fs::write(blobs.join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };
    let layer: Vec<u8> = (0..size).map(|_| rand_byte()).collect();
    let layer_digest = write(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let config_digest = write(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": size}],
    })
    .to_string();
    let manifest_digest = write(manifest.as_bytes());
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    fs::write(
        layout.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]})
        .to_string(),
    )
    .unwrap();
    (layout, (size + config.len()) as u64)
}

fn session_files(cache: &Path) -> Vec<PathBuf> {
    fs::read_dir(cache.join("pyoci/uploads"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default()
}

/// Pushes `layout` through `proxy` with 2 MiB chunks, holds the client in the middle of the
/// chunk after half of `needed` went through, SIGKILLs it and breaks its connection there,
/// then pushes again from a new process with the same cache directory. Returns (bytes sent
/// by the killed process, by the second one), counted where the proxy read them (upload
/// bodies only).
fn kill_then_push_again(
    proxy: &counting_proxy::CountingProxy,
    env: &Env,
    layout: &Path,
    repo: &str,
    needed: u64,
) -> (u64, u64) {
    let cache = env.dir.path().join("cache");
    let push = |tag: &str| {
        let mut command = pyoci(&env.docker_config);
        command
            .env("XDG_CACHE_HOME", &cache)
            .args(["push", layout.to_str().unwrap(), repo, "--tag", tag])
            .args(["--jobs", "1", "--retries", "0", "--chunk-size"])
            .arg((2 << 20).to_string());
        command
    };
    let started = Instant::now();
    proxy.reset_count();
    proxy.hold_at(needed / 2 + (1 << 20));
    let mut child = push("v1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !proxy.holding() {
        assert!(Instant::now() < deadline, "the push never got halfway");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the push ended before halfway"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!("held after {:?}", started.elapsed());
    child.kill().unwrap(); // SIGKILL: no handler runs, nothing is cleaned up
    child.wait().unwrap();
    // Cut where it was held: without this the proxy would go on to read what the killed
    // client had already put in the socket buffers, possibly the whole chunk.
    proxy.cut();
    proxy.release();
    let first = proxy.upload_bytes();
    let saved = session_files(&cache);
    assert_eq!(saved.len(), 1, "one session remembered: {saved:?}");
    let text = fs::read_to_string(&saved[0]).unwrap();
    assert!(
        !text.to_ascii_lowercase().contains("authorization") && text.contains("\"offset\":"),
        "{text}"
    );
    proxy.reset_count();
    eprintln!("second push from {:?}", started.elapsed());
    ok(&mut push("v1"));
    eprintln!("second push done at {:?}", started.elapsed());
    let second = proxy.upload_bytes();
    assert!(
        session_files(&cache).is_empty(),
        "the finished upload's session is forgotten"
    );
    (first, second)
}

/// Issue 16: a push process SIGKILLed halfway through a large chunked blob. The next process
/// finds the session in its cache directory, asks the registry where it stands (GET on the
/// upload URL) and sends only the rest. Bytes are counted on the wire by a proxy in front of
/// the real registry.
///
/// Through a proxy that forwards a request once its body is whole (nginx's default), the cut
/// chunk never reaches the registry and only it is sent again. Straight to distribution the
/// cut chunk's first part is written, distribution then refuses the session ("upload
/// resumed at wrong offset", 400 BLOB_UPLOAD_INVALID) and the blob starts over: asserted too,
/// because that is what such a registry allows.
#[test]
fn a_push_killed_mid_blob_resumes_from_the_registrys_offset_in_the_next_process() {
    const SIZE: usize = 40 << 20;
    const CHUNK: u64 = 2 << 20;
    let registry = TestRegistry::start();
    let env = env();
    let (layout, needed) = raw_layout(env.dir.path(), "resume-process", SIZE);
    let digest = layout_digest(&layout);

    let buffering = counting_proxy::CountingProxy::start(registry.port, true);
    let repo = format!("{}/resume-process", buffering.host());
    let (first, second) = kill_then_push_again(&buffering, &env, &layout, &repo, needed);
    let resent = (first + second).saturating_sub(needed);
    if resent > CHUNK {
        for line in registry
            .log()
            .lines()
            .filter(|l| l.contains("resume-process") || l.contains("level=error"))
        {
            eprintln!("{}", &line[..line.len().min(300)]);
        }
    }
    eprintln!(
        "buffering proxy: {first} bytes before the kill, {second} after, {resent} of {needed} sent twice"
    );
    assert!(
        resent <= CHUNK,
        "{resent} bytes sent twice: more than the one chunk cut by the kill"
    );
    assert!(
        second < needed / 2 + CHUNK,
        "the second push sent {second} bytes"
    );
    let log = registry.log();
    assert!(
        log.contains("\"GET /v2/resume-process/blobs/uploads/"),
        "the second push never asked where the upload stood"
    );
    for witness in [
        skopeo_json(&format!("{repo}:v1"), None)["Digest"]
            .as_str()
            .unwrap()
            .to_string(),
        tool_ok("crane", &["digest", "--insecure", &format!("{repo}:v1")])
            .trim()
            .to_string(),
    ] {
        assert_eq!(witness, digest);
    }
    all_blobs_present(&registry, "resume-process", "v1");

    // Streaming proxy (bytes passed on as they come, as straight to the registry).
    let streaming = counting_proxy::CountingProxy::start(registry.port, false);
    let repo = format!("{}/resume-streaming", streaming.host());
    let env = self::env();
    let (first, second) = kill_then_push_again(&streaming, &env, &layout, &repo, needed);
    eprintln!(
        "streaming proxy: {first} bytes before the kill, {second} after ({} sent twice): \
         distribution refused the cut session",
        (first + second).saturating_sub(needed)
    );
    assert!(
        // distribution 2.8 spells it "offest".
        registry.log().contains("upload resumed at wrong off"),
        "distribution accepted a session with a cut chunk in it"
    );
    assert_eq!(
        tool_ok("crane", &["digest", "--insecure", &format!("{repo}:v1")]).trim(),
        digest
    );
    all_blobs_present(&registry, "resume-streaming", "v1");
}

/// Issue 16: a second push of an image the registry holds with its tags costs a manifest
/// HEAD and a tag HEAD: no blob is asked about, nothing is uploaded.
#[test]
fn second_push_checks_the_manifest_first_and_skips_the_blobs() {
    let registry = TestRegistry::start();
    let env = env();
    let (layout, _) = raw_layout(env.dir.path(), "again", 1 << 20);
    let repo = format!("{}/again", registry.host());
    let report_path = env.dir.path().join("report.json");
    let push = |tags: &[&str]| {
        let mut command = pyoci(&env.docker_config);
        command.args(["push", layout.to_str().unwrap(), &repo, "--report"]);
        command.arg(&report_path);
        for tag in tags {
            command.args(["--tag", tag]);
        }
        ok(&mut command);
        report(&report_path)
    };
    let first = push(&["v1"]);
    assert_eq!(first["manifestExisted"], false);
    assert_eq!(first["blobsUploaded"], 2);
    let heads = |registry: &TestRegistry| registry.log().matches("\"HEAD /v2/again/blobs/").count();
    let blob_heads = heads(&registry);
    let second = push(&["v1"]);
    assert_eq!(second["manifestExisted"], true, "{second}");
    assert_eq!(second["blobsUploaded"], 0);
    assert_eq!(heads(&registry), blob_heads, "blobs were asked about");
    // A new tag on the same image: only the tag is written.
    let puts = registry.log().matches("\"PUT /v2/again/").count();
    let third = push(&["v1", "v2"]);
    assert_eq!(third["manifestExisted"], true);
    assert_eq!(registry.log().matches("\"PUT /v2/again/").count(), puts + 1);
    assert_eq!(
        skopeo_json(&format!("{repo}:v2"), None)["Digest"],
        layout_digest(&layout).as_str()
    );
}
