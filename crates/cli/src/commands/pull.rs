use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_manifest::write_file_atomic;
use pyoci_registry::{Platform, Reference};

use super::push::{human_bytes, RegistryFlags};

/// Pull one image from a registry into an OCI image layout, verifying every manifest and
/// blob against its digest; a mismatch (tampered or corrupted content) is an error and
/// leaves nothing at the output.
///
/// Pull by digest (REGISTRY/REPO@sha256:...) for reproducible builds; a tag is accepted
/// with a warning, and the digest it resolved to is printed. From a multi-platform index
/// the image for --platform is written. The layout is assembled beside OUTPUT and renamed
/// into place when complete. Prints `REGISTRY/REPOSITORY@sha256:...` of the written image.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  pyoci pull gcr.io/distroless/python3-debian12@sha256:<hex> -o base"
)]
pub struct Args {
    /// Image to pull: REGISTRY/REPOSITORY@sha256:<hex> (or :TAG, with a warning).
    reference: String,

    /// Directory to write the OCI image layout to (replaced if it exists).
    #[arg(short, long, value_name = "LAYOUT")]
    output: PathBuf,

    /// Platform to take from a multi-platform index, OS/ARCH[/VARIANT].
    #[arg(long, default_value = "linux/amd64", value_name = "OS/ARCH[/VARIANT]")]
    platform: String,

    /// Also write the pulled image's manifest digest (`sha256:<hex>`, no newline) to FILE.
    #[arg(long, value_name = "FILE")]
    digest_out: Option<PathBuf>,

    /// Also write the pulled image's verification record (digests and sizes of the blobs
    /// just verified) to FILE, for `pyoci image --base-verified`.
    #[arg(long, value_name = "FILE")]
    verified_out: Option<PathBuf>,

    #[command(flatten)]
    registry: RegistryFlags,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    let platform = Platform::parse(&args.platform)?;
    let client = args.registry.client()?;
    crate::interrupt::clean_up_on_signal(&[&args.output])?;
    let pulled = pyoci_registry::pull(&client, &reference, &platform, &args.output)
        .with_context(|| format!("pulling {reference}"))?;
    if reference.digest.is_none() {
        let pinned = match &pulled.index_digest {
            Some(index) => format!("{}@{index}", reference.name()),
            None => format!("{}@{}", reference.name(), pulled.digest),
        };
        eprintln!(
            "warning: pulled {reference} by tag; tags move, so builds using it are not \
             reproducible. Pin it: {pinned}"
        );
    }
    if let Some(path) = &args.digest_out {
        write_file_atomic(path, pulled.digest.to_string().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.verified_out {
        super::inspect::write_record_of_written(&pulled.path, path)?;
    }
    eprintln!(
        "pulled {} ({platform}) into {}: {} blob(s), {}",
        reference,
        pulled.path.display(),
        pulled.blobs,
        human_bytes(pulled.bytes)
    );
    println!("{}@{}", reference.name(), pulled.digest);
    Ok(ExitCode::SUCCESS)
}
