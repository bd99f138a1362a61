//! The global environments Bazel gives each kind of file, built from recording fakes.

use std::collections::HashSet;
use std::sync::Arc;

use starlark::collections::SmallMap;
use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::dict::AllocDict;
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneType;
use starlark::values::tuple::UnpackTuple;
use starlark::values::{Heap, UnpackValue, Value};

use crate::attr_value::AttrValue;
use crate::bazel::schema::{
    native_schema, AttrSchema, AttrType, RuleClass, RuleSchema, OPEN_NATIVE_RULES,
};
use crate::bazel::values::{
    fake_error, AttrSpec, FakeError, LabelValue, NativeRule, Opaque, ProviderValue, RuleValue,
    SelectValue,
};
use crate::record::{Invocation, Origin, Recorder};

/// Strings and lists longer than this may not be built by repetition (`"x" * n`): the linter
/// would run out of memory before any check could run.
const MAX_REPETITION_BYTES: u128 = 16 << 20;

/// The name `*` is rewritten to, so that repetition goes through [`MAX_REPETITION_BYTES`].
pub(crate) const CHECKED_MUL: &str = "__pyoci_checked_mul";

/// The name `|` is rewritten to, so that `{...} | unknown` and `{...} | select(...)` work as in
/// Bazel (a dict's own `|` only takes dicts).
pub(crate) const UNION: &str = "__pyoci_union";

/// Native rules whose attributes are checked.
const CHECKED_NATIVE_RULES: &[&str] = &[
    "py_binary",
    "py_library",
    "py_test",
    "filegroup",
    "genrule",
    "sh_binary",
    "sh_library",
    "sh_test",
    "alias",
    "test_suite",
    "config_setting",
];

const WORKSPACE_FUNCTIONS: &[&str] = &[
    "workspace",
    "local_repository",
    "new_local_repository",
    "bind",
    "register_toolchains",
    "register_execution_platforms",
    "android_sdk_repository",
    "android_ndk_repository",
    "local_config_platform",
];

const MODULE_FUNCTIONS: &[&str] = &[
    "module",
    "bazel_dep",
    "use_extension",
    "use_repo",
    "use_repo_rule",
    "register_toolchains",
    "register_execution_platforms",
    "single_version_override",
    "multiple_version_override",
    "archive_override",
    "git_override",
    "local_path_override",
    "include",
    "inject_repo",
    "override_repo",
    "flag_alias",
];

/// Built-in values of .bzl files that only rule implementations use.
const BZL_OPAQUE_GLOBALS: &[&str] = &[
    "DefaultInfo",
    "OutputGroupInfo",
    "PyInfo",
    "PyRuntimeInfo",
    "CcInfo",
    "CcToolchainConfigInfo",
    "InstrumentedFilesInfo",
    "RunEnvironmentInfo",
    "DebugPackageInfo",
    "JavaInfo",
    "ProtoInfo",
    "PackageSpecificationInfo",
    "config_common",
    "platform_common",
    "coverage_common",
    "testing",
    "cc_common",
    "java_common",
    "apple_common",
    "proto_common_do_not_use",
    "config",
    "attr_aspects",
    "PyWrapCcInfo",
    "AnalysisTestResultInfo",
    "CcToolchainInfo",
    "TemplateVariableInfo",
    "CcSharedLibraryInfo",
    "JavaPluginInfo",
    "PyCcLinkParamsProvider",
    "ProguardSpecProvider",
    "proto",
    "configuration_field",
    "AnalysisFailureInfo",
    "CcSharedLibraryHintInfo",
    // Only Bazel's own allow-listed .bzl files see it; harmless elsewhere.
    "py_internal",
];

pub(crate) struct BazelGlobals {
    pub build: Globals,
    pub bzl: Globals,
    pub workspace: Globals,
    pub module: Globals,
}

pub(crate) fn names(globals: &Globals) -> HashSet<String> {
    globals
        .names()
        .map(|name| name.as_str().to_owned())
        .collect()
}

fn base_builder() -> GlobalsBuilder {
    GlobalsBuilder::extended_by(&[LibraryExtension::Print, LibraryExtension::SetType])
        .with(checked_arithmetic)
        .with_namespace("json", json_functions)
}

/// The version `native.bazel_version` reports: version checks in macros take their newest path.
const BAZEL_VERSION: &str = "7.7.1";

/// `json.encode(x)` as text with `indent` per level, as Bazel's `json.encode_indent` does.
fn json_text(value: Value<'_>, indent: &str) -> starlark::Result<String> {
    let json = value
        .to_json_value()
        .map_err(|e| fake_error(FakeError::Other(e.to_string())))?;
    if indent.is_empty() {
        return Ok(json.to_string());
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&json, &mut serializer)
        .map_err(|e| fake_error(FakeError::Other(e.to_string())))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Bazel's `json` module. Encoding a value that holds an unknown gives an unknown.
#[starlark_module]
fn json_functions(builder: &mut GlobalsBuilder) {
    fn encode<'v>(#[starlark(require = pos)] x: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(match json_text(x, "") {
            Ok(text) => heap.alloc(text),
            Err(_) => heap.alloc_simple(Opaque::new("json.encode()")),
        })
    }

    fn encode_indent<'v>(
        #[starlark(require = pos)] x: Value<'v>,
        prefix: Option<&str>,
        indent: Option<&str>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let _ = prefix;
        Ok(match json_text(x, indent.unwrap_or("\t")) {
            Ok(text) => heap.alloc(text),
            Err(_) => heap.alloc_simple(Opaque::new("json.encode_indent()")),
        })
    }

    fn decode<'v>(
        #[starlark(require = pos)] x: &str,
        default: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        match serde_json::from_str::<serde_json::Value>(x) {
            Ok(json) => Ok(heap.alloc(json)),
            Err(_) if default.is_some() => Ok(default.unwrap_or_else(Value::new_none)),
            Err(error) => Err(fake_error(FakeError::Other(format!("json.decode: {error}")))),
        }
    }

    fn indent<'v>(
        #[starlark(require = pos)] s: &str,
        prefix: Option<&str>,
        indent: Option<&str>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let _ = prefix;
        match serde_json::from_str::<serde_json::Value>(s) {
            Ok(json) => json_text(heap.alloc(json), indent.unwrap_or("\t")).map(|t| heap.alloc(t)),
            Err(error) => Err(fake_error(FakeError::Other(format!("json.indent: {error}")))),
        }
    }
}

impl BazelGlobals {
    pub fn new() -> BazelGlobals {
        let build = base_builder()
            .with(common_functions)
            .with(package_functions)
            .with(native_rules)
            .build();
        let bzl = GlobalsBuilder::extended_by(&[
            LibraryExtension::Print,
            LibraryExtension::SetType,
            LibraryExtension::StructType,
        ])
        .with(checked_arithmetic)
        .with_namespace("json", json_functions)
        .with(common_functions)
        .with(bzl_functions)
        .with(|builder| {
            builder.namespace("attr", attr_functions);
            builder.namespace("native", |native| {
                package_functions(native);
                native_rules(native);
                opaque_functions(native, WORKSPACE_FUNCTIONS);
                native.set("bazel_version", BAZEL_VERSION);
            });
            opaque_functions(builder, BZL_OPAQUE_GLOBALS);
        })
        .build();
        let workspace = base_builder()
            .with(common_functions)
            .with(|builder| opaque_functions(builder, WORKSPACE_FUNCTIONS))
            .build();
        let module = base_builder()
            .with(|builder| opaque_functions(builder, MODULE_FUNCTIONS))
            .build();
        BazelGlobals {
            build,
            bzl,
            workspace,
            module,
        }
    }
}

fn opaque_functions(builder: &mut GlobalsBuilder, names: &[&str]) {
    for name in names {
        builder.set(name, Opaque::new(*name));
    }
}

fn native_rules(builder: &mut GlobalsBuilder) {
    for kind in CHECKED_NATIVE_RULES {
        if let Some(schema) = native_schema(kind) {
            builder.set(
                kind,
                NativeRule {
                    kind: (*kind).to_owned(),
                    schema,
                },
            );
        }
    }
    let open = Arc::new(RuleSchema::open());
    for kind in OPEN_NATIVE_RULES {
        builder.set(
            kind,
            NativeRule {
                kind: (*kind).to_owned(),
                schema: open.clone(),
            },
        );
    }
}

fn string_list(value: Option<Value<'_>>, what: &str) -> starlark::Result<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    match UnpackListOrTuple::<String>::unpack_value(value) {
        Ok(Some(list)) => Ok(list.items),
        _ => Err(fake_error(FakeError::Other(format!(
            "{what} must be a list of strings, got {}",
            value.get_type()
        )))),
    }
}

fn repetition_size(sequence: Value<'_>, count: Value<'_>) -> Option<u128> {
    let count = i64::unpack_value(count).ok().flatten()?;
    let len = match sequence.unpack_str() {
        Some(s) => s.len(),
        None if matches!(sequence.get_type(), "list" | "tuple") => sequence.length().ok()? as usize,
        None => return None,
    };
    Some(len as u128 * count.max(0) as u128)
}

#[starlark_module]
fn checked_arithmetic(builder: &mut GlobalsBuilder) {
    /// `a * b`, refusing repetitions that would exhaust memory.
    fn __pyoci_checked_mul<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let size = repetition_size(a, b)
            .or_else(|| repetition_size(b, a))
            .unwrap_or(0);
        if size > MAX_REPETITION_BYTES {
            return Err(fake_error(FakeError::Other(format!(
                "repetition would build a value of {size} elements or bytes, over the linter's limit of {MAX_REPETITION_BYTES}"
            ))));
        }
        a.mul(b, heap)
    }

    /// `a | b`, where either side may be an unknown or a `select()`.
    fn __pyoci_union<'v>(
        #[starlark(require = pos)] a: Value<'v>,
        #[starlark(require = pos)] b: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        if Opaque::from_value(b).is_some() {
            return Ok(b);
        }
        if let (None, Some(select)) = (
            SelectValue::from_value(a),
            SelectValue::from_value(b),
        ) {
            let mut parts = vec![AttrValue::from_value(a)];
            parts.extend(select.parts.iter().cloned());
            return Ok(heap.alloc_simple(SelectValue { parts }));
        }
        a.bit_or(b, heap)
    }
}

#[starlark_module]
fn common_functions(builder: &mut GlobalsBuilder) {
    /// A value the linter does not know, for the helper libraries written here.
    fn __pyoci_unknown(#[starlark(require = pos)] name: &str) -> starlark::Result<Opaque> {
        Ok(Opaque::new(name))
    }

    /// `dict()`, where a dict made from an unknown is unknown (not empty).
    fn dict<'v>(
        #[starlark(require = pos)] pairs: Option<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let mut entries: Vec<(Value<'v>, Value<'v>)> = Vec::new();
        if let Some(pairs) = pairs {
            if Opaque::from_value(pairs).is_some() {
                return Ok(pairs);
            }
            if let Some(dict) = starlark::values::dict::DictRef::from_value(pairs) {
                entries.extend(dict.iter());
            } else {
                for pair in pairs.iterate(heap)? {
                    let items: Vec<Value<'v>> = pair.iterate(heap)?.collect();
                    match items.as_slice() {
                        [key, value] => entries.push((*key, *value)),
                        _ => {
                            return Err(fake_error(FakeError::Other(format!(
                                "dict(): element is not a pair (got {} items)",
                                items.len()
                            ))))
                        }
                    }
                }
            }
        }
        for (key, value) in kwargs.iter() {
            entries.push((heap.alloc(key.as_str()), *value));
        }
        let mut dict = SmallMap::new();
        for (key, value) in entries {
            dict.insert_hashed(key.get_hashed()?, value);
        }
        Ok(heap.alloc(starlark::values::dict::Dict::new(dict)))
    }

    /// `str()`, where a function reads `<function NAME>` as in Bazel (macros parse it).
    fn str<'v>(#[starlark(require = pos)] x: Value<'v>) -> starlark::Result<String> {
        let text = x.to_str();
        if x.get_type() == "function" && !text.starts_with('<') {
            return Ok(format!("<function {text}>"));
        }
        Ok(text)
    }

    /// `list()`, where a list made from an unknown is unknown (not empty).
    fn list<'v>(
        #[starlark(require = pos)] items: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let Some(items) = items else {
            return Ok(heap.alloc(Vec::<Value<'v>>::new()));
        };
        if Opaque::from_value(items).is_some() {
            return Ok(items);
        }
        let items: Vec<Value<'v>> = items.iterate(heap)?.collect();
        Ok(heap.alloc(items))
    }

    fn select<'v>(
        #[starlark(require = pos)] conditions: Value<'v>,
        no_match_error: Option<Value<'v>>,
    ) -> starlark::Result<SelectValue> {
        let _ = no_match_error;
        match AttrValue::from_value(conditions) {
            AttrValue::Dict(entries) => Ok(SelectValue {
                parts: entries.into_iter().map(|(_, v)| v).collect(),
            }),
            other => Err(fake_error(FakeError::Other(format!(
                "select() takes a dict, got {}",
                other.describe()
            )))),
        }
    }

    fn depset<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = (args, kwargs);
        Ok(Opaque::new("depset"))
    }

    #[allow(non_snake_case)]
    fn Label<'v>(#[starlark(require = pos)] label: Value<'v>) -> starlark::Result<LabelValue> {
        if let Some(existing) = LabelValue::from_value(label) {
            return LabelValue::parse(&existing.text);
        }
        match label.unpack_str() {
            Some(text) => LabelValue::parse(text),
            None => Err(fake_error(FakeError::Other(format!(
                "Label() takes a string, got {}",
                label.get_type()
            )))),
        }
    }
}

#[starlark_module]
fn package_functions_inner(builder: &mut GlobalsBuilder) {
    fn glob<'v>(
        include: Value<'v>,
        exclude: Option<Value<'v>>,
        exclude_directories: Option<Value<'v>>,
        allow_empty: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Vec<String>> {
        let _ = allow_empty;
        let include = string_list(Some(include), "glob() include")?;
        let exclude = string_list(exclude, "glob() exclude")?;
        let directories = exclude_directories.is_some_and(|v| !v.to_bool());
        Ok(match Recorder::get(eval).filter(|r| r.is_build()) {
            Some(recorder) => {
                crate::glob::glob(recorder.package_listing(), &include, &exclude, directories)
            }
            None => Vec::new(),
        })
    }

    fn package<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<NoneType> {
        let _ = kwargs;
        Ok(NoneType)
    }

    fn licenses<'v>(#[starlark(require = pos)] licenses: Value<'v>) -> starlark::Result<NoneType> {
        let _ = licenses;
        Ok(NoneType)
    }

    fn exports_files<'v>(
        srcs: Value<'v>,
        visibility: Option<Value<'v>>,
        licenses: Option<Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<NoneType> {
        let _ = (visibility, licenses);
        let srcs = AttrValue::from_value(srcs);
        if let Some(recorder) = Recorder::get(eval).filter(|r| r.is_build()) {
            let (call, direct) = recorder.call_site(eval);
            recorder.record(Invocation {
                kind: "exports_files".to_owned(),
                origin: Origin::ExportsFiles,
                attrs: vec![("srcs".to_owned(), srcs)],
                positional: Vec::new(),
                call,
                direct,
                creates_target: false,
                error: None,
            });
        }
        Ok(NoneType)
    }

    fn existing_rule<'v>(
        #[starlark(require = pos)] name: &str,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        let heap = eval.heap();
        let Some(recorder) = Recorder::get(eval) else {
            return Ok(Value::new_none());
        };
        let invocations = recorder.invocations.borrow();
        let found = invocations
            .iter()
            .find(|i| i.creates_target && i.name() == Some(name));
        Ok(match found {
            Some(invocation) => rule_dict(heap, invocation),
            None => Value::new_none(),
        })
    }

    fn existing_rules<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<Value<'v>> {
        let heap = eval.heap();
        let mut rules = Vec::new();
        if let Some(recorder) = Recorder::get(eval) {
            for invocation in recorder
                .invocations
                .borrow()
                .iter()
                .filter(|i| i.creates_target)
            {
                if let Some(name) = invocation.name() {
                    rules.push((name.to_owned(), rule_dict(heap, invocation)));
                }
            }
        }
        Ok(heap.alloc(AllocDict(rules)))
    }

    fn package_name<'v>(eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<String> {
        Ok(Recorder::get(eval)
            .map(|r| r.package.clone())
            .unwrap_or_default())
    }

    fn repository_name() -> starlark::Result<String> {
        Ok("@".to_owned())
    }

    fn repo_name() -> starlark::Result<String> {
        Ok(String::new())
    }

    fn package_relative_label<'v>(
        #[starlark(require = pos)] input: Value<'v>,
    ) -> starlark::Result<LabelValue> {
        match input.unpack_str() {
            Some(text) => LabelValue::parse(text),
            None => LabelValue::from_value(input)
                .map(|label| LabelValue::parse(&label.text))
                .unwrap_or_else(|| {
                    Err(fake_error(FakeError::Other(format!(
                        "package_relative_label() takes a string, got {}",
                        input.get_type()
                    ))))
                }),
        }
    }

    fn module_name() -> starlark::Result<NoneType> {
        Ok(NoneType)
    }

    fn module_version() -> starlark::Result<NoneType> {
        Ok(NoneType)
    }

    fn subpackages<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Vec<String>> {
        let _ = kwargs;
        Ok(Vec::new())
    }
}

fn rule_dict<'v>(heap: Heap<'v>, invocation: &Invocation) -> Value<'v> {
    let mut entries: Vec<(&str, Value<'v>)> = vec![("kind", heap.alloc(invocation.kind.as_str()))];
    entries.extend(
        invocation
            .attrs
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_value(heap))),
    );
    heap.alloc(AllocDict(entries))
}

fn package_functions(builder: &mut GlobalsBuilder) {
    package_functions_inner(builder);
    opaque_functions(builder, &["package_group", "environment_group"]);
}

fn attr_spec(ty: AttrType, kwargs: &SmallMap<String, Value<'_>>) -> starlark::Result<AttrSpec> {
    let flag = |name: &str| kwargs.get(name).is_some_and(|v| v.to_bool());
    let values = match kwargs.get("values").map(|v| AttrValue::from_value(*v)) {
        Some(AttrValue::List(values)) => values,
        _ => Vec::new(),
    };
    let allows_files = flag("allow_files") || flag("allow_single_file");
    Ok(AttrSpec::new(ty, flag("mandatory"), values, allows_files))
}

#[starlark_module]
fn attr_functions(builder: &mut GlobalsBuilder) {
    fn string<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::String, &kwargs)
    }
    fn int<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::Int, &kwargs)
    }
    fn bool<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::Bool, &kwargs)
    }
    fn label<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::Label, &kwargs)
    }
    fn label_list<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::LabelList, &kwargs)
    }
    fn string_list<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::StringList, &kwargs)
    }
    fn int_list<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::IntList, &kwargs)
    }
    fn string_dict<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::StringDict, &kwargs)
    }
    fn string_list_dict<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::StringListDict, &kwargs)
    }
    fn label_keyed_string_dict<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::LabelKeyedStringDict, &kwargs)
    }
    fn string_keyed_label_dict<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::StringKeyedLabelDict, &kwargs)
    }
    fn output<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::Output, &kwargs)
    }
    fn output_list<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::OutputList, &kwargs)
    }
    fn license<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<AttrSpec> {
        attr_spec(AttrType::Any, &kwargs)
    }
}

fn rule_schema(kwargs: &SmallMap<String, Value<'_>>) -> RuleSchema {
    let flag = |name: &str| kwargs.get(name).is_some_and(|v| v.to_bool());
    let class = if flag("test") {
        RuleClass::Test
    } else if flag("executable") {
        RuleClass::Executable
    } else {
        RuleClass::Plain
    };
    let mut own = Vec::new();
    // A schema built from values the linter does not know (`dicts.add(other.attrs, ...)` of
    // an unevaluated repository) is partial: the rule accepts attributes it cannot see.
    let mut partial = false;
    match kwargs.get("attrs").filter(|v| !v.is_none()) {
        None => {}
        Some(attrs) => match starlark::values::dict::DictRef::from_value(*attrs) {
            None => partial = true,
            Some(attrs) => {
                for (name, spec) in attrs.iter() {
                    let Some(name) = name.unpack_str() else {
                        partial = true;
                        continue;
                    };
                    let schema = match AttrSpec::from_value(spec) {
                        Some(spec) => spec.schema.clone(),
                        None => AttrSchema::new(AttrType::Any),
                    };
                    own.push((name.to_owned(), schema));
                }
            }
        },
    }
    // Build settings get the value they default to as an implicit mandatory attribute.
    if kwargs.get("build_setting").is_some_and(|v| !v.is_none()) {
        own.push(("build_setting_default".to_owned(), AttrSchema::new(AttrType::Any)));
    }
    let mut schema = RuleSchema::with_common(class, own);
    schema.open = partial;
    schema.partial = partial;
    if let Some(AttrValue::Dict(outputs)) = kwargs.get("outputs").map(|v| AttrValue::from_value(*v))
    {
        schema.implicit_outputs = outputs
            .iter()
            .filter_map(|(_, template)| template.as_str().map(str::to_owned))
            .collect();
    }
    schema
}

#[starlark_module]
fn bzl_functions(builder: &mut GlobalsBuilder) {
    fn rule<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<RuleValue> {
        let _ = args;
        Ok(RuleValue {
            schema: Arc::new(rule_schema(&kwargs)),
            name: Default::default(),
        })
    }

    /// Bazel 8's symbolic macros: called like rules, with an attribute schema.
    fn r#macro<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<RuleValue> {
        let _ = args;
        Ok(RuleValue {
            schema: Arc::new(rule_schema(&kwargs)),
            name: Default::default(),
        })
    }

    fn repository_rule<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<RuleValue> {
        let _ = args;
        Ok(RuleValue {
            schema: Arc::new(rule_schema(&kwargs)),
            name: Default::default(),
        })
    }

    fn provider<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let _ = args;
        let provider = heap.alloc_simple(ProviderValue {
            name: Default::default(),
        });
        // With `init`, Bazel returns the provider and its raw constructor.
        Ok(match kwargs.get("init") {
            Some(init) if !init.is_none() => {
                heap.alloc((provider, heap.alloc_simple(Opaque::new("raw_constructor"))))
            }
            _ => provider,
        })
    }

    fn aspect<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = (args, kwargs);
        Ok(Opaque::new("aspect"))
    }

    fn module_extension<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = (args, kwargs);
        Ok(Opaque::new("module_extension"))
    }

    fn tag_class<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = (args, kwargs);
        Ok(Opaque::new("tag_class"))
    }

    fn transition<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = kwargs;
        Ok(Opaque::new("transition"))
    }

    fn analysis_test_transition<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = kwargs;
        Ok(Opaque::new("transition"))
    }

    fn exec_group<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = kwargs;
        Ok(Opaque::new("exec_group"))
    }

    fn subrule<'v>(
        #[starlark(kwargs)] kwargs: SmallMap<String, Value<'v>>,
    ) -> starlark::Result<Opaque> {
        let _ = kwargs;
        Ok(Opaque::new("subrule"))
    }

    fn visibility<'v>(#[starlark(require = pos)] value: Value<'v>) -> starlark::Result<NoneType> {
        let _ = value;
        Ok(NoneType)
    }
}
