//! Evaluating files for real: parsing with Bazel's dialect rules, resolving `load()`s (files of
//! the workspace, the embedded rules_pyoci files, stubs for other repositories), running the
//! code against recording fakes, and caching every evaluated .bzl module for the whole run.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use starlark::analysis::AstModuleLint;
use starlark::environment::{FrozenModule, Globals, Module};
use starlark::eval::{Evaluator, FileLoader};
use starlark::syntax::{AstModule, Dialect, DialectTypes};
use starlark::values::OwnedFrozenValue;

use crate::ast_index::{AstIndex, ByteSpan};
use crate::bazel::globals::{names, BazelGlobals, CHECKED_MUL, UNION};
use crate::bazel::schema::external_schema;
use crate::bazel::values::{MacroWrapper, NativeRule, Opaque};
use crate::codes;
use crate::diagnostic::{Finding, NoteAt};
use crate::embedded;
use crate::label::Label;
use crate::record::Recorder;
use crate::source;
use crate::suggest;
use crate::suppress::Suppressions;
use crate::workspace::{display_path, FileKind};

/// Deepest chain of `load()`s followed.
const MAX_LOAD_DEPTH: usize = 64;
/// Starlark call depth (Bazel's own limit on macro nesting is far lower).
const MAX_CALL_DEPTH: usize = 200;
/// Function calls plus loop iterations per file.
const MAX_TICKS: u64 = 5_000_000;
/// Starlark heap per file.
const MAX_HEAP_BYTES: usize = 512 << 20;

/// Which repository a file belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Repo {
    /// The workspace being linted, by its root directory.
    Main(Arc<Path>),
    /// rules_pyoci's own files compiled into the binary.
    Embedded,
    /// A repository Bazel has fetched into its output base: its files are evaluated as
    /// written. The apparent name and the directory.
    Fetched(String, Arc<Path>),
    /// Any other repository: its symbols are stubs.
    External(String),
}

/// A .bzl file, by repository, package and file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ModuleKey {
    pub repo: Repo,
    pub package: String,
    pub name: String,
}

impl ModuleKey {
    fn relative_path(&self) -> String {
        if self.package.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.package, self.name)
        }
    }

    /// The label as a user would write it.
    pub fn label(&self) -> String {
        match &self.repo {
            Repo::Main(_) => format!("//{}:{}", self.package, self.name),
            Repo::Embedded => format!("@rules_pyoci//{}:{}", self.package, self.name),
            Repo::External(repo) | Repo::Fetched(repo, _) => {
                format!("@{repo}//{}:{}", self.package, self.name)
            }
        }
    }
}

/// Where a file sits, for resolving the labels written in it.
#[derive(Debug, Clone)]
pub(crate) struct FileContext {
    pub repo: Repo,
    pub package: String,
    /// Root of the main workspace (for `@//` and the main repository's own name).
    pub main_root: Arc<Path>,
    /// Names the main repository goes by (`workspace(name = ...)`).
    pub main_names: Arc<Vec<String>>,
    /// The repositories fetched into Bazel's output base, when it is known.
    pub fetched: Option<Arc<crate::fetched::FetchedRepos>>,
}

impl FileContext {
    fn resolve(&self, module: &str) -> Result<ModuleKey, String> {
        let label = Label::parse(module).map_err(|e| format!("invalid label {module:?}: {e}"))?;
        let repo = match label.repo.as_deref() {
            None => self.repo.clone(),
            // In a workspace nested in another (a test repository), `@//` is the outer one,
            // which the linter does not know.
            Some("") if crate::workspace::is_nested(&self.main_root) => {
                Repo::External(String::new())
            }
            Some("") => Repo::Main(self.main_root.clone()),
            Some(name) if self.main_names.iter().any(|n| n == name) => {
                Repo::Main(self.main_root.clone())
            }
            Some("rules_pyoci") => Repo::Embedded,
            Some(name) if matches!(&self.repo, Repo::Fetched(own, _) if own == name) => {
                self.repo.clone()
            }
            Some(name) => match self.fetched.as_ref().and_then(|f| f.dir(name)) {
                Some(dir) => Repo::Fetched(name.to_owned(), Arc::from(dir.as_path())),
                None => Repo::External(name.to_owned()),
            },
        };
        if !label.name.ends_with(".bzl") {
            return Err(format!(
                "{module:?} is not a .bzl file; load() only reads .bzl files"
            ));
        }
        let package = label.package.unwrap_or_else(|| self.package.clone());
        Ok(ModuleKey {
            repo,
            package,
            name: label.name,
        })
    }
}

/// One evaluated .bzl module, cached for the run.
pub(crate) struct ModuleResult {
    pub module: Option<FrozenModule>,
    /// It failed on a value the linter does not know (see [`is_unknown_error`]): its symbols
    /// are unknowns, and nothing is reported for it.
    pub unknown: bool,
    /// Why loading it fails, in one line (for the `load()` that names it).
    pub failure: Option<String>,
    /// The file's own findings; its text and suppressions resolve them.
    pub findings: Vec<Finding>,
    /// Where its checks stayed silent (`--verbose`).
    pub notes: Vec<NoteAt>,
    pub text: String,
    pub suppressions: Suppressions,
}

/// What evaluating a BUILD file produced for the checks.
pub(crate) struct BuildOutcome {
    pub recorder: Recorder,
    pub index: AstIndex,
    /// Evaluation stopped early: targets after that point are unknown.
    pub aborted: bool,
}

pub(crate) struct Evaluated {
    pub findings: Vec<Finding>,
    /// Where checks stayed silent, and why (`--verbose`).
    pub notes: Vec<NoteAt>,
    pub unknown: bool,
    /// Every `load()`: the module string and its span.
    pub loads: Vec<(String, ByteSpan)>,
    /// What a WORKSPACE or MODULE.bazel file called (for the repositories it declares).
    pub declarations: Option<Vec<crate::record::Invocation>>,
    pub suppressions: Suppressions,
    pub module: Option<FrozenModule>,
    pub failure: Option<String>,
    pub build: Option<BuildOutcome>,
}

/// A module, the symbols a `load()` takes from it, and whether its macros are wrapped.
type ViewKey = (ModuleKey, Vec<String>, bool);

pub(crate) struct Session {
    globals: &'static BazelGlobals,
    global_names: &'static HashMap<FileKind, HashSet<String>>,
    /// Directory paths are shown relative to.
    pub base: PathBuf,
    /// Refuse to read .bzl files through symbolic links that leave the workspace. Off in a
    /// build sandbox, whose runfiles are all links into Bazel's own trees.
    pub confine_to_workspace: bool,
    modules: RefCell<HashMap<ModuleKey, Rc<ModuleResult>>>,
    loading: RefCell<Vec<ModuleKey>>,
    stub_views: RefCell<HashMap<ViewKey, FrozenModule>>,
    views: RefCell<HashMap<ViewKey, FrozenModule>>,
    preludes: RefCell<HashMap<PathBuf, Rc<HashSet<String>>>>,
}

fn dialect(kind: FileKind) -> Dialect {
    Dialect {
        enable_def: kind == FileKind::Bzl,
        enable_lambda: true,
        enable_load: kind != FileKind::Module,
        enable_keyword_only_arguments: true,
        enable_positional_only_arguments: false,
        enable_types: DialectTypes::Disable,
        enable_load_reexport: false,
        enable_top_level_stmt: false,
        enable_f_strings: false,
        ..Dialect::Standard
    }
}

struct SilentPrint;

impl starlark::PrintHandler for SilentPrint {
    fn println(&self, _text: &str) -> starlark::Result<()> {
        Ok(())
    }
}

/// Errors that come from the linter's resource limits rather than from the code's meaning.
pub(crate) fn is_limit_error(message: &str) -> bool {
    message.contains("Starlark call stack overflow")
        || message.contains("Too many recursion levels")
        || message.contains("ticks has been exceeded")
        || message.contains("Heap memory limit")
        || message.contains("over the linter's limit")
}

/// Errors caused by a stand-in for something the linter did not evaluate (its type is
/// `unknown`): the code may well be right, so they mean "cannot know", not a finding.
pub(crate) fn is_unknown_error(message: &str) -> bool {
    message.contains("`unknown`")
        || message.contains("type unknown")
        || message.contains(OTHER_REPOSITORY_MARK)
        || message.contains(crate::bazel::values::DECIDED_ON_UNKNOWN)
        || message.contains("provided for **kwargs is not a dictionary")
        || message.contains("provided for *args is not iterable")
}

/// Marks a macro's error that happened in another repository's code (see
/// [`in_other_repository`]), so that it counts as unknown.
pub(crate) const OTHER_REPOSITORY_MARK: &str = "(in another repository's code, type unknown) ";

/// Whether an error happened inside the code of another repository (evaluated from Bazel's
/// output base, or one of the helper libraries modelled here): that code builds under Bazel, so
/// an error there means the linter's stand-ins fell short, not that the caller is wrong.
pub(crate) fn in_other_repository(error: &starlark::Error) -> bool {
    let other = |name: &str| name.starts_with('@') && !name.starts_with("@rules_pyoci//");
    error.span().is_some_and(|s| other(s.file.filename()))
        || error.call_stack().frames.iter().any(|frame| {
            frame
                .location
                .as_ref()
                .is_some_and(|l| other(l.file.filename()))
        })
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("evaluation failed")
        .to_owned()
}

/// A parse error's finding: Bazel's dialect restrictions get their own code.
fn parse_finding(error: &starlark::Error, kind: FileKind) -> Finding {
    let span = error
        .span()
        .map(|s| (s.span.begin().get(), s.span.begin().get()))
        .unwrap_or((0, 0));
    let message = first_line(&error.without_diagnostic().to_string());
    if message.contains("in this dialect") {
        let what = match kind {
            FileKind::Build => "BUILD files",
            FileKind::Workspace => "WORKSPACE files",
            FileKind::Module => "MODULE.bazel files",
            FileKind::Bzl => ".bzl files",
        };
        let construct = if message.starts_with("`def`") {
            "`def` is not allowed in"
        } else if message.starts_with("`load`") || message.contains("load") {
            "`load()` is not allowed in"
        } else if message.starts_with("`for`") {
            "a top-level `for` is not allowed in"
        } else if message.starts_with("`if`") {
            "a top-level `if` is not allowed in"
        } else {
            "this statement is not allowed in"
        };
        let advice = if kind == FileKind::Bzl {
            "; put it inside a function"
        } else {
            "; move the logic into a macro in a .bzl file"
        };
        return Finding::new(
            span,
            codes::BUILD_RESTRICTION,
            format!("{construct} {what}{advice}"),
        );
    }
    Finding::new(span, codes::SYNTAX_ERROR, message)
}

/// The span in `filename` an evaluation error should be reported at: the error's own span if it
/// is in this file, else the outermost call in this file that led to it.
fn error_span(error: &starlark::Error, filename: &str) -> ByteSpan {
    let in_file = |span: &starlark::codemap::FileSpan| span.file.filename() == filename;
    if let Some(span) = error.span().filter(|s| in_file(s)) {
        return (span.span.begin().get(), span.span.end().get());
    }
    error
        .call_stack()
        .frames
        .iter()
        .filter_map(|frame| frame.location.as_ref())
        .find(|location| in_file(location))
        .map(|location| (location.span.begin().get(), location.span.end().get()))
        .unwrap_or((0, 0))
}

impl Session {
    pub fn new(base: PathBuf) -> Session {
        // Built once per process: the environments never change.
        static GLOBALS: OnceLock<(BazelGlobals, HashMap<FileKind, HashSet<String>>)> =
            OnceLock::new();
        let (globals, global_names) = GLOBALS.get_or_init(|| {
            let globals = BazelGlobals::new();
            let names = HashMap::from([
                (FileKind::Build, names(&globals.build)),
                (FileKind::Bzl, names(&globals.bzl)),
                (FileKind::Workspace, names(&globals.workspace)),
                (FileKind::Module, names(&globals.module)),
            ]);
            (globals, names)
        });
        Session {
            globals,
            global_names,
            base,
            confine_to_workspace: true,
            modules: RefCell::new(HashMap::new()),
            loading: RefCell::new(Vec::new()),
            stub_views: RefCell::new(HashMap::new()),
            views: RefCell::new(HashMap::new()),
            preludes: RefCell::new(HashMap::new()),
        }
    }

    /// The names the workspace's BUILD prelude provides, read once per workspace.
    fn prelude(&self, root: &Path) -> Rc<HashSet<String>> {
        if let Some(known) = self.preludes.borrow().get(root) {
            return known.clone();
        }
        let names = Rc::new(crate::workspace::prelude_names(root));
        self.preludes
            .borrow_mut()
            .insert(root.to_path_buf(), names.clone());
        names
    }

    fn globals(&self, kind: FileKind) -> &Globals {
        match kind {
            FileKind::Build => &self.globals.build,
            FileKind::Bzl => &self.globals.bzl,
            FileKind::Workspace => &self.globals.workspace,
            FileKind::Module => &self.globals.module,
        }
    }

    /// The .bzl module at `key`, evaluated once per run.
    pub fn load_module(&self, key: &ModuleKey, caller: &FileContext) -> Rc<ModuleResult> {
        if let Some(done) = self.modules.borrow().get(key) {
            return done.clone();
        }
        let failure = |reason: String| {
            Rc::new(ModuleResult {
                module: None,
                unknown: false,
                failure: Some(reason),
                findings: Vec::new(),
                notes: Vec::new(),
                text: String::new(),
                suppressions: Suppressions::default(),
            })
        };
        {
            let loading = self.loading.borrow();
            if let Some(start) = loading.iter().position(|k| k == key) {
                let cycle: Vec<String> = loading[start..]
                    .iter()
                    .chain(std::iter::once(key))
                    .map(ModuleKey::label)
                    .collect();
                return failure(format!("load cycle: {}", cycle.join(" -> ")));
            }
            if loading.len() >= MAX_LOAD_DEPTH {
                return failure(format!("load() chain deeper than {MAX_LOAD_DEPTH} files"));
            }
        }
        let (text, mut findings, evaluate, filename) = match &key.repo {
            Repo::Main(root) => {
                let path = root.join(key.relative_path());
                let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
                if self.confine_to_workspace
                    && path.exists()
                    && !crate::workspace::inside(&real_root, &path)
                {
                    return failure(format!(
                        "{} is a symbolic link out of the workspace; the linter does not follow it",
                        display_path(&self.base, &path)
                    ));
                }
                match source::read(&path) {
                    Ok(source) => (
                        source.text,
                        source.findings,
                        source.evaluate,
                        display_path(&self.base, &path),
                    ),
                    Err(_) if !path.exists() && crate::workspace::is_gitignored(root, &path) => {
                        // Generated where it is used (a test driver writes it): unknown.
                        return Rc::new(ModuleResult {
                            module: None,
                            unknown: true,
                            failure: Some(format!(
                                "{} is generated (a .gitignore names it) and not there",
                                display_path(&self.base, &path)
                            )),
                            findings: Vec::new(),
                            notes: Vec::new(),
                            text: String::new(),
                            suppressions: Suppressions::default(),
                        });
                    }
                    Err(error) => {
                        return failure(format!(
                            "cannot read {}: {error}",
                            display_path(&self.base, &path)
                        ))
                    }
                }
            }
            Repo::Fetched(_, root) => match source::read(&root.join(key.relative_path())) {
                Ok(source) => (source.text, source.findings, source.evaluate, key.label()),
                Err(error) => {
                    return failure(format!(
                        "{} has no file {} ({error})",
                        match &key.repo {
                            Repo::Fetched(name, _) => format!("the fetched @{name}"),
                            _ => String::new(),
                        },
                        key.relative_path()
                    ))
                }
            },
            Repo::Embedded => match embedded::get(&key.relative_path()) {
                Some(text) => (text.to_owned(), Vec::new(), true, key.label()),
                None => return failure(format!("rules_pyoci has no file {}", key.relative_path())),
            },
            Repo::External(repo) => {
                match crate::bazel::skylib::get(&key.package, &key.name)
                    .filter(|_| crate::bazel::skylib::is_skylib(repo))
                {
                    Some(text) => (text.to_owned(), Vec::new(), true, key.label()),
                    None => return failure(format!("@{repo} is not evaluated")),
                }
            }
        };
        if !evaluate {
            let result = Rc::new(ModuleResult {
                module: None,
                unknown: false,
                failure: findings.first().map(|f| f.message.clone()),
                findings,
                notes: Vec::new(),
                text,
                suppressions: Suppressions::default(),
            });
            self.modules
                .borrow_mut()
                .insert(key.clone(), result.clone());
            return result;
        }
        let fetched = matches!(key.repo, Repo::Fetched(..));
        let context = FileContext {
            repo: key.repo.clone(),
            package: key.package.clone(),
            main_root: caller.main_root.clone(),
            main_names: caller.main_names.clone(),
            fetched: caller.fetched.clone(),
        };
        self.loading.borrow_mut().push(key.clone());
        let evaluated = self.evaluate(&text, &filename, FileKind::Bzl, &context, None);
        self.loading.borrow_mut().pop();
        findings.extend(evaluated.findings);
        let result = Rc::new(ModuleResult {
            // Code of another repository that does not evaluate under the linter's stand-ins
            // is unknown, not wrong: Bazel has built with it.
            unknown: evaluated.unknown || (fetched && evaluated.module.is_none()),
            module: evaluated.module,
            failure: evaluated.failure,
            findings,
            notes: evaluated.notes,
            text,
            suppressions: evaluated.suppressions,
        });
        self.modules
            .borrow_mut()
            .insert(key.clone(), result.clone());
        result
    }

    /// Parses and evaluates one file. `package_dir` is given for BUILD files.
    pub fn evaluate(
        &self,
        text: &str,
        filename: &str,
        kind: FileKind,
        context: &FileContext,
        package_dir: Option<&Path>,
    ) -> Evaluated {
        let mut findings = Vec::new();
        let mut ast = match AstModule::parse(filename, text.to_owned(), &dialect(kind)) {
            Ok(ast) => ast,
            Err(error) => {
                let finding = parse_finding(&error, kind);
                let failure = Some(format!("{}: {}", codes::SYNTAX_ERROR.code, finding.message));
                findings.push(finding);
                return Evaluated {
                    findings,
                    notes: Vec::new(),
                    unknown: false,
                    loads: Vec::new(),
                    declarations: None,
                    suppressions: Suppressions::default(),
                    module: None,
                    failure,
                    build: None,
                };
            }
        };
        let index = AstIndex::build(&ast, text, kind == FileKind::Build);
        let mut suppressions = Suppressions::default();
        let line_index = crate::diagnostic::LineIndex::new(text);
        for (offset, comment) in &index.comments {
            suppressions.add_comment(line_index.position(*offset).0, comment);
        }

        let global_names = &self.global_names[&kind];
        let undefined = self.name_findings(&ast, &index, kind, global_names, &mut findings);
        if kind == FileKind::Build && matches!(context.repo, Repo::Main(_)) {
            let prelude = self.prelude(&context.main_root);
            if !prelude.is_empty() {
                findings.retain(|f| {
                    f.code != codes::UNDEFINED_NAME
                        || !undefined.iter().any(|name| {
                            prelude.contains(name) && f.message.starts_with(&format!("`{name}` "))
                        })
                });
            }
        }

        let mut replacements = HashMap::new();
        replacements.insert("*".to_owned(), CHECKED_MUL.to_owned());
        replacements.insert("|".to_owned(), UNION.to_owned());
        ast.replace_binary_operators(&replacements);

        let loader = Loader {
            session: self,
            context,
            wrap_macros: kind == FileKind::Build,
            index: &index,
            findings: RefCell::new(Vec::new()),
            notes: RefCell::new(Vec::new()),
        };
        let recorder = match (kind, package_dir) {
            (FileKind::Build, Some(dir)) => Recorder::for_build(
                filename.to_owned(),
                context.package.clone(),
                dir.to_path_buf(),
            ),
            (FileKind::Workspace | FileKind::Module, _) => {
                Recorder::for_declarations(context.package.clone())
            }
            _ => Recorder::for_other(context.package.clone()),
        };

        let mut unknown = false;
        let mut notes = Vec::new();
        let consulted_before = crate::bazel::values::unknowns_consulted();
        let (module, failure, aborted) = Module::with_temp_heap(|module| {
            for name in &undefined {
                module.set(name, module.heap().alloc_simple(Opaque::new(name.as_str())));
            }
            let outcome = {
                let mut eval = Evaluator::new(&module);
                eval.set_loader(&loader);
                eval.extra = Some(&recorder);
                eval.set_print_handler(&SilentPrint);
                // These only fail when set twice.
                let _ = eval.set_max_callstack_size(MAX_CALL_DEPTH);
                let _ = eval.set_max_tick_count(MAX_TICKS);
                let _ = eval.set_max_heap_size(MAX_HEAP_BYTES);
                eval.eval_module(ast, self.globals(kind))
            };
            let (failure, aborted) = match outcome {
                Ok(_) => (None, false),
                Err(error) => {
                    let message = first_line(&error.without_diagnostic().to_string());
                    let code = if is_limit_error(&message) {
                        codes::LIMIT_EXCEEDED
                    } else {
                        codes::EVALUATION_ERROR
                    };
                    let span = error_span(&error, filename);
                    // A top-level `fail()` in a .bzl file is a tombstone: loading it fails on
                    // purpose (with a message saying what to load instead), which is reported
                    // at the `load()`s that name it, not in the file itself.
                    let tombstone = kind == FileKind::Bzl
                        && message.starts_with("fail:")
                        && text
                            .get(..span.0 as usize)
                            .is_some_and(|before| before.is_empty() || before.ends_with('\n'))
                        && text.get(span.0 as usize..).is_some_and(|rest| rest.starts_with("fail("));
                    if tombstone {
                        notes.push(NoteAt::new(span.0, "the file fails on purpose when loaded (a top-level fail()); PYO002 is reported where it is loaded"));
                    } else if code == codes::EVALUATION_ERROR
                        && (is_unknown_error(&message)
                            || in_other_repository(&error)
                            || crate::bazel::values::unknowns_consulted() != consulted_before)
                    {
                        unknown = true;
                        let what = match kind {
                            FileKind::Build => "the targets defined after it are unknown, so PYO024/PYO031/PYO032 are not checked against this package",
                            FileKind::Workspace | FileKind::Module => "the repositories it declares are unknown, so PYO014 is not checked",
                            FileKind::Bzl => "what the file defines is unknown to the files that load it",
                        };
                        notes.push(NoteAt::new(
                            error_span(&error, filename).0,
                            format!("evaluation stopped on a value the linter cannot know ({}): {what}", message.replace(OTHER_REPOSITORY_MARK, "")),
                        ));
                    } else {
                        findings.push(Finding::new(
                            error_span(&error, filename),
                            code,
                            message.clone(),
                        ));
                    }
                    (Some(format!("{}: {message}", code.code)), true)
                }
            };
            let frozen = if kind == FileKind::Bzl && failure.is_none() {
                module.freeze().ok()
            } else {
                None
            };
            (frozen, failure, aborted)
        });
        let load_findings = loader.findings.into_inner();
        notes.extend(loader.notes.into_inner());
        // A symbol the loaded file lacks is reported as such, not also as unused, nor as the
        // evaluation error it caused (a private symbol).
        findings.retain(|f| {
            !(f.code == codes::UNUSED_LOAD || f.code == codes::EVALUATION_ERROR)
                || !load_findings
                    .iter()
                    .any(|l| l.code == codes::LOAD_MISSING_SYMBOL && l.start == f.start)
        });
        findings.extend(load_findings);
        let loads = index
            .loads
            .iter()
            .map(|site| (site.module.clone(), site.module_span))
            .collect();
        let declarations = recorder
            .declarations
            .then(|| recorder.invocations.borrow().clone());
        let build = (kind == FileKind::Build).then_some(BuildOutcome {
            recorder,
            index,
            aborted,
        });
        Evaluated {
            findings,
            notes,
            unknown,
            loads,
            declarations,
            suppressions,
            module,
            failure,
            build,
        }
    }

    /// Unused loads and undefined names. Returns the undefined names, which evaluation then
    /// binds to stubs so that one typo does not hide the rest of the file.
    fn name_findings(
        &self,
        ast: &AstModule,
        index: &AstIndex,
        kind: FileKind,
        global_names: &HashSet<String>,
        findings: &mut Vec<Finding>,
    ) -> Vec<String> {
        let mut undefined = Vec::new();
        for lint in ast.lint(Some(global_names)) {
            let span = (
                lint.location.span.begin().get(),
                lint.location.span.end().get(),
            );
            match lint.short_name.as_str() {
                "unused-load" => {
                    let name = lint
                        .problem
                        .rsplit('`')
                        .nth(1)
                        .unwrap_or(&lint.original)
                        .to_owned();
                    findings.push(Finding::new(
                        span,
                        codes::UNUSED_LOAD,
                        format!("`{name}` is loaded but never used"),
                    ))
                }
                "using-undefined" => {
                    let name = lint.original.clone();
                    let mut candidates: Vec<&str> =
                        global_names.iter().map(String::as_str).collect();
                    candidates.extend(index.top_level_names.iter().map(String::as_str));
                    candidates.extend(
                        index
                            .loads
                            .iter()
                            .flat_map(|l| l.symbols.iter().map(|(s, _)| s.as_str())),
                    );
                    if kind == FileKind::Build {
                        candidates.extend(embedded::PUBLIC_SYMBOLS.iter().map(|(s, _)| *s));
                    }
                    let advice = match embedded::PUBLIC_SYMBOLS.iter().find(|(s, _)| *s == name) {
                        Some((symbol, file)) => {
                            format!(" (load it: load(\"{file}\", \"{symbol}\"))")
                        }
                        None => suggest::hint(
                            &name,
                            candidates.iter().copied().filter(|c| !c.starts_with("__")),
                        ),
                    };
                    findings.push(Finding::new(
                        span,
                        codes::UNDEFINED_NAME,
                        format!("`{name}` is not defined{advice}"),
                    ));
                    if !undefined.contains(&name) {
                        undefined.push(name);
                    }
                }
                _ => {}
            }
        }
        undefined
    }

    /// A module exposing `symbols` of the external file `key`: known rules with their schemas,
    /// everything else opaque.
    fn stub_view(&self, key: &ModuleKey, symbols: &[String]) -> Option<FrozenModule> {
        let cache_key = (key.clone(), symbols.to_vec(), false);
        if let Some(view) = self.stub_views.borrow().get(&cache_key) {
            return Some(view.clone());
        }
        let repo = match &key.repo {
            Repo::External(repo) => repo.clone(),
            _ => String::new(),
        };
        let view = Module::with_temp_heap(|module| {
            for symbol in symbols {
                let value = match external_schema(&repo, symbol) {
                    Some(schema) => module.heap().alloc_simple(NativeRule {
                        kind: symbol.clone(),
                        schema,
                    }),
                    None => module.heap().alloc_simple(Opaque::new(symbol.as_str())),
                };
                module.set(symbol, value);
            }
            module.freeze().ok()
        })?;
        self.stub_views.borrow_mut().insert(cache_key, view.clone());
        Some(view)
    }

    /// A module exposing `symbols` of an evaluated module (wrapping macros for BUILD files);
    /// symbols it lacks become stubs.
    fn view(
        &self,
        key: &ModuleKey,
        source: &FrozenModule,
        symbols: &[String],
        wrap_macros: bool,
    ) -> Option<FrozenModule> {
        let cache_key = (key.clone(), symbols.to_vec(), wrap_macros);
        if let Some(view) = self.views.borrow().get(&cache_key) {
            return Some(view.clone());
        }
        let view = Module::with_temp_heap(|module| {
            for symbol in symbols {
                let value = match source.get_option(symbol) {
                    Ok(Some(owned)) => import(&module, symbol, owned, wrap_macros),
                    _ => module.heap().alloc_simple(Opaque::new(symbol.as_str())),
                };
                module.set(symbol, value);
            }
            module.freeze().ok()
        })?;
        self.views.borrow_mut().insert(cache_key, view.clone());
        Some(view)
    }
}

fn import<'v>(
    module: &Module<'v>,
    symbol: &str,
    owned: OwnedFrozenValue,
    wrap_macros: bool,
) -> starlark::values::Value<'v> {
    if wrap_macros && owned.value().get_type() == "function" {
        return module
            .heap()
            .alloc_simple(MacroWrapper::new(symbol.to_owned(), owned));
    }
    module.frozen_heap().add_reference(owned.owner());
    // SAFETY: the module's frozen heap now keeps the value's heap alive.
    unsafe { owned.unchecked_frozen_value() }.to_value()
}

struct Loader<'a> {
    session: &'a Session,
    context: &'a FileContext,
    wrap_macros: bool,
    index: &'a AstIndex,
    findings: RefCell<Vec<Finding>>,
    notes: RefCell<Vec<NoteAt>>,
}

impl Loader<'_> {
    fn note_unknown(&self, span: ByteSpan, why: &str, symbols: &[String]) {
        let names: Vec<String> = symbols.iter().map(|s| format!("`{s}`")).collect();
        self.notes.borrow_mut().push(NoteAt::new(
            span.0,
            format!(
                "{why}: {} unknown here; checks that depend on {} are off (attributes of what it makes, PYO020-PYO023; its targets, PYO031/PYO032)",
                names.join(", "),
                if names.len() == 1 { "it" } else { "them" },
            ),
        ));
    }
    fn stubs(&self, symbols: &[String]) -> starlark::Result<FrozenModule> {
        let key = ModuleKey {
            repo: Repo::External(String::new()),
            package: String::new(),
            name: String::new(),
        };
        self.session.stub_view(&key, symbols).ok_or_else(|| {
            starlark::Error::new_other(crate::bazel::values::FakeError::Other(
                "cannot build stub module".to_owned(),
            ))
        })
    }
}

impl FileLoader for Loader<'_> {
    fn load(&self, path: &str) -> starlark::Result<FrozenModule> {
        // One file may be loaded by several `load()` statements; the view serves all of them.
        let sites: Vec<&crate::ast_index::LoadSite> = self
            .index
            .loads
            .iter()
            .filter(|l| l.module == path)
            .collect();
        let span = sites.first().map_or((0, 0), |s| s.module_span);
        let mut symbols: Vec<String> = sites
            .iter()
            .flat_map(|s| s.symbols.iter().map(|(name, _)| name.clone()))
            .collect();
        symbols.sort();
        symbols.dedup();
        let key = match self.context.resolve(path) {
            Ok(key) => key,
            Err(reason) => {
                self.findings
                    .borrow_mut()
                    .push(Finding::new(span, codes::LOAD_FAILED, reason));
                return self.stubs(&symbols);
            }
        };
        let evaluated_here = matches!(&key.repo, Repo::External(repo)
            if crate::bazel::skylib::is_skylib(repo)
                && crate::bazel::skylib::get(&key.package, &key.name).is_some());
        if let Repo::External(repo) = &key.repo {
            if !evaluated_here {
                let why = if self.context.fetched.is_none() {
                    "no Bazel output base: build or fetch the workspace, or pass --output-base"
                } else {
                    "it is not in Bazel's output base"
                };
                let unknown: Vec<String> = symbols
                    .iter()
                    .filter(|s| external_schema(repo, s).is_none())
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    self.note_unknown(span, &format!("`@{repo}` is not evaluated ({why})"), &unknown);
                }
            }
        }
        if matches!(key.repo, Repo::External(_)) && !evaluated_here {
            return self
                .session
                .stub_view(&key, &symbols)
                .map_or_else(|| self.stubs(&symbols), Ok);
        }
        let result = self.session.load_module(&key, self.context);
        let Some(module) = &result.module else {
            if result.unknown {
                self.note_unknown(
                    span,
                    &format!("{} does not evaluate under the linter's stand-ins ({})", key.label(),
                        result.failure.as_deref().unwrap_or("a value it cannot know").replace(OTHER_REPOSITORY_MARK, "")),
                    &symbols,
                );
                return self.stubs(&symbols);
            }
            let reason = result
                .failure
                .clone()
                .unwrap_or_else(|| "it does not evaluate".to_owned());
            self.findings.borrow_mut().push(Finding::new(
                span,
                codes::LOAD_FAILED,
                format!("cannot load {}: {reason}", key.label()),
            ));
            return self.stubs(&symbols);
        };
        let exported: Vec<String> = module.names().map(|n| n.as_str().to_owned()).collect();
        for site in &sites {
            for (symbol, symbol_span) in &site.symbols {
                if matches!(module.get_option(symbol), Ok(Some(_))) {
                    continue;
                }
                let message = if symbol.starts_with('_') {
                    format!("`{symbol}` is private to {}", key.label())
                } else {
                    let hint = suggest::hint(
                        symbol,
                        exported
                            .iter()
                            .map(String::as_str)
                            .filter(|n| !n.starts_with('_')),
                    );
                    format!("{} does not export `{symbol}`{hint}", key.label())
                };
                self.findings.borrow_mut().push(Finding::new(
                    *symbol_span,
                    codes::LOAD_MISSING_SYMBOL,
                    message,
                ));
            }
        }
        self.session
            .view(&key, module, &symbols, self.wrap_macros)
            .map_or_else(|| self.stubs(&symbols), Ok)
    }
}
