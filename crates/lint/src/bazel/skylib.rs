//! bazel_skylib's helper libraries, written here from their documented behaviour, so that macros
//! using them run offline: `@bazel_skylib//lib:dicts.bzl` and friends are evaluated from this
//! text instead of being stand-ins. A value the linter does not know stays unknown through them
//! (`dicts.add(unknown, {...})` is unknown), which is what turns dependent checks off.

/// The Starlark text of a skylib file, by package and file name.
pub(crate) fn get(package: &str, name: &str) -> Option<&'static str> {
    match (package, name) {
        ("lib", "dicts.bzl") => Some(DICTS),
        ("lib", "types.bzl") => Some(TYPES),
        ("lib", "paths.bzl") => Some(PATHS),
        ("lib", "selects.bzl") => Some(SELECTS),
        ("lib", "collections.bzl") => Some(COLLECTIONS),
        ("lib", "sets.bzl") => Some(SETS),
        ("lib", "new_sets.bzl") => Some(SETS),
        ("lib", "structs.bzl") => Some(STRUCTS),
        ("lib", "shell.bzl") => Some(SHELL),
        _ => None,
    }
}

/// Repository names skylib goes by.
pub(crate) fn is_skylib(repo: &str) -> bool {
    matches!(repo, "bazel_skylib" | "bazel-skylib")
}

const DICTS: &str = r#"
def _add(*dictionaries, **kwargs):
    merged = {}
    for dictionary in list(dictionaries) + [kwargs]:
        if type(dictionary) != "dict":
            return __pyoci_unknown("dicts.add()")
        merged.update(dictionary)
    return merged

def _omit(dictionary, keys):
    if type(dictionary) != "dict":
        return __pyoci_unknown("dicts.omit()")
    return {key: value for key, value in dictionary.items() if key not in keys}

def _pick(dictionary, keys):
    if type(dictionary) != "dict":
        return __pyoci_unknown("dicts.pick()")
    return {key: dictionary[key] for key in keys if key in dictionary}

dicts = struct(add = _add, omit = _omit, pick = _pick)
"#;

const TYPES: &str = r#"
def _is_list(v):
    return type(v) == "list"

def _is_string(v):
    return type(v) == "string"

def _is_bool(v):
    return type(v) == "bool"

def _is_none(v):
    return v == None

def _is_int(v):
    return type(v) == "int"

def _is_float(v):
    return type(v) == "float"

def _is_tuple(v):
    return type(v) == "tuple"

def _is_dict(v):
    return type(v) == "dict"

def _is_function(v):
    return type(v) in ("function", "builtin_function_or_method")

def _is_depset(v):
    return type(v) == "depset"

def _is_set(v):
    return type(v) == "set" or (type(v) == "struct" and hasattr(v, "_values"))

types = struct(
    is_list = _is_list,
    is_string = _is_string,
    is_bool = _is_bool,
    is_none = _is_none,
    is_int = _is_int,
    is_float = _is_float,
    is_tuple = _is_tuple,
    is_dict = _is_dict,
    is_function = _is_function,
    is_depset = _is_depset,
    is_set = _is_set,
)
"#;

const PATHS: &str = r#"
def _basename(p):
    return p.rpartition("/")[-1]

def _dirname(p):
    prefix, sep, _ = p.rpartition("/")
    if not prefix:
        return sep
    return prefix.rstrip("/")

def _is_absolute(path):
    return path.startswith("/") or (len(path) > 2 and path[1] == ":")

def _join(path, *others):
    result = path
    for p in others:
        if _is_absolute(p):
            result = p
        elif not result or result.endswith("/"):
            result += p
        else:
            result += "/" + p
    return result

def _normalize(path):
    if not path:
        return "."
    leading = "/" if path.startswith("/") else ""
    parts = []
    for piece in path.split("/"):
        if piece in ("", "."):
            continue
        if piece == "..":
            if parts and parts[-1] != "..":
                parts.pop()
                continue
            if leading:
                continue
        parts.append(piece)
    return (leading + "/".join(parts)) or "."

def _is_normalized(path, look_for_same_level_references = True):
    for piece in path.split("/"):
        if piece == "..":
            return False
        if look_for_same_level_references and piece == ".":
            return False
    return True

def _relativize(path, start):
    segments = _normalize(path).split("/")
    start_segments = _normalize(start).split("/")
    if start_segments == ["."]:
        start_segments = []
    if len(start_segments) > len(segments) or segments[:len(start_segments)] != start_segments:
        fail("Path '%s' is not beneath '%s'" % (path, start))
    return "/".join(segments[len(start_segments):])

def _split_extension(p):
    b = _basename(p)
    last_dot = b.rfind(".")
    if last_dot <= 0:
        return (p, "")
    dot_distance_from_end = len(b) - last_dot
    return (p[:len(p) - dot_distance_from_end], p[len(p) - dot_distance_from_end:])

def _replace_extension(p, new_extension):
    return _split_extension(p)[0] + new_extension

def _starts_with(path_a, path_b):
    a = _normalize(path_a)
    b = _normalize(path_b)
    return a == b or a.startswith(b.rstrip("/") + "/") or b == "."

paths = struct(
    basename = _basename,
    dirname = _dirname,
    is_absolute = _is_absolute,
    join = _join,
    normalize = _normalize,
    is_normalized = _is_normalized,
    relativize = _relativize,
    replace_extension = _replace_extension,
    split_extension = _split_extension,
    starts_with = _starts_with,
)
"#;

const SELECTS: &str = r#"
def _with_or_dict(input_dict):
    output = {}
    for key, value in input_dict.items():
        if type(key) == "tuple":
            for config in key:
                output[config] = value
        else:
            output[key] = value
    return output

def _with_or(input_dict, no_match_error = ""):
    return select(_with_or_dict(input_dict), no_match_error = no_match_error)

def _config_setting_group(name, match_any = [], match_all = [], visibility = None):
    native.alias(name = name, actual = (match_any + match_all + ["//conditions:default"])[0], visibility = visibility)

selects = struct(
    with_or = _with_or,
    with_or_dict = _with_or_dict,
    config_setting_group = _config_setting_group,
)
"#;

const COLLECTIONS: &str = r#"
def _after_each(separator, iterable):
    result = []
    for x in iterable:
        result.append(x)
        result.append(separator)
    return result

def _before_each(separator, iterable):
    result = []
    for x in iterable:
        result.append(separator)
        result.append(x)
    return result

def _uniq(iterable):
    seen = {}
    for x in iterable:
        seen[x] = None
    return list(seen.keys())

collections = struct(after_each = _after_each, before_each = _before_each, uniq = _uniq)
"#;

const SETS: &str = r#"
def _make(elements = None):
    return struct(_values = {e: None for e in (elements or [])})

def _copy(s):
    return struct(_values = dict(s._values))

def _to_list(s):
    return list(s._values.keys())

def _insert(s, e):
    s._values[e] = None
    return s

def _remove(s, e):
    s._values.pop(e, None)
    return s

def _contains(a, e):
    return e in a._values

def _length(s):
    return len(s._values)

def _is_equal(a, b):
    return sorted([repr(k) for k in a._values]) == sorted([repr(k) for k in b._values])

def _is_subset(a, b):
    return all([e in b._values for e in a._values])

def _disjoint(a, b):
    return not any([e in b._values for e in a._values])

def _intersection(a, b):
    return struct(_values = {e: None for e in a._values if e in b._values})

def _union(*args):
    values = {}
    for s in args:
        values.update(s._values)
    return struct(_values = values)

def _difference(a, b):
    return struct(_values = {e: None for e in a._values if e not in b._values})

def _repr(s):
    return repr(list(s._values.keys()))

sets = struct(
    make = _make,
    copy = _copy,
    to_list = _to_list,
    insert = _insert,
    remove = _remove,
    contains = _contains,
    length = _length,
    is_equal = _is_equal,
    is_subset = _is_subset,
    disjoint = _disjoint,
    intersection = _intersection,
    union = _union,
    difference = _difference,
    repr = _repr,
    str = _repr,
)
"#;

const STRUCTS: &str = r#"
def _to_dict(s):
    if type(s) != "struct":
        return __pyoci_unknown("structs.to_dict()")
    return {key: getattr(s, key) for key in dir(s) if key not in ("to_json", "to_proto")}

structs = struct(to_dict = _to_dict)
"#;

const SHELL: &str = r#"
def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"

def _array_literal(iterable):
    return "(" + " ".join([_quote(str(i)) for i in iterable]) + ")"

shell = struct(array_literal = _array_literal, quote = _quote)
"#;
