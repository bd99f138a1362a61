//! The public API end to end: blobs read back with independent decoders (flate2 and the zstd
//! decoder, the tar crate), determinism across thread counts, atomic failure, and real
//! bookworm packages.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use pyoci_layer::deb::DebPackage;
use pyoci_layer::{from_dir, Compression, Entry, EntryKind, Error, LayerDescriptor, LayerOptions, LayerWriter};
use sha2::{Digest, Sha256};

fn hex_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn options(compression: Compression, threads: usize) -> LayerOptions {
    LayerOptions { compression, threads: Some(threads), ..LayerOptions::default() }
}

fn write(entries: Vec<Entry>, options: LayerOptions, out: &Path) -> Result<LayerDescriptor, Error> {
    let mut layer = LayerWriter::new(options);
    layer.extend(entries);
    layer.write(out)
}

fn decompress(blob: &[u8], compression: Compression) -> Vec<u8> {
    let mut tar = Vec::new();
    match compression {
        Compression::Gzip => flate2::read::MultiGzDecoder::new(blob).read_to_end(&mut tar),
        Compression::Zstd => zstd::stream::read::Decoder::new(blob).and_then(|mut d| d.read_to_end(&mut tar)),
    }
    .expect("blob decompresses");
    tar
}

/// Several MiB of compressible, non-repeating text.
fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{i} {}\n", i.wrapping_mul(0x9e3779b97f4a7c15) >> 40).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn sample_entries(dir: &Path) -> Vec<Entry> {
    fs::write(dir.join("big.txt"), text(5 << 20)).unwrap();
    let long = format!("/app/{}/{}", "x".repeat(150), "y".repeat(150));
    vec![
        Entry::file("/app/big.txt", dir.join("big.txt")),
        Entry::bytes(long, "long name"),
        Entry::bytes(PathBuf::from(std::ffi::OsStr::from_bytes(b"/app/\xff\xfe-raw")), "raw name"),
        Entry::symlink("/app/link", format!("../{}", "t".repeat(120))),
        Entry::hardlink("/app/again.txt", "/app/big.txt"),
        Entry::dir("/data").with_owner(65532, 65532).with_mode(0o700),
    ]
}

#[test]
fn blob_round_trips_and_descriptor_is_exact() {
    let temp = tempfile::tempdir().unwrap();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let out = temp.path().join(format!("layer.{compression}"));
        let descriptor = write(sample_entries(temp.path()), options(compression, 2), &out).unwrap();
        let blob = fs::read(&out).unwrap();
        assert_eq!(descriptor.media_type, compression.media_type());
        assert_eq!(descriptor.digest, hex_digest(&blob));
        assert_eq!(descriptor.size, blob.len() as u64);
        let tar = decompress(&blob, compression);
        assert_eq!(descriptor.diff_id, hex_digest(&tar));
        assert_eq!(descriptor.uncompressed_size, tar.len() as u64);

        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for member in archive.entries().unwrap() {
            let mut member = member.unwrap();
            let header = member.header().clone();
            assert_eq!(header.mtime().unwrap(), 0);
            assert!(header.as_ustar().is_some(), "ustar headers, never GNU");
            let name = member.path_bytes().into_owned();
            // The hard link pair's contents sit on the path that sorts first.
            if name == b"app/again.txt" {
                let mut contents = Vec::new();
                member.read_to_end(&mut contents).unwrap();
                assert!(contents == text(5 << 20), "file contents survive the round trip");
                assert_eq!(header.mode().unwrap(), 0o644);
            }
            if name == b"app/big.txt" {
                assert_eq!(header.entry_type(), tar::EntryType::Link);
                assert_eq!(member.link_name_bytes().unwrap().as_ref(), b"app/again.txt");
            }
            if name == b"data/" {
                assert_eq!((header.uid().unwrap(), header.gid().unwrap(), header.mode().unwrap()), (65532, 65532, 0o700));
            }
            if name == b"app/link" {
                assert_eq!(member.link_name_bytes().unwrap().len(), 3 + 120, "PAX linkpath keeps long targets");
            }
            seen.push(name);
        }
        let long = format!("app/{}/{}", "x".repeat(150), "y".repeat(150)).into_bytes();
        assert!(seen.contains(&long), "PAX path keeps names over 255 bytes");
        assert!(seen.contains(&b"app/\xff\xfe-raw".to_vec()), "non-UTF-8 names are kept as bytes");
        let mut sorted = seen.clone();
        sorted.sort_by_key(|n| n.iter().map(|&b| if b == b'/' { 0 } else { b }).collect::<Vec<u8>>());
        assert_eq!(seen, sorted, "members are in component order");
    }
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let temp = tempfile::tempdir().unwrap();
    for compression in [Compression::Gzip, Compression::Zstd] {
        let mut blobs = Vec::new();
        for threads in [1, 2, 5] {
            let out = temp.path().join(format!("{compression}-{threads}"));
            write(sample_entries(temp.path()), options(compression, threads), &out).unwrap();
            blobs.push(fs::read(&out).unwrap());
        }
        assert!(blobs.windows(2).all(|w| w[0] == w[1]), "{compression} output is identical for 1, 2 and 5 threads");
    }
}

#[test]
fn gzip_members_have_no_name_and_no_mtime() {
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("layer.tgz");
    write(sample_entries(temp.path()), options(Compression::Gzip, 2), &out).unwrap();
    let blob = fs::read(&out).unwrap();
    // ID1 ID2 CM FLG MTIME(4) XFL OS: deflate, no FNAME/FCOMMENT/FEXTRA, mtime 0.
    assert_eq!(&blob[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&blob[4..8], &[0, 0, 0, 0]);
    let members = blob.windows(10).filter(|w| w[..8] == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0] && w[9] == 255).count();
    assert!(members >= 5, "5 MiB of tar makes at least 5 members, found {members}");
}

#[test]
fn failed_write_leaves_nothing_and_keeps_an_existing_output() {
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("layer.tgz");
    let err = write(vec![Entry::file("/a", temp.path().join("missing"))], LayerOptions::default(), &out).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(!out.exists());

    fs::write(&out, "previous").unwrap();
    let err = write(vec![Entry::bytes("/a/../b", "x")], LayerOptions::default(), &out).unwrap_err();
    assert!(matches!(err, Error::DestEscapes { .. }));
    assert_eq!(fs::read(&out).unwrap(), b"previous");
    let names: Vec<_> = fs::read_dir(temp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["layer.tgz"], "no temporary files left");
}

#[test]
fn invalid_levels_are_rejected() {
    let temp = tempfile::tempdir().unwrap();
    for (compression, level) in [(Compression::Gzip, 13), (Compression::Zstd, 0)] {
        let options = LayerOptions { compression, level: Some(level), ..LayerOptions::default() };
        let err = write(vec![Entry::bytes("/a", "x")], options, &temp.path().join("x")).unwrap_err();
        assert!(matches!(err, Error::InvalidLevel { .. }), "{err}");
    }
}

#[test]
fn from_dir_keeps_symlinks_and_sorts() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("tree");
    fs::create_dir_all(root.join("b")).unwrap();
    fs::write(root.join("b/file"), "x").unwrap();
    fs::write(root.join("a"), "y").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("c")).unwrap();
    let entries = from_dir(&root, Path::new("/srv")).unwrap();
    let summary: Vec<(String, &EntryKind)> =
        entries.iter().map(|e| (e.path.display().to_string(), &e.kind)).collect();
    assert_eq!(summary[0], ("/srv".to_string(), &EntryKind::Dir));
    assert_eq!(summary[1].0, "/srv/a");
    assert_eq!(summary[2], ("/srv/b".to_string(), &EntryKind::Dir));
    assert_eq!(summary[3].0, "/srv/b/file");
    assert_eq!(summary[4], ("/srv/c".to_string(), &EntryKind::Symlink(PathBuf::from("/etc/passwd"))));
}

/// Subdirectories are walked in parallel; the result must still be the sorted
/// tree, and of two bad files the first in sorted order is the one reported.
#[test]
fn parallel_walk_is_sorted_and_reports_the_first_error() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("tree");
    let mut expected = vec!["/srv".to_string()];
    for package in ["alpha", "beta", "gamma", "delta"] {
        for module in 0..40 {
            let dir = root.join(package).join(format!("m{module:02}"));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("__init__.py"), package).unwrap();
        }
    }
    for package in ["alpha", "beta", "delta", "gamma"] {
        expected.push(format!("/srv/{package}"));
        for module in 0..40 {
            expected.push(format!("/srv/{package}/m{module:02}"));
            expected.push(format!("/srv/{package}/m{module:02}/__init__.py"));
        }
    }
    let walked: Vec<String> =
        from_dir(&root, Path::new("/srv")).unwrap().iter().map(|e| e.path.display().to_string()).collect();
    assert_eq!(walked, expected);

    let socket_at = |path: PathBuf| std::os::unix::net::UnixListener::bind(path).unwrap();
    let _late = socket_at(root.join("gamma/m39/late.sock"));
    let _early = socket_at(root.join("beta/m00/early.sock"));
    for _ in 0..20 {
        match from_dir(&root, Path::new("/srv")) {
            Err(Error::UnsupportedFileType { path, .. }) => assert!(path.ends_with("beta/m00/early.sock"), "{path:?}"),
            other => panic!("expected an unsupported file type, got {other:?}"),
        }
    }
}

fn debs() -> PathBuf {
    std::env::var_os("PYOCI_TEST_DEBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/debs/bookworm-amd64"))
}

#[test]
fn deb_control_entries_and_status() {
    let package = DebPackage::open(&debs().join("zlib1g_1%3a1.2.13.dfsg-1_amd64.deb")).unwrap();
    assert_eq!(package.package, "zlib1g");
    assert_eq!(package.version, "1:1.2.13.dfsg-1");
    assert_eq!(package.architecture, "amd64");
    assert_eq!(package.control.get("Source"), Some("zlib"));
    let status = package.status_entries();
    assert_eq!(status[0].path, Path::new("/var/lib/dpkg/status.d/zlib1g"));
    let EntryKind::Bytes(text) = &status[0].kind else { panic!("status is inline") };
    assert!(text.starts_with(b"Package: zlib1g\nStatus: install ok installed\n"));
    assert_eq!(status[1].path, Path::new("/var/lib/dpkg/status.d/zlib1g.md5sums"));
    assert!(package.entries.iter().all(|e| e.path.is_absolute()));
    let libz = package
        .entries
        .iter()
        .find(|e| e.path == Path::new("/lib/x86_64-linux-gnu/libz.so.1"))
        .expect("libz.so.1 is in the package");
    assert_eq!(libz.kind, EntryKind::Symlink(PathBuf::from("libz.so.1.2.13")));
}

#[test]
fn all_bookworm_debs_merge_into_one_layer() {
    let temp = tempfile::tempdir().unwrap();
    let mut packages = Vec::new();
    for entry in fs::read_dir(debs()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "deb") {
            packages.push(DebPackage::open(&path).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    assert!(packages.len() > 30);
    let mut layer = LayerWriter::new(LayerOptions { compression: Compression::Zstd, ..LayerOptions::default() });
    for package in &packages {
        layer.extend(package.layer_entries());
    }
    let descriptor = layer.write(&temp.path().join("base.tar.zst")).unwrap();
    assert!(descriptor.uncompressed_size > 50 << 20);
}

#[test]
fn non_debs_fail_with_the_file_name() {
    let temp = tempfile::tempdir().unwrap();
    let text = temp.path().join("readme.deb");
    fs::write(&text, "hello").unwrap();
    let err = DebPackage::open(&text).unwrap_err().to_string();
    assert!(err.contains("readme.deb"), "{err}");
    let real = fs::read(debs().join("zlib1g_1%3a1.2.13.dfsg-1_amd64.deb")).unwrap();
    let cut = temp.path().join("cut.deb");
    fs::write(&cut, &real[..real.len() - 100]).unwrap();
    let err = DebPackage::open(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.deb") && err.contains("truncated"), "{err}");
}
