//! Embeds this repository's `rules/**/*.bzl` so that `@rules_pyoci//rules:...` loads resolve in a
//! user's workspace, where the rules are an external repository the linter cannot read.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|ext| ext == "bzl") {
            if let Ok(relative) = path.strip_prefix(root) {
                let relative = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((relative, path.clone()));
            }
        }
    }
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo_root = manifest_dir.join("../..");
    let rules = repo_root.join("rules");
    println!("cargo:rerun-if-changed={}", rules.display());
    let mut files = Vec::new();
    collect(&rules, &repo_root, &mut files);
    files.sort();
    let mut generated = String::from("/// `(path in the rules_pyoci repository, contents)` of every embedded .bzl file.\npub(crate) static EMBEDDED_RULES: &[(&str, &str)] = &[\n");
    for (relative, path) in &files {
        let absolute = fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        generated.push_str(&format!(
            "    ({relative:?}, include_str!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    generated.push_str("];\n");
    let out =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_rules.rs");
    fs::write(&out, generated).expect("OUT_DIR is writable");
}
