//! What evaluating a BUILD file left behind: every rule, macro and stub call, with the attribute
//! values it received and where in the BUILD file the call came from.

use std::cell::{OnceCell, RefCell};
use std::path::PathBuf;
use std::sync::Arc;

use starlark::any::ProvidesStaticType;
use starlark::eval::Evaluator;

use crate::attr_value::AttrValue;
use crate::bazel::schema::RuleSchema;

/// The parameters of a `def` macro, as far as checking a call needs them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Signature {
    /// Parameter names in order, with whether a default exists.
    pub params: Vec<(String, bool)>,
    pub accepts_kwargs: bool,
}

impl Signature {
    pub fn accepts(&self, name: &str) -> bool {
        self.accepts_kwargs || self.params.iter().any(|(param, _)| param == name)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// A `def` macro called from the BUILD file.
    Macro(Option<Signature>),
    /// A rule with a known schema (from `rule()`, a native rule, or a known external rule).
    Rule(Arc<RuleSchema>),
    /// `exports_files(...)`: the named files become targets.
    ExportsFiles,
    /// A stub standing in for something the linter cannot see (another repository's macro, an
    /// undefined name). It may create targets the linter does not know about.
    Opaque,
}

#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// The name the BUILD file (or macro) called it by, e.g. `py_image`.
    pub kind: String,
    pub origin: Origin,
    pub attrs: Vec<(String, AttrValue)>,
    pub positional: Vec<AttrValue>,
    /// Byte span, in the BUILD file, of the top-level call this invocation happened under.
    pub call: Option<(u32, u32)>,
    /// Called by the BUILD file itself, not from inside a macro.
    pub direct: bool,
    pub creates_target: bool,
    /// The error a macro failed with (the BUILD file's evaluation continues past it).
    pub error: Option<String>,
}

impl Invocation {
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attrs
            .iter()
            .find(|(attr, _)| attr == name)
            .map(|(_, value)| value)
    }

    pub fn name(&self) -> Option<&str> {
        self.attr("name").and_then(AttrValue::as_str)
    }
}

/// Lives in `Evaluator::extra` while a file is evaluated.
#[derive(ProvidesStaticType)]
pub(crate) struct Recorder {
    /// The file name of the BUILD file being evaluated, as its code map knows it; `None` while
    /// evaluating .bzl, WORKSPACE and MODULE.bazel files.
    pub build_file: Option<String>,
    pub package: String,
    pub package_dir: Option<PathBuf>,
    pub invocations: RefCell<Vec<Invocation>>,
    package_listing: OnceCell<crate::glob::Listing>,
    /// Recording a WORKSPACE or MODULE.bazel file: every call, for the repositories it names.
    pub declarations: bool,
}

impl Recorder {
    pub fn for_build(build_file: String, package: String, package_dir: PathBuf) -> Recorder {
        Recorder {
            build_file: Some(build_file),
            package,
            package_dir: Some(package_dir),
            invocations: RefCell::new(Vec::new()),
            package_listing: OnceCell::new(),
            declarations: false,
        }
    }

    pub fn for_other(package: String) -> Recorder {
        Recorder {
            build_file: None,
            package,
            package_dir: None,
            invocations: RefCell::new(Vec::new()),
            package_listing: OnceCell::new(),
            declarations: false,
        }
    }

    pub fn for_declarations(package: String) -> Recorder {
        Recorder {
            declarations: true,
            ..Recorder::for_other(package)
        }
    }

    pub fn get<'a>(eval: &'a Evaluator<'_, '_, '_>) -> Option<&'a Recorder> {
        eval.extra
            .and_then(|extra| extra.downcast_ref::<Recorder>())
    }

    /// Where the current call comes from: the span of the outermost call in the BUILD file, and
    /// whether the BUILD file itself is the caller.
    pub fn call_site(&self, eval: &Evaluator<'_, '_, '_>) -> (Option<(u32, u32)>, bool) {
        let Some(build_file) = &self.build_file else {
            return (None, false);
        };
        let in_build = |span: &starlark::codemap::FileSpan| span.file.filename() == build_file;
        let direct = eval
            .call_stack_top_location()
            .is_some_and(|location| in_build(&location));
        let outermost = eval
            .call_stack()
            .frames
            .into_iter()
            .filter_map(|frame| frame.location)
            .find(in_build)
            .map(|location| (location.span.begin().get(), location.span.end().get()));
        (outermost, direct)
    }

    pub fn record(&self, invocation: Invocation) {
        self.invocations.borrow_mut().push(invocation);
    }

    /// Files and directories under the package directory, not descending into subpackages.
    pub fn package_listing(&self) -> &crate::glob::Listing {
        self.package_listing
            .get_or_init(|| match &self.package_dir {
                Some(dir) => crate::glob::list_package(dir),
                None => crate::glob::Listing::default(),
            })
    }

    pub fn is_build(&self) -> bool {
        self.build_file.is_some()
    }
}
