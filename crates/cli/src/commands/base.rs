use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use pyoci_base::{build_base, generate_lock, select_debs, BaseOptions, Lock, Variant};
use pyoci_layer::Compression;
use pyoci_manifest::{resolve_created, source_date_epoch, write_file_atomic};

const BASE_HELP: &str = "\
The image has one layer with every package's files and its dpkg status.d entry (so scanners \
such as Trivy and syft see the packages), and one layer of distroless files: /etc/passwd \
(root, nobody 65534, nonroot 65532), /etc/group, /etc/nsswitch.conf, /tmp (1777), /root and \
/home/nonroot (0700, nonroot's), /usr/lib/os-release, the CA bundle \
/etc/ssl/certs/ca-certificates.crt assembled from ca-certificates, and /usr/bin/python3 and \
/usr/bin/python -> python3.11. Env: PATH, SSL_CERT_FILE, LANG=C.UTF-8; entrypoint \
[\"/usr/bin/python3.11\"]. The debug variants add a busybox layer (/busybox on PATH); the \
others contain no shell and no package manager. Maintainer scripts are never run, so the \
standard library ships without bytecode unless --compile-bytecode-with names a python3.11 to \
write its __pycache__ (what Debian's postinst py3compile does): the image's user cannot write \
there, so without it every container start compiles typing, enum, asyncio, ... from source.\n\n\
The output is reproducible: the same .debs give the same digest. The digest is printed on \
stdout.\n\n\
Examples:\n  pyoci base --debs debs/ --lock bookworm_amd64.lock.json --variant nonroot -o base_nonroot\n  \
pyoci base --debs debs/ --lock bookworm_amd64.lock.json --variant nonroot -o base_nonroot \\\n      \
--compile-bytecode-with /usr/bin/python3.11\n  pyoci base --debs debs/ --write-lock bookworm_amd64.lock.json";

#[derive(clap::Args)]
#[command(after_long_help = BASE_HELP, after_help = "Examples:\n  pyoci base --debs debs/ --lock bookworm_amd64.lock.json --variant nonroot -o base_nonroot\n  pyoci base --debs debs/ --write-lock bookworm_amd64.lock.json")]
pub struct Args {
    /// Directory of .deb files. Without --lock every *.deb in it is used (busybox-static only
    /// in the debug variants); other files are ignored.
    #[arg(long, value_name = "DIR")]
    debs: PathBuf,

    /// base: root in /; nonroot: uid 65532 in /home/nonroot; debug and debug-nonroot: the
    /// same with busybox at /busybox.
    #[arg(long, value_enum, value_name = "VARIANT", required_unless_present = "write_lock")]
    variant: Option<VariantArg>,

    /// Lock file (JSON: distribution, architecture, packages with name, version,
    /// architecture, filename, sha256). Only the packages it lists are used, each checked
    /// against its sha256; a missing or changed .deb is an error. The file in DIR is the
    /// basename of `filename`, or the name `apt-get download` gives it.
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,

    /// Layer compression. gzip loads everywhere; zstd is smaller and faster but Docker Engine
    /// before 23.0 cannot read it.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    compression: CompressionArg,

    /// Output OCI image layout directory (replaced if it exists); the image is tagged "latest".
    #[arg(short = 'o', long = "output", value_name = "LAYOUT", required_unless_present = "write_lock")]
    output: Option<PathBuf>,

    /// Also write the image's manifest digest ("sha256:<hex>", no newline) to this file.
    #[arg(long, value_name = "FILE")]
    digest_out: Option<PathBuf>,

    /// Also write the standard library's bytecode (/usr/lib/python3.X/**/__pycache__/*.pyc,
    /// PEP 552 unchecked-hash, into the packages layer) with this interpreter, which must be
    /// the base's Python 3.X; run with PYTHONHASHSEED=0 and the rest of the environment (e.g.
    /// PYTHONHOME for an extracted interpreter). Without it the stdlib ships as sources only.
    #[arg(long, value_name = "PYTHON")]
    compile_bytecode_with: Option<PathBuf>,

    /// Print nothing on success (build actions: Bazel shows any output as an `INFO: From` block).
    #[arg(short, long)]
    quiet: bool,

    /// Also write the base's verification record (digests and sizes of the blobs it just
    /// wrote) to FILE, so `pyoci image --base-verified` need not hash them again.
    #[arg(long, value_name = "FILE")]
    verified_out: Option<PathBuf>,

    /// Instead of building, write a lock file for every .deb in DIR, read from the packages
    /// themselves (archive path pool/main/<prefix>/<Source>/<file>, sha256 of the file).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["variant", "output", "lock", "digest_out", "verified_out", "compile_bytecode_with"])]
    write_lock: Option<PathBuf>,

    /// With --write-lock: take each package's archive path from `apt-cache show NAME=VERSION`
    /// when apt's index lists that exact file (same SHA256). Security updates then get their
    /// real path (pool/updates/main/..., under security.debian.org/debian-security), which the
    /// Source field alone cannot tell.
    #[arg(long, requires = "write_lock")]
    apt_cache: bool,

    /// The distribution recorded by --write-lock.
    #[arg(long, value_name = "NAME", default_value = "bookworm", requires = "write_lock")]
    distribution: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VariantArg {
    Base,
    Nonroot,
    Debug,
    DebugNonroot,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CompressionArg {
    Gzip,
    Zstd,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(lock_path) = &args.write_lock {
        let debs = select_debs(&args.debs, None)?;
        let mut lock = generate_lock(&debs, &args.distribution)?;
        if args.apt_cache {
            for package in &mut lock.packages {
                if let Some(filename) = apt_cache_filename(package)? {
                    package.filename = filename;
                }
            }
        }
        write_file_atomic(lock_path, &lock.to_pretty_json()?)?;
        eprintln!("wrote {} with {} packages", lock_path.display(), lock.packages.len());
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(variant), Some(output)) = (args.variant, &args.output) else {
        anyhow::bail!("--variant and --output are required to build a base");
    };
    let lock = args.lock.as_deref().map(Lock::from_file).transpose()?;
    let debs = select_debs(&args.debs, lock.as_ref())?;
    let options = BaseOptions {
        variant: match variant {
            VariantArg::Base => Variant::Base,
            VariantArg::Nonroot => Variant::Nonroot,
            VariantArg::Debug => Variant::Debug,
            VariantArg::DebugNonroot => Variant::DebugNonroot,
        },
        compression: match args.compression {
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Zstd => Compression::Zstd,
        },
        created: resolve_created(None, None)?,
        mtime: source_date_epoch()?,
        bytecode_compiler: args.compile_bytecode_with.clone(),
    };
    crate::interrupt::clean_up_on_signal(&[output])?;
    let built = build_base(&debs, &options, output)
        .with_context(|| format!("writing base image layout {}", output.display()))?;
    if let Some(path) = &args.digest_out {
        write_file_atomic(path, built.image.digest.as_bytes())?;
    }
    if let Some(path) = &args.verified_out {
        super::inspect::write_record_of_written(output, path)?;
    }
    if !args.quiet {
        println!("{}", built.image.digest);
    }
    Ok(ExitCode::SUCCESS)
}

/// The Filename apt's index gives for exactly this .deb (matched by SHA256), if any.
fn apt_cache_filename(package: &pyoci_base::LockedPackage) -> anyhow::Result<Option<String>> {
    let output = std::process::Command::new("apt-cache")
        .args(["show", &format!("{}={}", package.name, package.version)])
        .stderr(std::process::Stdio::null())
        .output()
        .context("running apt-cache (needed by --apt-cache)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    for paragraph in text.split("\n\n") {
        let field = |name: &str| {
            paragraph
                .lines()
                .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")))
                .map(str::trim)
        };
        if field("SHA256") == Some(package.sha256.as_str()) && field("Architecture") == Some(package.architecture.as_str()) {
            return Ok(field("Filename").map(str::to_owned));
        }
    }
    Ok(None)
}
