use std::path::PathBuf;
use std::process::ExitCode;

use pyoci_check::sbom::{self, SbomOptions};
use pyoci_manifest::{ref_name_of, write_file_atomic, Layout};

use super::index::split_layout_ref;

/// Write an SPDX 2.3 JSON SBOM of an image: the image itself, its Debian packages and its
/// Python distributions, read from the layers (no container is started).
///
/// Debian packages come from the dpkg database (/var/lib/dpkg/status.d/* as in distroless,
/// and /var/lib/dpkg/status), with purls pkg:deb/<os>/<name>@<version>?arch=..&distro=..
/// and licences from machine-readable /usr/share/doc/<package>/copyright files (else
/// NOASSERTION). Python distributions come from every *.dist-info/METADATA and
/// *.egg-info/PKG-INFO in the image (site-packages, Bazel runfiles), with purls
/// pkg:pypi/<name>@<version> and licences from License-Expression, License or the licence
/// classifiers. The document is deterministic: packages sorted, documentNamespace derived
/// from the image digest, and `created` fixed (see --created). Written atomically.
#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  pyoci sbom bazel-bin/app/image --name my_service -o my_service.spdx.json"
)]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it.
    #[arg(value_name = "LAYOUT[:REF]")]
    image: String,

    /// Name of the document and of the image package. Default: the layout directory's name,
    /// followed by :REF when the image has a ref name in index.json (a ref name that is a
    /// full reference such as localhost/app:1.0 is used as it is).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// creationInfo.created, RFC 3339 (stored in UTC without fractions). Default: the image
    /// config's `created` (1970-01-01T00:00:00Z for unstamped builds), else the epoch.
    #[arg(long, value_name = "TIMESTAMP")]
    created: Option<String>,

    /// Where to write the SPDX JSON document.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,

    #[command(flatten)]
    blobs: super::BlobSources,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (layout_path, ref_name) = split_layout_ref(&args.image);
    let view = args.blobs.view(&layout_path)?;
    let layout = Layout::open(view.path())?;
    let image = layout.image(ref_name.as_deref())?;
    let name = match args.name {
        Some(name) => name,
        None => default_name(&layout, &layout_path, ref_name.as_deref()),
    };
    let options = SbomOptions {
        name,
        created: args.created,
        creator: format!("pyoci-{}", env!("CARGO_PKG_VERSION")),
    };
    let document = sbom::generate(&layout, &image, &options)?;
    write_file_atomic(&args.output, &sbom::to_json(&document)?)?;
    Ok(ExitCode::SUCCESS)
}

fn default_name(layout: &Layout, layout_path: &std::path::Path, ref_name: Option<&str>) -> String {
    let dir = std::fs::canonicalize(layout_path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "image".to_owned());
    let image_ref = layout
        .select_entry(ref_name)
        .ok()
        .and_then(|d| ref_name_of(d).map(str::to_owned));
    match image_ref {
        Some(full) if full.contains('/') || full.contains(':') => full,
        Some(tag) => format!("{dir}:{tag}"),
        None => dir,
    }
}
