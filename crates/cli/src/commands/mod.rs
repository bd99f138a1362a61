//! One module per subcommand; each owns its arguments and calls one library crate.

pub mod layer;
pub mod deb;
pub mod base;
pub mod image;
pub mod index;
pub mod tarball;
pub mod load;
pub mod inspect;
pub mod lint;
pub mod push;
pub mod pull;
pub mod copy;
pub mod gc;
pub mod check;
pub mod check_layer;
pub mod sbom;
pub mod test;
pub mod layout;

use std::path::{Path, PathBuf};

use anyhow::Context;
use pyoci_manifest::LayoutView;

/// `--blobs-from`: where the blobs an image layout leaves out are, for every command that
/// reads an image.
#[derive(clap::Args, Default)]
pub struct BlobSources {
    /// An OCI layout holding blobs the image's own layout leaves out (repeatable; searched in
    /// order, after the image's layout). A py_image's `<name>.own` layout holds only what its
    /// action wrote; its base's layers are in the base's layout.
    #[arg(long = "blobs-from", value_name = "LAYOUT")]
    pub dirs: Vec<PathBuf>,
}

impl BlobSources {
    /// The image layout at `layout` with these sources' blobs added, read as one layout.
    pub fn view(&self, layout: &Path) -> anyhow::Result<LayoutView> {
        LayoutView::new(layout, &self.dirs).with_context(|| {
            let sources: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
            format!("reading {} with the blobs of {}", layout.display(), sources.join(", "))
        })
    }
}
