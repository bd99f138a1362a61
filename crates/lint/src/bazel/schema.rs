//! Attribute schemas: from `rule(attrs = {...})` in real .bzl files, and written out here for
//! Bazel's native rules and for rules of other repositories whose source the linter never sees.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::attr_value::AttrValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrType {
    String,
    Int,
    Bool,
    /// `stamp`-style attributes: -1, 0, 1 or a bool.
    Tristate,
    Label,
    LabelList,
    StringList,
    IntList,
    StringDict,
    StringListDict,
    LabelKeyedStringDict,
    StringKeyedLabelDict,
    Output,
    OutputList,
    /// Anything goes (licenses, attributes of unknown `attr.*` functions).
    Any,
}

impl AttrType {
    /// How the type is named in messages: "a dict of string to string".
    pub fn describe(self) -> &'static str {
        match self {
            AttrType::String => "a string",
            AttrType::Int => "an int",
            AttrType::Bool => "a bool",
            AttrType::Tristate => "an int (-1, 0 or 1) or a bool",
            AttrType::Label => "a label",
            AttrType::LabelList => "a list of labels",
            AttrType::StringList => "a list of strings",
            AttrType::IntList => "a list of ints",
            AttrType::StringDict => "a dict of string to string",
            AttrType::StringListDict => "a dict of string to list of strings",
            AttrType::LabelKeyedStringDict => "a dict of label to string",
            AttrType::StringKeyedLabelDict => "a dict of string to label",
            AttrType::Output => "an output file name",
            AttrType::OutputList => "a list of output file names",
            AttrType::Any => "any value",
        }
    }

    /// Attributes whose values name labels (files or targets).
    pub fn holds_labels(self) -> bool {
        matches!(
            self,
            AttrType::Label
                | AttrType::LabelList
                | AttrType::LabelKeyedStringDict
                | AttrType::StringKeyedLabelDict
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct AttrSchema {
    pub ty: AttrType,
    pub mandatory: bool,
    /// The only values allowed (`attr.string(values = [...])`); empty means any.
    pub values: Vec<AttrValue>,
    /// Labels in this attribute may name source files (`allow_files`, `srcs`, `data`).
    pub allows_files: bool,
}

impl AttrSchema {
    pub fn new(ty: AttrType) -> AttrSchema {
        AttrSchema {
            ty,
            mandatory: false,
            values: Vec::new(),
            allows_files: false,
        }
    }
    fn mandatory(mut self) -> AttrSchema {
        self.mandatory = true;
        self
    }
    fn files(mut self) -> AttrSchema {
        self.allows_files = true;
        self
    }
    fn values(mut self, values: &[&str]) -> AttrSchema {
        self.values = values
            .iter()
            .map(|v| AttrValue::Str((*v).to_owned()))
            .collect();
        self
    }
    fn int_values(mut self, values: &[i64]) -> AttrSchema {
        self.values = values.iter().map(|v| AttrValue::Int(*v)).collect();
        self
    }
}

/// What a rule accepts. `open` rules (native rules the linter does not model) accept any attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleSchema {
    pub attrs: BTreeMap<String, AttrSchema>,
    pub open: bool,
    /// Open because `rule(attrs = ...)` was built from values the linter cannot know.
    pub partial: bool,
    /// `rule(outputs = {...})` templates such as `%{name}.tar`: files every target of the rule
    /// declares.
    pub implicit_outputs: Vec<String>,
}

/// How a rule is invoked decides which implicit attributes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleClass {
    Plain,
    Executable,
    Test,
}

/// Attributes every rule has, whatever its schema says.
fn common_attrs(class: RuleClass) -> Vec<(&'static str, AttrSchema)> {
    use AttrType::*;
    let mut attrs = vec![
        ("name", AttrSchema::new(String).mandatory()),
        ("visibility", AttrSchema::new(Any)),
        ("tags", AttrSchema::new(StringList)),
        ("testonly", AttrSchema::new(Bool)),
        ("deprecation", AttrSchema::new(String)),
        ("features", AttrSchema::new(StringList)),
        ("licenses", AttrSchema::new(Any)),
        ("distribs", AttrSchema::new(Any)),
        ("compatible_with", AttrSchema::new(LabelList)),
        ("restricted_to", AttrSchema::new(LabelList)),
        ("target_compatible_with", AttrSchema::new(LabelList)),
        ("exec_compatible_with", AttrSchema::new(LabelList)),
        ("exec_group_compatible_with", AttrSchema::new(Any)),
        ("exec_properties", AttrSchema::new(StringDict)),
        ("applicable_licenses", AttrSchema::new(LabelList)),
        ("package_metadata", AttrSchema::new(LabelList)),
        ("aspect_hints", AttrSchema::new(LabelList)),
        ("transitive_configs", AttrSchema::new(Any)),
        ("toolchains", AttrSchema::new(LabelList)),
    ];
    if class != RuleClass::Plain {
        attrs.extend([
            ("args", AttrSchema::new(StringList)),
            ("env", AttrSchema::new(StringDict)),
            ("output_licenses", AttrSchema::new(Any)),
        ]);
    }
    if class == RuleClass::Test {
        attrs.extend([
            (
                "size",
                AttrSchema::new(String).values(&["small", "medium", "large", "enormous"]),
            ),
            (
                "timeout",
                AttrSchema::new(String).values(&["short", "moderate", "long", "eternal"]),
            ),
            ("flaky", AttrSchema::new(Bool)),
            ("shard_count", AttrSchema::new(Int)),
            ("local", AttrSchema::new(Bool)),
            ("env_inherit", AttrSchema::new(StringList)),
        ]);
    }
    attrs
}

impl RuleSchema {
    /// A schema with the common attributes plus `own`.
    pub fn with_common(
        class: RuleClass,
        own: impl IntoIterator<Item = (String, AttrSchema)>,
    ) -> RuleSchema {
        let mut attrs: BTreeMap<String, AttrSchema> = common_attrs(class)
            .into_iter()
            .map(|(name, schema)| (name.to_owned(), schema))
            .collect();
        attrs.extend(own);
        RuleSchema {
            attrs,
            open: false,
            partial: false,
            implicit_outputs: Vec::new(),
        }
    }

    pub fn open() -> RuleSchema {
        RuleSchema {
            attrs: common_attrs(RuleClass::Plain)
                .into_iter()
                .map(|(n, s)| (n.to_owned(), s))
                .collect(),
            open: true,
            partial: false,
            implicit_outputs: Vec::new(),
        }
    }

    /// Public attribute names, for suggestions.
    pub fn public_names(&self) -> impl Iterator<Item = &str> {
        self.attrs
            .keys()
            .map(String::as_str)
            .filter(|name| !name.starts_with('_'))
    }
}

fn build(class: RuleClass, own: Vec<(&'static str, AttrSchema)>) -> Arc<RuleSchema> {
    Arc::new(RuleSchema::with_common(
        class,
        own.into_iter()
            .map(|(name, schema)| (name.to_owned(), schema)),
    ))
}

fn py_attrs(class: RuleClass) -> Vec<(&'static str, AttrSchema)> {
    use AttrType::*;
    let mut attrs = vec![
        ("srcs", AttrSchema::new(LabelList).files()),
        ("deps", AttrSchema::new(LabelList)),
        ("data", AttrSchema::new(LabelList).files()),
        ("imports", AttrSchema::new(StringList)),
        (
            "srcs_version",
            AttrSchema::new(String).values(&["PY2", "PY3", "PY2AND3", "PY2ONLY", "PY3ONLY"]),
        ),
        // rules_python's newer attributes; harmless for Bazel's native rules.
        ("pyi_srcs", AttrSchema::new(LabelList).files()),
        ("pyi_deps", AttrSchema::new(LabelList)),
        ("precompile", AttrSchema::new(String)),
        ("precompile_optimize_level", AttrSchema::new(Int)),
        ("precompile_source_retention", AttrSchema::new(String)),
        ("precompile_invalidation_mode", AttrSchema::new(String)),
        ("experimental_venvs_site_packages", AttrSchema::new(Label)),
        ("namespace_package_files", AttrSchema::new(LabelList)),
    ];
    if class != RuleClass::Plain {
        attrs.extend([
            ("main", AttrSchema::new(Label).files()),
            ("main_module", AttrSchema::new(String)),
            // Bazel's native rules take PY2/PY3; rules_python's also take versions ("3.11").
            ("python_version", AttrSchema::new(String)),
            ("stamp", AttrSchema::new(Tristate).int_values(&[-1, 0, 1])),
            ("legacy_create_init", AttrSchema::new(Tristate)),
            ("pyc_collection", AttrSchema::new(String)),
            ("interpreter_args", AttrSchema::new(StringList)),
            ("config_settings", AttrSchema::new(LabelKeyedStringDict)),
            ("bootstrap_impl", AttrSchema::new(String)),
            ("package_collisions", AttrSchema::new(String)),
        ]);
    }
    attrs
}

/// Schemas of Bazel's native rules (and of rules_python's, which mirror them). Rules not listed
/// here are still known, as open schemas.
pub(crate) fn native_schema(kind: &str) -> Option<Arc<RuleSchema>> {
    use AttrType::*;
    Some(match kind {
        "py_binary" => build(RuleClass::Executable, py_attrs(RuleClass::Executable)),
        "py_test" => build(RuleClass::Test, py_attrs(RuleClass::Test)),
        "py_library" => build(RuleClass::Plain, py_attrs(RuleClass::Plain)),
        "filegroup" => build(
            RuleClass::Plain,
            vec![
                ("srcs", AttrSchema::new(LabelList).files()),
                ("data", AttrSchema::new(LabelList).files()),
                ("output_group", AttrSchema::new(String)),
            ],
        ),
        "genrule" => build(
            RuleClass::Plain,
            vec![
                ("srcs", AttrSchema::new(LabelList).files()),
                ("outs", AttrSchema::new(OutputList).mandatory()),
                ("cmd", AttrSchema::new(String)),
                ("cmd_bash", AttrSchema::new(String)),
                ("cmd_bat", AttrSchema::new(String)),
                ("cmd_ps", AttrSchema::new(String)),
                ("tools", AttrSchema::new(LabelList).files()),
                ("exec_tools", AttrSchema::new(LabelList).files()),
                ("executable", AttrSchema::new(Bool)),
                ("local", AttrSchema::new(Bool)),
                ("message", AttrSchema::new(String)),
                ("output_licenses", AttrSchema::new(Any)),
                ("output_to_bindir", AttrSchema::new(Bool)),
                ("stamp", AttrSchema::new(Tristate)),
            ],
        ),
        "sh_binary" | "sh_test" | "sh_library" => {
            let class = match kind {
                "sh_binary" => RuleClass::Executable,
                "sh_test" => RuleClass::Test,
                _ => RuleClass::Plain,
            };
            build(
                class,
                vec![
                    ("srcs", AttrSchema::new(LabelList).files()),
                    ("data", AttrSchema::new(LabelList).files()),
                    ("deps", AttrSchema::new(LabelList)),
                    ("use_bash_launcher", AttrSchema::new(Bool)),
                ],
            )
        }
        "alias" => build(
            RuleClass::Plain,
            vec![("actual", AttrSchema::new(Label).mandatory())],
        ),
        "test_suite" => build(
            RuleClass::Plain,
            vec![("tests", AttrSchema::new(LabelList))],
        ),
        "config_setting" => build(
            RuleClass::Plain,
            vec![
                ("values", AttrSchema::new(StringDict)),
                ("define_values", AttrSchema::new(StringDict)),
                ("flag_values", AttrSchema::new(LabelKeyedStringDict)),
                ("constraint_values", AttrSchema::new(LabelList)),
            ],
        ),
        _ => return None,
    })
}

/// Native rules that exist in Bazel but whose attributes the linter does not check.
pub(crate) const OPEN_NATIVE_RULES: &[&str] = &[
    "cc_binary",
    "cc_import",
    "cc_library",
    "cc_proto_library",
    "cc_shared_library",
    "cc_test",
    "cc_toolchain",
    "cc_toolchain_suite",
    "constraint_setting",
    "constraint_value",
    "environment",
    "fdo_prefetch_hints",
    "fdo_profile",
    "java_binary",
    "java_import",
    "java_library",
    "java_lite_proto_library",
    "java_plugin",
    "java_proto_library",
    "java_runtime",
    "java_test",
    "java_toolchain",
    "objc_import",
    "objc_library",
    "platform",
    "propeller_optimize",
    "proto_lang_toolchain",
    "proto_library",
    "py_runtime",
    "sh_toolchain",
    "starlark_doc_extract",
    "toolchain",
    "toolchain_type",
    "xcode_config",
    "xcode_version",
    "label_flag",
    "label_setting",
    "action_listener",
    "extra_action",
    "android_binary",
    "android_library",
    "aar_import",
    "genquery",
    "py_runtime_pair",
    "cc_host_toolchain_alias",
    "cc_libc_top_alias",
    "java_package_configuration",
    "java_runtime_alias",
];

/// Rules and macros of other repositories that users of these rules commonly load, with the
/// attributes their public entry points accept.
pub(crate) fn external_schema(repo: &str, symbol: &str) -> Option<Arc<RuleSchema>> {
    use AttrType::*;
    match (repo, symbol) {
        ("rules_python", "py_binary" | "py_test" | "py_library") => native_schema(symbol),
        ("rules_oci", "oci_push") => Some(build(
            RuleClass::Executable,
            vec![
                ("image", AttrSchema::new(Label).mandatory()),
                ("repository", AttrSchema::new(String)),
                ("repository_file", AttrSchema::new(Label).files()),
                ("remote_tags", AttrSchema::new(Any)),
                // Accepted so that pushes written like `oci_load` (format = "docker") lint clean.
                ("format", AttrSchema::new(String).values(&["docker", "oci"])),
            ],
        )),
        ("rules_oci", "oci_load") => Some(build(
            RuleClass::Executable,
            vec![
                ("image", AttrSchema::new(Label).mandatory()),
                ("repo_tags", AttrSchema::new(Any)),
                ("format", AttrSchema::new(String).values(&["docker", "oci"])),
                ("loader", AttrSchema::new(Label)),
            ],
        )),
        ("rules_oci", "oci_image") => Some(build(
            RuleClass::Plain,
            vec![
                ("base", AttrSchema::new(Label)),
                ("tars", AttrSchema::new(LabelList).files()),
                ("entrypoint", AttrSchema::new(Any)),
                ("cmd", AttrSchema::new(Any)),
                ("env", AttrSchema::new(Any)),
                ("labels", AttrSchema::new(Any)),
                ("annotations", AttrSchema::new(Any)),
                ("user", AttrSchema::new(String)),
                ("workdir", AttrSchema::new(String)),
                ("exposed_ports", AttrSchema::new(Any)),
                ("volumes", AttrSchema::new(Any)),
                ("os", AttrSchema::new(String)),
                ("architecture", AttrSchema::new(String)),
                ("variant", AttrSchema::new(String)),
                ("created", AttrSchema::new(Any)),
                ("resource_set", AttrSchema::new(String)),
            ],
        )),
        ("rules_oci", "oci_image_index") => Some(build(
            RuleClass::Plain,
            vec![
                ("images", AttrSchema::new(LabelList)),
                ("platforms", AttrSchema::new(LabelList)),
            ],
        )),
        _ => None,
    }
}
