//! `pyoci layout`: one self-contained layout from an image layout and the layouts holding the
//! blobs it leaves out; or, without an image, a layout of blobs only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_manifest::{write_blob_layout, write_complete_layout};

use super::BlobSources;

/// Every blob the image's index reaches is hard-linked (copied across file systems) into the
/// output; each must exist with its descriptor's size. For tools that need one directory
/// (skopeo, umoci, Trivy) from a py_image's `<name>.own` layout and its base. Without --image,
/// the --blob files alone are written as a layout whose index lists no manifest: py_image gives
/// each layer one, so that readers find it with --blobs-from (Bazel 4.2 downloads a tree
/// artifact a `bazel run` target needs, but not a file an earlier remote build left remote).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  pyoci layout --image bazel-bin/app/image.own \\\n    --blobs-from bazel-bin/external/distroless_python_nonroot/distroless_python_nonroot -o image\n  pyoci layout --blob app.tar.gz=app.descriptor.json -o app.blob")]
pub struct Args {
    /// The image layout (e.g. a py_image's `<name>.own`).
    #[arg(long, value_name = "LAYOUT", required_unless_present = "files")]
    image: Option<PathBuf>,

    #[command(flatten)]
    blobs: BlobSources,

    /// Where to write the complete layout (replaced only once it is complete).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(image) = &args.image else {
        if !args.blobs.dirs.is_empty() {
            anyhow::bail!("--blobs-from needs --image: a layout of blobs only is written from --blob files");
        }
        let files = args.blobs.blob_files()?;
        crate::interrupt::clean_up_on_signal(&[&args.output])?;
        write_blob_layout(&files, &args.output)
            .with_context(|| format!("writing the blob layout {}", args.output.display()))?;
        return Ok(ExitCode::SUCCESS);
    };
    let view = args.blobs.view(image)?;
    crate::interrupt::clean_up_on_signal(&[&args.output])?;
    write_complete_layout(view.path(), &args.output)
        .with_context(|| format!("writing the layout {} of {}", args.output.display(), image.display()))?;
    Ok(ExitCode::SUCCESS)
}
