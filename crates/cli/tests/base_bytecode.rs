//! `pyoci base --compile-bytecode-with`: the standard library's __pycache__, as Debian's
//! postinst would have written it, compiled by the base's own CPython (extracted from the same
//! pinned .debs, as Bazel's hermetic compiler is) into the packages layer. Reproducible, equal
//! to what Bazel builds (the `nonroot-bytecode` golden line, also asserted by
//! tests/e2e/test_golden_hello.py), and refused with a compiler of another Python version.

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pyoci::*;
use tools::{debs_dir, lock_file, repo_root, require_tool};

/// CPython 3.11's bytecode magic (3495, little-endian, then \r\n).
const MAGIC_311: [u8; 4] = [0xa7, 0x0d, b'\r', b'\n'];

fn golden(name: &str) -> String {
    let path = repo_root().join("tests/golden/digests.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{} has no `{name}` line", path.display()))
        .to_owned()
}

/// Extracts python3.11-minimal and libpython3.11-minimal (the interpreter and the stdlib
/// py_compile needs) from the pinned .debs into `dir`; returns `dir/usr/bin/python3.11`.
fn extract_python(dir: &Path) -> PathBuf {
    require_tool("dpkg-deb");
    for package in ["python3.11-minimal", "libpython3.11-minimal"] {
        let prefix = format!("{package}_");
        let deb = fs::read_dir(debs_dir())
            .unwrap_or_else(|e| panic!("{}: {e}", debs_dir().display()))
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                name.starts_with(&prefix) && name.ends_with(".deb")
            })
            .unwrap_or_else(|| panic!("no {package} .deb in {}", debs_dir().display()));
        tools::run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir));
    }
    dir.join("usr/bin/python3.11")
}

fn base_command(compiler: Option<&Path>, python_home: Option<&Path>, output: &Path) -> Command {
    let mut command = pyoci();
    command
        .args(["base", "--variant", "nonroot", "--debs"])
        .arg(debs_dir())
        .arg("--lock")
        .arg(lock_file())
        .arg("-o")
        .arg(output);
    if let Some(compiler) = compiler {
        command.arg("--compile-bytecode-with").arg(compiler);
    }
    if let Some(home) = python_home {
        command.env("PYTHONHOME", home);
    }
    command
}

fn packages_layer(layout: &Path) -> PathBuf {
    let (_, manifest) = manifest_of(layout);
    blob_path(layout, manifest["layers"][0]["digest"].as_str().unwrap_or_default())
}

#[test]
fn stdlib_bytecode_is_reproducible_loadable_and_golden() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let python = extract_python(&tmp.path().join("python"));
    let home = tmp.path().join("python/usr");

    let first = tmp.path().join("first");
    let digest = pyoci_ok(&mut base_command(Some(&python), Some(&home), &first)).trim().to_owned();
    // Again from another working directory, with the compiler named by a relative path.
    let work = tmp.path().join("elsewhere");
    fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{e}"));
    let second = work.join("second");
    let again = pyoci_ok(
        base_command(Some(Path::new("../python/usr/bin/python3.11")), Some(&home), Path::new("second"))
            .current_dir(&work),
    )
    .trim()
    .to_owned();
    assert_eq!(digest, again, "two builds with the same compiler differ");
    assert!(second.join("index.json").is_file());
    assert_eq!(
        digest,
        golden("nonroot-bytecode"),
        "tests/golden/digests.txt `nonroot-bytecode` (the base Bazel builds) differs from this build"
    );

    let without = tmp.path().join("without");
    let plain = pyoci_ok(&mut base_command(None, None, &without)).trim().to_owned();
    assert_eq!(plain, golden("nonroot"), "without --compile-bytecode-with the base must stay the golden one");

    let layer = packages_layer(&first);
    let names = layer_names(&layer);
    for module in ["asyncio/__init__", "typing", "enum", "encodings/utf_8", "json/__init__", "logging/__init__"] {
        let (dir, stem) = match module.rsplit_once('/') {
            Some((dir, stem)) => (format!("{dir}/"), stem),
            None => (String::new(), module),
        };
        let pyc = format!("usr/lib/python3.11/{dir}__pycache__/{stem}.cpython-311.pyc");
        assert!(names.contains(&pyc), "no {pyc} in the packages layer");
        let bytes = layer_file(&layer, &pyc);
        assert!(bytes.len() > 16, "{pyc} is {} bytes", bytes.len());
        assert_eq!(bytes[..4], MAGIC_311, "{pyc}: not CPython 3.11's magic number");
        assert_eq!(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]), 1, "{pyc}: flags are not unchecked-hash");
        let image_path = format!("/usr/lib/python3.11/{module}.py");
        assert!(
            bytes.windows(image_path.len()).any(|w| w == image_path.as_bytes()),
            "{pyc}: the code's file name is not {image_path}"
        );
    }
    // A symlinked module's target (/etc/python3.11/sitecustomize.py) may be replaced by a later
    // layer, which an unchecked .pyc would hide.
    assert!(!names.iter().any(|n| n.contains("__pycache__/sitecustomize.")), "a .pyc for the symlinked sitecustomize.py");
    assert!(
        !names.iter().any(|n| n.contains("__pycache__") && !n.starts_with("usr/lib/python3.11/")),
        "bytecode outside /usr/lib/python3.11"
    );

    let listing = list_layer(&layer);
    let member = |name: &str| {
        listing
            .iter()
            .find(|line| line.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} not listed by bsdtar"))
            .clone()
    };
    let pyc = member("usr/lib/python3.11/__pycache__/typing.cpython-311.pyc");
    assert!(pyc.starts_with("-rw-r--r-- 0 0 0 "), "{pyc}");
    let source = member("usr/lib/python3.11/typing.py");
    let date = |line: &str| line.split(' ').skip(5).take(3).collect::<Vec<_>>().join(" ");
    assert_eq!(date(&pyc), date(&source), "the .pyc's mtime differs from its source's");
    let cache_dir = member("usr/lib/python3.11/__pycache__/");
    assert!(cache_dir.starts_with("drwxr-xr-x 0 0 0 "), "{cache_dir}");

    let history = config_of(&first)["history"][0]["created_by"].as_str().unwrap_or_default().to_owned();
    assert!(history.contains("bytecode of /usr/lib/python3.11"), "{history}");
}

#[test]
fn a_compiler_of_another_python_fails_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let python312 = tmp.path().join("python3.12");
    fs::write(&python312, "#!/bin/sh\necho 3.12 cpython-312\n").unwrap_or_else(|e| panic!("{e}"));
    fs::set_permissions(&python312, fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
    let not_python = tmp.path().join("not python");
    fs::write(&not_python, "plain text, not a program\n").unwrap_or_else(|e| panic!("{e}"));

    let cases: [(&Path, &str); 4] = [
        (&python312, "is Python 3.12, but the base's standard library is Python 3.11"),
        (Path::new("/bin/false"), "asking it for its version failed"),
        (&not_python, "cannot run it"),
        (Path::new("/nonexistent/python3.11"), "cannot run it"),
    ];
    for (compiler, reason) in cases {
        let output = tmp.path().join("out/layout");
        let stderr = pyoci_fails(&mut base_command(Some(compiler), None, &output));
        let named = format!("bytecode compiler {}", compiler.display());
        assert!(stderr.contains(&named), "{compiler:?}: the error does not name the compiler:\n{stderr}");
        assert!(stderr.contains(reason), "{compiler:?}: expected {reason:?} in:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_nothing_written(&output);
    }
}
