use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_manifest::{write_tarball, ImageTag, TarballFormat};

use super::index::split_layout_ref;

const TARBALL_HELP: &str = "\
The docker format is what `docker save` writes since Docker 25: the OCI layout (oci-layout, \
index.json naming each tag, blobs/sha256/...) plus manifest.json with RepoTags, Config and \
Layers, so both Docker's classic and containerd image stores and podman load it. The tar is \
deterministic (sorted, mtime $SOURCE_DATE_EPOCH or 0, owner 0:0) and every blob is verified \
against its digest while it is copied. Docker Engine before 23.0 cannot read zstd layers: a \
warning names them.\n\n\
Example:\n  pyoci tarball --image image --tag localhost/my_service:latest -o image.tar\n  docker load -i image.tar";

#[derive(clap::Args)]
#[command(after_long_help = TARBALL_HELP, after_help = "Example:\n  pyoci tarball --image image --tag localhost/my_service:latest -o image.tar\n  docker load -i image.tar")]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it. A
    /// multi-platform layout contributes its linux/amd64 image.
    #[arg(long, value_name = "LAYOUT[:REF]")]
    image: String,

    /// A name to load the image as, REPO[:TAG] (":latest" if no tag), e.g.
    /// localhost/my_service:1.0 (repeatable).
    #[arg(long = "tag", value_name = "REPO:TAG")]
    tags: Vec<String>,

    /// A file with more tags, one per line (blank lines ignored); for tags computed at build time.
    #[arg(long, value_name = "FILE")]
    tag_file: Option<PathBuf>,

    /// docker: OCI layout plus manifest.json (for docker load and podman load);
    /// oci: an OCI archive (for skopeo oci-archive: and podman load).
    #[arg(long, value_enum, default_value_t = Format::Docker)]
    format: Format,

    /// Output tar file (replaced if it exists).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,

    /// Print nothing on success (build actions: Bazel shows any output as an `INFO: From` block).
    #[arg(short, long)]
    quiet: bool,

    #[command(flatten)]
    blobs: super::BlobSources,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Docker,
    Oci,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut tag_texts = args.tags.clone();
    if let Some(path) = &args.tag_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading --tag-file {}", path.display()))?;
        tag_texts.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned));
    }
    if tag_texts.is_empty() {
        anyhow::bail!("no tags: give --tag REPO:TAG or --tag-file FILE");
    }
    let mut tags: Vec<ImageTag> = Vec::new();
    for text in &tag_texts {
        let tag: ImageTag = text.parse()?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let format = match args.format {
        Format::Docker => TarballFormat::Docker,
        Format::Oci => TarballFormat::Oci,
    };
    let (layout, ref_name) = split_layout_ref(&args.image);
    let view = args.blobs.view(&layout)?;
    crate::interrupt::clean_up_on_signal(&[&args.output])?;
    let summary = write_tarball(view.path(), ref_name.as_deref(), &tags, format, &args.output)?;
    if !summary.zstd_layers.is_empty() && format == TarballFormat::Docker {
        eprintln!(
            "warning: {} layer(s) are zstd-compressed ({}); Docker Engine before 23.0 cannot load them \
             (podman and Docker 23+ can). Build layers with --compression gzip for older engines.",
            summary.zstd_layers.len(),
            summary.zstd_layers.join(", ")
        );
    }
    if !args.quiet {
        println!("{}", summary.manifest_digest);
    }
    Ok(ExitCode::SUCCESS)
}
