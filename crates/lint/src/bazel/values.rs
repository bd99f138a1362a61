//! Recording stand-ins for Bazel's Starlark values: calling a rule records the call instead of
//! creating a target, `rule(attrs = ...)` keeps the real attribute schema, and anything the
//! linter cannot model is an opaque value that tolerates whatever code does with it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use allocative::Allocative;
use starlark::any::ProvidesStaticType;
use starlark::docs::{DocItem, DocMember};
use starlark::eval::{Arguments, Evaluator};
use starlark::starlark_simple_value;
use starlark::values::{
    starlark_value, Heap, NoSerialize, OwnedFrozenValue, StarlarkValue, Value, ValueLike,
};

use crate::attr_value::AttrValue;
use crate::bazel::schema::{AttrSchema, AttrType, RuleSchema};
use crate::label::Label;
use crate::record::{Invocation, Origin, Recorder, Signature};

#[derive(Debug, thiserror::Error)]
pub(crate) enum FakeError {
    #[error("`{0}` does not accept positional arguments")]
    Positional(String),
    #[error("invalid label {0:?}: {1}")]
    Label(String, crate::label::LabelError),
    #[error("{0}")]
    Other(String),
}

pub(crate) fn fake_error(error: FakeError) -> starlark::Error {
    starlark::Error::new_other(error)
}

/// Records one call of a target-creating callable.
fn record_call<'v>(
    kind: &str,
    origin: Origin,
    args: &Arguments<'v, '_>,
    eval: &mut Evaluator<'v, '_, '_>,
    creates_target: bool,
) -> starlark::Result<()> {
    let Some(recorder) = Recorder::get(eval) else {
        return Ok(());
    };
    if !recorder.is_build() && !recorder.declarations {
        return Ok(());
    }
    let (call, direct) = recorder.call_site(eval);
    let attrs: Vec<(String, AttrValue)> = args
        .names_map()?
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), AttrValue::from_value(*value)))
        .collect();
    let positional: Vec<AttrValue> = args
        .positions(eval.heap())?
        .map(AttrValue::from_value)
        .collect();
    let creates_target = creates_target && attrs.iter().any(|(name, _)| name == "name");
    recorder.record(Invocation {
        kind: kind.to_owned(),
        origin,
        attrs,
        positional,
        call,
        direct,
        creates_target,
        error: None,
    });
    Ok(())
}

/// A rule made by `rule()` (or `repository_rule()`) in a .bzl file.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct RuleValue {
    #[allocative(skip)]
    pub schema: Arc<RuleSchema>,
    /// The global it was first assigned to, as Bazel names rules.
    #[allocative(skip)]
    pub name: OnceLock<String>,
}
starlark_simple_value!(RuleValue);

impl fmt::Display for RuleValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<rule {}>", self.kind())
    }
}

impl RuleValue {
    pub fn kind(&self) -> &str {
        self.name.get().map_or("<unexported rule>", String::as_str)
    }
}

#[starlark_value(type = "rule")]
impl<'v> StarlarkValue<'v> for RuleValue {
    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        if args.positions(eval.heap())?.next().is_some() {
            return Err(fake_error(FakeError::Positional(self.kind().to_owned())));
        }
        record_call(
            self.kind(),
            Origin::Rule(self.schema.clone()),
            args,
            eval,
            true,
        )?;
        Ok(Value::new_none())
    }

    fn export_as(
        &self,
        variable_name: &str,
        _eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<()> {
        let _ = self.name.set(variable_name.to_owned());
        Ok(())
    }
}

/// A native rule (`py_binary`, `filegroup`, ...) or a rule of another repository that the
/// linter knows by name.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct NativeRule {
    pub kind: String,
    #[allocative(skip)]
    pub schema: Arc<RuleSchema>,
}
starlark_simple_value!(NativeRule);

impl fmt::Display for NativeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<built-in rule {}>", self.kind)
    }
}

#[starlark_value(type = "builtin_function_or_method")]
impl<'v> StarlarkValue<'v> for NativeRule {
    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        if args.positions(eval.heap())?.next().is_some() {
            return Err(fake_error(FakeError::Positional(self.kind.clone())));
        }
        record_call(
            &self.kind,
            Origin::Rule(self.schema.clone()),
            args,
            eval,
            true,
        )?;
        Ok(Value::new_none())
    }
}

/// What `attr.string(...)` and friends return: one attribute's schema.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct AttrSpec {
    #[allocative(skip)]
    pub schema: AttrSchema,
}
starlark_simple_value!(AttrSpec);

impl fmt::Display for AttrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<attr {}>", self.schema.ty.describe())
    }
}

#[starlark_value(type = "Attribute")]
impl<'v> StarlarkValue<'v> for AttrSpec {}

impl AttrSpec {
    pub fn new(
        ty: AttrType,
        mandatory: bool,
        values: Vec<AttrValue>,
        allows_files: bool,
    ) -> AttrSpec {
        AttrSpec {
            schema: AttrSchema {
                ty,
                mandatory,
                values,
                allows_files,
            },
        }
    }
}

/// `Label("//pkg:name")`.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct LabelValue {
    pub text: String,
    #[allocative(skip)]
    pub label: Label,
}
starlark_simple_value!(LabelValue);

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label)
    }
}

impl LabelValue {
    pub fn parse(text: &str) -> starlark::Result<LabelValue> {
        let label =
            Label::parse(text).map_err(|e| fake_error(FakeError::Label(text.to_owned(), e)))?;
        Ok(LabelValue {
            text: text.to_owned(),
            label,
        })
    }
}

#[starlark_value(type = "Label")]
impl<'v> StarlarkValue<'v> for LabelValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        let repo = self.label.repo.clone().unwrap_or_default();
        match attribute {
            "name" => Some(heap.alloc(self.label.name.as_str())),
            "package" => Some(heap.alloc(self.label.package.as_deref().unwrap_or_default())),
            "workspace_name" | "repo_name" => Some(heap.alloc(repo)),
            "workspace_root" => Some(heap.alloc(if repo.is_empty() {
                String::new()
            } else {
                format!("external/{repo}")
            })),
            // Methods whose results the checks do not need.
            "relative" | "same_package_label" => {
                Some(heap.alloc_simple(Opaque::new(format!("Label.{attribute}"))))
            }
            _ => None,
        }
    }

    fn dir_attr(&self) -> Vec<String> {
        [
            "name",
            "package",
            "repo_name",
            "workspace_name",
            "workspace_root",
        ]
        .map(String::from)
        .to_vec()
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other
            .downcast_ref::<LabelValue>()
            .is_some_and(|o| o.label == self.label))
    }

    fn write_hash(
        &self,
        hasher: &mut starlark::collections::StarlarkHasher,
    ) -> starlark::Result<()> {
        use std::hash::Hash;
        self.label.to_string().hash(hasher);
        Ok(())
    }
}

/// `select({...})`, possibly concatenated with plain values.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct SelectValue {
    #[allocative(skip)]
    pub parts: Vec<AttrValue>,
}
starlark_simple_value!(SelectValue);

impl fmt::Display for SelectValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("select(...)")
    }
}

#[starlark_value(type = "select")]
impl<'v> StarlarkValue<'v> for SelectValue {
    fn add(&self, rhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        let mut parts = self.parts.clone();
        parts.push(AttrValue::from_value(rhs));
        Some(Ok(heap.alloc_simple(SelectValue { parts })))
    }

    fn radd(&self, lhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        let mut parts = vec![AttrValue::from_value(lhs)];
        parts.extend(self.parts.iter().cloned());
        Some(Ok(heap.alloc_simple(SelectValue { parts })))
    }

    /// `select({...}) | {...}` (dict-valued attributes).
    fn bit_or(&self, other: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        let mut parts = self.parts.clone();
        parts.push(AttrValue::from_value(other));
        Ok(heap.alloc_simple(SelectValue { parts }))
    }
}

/// Something the linter cannot see into: a symbol from another repository, a provider, an
/// undefined name. It can be called, its attributes read, added to, indexed and iterated.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct Opaque {
    pub name: String,
}
starlark_simple_value!(Opaque);

impl Opaque {
    pub fn new(name: impl Into<String>) -> Opaque {
        Opaque { name: name.into() }
    }
}

thread_local! {
    /// How many times code has looked at an unknown to decide something (its truth, length,
    /// members, equality): a `fail()` after that may come from a branch the real value would
    /// not have taken.
    static CONSULTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn consulted() {
    CONSULTED.with(|c| c.set(c.get() + 1));
}

/// The count of decisions taken on unknowns so far (compare two readings).
pub(crate) fn unknowns_consulted() -> u64 {
    CONSULTED.with(std::cell::Cell::get)
}

/// Marks an error raised after code decided something on an unknown value.
pub(crate) const DECIDED_ON_UNKNOWN: &str = "(after a decision on a value of type unknown) ";

/// How an unknown reads inside a string (`"@pip_{}//:pkg".format(unknown)`): strings holding
/// it are unknown too (see `AttrValue`).
pub(crate) const UNKNOWN_OPEN: char = '\u{27e8}';
pub(crate) const UNKNOWN_CLOSE: char = '\u{27e9}';

impl fmt::Display for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{UNKNOWN_OPEN}{}{UNKNOWN_CLOSE}", self.name)
    }
}

#[starlark_value(type = "unknown")]
impl<'v> StarlarkValue<'v> for Opaque {
    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        record_call(&self.name, Origin::Opaque, args, eval, true)?;
        Ok(eval
            .heap()
            .alloc_simple(Opaque::new(format!("{}()", self.name))))
    }

    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        Some(heap.alloc_simple(Opaque::new(format!("{}.{attribute}", self.name))))
    }

    fn has_attr(&self, _attribute: &str, _heap: Heap<'v>) -> bool {
        true
    }

    fn at(&self, _index: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc_simple(Opaque::new(format!("{}[]", self.name))))
    }

    fn iterate_collect(&self, _heap: Heap<'v>) -> starlark::Result<Vec<Value<'v>>> {
        consulted();
        Ok(Vec::new())
    }

    fn length(&self) -> starlark::Result<i32> {
        consulted();
        Ok(0)
    }

    fn is_in(&self, _other: Value<'v>) -> starlark::Result<bool> {
        consulted();
        Ok(false)
    }

    fn to_bool(&self) -> bool {
        consulted();
        true
    }

    // An unknown can be a dict key or a set member, as the value it stands for could be.
    fn write_hash(
        &self,
        hasher: &mut starlark::collections::StarlarkHasher,
    ) -> starlark::Result<()> {
        use std::hash::Hash;
        self.name.hash(hasher);
        Ok(())
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        consulted();
        Ok(other
            .downcast_ref::<Opaque>()
            .is_some_and(|o| o.name == self.name))
    }

    // Writes into an unknown are lost, as its contents are.
    fn set_at(&self, _index: Value<'v>, _new_value: Value<'v>) -> starlark::Result<()> {
        Ok(())
    }

    fn set_attr(&self, _attribute: &str, _new_value: Value<'v>) -> starlark::Result<()> {
        Ok(())
    }

    fn minus(&self, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc_simple(Opaque::new(self.name.clone())))
    }

    fn sub(&self, _other: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc_simple(Opaque::new(self.name.clone())))
    }

    fn mul(&self, _rhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        Some(Ok(heap.alloc_simple(Opaque::new(self.name.clone()))))
    }

    fn rmul(&self, _lhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        Some(Ok(heap.alloc_simple(Opaque::new(self.name.clone()))))
    }

    fn percent(&self, _other: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc_simple(Opaque::new(self.name.clone())))
    }

    fn bit_or(&self, _other: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc_simple(Opaque::new(self.name.clone())))
    }

    fn slice(
        &self,
        _start: Option<Value<'v>>,
        _stop: Option<Value<'v>>,
        _stride: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc_simple(Opaque::new(self.name.clone())))
    }

    fn add(&self, _rhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        Some(Ok(heap.alloc_simple(Opaque::new(self.name.clone()))))
    }

    fn radd(&self, _lhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        Some(Ok(heap.alloc_simple(Opaque::new(self.name.clone()))))
    }
}

/// A provider from `provider()`: calling it yields an opaque instance.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct ProviderValue {
    #[allocative(skip)]
    pub name: OnceLock<String>,
}
starlark_simple_value!(ProviderValue);

impl fmt::Display for ProviderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<provider {}>",
            self.name.get().map_or("<unexported>", String::as_str)
        )
    }
}

#[starlark_value(type = "Provider")]
impl<'v> StarlarkValue<'v> for ProviderValue {
    fn invoke(
        &self,
        _me: Value<'v>,
        _args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let name = self.name.get().map_or("provider", String::as_str);
        Ok(eval.heap().alloc_simple(Opaque::new(name)))
    }

    fn export_as(
        &self,
        variable_name: &str,
        _eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<()> {
        let _ = self.name.set(variable_name.to_owned());
        Ok(())
    }
}

/// A `def` macro as a BUILD file sees it: calls are recorded with the arguments the BUILD file
/// passed, checked against the macro's parameters, and a failing macro does not stop the rest
/// of the BUILD file from being evaluated.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub(crate) struct MacroWrapper {
    /// The name it was loaded as (`py_image`).
    pub name: String,
    #[allocative(skip)]
    pub inner: OwnedFrozenValue,
    #[allocative(skip)]
    pub signature: Option<Signature>,
}
starlark_simple_value!(MacroWrapper);

impl fmt::Display for MacroWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<function {}>", self.name)
    }
}

impl MacroWrapper {
    pub fn new(name: String, inner: OwnedFrozenValue) -> MacroWrapper {
        let signature = match inner.value().documentation() {
            DocItem::Member(DocMember::Function(function)) => {
                let params = function.params;
                Some(Signature {
                    params: params
                        .pos_only
                        .iter()
                        .chain(&params.pos_or_named)
                        .chain(&params.named_only)
                        .map(|p| (p.name.clone(), p.default_value.is_some()))
                        .collect(),
                    accepts_kwargs: params.kwargs.is_some(),
                })
            }
            _ => None,
        };
        MacroWrapper {
            name,
            inner,
            signature,
        }
    }

    fn inner_value<'v>(&self) -> Value<'v> {
        // SAFETY: `self.inner` owns a reference to the heap the value lives on, and `self`
        // outlives any use of the returned value within one `invoke`.
        unsafe { self.inner.unchecked_frozen_value() }.to_value()
    }
}

#[starlark_value(type = "function")]
impl<'v> StarlarkValue<'v> for MacroWrapper {
    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let inner = self.inner_value();
        let site = Recorder::get(eval)
            .filter(|r| r.is_build())
            .map(|r| r.call_site(eval));
        let Some((call, true)) = site else {
            return inner.invoke(args, eval);
        };
        let named: Vec<(String, Value<'v>)> = args
            .names_map()?
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), *value))
            .collect();
        let positional: Vec<Value<'v>> = args.positions(eval.heap())?.collect();
        let signature = self.signature.clone();
        let (accepted, missing) = match &signature {
            Some(sig) => {
                let accepted: Vec<(&str, Value<'v>)> = named
                    .iter()
                    .filter(|(name, _)| sig.accepts(name))
                    .map(|(n, v)| (n.as_str(), *v))
                    .collect();
                let missing = sig
                    .params
                    .iter()
                    .enumerate()
                    .any(|(index, (param, has_default))| {
                        !has_default
                            && index >= positional.len()
                            && !named.iter().any(|(name, _)| name == param)
                    });
                (accepted, missing)
            }
            None => (named.iter().map(|(n, v)| (n.as_str(), *v)).collect(), false),
        };
        let mut invocation = Invocation {
            kind: self.name.clone(),
            origin: Origin::Macro(signature),
            attrs: named
                .iter()
                .map(|(name, value)| (name.clone(), AttrValue::from_value(*value)))
                .collect(),
            positional: positional
                .iter()
                .map(|v| AttrValue::from_value(*v))
                .collect(),
            call,
            direct: true,
            creates_target: false,
            error: None,
        };
        // What the macro returns is its value in the BUILD file (`deps = py_deps("x")`); when
        // it cannot run, the BUILD file goes on with an unknown in its place.
        let mut result = None;
        if !missing {
            let before = unknowns_consulted();
            match eval.eval_function(inner, &positional, &accepted) {
                Ok(value) => result = Some(value),
                Err(error) => {
                    let mark = if crate::eval::in_other_repository(&error) {
                        crate::eval::OTHER_REPOSITORY_MARK
                    } else if unknowns_consulted() != before {
                        DECIDED_ON_UNKNOWN
                    } else {
                        ""
                    };
                    invocation.error = Some(format!("{mark}{}", error.without_diagnostic()));
                }
            }
        }
        if let Some(recorder) = Recorder::get(eval) {
            recorder.record(invocation);
        }
        Ok(result.unwrap_or_else(|| eval.heap().alloc_simple(Opaque::new(format!("{}()", self.name)))))
    }
}
