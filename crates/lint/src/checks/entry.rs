//! What a user of the seed workflow hits before Bazel would tell them: a py_binary whose entry
//! point Bazel cannot find, and two images loading the same tag into the engine.

use super::{BuildContext, IMAGE_KINDS};
use crate::ast_index::ByteSpan;
use crate::attr_value::AttrValue;
use crate::codes;
use crate::diagnostic::{Finding, LineIndex};
use crate::label::Label;
use crate::record::{Invocation, Origin};

/// PYO025: without `main`, Bazel looks for `<name>.py` among `srcs` and fails analysis when it
/// is not there. Silent when a source is a target (it may generate that file) or unknown.
pub(super) fn check_main(context: &BuildContext<'_>, invocation: &Invocation, findings: &mut Vec<Finding>) {
    if !matches!(invocation.kind.as_str(), "py_binary" | "py_test")
        || !matches!(invocation.origin, Origin::Rule(_))
    {
        return;
    }
    let given = |attr: &str| invocation.attr(attr).is_some_and(|v| *v != AttrValue::None);
    if given("main") || given("main_module") {
        return;
    }
    let Some(name) = invocation.name() else { return };
    let Some(AttrValue::List(srcs)) = invocation.attr("srcs") else {
        return;
    };
    let mut files = Vec::new();
    for src in srcs {
        let AttrValue::Str(text) = src else { return };
        let Ok(label) = Label::parse(text) else { return };
        if !label.name.ends_with(".py") {
            return;
        }
        files.push(label.name);
    }
    let default = format!("{}.py", name.rsplit('/').next().unwrap_or(name));
    if files.is_empty()
        || files
            .iter()
            .any(|file| *file == default || file.ends_with(&format!("/{default}")))
    {
        return;
    }
    let advice = match files.as_slice() {
        [only] => format!("add `main = \"{only}\"`"),
        _ => "set `main` to the file that starts it".to_owned(),
    };
    findings.push(Finding::new(
        context.call_span(invocation),
        codes::MISSING_MAIN,
        format!(
            "`{}` `{name}` has no `main` and no source named `{default}`: Bazel fails its analysis; {advice}",
            invocation.kind
        ),
    ));
}

/// One image target and the tag its `<name>_load` loads.
pub(crate) struct ImageTag {
    pub tag: String,
    pub label: String,
    pub span: ByteSpan,
}

/// The first image seen loading a tag: its label and `path:line`.
pub(crate) struct ImageTagOwner {
    label: String,
    location: String,
}

impl ImageTagOwner {
    pub fn new(image: &ImageTag, path: &str, lines: &LineIndex<'_>) -> ImageTagOwner {
        ImageTagOwner {
            label: image.label.clone(),
            location: format!("{path}:{}", lines.position(image.span.0).0 + 1),
        }
    }
}

/// `localhost/<package>/<binary>:latest` (`localhost/<binary>:latest` in the root package),
/// lower case, characters a repository may not hold replaced by `-`: the tag py_image and
/// py_service_image load when `repo_tags` is not given.
pub(crate) fn default_tag(package: &str, binary: &str) -> String {
    default_tag_named(package, binary, "latest")
}

/// [`default_tag`] with another tag than `latest`: what the second and later images of one
/// binary in one package load under (their target name, characters a tag cannot hold as `-`).
pub(crate) fn default_tag_named(package: &str, binary: &str, tag: &str) -> String {
    let path = if package.is_empty() {
        binary.to_owned()
    } else {
        format!("{package}/{binary}")
    };
    let repository: String = path
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' | '/' => c,
            _ => '-',
        })
        .collect();
    let tag: String = tag
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect();
    let tag = tag.trim_start_matches(['.', '-']);
    let tag = if tag.is_empty() { "image" } else { tag };
    format!("localhost/{repository}:{}", tag.chars().take(128).collect::<String>())
}

/// The tags the images this BUILD file calls directly would load.
pub(crate) fn image_tags(context: &BuildContext<'_>) -> Vec<ImageTag> {
    let mut tags = Vec::new();
    for invocation in context.invocations {
        if !invocation.direct || !IMAGE_KINDS.contains(&invocation.kind.as_str()) {
            continue;
        }
        if !matches!(invocation.origin, Origin::Macro(_)) || invocation.error.is_some() {
            continue;
        }
        let Some(name) = invocation.name() else { continue };
        let label = format!("//{}:{name}", context.package);
        let span = context.call_span(invocation);
        match invocation.attr("repo_tags") {
            None | Some(AttrValue::None) => {
                let Some(binary) = invocation.attr("binary").and_then(AttrValue::as_str) else {
                    continue;
                };
                let Ok(binary) = Label::parse(binary) else { continue };
                let binary = binary.name.rsplit('/').next().unwrap_or(&binary.name).to_owned();
                // The macro gives `latest` to the first image of a binary in the package and
                // the target name to the next ones.
                let latest = default_tag(context.package, &binary);
                let tag = if tags.iter().any(|earlier: &ImageTag| earlier.tag == latest) {
                    default_tag_named(context.package, &binary, name)
                } else {
                    latest
                };
                tags.push(ImageTag { tag, label, span });
            }
            Some(AttrValue::List(given)) => {
                for tag in given.iter().filter_map(AttrValue::as_str) {
                    tags.push(ImageTag {
                        tag: tag.to_owned(),
                        label: label.clone(),
                        span,
                    });
                }
            }
            Some(_) => {}
        }
    }
    tags
}

/// PYO033 for `image`, whose tag `first` already loads.
pub(crate) fn tag_collision(image: &ImageTag, first: &ImageTagOwner) -> Finding {
    Finding::new(
        image.span,
        codes::IMAGE_TAG_COLLISION,
        format!(
            "`{}` would load `{}`, the tag `{}` ({}) already loads: the later `bazel run` replaces the other image; give one of them `repo_tags`",
            image.label, image.tag, first.label, first.location
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tags_follow_the_package_path() {
        assert_eq!(default_tag("", "my_service"), "localhost/my_service:latest");
        assert_eq!(default_tag("services/Api", "app"), "localhost/services/api/app:latest");
        assert_eq!(default_tag("a", "b+c"), "localhost/a/b-c:latest");
        assert_eq!(default_tag_named("", "my_service", "debug_image"), "localhost/my_service:debug_image");
    }
}
