//! `pyoci lint`: the offline BUILD linter.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyoci_lint::{codes, Options};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// `path:line:col: CODE message`, one line per finding.
    Text,
    /// One JSON document: `{"filesLinted": N, "diagnostics": [{path, line, column, endLine, endColumn, code, name, severity, message}]}`.
    Json,
    /// SARIF 2.1.0 (for GitHub code scanning and other SARIF consumers); paths relative to the current directory.
    Sarif,
}

#[derive(clap::Args)]
#[command(after_help = "\
Exit status: 0 when nothing is found, 1 when there are findings, 2 on a usage error \
(unknown option or code, a path that does not exist).\n\n\
Silence a finding with a comment on its line: `# pyoci: ignore[PYO040]` (several codes \
separated by commas) or `# pyoci: ignore` for every code on that line.\n\n\
Run `pyoci lint --list-codes` for every code; crates/lint/README.md explains each one.")]
pub struct Args {
    /// Files and directories to lint. Directories are searched for BUILD, BUILD.bazel, *.bzl,
    /// WORKSPACE(.bazel) and MODULE.bazel files (skipping hidden directories, bazel-* output
    /// symlinks and directories with a CACHEDIR.TAG). Default: the current directory.
    pub paths: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Report only these codes (comma-separated codes or prefixes, e.g. `PYO05,PYO063`).
    #[arg(long, value_delimiter = ',')]
    pub select: Vec<String>,

    /// Do not report these codes (comma-separated codes or prefixes); applied after --select.
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,

    /// Print every diagnostic code with its severity and meaning, then exit.
    #[arg(long)]
    pub list_codes: bool,
}

const USAGE_ERROR: u8 = 2;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if args.list_codes {
        for info in codes::ALL {
            writeln!(stdout, "{}  {:<7}  {:<28}  {}", info.code, info.severity, info.name, info.summary)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let base = std::env::current_dir().context("cannot determine the current directory")?;
    let paths = if args.paths.is_empty() { vec![PathBuf::from(".")] } else { args.paths };
    let options = Options { select: args.select, ignore: args.ignore };
    let report = match pyoci_lint::lint(&base, &paths, &options) {
        Ok(report) => report,
        Err(error @ (pyoci_lint::LintError::UnknownCode { .. } | pyoci_lint::LintError::Discovery(_))) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(USAGE_ERROR));
        }
        Err(error) => return Err(error.into()),
    };
    let rendered = match args.format {
        Format::Text => pyoci_lint::render_text(&report),
        Format::Json => pyoci_lint::render_json(&report),
        Format::Sarif => pyoci_lint::render_sarif(&report, &base),
    };
    stdout.write_all(rendered.as_bytes()).context("cannot write the report")?;
    stdout.flush().context("cannot write the report")?;
    let errors = report.diagnostics.iter().filter(|d| d.severity() == pyoci_lint::Severity::Error).count();
    let warnings = report.diagnostics.len() - errors;
    if report.is_clean() {
        eprintln!("{} files linted, no problems", report.files_linted);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} files linted: {errors} errors, {warnings} warnings", report.files_linted);
        Ok(ExitCode::FAILURE)
    }
}
