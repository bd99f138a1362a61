use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use pyoci_layer::{from_dir, from_dir_following_symlinks, spec, Compression, LayerOptions, LayerWriter};
use pyoci_manifest::write_file_atomic;

const SPEC_HELP: &str = "\
SPEC FILE (--spec):
  {\"entries\": [
    {\"path\": \"/app/main.py\", \"source\": \"bazel-out/k8-fastbuild/bin/x/main.py\"},
    {\"path\": \"/app/run\", \"source\": \"x/run\", \"mode\": \"0755\"},
    {\"path\": \"/app/site-packages\", \"source\": \"x/site-packages\"},
    {\"path\": \"/app/data\", \"type\": \"dir\", \"mode\": \"0755\", \"uid\": 65532, \"gid\": 65532},
    {\"path\": \"/app/link\", \"type\": \"symlink\", \"target\": \"../x\"},
    {\"path\": \"/app/run2\", \"type\": \"hardlink\", \"target\": \"/app/run\"},
    {\"path\": \"/etc/motd\", \"type\": \"file\", \"content\": \"inline text\"}
  ]}
  type: file (from \"source\" or inline \"content\"), dir, symlink, or hardlink (\"target\" is
  another path in the layer). Without type, \"content\" makes a file and \"source\" a file, or
  the whole tree when the source is a directory (symlinks inside it are kept, not followed;
  the source path itself may be a symlink; \"follow_symlinks\": true stores what the links
  point to instead). Relative sources are relative to the working directory. Optional per
  entry: \"mode\" (octal string \"0644\" or the number 420), \"uid\", \"gid\", \"uname\",
  \"gname\"; for a directory source the owner fields apply to the whole tree.

DETERMINISM:
  Entries are sorted by path; missing parent directories are added (0755, root); every
  mtime is --mtime; owners are 0:0 with empty names unless set; modes are 0755 for
  directories and owner-executable files, 0644 otherwise, unless set. Headers are ustar
  with PAX records only for values ustar cannot hold. gzip output is a series of members
  of 1 MiB of tar each, identical for any number of threads.

OUTPUT:
  The blob is written to a temporary file beside -o and renamed when complete; on any
  error (missing source, '..' in a path, two different entries for one path, a fifo,
  socket or device) nothing is left at -o. The descriptor is printed on stdout:
  {\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:...\",
   \"size\":N,\"diffId\":\"sha256:...\",\"uncompressedSize\":N}";

#[derive(clap::Args)]
#[command(after_long_help = SPEC_HELP)]
pub struct Args {
    /// Layer spec file (JSON, see SPEC FILE below). Give either --spec or --dir.
    #[arg(long, value_name = "FILE", required_unless_present = "dir", conflicts_with = "dir")]
    pub spec: Option<PathBuf>,

    /// Directory whose whole tree becomes the layer, placed at --prefix. Symlinks below it are
    /// stored as symlinks, files sharing an inode as hard links; fifos, sockets and devices are
    /// errors.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// In-image path where the contents of --dir appear (for example /app). Defaults to /.
    #[arg(long, value_name = "PATH", requires = "dir")]
    pub prefix: Option<PathBuf>,

    /// With --dir: store what each symlink points to instead of the symlink (needed when the
    /// tree's files are symlinks into a build sandbox). A dangling symlink is an error.
    #[arg(long, requires = "dir")]
    pub follow_symlinks: bool,

    #[command(flatten)]
    pub encoding: Encoding,

    /// Owner (numeric UID:GID) of every entry that does not set its own; parent directories
    /// added automatically stay 0:0. Default 0:0.
    #[arg(long, value_name = "UID:GID", value_parser = parse_owner)]
    pub owner: Option<(u64, u64)>,

    #[command(flatten)]
    pub output: Output,
}

// How the blob is compressed and stamped; shared by `pyoci layer` and `pyoci deb`.
#[derive(clap::Args)]
pub struct Encoding {
    /// Blob compression. gzip is what every runtime reads; zstd is smaller and several times
    /// faster to write, but Docker Engine older than 23.0 cannot load zstd layers.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,

    /// Compression level: gzip 0-12 (libdeflate; default 3), zstd 1-22 (default 3).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub level: Option<i32>,

    /// Modification time (seconds since the epoch) of every entry. Default: $SOURCE_DATE_EPOCH
    /// if set, else 0.
    #[arg(long, value_name = "SECS")]
    pub mtime: Option<u64>,

    /// Compression threads. Default: one per available core plus one (the file reader and
    /// the hasher leave gaps it fills). The blob is byte-identical for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
}

// Where the blob and its descriptor go; shared by `pyoci layer` and `pyoci deb`.
#[derive(clap::Args)]
pub struct Output {
    /// Path of the layer blob to write. Written atomically: on failure nothing is left here.
    #[arg(short = 'o', long = "output", value_name = "BLOB")]
    pub blob: PathBuf,

    /// Also write the descriptor JSON (the same line printed on stdout) to this file, atomically.
    #[arg(long, value_name = "FILE")]
    pub descriptor_out: Option<PathBuf>,

    /// Print nothing on success (build actions: Bazel shows any output as an `INFO: From` block).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

impl Encoding {
    pub fn options(&self) -> anyhow::Result<LayerOptions> {
        let mtime = match self.mtime {
            Some(secs) => secs,
            None => match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(value) if !value.trim().is_empty() => value.trim().parse().with_context(|| {
                    format!("SOURCE_DATE_EPOCH={value:?} is not a whole number of seconds since the epoch")
                })?,
                _ => 0,
            },
        };
        Ok(LayerOptions {
            compression: match self.compression {
                CompressionArg::Gzip => Compression::Gzip,
                CompressionArg::Zstd => Compression::Zstd,
            },
            level: self.level,
            mtime,
            threads: self.threads.map(|n| n as usize),
        })
    }
}

impl Output {
    /// Writes the blob with `layer`, then the descriptor; if the descriptor
    /// cannot be written the blob is removed again.
    pub fn write(&self, layer: LayerWriter) -> anyhow::Result<ExitCode> {
        let outputs: Vec<&Path> = std::iter::once(self.blob.as_path()).chain(self.descriptor_out.as_deref()).collect();
        crate::interrupt::clean_up_on_signal(&outputs)?;
        let descriptor =
            layer.write(&self.blob).with_context(|| format!("writing layer {}", self.blob.display()))?;
        let json = serde_json::to_string(&descriptor)?;
        if let Some(path) = &self.descriptor_out {
            if let Err(error) = write_file_atomic(path, json.as_bytes()) {
                let _ = std::fs::remove_file(&self.blob);
                return Err(anyhow::Error::new(error).context(format!("writing descriptor {}", path.display())));
            }
        }
        if !self.quiet {
            print_descriptor(&json)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_descriptor(json: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{json}")?;
    stdout.flush()?;
    Ok(())
}

fn parse_owner(text: &str) -> Result<(u64, u64), String> {
    let (uid, gid) = text.split_once(':').ok_or_else(|| format!("{text:?} is not UID:GID (for example 65532:65532)"))?;
    let number = |part: &str| part.parse::<u64>().map_err(|_| format!("{part:?} in {text:?} is not a numeric id"));
    Ok((number(uid)?, number(gid)?))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = args.encoding.options()?;
    let entries = match (&args.spec, &args.dir) {
        (Some(spec_file), _) => spec::load(spec_file, args.owner)?,
        (None, Some(dir)) => {
            let prefix = args.prefix.clone().unwrap_or_else(|| PathBuf::from("/"));
            let walk = if args.follow_symlinks { from_dir_following_symlinks } else { from_dir };
            let mut entries = walk(dir, &prefix)?;
            if let Some((uid, gid)) = args.owner {
                for entry in &mut entries {
                    entry.uid = uid;
                    entry.gid = gid;
                }
            }
            entries
        }
        (None, None) => anyhow::bail!("give --spec FILE or --dir DIR"),
    };
    let mut layer = LayerWriter::new(options);
    layer.extend(entries);
    args.output.write(layer)
}

#[cfg(test)]
mod tests {
    use super::parse_owner;

    #[test]
    fn owner_parses() {
        assert_eq!(parse_owner("65532:65532"), Ok((65532, 65532)));
        assert!(parse_owner("nonroot").is_err());
        assert!(parse_owner("1:x").is_err());
    }
}
