//! The four distroless bases must come out with the digests committed in tests/golden/digests.txt
//! on every machine. Each variant is built under a different hostile environment (time zone,
//! locale, umask, CPU count, temp dir, working directory) from a copy of the .debs at another
//! path, with scrambled file times, so that none of those can leak into the bytes.
//! The `hello` line is asserted by tests/e2e/test_golden_hello.py (it needs Bazel).

#[path = "../../../tests/support/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use tools::{debs_dir, lock_file, repo_root, require_tool};

// `hello` is the image under Bazel 4 (WORKSPACE), `hello-bzlmod` under Bazel 7 (runfiles in `_main`).
// `nonroot-bytecode` is the nonroot base with its stdlib's bytecode, as Bazel builds it
// (asserted by base_bytecode.rs and tests/e2e/test_golden_hello.py).
const NAMES: [&str; 7] = ["base", "nonroot", "nonroot-bytecode", "debug", "debug-nonroot", "hello", "hello-bzlmod"];

/// `NAME sha256:HEX` lines; every expected name exactly once, nothing else.
fn golden_digests() -> BTreeMap<String, String> {
    let path = repo_root().join("tests/golden/digests.txt");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut digests = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, digest) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("{}:{}: expected `NAME sha256:HEX`", path.display(), number + 1));
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{}:{}: {digest:?} is not sha256:<64 lowercase hex>",
            path.display(),
            number + 1
        );
        assert!(NAMES.contains(&name), "{}:{}: unknown name {name:?}", path.display(), number + 1);
        assert!(
            digests.insert(name.to_owned(), digest.to_owned()).is_none(),
            "{}: {name} is listed twice",
            path.display()
        );
    }
    digests
}

/// A small deterministic generator, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Copies the .debs and the lock to `dir` and gives every copy a different, arbitrary mtime.
fn scrambled_copy(dir: &Path, seed: u64) -> (PathBuf, PathBuf) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut random = XorShift(seed);
    let entries = fs::read_dir(debs_dir()).unwrap_or_else(|e| panic!("{}: {e}", debs_dir().display()));
    let mut copied = 0;
    for entry in entries {
        let source = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let target = dir.join(source.file_name().unwrap_or_default());
        fs::copy(&source, &target).unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(random.next() % 4_000_000_000);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        file.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))
            .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        copied += 1;
    }
    assert!(copied > 10, "{} holds only {copied} files", debs_dir().display());
    let lock = dir.join("lock.json");
    fs::copy(lock_file(), &lock).unwrap_or_else(|e| panic!("{e}"));
    (dir.to_path_buf(), lock)
}

/// One hostile environment for one build.
struct Environment {
    tz: &'static str,
    locale: &'static str,
    umask: &'static str,
    single_cpu: bool,
}

fn build_base(variant: &str, debs: &Path, lock: &Path, env: &Environment, work: &Path) -> String {
    let output = work.join("layout");
    let digest_file = work.join("digest");
    let temp = work.join("tmp");
    fs::create_dir_all(&temp).unwrap_or_else(|e| panic!("{e}"));
    // umask and CPU affinity are process attributes: a shell sets them, then execs pyoci.
    let mut script = format!("umask {} && exec ", env.umask);
    if env.single_cpu {
        require_tool("taskset");
        script.push_str("taskset -c 0 ");
    }
    script.push_str("\"$@\"");
    let out = tools::output(
        Command::new("sh")
            .args(["-c", &script, "sh"])
            .arg(env!("CARGO_BIN_EXE_pyoci"))
            .args(["base", "--variant", variant, "--debs"])
            .arg(debs)
            .arg("--lock")
            .arg(lock)
            .arg("-o")
            .arg(&output)
            .arg("--digest-out")
            .arg(&digest_file)
            .current_dir(work)
            .env_remove("SOURCE_DATE_EPOCH")
            .env("TZ", env.tz)
            .env("LANG", env.locale)
            .env("LC_ALL", env.locale)
            .env("TMPDIR", &temp)
            .stdin(Stdio::null()),
    );
    assert!(
        out.status.success(),
        "pyoci base --variant {variant} failed\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let written = fs::read_to_string(&digest_file).unwrap_or_else(|e| panic!("{}: {e}", digest_file.display()));
    assert_eq!(printed, written, "{variant}: printed digest and --digest-out differ");
    let index: serde_json::Value = serde_json::from_slice(&fs::read(output.join("index.json")).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{variant}: index.json: {e}"));
    assert_eq!(index["manifests"][0]["digest"], written.as_str(), "{variant}: index.json disagrees");
    written
}

#[test]
fn golden_file_lists_every_image_once() {
    let digests = golden_digests();
    let names: Vec<&str> = digests.keys().map(String::as_str).collect();
    let mut expected = NAMES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "tests/golden/digests.txt must list exactly these names");
}

#[test]
fn distroless_bases_match_golden_digests_in_hostile_environments() {
    let golden = golden_digests();
    let root = tempfile::Builder::new().prefix("pyoci-golden-").tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Another checkout path, with a space and a non-ASCII byte in it.
    let (debs, lock) = scrambled_copy(&root.path().join("other checkout/débs"), 0x9e37_79b9_7f4a_7c15);
    let builds = [
        ("base", Environment { tz: "Pacific/Kiritimati", locale: "tr_TR.UTF-8", umask: "077", single_cpu: false }),
        ("nonroot", Environment { tz: "America/St_Johns", locale: "C", umask: "000", single_cpu: true }),
        ("debug", Environment { tz: "Asia/Kathmandu", locale: "ja_JP.eucJP", umask: "027", single_cpu: false }),
        ("debug-nonroot", Environment { tz: "UTC", locale: "de_DE.UTF-8", umask: "002", single_cpu: true }),
    ];
    let mut mismatches = Vec::new();
    for (variant, env) in &builds {
        let work = root.path().join(format!("work-{variant}"));
        fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{e}"));
        let actual = build_base(variant, &debs, &lock, env, &work);
        let expected = golden.get(*variant).map(String::as_str).unwrap_or("<missing>");
        if actual != expected {
            mismatches.push(format!("{variant} {actual}   (golden: {expected})"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "distroless base digests differ from tests/golden/digests.txt:\n{}\n\
         If the change is intended, update the file (see tests/golden/README.md).",
        mismatches.join("\n")
    );
}
