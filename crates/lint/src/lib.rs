//! pyoci-lint: an offline linter for Bazel BUILD, .bzl, WORKSPACE and MODULE.bazel files that
//! uses rules_pyoci's image macros.
//!
//! Files are evaluated for real with the `starlark` crate against recording fakes of Bazel's
//! built-ins: `load()`s of the workspace's own .bzl files and of rules_pyoci (embedded in the
//! binary) run their real code, so a macro call in a BUILD file is checked against the real
//! attribute schemas of the rules it creates. See `README.md` for every diagnostic code.

mod ast_index;
mod attr_value;
mod bazel;
mod checks;
pub mod codes;
mod diagnostic;
mod embedded;
mod eval;
mod fetched;
mod glob;
mod label;
pub mod limits;
mod output;
mod record;
mod repos;
mod source;
mod suggest;
mod suppress;
mod workspace;

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use codes::{CodeInfo, Severity};
pub use diagnostic::Diagnostic;
pub use output::{render_json, render_sarif, render_text};
pub use workspace::DiscoveryError;

use checks::{PackageLookup, PackageNames};
use diagnostic::{Finding, LineIndex};
use eval::{FileContext, ModuleKey, Repo, Session};
use suppress::Suppressions;
use workspace::{display_path, FileKind};

/// Which codes to report: `select` (empty = all) minus `ignore`. Entries are codes or code
/// prefixes (`PYO05` selects PYO050 and PYO051).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub select: Vec<String>,
    pub ignore: Vec<String>,
    pub labels: LabelScope,
    /// Globs of paths (relative to the base directory) not to lint.
    pub exclude: Vec<String>,
    /// Bazel's output base, whose `external/` holds fetched repositories; found through the
    /// workspace's `bazel-<dir name>` symlink when not given.
    pub output_base: Option<PathBuf>,
    /// Also collect notes saying which checks stayed silent and why.
    pub verbose: bool,
}

/// How files are linted (the parts of [`Options`] a worker needs).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    #[serde(with = "label_scope")]
    pub labels: LabelScope,
    pub output_base: Option<PathBuf>,
    pub verbose: bool,
}

mod label_scope {
    use super::LabelScope;
    pub fn serialize<S: serde::Serializer>(scope: &LabelScope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*scope == LabelScope::Package)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LabelScope, D::Error> {
        let package = <bool as serde::Deserialize>::deserialize(d)?;
        Ok(if package { LabelScope::Package } else { LabelScope::Workspace })
    }
}

impl Options {
    pub fn settings(&self) -> Settings {
        Settings {
            labels: self.labels,
            output_base: self.output_base.clone(),
            verbose: self.verbose,
        }
    }
}

/// What `--verbose` says about one file: a check that stayed silent, and why. Not a finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Note {
    /// `path:line:col: note: message`
    pub fn to_text_line(&self) -> String {
        format!("{}:{}:{}: note: {}", self.path, self.line, self.column, self.message)
    }
}

/// One file's diagnostics and notes.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FileResult {
    pub diagnostics: Vec<Diagnostic>,
    pub notes: Vec<Note>,
}

/// Which labels are checked against the targets they name (PYO031, PYO032).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LabelScope {
    /// Labels into any package of the main repository; the BUILD files of other packages are
    /// read from disk and evaluated.
    #[default]
    Workspace,
    /// Only labels into the linted file's own package: for a build sandbox, where other
    /// packages' BUILD files are not there.
    Package,
}

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error("unknown diagnostic code `{code}` in {flag}{hint}")]
    UnknownCode {
        code: String,
        flag: &'static str,
        hint: String,
    },
    #[error("the linter thread could not be started: {0}")]
    Thread(std::io::Error),
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sorted by path, line, column, code.
    pub diagnostics: Vec<Diagnostic>,
    pub files_linted: usize,
    /// With `verbose`: where checks stayed silent, sorted.
    pub notes: Vec<Note>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

/// The linter threads' stack: the parser and compiler recurse on nesting depth, which
/// [`source::MAX_NESTING`] bounds well within this.
const STACK_BYTES: usize = 256 << 20;

impl Options {
    /// Checks that every entry names at least one code.
    pub fn validate(&self) -> Result<(), LintError> {
        for (flag, entries) in [("--select", &self.select), ("--ignore", &self.ignore)] {
            for entry in entries {
                let entry = entry.trim().to_uppercase();
                if !codes::ALL.iter().any(|info| info.code.starts_with(&entry)) || entry.is_empty()
                {
                    let hint = suggest::hint(&entry, codes::ALL.iter().map(|info| info.code));
                    return Err(LintError::UnknownCode {
                        code: entry,
                        flag,
                        hint,
                    });
                }
            }
        }
        Ok(())
    }

    fn wants(&self, code: &str) -> bool {
        let matches = |entry: &String| code.starts_with(&entry.trim().to_uppercase());
        (self.select.is_empty() || self.select.iter().any(matches))
            && !self.ignore.iter().any(matches)
    }
}

/// Lints the BUILD, .bzl, WORKSPACE and MODULE.bazel files under `paths` (files are linted as
/// given; directories are walked). Paths in the report are relative to `base` when under it.
pub fn lint(base: &Path, paths: &[PathBuf], options: &Options) -> Result<Report, LintError> {
    options.validate()?;
    let files = discover(base, paths, &options.exclude)?;
    let mut diagnostics = Vec::new();
    let mut notes = Vec::new();
    lint_each(base, &files, &options.settings(), |_, found| {
        diagnostics.extend(found.diagnostics);
        notes.extend(found.notes);
    })?;
    let mut report = Report::new(diagnostics, files.len(), options);
    report.add_notes(notes);
    Ok(report)
}

/// The files `lint` would lint under `paths`, sorted.
pub fn discover(
    base: &Path,
    paths: &[PathBuf],
    exclude: &[String],
) -> Result<Vec<PathBuf>, LintError> {
    Ok(workspace::discover(base, paths, exclude)?)
}

/// Lints `files` in order, handing each file's diagnostics (unfiltered, unsorted) and notes to
/// `on_file` with the file's index. .bzl files loaded by several files are evaluated once.
pub fn lint_each(
    base: &Path,
    files: &[PathBuf],
    settings: &Settings,
    mut on_file: impl FnMut(usize, FileResult) + Send,
) -> Result<(), LintError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("pyoci-lint".to_owned())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || {
                let mut linter = Linter::new(base.to_path_buf(), settings.labels);
                linter.output_base = settings.output_base.clone();
                linter.verbose = settings.verbose;
                for (index, file) in files.iter().enumerate() {
                    on_file(index, linter.lint_file(file));
                }
            })
            .map_err(LintError::Thread)?;
        worker
            .join()
            .map_err(|_| LintError::Thread(std::io::Error::other("the linter thread panicked")))
    })
}

/// The finding for a file whose worker process died (see `pyoci lint`'s worker): `detail`
/// says how.
pub fn worker_died(base: &Path, path: &Path, detail: &str) -> Diagnostic {
    let finding = if detail.contains("memory allocation of") {
        Finding::new(
            (0, 0),
            codes::LIMIT_EXCEEDED,
            format!(
                "the file needs more memory than the linter's budget of {} MiB ({detail}); it is not linted",
                limits::MEMORY_BUDGET_BYTES >> 20
            ),
        )
    } else {
        Finding::new(
            (0, 0),
            codes::INTERNAL_ERROR,
            format!("the linter was stopped while linting this file ({detail}); it needs more memory or stack than a linter may use"),
        )
    };
    LineIndex::new("").resolve(&display_path(base, path), finding)
}

impl Report {
    /// Filters `diagnostics` by `options`, sorts them and drops duplicates.
    pub fn new(mut diagnostics: Vec<Diagnostic>, files_linted: usize, options: &Options) -> Report {
        finish(&mut diagnostics, options);
        Report {
            diagnostics,
            files_linted,
            notes: Vec::new(),
        }
    }

    /// Adds `--verbose` notes, sorted, without duplicates.
    pub fn add_notes(&mut self, mut notes: Vec<Note>) {
        notes.sort_by(|a, b| {
            (&a.path, a.line, a.column, &a.message).cmp(&(&b.path, b.line, b.column, &b.message))
        });
        notes.dedup();
        self.notes = notes;
    }
}

/// Lints one file's contents as a BUILD (or, by `name`, .bzl/WORKSPACE/MODULE.bazel) file that
/// sits alone at a workspace root; nothing is read from disk. For fuzzing and editors.
pub fn lint_bytes(name: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    // A root that does not exist, so that nothing on disk (globs, loads) is read.
    let root = PathBuf::from("/nonexistent-pyoci-lint-root");
    let linter = Linter::new(root.clone(), LabelScope::Package);
    let mut diagnostics = linter
        .lint_contents(&root.join(name), name, bytes.to_vec())
        .diagnostics;
    finish(&mut diagnostics, &Options::default());
    diagnostics
}

fn finish(diagnostics: &mut Vec<Diagnostic>, options: &Options) {
    diagnostics.retain(|d| options.wants(d.code.code));
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics.dedup();
}

struct Workspace {
    root: Arc<Path>,
    names: Arc<Vec<String>>,
    /// The repositories in Bazel's output base, when the workspace has been built or fetched.
    fetched: Option<Arc<fetched::FetchedRepos>>,
}

impl Workspace {
    /// How a file of `package` in this workspace is evaluated.
    fn file_context(&self, package: String) -> FileContext {
        FileContext {
            repo: Repo::Main(self.root.clone()),
            package,
            main_root: self.root.clone(),
            main_names: self.names.clone(),
            fetched: self.fetched.clone(),
        }
    }
}

struct Linter {
    session: Session,
    labels: LabelScope,
    workspaces: std::cell::RefCell<HashMap<PathBuf, Arc<Workspace>>>,
    /// Packages named by labels, keyed by workspace root and package: each BUILD file is
    /// evaluated once however many labels point into it.
    packages: std::cell::RefCell<HashMap<(Arc<Path>, String), PackageLookup>>,
    /// The repositories each workspace declares, by root.
    repositories: std::cell::RefCell<HashMap<Arc<Path>, std::rc::Rc<repos::Repositories>>>,
    /// The tag each image target loads by default, with the first target seen loading it.
    image_tags: std::cell::RefCell<HashMap<(Arc<Path>, String), checks::ImageTagOwner>>,
    /// `--output-base`; else each workspace's `bazel-<dir name>` symlink is followed.
    output_base: Option<PathBuf>,
    /// Fetched repositories by workspace root.
    fetched: std::cell::RefCell<HashMap<PathBuf, Option<Arc<fetched::FetchedRepos>>>>,
    verbose: bool,
}

fn resolve(
    text: &str,
    path: &str,
    findings: Vec<Finding>,
    suppressions: &Suppressions,
) -> Vec<Diagnostic> {
    let lines = LineIndex::new(text);
    findings
        .into_iter()
        .map(|finding| lines.resolve(path, finding))
        .filter(|d| !suppressions.is_suppressed(d.line - 1, d.code.code))
        .collect()
}

impl Linter {
    fn new(base: PathBuf, labels: LabelScope) -> Linter {
        let mut session = Session::new(base);
        session.confine_to_workspace = labels == LabelScope::Workspace;
        Linter {
            session,
            labels,
            workspaces: Default::default(),
            packages: Default::default(),
            repositories: Default::default(),
            image_tags: Default::default(),
            output_base: None,
            fetched: Default::default(),
            verbose: false,
        }
    }

    fn fetched_repos(&self, root: &Path) -> Option<Arc<fetched::FetchedRepos>> {
        if let Some(known) = self.fetched.borrow().get(root) {
            return known.clone();
        }
        let output_base = self.output_base.clone().or_else(|| {
            // In a build sandbox the workspace is a runfiles tree with no output symlinks.
            (self.labels == LabelScope::Workspace)
                .then(|| fetched::detect_output_base(root))
                .flatten()
        });
        let found = output_base
            .and_then(|base| fetched::FetchedRepos::read(&base, root))
            .map(Arc::new);
        self.fetched
            .borrow_mut()
            .insert(root.to_path_buf(), found.clone());
        found
    }

    /// The repositories `workspace` declares: its WORKSPACE and MODULE.bazel files evaluated.
    /// Unknown in a build sandbox (`--labels=package`), whose WORKSPACE is a stand-in.
    fn repositories(&self, workspace: &Workspace) -> std::rc::Rc<repos::Repositories> {
        if let Some(known) = self.repositories.borrow().get(&workspace.root) {
            return known.clone();
        }
        let found = std::rc::Rc::new(self.evaluate_repositories(workspace));
        self.repositories
            .borrow_mut()
            .insert(workspace.root.clone(), found.clone());
        found
    }

    fn evaluate_repositories(&self, workspace: &Workspace) -> repos::Repositories {
        if self.labels == LabelScope::Package || !workspace.root.is_dir() {
            return repos::Repositories::Unknown(
                "the workspace's WORKSPACE/MODULE.bazel is not visible in a build sandbox".to_owned(),
            );
        }
        let mut declaring = Vec::new();
        let mut shown = None;
        for name in ["MODULE.bazel", "WORKSPACE.bazel", "WORKSPACE"] {
            let path = workspace.root.join(name);
            // Bazel reads WORKSPACE.bazel instead of WORKSPACE when both exist.
            if name == "WORKSPACE" && workspace.root.join("WORKSPACE.bazel").is_file() {
                continue;
            }
            let Ok(source) = source::read(&path) else {
                continue;
            };
            let display = display_path(&self.session.base, &path);
            shown.get_or_insert_with(|| display.clone());
            if !source.evaluate {
                return repos::Repositories::Unknown(format!("{display} is not evaluated"));
            }
            let kind = FileKind::of(&path);
            let context = workspace.file_context(String::new());
            let evaluated = self
                .session
                .evaluate(&source.text, &display, kind, &context, None);
            let incomplete = evaluated.failure.is_some()
                || evaluated.unknown
                || evaluated
                    .findings
                    .iter()
                    .any(|f| f.code == codes::LOAD_FAILED || f.code == codes::UNDEFINED_NAME);
            declaring.push(repos::DeclaringFile {
                invocations: evaluated.declarations.unwrap_or_default(),
                incomplete,
                shown: display,
                module_file: kind == FileKind::Module,
            });
        }
        let own = repos::collect(&declaring, shown.unwrap_or_default())
            .with_fetched(workspace.fetched.as_deref());
        let outer_root = workspace
            .root
            .parent()
            .and_then(workspace::workspace_root)
            .filter(|outer| outer.starts_with(&self.session.base) || self.session.base.starts_with(outer));
        match outer_root {
            Some(outer_root) => {
                let outer = self.workspace(&outer_root);
                let outer_repositories = self.repositories(&outer);
                own.nested_in(
                    &outer_repositories,
                    &outer.names,
                    &display_path(&self.session.base, &outer_root),
                )
            }
            None => own,
        }
    }

    /// PYO014 for each `load()` of a repository the workspace does not declare.
    fn check_loads(
        &self,
        workspace: &Workspace,
        loads: &[(String, diagnostic::ByteSpanPair)],
        notes: &mut Vec<diagnostic::NoteAt>,
    ) -> Vec<Finding> {
        let repositories = self.repositories(workspace);
        let mut findings = Vec::new();
        let mut noted = false;
        for (module, span) in loads {
            let Ok(label) = label::Label::parse(module) else {
                continue;
            };
            let Some(repo) = label.repo.as_deref().filter(|r| !r.is_empty()) else {
                continue;
            };
            if workspace.names.iter().any(|n| n == repo) {
                continue;
            }
            if let repos::Repositories::Unknown(why) = repositories.as_ref() {
                if !noted && self.verbose {
                    notes.push(diagnostic::NoteAt::new(
                        span.0,
                        format!("PYO014 not checked for this file's loads: the repositories the workspace declares are unknown ({why})"),
                    ));
                }
                noted = true;
                continue;
            }
            if repositories.declares(repo) {
                continue;
            }
            findings.push(Finding::new(
                *span,
                codes::UNDECLARED_REPOSITORY,
                repositories.undeclared_message(repo, &format!("load() of {module:?}")),
            ));
        }
        findings
    }

    fn other_package(&self, workspace: &Workspace, package: &str) -> PackageLookup {
        let key = (workspace.root.clone(), package.to_owned());
        if let Some(known) = self.packages.borrow().get(&key) {
            return known.clone();
        }
        let lookup = self.evaluate_package(workspace, package);
        self.packages.borrow_mut().insert(key, lookup.clone());
        lookup
    }

    /// Evaluates the BUILD file of `package` for the names it defines; its own diagnostics
    /// are reported when that file is linted.
    fn evaluate_package(&self, workspace: &Workspace, package: &str) -> PackageLookup {
        if self.labels == LabelScope::Package || !workspace.root.is_dir() {
            return PackageLookup::Unknown;
        }
        let dir = workspace.root.join(package);
        if glob::is_deleted_package(&dir) {
            return PackageLookup::Unknown;
        }
        let Some(build_file) = glob::build_file(&dir) else {
            return PackageLookup::Missing;
        };
        let Ok(Ok(bytes)) = source::read_bytes(&build_file) else {
            return PackageLookup::Unknown;
        };
        let source = source::from_bytes(bytes);
        if !source.evaluate {
            return PackageLookup::Unknown;
        }
        let context = workspace.file_context(package.to_owned());
        let display = display_path(&self.session.base, &build_file);
        let evaluated = self
            .session
            .evaluate(&source.text, &display, FileKind::Build, &context, Some(&dir));
        match &evaluated.build {
            Some(build) if !build.aborted => {
                let invocations = build.recorder.invocations.borrow();
                let main_names: Vec<&str> = workspace.names.iter().map(String::as_str).collect();
                let names = PackageNames::collect(&invocations, build.recorder.package_listing(), package, &main_names);
                PackageLookup::Found(std::rc::Rc::new(names))
            }
            _ => PackageLookup::Unknown,
        }
    }

    fn workspace(&self, dir: &Path) -> Arc<Workspace> {
        if let Some(known) = self.workspaces.borrow().get(dir) {
            return known.clone();
        }
        // Without a WORKSPACE/MODULE.bazel above it, a file belongs to the tree being linted.
        let base = &self.session.base;
        let root = workspace::workspace_root(dir).unwrap_or_else(|| {
            if dir.starts_with(base) {
                base.clone()
            } else {
                dir.to_path_buf()
            }
        });
        let names = workspace::repository_names(&root);
        if !self.workspaces.borrow().values().any(|w| *w.root == *root) {
            glob::note_deleted_packages(&root);
        }
        let found = Arc::new(Workspace {
            fetched: self.fetched_repos(&root),
            root: Arc::from(root.as_path()),
            names: Arc::new(names),
        });
        self.workspaces
            .borrow_mut()
            .insert(dir.to_path_buf(), found.clone());
        found
    }

    fn lint_file(&self, path: &Path) -> FileResult {
        let display = display_path(&self.session.base, path);
        guarded(&display, || {
            let finding = match source::read_bytes(path) {
                Ok(Ok(bytes)) => return self.lint_contents(path, &display, bytes),
                Ok(Err(too_large)) => too_large,
                Err(error) => Finding::new(
                    (0, 0),
                    codes::UNREADABLE_FILE,
                    format!("cannot read the file: {error}"),
                ),
            };
            FileResult {
                diagnostics: vec![LineIndex::new("").resolve(&display, finding)],
                notes: Vec::new(),
            }
        })
    }

    fn lint_contents(&self, path: &Path, display: &str, bytes: Vec<u8>) -> FileResult {
        let kind = FileKind::of(path);
        let dir = path.parent().unwrap_or(Path::new("/"));
        let workspace = self.workspace(dir);
        let package = workspace::package_of(&workspace.root, dir);
        let context = workspace.file_context(package.clone());
        let source = source::from_bytes(bytes);
        if kind == FileKind::Bzl && source.evaluate && path.is_file() {
            // A .bzl file belongs to the package of the nearest directory with a BUILD file
            // (`//pkg:sub/defs.bzl`), which its relative loads (`:sub/other.bzl`) start from.
            let package_dir = dir
                .ancestors()
                .take_while(|d| d.starts_with(&*workspace.root))
                .find(|d| glob::build_file(d).is_some() && !glob::is_deleted_package(d))
                .unwrap_or(dir);
            let package = workspace::package_of(&workspace.root, package_dir);
            let name = path
                .strip_prefix(package_dir)
                .map(|rel| {
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            let context = workspace.file_context(package.clone());
            let key = ModuleKey {
                repo: Repo::Main(workspace.root.clone()),
                package,
                name,
            };
            let result = self.session.load_module(&key, &context);
            // A .bzl file's loads run only when something loads it (test snapshots and
            // templates name repositories that only exist where they are used), so PYO014
            // looks at BUILD, WORKSPACE and MODULE.bazel files only.
            return FileResult {
                diagnostics: resolve(
                    &result.text,
                    display,
                    result.findings.clone(),
                    &result.suppressions,
                ),
                notes: self.resolve_notes(&result.text, display, result.notes.clone()),
            };
        }
        let mut findings = source.findings;
        if !source.evaluate {
            return FileResult {
                diagnostics: resolve(&source.text, display, findings, &Suppressions::default()),
                notes: Vec::new(),
            };
        }
        let package_dir = (kind == FileKind::Build).then_some(dir);
        let evaluated = self
            .session
            .evaluate(&source.text, display, kind, &context, package_dir);
        findings.extend(evaluated.findings);
        let mut notes = evaluated.notes;
        findings.extend(self.check_loads(&workspace, &evaluated.loads, &mut notes));
        if let Some(build) = &evaluated.build {
            let lines = LineIndex::new(&source.text);
            let invocations = build.recorder.invocations.borrow();
            let listing = || build.recorder.package_listing();
            let repositories = self.repositories(&workspace);
            let check_context = checks::BuildContext {
                invocations: &invocations,
                index: &build.index,
                lines: &lines,
                package: &context.package,
                main_names: &workspace.names,
                listing: &listing,
                aborted: build.aborted,
                other_package: &|package| self.other_package(&workspace, package),
                repositories: &repositories,
            };
            findings.extend(checks::check_build(&check_context, &mut notes));
            // Images of the whole run that would load the same tag.
            for image in checks::image_tags(&check_context) {
                let key = (workspace.root.clone(), image.tag.clone());
                let mut tags = self.image_tags.borrow_mut();
                match tags.get(&key) {
                    Some(first) => findings.push(checks::tag_collision(&image, first)),
                    None => {
                        tags.insert(key, checks::ImageTagOwner::new(&image, display, &lines));
                    }
                }
            }
        }
        FileResult {
            diagnostics: resolve(&source.text, display, findings, &evaluated.suppressions),
            notes: self.resolve_notes(&source.text, display, notes),
        }
    }

    fn resolve_notes(&self, text: &str, display: &str, notes: Vec<diagnostic::NoteAt>) -> Vec<Note> {
        if !self.verbose {
            return Vec::new();
        }
        let lines = LineIndex::new(text);
        notes
            .into_iter()
            .map(|note| lines.resolve_note(display, note))
            .collect()
    }
}

/// Runs `lint` so that a panic (a linter bug) becomes an internal-error diagnostic for the file
/// instead of ending the run.
fn guarded(display: &str, lint: impl FnOnce() -> FileResult) -> FileResult {
    match panic::catch_unwind(AssertUnwindSafe(lint)) {
        Ok(result) => result,
        Err(payload) => {
            let reason = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned());
            FileResult {
                diagnostics: vec![LineIndex::new("").resolve(
                    display,
                    Finding::new(
                        (0, 0),
                        codes::INTERNAL_ERROR,
                        format!("the linter failed on this file: {reason}"),
                    ),
                )],
                notes: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyo005_a_panic_becomes_an_internal_error() {
        let result = guarded("pkg/BUILD", || panic!("simulated linter bug"));
        let lines: Vec<String> = result.diagnostics.iter().map(Diagnostic::to_text_line).collect();
        assert_eq!(
            lines,
            ["pkg/BUILD:1:1: PYO005 the linter failed on this file: simulated linter bug"]
        );
    }
}
