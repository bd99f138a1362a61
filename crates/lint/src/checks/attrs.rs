//! Attribute names, types, mandatory attributes and allowed values, against the schema of the
//! rule (or the parameters of the macro) that was called.

use super::BuildContext;
use crate::attr_value::AttrValue;
use crate::bazel::schema::{AttrSchema, AttrType, RuleSchema};
use crate::codes;
use crate::diagnostic::Finding;
use crate::label::Label;
use crate::record::{Invocation, Origin, Signature};
use crate::suggest;

pub(super) fn check(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    findings: &mut Vec<Finding>,
) {
    match &invocation.origin {
        Origin::Macro(signature) => check_macro(context, invocation, signature.as_ref(), findings),
        Origin::Rule(schema) => check_rule(context, invocation, schema, findings),
        Origin::ExportsFiles | Origin::Opaque => {}
    }
}

fn check_macro(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    signature: Option<&Signature>,
    findings: &mut Vec<Finding>,
) {
    let kind = &invocation.kind;
    if let Some(error) = invocation
        .error
        .as_ref()
        .filter(|e| !crate::eval::is_unknown_error(e))
    {
        let code = if crate::eval::is_limit_error(error) {
            codes::LIMIT_EXCEEDED
        } else {
            codes::EVALUATION_ERROR
        };
        findings.push(Finding::new(
            context.call_span(invocation),
            code,
            format!("`{kind}` failed: {error}"),
        ));
    }
    let Some(signature) = signature else { return };
    for (name, _) in &invocation.attrs {
        if !signature.accepts(name) {
            let hint = suggest::hint(
                name,
                signature
                    .params
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .filter(|p| !p.starts_with('_')),
            );
            findings.push(Finding::new(
                context.name_span(invocation, name),
                codes::UNKNOWN_ATTRIBUTE,
                format!("`{kind}` has no attribute `{name}`{hint}"),
            ));
        }
    }
    for (index, (param, has_default)) in signature.params.iter().enumerate() {
        let given = index < invocation.positional.len() || invocation.attr(param).is_some();
        if !has_default && !given {
            findings.push(Finding::new(
                context.call_span(invocation),
                codes::MISSING_MANDATORY_ATTRIBUTE,
                format!("`{kind}` is missing the mandatory attribute `{param}`"),
            ));
        }
    }
}

fn check_rule(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    schema: &RuleSchema,
    findings: &mut Vec<Finding>,
) {
    let kind = context.user_kind(invocation);
    for (name, value) in &invocation.attrs {
        let attr = schema.attrs.get(name).filter(|_| !name.starts_with('_'));
        let Some(attr) = attr else {
            if !schema.open {
                let hint = suggest::hint(name, schema.public_names());
                findings.push(Finding::new(
                    context.name_span(invocation, name),
                    codes::UNKNOWN_ATTRIBUTE,
                    format!("`{kind}` has no attribute `{name}`{hint}"),
                ));
            }
            continue;
        };
        if let Some(problem) = type_problem(attr.ty, value) {
            let span = match problem.element {
                Some(index) => context.element_span(invocation, name, index),
                None => context.value_span(invocation, name),
            };
            findings.push(Finding::new(
                span,
                codes::WRONG_ATTRIBUTE_TYPE,
                format!(
                    "`{name}` of `{kind}` must be {}; {}",
                    attr.ty.describe(),
                    problem.what
                ),
            ));
            continue;
        }
        if name == "name" {
            if let AttrValue::Str(target) = value {
                if let Some(problem) = target_name_problem(target) {
                    findings.push(Finding::new(
                        context.value_span(invocation, name),
                        codes::WRONG_ATTRIBUTE_TYPE,
                        format!(
                            "`name` of `{kind}` must be a valid target name; {target:?} {problem}"
                        ),
                    ));
                }
            }
        }
        check_allowed_values(context, invocation, kind, name, attr, value, findings);
        if name == "python_version" && matches!(kind, "py_binary" | "py_test") {
            check_python_version(context, invocation, kind, value, findings);
        }
    }
    for (name, attr) in &schema.attrs {
        if attr.mandatory && invocation.attr(name).is_none_or(|v| *v == AttrValue::None) {
            findings.push(Finding::new(
                context.call_span(invocation),
                codes::MISSING_MANDATORY_ATTRIBUTE,
                format!("`{kind}` is missing the mandatory attribute `{name}`"),
            ));
        }
    }
}

fn check_allowed_values(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    kind: &str,
    name: &str,
    attr: &AttrSchema,
    value: &AttrValue,
    findings: &mut Vec<Finding>,
) {
    if attr.values.is_empty() {
        return;
    }
    for alternative in value.alternatives() {
        if matches!(alternative, AttrValue::None | AttrValue::Unknown(_))
            || attr.values.contains(alternative)
        {
            continue;
        }
        // Bazel compares bools as ints for int attributes.
        if let AttrValue::Bool(b) = alternative {
            if attr.values.contains(&AttrValue::Int(i64::from(*b))) {
                continue;
            }
        }
        let allowed: Vec<String> = attr.values.iter().map(AttrValue::render).collect();
        let hint = match alternative {
            AttrValue::Str(s) => suggest::hint(s, attr.values.iter().filter_map(AttrValue::as_str)),
            _ => String::new(),
        };
        findings.push(Finding::new(
            context.value_span(invocation, name),
            codes::ATTRIBUTE_VALUE_NOT_ALLOWED,
            format!(
                "`{name}` of `{kind}` must be one of {}; got {}{hint}",
                allowed.join(", "),
                alternative.render()
            ),
        ));
    }
}

/// Bazel's native rules take `PY2`/`PY3`, rules_python's also a version such as `3.11`.
fn check_python_version(
    context: &BuildContext<'_>,
    invocation: &Invocation,
    kind: &str,
    value: &AttrValue,
    findings: &mut Vec<Finding>,
) {
    for version in value.alternatives().into_iter().filter_map(AttrValue::as_str) {
        let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = version.split('.').collect();
        let is_version = (2..=3).contains(&parts.len()) && parts.iter().all(|p| numeric(p));
        if matches!(version, "PY2" | "PY3") || is_version {
            continue;
        }
        let hint = suggest::hint(version, ["PY2", "PY3"]);
        findings.push(Finding::new(
            context.value_span(invocation, "python_version"),
            codes::ATTRIBUTE_VALUE_NOT_ALLOWED,
            format!(
                "`python_version` of `{kind}` must be \"PY2\", \"PY3\" or a Python version such as \"3.11\"; got {version:?}{hint}"
            ),
        ));
    }
}

/// Target names Bazel rejects whatever its version: control characters, `:`, and empty, `.` or
/// `..` path segments.
fn target_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_owned());
    }
    if let Some(bad) = name.chars().find(|c| c.is_control() || *c == ':') {
        return Some(format!("contains {bad:?}"));
    }
    if name
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Some("has an empty, `.` or `..` path segment".to_owned());
    }
    None
}

pub(super) struct TypeProblem {
    pub what: String,
    /// The list element at fault.
    pub element: Option<usize>,
}

fn problem(what: String) -> Option<TypeProblem> {
    Some(TypeProblem {
        what,
        element: None,
    })
}

fn label_problem(value: &AttrValue) -> Option<String> {
    match value {
        AttrValue::Label(_) | AttrValue::Unknown(_) => None,
        AttrValue::Str(text) => Label::parse(text)
            .err()
            .map(|e| format!("{text:?} is not a label ({e})")),
        other => Some(format!("got {}", other.describe())),
    }
}

fn scalar_problem(ty: AttrType, value: &AttrValue) -> Option<String> {
    match (ty, value) {
        (_, AttrValue::Unknown(_)) | (AttrType::Any, _) => None,
        (AttrType::String | AttrType::Output, AttrValue::Str(_)) => None,
        (AttrType::Int, AttrValue::Int(_)) => None,
        (AttrType::Bool, AttrValue::Bool(_)) | (AttrType::Bool, AttrValue::Int(0 | 1)) => None,
        (AttrType::Tristate, AttrValue::Bool(_)) | (AttrType::Tristate, AttrValue::Int(-1..=1)) => {
            None
        }
        (AttrType::Label, value) => label_problem(value),
        (_, other) => Some(format!("got {}", other.describe())),
    }
}

/// What is wrong with `value` for an attribute of type `ty`, if anything.
pub(super) fn type_problem(ty: AttrType, value: &AttrValue) -> Option<TypeProblem> {
    for alternative in value.alternatives() {
        if let Some(found) = single_type_problem(ty, alternative) {
            return Some(found);
        }
    }
    None
}

fn single_type_problem(ty: AttrType, value: &AttrValue) -> Option<TypeProblem> {
    if matches!(value, AttrValue::None | AttrValue::Unknown(_)) || ty == AttrType::Any {
        return None;
    }
    let element_type = match ty {
        AttrType::LabelList => Some(AttrType::Label),
        AttrType::StringList => Some(AttrType::String),
        AttrType::OutputList => Some(AttrType::Output),
        AttrType::IntList => Some(AttrType::Int),
        _ => None,
    };
    if let Some(element_type) = element_type {
        let AttrValue::List(items) = value else {
            return problem(format!("got {}", value.describe()));
        };
        return items.iter().enumerate().find_map(|(index, item)| {
            scalar_problem(element_type, item).map(|what| TypeProblem {
                what: format!("element {} {}", index + 1, what.replace("got ", "is ")),
                element: Some(index),
            })
        });
    }
    let entry_types = match ty {
        AttrType::StringDict => Some((AttrType::String, AttrType::String)),
        AttrType::StringListDict => Some((AttrType::String, AttrType::StringList)),
        AttrType::LabelKeyedStringDict => Some((AttrType::Label, AttrType::String)),
        AttrType::StringKeyedLabelDict => Some((AttrType::String, AttrType::Label)),
        _ => None,
    };
    if let Some((key_type, value_type)) = entry_types {
        let AttrValue::Dict(entries) = value else {
            return problem(format!("got {}", value.describe()));
        };
        for (key, entry) in entries {
            if let Some(what) = scalar_problem(key_type, key) {
                return problem(format!(
                    "key {} {}",
                    key.render(),
                    what.replace("got ", "is ")
                ));
            }
            let entry_problem = if value_type == AttrType::StringList {
                single_type_problem(value_type, entry).map(|p| p.what)
            } else {
                scalar_problem(value_type, entry)
            };
            if let Some(what) = entry_problem {
                return problem(format!(
                    "the value of {} {}",
                    key.render(),
                    what.replace("got ", "is ")
                ));
            }
        }
        return None;
    }
    scalar_problem(ty, value).map(|what| TypeProblem {
        what,
        element: None,
    })
}
