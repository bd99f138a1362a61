use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_registry::{Digest, GcOptions, Reference};

use super::push::RegistryFlags;

/// List old and untagged images in a repository, and with --delete remove exactly those.
///
/// Tagged images are ordered by the `created` time of their config, newest first; the
/// --keep-last newest are kept, older ones are listed for deletion. Images with a tag
/// matching --keep-tag are always kept, and so are images without a real creation time
/// (unstamped reproducible builds say 1970-01-01), which cannot be ordered. The registry
/// API cannot list untagged manifests, so pass the digests that lost their tags (`pyoci
/// push` reports each tag it moves) with --digest or --digest-file. Platform images of a
/// deleted index go with it unless something kept uses them.
///
/// Deleting needs the registry to allow it (distribution: storage.delete.enabled: true);
/// the registry frees blob storage in its own garbage collection afterwards
/// (`registry garbage-collect`).
///
/// Prints one line per image: digest, created, tags, decision.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  pyoci gc registry.example.com/app --keep-last 10 --keep-tag 'v*' --keep-tag latest\n  \
    pyoci gc registry.example.com/app --keep-last 10 --delete"
)]
pub struct Args {
    /// Repository to clean, REGISTRY/REPOSITORY.
    repository: String,

    /// How many of the newest tagged images to keep.
    #[arg(long, value_name = "N")]
    keep_last: usize,

    /// Never remove an image with a tag matching this glob (repeatable; default: latest).
    #[arg(long = "keep-tag", value_name = "GLOB")]
    keep_tags: Vec<String>,

    /// A manifest digest that may have lost its tags, to consider as untagged (repeatable).
    #[arg(long = "digest", value_name = "sha256:HEX")]
    digests: Vec<String>,

    /// File of such digests, whitespace separated; `REPOSITORY@sha256:...` forms are accepted.
    #[arg(long, value_name = "FILE")]
    digest_file: Vec<PathBuf>,

    /// Delete what is listed. Without it nothing is changed.
    #[arg(long)]
    delete: bool,

    #[command(flatten)]
    registry: RegistryFlags,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let repository = Reference::parse(&args.repository)?;
    anyhow::ensure!(
        repository.tag.is_none() && repository.digest.is_none(),
        "{} names a tag or digest; gc takes a repository",
        args.repository
    );
    let keep_tags = if args.keep_tags.is_empty() {
        vec!["latest".to_string()]
    } else {
        args.keep_tags.clone()
    };
    let mut candidates = Vec::new();
    for text in &args.digests {
        candidates.push(Digest::parse(text)?);
    }
    for file in &args.digest_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading digest file {}", file.display()))?;
        for word in text.split_whitespace() {
            let digest = word.rsplit_once('@').map_or(word, |(_, d)| d);
            candidates.push(
                Digest::parse(digest)
                    .with_context(|| format!("in digest file {}", file.display()))?,
            );
        }
    }
    let client = args.registry.client()?;
    let options = GcOptions {
        keep_last: args.keep_last,
        keep_tags,
        candidates,
    };
    let entries = pyoci_registry::gc_plan(&client, &repository, &options)
        .with_context(|| format!("listing images in {}", repository.name()))?;
    for entry in &entries {
        let tags = if entry.tags.is_empty() {
            "-".to_string()
        } else {
            entry.tags.join(",")
        };
        println!(
            "{}\t{}\t{}\t{}",
            entry.digest,
            entry.created_text(),
            tags,
            entry.decision.explain()
        );
    }
    let doomed = entries.iter().filter(|e| e.decision.deletes()).count();
    if args.delete {
        let deleted = pyoci_registry::gc_delete(&client, &repository, &entries)
            .with_context(|| format!("deleting from {}", repository.name()))?;
        eprintln!("deleted {deleted} manifest(s) from {}", repository.name());
    } else {
        eprintln!(
            "{doomed} manifest(s) would be deleted from {}; run again with --delete to delete them",
            repository.name()
        );
    }
    Ok(ExitCode::SUCCESS)
}
