use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_check::gates;
use pyoci_check::layer_findings::{self, FindingsFile};
use pyoci_manifest::{write_file_atomic, Layout};

use super::index::split_layout_ref;

/// Record what the security gates need from layer bytes, once per layer, for `pyoci check
/// --layer-findings`.
///
/// Each record is keyed by the layer's blob digest and diff ID (both computed while reading)
/// and holds the layer's members (path, kind, mode, owner, size, link target, device kind;
/// the contents of /etc/passwd and /etc/group), the secret findings of its files, and its
/// size statistics. Records depend on no opt-out (--allow-* apply when `pyoci check` combines
/// them with the image config), so a layer is recorded once whatever image it ends up in.
/// The record grows with the layer's member count, not its bytes.
#[derive(clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "Examples:\n  pyoci check-layer --blob app.tar.gz -o app.findings.json\n  pyoci check-layer bazel-bin/external/distroless_python_nonroot -o base.findings.json"
)]
pub struct Args {
    /// Record every layer of this image (LAYOUT[:REF]); each blob is checked against its
    /// digest and the config's diff ID.
    #[arg(value_name = "LAYOUT[:REF]")]
    image: Option<String>,

    /// Record this layer blob (gzip, zstd or plain tar; repeatable).
    #[arg(long = "blob", value_name = "FILE")]
    blobs: Vec<PathBuf>,

    /// Largest file scanned for secrets, as for `pyoci check` (which must use the same).
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    max_scan_size: String,

    /// Where to write the findings (JSON, one record per layer, in order).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,

    /// Print nothing on success.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.image.is_none() && args.blobs.is_empty() {
        anyhow::bail!("pyoci check-layer: give an image layout or at least one --blob");
    }
    let max_scan_size = gates::parse_size(&args.max_scan_size).context("--max-scan-size")?;
    let mut layers = Vec::new();
    if let Some(image) = &args.image {
        let (layout_path, ref_name) = split_layout_ref(image);
        let layout = Layout::open(&layout_path)?;
        let image = layout.image(ref_name.as_deref())?;
        layers.extend(layer_findings::scan_layout(&layout, &image, max_scan_size)?);
    }
    for blob in &args.blobs {
        let index = layers.len();
        layers.push(layer_findings::scan_blob(
            blob,
            index,
            None,
            blob,
            max_scan_size,
        )?);
    }
    let file = FindingsFile::new(layers);
    let mut bytes = serde_json::to_vec(&file)?;
    bytes.push(b'\n');
    write_file_atomic(&args.output, &bytes)?;
    if !args.quiet {
        let members: usize = file.layers.iter().map(|l| l.members.len()).sum();
        let secrets: usize = file.layers.iter().map(|l| l.secrets.len()).sum();
        println!(
            "pyoci check-layer: {} layer{}, {members} members, {secrets} secret finding{} -> {}",
            file.layers.len(),
            if file.layers.len() == 1 { "" } else { "s" },
            if secrets == 1 { "" } else { "s" },
            args.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
