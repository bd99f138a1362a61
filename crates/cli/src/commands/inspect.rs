use std::process::ExitCode;

use pyoci_manifest::inspect;

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
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (layout, ref_name) = split_layout_ref(&args.image);
    let report = inspect(&layout, ref_name.as_deref())?;
    match args.format {
        Format::Text => print!("{report}"),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}
