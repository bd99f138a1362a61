use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_manifest::write_file_atomic;
use pyoci_registry::Reference;

use super::push::{collect_tags, report, RegistryFlags};

/// Copy an image between repositories or registries without rebuilding it: a promotion.
/// Every platform of an index is copied. Within one registry, blobs are mounted (linked)
/// instead of transferred; across registries they stream through a verified temporary file.
/// The manifest is stored by digest first, then tagged, so the digest is unchanged.
///
/// Prints `DESTINATION@sha256:...`.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  pyoci copy registry.example.com/app@sha256:<hex> registry.example.com/app-prod:v1.2.0"
)]
pub struct Args {
    /// Image to copy: REGISTRY/REPOSITORY@sha256:<hex> (or :TAG, with a warning).
    source: String,

    /// Destination REGISTRY/REPOSITORY, with an optional :TAG to set.
    destination: String,

    /// More tags to set on the destination (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,

    /// File of more tags, whitespace or newline separated (repeatable).
    #[arg(long = "tag-file", value_name = "FILE")]
    tag_files: Vec<PathBuf>,

    /// Also write the copied manifest digest (`sha256:<hex>`, no newline) to FILE.
    #[arg(long, value_name = "FILE")]
    digest_out: Option<PathBuf>,

    /// Write what the copy did as JSON to FILE (same fields as `pyoci push --report`).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,

    #[command(flatten)]
    registry: RegistryFlags,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = Reference::parse(&args.source)?;
    let destination = Reference::parse(&args.destination)?;
    anyhow::ensure!(
        destination.digest.is_none(),
        "destination {} names a digest; the copy keeps the source's digest, give a repository and optional :TAG",
        args.destination
    );
    if source.digest.is_none() {
        eprintln!(
            "warning: copying {source} by tag; the tag may move between reading and copying. \
             Promote by digest: REPOSITORY@sha256:..."
        );
    }
    let mut tags: Vec<String> = destination.tag.iter().cloned().collect();
    tags.extend(collect_tags(&args.tags, &args.tag_files)?);
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    let client = args.registry.client()?;
    let copied = pyoci_registry::copy(&client, &source, &destination, &tags)
        .with_context(|| format!("copying {source} to {}", destination.name()))?;
    let digest = copied
        .digest
        .clone()
        .context("the copy finished without a manifest digest")?;
    if let Some(path) = &args.digest_out {
        write_file_atomic(path, digest.to_string().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    report(&destination, &copied, &digest, args.report.as_deref())?;
    println!("{}@{digest}", destination.name());
    Ok(ExitCode::SUCCESS)
}
