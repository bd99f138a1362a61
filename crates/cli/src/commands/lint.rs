//! `pyoci lint`: the offline BUILD linter.
//!
//! Linting runs in a worker process (this binary again, with the hidden `--worker` flag): a file
//! crafted to exhaust memory makes the allocator abort, which no in-process guard can catch, so
//! the worker dies instead of the command, the file gets a PYO005 finding and a new worker
//! carries on with the files after it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use pyoci_lint::{codes, Diagnostic, LabelScope, Note, Options, Report, Settings};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// `path:line:col: CODE message`, one line per finding.
    Text,
    /// One JSON document: `{"filesLinted": N, "diagnostics": [{path, line, column, endLine, endColumn, code, name, severity, message}]}`.
    Json,
    /// SARIF 2.1.0 (for GitHub code scanning and other SARIF consumers); paths relative to the current directory.
    Sarif,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum, Serialize, Deserialize)]
pub enum Labels {
    Workspace,
    Package,
}

impl From<Labels> for LabelScope {
    fn from(labels: Labels) -> LabelScope {
        match labels {
            Labels::Workspace => LabelScope::Workspace,
            Labels::Package => LabelScope::Package,
        }
    }
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

    /// Which labels are checked against what they name: `workspace` also reads and evaluates
    /// the BUILD files of the other packages labels point into; `package` checks only labels
    /// into each file's own package (what a sandboxed `pyoci_lint_test` can see).
    #[arg(long, value_enum, default_value_t = Labels::Workspace)]
    pub labels: Labels,

    /// Do not lint paths matching this glob (relative to the current directory; `*` and `?`
    /// within a path segment, `**` across segments). Repeatable. The workspace's
    /// `.bazelignore` is always honoured.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Also print, on stderr, how long each file took (`timing SECONDS PATH`).
    #[arg(long)]
    pub timings: bool,

    /// Bazel's output base (`bazel info output_base`): external repositories fetched under its
    /// `external/` are evaluated as written instead of being unknown. Default: found through
    /// the workspace's `bazel-<directory name>` symlink after a build or fetch.
    #[arg(long, value_name = "DIR")]
    pub output_base: Option<PathBuf>,

    /// Also print, on stderr, one `path:line:col: note: ...` line for each check that stayed
    /// silent and why (a repository not evaluated, a macro whose targets cannot be seen).
    /// Notes are not findings and do not change the exit status.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Print every diagnostic code with its severity and meaning, then exit.
    #[arg(long)]
    pub list_codes: bool,

    /// Internal: lint the files named on stdin and stream the results as JSON lines.
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// What the command sends a worker.
#[derive(Serialize, Deserialize)]
struct WorkerRequest {
    base: PathBuf,
    files: Vec<PathBuf>,
    settings: Settings,
}

/// One line of a worker's output: the diagnostics of `files[index]`.
#[derive(Serialize, Deserialize)]
struct WorkerResult {
    index: usize,
    diagnostics: Vec<Diagnostic>,
    notes: Vec<Note>,
    /// How long the file took to lint.
    seconds: f64,
}

const USAGE_ERROR: u8 = 2;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.worker {
        return run_worker();
    }
    let mut stdout = std::io::stdout().lock();
    if args.list_codes {
        for info in codes::ALL {
            writeln!(
                stdout,
                "{}  {:<7}  {:<28}  {}",
                info.code, info.severity, info.name, info.summary
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let base = std::env::current_dir().context("cannot determine the current directory")?;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let output_base = match args.output_base {
        Some(dir) if !dir.join("external").is_dir() => {
            eprintln!(
                "error: --output-base {}: no such Bazel output base (it has no external/ directory; see `bazel info output_base`)",
                dir.display()
            );
            return Ok(ExitCode::from(USAGE_ERROR));
        }
        Some(dir) => Some(std::path::absolute(&dir).unwrap_or(dir)),
        None => None,
    };
    let options = Options {
        select: args.select,
        ignore: args.ignore,
        labels: args.labels.into(),
        exclude: args.exclude,
        output_base,
        verbose: args.verbose,
    };
    let files = match options
        .validate()
        .and_then(|()| pyoci_lint::discover(&base, &paths, &options.exclude))
    {
        Ok(files) => files,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(USAGE_ERROR));
        }
    };
    let (diagnostics, notes, timings) = lint_in_workers(&base, &files, &options.settings())?;
    if args.timings {
        let mut stderr = std::io::stderr().lock();
        for (file, seconds) in files.iter().zip(&timings) {
            let shown = file.strip_prefix(&base).unwrap_or(file);
            writeln!(stderr, "timing {seconds:.4} {}", shown.display())?;
        }
    }
    let mut report = Report::new(diagnostics, files.len(), &options);
    report.add_notes(notes);
    if args.verbose {
        let mut stderr = std::io::stderr().lock();
        for note in &report.notes {
            writeln!(stderr, "{}", note.to_text_line())?;
        }
    }
    let rendered = match args.format {
        Format::Text => pyoci_lint::render_text(&report),
        Format::Json => pyoci_lint::render_json(&report),
        Format::Sarif => pyoci_lint::render_sarif(&report, &base),
    };
    stdout
        .write_all(rendered.as_bytes())
        .context("cannot write the report")?;
    stdout.flush().context("cannot write the report")?;
    let errors = report
        .diagnostics
        .iter()
        .filter(|d| d.severity() == pyoci_lint::Severity::Error)
        .count();
    let warnings = report.diagnostics.len() - errors;
    if report.is_clean() {
        eprintln!("{} files linted, no problems", report.files_linted);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} files linted: {errors} errors, {warnings} warnings",
            report.files_linted
        );
        Ok(ExitCode::FAILURE)
    }
}

fn run_worker() -> anyhow::Result<ExitCode> {
    // If a file makes the worker exhaust memory, the kernel should end the worker, not
    // something else on the machine. Raising one's own score needs no privilege.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    // A file that needs more memory than this fails an allocation and ends the worker, which
    // the command reports as PYO004 for that file.
    let _ = pyoci_lint::limits::apply_memory_budget();
    let request: WorkerRequest = serde_json::from_reader(std::io::stdin().lock())
        .context("cannot read the worker request")?;
    let stdout = std::io::stdout();
    let mut write_error = None;
    let mut started = None;
    pyoci_lint::lint_each(&request.base, &request.files, &request.settings, |index, found| {
        if write_error.is_some() {
            return;
        }
        // CPU time of the linter thread (this callback runs on it): other processes on the
        // machine do not inflate it.
        let now = pyoci_lint::limits::thread_cpu_seconds();
        let seconds = now - started.unwrap_or(0.0);
        let line = serde_json::to_string(&WorkerResult {
            index,
            diagnostics: found.diagnostics,
            notes: found.notes,
            seconds,
        })
        .unwrap_or_default();
        let mut out = stdout.lock();
        if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            write_error = Some(error);
        }
        started = Some(pyoci_lint::limits::thread_cpu_seconds());
    })?;
    match write_error {
        Some(error) => Err(error).context("cannot write worker results"),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Lints `files` in worker processes, one file after another; a file that kills its worker gets
/// a PYO005 finding and the next worker starts after it. Also returns each file's seconds.
fn lint_in_workers(
    base: &Path,
    files: &[PathBuf],
    settings: &Settings,
) -> anyhow::Result<(Vec<Diagnostic>, Vec<Note>, Vec<f64>)> {
    let mut timings = vec![0.0; files.len()];
    let exe = std::env::current_exe()
        .context("cannot find the pyoci executable to start a lint worker")?;
    let mut diagnostics = Vec::new();
    let mut notes = Vec::new();
    let mut start = 0;
    while start < files.len() {
        let remaining = &files[start..];
        let mut child = Command::new(&exe)
            .args(["lint", "--worker"])
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start a lint worker ({})", exe.display()))?;
        let request = serde_json::to_vec(&WorkerRequest {
            base: base.to_path_buf(),
            files: remaining.to_vec(),
            settings: settings.clone(),
        })?;
        let mut stdin = child.stdin.take().context("the worker has no stdin")?;
        let writer = std::thread::spawn(move || stdin.write_all(&request));
        let mut stderr = child.stderr.take().context("the worker has no stderr")?;
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let stdout = child.stdout.take().context("the worker has no stdout")?;
        let mut done = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.context("cannot read from the lint worker")?;
            let result: WorkerResult =
                serde_json::from_str(&line).context("the lint worker sent a malformed result")?;
            diagnostics.extend(result.diagnostics);
            notes.extend(result.notes);
            if let Some(slot) = timings.get_mut(start + result.index) {
                *slot = result.seconds;
            }
            done = result.index + 1;
        }
        let status = child.wait().context("cannot wait for the lint worker")?;
        let _ = writer.join();
        let stderr = stderr_reader.join().unwrap_or_default();
        if done == remaining.len() {
            break;
        }
        // What the runtime said before dying, e.g. "memory allocation of 2400000000 bytes failed".
        let detail = stderr
            .lines()
            .find(|l| {
                [
                    "memory allocation of",
                    "has overflowed its stack",
                    "fatal runtime error",
                ]
                .iter()
                .any(|p| l.contains(p))
            })
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        diagnostics.push(pyoci_lint::worker_died(
            base,
            &remaining[done],
            &format!("{status}{detail}"),
        ));
        start += done + 1;
    }
    Ok((diagnostics, notes, timings))
}
