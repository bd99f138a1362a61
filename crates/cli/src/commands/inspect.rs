use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pyoci_manifest::{inspect, Layout, VerifiedRecord};

use super::index::split_layout_ref;

const INSPECT_EXAMPLES: &str = "Examples:\n  pyoci inspect bazel-bin/app/image\n  pyoci inspect bazel-bin/app/index:latest --format json | jq .layers";

const INSPECT_HELP: &str = "\
Reads the layout only; the manifest and config are verified against their digests. Sizes are \
the compressed blob sizes a registry stores and a pull downloads; the total adds the config and \
manifest. The JSON format has the same facts plus each layer's diff ID.\n\n\
Examples:\n  pyoci inspect bazel-bin/app/image\n  pyoci inspect bazel-bin/app/index:latest --format json | jq .layers";

#[derive(clap::Args)]
#[command(after_long_help = INSPECT_HELP, after_help = INSPECT_EXAMPLES)]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it. A
    /// multi-platform layout shows its linux/amd64 image.
    #[arg(value_name = "LAYOUT[:REF]")]
    image: String,

    /// text: a table for people; json: the same facts for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Hash every blob of the image against its digest, then write its verification record
    /// (digests and sizes) to FILE, for `pyoci image --base-verified`.
    #[arg(long, value_name = "FILE")]
    verified_out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (layout, ref_name) = split_layout_ref(&args.image);
    if let Some(record_path) = &args.verified_out {
        let opened = Layout::open(&layout)?;
        let image = opened.image(ref_name.as_deref())?;
        opened
            .verify_layers(&image)
            .with_context(|| format!("verifying {}", layout.display()))?;
        VerifiedRecord::of_image(&image).write(record_path)?;
    }
    let report = inspect(&layout, ref_name.as_deref())?;
    match args.format {
        Format::Text => print!("{report}"),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the verification record of an image this process has just written (and verified
/// while writing): only its manifest and config are read back.
pub fn write_record_of_written(layout: &Path, record_path: &Path) -> anyhow::Result<()> {
    let image = Layout::open(layout)?.image(None)?;
    VerifiedRecord::of_image(&image)
        .write(record_path)
        .with_context(|| format!("writing the verification record {}", record_path.display()))
}
