use std::path::PathBuf;
use std::process::ExitCode;

use pyoci_manifest::{build_index, write_file_atomic, DEFAULT_REF_NAME};

const INDEX_HELP: &str = "\
Each --image is an OCI layout holding one image (for example the output of `pyoci image \
--platform linux/arm64 ...`); its platform is read from its config, and two images for the \
same platform are an error. The output layout's index.json names the new index with \
--ref-name; all blobs are hard-linked from the inputs. The index's digest is printed on \
stdout.\n\n\
Example:\n  pyoci index --image image_amd64 --image image_arm64 -o image_multiarch";

#[derive(clap::Args)]
#[command(after_long_help = INDEX_HELP, after_help = "Example:\n  pyoci index --image image_amd64 --image image_arm64 -o image_multiarch")]
pub struct Args {
    /// An image layout to include, optionally as LAYOUT:REF to pick the image tagged REF in it
    /// (repeatable; the index lists the images in this order).
    #[arg(long = "image", value_name = "LAYOUT[:REF]", required = true)]
    images: Vec<String>,

    /// Name of the index in the output's index.json (org.opencontainers.image.ref.name).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_REF_NAME)]
    ref_name: String,

    /// Output OCI image layout directory (replaced if it exists).
    #[arg(short = 'o', long = "output", value_name = "LAYOUT")]
    output: PathBuf,

    /// Also write the index's digest ("sha256:<hex>", no newline) to this file.
    #[arg(long, value_name = "FILE")]
    digest_out: Option<PathBuf>,

    /// Print nothing on success (build actions: Bazel shows any output as an `INFO: From` block).
    #[arg(short, long)]
    quiet: bool,
}

/// `LAYOUT:REF` when LAYOUT alone is not an existing path and the part after the last ':' has
/// no '/', so directories whose names contain ':' still work.
pub(crate) fn split_layout_ref(arg: &str) -> (PathBuf, Option<String>) {
    if !std::path::Path::new(arg).exists() {
        if let Some((layout, ref_name)) = arg.rsplit_once(':') {
            if !ref_name.is_empty() && !ref_name.contains('/') && !layout.is_empty() {
                return (PathBuf::from(layout), Some(ref_name.to_owned()));
            }
        }
    }
    (PathBuf::from(arg), None)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let images: Vec<_> = args.images.iter().map(|arg| split_layout_ref(arg)).collect();
    crate::interrupt::clean_up_on_signal(&[&args.output])?;
    let written = build_index(&images, &args.ref_name, &args.output)?;
    if let Some(path) = &args.digest_out {
        write_file_atomic(path, written.digest.as_bytes())?;
    }
    if !args.quiet {
        println!("{}", written.digest);
    }
    Ok(ExitCode::SUCCESS)
}
