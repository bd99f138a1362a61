//! Turning the licence names Debian copyright files and Python metadata use
//! into SPDX expressions. A name that maps to no SPDX identifier becomes a
//! `LicenseRef-`; a guess is never made (Debian's unversioned `GPL` stays a
//! reference, PyPI's ambiguous `BSD License` classifier is dropped).

use std::sync::LazyLock;

use regex::Regex;

/// One licence term after mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Spdx(String),
    /// A name with no SPDX identifier; becomes `LicenseRef-<sanitized>`.
    Other(String),
}

static GNU: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(A?GPL|LGPL|GFDL)-?v?(\d+(?:\.\d+)?)(\+|-or-later|-only)?$")
        .expect("constant GNU licence pattern compiles")
});

/// Debian copyright-format short names that are not SPDX identifiers.
const DEBIAN_ALIASES: &[(&str, &str)] = &[
    ("Expat", "MIT"),
    ("PSF-2", "PSF-2.0"),
    ("Python-2.0", "Python-2.0"),
];

/// Python `License:` values seen on PyPI, and the last part of `License ::`
/// trove classifiers.
const PYTHON_ALIASES: &[(&str, &str)] = &[
    ("MIT License", "MIT"),
    ("The MIT License", "MIT"),
    ("MIT license", "MIT"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache 2", "Apache-2.0"),
    ("Apache License 2.0", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("Apache License Version 2.0", "Apache-2.0"),
    ("Apache Software License", "Apache-2.0"),
    ("Apache Software License 2.0", "Apache-2.0"),
    ("ASL 2.0", "Apache-2.0"),
    ("PSF", "PSF-2.0"),
    ("PSFL", "PSF-2.0"),
    ("PSF License", "PSF-2.0"),
    ("Python Software Foundation License", "PSF-2.0"),
    ("BSD 3-Clause", "BSD-3-Clause"),
    ("3-Clause BSD License", "BSD-3-Clause"),
    ("BSD 3-Clause License", "BSD-3-Clause"),
    ("New BSD License", "BSD-3-Clause"),
    ("Modified BSD License", "BSD-3-Clause"),
    ("BSD 2-Clause", "BSD-2-Clause"),
    ("BSD 2-Clause License", "BSD-2-Clause"),
    ("Simplified BSD License", "BSD-2-Clause"),
    ("ISC License", "ISC"),
    ("ISC License (ISCL)", "ISC"),
    ("ISCL", "ISC"),
    ("MPL 2.0", "MPL-2.0"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("GNU General Public License v2 (GPLv2)", "GPL-2.0-only"),
    (
        "GNU General Public License v2 or later (GPLv2+)",
        "GPL-2.0-or-later",
    ),
    ("GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
    (
        "GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
    ),
    (
        "GNU Lesser General Public License v2 (LGPLv2)",
        "LGPL-2.0-only",
    ),
    (
        "GNU Lesser General Public License v2 or later (LGPLv2+)",
        "LGPL-2.0-or-later",
    ),
    (
        "GNU Lesser General Public License v3 (LGPLv3)",
        "LGPL-3.0-only",
    ),
    (
        "GNU Lesser General Public License v3 or later (LGPLv3+)",
        "LGPL-3.0-or-later",
    ),
    ("GNU Affero General Public License v3", "AGPL-3.0-only"),
    (
        "GNU Affero General Public License v3 or later (AGPLv3+)",
        "AGPL-3.0-or-later",
    ),
    ("The Unlicense (Unlicense)", "Unlicense"),
    ("The Unlicense", "Unlicense"),
    ("zlib/libpng License", "Zlib"),
    ("Eclipse Public License 2.0 (EPL-2.0)", "EPL-2.0"),
    (
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
        "CC0-1.0",
    ),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
];

fn spdx_id_ignoring_case(name: &str) -> Option<&'static str> {
    spdx::identifiers::LICENSES
        .iter()
        .find(|l| l.name.eq_ignore_ascii_case(name))
        .filter(|l| l.flags & spdx::flags::IS_DEPRECATED == 0)
        .map(|l| l.name)
}

fn gnu(name: &str) -> Option<String> {
    let caps = GNU.captures(name)?;
    let family = caps[1].to_ascii_uppercase();
    let version = if caps[2].contains('.') {
        caps[2].to_string()
    } else {
        format!("{}.0", &caps[2])
    };
    let or_later = matches!(
        caps.get(3).map(|m| m.as_str()),
        Some("+") | Some("-or-later")
    );
    spdx::gnu_license_id(&format!("{family}-{version}"), or_later).map(|id| id.name.to_string())
}

/// One licence name: an SPDX id in any letter case, `Apache-2` for
/// `Apache-2.0`, GNU names with `+`, or an alias.
fn map_name(name: &str, aliases: &[(&str, &str)]) -> Option<String> {
    let name = name.trim();
    if let Some((_, id)) = aliases
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
    {
        return Some((*id).to_string());
    }
    if let Some(id) = gnu(name) {
        return Some(id);
    }
    let (base, plus) = match name.strip_suffix('+') {
        Some(base) => (base, "+"),
        None => (name, ""),
    };
    if let Some(id) = spdx_id_ignoring_case(base) {
        return Some(format!("{id}{plus}"));
    }
    spdx_id_ignoring_case(&format!("{base}.0")).map(|id| format!("{id}{plus}"))
}

/// A Debian licence term, possibly `X with Y exception`.
pub fn debian_term(name: &str) -> Term {
    let name = name.trim();
    if let Some(id) = map_name(name, DEBIAN_ALIASES) {
        return Term::Spdx(id);
    }
    let lower = name.to_ascii_lowercase();
    if let Some(at) = lower.find(" with ") {
        let exception = name[at + 6..].trim();
        let exception = exception
            .strip_suffix(" exception")
            .unwrap_or(exception)
            .trim();
        let licence = map_name(&name[..at], DEBIAN_ALIASES);
        let exception_id = spdx::exception_id(&format!("{exception}-exception"))
            .or_else(|| spdx::exception_id(exception));
        if let (Some(licence), Some(exception_id)) = (licence, exception_id) {
            return Term::Spdx(format!("{licence} WITH {}", exception_id.name));
        }
    }
    Term::Other(name.to_string())
}

/// Splits a Debian `License:` first line on its `or` / `and` operators.
pub fn debian_expression(text: &str) -> Vec<(Option<&'static str>, Term)> {
    static OPERATOR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i),?\s+(or|and)\s+").expect("constant operator pattern compiles")
    });
    let mut terms = Vec::new();
    let mut last = 0;
    let mut pending_op: Option<&'static str> = None;
    for caps in OPERATOR.captures_iter(text) {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        // "GPL-2+ with Font exception" has no operator inside; an `and`
        // inside "X with Y and Z exception" is rare enough to accept.
        terms.push((pending_op, debian_term(&text[last..whole.start])));
        pending_op = Some(if caps[1].eq_ignore_ascii_case("or") {
            "OR"
        } else {
            "AND"
        });
        last = whole.end;
    }
    terms.push((pending_op, debian_term(&text[last..])));
    terms
}

/// A `License-Expression` or short `License:` value from Python metadata.
pub fn python_value(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty()
        || value.contains('\n')
        || value.len() > 100
        || value.eq_ignore_ascii_case("UNKNOWN")
    {
        return None;
    }
    if let Some(id) = map_name(value, PYTHON_ALIASES) {
        return Some(id);
    }
    valid_expression(value).then(|| value.to_string())
}

/// `License :: OSI Approved :: MIT License` -> `MIT`.
pub fn python_classifier(classifier: &str) -> Option<String> {
    let rest = classifier.strip_prefix("License ::")?;
    let last = rest.rsplit("::").next()?.trim();
    map_name(last, PYTHON_ALIASES)
}

/// Whether `expression` is valid SPDX (LicenseRef- terms allowed).
pub fn valid_expression(expression: &str) -> bool {
    spdx::Expression::parse_mode(
        expression,
        spdx::ParseMode {
            allow_deprecated: true,
            ..spdx::ParseMode::STRICT
        },
    )
    .is_ok()
}

/// The id part after `LicenseRef-`: letters, digits, `.` and `-` only.
pub fn sanitize_ref(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "unnamed".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names() {
        assert_eq!(debian_term("GPL-2+"), Term::Spdx("GPL-2.0-or-later".into()));
        assert_eq!(debian_term("GPL-2"), Term::Spdx("GPL-2.0-only".into()));
        assert_eq!(
            debian_term("LGPL-2.1+"),
            Term::Spdx("LGPL-2.1-or-later".into())
        );
        assert_eq!(
            debian_term("BSD-3-clause"),
            Term::Spdx("BSD-3-Clause".into())
        );
        assert_eq!(debian_term("Apache-2"), Term::Spdx("Apache-2.0".into()));
        assert_eq!(debian_term("Expat"), Term::Spdx("MIT".into()));
        assert_eq!(debian_term("zlib"), Term::Spdx("Zlib".into()));
        assert_eq!(debian_term("GPL"), Term::Other("GPL".into()));
        assert_eq!(
            debian_term("public-domain"),
            Term::Other("public-domain".into())
        );
        assert_eq!(
            debian_term("GPL-2+ with Texinfo exception"),
            Term::Spdx("GPL-2.0-or-later WITH Texinfo-exception".into())
        );
        assert_eq!(
            debian_term("GFDL-NIV-1.3+"),
            Term::Other("GFDL-NIV-1.3+".into())
        );
    }

    #[test]
    fn debian_operators() {
        let terms = debian_expression("MPL-1.1 or GPL-2+ or LGPL-2.1+");
        assert_eq!(terms.len(), 3);
        assert_eq!(
            terms[1],
            (Some("OR"), Term::Spdx("GPL-2.0-or-later".into()))
        );
        let terms = debian_expression("Sleepycat and BSD-3-clause");
        assert_eq!(terms[1].0, Some("AND"));
    }

    #[test]
    fn python_names() {
        assert_eq!(python_value("Apache-2.0").as_deref(), Some("Apache-2.0"));
        assert_eq!(python_value("MIT").as_deref(), Some("MIT"));
        assert_eq!(python_value("Apache 2.0").as_deref(), Some("Apache-2.0"));
        assert_eq!(
            python_value("MIT OR Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(python_value("UNKNOWN"), None);
        assert_eq!(python_value("Some custom terms"), None);
        assert_eq!(
            python_classifier("License :: OSI Approved :: MIT License").as_deref(),
            Some("MIT")
        );
        assert_eq!(
            python_classifier("License :: OSI Approved :: BSD License"),
            None
        );
    }

    #[test]
    fn refs() {
        assert_eq!(sanitize_ref("MIT/X11"), "MIT-X11");
        assert_eq!(sanitize_ref("__AUTO_PERMISSIVE__"), "AUTO-PERMISSIVE");
    }
}
