//! One test per diagnostic code, on the fixture workspace under tests/fixtures/workspace (its
//! BUILD files load this repository's real rules through `@rules_pyoci`), asserting the exact
//! `path:line:col: CODE message` lines.

use std::fs;
use std::path::{Path, PathBuf};

use pyoci_lint::{codes, lint, Diagnostic, Options};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace")
}

fn lint_in(base: &Path, path: &str) -> Vec<String> {
    let report =
        lint(base, &[PathBuf::from(path)], &Options::default()).expect("the fixture path exists");
    report
        .diagnostics
        .iter()
        .map(Diagnostic::to_text_line)
        .collect()
}

fn lint_package(package: &str) -> Vec<String> {
    lint_in(&fixtures(), package)
}

#[test]
fn seed_document_build_file_has_the_missing_main_and_a_load_target_clash() {
    // Outside the root package the seed's image loads as `localhost/seed/my_service`, so its
    // `oci_push` named `my_service_image_load` (loading `localhost/my_service`) clashes with
    // py_image's own load target. The debug image takes `localhost/seed/my_service:debug_image`.
    assert_eq!(
        lint_package("seed"),
        [
            "seed/BUILD.bazel:5:1: PYO025 `py_binary` `my_service` has no `main` and no source named `my_service.py`: Bazel fails its analysis; add `main = \"main.py\"`",
            "seed/BUILD.bazel:39:12: PYO024 target `my_service_image_load` is already defined on line 24",
        ]
    );
}

/// A copy of a fixture directory in a temporary directory, to edit.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name), dir.path());
    // rules_pyoci is this checkout, wherever the copy is.
    let workspace = dir.path().join("WORKSPACE.bazel");
    if let Ok(text) = fs::read_to_string(&workspace) {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        fs::write(&workspace, text.replace("../../../../..", &checkout.display().to_string())).unwrap();
    }
    dir
}

/// The "Simple Service" block of the seed document (docs/container-workflow), as users copy it.
const SEED_BLOCK: &str = r#"load("//tools/rules:oci_python.bzl", "py_image")
load("@rules_oci//oci:defs.bzl", "oci_push")

# First define your py_binary target as usual
py_binary(
    name = "my_service",
    srcs = ["main.py"],
    deps = [":my_service_lib"],
)

# Then add container image configuration
py_image(
    name = "my_service_image",
    binary = ":my_service",
    base = "@distroless_python_nonroot",  # Recommended base image
    env = {
        # Add environment variables if needed
        "LOG_LEVEL": "INFO",
    },
    labels = {
        "org.opencontainers.image.description": "My service description",
        "org.opencontainers.image.version": "1.0.0",
    },
)

# Add a target to load the image into Docker
oci_push(
    name = "my_service_image_load",
    image = ":my_service_image",
    repository = "localhost/my_service",
    format = "docker",
)
"#;

/// The seed document's BUILD block in a workspace that never declares @rules_oci: exactly the
/// two mistakes that stopped a user (the block's `:my_service_lib` is defined beside it).
#[test]
fn seed_block_undeclared_rules_oci_and_missing_main_then_clean() {
    let dir = copy_fixture("seed_workspace");
    // The fixture's BUILD file is the seed document's block, byte for byte, plus the library it
    // names.
    let build_text = fs::read_to_string(dir.path().join("BUILD.bazel")).unwrap();
    assert!(build_text.starts_with(SEED_BLOCK), "{build_text}");
    assert_eq!(
        lint_in(dir.path(), "."),
        [
            "BUILD.bazel:2:6: PYO014 load() of \"@rules_oci//oci:defs.bzl\" names `@rules_oci`, which the workspace does not declare: Bazel fails with \"no such repository\"; declare it in WORKSPACE.bazel, e.g. `http_archive(name = \"rules_oci\", urls = [...], sha256 = ...)`",
            "BUILD.bazel:5:1: PYO025 `py_binary` `my_service` has no `main` and no source named `my_service.py`: Bazel fails its analysis; add `main = \"main.py\"`",
        ]
    );
    let workspace = dir.path().join("WORKSPACE.bazel");
    let mut text = fs::read_to_string(&workspace).unwrap();
    text.push_str("\nload(\"@bazel_tools//tools/build_defs/repo:http.bzl\", \"http_archive\")\n\nhttp_archive(\n    name = \"rules_oci\",\n    urls = [\"https://example.invalid/rules_oci.tar.gz\"],\n)\n");
    fs::write(&workspace, text).unwrap();
    let build = dir.path().join("BUILD.bazel");
    let text = fs::read_to_string(&build).unwrap();
    fs::write(&build, text.replace("    srcs = [\"main.py\"],\n", "    srcs = [\"main.py\"],\n    main = \"main.py\",\n")).unwrap();
    assert_eq!(lint_in(dir.path(), "."), Vec::<String>::new());
}

fn lint_with(base: &Path, options: &Options) -> (Vec<String>, Vec<String>) {
    let report = lint(base, &[PathBuf::from(".")], options).expect("the fixture path exists");
    (
        report.diagnostics.iter().map(Diagnostic::to_text_line).collect(),
        report.notes.iter().map(pyoci_lint::Note::to_text_line).collect(),
    )
}

/// A macro of another repository, fetched into Bazel's output base (WORKSPACE mode: the
/// repository's directory has its apparent name). Found through the `bazel-<dir name>` symlink
/// or `--output-base`, it runs as written: the attribute it forwards to `genrule` and the targets
/// it defines are checked. Without the output base it is unknown and nothing is reported.
#[test]
fn macros_of_fetched_repositories_run_as_written() {
    let dir = copy_fixture("fetched");
    let workspace = dir.path().join("workspace");
    let verbose = Options { verbose: true, ..Options::default() };
    let found = [
        "BUILD.bazel:6:5: PYO020 `text_bundle` has no attribute `tag` (did you mean `tags`?)",
        "BUILD.bazel:11:13: PYO032 `srcs` of `filegroup` names `:notes_file`, which package `//` does not define (did you mean `notes_files`?)",
    ];

    // Not built: silence, and --verbose says why.
    let (diagnostics, notes) = lint_with(&workspace, &verbose);
    assert_eq!(diagnostics, Vec::<String>::new());
    assert_eq!(
        notes,
        ["BUILD.bazel:1:6: note: `@company_macros` is not evaluated (no Bazel output base: build or fetch the workspace, or pass --output-base): `text_bundle` unknown here; checks that depend on it are off (attributes of what it makes, PYO020-PYO023; its targets, PYO031/PYO032)"]
    );

    // Built: Bazel's convenience symlink leads to the output base.
    std::os::unix::fs::symlink(
        dir.path().join("output_base/execroot/fetched_ws"),
        workspace.join("bazel-workspace"),
    )
    .unwrap();
    let (diagnostics, notes) = lint_with(&workspace, &verbose);
    assert_eq!(diagnostics, found);
    assert_eq!(notes, Vec::<String>::new());

    // Given explicitly.
    fs::remove_file(workspace.join("bazel-workspace")).unwrap();
    let explicit = Options {
        output_base: Some(dir.path().join("output_base")),
        ..Options::default()
    };
    assert_eq!(lint_with(&workspace, &explicit).0, found);

    // The same BUILD file written correctly is clean with the macro evaluated.
    let build = workspace.join("BUILD.bazel");
    let text = fs::read_to_string(&build).unwrap();
    fs::write(&build, text.replace("tag = ", "tags = ").replace(":notes_file\"", ":notes_files\"")).unwrap();
    assert_eq!(lint_with(&workspace, &explicit).0, Vec::<String>::new());
}

/// Under bzlmod the output base names repositories canonically (`company_macros~`, or
/// `company_macros+` in Bazel 8); a `load()` names the apparent name, here renamed by
/// `bazel_dep(repo_name = ...)`.
#[test]
fn fetched_repositories_are_found_by_canonical_names() {
    for separator in ["~", "+"] {
        let dir = copy_fixture("fetched");
        let external = dir.path().join("output_base/external");
        fs::rename(external.join("company_macros"), external.join(format!("company_macros{separator}"))).unwrap();
        // An extension's repository whose apparent name would clash is left out.
        fs::create_dir_all(external.join(format!("other{separator}{separator}ext{separator}macros"))).unwrap();
        let workspace = dir.path().join("workspace");
        fs::remove_file(workspace.join("WORKSPACE")).unwrap();
        fs::write(
            workspace.join("MODULE.bazel"),
            "module(name = \"fetched_ws\")\n\nbazel_dep(name = \"company_macros\", version = \"1.0\", repo_name = \"macros\")\n",
        )
        .unwrap();
        let build = workspace.join("BUILD.bazel");
        let text = fs::read_to_string(&build).unwrap();
        fs::write(&build, text.replace("@company_macros//", "@macros//")).unwrap();
        let options = Options {
            output_base: Some(dir.path().join("output_base")),
            ..Options::default()
        };
        let (diagnostics, _) = lint_with(&workspace, &options);
        assert_eq!(diagnostics.len(), 2, "{separator}: {diagnostics:?}");
        assert!(diagnostics[0].contains("PYO020 `text_bundle` has no attribute `tag`"), "{diagnostics:?}");
    }
}

/// Code of a fetched repository that the linter's stand-ins cannot run is unknown, not an
/// error: no PYO002/PYO010 at the BUILD file, and --verbose says so.
#[test]
fn fetched_code_that_does_not_evaluate_is_unknown() {
    let dir = copy_fixture("fetched");
    let macros = dir.path().join("output_base/external/company_macros");
    fs::write(
        macros.join("naming.bzl"),
        "def files_name(name):\n    return name + 1\n",
    )
    .unwrap();
    fs::write(
        macros.join("broken.bzl"),
        "X = {}.nope\n",
    )
    .unwrap();
    let workspace = dir.path().join("workspace");
    fs::write(
        workspace.join("BUILD.bazel"),
        "load(\"@company_macros//:defs.bzl\", \"text_bundle\")\nload(\"@company_macros//:broken.bzl\", \"X\")\n\ntext_bundle(name = \"notes\", srcs = [\"a.txt\"] + X)\n\nfilegroup(name = \"all\", srcs = [\":notes_files\"])\n",
    )
    .unwrap();
    let options = Options {
        output_base: Some(dir.path().join("output_base")),
        verbose: true,
        ..Options::default()
    };
    let (diagnostics, notes) = lint_with(&workspace, &options);
    assert_eq!(diagnostics, Vec::<String>::new());
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].starts_with("BUILD.bazel:2:6: note: @company_macros//:broken.bzl does not evaluate under the linter's stand-ins"), "{notes:?}");
    assert!(notes[1].starts_with("BUILD.bazel:4:1: note: `text_bundle` stopped on a value the linter cannot know"), "{notes:?}");
}

fn new_checks(code: &str) -> Vec<String> {
    let dir = copy_fixture("new_checks");
    lint_in(dir.path(), ".")
        .into_iter()
        .filter(|line| line.contains(code))
        .collect()
}

#[test]
fn pyo025_missing_main() {
    assert_eq!(
        new_checks("PYO025"),
        ["c/BUILD:3:1: PYO025 `py_binary` `tool` has no `main` and no source named `tool.py`: Bazel fails its analysis; set `main` to the file that starts it"]
    );
}

#[test]
fn pyo033_image_tag_collision() {
    assert_eq!(
        new_checks("PYO033"),
        ["b/BUILD:9:1: PYO033 `//b:image` would load `localhost/a/svc:latest`, the tag `//a:svc_image` (a/BUILD:8) already loads: the later `bazel run` replaces the other image; give one of them `repo_tags`"]
    );
}

#[test]
fn pyo014_undeclared_repository_and_the_other_new_checks() {
    let dir = copy_fixture("new_checks");
    assert_eq!(
        lint_in(dir.path(), "."),
        [
            "b/BUILD:9:1: PYO033 `//b:image` would load `localhost/a/svc:latest`, the tag `//a:svc_image` (a/BUILD:8) already loads: the later `bazel run` replaces the other image; give one of them `repo_tags`",
            "c/BUILD:1:6: PYO014 load() of \"@rules_docker//container:image.bzl\" names `@rules_docker`, which the workspace does not declare: Bazel fails with \"no such repository\"; declare it in WORKSPACE.bazel, e.g. `http_archive(name = \"rules_docker\", urls = [...], sha256 = ...)`",
            "c/BUILD:3:1: PYO025 `py_binary` `tool` has no `main` and no source named `tool.py`: Bazel fails its analysis; set `main` to the file that starts it",
            "c/BUILD:6:13: PYO014 `deps` of `py_binary` names `@pypi`, which the workspace does not declare: Bazel fails with \"no such repository\"; declare it in WORKSPACE.bazel, e.g. `http_archive(name = \"pypi\", urls = [...], sha256 = ...)`",
        ]
    );
}

/// Values from repositories the linter does not evaluate are unknown, and nothing that depends
/// on them is reported: partial schemas, unseen outputs, a macro's value, skylib's predicates,
/// build settings, label-keyed dicts, `//external`, repositories a macro may declare.
#[test]
fn unknowns_silence_what_depends_on_them() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unknowns");
    assert_eq!(lint_in(&base, "."), Vec::<String>::new());
}

/// The false findings a corpus of public repositories showed, each cause in its smallest form:
/// a .bzl file in a directory without a BUILD file (its package is the parent's), a tombstone
/// .bzl that fails on purpose, a macro that fails after deciding on data of an unevaluated
/// repository (a BUILD macro and a WORKSPACE macro), labels a macro writes itself, a workspace
/// nested in another that names the outer one's repositories, the BUILD prelude's names, and a
/// .bzl file a .gitignore names (generated where it is used), and a file in a package the
/// .bazelrc deletes (`--deleted_packages`).
#[test]
fn corpus_false_positive_causes_stay_silent() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus_causes");
    assert_eq!(lint_in(&base, "."), Vec::<String>::new());
    // Each silence is explained under --verbose.
    let options = Options { verbose: true, ..Options::default() };
    let report = lint(&base, &[PathBuf::from(".")], &options).unwrap();
    let notes: Vec<String> = report.notes.iter().map(pyoci_lint::Note::to_text_line).collect();
    for expected in [
        "lib/old.bzl:3:1: note: the file fails on purpose when loaded",
        "versions/BUILD:3:2: note: `node_image` stopped on a value the linter cannot know",
        "pythons/WORKSPACE:6:1: note: evaluation stopped on a value the linter cannot know",
    ] {
        assert!(notes.iter().any(|n| n.starts_with(expected)), "{expected}\n{notes:#?}");
    }
}

#[test]
fn pyo001_syntax_error() {
    assert_eq!(lint_package("pyo001"), ["pyo001/BUILD:4:5: PYO001 Parse error: unexpected identifier 'deps', expected symbol ')'"]);
}

#[test]
fn pyo002_evaluation_error() {
    assert_eq!(
        lint_package("pyo002"),
        [
            "pyo002/BUILD:3:1: PYO002 `failing_macro` failed: fail: failing_macro first: always fails",
            "pyo002/BUILD:5:9: PYO002 Operation `+` not supported for types `string` and `int`",
        ]
    );
}

#[test]
fn pyo003_invalid_encoding() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("WORKSPACE"), "").unwrap();
    fs::write(
        dir.path().join("BUILD"),
        b"filegroup(\n    name = \"caf\xe9\",\n)\n",
    )
    .unwrap();
    assert_eq!(
        lint_in(dir.path(), "BUILD"),
        ["BUILD:2:16: PYO003 file is not valid UTF-8 (byte 0xe9 at offset 26)"]
    );
}

#[test]
fn pyo004_limit_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("WORKSPACE"), "").unwrap();
    fs::create_dir(dir.path().join("deep")).unwrap();
    fs::write(
        dir.path().join("deep/BUILD"),
        format!("X = {}1{}\n", "[".repeat(5000), "]".repeat(5000)),
    )
    .unwrap();
    fs::create_dir(dir.path().join("huge")).unwrap();
    let comment_line = format!("# {}\n", "x".repeat(1000));
    fs::write(dir.path().join("huge/BUILD"), comment_line.repeat(9 * 1024)).unwrap();
    fs::create_dir(dir.path().join("slow")).unwrap();
    fs::write(
        dir.path().join("slow/BUILD"),
        "X = [i for i in range(100000000)]\n",
    )
    .unwrap();
    assert_eq!(
        lint_in(dir.path(), "."),
        [
            "deep/BUILD:1:404: PYO004 expression nesting is deeper than the linter's limit of 400; the file is not evaluated",
            "huge/BUILD:1:1: PYO004 file is 9243648 bytes; files over 8 MiB are not linted",
            "slow/BUILD:1:1: PYO004 Execution duration limit of 5000000 ticks has been exceeded",
        ]
    );
}

#[test]
fn pyo006_build_file_restriction() {
    assert_eq!(
        lint_package("pyo006"),
        ["pyo006/BUILD:1:1: PYO006 `def` is not allowed in BUILD files; move the logic into a macro in a .bzl file"]
    );
}

#[test]
fn pyo007_unreadable_file() {
    // Reading /proc/self/mem from offset 0 fails with EIO: a file that opens but cannot be read.
    assert_eq!(
        lint_in(&fixtures(), "/proc/self/mem"),
        ["/proc/self/mem:1:1: PYO007 cannot read the file: Input/output error (os error 5)"]
    );
}

#[test]
fn pyo010_load_failed() {
    assert_eq!(
        lint_package("pyo010"),
        [
            "pyo010/BUILD:1:6: PYO010 cannot load //tools/rules:missing.bzl: cannot read tools/rules/missing.bzl: No such file or directory (os error 2)",
            "pyo010/BUILD:2:6: PYO010 cannot load @rules_pyoci//rules:nowhere.bzl: rules_pyoci has no file rules/nowhere.bzl",
        ]
    );
}

#[test]
fn pyo011_load_missing_symbol() {
    assert_eq!(
        lint_package("pyo011"),
        [
            "pyo011/BUILD:1:44: PYO011 @rules_pyoci//rules:oci_python.bzl does not export `py_imagee` (did you mean `py_image`?)",
            "pyo011/BUILD:2:33: PYO011 `_bundle_impl` is private to //tools/rules:rules.bzl",
        ]
    );
}

#[test]
fn pyo012_unused_load() {
    assert_eq!(
        lint_package("pyo012"),
        ["pyo012/BUILD:2:38: PYO012 `oci_push` is loaded but never used"]
    );
}

#[test]
fn pyo013_undefined_name() {
    assert_eq!(
        lint_package("pyo013"),
        [
            "pyo013/BUILD:6:1: PYO013 `py_image` is not defined (load it: load(\"@rules_pyoci//rules:oci_python.bzl\", \"py_image\"))",
            "pyo013/BUILD:12:1: PYO013 `py_libary` is not defined (did you mean `py_library`?)",
            "pyo013/BUILD:14:12: PYO013 `SOURCES` is not defined",
        ]
    );
}

#[test]
fn pyo020_unknown_attribute() {
    assert_eq!(
        lint_package("pyo020"),
        [
            "pyo020/BUILD:7:5: PYO020 `py_binary` has no attribute `dependencies`",
            "pyo020/BUILD:14:5: PYO020 `py_image` has no attribute `lables` (did you mean `labels`?)",
            "pyo020/BUILD:20:5: PYO020 `bundle` has no attribute `moed` (did you mean `mode`?)",
            "pyo020/BUILD:26:5: PYO020 `bundle_set` has no attribute `colour`",
        ]
    );
}

#[test]
fn pyo021_wrong_attribute_type() {
    assert_eq!(
        lint_package("pyo021"),
        [
            "pyo021/BUILD:6:23: PYO021 `srcs` of `py_binary` must be a list of labels; element 2 is an int",
            "pyo021/BUILD:7:16: PYO021 `testonly` of `py_binary` must be a bool; got a string",
            "pyo021/BUILD:14:11: PYO021 `env` of `py_image` must be a dict of string to string; got a list",
            "pyo021/BUILD:20:13: PYO021 `level` of `bundle` must be an int; got a string",
            "pyo021/BUILD:21:13: PYO021 `extra` of `bundle` must be a dict of string to string; the value of \"key\" is an int",
        ]
    );
}

#[test]
fn pyo022_missing_mandatory_attribute() {
    assert_eq!(
        lint_package("pyo022"),
        [
            "pyo022/BUILD:9:1: PYO022 `py_image` is missing the mandatory attribute `base`",
            "pyo022/BUILD:14:1: PYO022 `bundle` is missing the mandatory attribute `owner`",
            "pyo022/BUILD:16:1: PYO022 `genrule` is missing the mandatory attribute `outs`",
        ]
    );
}

#[test]
fn pyo023_attribute_value_not_allowed() {
    assert_eq!(
        lint_package("pyo023"),
        [
            "pyo023/BUILD:7:22: PYO023 `python_version` of `py_binary` must be \"PY2\", \"PY3\" or a Python version such as \"3.11\"; got \"PY4\" (did you mean `PY2`?)",
            "pyo023/BUILD:14:19: PYO023 `compression` of `py_image` must be one of \"gzip\", \"zstd\"; got \"zstandard\"",
            "pyo023/BUILD:20:12: PYO023 `mode` of `bundle` must be one of \"fast\", \"small\"; got \"smal\" (did you mean `small`?)",
        ]
    );
}

#[test]
fn pyo024_duplicate_target() {
    assert_eq!(
        lint_package("pyo024"),
        [
            "pyo024/BUILD:9:12: PYO024 target `app` is already defined on line 4",
            "pyo024/BUILD:20:12: PYO024 target `image_load` is already defined on line 14",
        ]
    );
}

#[test]
fn pyo030_binary_not_py_binary() {
    assert_eq!(
        lint_package("pyo030"),
        [
            "pyo030/BUILD:16:14: PYO030 `binary` of `py_image` must name a py_binary; `:lib` is a py_library",
            "pyo030/BUILD:22:14: PYO030 `binary` of `py_service_image` names `:servr`, which is not a target in this package (did you mean `server`?)",
            "pyo030/BUILD:33:14: PYO030 `binary` of `py_image` must name a py_binary; `//pyo030/other:shared` is a py_library",
        ]
    );
}

#[test]
fn pyo031_missing_file() {
    assert_eq!(
        lint_package("pyo031"),
        [
            "pyo031/BUILD:3:23: PYO031 `srcs` of `py_binary` names the file `helpers.py`, which does not exist in package `//pyo031`",
            "pyo031/BUILD:4:13: PYO031 `data` of `py_binary` names the file `config.yml`, which does not exist in package `//pyo031` (did you mean `config.yaml`?)",
            "pyo031/BUILD:7:16: PYO031 exports_files names `schema.json`, which does not exist in this package",
        ]
    );
}

#[test]
fn pyo032_unknown_target() {
    assert_eq!(
        lint_package("pyo032"),
        [
            "pyo032/BUILD:11:13: PYO032 `deps` of `py_binary` names `:utils`, which package `//pyo032` does not define (did you mean `util`?)",
            "pyo032/BUILD:11:23: PYO032 `deps` of `py_binary` names `//other/package:lib`, but there is no package `//other/package`: `other/package/` has no BUILD or BUILD.bazel file",
            "pyo032/BUILD:16:13: PYO032 `image` of `oci_load` names `:app_image`, which package `//pyo032` does not define",
            // Labels into other packages of the workspace are checked against what their BUILD
            // files define and what is on disk there.
            "pyo032/BUILD:22:41: PYO031 `data` of `py_binary` names the file `config.json`, which does not exist in package `//pyo032/lib`",
            "pyo032/BUILD:23:37: PYO032 `deps` of `py_binary` names `//pyo032/lib:helper`, which package `//pyo032/lib` does not define (did you mean `helpers`?)",
            "pyo032/BUILD:23:60: PYO032 `deps` of `py_binary` names `//pyo032/lib:lib`, which package `//pyo032/lib` does not define",
        ]
    );
}

#[test]
fn pyo040_root_image() {
    assert_eq!(
        lint_package("pyo040"),
        [
            "pyo040/BUILD:11:12: PYO040 `app_image` runs as root: `@distroless_python_base` is a root base; use `@distroless_python_nonroot` for production images",
            "pyo040/BUILD:18:12: PYO040 `app_root_user_image` runs as root (user = \"0\"); production images should run as a non-root user such as 65532",
        ]
    );
}

#[test]
fn pyo041_debug_base() {
    assert_eq!(
        lint_package("pyo041"),
        ["pyo041/BUILD:11:12: PYO041 `app_image` uses the debug base `@distroless_python_debug_nonroot`, which has a shell; use it only in targets named or tagged `debug`"]
    );
}

#[test]
fn pyo050_secret_literal() {
    assert_eq!(
        lint_package("pyo050"),
        [
            "pyo050/BUILD:13:24: PYO050 env \"DB_PASSWORD\" has a literal value; pass secrets at run time, not in the image",
            "pyo050/BUILD:14:27: PYO050 env \"STRIPE_API_KEY\" has a literal value; pass secrets at run time, not in the image",
            "pyo050/BUILD:15:25: PYO050 env \"GITHUB_TOKEN\" has a literal value; pass secrets at run time, not in the image",
            "pyo050/BUILD:20:43: PYO050 label \"com.example.deploy_token\" has a literal value; pass secrets at run time, not in the image",
        ]
    );
}

#[test]
fn pyo051_credential_value() {
    assert_eq!(
        lint_package("pyo051"),
        [
            "pyo051/BUILD:13:30: PYO051 env \"AWS_ACCESS_KEY_ID\" holds what looks like an AWS access key; images must not carry credentials",
            "pyo051/BUILD:14:25: PYO051 env \"DATABASE_URL\" holds what looks like a URL with a password; images must not carry credentials",
            "pyo051/BUILD:15:20: PYO051 env \"TLS_KEY\" holds what looks like a private key; images must not carry credentials",
            "pyo051/BUILD:18:38: PYO051 annotation \"com.example.ci\" holds what looks like a GitHub token; images must not carry credentials",
        ]
    );
}

#[test]
fn pyo060_invalid_env_name() {
    assert_eq!(
        lint_package("pyo060"),
        [
            "pyo060/BUILD:13:9: PYO060 env name \"LOG-LEVEL\" is not a valid variable name (letters, digits and `_`, not starting with a digit)",
            "pyo060/BUILD:14:9: PYO060 env name \"2FA_MODE\" is not a valid variable name (letters, digits and `_`, not starting with a digit)",
        ]
    );
}

#[test]
fn pyo061_unknown_oci_label() {
    assert_eq!(
        lint_package("pyo061"),
        [
            "pyo061/BUILD:13:9: PYO061 label key \"org.opencontainers.image.verison\" is not a key the OCI image spec defines (did you mean `org.opencontainers.image.version`?)",
            "pyo061/BUILD:14:9: PYO061 label key \"org.opencontainer.image.source\" is not an OCI key (did you mean `org.opencontainers.image.source`?)",
            "pyo061/BUILD:15:9: PYO061 label key \"org.opencontainers.image.maintainer\" is not a key the OCI image spec defines",
        ]
    );
}

#[test]
fn pyo062_invalid_version_label() {
    assert_eq!(
        lint_package("pyo062"),
        ["pyo062/BUILD:12:51: PYO062 label \"org.opencontainers.image.version\" is \"latest\", which is not a version (e.g. \"1.2.3\", or \"{STABLE_VERSION}\" with stamping)"]
    );
}

#[test]
fn pyo063_invalid_reference() {
    assert_eq!(
        lint_package("pyo063"),
        [
            "pyo063/BUILD:13:39: PYO063 `repo_tags` entry \"Localhost/App:latest\" of `py_image`: repository \"Localhost/App\" must be lower case (use \"localhost/app\")",
            "pyo063/BUILD:19:18: PYO063 repository \"ghcr.io/acme/app:1.0\" of `oci_push` contains a tag (`:1.0`); give tags separately, not in the repository",
            "pyo063/BUILD:25:18: PYO063 repository \"ghcr.io/Acme/App\" of `oci_push` must be lower case (use \"ghcr.io/acme/app\")",
            "pyo063/BUILD:26:26: PYO063 `remote_tags` entry \"not a tag\" of `oci_push`: is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128)",
            "pyo063/BUILD:32:18: PYO063 repository \"ghcr.io/\" of `oci_push` has an empty path component (a leading, trailing or doubled `/`)",
        ]
    );
}

#[test]
fn every_code_has_a_test_and_documentation() {
    let tests = include_str!("codes.rs").to_lowercase();
    let unit_tests = include_str!("../src/lib.rs").to_lowercase();
    let readme = include_str!("../README.md");
    for info in codes::ALL {
        let test_name = format!("fn {}_", info.code.to_lowercase());
        assert!(
            tests.contains(&test_name) || unit_tests.contains(&test_name),
            "no test for {}",
            info.code
        );
        assert!(
            readme.contains(&format!("| {} |", info.code)),
            "README.md does not document {}",
            info.code
        );
    }
}

#[test]
fn the_repository_itself_lints_clean() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo = repo.canonicalize().unwrap();
    for tree in [
        "rules",
        "examples",
        "tests",
        "tools",
        "MODULE.bazel",
        "WORKSPACE.bazel",
        "BUILD.bazel",
    ] {
        assert_eq!(
            lint_in(&repo, tree),
            Vec::<String>::new(),
            "{tree} should lint clean"
        );
    }
}

#[test]
fn lint_bytes_reads_nothing_from_disk() {
    let diagnostics = pyoci_lint::lint_bytes(
        "BUILD.bazel",
        b"filegroup(name = \"all\", srcs = glob([\"**\"]))\nfilegroup(name = \"one\", srcs = [\"a.txt\"])\n",
    );
    let lines: Vec<String> = diagnostics.iter().map(Diagnostic::to_text_line).collect();
    assert_eq!(
        lines,
        ["BUILD.bazel:2:33: PYO031 `srcs` of `filegroup` names the file `a.txt`, which does not exist in package `//`"]
    );
}
