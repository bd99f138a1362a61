//! Interrupted runs leave no staging debris.
//!
//! Every output is staged beside its destination under a name `.pyoci-<what>-<pid>-...`
//! (`pyoci_manifest::staging_prefix`) and renamed into place at the end. Ctrl-C, `kill` and
//! Bazel's interrupt stop a run with SIGINT, SIGTERM or SIGHUP; then this process's staging
//! entries in the directories of its outputs are removed before it exits with 128 + the signal
//! number, as a shell reports a killed command. SIGKILL cannot be caught: its staging entries stay, still never at an output path.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use pyoci_manifest::is_own_staging_name;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// From now on, SIGINT, SIGTERM and SIGHUP remove this process's staging entries beside
/// `outputs`, then exit.
pub fn clean_up_on_signal(outputs: &[&Path]) -> anyhow::Result<()> {
    const SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];
    let mut dirs: Vec<PathBuf> = outputs.iter().map(|output| parent_dir(output)).collect();
    dirs.sort();
    dirs.dedup();
    // A second signal while the first is being handled ends the process at once, as a
    // second Ctrl-C should.
    let cleaning = Arc::new(AtomicBool::new(false));
    for signal in SIGNALS {
        signal_hook::flag::register_conditional_default(signal, Arc::clone(&cleaning))
            .context("cannot install the interrupt handler")?;
    }
    let mut signals = Signals::new(SIGNALS).context("cannot install the interrupt handler")?;
    std::thread::Builder::new()
        .name("pyoci-interrupt".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                cleaning.store(true, Ordering::SeqCst);
                for dir in &dirs {
                    remove_own_staging(dir);
                }
                std::process::exit(128 + signal);
            }
        })
        .context("cannot start the interrupt handler")?;
    Ok(())
}

fn parent_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn remove_own_staging(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_own_staging_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        match entry.file_type() {
            // Other threads may still be writing into a staging directory; a few tries
            // outlast them, and the process exits right after.
            Ok(kind) if kind.is_dir() => {
                for _ in 0..3 {
                    if std::fs::remove_dir_all(&path).is_ok() || !path.exists() {
                        break;
                    }
                }
            }
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
