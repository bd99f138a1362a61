use std::path::PathBuf;
use std::process::ExitCode;

use pyoci_layer::deb::DebPackage;
use pyoci_layer::LayerWriter;

use super::layer::{Encoding, Output};

const DEB_HELP: &str = "\
The layer holds the package's data.tar with absolute paths, its modes and numeric owners
(owner names dropped; setuid/setgid bits removed from regular files, since the images run
unprivileged), its symlinks and hard links, and the dpkg records that scanners such as Trivy
and syft read in distroless images:
  /var/lib/dpkg/status.d/<package>          the control file plus `Status: install ok installed`
  /var/lib/dpkg/status.d/<package>.md5sums  the package's md5sums (when it has one)
Every mtime is --mtime. A missing, truncated or non-Debian file fails with its path and leaves
nothing at -o. The descriptor JSON is printed on stdout, as for `pyoci layer`.";

#[derive(clap::Args)]
#[command(after_long_help = DEB_HELP)]
pub struct Args {
    /// The Debian binary package (.deb) to turn into a layer.
    #[arg(value_name = "DEB")]
    pub deb: PathBuf,

    #[command(flatten)]
    pub encoding: Encoding,

    #[command(flatten)]
    pub output: Output,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = args.encoding.options()?;
    let package = DebPackage::open(&args.deb)?;
    for path in &package.setuid_dropped {
        eprintln!("note: {}: removed the setuid/setgid bit of {}", args.deb.display(), path.display());
    }
    let mut layer = LayerWriter::new(options);
    layer.extend(package.layer_entries());
    args.output.write(layer)
}
