//! `pyoci layout`: one self-contained layout from an image layout and the layouts holding the
//! blobs it leaves out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_manifest::write_complete_layout;

use super::BlobSources;

/// Every blob the image's index reaches is hard-linked (copied across file systems) into the
/// output; each must exist with its descriptor's size. For tools that need one directory
/// (skopeo, umoci, Trivy) from a py_image's `<name>.own` layout and its base.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  pyoci layout --image bazel-bin/app/image.own \\\n    --blobs-from bazel-bin/external/distroless_python_nonroot/distroless_python_nonroot -o image")]
pub struct Args {
    /// The image layout (e.g. a py_image's `<name>.own`).
    #[arg(long, value_name = "LAYOUT")]
    image: PathBuf,

    #[command(flatten)]
    blobs: BlobSources,

    /// Where to write the complete layout (replaced only once it is complete).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let view = args.blobs.view(&args.image)?;
    crate::interrupt::clean_up_on_signal(&[&args.output])?;
    write_complete_layout(view.path(), &args.output)
        .with_context(|| format!("writing the layout {} of {}", args.output.display(), args.image.display()))?;
    Ok(ExitCode::SUCCESS)
}
