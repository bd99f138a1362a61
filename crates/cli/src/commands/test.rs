use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pyoci_check::structure::podman::{PodmanOptions, PodmanStore};
use pyoci_check::structure::{run_static_checks, CheckResult, Spec};
use pyoci_manifest::Layout;

use super::index::split_layout_ref;

/// Run structure tests against an image, in the spirit of container-structure-test: one
/// PASS/FAIL line per check (a failure shows expected vs actual), then a summary; exit 1 if
/// any check fails.
///
/// File existence, file content and metadata checks read the layers directly. Command tests
/// load the image into a private podman store (its own --root/--runroot/--tmpdir in a
/// temporary directory, emptied and removed afterwards) and run each command in a new
/// container with --network none, the entrypoint replaced by command + args.
///
/// Spec (JSON; every section optional, unknown fields rejected; field names follow
/// container-structure-test):
///   {"schemaVersion": "2.0.0",
///    "globalEnvVars": [{"key": "K", "value": "V"}],
///    "containerRunOptions": {"user": "65532"},
///    "commandTests": [{"name": "..", "command": "python3", "args": ["--version"],
///        "envVars": [{"key": "K", "value": "V"}], "expectedOutput": ["regex"],
///        "excludedOutput": [..], "expectedError": [..], "excludedError": [..], "exitCode": 0}],
///    "fileExistenceTests": [{"name": "..", "path": "/app/main.py", "shouldExist": true,
///        "permissions": "-rw-r--r--" or "0644", "uid": 0, "gid": 0,
///        "isExecutableBy": "owner|group|other|any"}],
///    "fileContentTests": [{"name": "..", "path": "/app/config.yaml",
///        "expectedContents": ["regex"], "excludedContents": ["regex"]}],
///    "metadataTest": {"envVars": [{"key": "K", "value": "V", "isRegex": false}],
///        "unboundEnvVars": [{"key": "K"}], "labels": [{"key": "K", "value": "V"}],
///        "entrypoint": [..], "cmd": [..], "exposedPorts": ["8080/tcp"],
///        "unexposedPorts": [..], "volumes": ["/data"], "unmountedVolumes": [..],
///        "workdir": "/app", "user": "65532"}}
/// Regexes (Rust regex syntax) match anywhere in the text. exitCode defaults to 0. Paths
/// are looked up like lstat inside the container (symlinked parent directories followed);
/// content tests follow a final symlink too. A port without /protocol means /tcp.
#[derive(clap::Args)]
#[command(verbatim_doc_comment, after_help = "Example:\n  pyoci test bazel-bin/app/image --spec app/image_test.json")]
pub struct Args {
    /// The image layout, optionally as LAYOUT:REF to pick the image tagged REF in it.
    #[arg(value_name = "LAYOUT[:REF]")]
    image: String,

    /// The structure test spec (JSON, format above).
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

    /// Seconds each command test may run before it is killed and fails.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = Spec::load(&args.spec)?;
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
        for (index, test) in spec.command_tests.iter().enumerate() {
            let result = store.run(&spec, test, index);
            println!("{}", result.line());
            results.push(result);
        }
    }
    for result in run_static_checks(&layout, &image, &spec)? {
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
