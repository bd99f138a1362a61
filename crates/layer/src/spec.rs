//! The layer spec file that Bazel rules write with `json.encode`:
//!
//! ```json
//! {"entries": [
//!   {"path": "/app/main.py", "source": "bazel-out/k8-fastbuild/bin/x/main.py"},
//!   {"path": "/app/run", "source": "x/run", "mode": "0755"},
//!   {"path": "/app/site", "source": "x/site-packages"},
//!   {"path": "/app/data", "type": "dir", "mode": "0755", "uid": 65532, "gid": 65532},
//!   {"path": "/app/link", "type": "symlink", "target": "../x"},
//!   {"path": "/app/same", "type": "hardlink", "target": "/app/run"},
//!   {"path": "/etc/motd", "type": "file", "content": "inline text"}
//! ]}
//! ```
//!
//! `type` is `file` (from `source` or inline `content`), `dir`, `symlink`,
//! `hardlink` (`target` is another in-image path), `whiteout` (hides `path`
//! of the layers below) or `opaque_whiteout` (hides what the layers below put
//! under the directory `path`). Names starting with `.wh.` are refused
//! everywhere else: they are whiteouts only when asked for. Without `type`, an
//! entry with `content` is a file and one with `source` is a file, or, when
//! the source is a directory, that whole tree (see [`crate::from_dir`]).
//! Relative sources are relative to the working directory (Bazel's
//! execroot), not to the spec file. Optional `mode` is an octal string
//! (`"0755"`) or the number itself (`493`); `uid`, `gid`, `uname`, `gname`
//! set the owner, and for a directory source they apply to the whole tree.
//! Symlinks inside a directory source are kept as symlinks unless the entry
//! sets `"follow_symlinks": true` ([`crate::from_dir_following_symlinks`]),
//! which a sandboxed build needs for directory artifacts whose files are
//! symlinks to the real ones. `file_mode` (same forms as `mode`) is the mode
//! of the regular files a `source` gives, whether it is one file or a
//! directory (whose own directories stay 0755), instead of the 0755/0644
//! taken from the source's owner-executable bit: a remote-execution worker
//! may present every input as executable, so a rule that wants the same bytes
//! wherever its action runs states the modes instead of inheriting them.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{from_dir, from_dir_following_symlinks, Entry, EntryKind, Error};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    entries: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecEntry {
    path: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    source: Option<String>,
    content: Option<String>,
    target: Option<String>,
    mode: Option<Mode>,
    uid: Option<u64>,
    gid: Option<u64>,
    uname: Option<String>,
    gname: Option<String>,
    follow_symlinks: Option<bool>,
    file_mode: Option<Mode>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Mode {
    Octal(String),
    Number(u32),
}

impl Mode {
    fn bits(&self) -> Result<u32, String> {
        let bits = match self {
            Mode::Octal(text) => {
                let digits = text.strip_prefix("0o").unwrap_or(text);
                u32::from_str_radix(digits, 8)
                    .map_err(|_| format!("mode {text:?} is not an octal number like \"0755\""))?
            }
            Mode::Number(n) => *n,
        };
        if bits > 0o7777 {
            return Err(format!("mode {bits:#o} has bits beyond 0o7777"));
        }
        Ok(bits)
    }
}

/// Reads a spec file. `owner` is the uid:gid given to entries that do not
/// set their own (parent directories the layer adds stay root).
pub fn load(spec: &Path, owner: Option<(u64, u64)>) -> Result<Vec<Entry>, Error> {
    let bytes = fs::read(spec).map_err(|e| Error::Spec {
        file: spec.to_path_buf(),
        index: None,
        message: format!("cannot read the spec file: {e}"),
    })?;
    parse(&bytes, spec, owner)
}

/// Parses spec JSON; `spec` is only used to name the file in errors.
pub fn parse(json: &[u8], spec: &Path, owner: Option<(u64, u64)>) -> Result<Vec<Entry>, Error> {
    let file: SpecFile = serde_json::from_slice(json).map_err(|e| Error::Spec {
        file: spec.to_path_buf(),
        index: None,
        message: format!("not a layer spec ({{\"entries\": [...]}}): {e}"),
    })?;
    let mut entries = Vec::new();
    for (index, value) in file.entries.into_iter().enumerate() {
        let fail = |message: String| Error::Spec { file: spec.to_path_buf(), index: Some(index), message };
        let raw: SpecEntry = serde_json::from_value(value).map_err(|e| fail(e.to_string()))?;
        let located = |message: String| fail(format!("{}: {message}", raw.path));
        expand(&raw, owner, spec, index, &mut entries).map_err(|e| match e {
            Expand::Invalid(message) => located(message),
            Expand::Layer(error) => error,
        })?;
    }
    Ok(entries)
}

enum Expand {
    Invalid(String),
    Layer(Error),
}

impl From<String> for Expand {
    fn from(message: String) -> Self {
        Expand::Invalid(message)
    }
}

fn expand(
    raw: &SpecEntry,
    owner: Option<(u64, u64)>,
    spec: &Path,
    index: usize,
    entries: &mut Vec<Entry>,
) -> Result<(), Expand> {
    let (default_uid, default_gid) = owner.unwrap_or((0, 0));
    let apply_owner = |mut entry: Entry| {
        entry.uid = raw.uid.unwrap_or(default_uid);
        entry.gid = raw.gid.unwrap_or(default_gid);
        entry.uname = raw.uname.clone().unwrap_or_default();
        entry.gname = raw.gname.clone().unwrap_or_default();
        entry
    };
    let only = |allowed: &[&str]| -> Result<(), String> {
        let given = [("source", raw.source.is_some()), ("content", raw.content.is_some()), ("target", raw.target.is_some())];
        for (field, present) in given {
            if present && !allowed.contains(&field) {
                return Err(format!("\"{field}\" does not go with type {:?}", raw.kind.as_deref().unwrap_or("file")));
            }
        }
        Ok(())
    };
    let mode = raw.mode.as_ref().map(Mode::bits).transpose()?;
    let file_mode = raw.file_mode.as_ref().map(Mode::bits).transpose()?;
    if raw.follow_symlinks.is_some() && raw.source.is_none() {
        return Err("\"follow_symlinks\" only applies to a directory source".to_string().into());
    }
    if raw.file_mode.is_some() && raw.source.is_none() {
        return Err("\"file_mode\" only applies to an entry with a \"source\" (use \"mode\")".to_string().into());
    }
    let kind = match raw.kind.as_deref() {
        None | Some("file") => match (&raw.source, &raw.content) {
            (Some(_), Some(_)) => return Err("give either \"source\" or \"content\", not both".to_string().into()),
            (None, Some(content)) => {
                only(&["content"])?;
                EntryKind::Bytes(content.clone().into_bytes())
            }
            (Some(source), None) => {
                only(&["source"])?;
                let source = PathBuf::from(source);
                let metadata =
                    fs::metadata(&source).map_err(|e| format!("cannot read source {}: {e}", source.display()))?;
                if metadata.is_dir() {
                    if raw.kind.is_some() {
                        return Err(format!("type \"file\" but source {} is a directory", source.display()).into());
                    }
                    if mode.is_some() {
                        return Err("\"mode\" cannot be set for a whole directory tree".to_string().into());
                    }
                    let walk = if raw.follow_symlinks == Some(true) { from_dir_following_symlinks } else { from_dir };
                    let tree = walk(&source, Path::new(&raw.path)).map_err(Expand::Layer)?;
                    entries.extend(tree.into_iter().map(apply_owner).map(|mut entry| {
                        if let (EntryKind::File(_), Some(bits)) = (&entry.kind, file_mode) {
                            entry.mode = Some(bits);
                        }
                        entry
                    }));
                    return Ok(());
                }
                if raw.follow_symlinks.is_some() {
                    return Err("\"follow_symlinks\" only applies to a directory source".to_string().into());
                }
                if let (Some(_), Some(_)) = (mode, file_mode) {
                    return Err("give either \"mode\" or \"file_mode\", not both".to_string().into());
                }
                EntryKind::File(source)
            }
            (None, None) => return Err("a file needs \"source\" or \"content\"".to_string().into()),
        },
        Some("dir") => {
            only(&[])?;
            EntryKind::Dir
        }
        Some("symlink") => {
            only(&["target"])?;
            EntryKind::Symlink(PathBuf::from(raw.target.as_deref().ok_or("a symlink needs \"target\"".to_string())?))
        }
        Some("hardlink") => {
            only(&["target"])?;
            EntryKind::Hardlink(PathBuf::from(raw.target.as_deref().ok_or("a hardlink needs \"target\"".to_string())?))
        }
        Some("whiteout") => {
            only(&[])?;
            EntryKind::Whiteout
        }
        Some("opaque_whiteout") => {
            only(&[])?;
            EntryKind::OpaqueWhiteout
        }
        Some(other) => {
            return Err(format!(
                "unknown type {other:?}: expected file, dir, symlink, hardlink, whiteout or opaque_whiteout"
            )
            .into());
        }
    };
    let mut entry = apply_owner(Entry::new(&raw.path, kind));
    entry.mode = mode.or(file_mode);
    entry.origin = Some(format!("{} ({} entries[{index}])", entry.describe(), spec.display()));
    entries.push(entry);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(json: &str) -> Result<Vec<Entry>, Error> {
        parse(json.as_bytes(), Path::new("layer.json"), None)
    }

    #[test]
    fn contract_example_parses() {
        let entries = parse_str(
            r#"{"entries": [
                {"path": "/app/data", "type": "dir", "mode": "0750", "uid": 65532, "gid": 65532},
                {"path": "/app/link", "type": "symlink", "target": "../x"},
                {"path": "/etc/motd", "type": "file", "content": "inline text"},
                {"path": "/etc/issue", "content": "hi", "mode": 420}
            ]}"#,
        )
        .unwrap();
        assert_eq!(entries[0].kind, EntryKind::Dir);
        assert_eq!((entries[0].mode, entries[0].uid), (Some(0o750), 65532));
        assert_eq!(entries[1].kind, EntryKind::Symlink(PathBuf::from("../x")));
        assert_eq!(entries[2].kind, EntryKind::Bytes(b"inline text".to_vec()));
        assert_eq!(entries[3].mode, Some(0o644));
    }

    #[test]
    fn errors_name_the_file_and_entry() {
        let err = parse_str(r#"{"entries": [{"path": "/a", "content": ""}, {"path": "/b", "type": "symlink"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer.json") && err.contains("entries[1]") && err.contains("target"), "{err}");
        let err = parse_str(r#"{"entries": [{"path": "/a", "contnet": "x"}]}"#).unwrap_err().to_string();
        assert!(err.contains("entries[0]") && err.contains("contnet"), "{err}");
        let err = parse_str(r#"{"entries": [{"path": "/a", "content": "x", "mode": "9"}]}"#).unwrap_err().to_string();
        assert!(err.contains("entries[0]") && err.contains("octal"), "{err}");
    }

    #[test]
    fn missing_source_names_it() {
        let err = parse_str(r#"{"entries": [{"path": "/a", "source": "/no/such/file.py"}]}"#).unwrap_err().to_string();
        assert!(err.contains("/no/such/file.py"), "{err}");
    }

    #[test]
    fn follow_symlinks_resolves_links_in_a_directory_source() {
        let temp = tempfile::tempdir().unwrap();
        let real = temp.path().join("real.py");
        std::fs::write(&real, "x = 1\n").unwrap();
        let tree = temp.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::os::unix::fs::symlink(&real, tree.join("mod.py")).unwrap();
        let spec = |follow: bool| {
            format!(r#"{{"entries": [{{"path": "/app", "source": "{}", "follow_symlinks": {follow}}}]}}"#, tree.display())
        };
        let kept = parse_str(&spec(false)).unwrap();
        assert_eq!(kept[1].kind, EntryKind::Symlink(real.clone()));
        let followed = parse_str(&spec(true)).unwrap();
        assert_eq!(followed[1].kind, EntryKind::File(tree.join("mod.py")));
        let err = parse_str(r#"{"entries": [{"path": "/a", "content": "", "follow_symlinks": true}]}"#).unwrap_err();
        assert!(err.to_string().contains("follow_symlinks"), "{err}");
    }

    #[test]
    fn file_mode_states_the_mode_of_a_source_file_or_every_file_of_a_directory_source() {
        use std::os::unix::fs::PermissionsExt;
        let temp = tempfile::tempdir().unwrap();
        let tree = temp.path().join("tree");
        std::fs::create_dir_all(tree.join("pkg")).unwrap();
        for name in ["pkg/a.pyc", "b.pyc"] {
            std::fs::write(tree.join(name), "x").unwrap();
            std::fs::set_permissions(tree.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let spec = format!(r#"{{"entries": [{{"path": "/app", "source": "{}", "file_mode": "0644"}}]}}"#, tree.display());
        let entries = parse_str(&spec).unwrap();
        for entry in &entries {
            match entry.kind {
                EntryKind::File(_) => assert_eq!(entry.mode, Some(0o644), "{entry:?}"),
                _ => assert_eq!(entry.mode, None, "{entry:?}"),
            }
        }
        assert_eq!(entries.iter().filter(|e| matches!(e.kind, EntryKind::File(_))).count(), 2);
        let err = parse_str(r#"{"entries": [{"path": "/a", "content": "", "file_mode": "0644"}]}"#).unwrap_err();
        assert!(err.to_string().contains("file_mode") && err.to_string().contains("entries[0]"), "{err}");
        let file = tree.join("b.pyc");
        let spec = format!(r#"{{"entries": [{{"path": "/b", "source": "{}", "file_mode": "0644"}}]}}"#, file.display());
        assert_eq!(parse_str(&spec).unwrap()[0].mode, Some(0o644));
    }

    #[test]
    fn default_owner_applies_to_unowned_entries() {
        let entries = parse(
            br#"{"entries": [{"path": "/a", "content": ""}, {"path": "/b", "content": "", "uid": 1, "gid": 2}]}"#,
            Path::new("x.json"),
            Some((65532, 65532)),
        )
        .unwrap();
        assert_eq!((entries[0].uid, entries[0].gid), (65532, 65532));
        assert_eq!((entries[1].uid, entries[1].gid), (1, 2));
    }
}
