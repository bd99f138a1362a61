use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pyoci_check::structure::podman::{PodmanOptions, PodmanStore};
use pyoci_check::structure::{
    environment, run_static_checks, CheckResult, CstCompat, Spec, DEFAULT_MAX_FILE_BYTES,
};
use pyoci_manifest::Layout;

use super::index::split_layout_ref;

/// Run container-structure-test specs against an image: one PASS/FAIL line per check (a
/// failure shows expected vs actual), then a summary; exit 1 if any check fails.
///
/// The spec is container-structure-test's own file, schema version 2.0.0, JSON (.json) or
/// YAML (.yaml/.yml), with all its sections: globalEnvVars, containerRunOptions (user,
/// privileged, allocateTty, envVars, envFile, capabilities, bindMounts), commandTests (setup,
/// teardown, envVars, command, args, expected/excludedOutput, expected/excludedError,
/// exitCode), fileExistenceTests, fileContentTests, metadataTest and licenseTests. Verdicts
/// are CST's, including its quirks: in a .json spec an absent shouldExist is false and an
/// absent uid or gid is compared with 0 (in YAML shouldExist defaults to true and ownership is
/// only checked when given); permissions are Go's rendering (-rw-r--r--, dtrwxrwxrwx for a
/// sticky directory, Lrwxrwxrwx for a symlink, urwxr-xr-x for setuid); ports are compared by
/// number; $VAR in paths and command lines comes from the image's environment.
///
/// File, license and metadata checks read the layers directly (content at most
/// --max-file-bytes per file). Command tests load the image into a private podman store (its
/// own --root/--runroot/--tmpdir in a temporary directory, emptied and removed afterwards)
/// and run each command in a new container with --network none, the entrypoint cleared;
/// setup commands run and are committed first, teardown commands are not run (each test's
/// container is thrown away), as in CST's docker driver.
///
/// Deliberate differences from CST, each undone by --strict-cst: permissions may also be
/// written ls -l style (drwxrwxrwt, lrwxrwxrwx) or octal (0644), and ports with a protocol
/// (8080/tcp), where CST always fails; a relative symlink is followed from its own directory
/// (CST reads its target from /); per-test envVars still apply when containerRunOptions is
/// set (CST drops them); a variable named in containerRunOptions.envVars but unset here is
/// skipped (CST fails every command test); unknown fields in a .json spec are errors (CST
/// ignores them).
#[derive(clap::Args)]
#[command(verbatim_doc_comment, after_help = "Example:\n  pyoci test bazel-bin/app/image --spec app/image_test.json")]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it.
    #[arg(value_name = "LAYOUT[:REF]")]
    image: String,

    /// The container-structure-test spec (.json, .yaml or .yml).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,

    /// The podman binary that runs command tests (only needed when there are command tests).
    #[arg(long, value_name = "PATH", default_value = "podman")]
    podman: PathBuf,

    /// OCI runtime podman uses (podman --runtime). An empty value keeps podman's default.
    #[arg(long, value_name = "NAME", default_value = "runc")]
    runtime: String,

    /// Cgroup manager podman uses (podman --cgroup-manager). Empty keeps podman's default.
    #[arg(long, value_name = "MANAGER", default_value = "cgroupfs")]
    cgroup_manager: String,

    /// Resource limit for each test container (podman run --ulimit; repeatable). Defaults stay
    /// under common hard limits, which podman's own defaults may exceed.
    #[arg(
        long = "ulimit",
        value_name = "NAME=SOFT:HARD",
        default_values_t = ["nofile=20000:20000".to_owned(), "nproc=1000:1000".to_owned()]
    )]
    ulimits: Vec<String>,

    /// Storage driver of the private store (podman --storage-driver), e.g. vfs where overlay
    /// mounts are not allowed. Default: podman's choice.
    #[arg(long, value_name = "DRIVER")]
    storage_driver: Option<String>,

    /// Give container-structure-test's verdict also where pyoci deliberately differs (above).
    #[arg(long)]
    strict_cst: bool,

    /// Largest file a content or license test reads; a bigger file fails its test, so a
    /// compressed bomb cannot exhaust memory.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FILE_BYTES)]
    max_file_bytes: u64,

    /// Seconds each command test may run before it is killed and fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = Spec::load(&args.spec, args.strict_cst)?;
    let compat = CstCompat {
        strict: args.strict_cst,
        max_file_bytes: args.max_file_bytes,
    };
    let (layout_path, ref_name) = split_layout_ref(&args.image);
    let layout = Layout::open(&layout_path)?;
    let image = layout.image(ref_name.as_deref())?;

    let mut results: Vec<CheckResult> = Vec::new();
    if !spec.command_tests.is_empty() {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let options = PodmanOptions {
            program: args.podman.clone(),
            runtime: non_empty(&args.runtime),
            cgroup_manager: non_empty(&args.cgroup_manager),
            ulimits: args.ulimits.clone(),
            storage_driver: args.storage_driver.clone(),
            timeout: Duration::from_secs(args.timeout),
        };
        let store = PodmanStore::load(&layout, &image, options)?;
        let env = environment(&image, &spec.global_env_vars);
        for (index, test) in spec.command_tests.iter().enumerate() {
            let result = store.run(&spec, test, index, &env, compat.strict);
            println!("{}", result.line());
            results.push(result);
        }
    }
    for result in run_static_checks(&layout, &image, &spec, compat)? {
        println!("{}", result.line());
        results.push(result);
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    println!(
        "{}: {} passed, {failed} failed",
        args.image,
        results.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
