//! Hostile trees and inputs fed to the real `pyoci` binary, with the results read back by
//! independent implementations (bsdtar, GNU tar, umoci): symlink loops and links leaving the
//! tree, hard links, non-UTF-8 and very long names, a sparse 9 GiB file, 50,000 files, a
//! directory where a file belongs, fifos, sockets and devices, and whiteouts over a base.

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pyoci::*;
use tools::{require_tool, run_ok};

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("pyoci-hostile-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn layer_from_dir(dir: &Path, prefix: &str, blob: &Path) -> serde_json::Value {
    let stdout = pyoci_ok(pyoci().arg("layer").arg("--dir").arg(dir).args(["--prefix", prefix, "-o"]).arg(blob));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("descriptor: {e}\n{stdout}"))
}

fn write_spec(path: &Path, entries: serde_json::Value) -> PathBuf {
    write(path, serde_json::json!({ "entries": entries }).to_string());
    path.to_path_buf()
}

/// Extracts a layer with bsdtar (or GNU tar) into a new directory.
fn extract(blob: &Path, into: &Path, tool: &str) {
    require_tool(tool);
    fs::create_dir_all(into).unwrap_or_else(|e| panic!("{}: {e}", into.display()));
    let mut command = Command::new(tool);
    match tool {
        "bsdtar" => command.arg("-xpf").arg(blob).arg("-C").arg(into),
        _ => command.arg("-xpf").arg(blob).arg("--auto-compress").arg("-C").arg(into),
    };
    run_ok(&mut command);
}

/// The bsdtar -tv line for `name` (an entry in the layer, without leading `/`).
fn listed<'a>(listing: &'a [String], name: &str) -> &'a str {
    listing
        .iter()
        .find(|line| {
            let path = line.split_whitespace().nth(8).unwrap_or("");
            path.trim_end_matches('/') == name
        })
        .map(String::as_str)
        .unwrap_or_else(|| panic!("{name} is not in the layer:\n{}", listing.join("\n")))
}

fn uncompressed_tar(blob: &Path) -> Vec<u8> {
    let out = tools::output(Command::new("gzip").arg("-dc").arg(blob));
    assert!(out.status.success(), "gzip -dc {}: {}", blob.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn symlink_loops_and_links_leaving_the_tree_are_stored_as_links() {
    let dir = temp_dir();
    let outside = dir.path().join("outside");
    write(&outside.join("secret.txt"), "OUTSIDE-SECRET-MARKER");
    let tree = dir.path().join("tree");
    write(&tree.join("sub/file.txt"), "inside");
    let links: &[(&str, String)] = &[
        ("loop_a", "loop_b".into()),
        ("loop_b", "loop_a".into()),
        ("self", "self".into()),
        ("here", ".".into()),
        ("sub/parent", "..".into()),
        ("passwd", "/etc/passwd".into()),
        ("escape", "../outside/secret.txt".into()),
        ("outside_dir", outside.display().to_string()),
        ("dangling", "does/not/exist".into()),
    ];
    for (name, target) in links {
        symlink(target, tree.join(name)).unwrap_or_else(|e| panic!("symlink {name}: {e}"));
    }

    let blob = dir.path().join("links.tar.gz");
    layer_from_dir(&tree, "/app", &blob);
    let listing = list_layer(&blob);
    for (name, target) in links {
        let line = listed(&listing, &format!("app/{name}"));
        assert!(line.starts_with('l'), "{name} is not a symlink: {line}");
        assert!(line.ends_with(&format!("{name} -> {target}")), "{name} should point to {target}: {line}");
    }
    // Nothing behind the links was read: no copy of the outside file, no extra entries.
    let tar = uncompressed_tar(&blob);
    assert!(!tar.windows(21).any(|w| w == b"OUTSIDE-SECRET-MARKER"), "a link outside the tree was followed");
    assert_eq!(layer_names(&blob).len(), 3 + links.len(), "app, app/sub, app/sub/file.txt and the links");

    // A spec entry whose source is a symlink loop, and --dir on one, fail naming it.
    let spec = write_spec(&dir.path().join("spec.json"), serde_json::json!([{"path": "/x", "source": tree.join("loop_a")}]));
    let output = dir.path().join("out/loop.tar.gz");
    fs::create_dir_all(dir.path().join("out")).unwrap_or_else(|e| panic!("{e}"));
    let stderr = pyoci_fails(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&output));
    assert!(stderr.contains("loop_a") && stderr.contains("symbolic links"), "{stderr}");
    assert_nothing_written(&output);
    let stderr = pyoci_fails(pyoci().arg("layer").arg("--dir").arg(tree.join("self")).args(["--prefix", "/x", "-o"]).arg(&output));
    assert!(stderr.contains("self"), "{stderr}");
    assert_nothing_written(&output);
}

#[test]
fn hard_links_become_one_file_and_links_to_it() {
    let dir = temp_dir();
    let tree = dir.path().join("tree");
    write(&tree.join("b/original"), "shared contents\n");
    fs::hard_link(tree.join("b/original"), tree.join("a-link")).unwrap_or_else(|e| panic!("{e}"));
    fs::hard_link(tree.join("b/original"), tree.join("b/z-link")).unwrap_or_else(|e| panic!("{e}"));
    // A fourth name outside the tree: the tree's first name still holds the contents.
    fs::hard_link(tree.join("b/original"), dir.path().join("outside-link")).unwrap_or_else(|e| panic!("{e}"));

    let blob = dir.path().join("links.tar.gz");
    layer_from_dir(&tree, "/app", &blob);
    let listing = list_layer(&blob);
    let regular: Vec<&String> = listing.iter().filter(|l| l.starts_with('-') && !l.contains(" link to ")).collect();
    assert_eq!(regular.len(), 1, "exactly one member carries the contents:\n{}", listing.join("\n"));
    assert!(listed(&listing, "app/a-link").starts_with('-'), "the first name in archive order holds the data");
    for name in ["app/b/original", "app/b/z-link"] {
        assert!(listed(&listing, name).ends_with(&format!("{name} link to app/a-link")), "{}", listed(&listing, name));
    }

    for tool in ["bsdtar", "tar"] {
        let out = dir.path().join(format!("x-{tool}"));
        extract(&blob, &out, tool);
        let meta = fs::metadata(out.join("app/b/z-link")).unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert_eq!(meta.nlink(), 3, "{tool}: three names for one inode");
        assert_eq!(fs::read_to_string(out.join("app/b/original")).unwrap_or_default(), "shared contents\n");
    }
}

/// Non-UTF-8 names, names at and over the 100-byte ustar field, a 255-byte component (the
/// longest Linux allows) and paths far over 255 bytes, as files, directories, symlink and
/// hard-link targets. Both bsdtar and GNU tar must give back exactly the same tree.
#[test]
fn non_utf8_and_long_names_round_trip_through_other_tars() {
    let dir = temp_dir();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap_or_else(|e| panic!("{e}"));
    let name = |bytes: &[u8]| tree.join(OsStr::from_bytes(bytes));
    write(&name(b"caf\xe9-latin1.txt"), "latin-1 name");
    write(&name(b"\xff\xfe\x80"), "no UTF-8 at all");
    write(&name(b"\xe6\x97\xa5\xe6\x9c\xac.txt"), "valid UTF-8");
    write(&name(&[b'a'; 100]), "exactly 100 bytes with app/ prefix: over the field");
    write(&name(&[b'b'; 96]), "96 + app/ = 100 bytes: fits the field");
    write(&name(&[b'c'; 255]), "the longest component Linux allows");
    let mut deep = tree.clone();
    for i in 0..6u8 {
        let mut component = vec![b'd' + i; 120];
        component.extend_from_slice(b"\xe9");
        deep.push(OsStr::from_bytes(&component));
    }
    write(&deep.join(OsStr::from_bytes(&[b'e'; 200])), "a path of about 1000 bytes");
    let long_target = format!("{}/{}", "t".repeat(150), "u".repeat(150));
    symlink(&long_target, tree.join("long-symlink")).unwrap_or_else(|e| panic!("{e}"));
    symlink(OsStr::from_bytes(b"caf\xe9-latin1.txt"), tree.join("latin1-symlink")).unwrap_or_else(|e| panic!("{e}"));
    fs::hard_link(name(&[b'c'; 255]), tree.join("hardlink-to-long")).unwrap_or_else(|e| panic!("{e}"));

    let blob = dir.path().join("names.tar.gz");
    layer_from_dir(&tree, "/app", &blob);
    let expected = snapshot(&tree);
    for tool in ["bsdtar", "tar"] {
        let out = dir.path().join(format!("x-{tool}"));
        extract(&blob, &out, tool);
        assert_eq!(snapshot(&out.join("app")), expected, "{tool} extracted a different tree");
    }
    // ustar has no room for these; the PAX records must carry the raw bytes.
    let tar = uncompressed_tar(&blob);
    assert!(tar.windows(17).any(|w| w == b"hdrcharset=BINARY"), "no hdrcharset record for non-UTF-8 long names");
}

/// Every path under `root` (raw bytes) with what it is: file contents, symlink target or dir.
fn snapshot(root: &Path) -> Vec<(Vec<u8>, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(Vec<u8>, String)>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let relative = path.strip_prefix(root).unwrap_or(&path).as_os_str().as_bytes().to_vec();
            let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap_or_default();
                out.push((relative, format!("link {:?}", target.as_os_str())));
            } else if meta.is_dir() {
                out.push((relative, "dir".to_owned()));
                walk(root, &path, out);
            } else {
                let contents = fs::read(&path).unwrap_or_default();
                out.push((relative, format!("file {}", String::from_utf8_lossy(&contents))));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path) -> Tmpfs {
        require_tool("mount");
        fs::create_dir_all(path).unwrap_or_else(|e| panic!("{e}"));
        run_ok(Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs"]).arg(path));
        Tmpfs { path: path.to_path_buf() }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status().map(|s| s.success()).unwrap_or(false);
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// A 9 GiB file that is one hole: its size needs a PAX record (ustar stops at 8 GiB). The file
/// lives on a tmpfs, whose holes read as the shared zero page: on a disk file system the kernel
/// would fill 9 GiB of page cache first, doubling the time. zstd keeps the test at about 12 s
/// here; the gzip run of the same file (about 35 s to write, 25 s for bsdtar to list) is in
/// bench/memory_bench.sh.
#[test]
fn sparse_9_gib_file_gets_a_pax_size() {
    require_tool("zstd");
    let dir = temp_dir();
    let holes = Tmpfs::mount(&dir.path().join("tmpfs"));
    let tree = holes.path.join("tree");
    fs::create_dir_all(&tree).unwrap_or_else(|e| panic!("{e}"));
    const SIZE: u64 = 9 << 30;
    let file = fs::File::create(tree.join("sparse.bin")).unwrap_or_else(|e| panic!("{e}"));
    file.set_len(SIZE).unwrap_or_else(|e| panic!("{e}"));
    drop(file);

    let blob = dir.path().join("sparse.tar.zst");
    let started = Instant::now();
    let descriptor: serde_json::Value = serde_json::from_str(&pyoci_ok(
        pyoci().args(["layer", "--compression", "zstd", "--dir"]).arg(&tree).args(["--prefix", "/data", "-o"]).arg(&blob),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("9 GiB sparse file packed (zstd) in {:.1} s", started.elapsed().as_secs_f64());
    assert!(descriptor["uncompressedSize"].as_u64().unwrap_or(0) > SIZE);

    let listing = list_layer(&blob);
    let line = listed(&listing, "data/sparse.bin");
    assert_eq!(line.split_whitespace().nth(4), Some(SIZE.to_string().as_str()), "{line}");

    let head = tools::output(Command::new("sh").arg("-c").arg("zstd -dc \"$1\" | head -c 4096").arg("sh").arg(&blob));
    assert!(
        head.stdout.windows(16).any(|w| w == b"size=9663676416\n"),
        "no PAX size record in the first headers"
    );
}

#[test]
fn fifty_thousand_small_files() {
    let dir = temp_dir();
    let tree = dir.path().join("site-packages");
    let started = Instant::now();
    for package in 0..50 {
        fs::create_dir_all(tree.join(format!("pkg{package:02}"))).unwrap_or_else(|e| panic!("{e}"));
    }
    // Created newest-name-first, so directory order on disk is not the archive order.
    for i in (0..50_000u32).rev() {
        fs::write(tree.join(format!("pkg{:02}/m{i:05}.py", i / 1000)), format!("VALUE = {i}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let created = started.elapsed();
    let blob = dir.path().join("site-packages.tar.gz");
    let started = Instant::now();
    layer_from_dir(&tree, "/app/site-packages", &blob);
    eprintln!(
        "50,000 files packed in {:.2} s (created in {:.2} s)",
        started.elapsed().as_secs_f64(),
        created.as_secs_f64()
    );

    let names = layer_names(&blob);
    assert_eq!(names.iter().filter(|n| n.ends_with(".py")).count(), 50_000);
    assert_eq!(names.len(), 50_000 + 50 + 2, "files, 50 package dirs, /app and /app/site-packages");
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| a.split('/').cmp(b.split('/')));
    assert_eq!(names, sorted, "members are not in path order");
    assert_eq!(layer_file(&blob, "app/site-packages/pkg49/m49999.py"), b"VALUE = 49999\n");
}

#[test]
fn a_directory_where_a_file_was_expected_is_a_clear_error() {
    let dir = temp_dir();
    let src = dir.path().join("src");
    write(&src.join("pkg/mod.py"), "x = 1\n");
    fs::create_dir_all(dir.path().join("out")).unwrap_or_else(|e| panic!("{e}"));
    let output = dir.path().join("out/layer.tar.gz");

    let spec = write_spec(&dir.path().join("typed.json"), serde_json::json!([{"path": "/app/mod.py", "type": "file", "source": src.join("pkg")}]));
    let stderr = pyoci_fails(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&output));
    assert!(stderr.contains("entries[0]") && stderr.contains(&src.join("pkg").display().to_string()) && stderr.contains("directory"), "{stderr}");
    assert_nothing_written(&output);

    let spec = write_spec(
        &dir.path().join("hardlink.json"),
        serde_json::json!([{"path": "/app/d", "type": "dir"}, {"path": "/app/l", "type": "hardlink", "target": "/app/d"}]),
    );
    let stderr = pyoci_fails(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&output));
    assert!(stderr.contains("/app/l") && stderr.contains("directory"), "{stderr}");
    assert_nothing_written(&output);

    let stderr = pyoci_fails(pyoci().arg("layer").arg("--dir").arg(src.join("pkg/mod.py")).args(["--prefix", "/app", "-o"]).arg(&output));
    assert!(stderr.contains("mod.py") && stderr.contains("not a directory"), "{stderr}");
    assert_nothing_written(&output);

    // A layer "blob" that is a directory, and a base "layout" that is a file.
    let image = dir.path().join("out/image");
    let stderr = pyoci_fails(pyoci().arg("image").arg("--layer").arg(&src).arg("-o").arg(&image));
    assert!(stderr.contains(&src.display().to_string()), "{stderr}");
    assert_nothing_written(&image);
    let stderr = pyoci_fails(pyoci().arg("image").arg("--base").arg(src.join("pkg/mod.py")).arg("-o").arg(&image));
    assert!(stderr.contains("mod.py"), "{stderr}");
    assert_nothing_written(&image);

    // An output path that is an existing, non-empty directory is left alone.
    let occupied = dir.path().join("out/occupied");
    write(&occupied.join("keep.txt"), "mine");
    let spec = write_spec(&dir.path().join("ok.json"), serde_json::json!([{"path": "/a", "content": "a"}]));
    let stderr = pyoci_fails(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&occupied));
    assert!(stderr.contains("occupied"), "{stderr}");
    assert_eq!(fs::read_to_string(occupied.join("keep.txt")).unwrap_or_default(), "mine");
}

#[test]
fn fifos_sockets_and_devices_fail_naming_the_path() {
    require_tool("mkfifo");
    let dir = temp_dir();
    fs::create_dir_all(dir.path().join("out")).unwrap_or_else(|e| panic!("{e}"));
    let output = dir.path().join("out/layer.tar.gz");

    let fifo_tree = dir.path().join("fifo-tree");
    write(&fifo_tree.join("ok.txt"), "fine");
    run_ok(Command::new("mkfifo").arg(fifo_tree.join("pipe")));
    let socket_tree = dir.path().join("socket-tree");
    write(&socket_tree.join("ok.txt"), "fine");
    let _listener = std::os::unix::net::UnixListener::bind(socket_tree.join("control.sock"))
        .unwrap_or_else(|e| panic!("bind: {e}"));

    for (tree, member, kind) in [(&fifo_tree, "pipe", "fifo"), (&socket_tree, "control.sock", "socket")] {
        // Nothing may block on opening the fifo: the run must simply fail.
        let stderr = pyoci_fails(pyoci().arg("layer").arg("--dir").arg(tree).args(["--prefix", "/app", "-o"]).arg(&output));
        assert!(stderr.contains(&tree.join(member).display().to_string()) && stderr.contains(kind), "{stderr}");
        assert_nothing_written(&output);

        let spec = write_spec(&dir.path().join("spec.json"), serde_json::json!([{"path": "/x", "source": tree.join(member)}]));
        let stderr = pyoci_fails(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&output));
        assert!(stderr.contains(member) && stderr.contains(kind), "{stderr}");
        assert_nothing_written(&output);
    }

    let spec = write_spec(&dir.path().join("dev.json"), serde_json::json!([{"path": "/dev/null", "source": "/dev/null"}]));
    let stderr = pyoci_fails(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&output));
    assert!(stderr.contains("/dev/null") && stderr.contains("character device"), "{stderr}");
    assert_nothing_written(&output);
}

/// A "base" image whose top layer whites out a file, a directory and (opaquely) the contents
/// of another directory: pyoci's filesystem reader (`pyoci test`) and umoci agree on what is left.
#[test]
fn whiteouts_over_a_base_hide_paths() {
    let dir = temp_dir();
    let d = dir.path();
    let lower = write_spec(
        &d.join("lower.json"),
        serde_json::json!([
            {"path": "/app/keep.txt", "content": "kept"},
            {"path": "/app/secret.txt", "content": "deleted"},
            {"path": "/app/dir/a.txt", "content": "a"},
            {"path": "/app/dir/b/c.txt", "content": "c"},
            {"path": "/data/old/x.txt", "content": "x"},
            {"path": "/data/old.txt", "content": "old"},
        ]),
    );
    let upper = write_spec(
        &d.join("upper.json"),
        serde_json::json!([
            {"path": "/app/secret.txt", "type": "whiteout"},
            {"path": "/app/dir", "type": "whiteout"},
            {"path": "/data", "type": "opaque_whiteout"},
            {"path": "/data/new.txt", "content": "new"},
        ]),
    );
    for (spec, blob) in [(&lower, "lower.tar.gz"), (&upper, "upper.tar.gz")] {
        pyoci_ok(pyoci().args(["layer", "--spec"]).arg(spec).arg("-o").arg(d.join(blob)).arg("--descriptor-out").arg(d.join(format!("{blob}.json"))));
    }
    let layer_arg = |blob: &str| format!("{}={}", d.join(blob).display(), d.join(format!("{blob}.json")).display());
    pyoci_ok(pyoci().args(["image", "--layer", &layer_arg("lower.tar.gz"), "-o"]).arg(d.join("base")));
    pyoci_ok(pyoci().arg("image").arg("--base").arg(d.join("base")).args(["--layer", &layer_arg("upper.tar.gz"), "-o"]).arg(d.join("image")));

    let present = ["/app/keep.txt", "/data/new.txt", "/data"];
    let absent = [
        "/app/secret.txt",
        "/app/dir",
        "/app/dir/a.txt",
        "/app/dir/b/c.txt",
        "/data/old",
        "/data/old/x.txt",
        "/data/old.txt",
        "/app/.wh.secret.txt",
        "/app/.wh.dir",
        "/data/.wh..wh..opq",
    ];
    let tests: Vec<serde_json::Value> = present
        .iter()
        .map(|p| (p, true))
        .chain(absent.iter().map(|p| (p, false)))
        .map(|(path, exists)| serde_json::json!({"name": path, "path": path, "shouldExist": exists}))
        .collect();
    let spec = d.join("structure.yaml"); // JSON is YAML; YAML defaults leave ownership unchecked
    write(&spec, serde_json::json!({"schemaVersion": "2.0.0", "fileExistenceTests": tests}).to_string());
    let out = tools::output(pyoci().arg("test").arg(d.join("image")).arg("--spec").arg(&spec));
    assert!(
        out.status.success(),
        "pyoci test disagrees with the whiteouts:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    require_tool("umoci");
    let bundle = d.join("bundle");
    run_ok(Command::new("umoci").args(["unpack", "--image"]).arg(format!("{}:latest", d.join("image").display())).arg(&bundle));
    let rootfs = bundle.join("rootfs");
    for path in present {
        assert!(rootfs.join(&path[1..]).exists(), "umoci: {path} should exist");
    }
    for path in absent {
        assert!(fs::symlink_metadata(rootfs.join(&path[1..])).is_err(), "umoci: {path} should be gone");
    }
    assert_eq!(fs::read_to_string(rootfs.join("app/keep.txt")).unwrap_or_default(), "kept");
}

/// Writes `tar` (built by Python's tarfile, an independent writer) gzipped as the only layer of a
/// hand-made OCI layout, bypassing `pyoci image`, which refuses such layers.
fn layout_with_layer(dir: &Path, python_tar_script: &str) -> PathBuf {
    let tar = dir.join("hostile.tar");
    run_ok(Command::new("python3").arg("-c").arg(python_tar_script).arg(&tar));
    run_ok(Command::new("gzip").args(["-9n"]).arg(&tar));
    let layer = fs::read(dir.join("hostile.tar.gz")).unwrap_or_else(|e| panic!("layer: {e}"));
    let diff_id = sha256(&uncompressed_tar(&dir.join("hostile.tar.gz")));
    let layout = dir.join("image");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap_or_else(|e| panic!("{e}"));
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        fs::write(layout.join("blobs/sha256").join(&digest), bytes).unwrap_or_else(|e| panic!("{e}"));
        (format!("sha256:{digest}"), bytes.len())
    };
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"User": "65532"},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]});
    write(&layout.join("index.json"), index.to_string());
    write(&layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#);
    layout
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("sha256sum: {e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("sha256sum stdin"));
        stdin.write_all(bytes).unwrap_or_else(|e| panic!("sha256sum: {e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("sha256sum: {e}"));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// Runs `pyoci ARGS` under /usr/bin/time; returns (exit code, stderr without time's line,
/// peak resident memory in MB, seconds).
fn measured_pyoci(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, u64, f64) {
    require_tool("time");
    let started = Instant::now();
    let out = tools::output(
        Command::new("/usr/bin/time")
            .args(["-f", "PEAK-RSS-KB=%M"])
            .arg(env!("CARGO_BIN_EXE_pyoci"))
            .args(args)
            .env_remove("SOURCE_DATE_EPOCH"),
    );
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak_kb: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("PEAK-RSS-KB="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory from /usr/bin/time:\n{stderr}"));
    let code = out.status.code();
    (code, stderr, peak_kb / 1024, seconds)
}

/// The file existence and content checks `pyoci test` runs on a hostile layout.
fn structure_spec(dir: &Path, existing: &[&str]) -> PathBuf {
    let tests: Vec<serde_json::Value> = existing
        .iter()
        .map(|p| serde_json::json!({"name": p, "path": p, "shouldExist": true}))
        .collect();
    let contents: Vec<serde_json::Value> = existing
        .iter()
        .filter(|p| p.ends_with("/f"))
        .map(|p| serde_json::json!({"name": p, "path": p, "expectedContents": ["deep"]}))
        .collect();
    let spec = dir.join("structure.json");
    write(
        &spec,
        serde_json::json!({"schemaVersion": "2.0.0", "fileExistenceTests": tests, "fileContentTests": contents})
            .to_string(),
    );
    spec
}

#[test]
fn a_file_at_a_one_mebibyte_deep_path_is_refused_quickly_in_bounded_memory() {
    let dir = temp_dir();
    let d = dir.path();
    // One file under 524,287 nested directories: a 1 MiB name in a gzip layer of about 1 KB.
    let layout = layout_with_layer(
        d,
        "import io, sys, tarfile\n\
         with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:\n\
         \x20   info = tarfile.TarInfo('a/' * 524287 + 'f'); data = b'deep\\n'; info.size = len(data)\n\
         \x20   t.addfile(info, io.BytesIO(data))\n",
    );
    let blob_size: u64 = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .max()
        .unwrap_or(0);
    assert!(blob_size < 4096, "the hostile layer should be tiny, it is {blob_size} bytes");
    let spec = structure_spec(d, &["/a/a/a"]);
    let sbom = d.join("sbom.json");
    let runs: Vec<(&str, Vec<&std::ffi::OsStr>)> = vec![
        ("sbom", vec!["sbom".as_ref(), "-o".as_ref(), sbom.as_os_str(), layout.as_os_str()]),
        ("check", vec!["check".as_ref(), layout.as_os_str()]),
        ("test", vec!["test".as_ref(), layout.as_os_str(), "--spec".as_ref(), spec.as_os_str()]),
    ];
    for (name, args) in runs {
        let (code, stderr, peak_mb, seconds) = measured_pyoci(&args);
        eprintln!("pyoci {name} on the 1 MiB path: exit {code:?}, {peak_mb} MB peak, {seconds:.2}s");
        assert_eq!(code, Some(1), "pyoci {name} should refuse the layer:\n{stderr}");
        assert!(stderr.starts_with("error: layer 0") && stderr.contains("PATH_MAX") && stderr.contains("member a/a/a/"), "pyoci {name}:\n{stderr}");
        assert!(stderr.len() < 4096, "pyoci {name} should not print the whole name:\n{}", stderr.len());
        assert!(peak_mb < 200, "pyoci {name} peaked at {peak_mb} MB");
        assert!(seconds < 5.0, "pyoci {name} took {seconds:.2}s");
    }
    assert_nothing_written(&sbom);
}

#[test]
fn many_deep_directory_chains_cost_linear_time_and_memory() {
    let dir = temp_dir();
    let d = dir.path();
    // 2,000 files, each under its own chain of 2,000 directories (4 KB names, within PATH_MAX):
    // storing every implied parent would cost 2,000 x 2,000 strings averaging 2 KB (8 GB).
    let layout = layout_with_layer(
        d,
        "import io, sys, tarfile\n\
         with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:\n\
         \x20   for i in range(2000):\n\
         \x20       info = tarfile.TarInfo('d%04d/' % i + 'a/' * 2000 + 'f'); data = b'deep\\n'; info.size = len(data)\n\
         \x20       t.addfile(info, io.BytesIO(data))\n",
    );
    let deep_file = format!("/d0007/{}f", "a/".repeat(2000));
    let deep_dir = format!("/d1999/{}", "a/".repeat(1000));
    let spec = structure_spec(d, &[&deep_file, deep_dir.trim_end_matches('/'), "/d0000"]);
    let sbom = d.join("sbom.json");
    let runs: Vec<(&str, Vec<&std::ffi::OsStr>, i32)> = vec![
        ("sbom", vec!["sbom".as_ref(), "-o".as_ref(), sbom.as_os_str(), layout.as_os_str()], 0),
        ("check", vec!["check".as_ref(), layout.as_os_str()], 0),
        ("test", vec!["test".as_ref(), layout.as_os_str(), "--spec".as_ref(), spec.as_os_str()], 0),
    ];
    for (name, args, expected) in runs {
        let (code, stderr, peak_mb, seconds) = measured_pyoci(&args);
        eprintln!("pyoci {name} on 2,000 deep chains: exit {code:?}, {peak_mb} MB peak, {seconds:.2}s");
        assert_eq!(code, Some(expected), "pyoci {name}:\n{stderr}");
        assert!(peak_mb < 200, "pyoci {name} peaked at {peak_mb} MB");
        assert!(seconds < 5.0, "pyoci {name} took {seconds:.2}s");
    }
    assert!(sbom.exists());
}
