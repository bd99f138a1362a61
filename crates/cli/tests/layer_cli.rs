//! `pyoci layer` and `pyoci deb` run as a real binary, with every blob checked by independent
//! readers: sha256sum, gzip, zstd, GNU tar, bsdtar (libarchive), Python's gzip and tarfile, and
//! umoci (Go's gzip and tar readers).

#[path = "../../../tests/support/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tools::{debs_dir, output, require_tool, run_ok};

fn pyoci() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pyoci"));
    command.env_remove("SOURCE_DATE_EPOCH");
    command
}

fn sha256_file(path: &Path) -> String {
    require_tool("sha256sum");
    let out = run_ok(Command::new("sha256sum").arg(path));
    format!("sha256:{}", out.split_whitespace().next().unwrap_or_default())
}

/// sha256 and length of the blob decompressed by the reference tool.
fn decompressed_digest(blob: &Path, zstd: bool) -> (String, u64) {
    let tool = if zstd { "zstd" } else { "gzip" };
    require_tool(tool);
    let digest = run_ok(Command::new("bash").arg("-c").arg(format!("{tool} -dc '{}' | sha256sum", blob.display())));
    let len = run_ok(Command::new("bash").arg("-c").arg(format!("{tool} -dc '{}' | wc -c", blob.display())));
    (
        format!("sha256:{}", digest.split_whitespace().next().unwrap_or_default()),
        len.trim().parse().expect("wc -c prints a number"),
    )
}

fn layer_ok(args: &[&OsStr]) -> Value {
    let stdout = run_ok(pyoci().arg("layer").args(args));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("descriptor is not JSON ({e}): {stdout}"))
}

const NON_UTF8: &[u8] = b"app/caf\xe9-latin1.txt";

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A tree with the awkward cases: long names (>100 and >255 bytes in total), a non-UTF-8
/// name, a long symlink target, relative and absolute symlinks, a hard link, an executable,
/// an empty directory and a file of several MiB (several gzip members).
fn awkward_tree(root: &Path) {
    let long_dir = root.join("d".repeat(120)).join("e".repeat(120));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join(format!("{}.py", "f".repeat(90))), "print('long')\n").unwrap();
    fs::write(root.join(OsStr::from_bytes(b"caf\xe9-latin1.txt")), "not utf-8 name\n").unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("run.sh", root.join("run-link")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3.11", root.join("python")).unwrap();
    let long_target = format!("{}/{}", "d".repeat(120), "e".repeat(120));
    std::os::unix::fs::symlink(&long_target, root.join("long-link")).unwrap();
    fs::write(root.join("data.bin"), big_text(3 << 20)).unwrap();
    fs::hard_link(root.join("data.bin"), root.join("data-hardlink.bin")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
}

fn big_text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("line {i} value {}\n", i.wrapping_mul(2654435761) % 1000).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File { executable: bool, contents: Vec<u8> },
    Symlink(Vec<u8>),
}

/// Every path under `root` (raw bytes) with its type and content.
fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Node>) {
        for child in fs::read_dir(dir).unwrap() {
            let path = child.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().as_os_str().as_bytes().to_vec();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(relative, Node::Symlink(fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec()));
            } else if meta.is_dir() {
                out.insert(relative, Node::Dir);
                walk(root, &path, out);
            } else {
                let executable = meta.permissions().mode() & 0o100 != 0;
                out.insert(relative, Node::File { executable, contents: fs::read(&path).unwrap() });
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn check_descriptor(descriptor: &Value, blob: &Path, zstd: bool) {
    let media_type = if zstd {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    };
    assert_eq!(descriptor["mediaType"], media_type);
    assert_eq!(descriptor["digest"], sha256_file(blob), "digest is sha256sum of the blob");
    assert_eq!(descriptor["size"], fs::metadata(blob).unwrap().len());
    let (diff_id, uncompressed) = decompressed_digest(blob, zstd);
    assert_eq!(descriptor["diffId"], diff_id, "diffId is the sha256 of the decompressed tar");
    assert_eq!(descriptor["uncompressedSize"], uncompressed);
    let keys: Vec<&String> = descriptor.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "exactly the contract's fields: {descriptor}");
}

#[test]
fn dir_layer_is_read_identically_by_gnu_tar_and_bsdtar() {
    require_tool("tar");
    require_tool("bsdtar");
    let temp = tempfile::tempdir().unwrap();
    let src = temp.path().join("src");
    awkward_tree(&src);
    let expected = snapshot(&src);

    for (compression, zstd) in [("gzip", false), ("zstd", true)] {
        let blob = temp.path().join(format!("layer.{compression}"));
        let descriptor_out = temp.path().join(format!("layer.{compression}.json"));
        let descriptor = layer_ok(&[
            os("--dir"),
            src.as_os_str(),
            os("--prefix"),
            os("/app"),
            os("--compression"),
            os(compression),
            os("-o"),
            blob.as_os_str(),
            os("--descriptor-out"),
            descriptor_out.as_os_str(),
        ]);
        check_descriptor(&descriptor, &blob, zstd);
        let written: Value = serde_json::from_slice(&fs::read(&descriptor_out).unwrap()).unwrap();
        assert_eq!(written, descriptor, "--descriptor-out holds what stdout printed");

        let listing = run_ok(Command::new("bsdtar").arg("-tvf").arg(&blob));
        assert!(listing.contains(&format!("app/{}/{}/{}.py", "d".repeat(120), "e".repeat(120), "f".repeat(90))));
        assert!(listing.contains("app/run-link -> run.sh"), "{listing}");
        // Hard-linked contents go to whichever path sorts first; the other links to it.
        assert!(listing.contains("app/data.bin link to app/data-hardlink.bin"), "{listing}");
        assert!(!listing.contains("PaxHeaders"), "PAX headers are metadata, not members: {listing}");
        for line in listing.lines() {
            assert!(line.contains(" 0      0 ") || line.contains(" 0 0 "), "owner is 0:0: {line}");
            assert!(line.contains("1970"), "mtime 0 by default: {line}");
        }

        let decompress = if zstd { "--zstd" } else { "--gzip" };
        let gnu_listing = output(
            Command::new("tar").args([decompress, "--quoting-style=literal", "-tf"]).arg(&blob),
        );
        assert!(gnu_listing.status.success(), "GNU tar lists it: {}", String::from_utf8_lossy(&gnu_listing.stderr));
        assert!(gnu_listing.stdout.windows(NON_UTF8.len()).any(|w| w == NON_UTF8), "non-UTF-8 name kept as bytes");
        assert!(gnu_listing.stderr.is_empty(), "GNU tar has no complaints: {}", String::from_utf8_lossy(&gnu_listing.stderr));

        for (reader, args) in [("tar", vec![decompress, "-xf"]), ("bsdtar", vec!["-xf"])] {
            let out = temp.path().join(format!("x-{reader}-{compression}"));
            fs::create_dir_all(&out).unwrap();
            run_ok(Command::new(reader).args(&args).arg(&blob).arg("-C").arg(&out));
            let app = out.join("app");
            assert_eq!(snapshot(&app), expected, "{reader} extracts exactly the source tree ({compression})");
            let a = fs::metadata(app.join("data.bin")).unwrap();
            let b = fs::metadata(app.join("data-hardlink.bin")).unwrap();
            assert_eq!(a.ino(), b.ino(), "{reader} restores the hard link");
        }
    }
}

#[test]
fn gzip_members_are_read_by_python_and_go() {
    require_tool("python3");
    require_tool("umoci");
    let temp = tempfile::tempdir().unwrap();
    let src = temp.path().join("src");
    awkward_tree(&src);
    let blob = temp.path().join("layer.tar.gz");
    let descriptor =
        layer_ok(&[os("--dir"), src.as_os_str(), os("--prefix"), os("/app"), os("-o"), blob.as_os_str()]);
    assert!(descriptor["uncompressedSize"].as_u64().unwrap() > 3 << 20, "several 1 MiB members");

    let python = run_ok(Command::new("python3").arg("-c").arg(
        "import gzip, hashlib, sys, tarfile\n\
         data = gzip.open(sys.argv[1]).read()\n\
         names = tarfile.open(sys.argv[1]).getnames()\n\
         print('sha256:' + hashlib.sha256(data).hexdigest(), len(data), len(names))",
    ).arg(&blob));
    let fields: Vec<&str> = python.split_whitespace().collect();
    assert_eq!(fields[0], descriptor["diffId"], "Python's gzip reads every member");
    assert_eq!(fields[1], descriptor["uncompressedSize"].to_string());

    // Go: umoci unpacks an OCI layout holding the blob.
    let layout = temp.path().join("layout");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let hex = |digest: &Value| digest.as_str().unwrap().trim_start_matches("sha256:").to_string();
    fs::copy(&blob, blobs.join(hex(&descriptor["digest"]))).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [descriptor["diffId"]]}
    })
    .to_string();
    let config_path = temp.path().join("config.json");
    fs::write(&config_path, &config).unwrap();
    let config_digest = sha256_file(&config_path);
    fs::write(blobs.join(config_digest.trim_start_matches("sha256:")), &config).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": descriptor["mediaType"], "digest": descriptor["digest"], "size": descriptor["size"]}]
    })
    .to_string();
    let manifest_path = temp.path().join("manifest.json");
    fs::write(&manifest_path, &manifest).unwrap();
    let manifest_digest = sha256_file(&manifest_path);
    fs::write(blobs.join(manifest_digest.trim_start_matches("sha256:")), &manifest).unwrap();
    fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        layout.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
            "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "test"}}]})
        .to_string(),
    )
    .unwrap();
    let bundle = temp.path().join("bundle");
    run_ok(Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:test", layout.display())).arg(&bundle));
    let app = bundle.join("rootfs/app");
    assert_eq!(fs::read(app.join("data.bin")).unwrap(), fs::read(src.join("data.bin")).unwrap());
    assert_eq!(snapshot(&app), snapshot(&src), "Go's readers see the whole layer");
}

/// Builds the same tree with a shell under a given umask, in a given file order, with given
/// mtimes, the way different checkouts and build machines would.
fn make_tree(root: &Path, umask: &str, reverse: bool, touch_date: &str) {
    let mut steps = vec![
        "mkdir -p lib/pkg/sub empty".to_string(),
        "printf 'print(1)\\n' > lib/pkg/__init__.py".to_string(),
        "printf 'x = 2\\n' > lib/pkg/sub/mod.py".to_string(),
        "printf '#!/bin/sh\\n' > lib/tool && chmod u+x lib/tool".to_string(),
        "head -c 3000000 /dev/zero | tr '\\0' 'a' > lib/big.txt".to_string(),
        "ln -s pkg/__init__.py lib/init-link".to_string(),
    ];
    let setup = steps.remove(0);
    if reverse {
        steps.reverse();
    }
    let script = format!(
        "set -e; umask {umask}; mkdir -p '{root}'; cd '{root}'; {setup}; {}; \
         find . -exec touch -h -d '{touch_date}' {{}} +",
        steps.join("; "),
        root = root.display()
    );
    run_ok(Command::new("bash").arg("-c").arg(script));
}

#[test]
fn same_tree_gives_identical_blobs_whatever_umask_mtime_order_and_threads() {
    let temp = tempfile::tempdir().unwrap();
    let first = temp.path().join("checkout-one/tree");
    let second = temp.path().join("other/place/tree");
    make_tree(&first, "022", false, "2020-01-02 03:04:05");
    make_tree(&second, "077", true, "2024-06-07 08:09:10");

    for compression in ["gzip", "zstd"] {
        let mut blobs = Vec::new();
        for (tree, threads) in [(&first, "2"), (&second, "1"), (&second, "3")] {
            let blob = temp.path().join(format!("{compression}-{}.blob", blobs.len()));
            let descriptor = layer_ok(&[
                os("--dir"),
                tree.as_os_str(),
                os("--prefix"),
                os("/srv"),
                os("--compression"),
                os(compression),
                os("--threads"),
                os(threads),
                os("-o"),
                blob.as_os_str(),
            ]);
            blobs.push((fs::read(&blob).unwrap(), descriptor));
        }
        assert!(blobs.windows(2).all(|w| w[0] == w[1]), "{compression}: byte-identical blobs and descriptors");
    }

    // --mtime and SOURCE_DATE_EPOCH set every header's time, and nothing else changes.
    let blob_a = temp.path().join("a.tgz");
    let blob_b = temp.path().join("b.tgz");
    run_ok(pyoci().args(["layer", "--mtime", "1700000000", "--dir"]).arg(&first).arg("-o").arg(&blob_a));
    run_ok(
        pyoci().env("SOURCE_DATE_EPOCH", "1700000000").args(["layer", "--dir"]).arg(&second).arg("-o").arg(&blob_b),
    );
    assert_eq!(fs::read(&blob_a).unwrap(), fs::read(&blob_b).unwrap());
    let listing = run_ok(Command::new("tar").args(["--full-time", "-tzvf"]).arg(&blob_a));
    assert!(listing.lines().all(|l| l.contains("2023-11-14 22:13:20")), "{listing}");
}

#[test]
fn spec_sets_modes_owners_links_and_inline_files() {
    let temp = tempfile::tempdir().unwrap();
    let main_py = temp.path().join("main.py");
    fs::write(&main_py, "print('hi')\n").unwrap();
    let site = temp.path().join("site");
    fs::create_dir_all(site.join("pkg")).unwrap();
    fs::write(site.join("pkg/__init__.py"), "").unwrap();
    let spec = temp.path().join("layer.json");
    fs::write(
        &spec,
        serde_json::json!({"entries": [
            {"path": "/app/main.py", "source": main_py},
            {"path": "/app/run", "source": main_py, "mode": "0755"},
            {"path": "/app/site", "source": site},
            {"path": "/app/data", "type": "dir", "mode": "0750", "uid": 65532, "gid": 65532},
            {"path": "/app/link", "type": "symlink", "target": "../x"},
            {"path": "/app/run2", "type": "hardlink", "target": "/app/run"},
            {"path": "/etc/motd", "type": "file", "content": "inline text", "uname": "nonroot", "gname": "nonroot"}
        ]})
        .to_string(),
    )
    .unwrap();
    let blob = temp.path().join("layer.tgz");
    let descriptor = layer_ok(&[os("--spec"), spec.as_os_str(), os("--owner"), os("1000:1001"), os("-o"), blob.as_os_str()]);
    check_descriptor(&descriptor, &blob, false);
    // bsdtar -tv: mode, links, owner, group, size, month, day, year, name[, -> target | link to target]
    let listing = run_ok(Command::new("bsdtar").arg("-tvf").arg(&blob));
    let members: BTreeMap<String, Vec<String>> = listing
        .lines()
        .map(|line| {
            let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            (fields[8].trim_end_matches('/').to_string(), fields)
        })
        .collect();
    let member = |name: &str| {
        let fields = members.get(name).unwrap_or_else(|| panic!("{name} missing from:\n{listing}"));
        format!("{} {} {} {}", fields[0], fields[2], fields[3], fields[9..].join(" "))
    };
    assert_eq!(member("app"), "drwxr-xr-x 0 0 ", "implied parent is 0755 root");
    assert_eq!(member("app/main.py"), "-rw-r--r-- 1000 1001 ", "--owner applies; mode from the source");
    assert_eq!(member("app/run"), "-rwxr-xr-x 1000 1001 ");
    assert_eq!(member("app/data"), "drwxr-x--- 65532 65532 ");
    assert_eq!(member("app/site"), "drwxr-xr-x 1000 1001 ");
    assert_eq!(member("app/site/pkg/__init__.py"), "-rw-r--r-- 1000 1001 ");
    assert_eq!(member("app/link"), "lrwxrwxrwx 1000 1001 -> ../x");
    assert_eq!(member("app/run2"), "hrwxr-xr-x 1000 1001 link to app/run");
    assert_eq!(member("etc/motd"), "-rw-r--r-- nonroot nonroot ");
    let motd = run_ok(Command::new("bsdtar").args(["-xOf"]).arg(&blob).arg("etc/motd"));
    assert_eq!(motd, "inline text");
}

fn refs(args: &[std::ffi::OsString]) -> Vec<&OsStr> {
    args.iter().map(|s| s.as_os_str()).collect()
}

/// Runs pyoci expecting failure; checks the message names `needle` and that the output
/// directory holds nothing new (no blob, no temporary file).
fn fails_cleanly(args: &[&OsStr], out_dir: &Path, needle: &str) -> Output {
    let before: Vec<PathBuf> = fs::read_dir(out_dir).unwrap().map(|e| e.unwrap().path()).collect();
    let out = output(pyoci().args(args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(stderr.contains(needle), "error names {needle:?}: {stderr}");
    assert!(out.stdout.is_empty(), "no descriptor on failure");
    let after: Vec<PathBuf> = fs::read_dir(out_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(before, after, "nothing left behind in {}", out_dir.display());
    out
}

#[test]
fn bad_inputs_fail_with_the_path_and_leave_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let out_dir = temp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let blob = out_dir.join("layer.tgz");
    let descriptor = out_dir.join("layer.json");
    let spec = |name: &str, json: Value| {
        let path = temp.path().join(name);
        fs::write(&path, json.to_string()).unwrap();
        path
    };
    let with_spec = |spec: &Path| {
        vec![
            os("layer").to_os_string(),
            os("--spec").to_os_string(),
            spec.as_os_str().to_os_string(),
            os("-o").to_os_string(),
            blob.as_os_str().to_os_string(),
            os("--descriptor-out").to_os_string(),
            descriptor.as_os_str().to_os_string(),
        ]
    };

    let missing = spec("missing.json", serde_json::json!({"entries": [{"path": "/a", "source": "/no/such/source.py"}]}));
    fails_cleanly(&refs(&with_spec(&missing)), &out_dir, "/no/such/source.py");

    let escape = spec("escape.json", serde_json::json!({"entries": [{"path": "/app/../../etc/shadow", "content": "x"}]}));
    fails_cleanly(&refs(&with_spec(&escape)), &out_dir, "/app/../../etc/shadow");

    let one = temp.path().join("one.py");
    let two = temp.path().join("two.py");
    fs::write(&one, "1").unwrap();
    fs::write(&two, "2").unwrap();
    let duplicate = spec(
        "duplicate.json",
        serde_json::json!({"entries": [{"path": "/app/x.py", "source": one}, {"path": "/app/x.py", "source": two}]}),
    );
    let out = fails_cleanly(&refs(&with_spec(&duplicate)), &out_dir, "/app/x.py");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one.py") && stderr.contains("two.py"), "names both sources: {stderr}");

    // An identical duplicate is fine.
    let same = spec(
        "same.json",
        serde_json::json!({"entries": [{"path": "/app/x.py", "source": one}, {"path": "/app/x.py", "content": "1"}]}),
    );
    run_ok(pyoci().args(refs(&with_spec(&same))));
    fs::remove_file(&blob).unwrap();
    fs::remove_file(&descriptor).unwrap();

    let fifo_tree = temp.path().join("fifo-tree");
    fs::create_dir_all(&fifo_tree).unwrap();
    fs::write(fifo_tree.join("ok.txt"), "ok").unwrap();
    run_ok(Command::new("mkfifo").arg(fifo_tree.join("pipe")));
    let out = fails_cleanly(
        &[os("layer"), os("--dir"), fifo_tree.as_os_str(), os("-o"), blob.as_os_str()],
        &out_dir,
        &fifo_tree.join("pipe").display().to_string(),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("fifo"));

    let bad_spec = spec("bad.json", serde_json::json!({"entries": [{"path": "/a", "type": "symlink"}]}));
    fails_cleanly(&refs(&with_spec(&bad_spec)), &out_dir, "entries[0]");

    // Debian packages: truncated, not a .deb at all, and an ar archive without debian-binary.
    let real_deb = debs_dir().join("zlib1g_1%3a1.2.13.dfsg-1_amd64.deb");
    let bytes = fs::read(&real_deb).unwrap_or_else(|e| panic!("{}: {e}", real_deb.display()));
    let truncated = temp.path().join("truncated.deb");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let not_deb = temp.path().join("notes.deb");
    fs::write(&not_deb, "just some text\n").unwrap();
    for deb in [&truncated, &not_deb] {
        fails_cleanly(
            &[os("deb"), deb.as_os_str(), os("-o"), blob.as_os_str(), os("--descriptor-out"), descriptor.as_os_str()],
            &out_dir,
            &deb.display().to_string(),
        );
    }
}

#[test]
fn deb_becomes_a_layer_with_dpkg_status() {
    let deb = debs_dir().join("zlib1g_1%3a1.2.13.dfsg-1_amd64.deb");
    require_tool("dpkg-deb");
    let temp = tempfile::tempdir().unwrap();
    let blob = temp.path().join("zlib1g.tgz");
    let stdout = run_ok(pyoci().arg("deb").arg(&deb).arg("-o").arg(&blob));
    let descriptor: Value = serde_json::from_str(stdout.trim()).unwrap();
    check_descriptor(&descriptor, &blob, false);

    let listing = run_ok(Command::new("bsdtar").arg("-tf").arg(&blob));
    let names: Vec<&str> = listing.lines().map(|l| l.trim_end_matches('/')).collect();
    assert!(names.contains(&"var/lib/dpkg/status.d/zlib1g"), "{listing}");
    assert!(names.contains(&"var/lib/dpkg/status.d/zlib1g.md5sums"), "{listing}");
    let contents = run_ok(Command::new("bash").arg("-c").arg(format!("dpkg-deb --fsys-tarfile '{}' | tar -t", deb.display())));
    for member in contents.lines() {
        let name = member.trim_start_matches("./").trim_end_matches('/');
        if !name.is_empty() {
            assert!(names.contains(&name), "{name} from the package is in the layer");
        }
    }

    let status = run_ok(Command::new("bsdtar").arg("-xOf").arg(&blob).arg("var/lib/dpkg/status.d/zlib1g"));
    assert!(status.starts_with("Package: zlib1g\nStatus: install ok installed\n"), "{status}");
    let control = run_ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"));
    assert!(status.contains(&format!("Version: {}", control.trim())), "{status}");
    let md5sums = run_ok(Command::new("bsdtar").arg("-xOf").arg(&blob).arg("var/lib/dpkg/status.d/zlib1g.md5sums"));
    let packaged_md5sums =
        run_ok(Command::new("bash").arg("-c").arg(format!("dpkg-deb --ctrl-tarfile '{}' | tar -xO ./md5sums", deb.display())));
    assert_eq!(md5sums, packaged_md5sums);

    // Same package, same bytes, and zstd works too.
    let again = temp.path().join("again.tgz");
    run_ok(pyoci().arg("deb").arg(&deb).arg("-o").arg(&again));
    assert_eq!(fs::read(&blob).unwrap(), fs::read(&again).unwrap());
    let zstd_blob = temp.path().join("zlib1g.tar.zst");
    let stdout = run_ok(pyoci().arg("deb").arg(&deb).args(["--compression", "zstd", "-o"]).arg(&zstd_blob));
    check_descriptor(&serde_json::from_str(stdout.trim()).unwrap(), &zstd_blob, true);
}

#[test]
fn help_documents_every_flag() {
    let layer = run_ok(pyoci().args(["layer", "--help"]));
    for flag in ["--spec", "--dir", "--prefix", "--compression", "--level", "--mtime", "--owner", "--output", "--descriptor-out", "--threads", "SOURCE_DATE_EPOCH", "\"entries\""] {
        assert!(layer.contains(flag), "pyoci layer --help mentions {flag}:\n{layer}");
    }
    let deb = run_ok(pyoci().args(["deb", "--help"]));
    for flag in ["<DEB>", "--compression", "--output", "--descriptor-out", "status.d"] {
        assert!(deb.contains(flag), "pyoci deb --help mentions {flag}:\n{deb}");
    }
}

#[test]
fn whiteout_names_are_refused_unless_asked_for() {
    let temp = tempfile::tempdir().unwrap();
    let out_dir = temp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let blob = out_dir.join("layer.tgz");

    for (name, path) in [("plain", "/.wh.etc"), ("opaque", "/etc/.wh..wh..opq")] {
        let spec = temp.path().join(format!("{name}.json"));
        fs::write(&spec, serde_json::json!({"entries": [{"path": path, "content": ""}]}).to_string()).unwrap();
        let out = fails_cleanly(&[os("layer"), os("--spec"), spec.as_os_str(), os("-o"), blob.as_os_str()], &out_dir, path);
        assert!(String::from_utf8_lossy(&out.stderr).contains("whiteout"));
    }

    let tree = temp.path().join("tree");
    fs::create_dir_all(tree.join("etc")).unwrap();
    fs::write(tree.join("etc/.wh.passwd"), "").unwrap();
    fails_cleanly(&[os("layer"), os("--dir"), tree.as_os_str(), os("-o"), blob.as_os_str()], &out_dir, ".wh.passwd");

    // A .deb built by dpkg-deb whose data empties /etc when layered on a base.
    let package = temp.path().join("pkg");
    fs::create_dir_all(package.join("DEBIAN")).unwrap();
    fs::create_dir_all(package.join("etc")).unwrap();
    fs::write(
        package.join("DEBIAN/control"),
        "Package: wipe-etc\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: hostile\n",
    )
    .unwrap();
    fs::write(package.join("etc/.wh..wh..opq"), "").unwrap();
    let deb = temp.path().join("wipe-etc.deb");
    run_ok(Command::new("dpkg-deb").args(["--root-owner-group", "-Zgzip", "--build"]).arg(&package).arg(&deb));
    fails_cleanly(&[os("deb"), deb.as_os_str(), os("-o"), blob.as_os_str()], &out_dir, ".wh..wh..opq");

    // Asked for explicitly, whiteouts are written with the OCI names, root-owned and empty.
    let spec = temp.path().join("asked.json");
    fs::write(
        &spec,
        serde_json::json!({"entries": [
            {"path": "/etc/motd", "type": "whiteout"},
            {"path": "/var/cache", "type": "opaque_whiteout", "uid": 5},
        ]})
        .to_string(),
    )
    .unwrap();
    run_ok(pyoci().args([os("layer"), os("--spec"), spec.as_os_str(), os("-o"), blob.as_os_str()]));
    let listing = run_ok(Command::new("bsdtar").arg("-tvf").arg(&blob));
    let names: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().nth(8)).collect();
    assert_eq!(names, ["etc/", "etc/.wh.motd", "var/", "var/cache/", "var/cache/.wh..wh..opq"], "{listing}");
    let whiteouts: Vec<Vec<&str>> =
        listing.lines().filter(|l| l.contains(".wh.")).map(|l| l.split_whitespace().take(5).collect()).collect();
    assert!(whiteouts.iter().all(|w| w == &["-rw-r--r--", "0", "0", "0", "0"]), "{listing}");
}
