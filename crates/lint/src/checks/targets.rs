//! Targets of a package: duplicate names, labels that name nothing, files that are not there,
//! and images whose `binary` is not a py_binary.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{BuildContext, PackageLookup, IMAGE_KINDS};
use crate::ast_index::ByteSpan;
use crate::glob::Listing;
use crate::attr_value::AttrValue;
use crate::bazel::schema::AttrType;
use crate::codes;
use crate::diagnostic::Finding;
use crate::label::Label;
use crate::record::{Invocation, Origin};
use crate::suggest;

/// What labels into a package can name: its targets and the outputs they declare, the files
/// it exports, its files and directories on disk, and any name that starts with a target made
/// by code the linter cannot see (such macros may define more targets, `name + "_tar"`).
pub(crate) struct PackageNames {
    /// Target name -> the kind of rule that makes it, None when made by code the linter
    /// cannot see.
    targets: BTreeMap<String, Option<String>>,
    generated: BTreeSet<String>,
    exported: BTreeSet<String>,
    files: BTreeSet<String>,
    dirs: BTreeSet<String>,
    opaque_prefixes: Vec<String>,
    /// Code the linter cannot see made targets without saying their names (a name-less call
    /// of another repository's macro such as `npm_link_all_packages()`): any name may exist.
    open: bool,
}

impl PackageNames {
    pub(crate) fn collect(
        invocations: &[Invocation],
        listing: &Listing,
        package: &str,
        main_names: &[&str],
    ) -> PackageNames {
        let mut names = PackageNames {
            targets: BTreeMap::new(),
            generated: BTreeSet::new(),
            exported: BTreeSet::new(),
            files: listing.files.iter().cloned().collect(),
            dirs: listing.dirs.iter().cloned().collect(),
            opaque_prefixes: Vec::new(),
            open: false,
        };
        for invocation in invocations {
            if matches!(invocation.origin, Origin::ExportsFiles) {
                let srcs = invocation.attr("srcs").map(list_strings).unwrap_or_default();
                names.exported.extend(
                    srcs.into_iter()
                        .filter_map(|file| Label::parse(file).ok())
                        .filter(|label| label.is_in_package(package, main_names))
                        .map(|label| label.name),
                );
            }
            names.note_unseen_outputs(invocation);
            if !invocation.creates_target {
                continue;
            }
            let Some(name) = invocation.name() else {
                continue;
            };
            let opaque = matches!(invocation.origin, Origin::Opaque);
            names.targets.entry(name.to_owned()).or_insert_with(|| (!opaque).then(|| invocation.kind.clone()));
            match &invocation.origin {
                Origin::Opaque => names.opaque_prefixes.push(name.to_owned()),
                Origin::Rule(schema) => {
                    names.generated.extend(
                        schema.implicit_outputs.iter().map(|template| template.replace("%{name}", name)),
                    );
                    for (attr, value) in &invocation.attrs {
                        if matches!(
                            schema.attrs.get(attr).map(|a| a.ty),
                            Some(AttrType::Output | AttrType::OutputList)
                        ) {
                            names.generated.extend(value.label_strings().into_iter().map(str::to_owned));
                        }
                    }
                }
                _ => {}
            }
        }
        names
    }

    /// Targets and files made by code the linter cannot see into: calls of unknowns, rules
    /// whose schema is partial, macros that failed. Their outputs are unknown, so every string
    /// they were given may name one (`write_file(out = "x.txt")`), and a name-less or failed
    /// call may have made anything.
    fn note_unseen_outputs(&mut self, invocation: &Invocation) {
        let unseen = match &invocation.origin {
            Origin::Opaque => true,
            Origin::Rule(schema) => schema.open,
            Origin::Macro(_) => invocation.error.is_some(),
            Origin::ExportsFiles => false,
        };
        if !unseen {
            return;
        }
        let name = invocation
            .name()
            .or_else(|| invocation.positional.first().and_then(AttrValue::as_str));
        match name {
            Some(name) => self.opaque_prefixes.push(name.to_owned()),
            None => self.open = true,
        }
        if matches!(invocation.origin, Origin::Macro(_)) {
            self.open = true;
        }
        for value in invocation.attrs.iter().map(|(_, v)| v).chain(&invocation.positional) {
            for text in value.label_strings() {
                let text = text.strip_prefix(':').unwrap_or(text);
                self.generated.insert(text.to_owned());
            }
        }
    }

    fn defines(&self, name: &str) -> bool {
        self.open
            || self.targets.contains_key(name)
            || self.generated.contains(name)
            || self.exported.contains(name)
            || self.files.contains(name)
            || self.dirs.contains(name)
            || self.opaque_prefixes.iter().any(|prefix| name.starts_with(prefix.as_str()))
    }

    fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(String::as_str)
    }

    /// Names worth suggesting for a mistyped target.
    fn candidates(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str).chain(self.files())
    }

}

pub(super) fn check(context: &BuildContext<'_>, findings: &mut Vec<Finding>) {
    // The first invocation of each target name, to report later ones as duplicates.
    let mut first_of: HashMap<&str, &Invocation> = HashMap::new();
    for invocation in context.invocations.iter().filter(|i| i.creates_target) {
        let Some(name) = invocation.name() else {
            continue;
        };
        if let Some(first) = first_of.get(name) {
            if is_seed_style_load(invocation, first) {
                continue;
            }
            let first_line = context.line_of(context.value_span(first, "name"));
            let span = if invocation.direct {
                context.value_span(invocation, "name")
            } else {
                context.call_span(invocation)
            };
            findings.push(Finding::new(
                span,
                codes::DUPLICATE_TARGET,
                format!("target `{name}` is already defined on line {first_line}"),
            ));
            continue;
        }
        first_of.insert(name, invocation);
    }
    if context.aborted {
        return;
    }
    let main_names = main_names(context);
    let listing = (context.listing)();
    for invocation in context
        .invocations
        .iter()
        .filter(|i| matches!(i.origin, Origin::ExportsFiles))
    {
        let Some(srcs) = invocation.attr("srcs") else {
            continue;
        };
        for (index, file) in list_strings(srcs).into_iter().enumerate() {
            let Ok(label) = Label::parse(file) else {
                continue;
            };
            if label.is_in_package(context.package, &main_names)
                && !listing.files.contains(&label.name)
                && !listing.dirs.contains(&label.name)
            {
                let hint = suggest::hint(&label.name, listing.files.iter().map(String::as_str));
                findings.push(Finding::new(
                    context.element_span(invocation, "srcs", index),
                    codes::MISSING_FILE,
                    format!(
                        "exports_files names `{}`, which does not exist in this package{hint}",
                        label.name
                    ),
                ));
            }
        }
    }
    let own = PackageNames::collect(context.invocations, listing, context.package, &main_names);

    for invocation in context.invocations {
        let image = IMAGE_KINDS.contains(&context.user_kind(invocation));
        if image && invocation.direct {
            check_binary(context, invocation, &own, findings);
        }
        let Origin::Rule(schema) = &invocation.origin else {
            continue;
        };
        for (attr, value) in &invocation.attrs {
            let Some(attr_schema) = schema.attrs.get(attr) else {
                continue;
            };
            if !attr_schema.ty.holds_labels() || attr == "visibility" || attr.starts_with('_') {
                continue;
            }
            for (index, text) in label_elements(attr_schema.ty, value) {
                let Ok(label) = Label::parse(text) else {
                    continue;
                };
                if let Some(repo) = label.repo.as_deref().filter(|r| {
                    !r.is_empty()
                        && !main_names.contains(r)
                        && !context.repositories.declares(r)
                }) {
                    let kind = context.user_kind(invocation);
                    findings.push(Finding::new(
                        label_span(context, invocation, attr, index),
                        codes::UNDECLARED_REPOSITORY,
                        context
                            .repositories
                            .undeclared_message(repo, &format!("`{attr}` of `{kind}`")),
                    ));
                    continue;
                }
                if label.name.starts_with("__") {
                    continue;
                }
                // A label a macro wrote itself is its author's business (and often deliberate,
                // in analysis tests that expect a failure); only labels the BUILD file wrote
                // are checked against the targets they name.
                if !invocation.direct && !written_in_call(context, invocation, text) {
                    continue;
                }
                let in_package = label.is_in_package(context.package, &main_names);
                // check_binary says more about an image's own-package binary.
                if in_package && image && attr == "binary" {
                    continue;
                }
                let lookup;
                let (package, names) = if in_package {
                    (context.package, &own)
                } else {
                    let Some(package) = label.main_repo_package(&main_names) else {
                        continue;
                    };
                    lookup = (context.other_package)(package);
                    match &lookup {
                        PackageLookup::Found(names) => (package, names.as_ref()),
                        PackageLookup::Unknown => continue,
                        PackageLookup::Missing => {
                            let span = label_span(context, invocation, attr, index);
                            let kind = context.user_kind(invocation);
                            findings.push(Finding::new(
                                span,
                                codes::UNKNOWN_TARGET,
                                format!("`{attr}` of `{kind}` names `{label}`, but there is no package `//{package}`: `{package}/` has no BUILD or BUILD.bazel file"),
                            ));
                            continue;
                        }
                    }
                };
                let name = label.name.as_str();
                if names.defines(name) {
                    continue;
                }
                let span = label_span(context, invocation, attr, index);
                let kind = context.user_kind(invocation);
                let looks_like_file = name.contains('.') || name.contains('/');
                let shown = if in_package { format!(":{name}") } else { format!("//{package}:{name}") };
                if attr_schema.allows_files && looks_like_file {
                    let hint = suggest::hint(name, names.files());
                    findings.push(Finding::new(
                        span,
                        codes::MISSING_FILE,
                        format!("`{attr}` of `{kind}` names the file `{name}`, which does not exist in package `//{package}`{hint}"),
                    ));
                } else {
                    let hint = suggest::hint(name, names.candidates());
                    findings.push(Finding::new(
                        span,
                        codes::UNKNOWN_TARGET,
                        format!("`{attr}` of `{kind}` names `{shown}`, which package `//{package}` does not define{hint}"),
                    ));
                }
            }
        }
    }
}

/// Whether the BUILD file's text of the call `invocation` happened under has `label` as a
/// string literal.
fn written_in_call(context: &BuildContext<'_>, invocation: &Invocation, label: &str) -> bool {
    let Some((start, end)) = invocation.call else {
        return false;
    };
    let Some(call) = context.lines.text().get(start as usize..end as usize) else {
        return false;
    };
    call.contains(&format!("\"{label}\"")) || call.contains(&format!("'{label}'"))
}

/// Where to point for the `index`th label of `attr`: the element when the BUILD file wrote
/// the list, else the whole value.
fn label_span(context: &BuildContext<'_>, invocation: &Invocation, attr: &str, index: Option<usize>) -> ByteSpan {
    match index {
        Some(index) if invocation.direct => context.element_span(invocation, attr, index),
        _ => context.value_span(invocation, attr),
    }
}

/// The seed document writes `oci_push(name = "<image>_load", repository = R, format = "docker")`
/// (loaded from rules_oci) for the loader py_image already creates; rules_pyoci's own oci_push
/// keeps that existing `oci_load` when it loads the same `R:<tag>`, and so does the linter.
fn is_seed_style_load(later: &Invocation, first: &Invocation) -> bool {
    let Some(AttrValue::Str(repository)) = later.attr("repository") else {
        return false;
    };
    if later.kind != "oci_push"
        || later.attr("format").and_then(AttrValue::as_str) != Some("docker")
        || first.kind != "oci_load"
    {
        return false;
    }
    let first_tags = first
        .attr("repo_tags")
        .map(|t| t.label_strings())
        .unwrap_or_default();
    let remote_tags = later
        .attr("remote_tags")
        .map(|t| t.label_strings())
        .unwrap_or_default();
    let tags = if remote_tags.is_empty() {
        vec!["latest"]
    } else {
        remote_tags
    };
    tags.iter()
        .all(|tag| first_tags.contains(&format!("{repository}:{tag}").as_str()))
}

fn main_names<'a>(context: &BuildContext<'a>) -> Vec<&'a str> {
    context.main_names.iter().map(String::as_str).collect()
}

fn list_strings(value: &AttrValue) -> Vec<&str> {
    match value {
        AttrValue::List(items) => items.iter().filter_map(AttrValue::as_str).collect(),
        other => other.label_strings(),
    }
}

/// Label strings in a value, with their list index when the value is a plain list. Only the
/// label side of a label-keyed or label-valued dict names targets (`config_setting`'s
/// `flag_values = {":flag": "true"}`).
fn label_elements(ty: AttrType, value: &AttrValue) -> Vec<(Option<usize>, &str)> {
    let dict_side = |keys: bool| {
        value
            .alternatives()
            .into_iter()
            .filter_map(|alternative| match alternative {
                AttrValue::Dict(entries) => Some(entries),
                _ => None,
            })
            .flatten()
            .flat_map(|(key, entry)| if keys { key.label_strings() } else { entry.label_strings() })
            .map(|s| (None, s))
            .collect()
    };
    match ty {
        AttrType::LabelKeyedStringDict => return dict_side(true),
        AttrType::StringKeyedLabelDict => return dict_side(false),
        _ => {}
    }
    match value {
        AttrValue::Str(s) | AttrValue::Label(s) => vec![(None, s.as_str())],
        AttrValue::List(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item {
                AttrValue::Str(s) | AttrValue::Label(s) => Some((Some(index), s.as_str())),
                _ => None,
            })
            .collect(),
        other => other
            .label_strings()
            .into_iter()
            .map(|s| (None, s))
            .collect(),
    }
}

fn check_binary(context: &BuildContext<'_>, invocation: &Invocation, own: &PackageNames, findings: &mut Vec<Finding>) {
    let Some(AttrValue::Str(text)) = invocation.attr("binary") else {
        return;
    };
    let Ok(label) = Label::parse(text) else {
        return;
    };
    let main_names = main_names(context);
    let in_package = label.is_in_package(context.package, &main_names);
    let lookup;
    let (shown, names) = if in_package {
        (format!(":{}", label.name), own)
    } else {
        let Some(package) = label.main_repo_package(&main_names) else {
            return;
        };
        lookup = (context.other_package)(package);
        let PackageLookup::Found(names) = &lookup else {
            return;
        };
        (format!("//{package}:{}", label.name), names.as_ref())
    };
    let kind = &invocation.kind;
    let span = context.value_span(invocation, "binary");
    match names.targets.get(&label.name) {
        // A missing target in another package is a PYO032 of the label check.
        None if in_package => {
            let binaries = names
                .targets
                .iter()
                .filter(|(_, rule)| rule.as_deref() == Some("py_binary"))
                .map(|(name, _)| name.as_str());
            let hint = suggest::hint(&label.name, binaries);
            findings.push(Finding::new(
                span,
                codes::BINARY_NOT_PY_BINARY,
                format!("`binary` of `{kind}` names `{shown}`, which is not a target in this package{hint}"),
            ));
        }
        Some(Some(target_kind)) if target_kind != "py_binary" => {
            findings.push(Finding::new(
                span,
                codes::BINARY_NOT_PY_BINARY,
                format!("`binary` of `{kind}` must name a py_binary; `{shown}` is a {target_kind}"),
            ));
        }
        _ => {}
    }
}
