//! What distroless adds on top of the packages, by hand, because maintainer scripts never run:
//! users and groups, name service config, home and temp directories, the CA bundle that
//! `update-ca-certificates` would assemble, os-release, and the python symlinks.

use std::path::Path;

use pyoci_layer::deb::DebPackage;
use pyoci_layer::{Entry, EntryKind};

use crate::error::{Error, Result};

pub const NONROOT_UID: u64 = 65532;
pub const NONROOT_HOME: &str = "/home/nonroot";
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
pub const PYTHON: &str = "/usr/bin/python3.11";

const MOZILLA_CERTS: &str = "/usr/share/ca-certificates/mozilla";
const OS_RELEASE: &str = "/usr/lib/os-release";
const ORIGIN: &str = "distroless files";

const PASSWD: &str = "\
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
";

const GROUP: &str = "\
root:x:0:
nobody:x:65534:
nonroot:x:65532:
";

const NSSWITCH: &str = "\
passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      files
services:       files
ethers:         files
rpc:            files
";

/// The distroless layer's entries, built from the packages that provide its inputs.
pub(crate) fn distroless_entries(packages: &[DebPackage]) -> Result<Vec<Entry>> {
    let file = |path: &str, contents: Vec<u8>| Entry::bytes(path, contents).with_mode(0o644).with_origin(ORIGIN);
    let dir = |path: &str, mode: u32| Entry::dir(path).with_mode(mode).with_origin(ORIGIN);
    let symlink = |path: &str, target: &str| Entry::symlink(path, target).with_origin(ORIGIN);

    if find_entry(packages, PYTHON).is_none() {
        return Err(Error::MissingRequiredPackage {
            package: "python3.11-minimal",
            needed_for: "the image's entrypoint /usr/bin/python3.11",
        });
    }

    Ok(vec![
        file("/etc/passwd", PASSWD.into()),
        file("/etc/group", GROUP.into()),
        file("/etc/nsswitch.conf", NSSWITCH.into()),
        dir("/tmp", 0o1777),
        dir("/root", 0o700),
        dir("/home", 0o755),
        dir(NONROOT_HOME, 0o700).with_owner(NONROOT_UID, NONROOT_UID),
        file(OS_RELEASE, os_release(packages)?),
        symlink("/etc/os-release", "../usr/lib/os-release"),
        file(CA_BUNDLE, ca_bundle(packages)?),
        symlink("/usr/bin/python3", "python3.11"),
        symlink("/usr/bin/python", "python3.11"),
    ])
}

/// Debian's os-release from base-files, named as a distroless image so people (and scanners
/// reading ID and VERSION_ID, which stay Debian's) can tell what they are looking at.
fn os_release(packages: &[DebPackage]) -> Result<Vec<u8>> {
    let (package, entry) = find_entry(packages, OS_RELEASE).ok_or(Error::MissingRequiredPackage {
        package: "base-files",
        needed_for: "/usr/lib/os-release",
    })?;
    let original = entry_bytes(package, entry)?;
    let text = String::from_utf8(original).map_err(|_| Error::InvalidPackageContent {
        path: package.file.clone(),
        reason: format!("{OS_RELEASE} is not UTF-8"),
    })?;
    let mut out = String::from("PRETTY_NAME=\"Distroless\"\n");
    for line in text.lines().filter(|line| !line.starts_with("PRETTY_NAME=")) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// What `update-ca-certificates` writes: every certificate ca-certificates ships, in sorted
/// order, each ending with a newline.
fn ca_bundle(packages: &[DebPackage]) -> Result<Vec<u8>> {
    let package = packages
        .iter()
        .find(|p| p.package == "ca-certificates")
        .ok_or(Error::MissingRequiredPackage {
            package: "ca-certificates",
            needed_for: CA_BUNDLE,
        })?;
    let mut certificates: Vec<&Entry> = package
        .entries
        .iter()
        .filter(|entry| {
            entry.path.parent() == Some(Path::new(MOZILLA_CERTS))
                && entry.path.extension().is_some_and(|ext| ext == "crt")
        })
        .collect();
    certificates.sort_by(|a, b| a.path.cmp(&b.path));
    if certificates.is_empty() {
        return Err(Error::InvalidPackageContent {
            path: package.file.clone(),
            reason: format!("no certificates under {MOZILLA_CERTS}"),
        });
    }
    let mut bundle = Vec::new();
    for entry in certificates {
        let mut pem = entry_bytes(package, entry)?;
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        bundle.extend_from_slice(&pem);
    }
    Ok(bundle)
}

pub(crate) fn find_entry<'a>(packages: &'a [DebPackage], path: &str) -> Option<(&'a DebPackage, &'a Entry)> {
    packages
        .iter()
        .find_map(|p| p.entries.iter().find(|e| e.path == Path::new(path)).map(|e| (p, e)))
}

/// The contents of a regular-file entry of a package.
pub(crate) fn entry_bytes(package: &DebPackage, entry: &Entry) -> Result<Vec<u8>> {
    match &entry.kind {
        EntryKind::Bytes(bytes) => Ok(bytes.clone()),
        EntryKind::File(source) => std::fs::read(source).map_err(|e| Error::io(source, e)),
        _ => Err(Error::InvalidPackageContent {
            path: package.file.clone(),
            reason: format!("{} is not a regular file", entry.path.display()),
        }),
    }
}
