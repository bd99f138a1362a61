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
use pyoci_manifest::{BlobFile, LayoutView};

/// `--blobs-from` and `--blob`: where the blobs an image layout leaves out are, for every
/// command that reads an image.
#[derive(clap::Args, Default)]
pub struct BlobSources {
    /// An OCI layout holding blobs the image's own layout leaves out (repeatable; searched in
    /// order, after the image's layout and the --blob files). A py_image's `<name>.own` layout
    /// holds only what its action wrote; its base's layers are in the base's layout.
    #[arg(long = "blobs-from", value_name = "LAYOUT")]
    pub dirs: Vec<PathBuf>,

    /// A blob the image's layout leaves out, as a file and the descriptor JSON `pyoci layer`
    /// wrote for it (split at the first '='; `pyoci image --omit-layer-blobs`). The file must
    /// have the descriptor's size; its bytes are not hashed again (repeatable).
    #[arg(long = "blob", value_name = "BLOB=DESCRIPTOR")]
    pub files: Vec<String>,
}

impl BlobSources {
    /// The --blob files, each checked against its descriptor's size.
    pub fn blob_files(&self) -> anyhow::Result<Vec<BlobFile>> {
        self.files
            .iter()
            .map(|arg| -> anyhow::Result<BlobFile> {
                let (blob, descriptor) = arg
                    .split_once('=')
                    .with_context(|| format!("--blob {arg}: expected BLOB=DESCRIPTOR"))?;
                BlobFile::from_descriptor_file(Path::new(blob), Path::new(descriptor))
                    .with_context(|| format!("--blob {arg}"))
            })
            .collect()
    }

    /// The image layout at `layout` with these sources' blobs added, read as one layout.
    pub fn view(&self, layout: &Path) -> anyhow::Result<LayoutView> {
        let files = self.blob_files()?;
        LayoutView::new(layout, &files, &self.dirs).with_context(|| {
            let sources: Vec<String> = files
                .iter()
                .map(|f| f.path.display().to_string())
                .chain(self.dirs.iter().map(|d| d.display().to_string()))
                .collect();
            format!("reading {} with the blobs of {}", layout.display(), sources.join(", "))
        })
    }
}
