//! Checks that run on what evaluating a BUILD file recorded.

mod attrs;
mod entry;
mod image;
mod targets;

pub(crate) use entry::{image_tags, tag_collision, ImageTagOwner};

use crate::ast_index::{AstIndex, ByteSpan, CallSite};
use crate::diagnostic::{Finding, LineIndex, NoteAt};
use crate::record::Origin;
use crate::glob::Listing;
use crate::record::Invocation;

pub(crate) use targets::PackageNames;

/// Macros and rules that build an image from a py_binary.
pub(crate) const IMAGE_KINDS: &[&str] = &["py_image", "py_service_image"];

pub(crate) struct BuildContext<'a> {
    pub invocations: &'a [Invocation],
    pub index: &'a AstIndex,
    pub lines: &'a LineIndex<'a>,
    pub package: &'a str,
    pub main_names: &'a [String],
    pub listing: &'a dyn Fn() -> &'a Listing,
    /// Evaluation stopped early, so targets defined later are unknown.
    pub aborted: bool,
    /// What another package of the main repository defines, for labels into it.
    pub other_package: &'a dyn Fn(&str) -> PackageLookup,
    /// The repositories the workspace declares, for labels into them.
    pub repositories: &'a crate::repos::Repositories,
}

/// What the linter found for a package named by a label.
#[derive(Clone)]
pub(crate) enum PackageLookup {
    /// The directory has no BUILD or BUILD.bazel file, so Bazel has no such package.
    Missing,
    Found(std::rc::Rc<PackageNames>),
    /// Its BUILD file could not be evaluated to the end; nothing is reported.
    Unknown,
}

impl<'a> BuildContext<'a> {
    pub fn call(&self, invocation: &Invocation) -> Option<&'a CallSite> {
        self.index.call(invocation.call)
    }

    /// Where to point for the call as a whole: its callee.
    pub fn call_span(&self, invocation: &Invocation) -> ByteSpan {
        self.call(invocation)
            .map_or((0, 0), |call| call.callee_span)
    }

    /// The value of keyword `attr` in the BUILD call, or the callee if the BUILD file did not write it.
    pub fn value_span(&self, invocation: &Invocation, attr: &str) -> ByteSpan {
        self.call(invocation)
            .and_then(|call| call.kwarg(attr))
            .map_or_else(|| self.call_span(invocation), |k| k.value_span)
    }

    pub fn name_span(&self, invocation: &Invocation, attr: &str) -> ByteSpan {
        self.call(invocation)
            .and_then(|call| call.kwarg(attr))
            .map_or_else(|| self.call_span(invocation), |k| k.name_span)
    }

    /// The `index`th element of a list literal given for `attr`, or the whole value.
    pub fn element_span(&self, invocation: &Invocation, attr: &str, index: usize) -> ByteSpan {
        self.call(invocation)
            .and_then(|call| {
                call.kwarg(attr).or_else(|| {
                    (invocation.kind == "exports_files")
                        .then(|| call.positional.first())
                        .flatten()
                })
            })
            .and_then(|k| {
                k.elements
                    .as_ref()
                    .and_then(|e| e.get(index))
                    .copied()
                    .or(Some(k.value_span))
            })
            .unwrap_or_else(|| self.call_span(invocation))
    }

    /// `(key span, value span)` of `key` in a dict literal given for `attr`.
    pub fn entry_spans(
        &self,
        invocation: &Invocation,
        attr: &str,
        key: &str,
    ) -> (ByteSpan, ByteSpan) {
        let kwarg = self.call(invocation).and_then(|call| call.kwarg(attr));
        let entry = kwarg
            .and_then(|k| k.entries.as_ref())
            .and_then(|entries| entries.iter().find(|e| e.key.as_deref() == Some(key)));
        match (entry, kwarg) {
            (Some(entry), _) => (entry.key_span, entry.value_span),
            (None, Some(kwarg)) => (kwarg.value_span, kwarg.value_span),
            (None, None) => (self.call_span(invocation), self.call_span(invocation)),
        }
    }

    /// The name the BUILD file called: for a rule a macro created, the macro's name.
    pub fn user_kind<'i>(&self, invocation: &'i Invocation) -> &'i str
    where
        'a: 'i,
    {
        if invocation.direct {
            return &invocation.kind;
        }
        self.invocations
            .iter()
            .find(|other| other.direct && other.call == invocation.call)
            .map_or(&invocation.kind, |direct| &direct.kind)
    }

    /// 1-based line of a byte offset, for messages that refer to another place.
    pub fn line_of(&self, span: ByteSpan) -> u32 {
        self.lines.position(span.0).0 + 1
    }
}

pub(crate) fn check_build(context: &BuildContext<'_>, notes: &mut Vec<NoteAt>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for invocation in context.invocations {
        silenced(context, invocation, notes);
        attrs::check(context, invocation, &mut findings);
        image::check(context, invocation, &mut findings);
        entry::check_main(context, invocation, &mut findings);
    }
    targets::check(context, &mut findings);
    findings
}

/// `--verbose`: the checks a call switched off, and why.
fn silenced(context: &BuildContext<'_>, invocation: &Invocation, notes: &mut Vec<NoteAt>) {
    let at = context.call_span(invocation).0;
    match &invocation.origin {
        Origin::Macro(_) => {
            if let Some(error) = invocation.error.as_ref().filter(|e| crate::eval::is_unknown_error(e)) {
                let error = error
                    .replace(crate::eval::OTHER_REPOSITORY_MARK, "")
                    .replace(crate::bazel::values::DECIDED_ON_UNKNOWN, "after deciding on an unknown: ");
                let error = error.lines().next().unwrap_or_default();
                notes.push(NoteAt::new(
                    at,
                    format!(
                        "`{}` stopped on a value the linter cannot know ({error}): the targets it makes are unknown, so any name in this package may be one (PYO031/PYO032 off here)",
                        invocation.kind
                    ),
                ));
            }
        }
        Origin::Rule(schema) if schema.partial => {
            let unchecked: Vec<&str> = invocation
                .attrs
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| !schema.attrs.contains_key(*name))
                .collect();
            if !unchecked.is_empty() {
                notes.push(NoteAt::new(
                    at,
                    format!(
                        "`{}`'s attribute schema is built from values the linter cannot know: `{}` not checked (PYO020-PYO023)",
                        context.user_kind(invocation),
                        unchecked.join("`, `")
                    ),
                ));
            }
        }
        Origin::Opaque if invocation.direct && invocation.name().is_none() && invocation.positional.is_empty() => {
            notes.push(NoteAt::new(
                at,
                format!(
                    "`{}()` is code the linter does not evaluate and names no target: any name in this package may be one of its targets (PYO031/PYO032 off here)",
                    invocation.kind
                ),
            ));
        }
        _ => {}
    }
}
