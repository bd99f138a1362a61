//! The three output formats: text lines, JSON, and SARIF 2.1.0 for code-scanning services.

use std::path::Path;

use serde_json::{json, Value};

use crate::codes::{self, CodeInfo, Severity};
use crate::Report;

/// One `path:line:col: CODE message` line per diagnostic.
pub fn render_text(report: &Report) -> String {
    report
        .diagnostics
        .iter()
        .map(|d| d.to_text_line() + "\n")
        .collect()
}

pub fn render_json(report: &Report) -> String {
    let diagnostics: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "path": d.path,
                "line": d.line,
                "column": d.column,
                "endLine": d.end_line,
                "endColumn": d.end_column,
                "code": d.code.code,
                "name": d.code.name,
                "severity": d.severity(),
                "message": d.message,
            })
        })
        .collect();
    let document = json!({ "filesLinted": report.files_linted, "diagnostics": diagnostics });
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}

fn pascal_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// RFC 3986 percent-encoding of a relative path, keeping `/`.
fn encode_uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn rule_descriptor(info: &CodeInfo) -> Value {
    json!({
        "id": info.code,
        "name": pascal_case(info.name),
        "shortDescription": { "text": info.summary },
        "fullDescription": { "text": format!("{} {}", info.summary, info.help) },
        "help": { "text": info.help },
        "defaultConfiguration": { "level": level(info.severity) },
        "properties": { "tags": [info.name] },
    })
}

/// SARIF 2.1.0. Artifact URIs are relative to `base` (as `%SRCROOT%`) when the file is under it.
pub fn render_sarif(report: &Report, base: &Path) -> String {
    let results: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let rule_index = codes::ALL
                .iter()
                .position(|info| info.code == d.code.code)
                .unwrap_or_default();
            let artifact = if d.path.starts_with('/') {
                json!({ "uri": format!("file://{}", encode_uri_path(&d.path)) })
            } else {
                json!({ "uri": encode_uri_path(&d.path), "uriBaseId": "%SRCROOT%" })
            };
            json!({
                "ruleId": d.code.code,
                "ruleIndex": rule_index,
                "level": level(d.severity()),
                "message": { "text": d.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact,
                        "region": {
                            "startLine": d.line,
                            "startColumn": d.column,
                            "endLine": d.end_line,
                            "endColumn": d.end_column,
                        }
                    }
                }],
            })
        })
        .collect();
    let base_uri = format!(
        "file://{}/",
        encode_uri_path(base.to_string_lossy().trim_end_matches('/'))
    );
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "pyoci-lint",
                    "informationUri": "https://github.com/rules-pyoci/rules_pyoci",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": codes::ALL.iter().map(|info| rule_descriptor(info)).collect::<Vec<_>>(),
                }
            },
            "originalUriBaseIds": { "%SRCROOT%": { "uri": base_uri } },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}
