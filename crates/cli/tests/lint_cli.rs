//! `pyoci lint` as users run it: output formats, exit statuses, --select/--ignore and
//! suppression comments, on the linter's fixture workspace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lint/tests/fixtures/workspace")
        .canonicalize()
        .unwrap()
}

fn pyoci_lint(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pyoci"))
        .arg("lint")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn text_format_prints_one_line_per_finding_and_exits_1() {
    let output = pyoci_lint(&fixtures(), &["pyo060"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        "pyo060/BUILD:13:9: PYO060 env name \"LOG-LEVEL\" is not a valid variable name (letters, digits and `_`, not starting with a digit)\n\
         pyo060/BUILD:14:9: PYO060 env name \"2FA_MODE\" is not a valid variable name (letters, digits and `_`, not starting with a digit)\n"
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("1 files linted: 2 errors, 0 warnings")
    );
}

#[test]
fn clean_files_exit_0_with_no_output() {
    let output = pyoci_lint(&fixtures(), &["tools"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "");
}

#[test]
fn json_format_carries_every_field() {
    let output = pyoci_lint(&fixtures(), &["--format", "json", "pyo041"]);
    assert_eq!(output.status.code(), Some(1));
    let document: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(document["filesLinted"], 1);
    let diagnostics = document["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    assert_eq!(d["path"], "pyo041/BUILD");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(11), Some(12))
    );
    assert_eq!(
        (d["endLine"].as_u64(), d["endColumn"].as_u64()),
        (Some(11), Some(46))
    );
    assert_eq!(d["code"], "PYO041");
    assert_eq!(d["name"], "debug-base");
    assert_eq!(d["severity"], "warning");
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("@distroless_python_debug_nonroot"));
}

/// The parts of SARIF 2.1.0 that the specification makes mandatory, plus what code-scanning
/// services need to place a result: a relative artifact URI with a base id and a 1-based region.
fn assert_valid_sarif(document: &Value) {
    assert_eq!(document["version"], "2.1.0");
    assert!(document["$schema"]
        .as_str()
        .unwrap()
        .contains("sarif-2.1.0"));
    let runs = document["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "pyoci-lint");
    let rules = driver["rules"].as_array().unwrap();
    assert!(!rules.is_empty());
    for rule in rules {
        assert!(rule["id"].as_str().unwrap().starts_with("PYO"));
        assert!(!rule["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .is_empty());
        assert!(!rule["fullDescription"]["text"].as_str().unwrap().is_empty());
        assert!(matches!(
            rule["defaultConfiguration"]["level"].as_str(),
            Some("error" | "warning")
        ));
    }
    assert!(run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap()
        .starts_with("file:///"));
    assert!(run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap()
        .ends_with('/'));
    for result in run["results"].as_array().unwrap() {
        let rule_id = result["ruleId"].as_str().unwrap();
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            rules[index]["id"], rule_id,
            "ruleIndex points at the result's rule"
        );
        assert!(matches!(
            result["level"].as_str(),
            Some("error" | "warning")
        ));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            !uri.starts_with('/') && !uri.contains(':'),
            "relative URI: {uri}"
        );
        assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        let region = &location["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
        assert!(region["startColumn"].as_u64().unwrap() >= 1);
        assert!(region["endLine"].as_u64().unwrap() >= region["startLine"].as_u64().unwrap());
    }
}

#[test]
fn sarif_format_is_structurally_valid() {
    let output = pyoci_lint(&fixtures(), &["--format", "sarif", "pyo050", "pyo063"]);
    assert_eq!(output.status.code(), Some(1));
    let document: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_valid_sarif(&document);
    let results = document["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 9);
    let first = &results[0];
    assert_eq!(first["ruleId"], "PYO050");
    assert_eq!(
        first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "pyo050/BUILD"
    );
    assert_eq!(
        first["locations"][0]["physicalLocation"]["region"]["startLine"],
        13
    );
    assert_eq!(
        first["locations"][0]["physicalLocation"]["region"]["startColumn"],
        24
    );
    let clean = pyoci_lint(&fixtures(), &["--format", "sarif", "tools"]);
    assert_eq!(clean.status.code(), Some(0));
    let document: Value = serde_json::from_str(&stdout(&clean)).unwrap();
    assert_valid_sarif(&document);
    assert_eq!(document["runs"][0]["results"].as_array().unwrap().len(), 0);
}

#[test]
fn select_and_ignore_filter_by_code_or_prefix() {
    let selected = pyoci_lint(&fixtures(), &["--select", "PYO051", "pyo050", "pyo051"]);
    assert_eq!(selected.status.code(), Some(1));
    let lines: Vec<&str> = std::str::from_utf8(&selected.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.contains(" PYO051 ")));

    let ignored = pyoci_lint(&fixtures(), &["--ignore", "PYO05", "pyo050", "pyo051"]);
    assert_eq!(ignored.status.code(), Some(0), "{ignored:?}");
    assert_eq!(stdout(&ignored), "");

    let both = pyoci_lint(
        &fixtures(),
        &[
            "--select",
            "PYO04,PYO05",
            "--ignore",
            "pyo040",
            "pyo040",
            "pyo041",
            "pyo050",
        ],
    );
    let text = stdout(&both);
    assert!(
        text.contains(" PYO041 ") && text.contains(" PYO050 ") && !text.contains(" PYO040 "),
        "{text}"
    );
}

#[test]
fn suppression_comments_silence_their_line_only() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("WORKSPACE"),
        "workspace(name = \"suppressed\")\n\n\
         local_repository(name = \"rules_pyoci\", path = \"/nonexistent\")\n\n\
         load(\"@rules_pyoci//rules:repositories.bzl\", \"distroless_python_bases\")\n\n\
         distroless_python_bases()\n",
    )
    .unwrap();
    fs::write(dir.path().join("app.py"), "print('app')\n").unwrap();
    fs::write(
        dir.path().join("BUILD"),
        r#"load("@rules_pyoci//rules:oci_python.bzl", "py_image")

py_binary(
    name = "app",
    srcs = ["app.py"],
)

py_image(
    name = "app_image",
    binary = ":app",
    base = "@distroless_python_base",  # pyoci: ignore[PYO040]
    env = {
        "LOG-LEVEL": "INFO",  # pyoci: ignore
        "DB_PASSWORD": "hunter2",  # pyoci: ignore[PYO060]
    },
)
"#,
    )
    .unwrap();
    let output = pyoci_lint(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "BUILD:14:24: PYO050 env \"DB_PASSWORD\" has a literal value; pass secrets at run time, not in the image\n"
    );
}

#[test]
fn labels_into_other_packages_are_checked_unless_scoped_to_the_package() {
    let default = pyoci_lint(&fixtures(), &["--select", "PYO03", "pyo032"]);
    assert_eq!(default.status.code(), Some(1), "{default:?}");
    let findings = stdout(&default);
    assert!(findings.contains("names `//pyo032/lib:helper`, which package `//pyo032/lib` does not define (did you mean `helpers`?)"), "{findings}");
    assert!(findings.contains("there is no package `//other/package`"), "{findings}");

    let scoped = pyoci_lint(&fixtures(), &["--select", "PYO03", "--labels", "package", "pyo032"]);
    let findings = stdout(&scoped);
    assert!(!findings.contains("//pyo032/lib") && !findings.contains("//other/package"), "{findings}");
    assert!(findings.contains("names `:utils`"), "labels into the package itself are still checked: {findings}");
}

#[test]
fn usage_errors_exit_2() {
    let unknown_code = pyoci_lint(&fixtures(), &["--select", "PYO999", "seed"]);
    assert_eq!(unknown_code.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_code.stderr)
        .contains("unknown diagnostic code `PYO999` in --select"));

    let missing_path = pyoci_lint(&fixtures(), &["no/such/dir"]);
    assert_eq!(missing_path.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing_path.stderr).contains("no such file or directory"));

    let bad_format = pyoci_lint(&fixtures(), &["--format", "xml", "seed"]);
    assert_eq!(bad_format.status.code(), Some(2));
}

/// `--verbose` says on stderr where checks stayed silent, one `note:` line each; the findings,
/// the JSON on stdout and the exit status do not change. A wrong `--output-base` is a usage error.
#[test]
fn verbose_notes_go_to_stderr_and_leave_the_exit_status_alone() {
    let unknowns = fixtures().join("../unknowns");
    let quiet = pyoci_lint(&unknowns, &["--format", "json"]);
    let verbose = pyoci_lint(&unknowns, &["--format", "json", "--verbose"]);
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(verbose.status.code(), Some(0));
    assert_eq!(stdout(&quiet), stdout(&verbose));
    let notes: Vec<String> = String::from_utf8_lossy(&verbose.stderr)
        .lines()
        .filter(|l| l.contains(": note: "))
        .map(str::to_owned)
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("WORKSPACE:3:6: note: `@io_bazel_rules_go` is not evaluated")),
        "{notes:#?}"
    );
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains(": note: "));

    let no_base = pyoci_lint(&unknowns, &["--output-base", "/nonexistent/output_base"]);
    assert_eq!(no_base.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_base.stderr).contains("--output-base /nonexistent/output_base: no such Bazel output base"));
}

#[test]
fn list_codes_names_every_code() {
    let output = pyoci_lint(&fixtures(), &["--list-codes"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for code in [
        "PYO001", "PYO013", "PYO020", "PYO030", "PYO040", "PYO051", "PYO063",
    ] {
        assert!(text.contains(code), "{code} missing from --list-codes");
    }
}

#[test]
fn hostile_files_get_diagnostics_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("WORKSPACE"), "").unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary", (0..=255u8).cycle().take(70_000).collect()),
        ("nul", b"py_library(name = \"a\0b\")\n".to_vec()),
        (
            "deep_parens",
            format!("X = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000)).into_bytes(),
        ),
        (
            "deep_unary",
            format!("X = {}1\n", "-".repeat(100_000)).into_bytes(),
        ),
        (
            "long_chain",
            format!("X = 1{}\n", "+1".repeat(200_000)).into_bytes(),
        ),
        (
            "repeat",
            b"X = \"x\" * 2000000000\nY = X * 2000000000\n".to_vec(),
        ),
        (
            "deep_value",
            format!(
                "X = {}1{}\npy_library(name = \"x\", srcs = X)\n",
                "[".repeat(60),
                "]".repeat(60)
            )
            .into_bytes(),
        ),
        (
            "loop",
            b"X = [y for x in range(100000) for y in range(100000)]\n".to_vec(),
        ),
        (
            "latin1",
            b"# caf\xe9\nfilegroup(name = \"\xff\")\n".to_vec(),
        ),
    ];
    for (name, bytes) in &cases {
        fs::create_dir(root.join(name)).unwrap();
        fs::write(root.join(name).join("BUILD"), bytes).unwrap();
    }
    let output = pyoci_lint(root, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    for (name, _) in &cases {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{name}/BUILD:"))),
            "no diagnostic for {name}: {text}"
        );
    }
}

/// `pyoci_lint_test` under the real Bazel (4.2.3 here): a clean package passes, a package with
/// a missing source fails with the finding in its log, and `ignore` silences it.
#[test]
fn pyoci_lint_test_rule_runs_under_bazel() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("workspace");
    let stand_ins = repo.join("tests/bazel");
    // Bazel 4's test rules depend on @remote_coverage_tools, which it would download; only
    // `bazel coverage` uses it.
    let coverage = dir.path().join("remote_coverage_tools");
    fs::create_dir_all(&coverage).unwrap();
    fs::write(coverage.join("WORKSPACE"), "").unwrap();
    fs::write(
        coverage.join("BUILD"),
        "filegroup(name = \"coverage_report_generator\", visibility = [\"//visibility:public\"])\n\
         filegroup(name = \"lcov_merger\", visibility = [\"//visibility:public\"])\n",
    )
    .unwrap();
    for package in ["svc", "bad", "tools/rules"] {
        fs::create_dir_all(root.join(package)).unwrap();
    }
    fs::write(
        root.join("WORKSPACE"),
        format!(
            "workspace(name = \"lint_test_ws\")\n\n\
             local_repository(name = \"rules_pyoci\", path = \"{}\")\n\n\
             load(\"@rules_pyoci//rules:repositories.bzl\", \"pyoci_register_toolchains\", \"rules_pyoci_dependencies\")\n\n\
             rules_pyoci_dependencies()\n\npyoci_register_toolchains()\n",
            repo.display()
        ),
    )
    .unwrap();
    fs::write(
        root.join(".bazelrc"),
        format!(
            "common --override_repository=rules_cc={rules_cc}\n\
             common --override_repository=rules_java={rules_java}\n\
             common --override_repository=platforms=/usr/share/bazel/tools/platforms\n\
             common --override_repository=remote_coverage_tools={coverage}\n\
             common --repo_env=PYOCI_BINARY={pyoci}\n",
            rules_cc = stand_ins.join("rules_cc").display(),
            rules_java = stand_ins.join("rules_java").display(),
            coverage = coverage.display(),
            pyoci = env!("CARGO_BIN_EXE_pyoci"),
        ),
    )
    .unwrap();
    let fixtures = fixtures();
    for file in ["oci_python.bzl", "BUILD.bazel"] {
        fs::copy(
            fixtures.join("tools/rules").join(file),
            root.join("tools/rules").join(file),
        )
        .unwrap();
    }
    for file in ["main.py", "service.py", "config.yaml"] {
        fs::copy(
            fixtures.join("seed").join(file),
            root.join("svc").join(file),
        )
        .unwrap();
    }
    let seed = fs::read_to_string(fixtures.join("seed/BUILD.bazel")).unwrap();
    // This workspace has no @rules_oci; rules_pyoci's oci_push takes the seed's spelling too.
    let seed = seed.replace("@rules_oci//oci:defs.bzl", "@rules_pyoci//rules:defs.bzl");
    // The seed's own mistakes (PYO025, PYO033) fixed, as a user following the linter would; the
    // image keeps the seed's tag, which its `oci_push` named `_load` loads outside the root package.
    let seed = seed
        .replace(
            "    srcs = [\"main.py\"],\n",
            "    srcs = [\"main.py\"],\n    main = \"main.py\",\n",
        )
        .replace(
            "    base = \"@distroless_python_nonroot\",  # Recommended base image\n",
            "    base = \"@distroless_python_nonroot\",  # Recommended base image\n    repo_tags = [\"localhost/my_service:latest\"],\n",
        )
        .replace(
            "    base = \"@distroless_python_debug\",",
            "    base = \"@distroless_python_debug\",\n    repo_tags = [\"localhost/my_service:debug\"],",
        );
    fs::write(
        root.join("svc/BUILD.bazel"),
        format!(
            "{seed}\nload(\"@rules_pyoci//rules:defs.bzl\", \"pyoci_lint_test\")\n\n\
             pyoci_lint_test(\n    name = \"lint\",\n    bzl = [\"//tools/rules:oci_python.bzl\"],\n)\n"
        ),
    )
    .unwrap();
    fs::write(root.join("bad/app.py"), "print('app')\n").unwrap();
    fs::write(
        root.join("bad/BUILD.bazel"),
        "load(\"@rules_pyoci//rules:defs.bzl\", \"pyoci_lint_test\")\n\n\
         py_binary(\n    name = \"app\",\n    srcs = [\"app.py\", \"missing.py\"],\n)\n\n\
         pyoci_lint_test(name = \"lint\")\n\n\
         pyoci_lint_test(\n    name = \"lint_ignoring\",\n    ignore = [\"PYO031\"],\n)\n",
    )
    .unwrap();

    let output = Command::new("bazel")
        .arg(format!(
            "--output_base={}",
            dir.path().join("output_base").display()
        ))
        .arg("--batch")
        .args([
            "test",
            "--test_output=errors",
            "//svc:lint",
            "//bad:lint",
            "//bad:lint_ignoring",
        ])
        .current_dir(&root)
        .output()
        .expect("bazel runs (apt-get install bazel-bootstrap)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let status = |target: &str| {
        text.lines()
            .find(|l| l.starts_with(target) && (l.contains("PASSED") || l.contains("FAILED")))
            .map(|l| {
                if l.contains("PASSED") {
                    "PASSED"
                } else {
                    "FAILED"
                }
            })
    };
    assert_eq!(status("//svc:lint "), Some("PASSED"), "{text}");
    assert_eq!(status("//bad:lint_ignoring "), Some("PASSED"), "{text}");
    assert_eq!(status("//bad:lint "), Some("FAILED"), "{text}");
    assert!(
        text.contains("bad/BUILD.bazel:5:23: PYO031 `srcs` of `py_binary` names the file `missing.py`, which does not exist in package `//bad`"),
        "{text}"
    );
}

/// A file that makes the allocator abort kills only the worker linting it: that file gets a
/// PYO005 finding and the files after it are still linted. The address-space limit makes the
/// 4.8 GB allocation fail at once instead of paging the machine.
#[test]
fn a_file_that_kills_the_worker_gets_pyo005_and_the_rest_is_linted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("WORKSPACE"), "").unwrap();
    for (package, build) in [
        ("a", "filegroup(name = \"a\", srcs = [\"missing_a\"])\n"),
        ("b", "X = sorted(range(300000000))\n"),
        ("c", "filegroup(name = \"c\", srcs = [\"missing_c\"])\n"),
    ] {
        fs::create_dir(root.join(package)).unwrap();
        fs::write(root.join(package).join("BUILD"), build).unwrap();
    }
    let output = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 3000000 && exec \"$0\" lint",
            env!("CARGO_BIN_EXE_pyoci"),
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        "a/BUILD:1:31: PYO032 `srcs` of `filegroup` names `:missing_a`, which package `//a` does not define\n\
         b/BUILD:1:1: PYO004 the file needs more memory than the linter's budget of 1024 MiB (signal: 6 (SIGABRT): memory allocation of 4800000000 bytes failed); it is not linted\n\
         c/BUILD:1:31: PYO032 `srcs` of `filegroup` names `:missing_c`, which package `//c` does not define\n"
    );
}

/// `lambda: lambda: ...` once slipped past the nesting limit and took gigabytes: now it is
/// refused before parsing, within 200 MB and 5 s (GNU time measures the command's peak).
#[test]
fn nested_lambdas_are_refused_within_200_mb_and_5_s() {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time (/usr/bin/time) measures peak memory here: install it (apt-get install time)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("WORKSPACE"), "").unwrap();
    fs::create_dir(root.join("a")).unwrap();
    // 80 KB of nested lambdas.
    fs::write(root.join("a/BUILD"), format!("X = {}1\n", "lambda: ".repeat(10_000))).unwrap();
    let report = root.join("time.txt");
    let started = std::time::Instant::now();
    let output = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_pyoci"))
        .args(["lint", "a"])
        .current_dir(root)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output).starts_with("a/BUILD:1:") && stdout(&output).contains(" PYO004 expression nesting is deeper than the linter's limit of 400"),
        "{}",
        stdout(&output)
    );
    let peak_kb: u64 = fs::read_to_string(&report)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time wrote the peak resident size");
    assert!(peak_kb < 200 * 1024, "peak memory {peak_kb} KB");
    assert!(elapsed < std::time::Duration::from_secs(5), "took {elapsed:?}");
}

/// A BUILD or .bzl file that is a symbolic link out of the workspace is neither linted nor
/// loaded, so its text never reaches a message.
#[test]
fn symlinks_out_of_the_workspace_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.bzl"), "password = 'hunter2' +\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("WORKSPACE"), "").unwrap();
    fs::create_dir(root.join("a")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.bzl"), root.join("a/leak.bzl")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.bzl"), root.join("a/BUILD")).unwrap();
    fs::create_dir(root.join("b")).unwrap();
    fs::write(root.join("b/BUILD"), "load(\"//a:leak.bzl\", \"password\")\n\nfilegroup(name = \"x\", srcs = [password])\n").unwrap();
    let output = pyoci_lint(root, &[]);
    let text = stdout(&output);
    assert!(!text.contains("hunter2"), "{text}");
    assert_eq!(
        text,
        "b/BUILD:1:6: PYO010 cannot load //a:leak.bzl: a/leak.bzl is a symbolic link out of the workspace; the linter does not follow it\n"
    );
}
