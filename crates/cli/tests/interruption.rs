//! `pyoci` killed with SIGKILL at random (seeded) moments while it writes a layer, an image and
//! a tarball leaves nothing at the output path, and the next run succeeds with the same bytes.
//! A full disk (a small tmpfs this test mounts) fails with an error naming the output and
//! leaves nothing behind. SIGINT, SIGTERM and SIGHUP also leave no staging entries beside the
//! output. Set PYOCI_INTERRUPTION_SEED to replay other kill times.

#[path = "../../../tests/support/tools.rs"]
mod tools;
#[path = "../../../tests/support/pyoci.rs"]
mod pyoci;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pyoci::*;
use tools::{require_tool, run_ok};

/// Kills per output kind; each is followed by a run that must succeed.
const KILLS: usize = 4;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("pyoci-interrupt-").tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"))
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn seed(salt: u64) -> u64 {
    let base = std::env::var("PYOCI_INTERRUPTION_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_1234_u64);
    (base ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

/// Incompressible files, so writing the layer takes long enough to be interrupted mid-stream.
fn random_tree(dir: &Path, files: usize, bytes_each: usize) -> PathBuf {
    let tree = dir.join("tree");
    fs::create_dir_all(&tree).unwrap_or_else(|e| panic!("{e}"));
    let mut random = XorShift(0x1234_5678_9abc_def1);
    for n in 0..files {
        let mut data = Vec::with_capacity(bytes_each);
        while data.len() < bytes_each {
            data.extend_from_slice(&random.next().to_le_bytes());
        }
        fs::write(tree.join(format!("blob{n}.bin")), &data).unwrap_or_else(|e| panic!("{e}"));
    }
    tree
}

/// Every byte at an output: a file's contents, or each file of a layout directory.
fn contents(output: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    if output.is_dir() {
        return tools::tree_contents(output);
    }
    let bytes = fs::read(output).unwrap_or_else(|e| panic!("{}: {e}", output.display()));
    std::iter::once((PathBuf::new(), bytes)).collect()
}

/// Staging leftovers of killed runs beside an output.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.retain(|n| n.starts_with('.'));
    names.sort();
    names
}

fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        Ok(_) => fs::remove_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        Err(_) => {}
    }
}

/// Runs `command` to completion once for reference, then KILLS times kills it after a random
/// delay within that run's duration. After each kill nothing may be at `output`, unless the run
/// finished first, in which case it must be complete; then a full run must reproduce the
/// reference. Returns the staging leftovers found beside the output at the end.
fn kill_at_random_points(what: &str, salt: u64, output: &Path, command: &dyn Fn() -> Command) -> Vec<String> {
    let started = Instant::now();
    pyoci_ok(&mut command());
    let duration = started.elapsed();
    let reference = contents(output);
    let mut random = XorShift(seed(salt));
    let mut killed = 0;
    for round in 0..KILLS {
        remove(output);
        let delay = Duration::from_micros(random.next() % (duration.as_micros() as u64 * 11 / 10 + 1));
        let mut child = command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn pyoci {what}: {e}"));
        std::thread::sleep(delay);
        let finished_first = child.try_wait().ok().flatten().is_some();
        let _ = child.kill();
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        if finished_first || status.success() {
            assert_eq!(contents(output), reference, "{what}: a finished run differs");
        } else {
            killed += 1;
            assert!(
                fs::symlink_metadata(output).is_err(),
                "{what}: killed after {delay:?} (round {round}), yet {} exists",
                output.display()
            );
        }
        pyoci_ok(&mut command());
        assert_eq!(contents(output), reference, "{what}: the run after a kill differs");
    }
    let left = leftovers(output.parent().unwrap_or(Path::new(".")));
    eprintln!(
        "{what}: reference run {duration:?}, {killed} of {KILLS} runs killed mid-way, staging leftovers: {left:?}"
    );
    left
}

/// A directory tree of incompressible files and the `out` directory layers go to.
fn random_tree_and_out(files: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = temp_dir();
    let tree = random_tree(dir.path(), files, 24 << 20);
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    (dir, tree, out)
}

/// `pyoci layer` of `tree` at /data into `blob`, its descriptor at `descriptor`.
fn layer_command(tree: &Path, blob: &Path, descriptor: &Path, level: &str) -> Command {
    let mut c = pyoci();
    c.arg("layer").arg("--dir").arg(tree).args(["--prefix", "/data", "--level", level, "-o"]).arg(blob);
    c.arg("--descriptor-out").arg(descriptor);
    c
}

/// `pyoci tarball` of the layout `image` into `tarball`.
fn tarball_command(image: &Path, tarball: &Path) -> Command {
    let mut c = pyoci();
    c.args(["tarball", "--image"]).arg(image).args(["--tag", "localhost/interrupted:v1", "-o"]).arg(tarball);
    c
}

/// A new directory `name` under `dir`, for one output kind, so each has its own neighbours.
fn output_dir(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    fs::create_dir_all(&path).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn killed_layer_image_and_tarball_writes_leave_no_output() {
    let (dir, tree, out) = random_tree_and_out(4);
    let blob = out.join("layer.tar.gz");
    let descriptor = out.join("layer.json");
    let layer_left = kill_at_random_points("layer", 1, &blob, &|| layer_command(&tree, &blob, &descriptor, "3"));

    let image = output_dir(dir.path(), "images").join("image");
    let layer_arg = format!("{}={}", blob.display(), descriptor.display());
    let image_command = || {
        let mut c = pyoci();
        c.args(["image", "--layer", &layer_arg, "--env", "A=B", "-o"]).arg(&image);
        c
    };
    let image_left = kill_at_random_points("image", 2, &image, &image_command);

    let tarball = output_dir(dir.path(), "tarballs").join("image.tar");
    let tarball_left = kill_at_random_points("tarball", 3, &tarball, &|| tarball_command(&image, &tarball));

    // Leftovers are only ever hidden staging names, never anything a reader could take for
    // an output; a later successful run ignores them (checked above).
    for name in layer_left.iter().chain(&image_left).chain(&tarball_left) {
        assert!(name.starts_with(".pyoci-"), "unexpected leftover {name}");
    }
}

/// Sends `signal` (`TERM`, `INT`, `HUP`) to a run of `command` once its staging entry shows
/// beside `output`. The run must then remove its staging entries, leave nothing at `output`
/// and exit with 128 + the signal number. A run that finishes before it is caught is retried.
fn interrupt_while_staging(what: &str, output: &Path, signal: &str, exit_code: i32, command: &dyn Fn() -> Command) {
    let dir = output.parent().unwrap_or(Path::new("."));
    for _ in 0..5 {
        remove(output);
        assert_eq!(leftovers(dir), Vec::<String>::new(), "{what}: staging entries before the run");
        let mut child = command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn pyoci {what}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut staging = false;
        while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
            if leftovers(dir).iter().any(|name| name.starts_with(".pyoci-")) {
                staging = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if staging {
            run_ok(Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()));
        }
        let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
        if !staging || status.success() {
            continue;
        }
        assert_eq!(status.code(), Some(exit_code), "{what}: exit status after SIG{signal}");
        assert_eq!(leftovers(dir), Vec::<String>::new(), "{what}: staging entries left after SIG{signal}");
        assert!(fs::symlink_metadata(output).is_err(), "{what}: {} exists after SIG{signal}", output.display());
        return;
    }
    panic!("{what}: five runs finished before SIG{signal} could reach them while staging");
}

/// Ctrl-C, `kill` and Bazel's interrupt (SIGINT, SIGTERM, SIGHUP) end a run without debris:
/// unlike SIGKILL above, pyoci removes its own staging entries before it exits.
#[test]
fn interrupting_signals_remove_the_staging_entries() {
    let (dir, tree, out) = random_tree_and_out(2);
    let blob = out.join("layer.tar.gz");
    let descriptor = out.join("layer.json");
    // Level 12 on incompressible bytes takes seconds, so the signal lands mid-stream.
    let slow_layer = || layer_command(&tree, &blob, &descriptor, "12");
    interrupt_while_staging("layer", &blob, "TERM", 143, &slow_layer);
    interrupt_while_staging("layer", &blob, "HUP", 129, &slow_layer);

    pyoci_ok(&mut layer_command(&tree, &blob, &descriptor, "0"));
    let image = dir.path().join("image");
    pyoci_ok(pyoci().args(["image", "--layer", &format!("{}={}", blob.display(), descriptor.display()), "-o"]).arg(&image));
    let tarball = output_dir(dir.path(), "tarballs").join("image.tar");
    interrupt_while_staging("tarball", &tarball, "INT", 130, &|| tarball_command(&image, &tarball));
}

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct SmallTmpfs {
    path: PathBuf,
}

impl SmallTmpfs {
    fn mount(path: &Path, size: &str) -> SmallTmpfs {
        require_tool("mount");
        fs::create_dir_all(path).unwrap_or_else(|e| panic!("{e}"));
        run_ok(Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"]).arg(path));
        SmallTmpfs { path: path.to_path_buf() }
    }

    fn used_kib(&self) -> u64 {
        let df = run_ok(Command::new("df").args(["--output=used", "-k"]).arg(&self.path));
        df.lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap_or(u64::MAX)
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status().map(|s| s.success()).unwrap_or(false);
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing() {
    let dir = temp_dir();
    let tree = random_tree(dir.path(), 1, 12 << 20);
    let disk = SmallTmpfs::mount(&dir.path().join("small-disk"), "4m");
    let spec_layer = dir.path().join("input.tar.gz");
    let descriptor = dir.path().join("input.json");
    pyoci_ok(
        pyoci().arg("layer").arg("--dir").arg(&tree).args(["--prefix", "/data", "-o"]).arg(&spec_layer)
            .arg("--descriptor-out").arg(&descriptor),
    );
    let image = dir.path().join("image");
    let layer_arg = format!("{}={}", spec_layer.display(), descriptor.display());
    pyoci_ok(pyoci().args(["image", "--layer", &layer_arg, "-o"]).arg(&image));

    let full = |what: &str, output: &Path, command: &mut Command| {
        let stderr = pyoci_fails(command);
        assert!(
            stderr.contains("No space left on device"),
            "{what}: the error does not say the disk is full:\n{stderr}"
        );
        // The output itself, or (for layouts, staged as a directory) its staging path beside it.
        let staging = format!("{}/.pyoci-", disk.path.display());
        assert!(
            stderr.contains(&output.display().to_string()) || stderr.contains(&staging),
            "{what}: the error does not name the output {}:\n{stderr}",
            output.display()
        );
        assert_nothing_written(output);
        assert!(disk.used_kib() < 64, "{what}: {} KiB still used on the full disk", disk.used_kib());
        eprintln!("{what} on a full disk: {}", stderr.trim());
    };

    let blob = disk.path.join("layer.tar.gz");
    full("layer", &blob, pyoci().arg("layer").arg("--dir").arg(&tree).args(["--prefix", "/data", "-o"]).arg(&blob));
    let layout = disk.path.join("image");
    full("image", &layout, pyoci().args(["image", "--layer", &layer_arg, "-o"]).arg(&layout));
    let tarball = disk.path.join("image.tar");
    full(
        "tarball",
        &tarball,
        pyoci().args(["tarball", "--image"]).arg(&image).args(["--tag", "localhost/full:v1", "-o"]).arg(&tarball),
    );
    let base = disk.path.join("base");
    full(
        "base",
        &base,
        pyoci().args(["base", "--variant", "nonroot", "--debs"]).arg(tools::debs_dir()).arg("--lock").arg(tools::lock_file()).arg("-o").arg(&base),
    );

    // Small outputs still fit: the disk, not pyoci, was the problem.
    let small = disk.path.join("small.tar.gz");
    let spec = dir.path().join("small.json");
    fs::File::create(&spec)
        .and_then(|mut f| f.write_all(br#"{"entries": [{"path": "/hello.txt", "content": "hi"}]}"#))
        .unwrap_or_else(|e| panic!("{e}"));
    pyoci_ok(pyoci().args(["layer", "--spec"]).arg(&spec).arg("-o").arg(&small));
}
