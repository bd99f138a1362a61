//! pyoci-base: distroless Python 3.11 base images built from Debian packages.
//!
//! A base has two layers shared by every variant, so a registry or cache stores them once:
//! 1. the data of every package (busybox-static aside) plus its dpkg `status.d` entries,
//!    which is how scanners find the packages, and, when a compiler is given, the standard
//!    library's `__pycache__` that the packages' postinst would have written;
//! 2. the distroless files (users, groups, nsswitch.conf, /tmp, /root, /home/nonroot,
//!    os-release, the CA bundle, python symlinks), since maintainer scripts never run.
//!
//! The debug variants add a third layer: busybox-static, linked at /busybox/busybox with one
//! symlink per applet, and /busybox on PATH. Nothing else differs between variants but the
//! config's user and working directory. There is no shell and no package manager outside
//! the debug variants.

mod busybox;
mod bytecode;
mod error;
mod files;
mod lock;

use std::path::{Path, PathBuf};

use pyoci_layer::deb::DebPackage;
use pyoci_layer::{Compression, Entry, LayerOptions, LayerWriter};
use pyoci_manifest::{ConfigChanges, ImageSpec, LayerInput, Platform, WrittenImage};

pub use busybox::applet_names;
pub use error::{Error, Result};
pub use files::{CA_BUNDLE, NONROOT_HOME, NONROOT_UID, PYTHON};
pub use lock::{Lock, LockedPackage, PackageId};

/// The package providing busybox for the debug variants; left out of the others.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";
pub const BUSYBOX_DIR: &str = "/busybox";
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Runs as root in /.
    Base,
    /// Runs as nonroot (65532) in /home/nonroot.
    Nonroot,
    /// `Base` plus busybox.
    Debug,
    /// `Nonroot` plus busybox.
    DebugNonroot,
}

impl Variant {
    pub const ALL: [Variant; 4] = [Variant::Base, Variant::Nonroot, Variant::Debug, Variant::DebugNonroot];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Base => "base",
            Variant::Nonroot => "nonroot",
            Variant::Debug => "debug",
            Variant::DebugNonroot => "debug-nonroot",
        }
    }

    pub fn is_debug(self) -> bool {
        matches!(self, Variant::Debug | Variant::DebugNonroot)
    }

    pub fn is_nonroot(self) -> bool {
        matches!(self, Variant::Nonroot | Variant::DebugNonroot)
    }
}

impl std::str::FromStr for Variant {
    type Err = Error;

    fn from_str(text: &str) -> Result<Variant> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == text)
            .ok_or_else(|| Error::UnknownVariant { value: text.to_owned() })
    }
}

#[derive(Debug, Clone)]
pub struct BaseOptions {
    pub variant: Variant,
    pub compression: Compression,
    /// RFC 3339 `created` of the config; see `pyoci_manifest::resolve_created`.
    pub created: String,
    /// mtime of every tar entry (seconds since the epoch).
    pub mtime: u64,
    /// The interpreter that compiles the standard library's `__pycache__` into the packages
    /// layer; it must be the base's Python version. `None` ships sources only, as the .debs do.
    pub bytecode_compiler: Option<PathBuf>,
}

/// What a base build produced.
#[derive(Debug, Clone)]
pub struct BuiltBase {
    pub image: WrittenImage,
    /// The packages in the image, sorted by name.
    pub packages: Vec<PackageId>,
    /// Files whose setuid/setgid bits were dropped.
    pub setuid_dropped: Vec<PathBuf>,
}

/// Every `*.deb` in `dir`, sorted by file name; other files are ignored.
pub fn find_debs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut debs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|ext| ext == "deb") {
            debs.push(path);
        }
    }
    debs.sort();
    if debs.is_empty() {
        return Err(Error::NoDebs { dir: dir.to_path_buf() });
    }
    Ok(debs)
}

/// The .debs a build uses: those the lock lists (each verified against its sha256), or every
/// .deb in `dir` without a lock.
pub fn select_debs(dir: &Path, lock: Option<&Lock>) -> Result<Vec<PathBuf>> {
    match lock {
        Some(lock) => lock.verify_dir(dir),
        None => find_debs(dir),
    }
}

/// Reads the packages (two at a time: xz decompression dominates) and checks that no package
/// appears twice and all share one architecture (or `all`).
pub fn open_packages(debs: &[PathBuf]) -> Result<Vec<DebPackage>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, debs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut opened: Vec<(usize, Result<DebPackage>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = debs.get(i) else { return mine };
                        mine.push((i, DebPackage::open(path).map_err(Error::from)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![(
                        usize::MAX,
                        Err(Error::io(
                            PathBuf::from("<deb reader>"),
                            std::io::Error::other("a package reader thread panicked"),
                        )),
                    )]
                })
            })
            .collect()
    });
    opened.sort_by_key(|(i, _)| *i);
    let mut packages: Vec<DebPackage> = opened.into_iter().map(|(_, p)| p).collect::<Result<_>>()?;
    packages.sort_by(|a, b| a.package.cmp(&b.package));
    for pair in packages.windows(2) {
        if pair[0].package == pair[1].package {
            return Err(Error::DuplicatePackage {
                package: pair[0].package.clone(),
                first: pair[0].file.clone(),
                second: pair[1].file.clone(),
            });
        }
    }
    let mut architecture: Option<&str> = None;
    for package in &packages {
        if package.architecture == "all" {
            continue;
        }
        match architecture {
            None => architecture = Some(&package.architecture),
            Some(first) if first != package.architecture => {
                return Err(Error::MixedArchitectures {
                    path: package.file.clone(),
                    first: first.to_owned(),
                    second: package.architecture.clone(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(packages)
}

fn package_id(package: &DebPackage) -> PackageId {
    let source = package
        .control
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(&package.package)
        .to_owned();
    PackageId {
        name: package.package.clone(),
        version: package.version.clone(),
        architecture: package.architecture.clone(),
        source,
    }
}

/// A lock file for `debs`, read from the packages themselves: the archive path comes from each
/// package's Source field (component `main`), the sha256 from the file.
pub fn generate_lock(debs: &[PathBuf], distribution: &str) -> Result<Lock> {
    let packages = open_packages(debs)?;
    let mut locked = Vec::with_capacity(packages.len());
    let mut architecture = String::from("all");
    for package in &packages {
        let id = package_id(package);
        if id.architecture != "all" {
            architecture = id.architecture.clone();
        }
        let (digest, _) = pyoci_manifest::digest_file(&package.file)?;
        locked.push(LockedPackage {
            filename: id.pool_path("main"),
            name: id.name,
            version: id.version,
            architecture: id.architecture,
            sha256: digest.trim_start_matches("sha256:").to_owned(),
        });
    }
    Ok(Lock {
        distribution: distribution.to_owned(),
        architecture,
        packages: locked,
    })
}

/// Builds a base image layout at `output` from the given .debs.
pub fn build_base(debs: &[PathBuf], options: &BaseOptions, output: &Path) -> Result<BuiltBase> {
    let packages = open_packages(debs)?;
    let (busybox, system): (Vec<DebPackage>, Vec<DebPackage>) =
        packages.into_iter().partition(|p| p.package == BUSYBOX_PACKAGE);
    let busybox = busybox.into_iter().next();
    if options.variant.is_debug() && busybox.is_none() {
        return Err(Error::MissingRequiredPackage {
            package: BUSYBOX_PACKAGE,
            needed_for: "the debug variants' /busybox",
        });
    }

    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let scratch = tempfile::Builder::new()
        .prefix(&pyoci_manifest::staging_prefix("base"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let layer_options = LayerOptions {
        compression: options.compression,
        level: None,
        mtime: options.mtime,
        threads: None,
    };
    let write_layer = |name: &str, entries: Vec<Entry>, created_by: String| -> Result<LayerInput> {
        let mut writer = LayerWriter::new(layer_options.clone());
        writer.extend(entries);
        let blob = scratch.path().join(name);
        let descriptor = writer.write(&blob)?;
        Ok(LayerInput {
            blob,
            descriptor: Some(pyoci_manifest::LayerDescriptor {
                media_type: descriptor.media_type,
                digest: descriptor.digest,
                size: descriptor.size,
                diff_id: descriptor.diff_id,
                uncompressed_size: Some(descriptor.uncompressed_size),
            }),
            created_by: Some(created_by),
            trust_descriptor: false,
            foreign_rules: Default::default(),
        })
    };

    let mut ids: Vec<PackageId> = system.iter().map(package_id).collect();
    let mut package_entries: Vec<Entry> = system.iter().flat_map(DebPackage::layer_entries).collect();
    let mut packages_history = format!("pyoci base: {} Debian packages (listed in /var/lib/dpkg/status.d)", ids.len());
    // The bytecode goes into the packages' own layer, as their postinst would have put it; its
    // files must outlive that layer's writing.
    let bytecode_files = match &options.bytecode_compiler {
        Some(python) => {
            let compiled = bytecode::compile_stdlib(&system, python, scratch.path())?;
            if let Some(version) = &compiled.version {
                packages_history.push_str(&format!(", with the bytecode of /usr/lib/python{version}"));
            }
            package_entries.extend(compiled.entries);
            compiled.dir
        }
        None => None,
    };
    let mut layers = vec![
        write_layer("packages", package_entries, packages_history)?,
        write_layer("distroless", files::distroless_entries(&system)?, "pyoci base: distroless files".to_owned())?,
    ];
    let mut setuid_dropped: Vec<PathBuf> = system.iter().flat_map(|p| p.setuid_dropped.clone()).collect();

    let mut env = vec![
        ("PATH".to_owned(), PATH.to_owned()),
        ("SSL_CERT_FILE".to_owned(), CA_BUNDLE.to_owned()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
    ];
    if let (true, Some(busybox)) = (options.variant.is_debug(), &busybox) {
        layers.push(write_layer("busybox", busybox_entries(busybox)?, format!(
            "pyoci base: {BUSYBOX_PACKAGE}={} at {BUSYBOX_DIR}",
            busybox.version
        ))?);
        ids.push(package_id(busybox));
        setuid_dropped.extend(busybox.setuid_dropped.clone());
        env[0].1 = format!("{PATH}:{BUSYBOX_DIR}");
    }
    ids.sort_by(|a, b| a.name.cmp(&b.name));

    let (user, workdir) = if options.variant.is_nonroot() {
        (NONROOT_UID.to_string(), NONROOT_HOME.to_owned())
    } else {
        ("0".to_owned(), "/".to_owned())
    };
    let spec = ImageSpec {
        base: None,
        platform: Some(Platform::default()),
        layers,
        changes: ConfigChanges {
            env,
            entrypoint: Some(vec![PYTHON.to_owned()]),
            user: Some(user),
            workdir: Some(workdir),
            ..ConfigChanges::default()
        },
        created: options.created.clone(),
        ref_name: pyoci_manifest::DEFAULT_REF_NAME.to_owned(),
        omit_base_blobs: false,
        omit_layer_blobs: false,
    };
    let image = pyoci_manifest::build_image(&spec, output)?;
    drop(bytecode_files);
    drop(scratch);
    Ok(BuiltBase {
        image,
        packages: ids,
        setuid_dropped,
    })
}

/// busybox-static as installed, plus /busybox/busybox (a hard link to /bin/busybox, so no
/// second copy) and one /busybox/<applet> symlink per applet the binary provides.
fn busybox_entries(busybox: &DebPackage) -> Result<Vec<Entry>> {
    const BINARY: &str = "/bin/busybox";
    let (_, binary) = files::find_entry(std::slice::from_ref(busybox), BINARY).ok_or_else(|| {
        Error::InvalidPackageContent {
            path: busybox.file.clone(),
            reason: format!("no {BINARY}"),
        }
    })?;
    let bytes = files::entry_bytes(busybox, binary)?;
    let applets = applet_names(&bytes).ok_or_else(|| Error::InvalidPackageContent {
        path: busybox.file.clone(),
        reason: format!("cannot find the applet table in {BINARY}"),
    })?;
    let origin = format!("{} applets", busybox.file.display());
    let mut entries = busybox.layer_entries();
    entries.push(Entry::dir(BUSYBOX_DIR).with_mode(0o755).with_origin(origin.clone()));
    entries.push(Entry::hardlink(format!("{BUSYBOX_DIR}/busybox"), BINARY).with_origin(origin.clone()));
    for applet in applets.iter().filter(|a| a.as_str() != "busybox") {
        entries.push(Entry::symlink(format!("{BUSYBOX_DIR}/{applet}"), "busybox").with_origin(origin.clone()));
    }
    Ok(entries)
}
