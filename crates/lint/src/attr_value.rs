//! Attribute values copied out of the Starlark heap into plain Rust data, so that what a BUILD
//! file passed to a rule can be checked after evaluation has finished.

use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{Heap, UnpackValue, Value};

use crate::bazel::values::{LabelValue, SelectValue};

/// Values nested deeper than this are not looked into (checks treat them as unknown).
const MAX_DEPTH: usize = 32;
/// Longer lists and dicts are truncated: nothing checks more elements than this.
const MAX_ELEMENTS: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrValue {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    /// A `Label(...)` object, as its string form.
    Label(String),
    /// Lists and tuples.
    List(Vec<AttrValue>),
    Dict(Vec<(AttrValue, AttrValue)>),
    /// A `select()`, or a concatenation involving one: each alternative must be valid.
    Configurable(Vec<AttrValue>),
    /// A value the linter cannot see into (a struct, a function, a stub from another repository).
    Unknown(String),
}

impl AttrValue {
    pub fn from_value(value: Value<'_>) -> AttrValue {
        convert(value, 0)
    }

    /// Back into a Starlark value (for `native.existing_rule()`); opaque parts become None.
    pub fn to_value<'v>(&self, heap: Heap<'v>) -> Value<'v> {
        match self {
            AttrValue::None | AttrValue::Unknown(_) | AttrValue::Configurable(_) => {
                Value::new_none()
            }
            AttrValue::Bool(b) => Value::new_bool(*b),
            AttrValue::Int(i) => heap.alloc(*i),
            AttrValue::Str(s) | AttrValue::Label(s) => heap.alloc(s.as_str()),
            AttrValue::List(items) => heap.alloc(
                items
                    .iter()
                    .map(|item| item.to_value(heap))
                    .collect::<Vec<_>>(),
            ),
            AttrValue::Dict(entries) => heap.alloc(AllocDict(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_value(heap), v.to_value(heap))),
            )),
        }
    }

    /// "a string", "a list", ... for messages.
    pub fn describe(&self) -> String {
        match self {
            AttrValue::None => "None".to_owned(),
            AttrValue::Bool(_) => "a bool".to_owned(),
            AttrValue::Int(_) => "an int".to_owned(),
            AttrValue::Str(_) => "a string".to_owned(),
            AttrValue::Label(_) => "a Label".to_owned(),
            AttrValue::List(_) => "a list".to_owned(),
            AttrValue::Dict(_) => "a dict".to_owned(),
            AttrValue::Configurable(_) => "a select()".to_owned(),
            AttrValue::Unknown(ty) => format!("a {ty}"),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Starlark-like rendering for messages: `"gzip"`, `-1`, `True`.
    pub fn render(&self) -> String {
        match self {
            AttrValue::None => "None".to_owned(),
            AttrValue::Bool(true) => "True".to_owned(),
            AttrValue::Bool(false) => "False".to_owned(),
            AttrValue::Int(i) => i.to_string(),
            AttrValue::Str(s) | AttrValue::Label(s) => format!("{s:?}"),
            other => other.describe(),
        }
    }

    /// The alternatives a value may take: itself, or each branch of a `select()`.
    pub fn alternatives(&self) -> Vec<&AttrValue> {
        match self {
            AttrValue::Configurable(parts) => {
                parts.iter().flat_map(AttrValue::alternatives).collect()
            }
            other => vec![other],
        }
    }

    /// `(key, value)` pairs of a dict value, across `select()` branches.
    pub fn dict_entries(&self) -> Vec<(&str, &AttrValue)> {
        self.alternatives()
            .into_iter()
            .filter_map(|alternative| match alternative {
                AttrValue::Dict(entries) => Some(entries),
                _ => None,
            })
            .flatten()
            .filter_map(|(key, value)| key.as_str().map(|key| (key, value)))
            .collect()
    }

    /// Every string or Label inside the value (list elements, dict keys and values, branches).
    pub fn label_strings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        collect_strings(self, &mut out);
        out
    }
}

fn collect_strings<'a>(value: &'a AttrValue, out: &mut Vec<&'a str>) {
    match value {
        AttrValue::Str(s) | AttrValue::Label(s) => out.push(s),
        AttrValue::List(items) | AttrValue::Configurable(items) => {
            items.iter().for_each(|item| collect_strings(item, out))
        }
        AttrValue::Dict(entries) => entries.iter().for_each(|(k, v)| {
            collect_strings(k, out);
            collect_strings(v, out);
        }),
        AttrValue::None | AttrValue::Bool(_) | AttrValue::Int(_) | AttrValue::Unknown(_) => {}
    }
}

fn convert(value: Value<'_>, depth: usize) -> AttrValue {
    if value.is_none() {
        return AttrValue::None;
    }
    if let Some(b) = value.unpack_bool() {
        return AttrValue::Bool(b);
    }
    if let Some(s) = value.unpack_str() {
        if s.contains(crate::bazel::values::UNKNOWN_OPEN) {
            return AttrValue::Unknown("string built from an unknown".to_owned());
        }
        return AttrValue::Str(s.to_owned());
    }
    if value.get_type() == "int" {
        return match i64::unpack_value(value) {
            Ok(Some(i)) => AttrValue::Int(i),
            _ => AttrValue::Unknown("big int".to_owned()),
        };
    }
    if let Some(label) = LabelValue::from_value(value) {
        return AttrValue::Label(label.text.clone());
    }
    if let Some(select) = SelectValue::from_value(value) {
        return AttrValue::Configurable(select.parts.clone());
    }
    if depth >= MAX_DEPTH {
        return AttrValue::Unknown(value.get_type().to_owned());
    }
    if let Some(list) = ListRef::from_value(value) {
        return AttrValue::List(
            list.content()
                .iter()
                .take(MAX_ELEMENTS)
                .map(|v| convert(*v, depth + 1))
                .collect(),
        );
    }
    if let Some(tuple) = TupleRef::from_value(value) {
        return AttrValue::List(
            tuple
                .content()
                .iter()
                .take(MAX_ELEMENTS)
                .map(|v| convert(*v, depth + 1))
                .collect(),
        );
    }
    if let Some(dict) = DictRef::from_value(value) {
        return AttrValue::Dict(
            dict.iter()
                .take(MAX_ELEMENTS)
                .map(|(k, v)| (convert(k, depth + 1), convert(v, depth + 1)))
                .collect(),
        );
    }
    AttrValue::Unknown(value.get_type().to_owned())
}
