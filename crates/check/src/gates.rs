//! The security gates an image must pass before it is built: non-root user,
//! no shell or package manager, no secrets, sane permissions, bounded size.
//!
//! Shells: sh bash rbash dash ash zsh ksh ksh93 mksh pdksh csh tcsh fish yash
//! posh busybox toybox. Package managers: dpkg dpkg-deb apt apt-get aptitude
//! rpm yum dnf microdnf tdnf zypper apk pacman opkg. pip is deliberately not a
//! package manager here: it installs only Python code into paths the Python
//! interpreter can already write, so it grants nothing `python3` itself does
//! not, while the system package managers above can replace system binaries.
//! A name counts when it is a symlink or an executable file anywhere in the
//! filesystem (Debian, busybox's `/busybox/sh`, a venv's `bin/`).
//!
//! Permissions apply to application layers (see [`AppLayers`]) and skip
//! sticky directories (world-writable like /tmp by design) and, for
//! readability, the home directories of other users in /etc/passwd (root's
//! /root is 0700 by design).

use std::fmt;

use crate::error::{Error, Result};
use crate::imagefs::{is_under, ImageFs, Kind};
use crate::secrets::{SecretLocation, SecretScanner, DEFAULT_MAX_SCAN_SIZE};
use crate::users::{self, UserResolution};
use pyoci_manifest::{Image, Layout};

pub const SHELLS: &[&str] = &[
    "sh", "bash", "rbash", "dash", "ash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "csh", "tcsh",
    "fish", "yash", "posh", "busybox", "toybox",
];
pub const PACKAGE_MANAGERS: &[&str] = &[
    "dpkg", "dpkg-deb", "apt", "apt-get", "aptitude", "rpm", "yum", "dnf", "microdnf", "tdnf",
    "zypper", "apk", "pacman", "opkg",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gate {
    NonRoot,
    NoShell,
    Secrets,
    Permissions,
    Size,
}

impl Gate {
    pub const ALL: [Gate; 5] = [
        Gate::NonRoot,
        Gate::NoShell,
        Gate::Secrets,
        Gate::Permissions,
        Gate::Size,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Gate::NonRoot => "non-root",
            Gate::NoShell => "no-shell",
            Gate::Secrets => "secrets",
            Gate::Permissions => "permissions",
            Gate::Size => "size",
        }
    }

    pub fn opt_out(self) -> &'static str {
        match self {
            Gate::NonRoot => "--allow-root",
            Gate::NoShell => "--allow-shell (debug images)",
            Gate::Secrets => "--allow-secrets",
            Gate::Permissions => "--allow-permissions",
            Gate::Size => "raise or drop --max-size",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub gate: Gate,
    pub message: String,
    /// A narrower opt-out than the gate's, when one exists.
    pub narrow_opt_out: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [opt out: {}",
            self.gate.name(),
            self.message,
            self.gate.opt_out()
        )?;
        if let Some(narrow) = &self.narrow_opt_out {
            write!(f, ", or {narrow}")?;
        }
        f.write_str("]")
    }
}

/// Which layers hold the application, for the permissions gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppLayers {
    /// Layers after the first `n`, which are the base image's.
    AfterBase(usize),
    /// Layers that do not write the dpkg database (Debian package layers do).
    NotDebianPackages,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub allow_root: bool,
    pub allow_shell: bool,
    pub allow_secrets: bool,
    pub allow_permissions: bool,
    pub max_size: Option<u64>,
    pub app_layers: AppLayers,
    /// Restricts the permissions gate to these paths; empty means all paths
    /// of the application layers.
    pub app_prefixes: Vec<String>,
    pub allow_secret_in: Vec<String>,
    pub max_scan_size: u64,
    /// Accept setuid/setgid files in application layers (a permissions finding otherwise).
    pub allow_setuid: bool,
    /// Accept device nodes and fifos in application layers (a permissions finding otherwise).
    pub allow_devices: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_root: false,
            allow_shell: false,
            allow_secrets: false,
            allow_permissions: false,
            max_size: None,
            app_layers: AppLayers::NotDebianPackages,
            app_prefixes: Vec::new(),
            allow_secret_in: Vec::new(),
            max_scan_size: DEFAULT_MAX_SCAN_SIZE,
            allow_setuid: false,
            allow_devices: false,
        }
    }
}

impl Policy {
    pub fn allows(&self, gate: Gate) -> bool {
        match gate {
            Gate::NonRoot => self.allow_root,
            Gate::NoShell => self.allow_shell,
            Gate::Secrets => self.allow_secrets,
            Gate::Permissions => self.allow_permissions,
            Gate::Size => self.max_size.is_none(),
        }
    }
}

pub struct CheckOutcome {
    pub fs: ImageFs,
    pub findings: Vec<Finding>,
    pub user: UserResolution,
    /// Per layer: whether the permissions gate treats it as application.
    pub application_layers: Vec<bool>,
    /// Compressed layers plus the config blob: what a pull transfers.
    pub compressed_size: u64,
}

/// The number of leading layers `image` shares with `base`.
pub fn base_layer_count(
    base: &Image,
    base_path: &std::path::Path,
    image: &Image,
    image_path: &std::path::Path,
) -> Result<usize> {
    let base_layers = base.manifest.layers();
    let layers = image.manifest.layers();
    for (index, descriptor) in base_layers.iter().enumerate() {
        let matches = layers
            .get(index)
            .is_some_and(|l| l.digest() == descriptor.digest());
        if !matches {
            return Err(Error::BaseMismatch {
                base: base_path.to_path_buf(),
                image: image_path.to_path_buf(),
                reason: format!(
                    "base layer {index} ({}) is not layer {index} of the image",
                    descriptor.digest()
                ),
            });
        }
    }
    Ok(base_layers.len())
}

pub fn check(layout: &Layout, image: &Image, policy: &Policy) -> Result<CheckOutcome> {
    check_with_records(layout, image, policy, &[])
}

/// [`check`], with the layers that have a findings record (`records[index]`, from
/// [`crate::layer_findings::match_to_image`]) replayed from it instead of read: same
/// findings, same order, same text. Layers without one are read in full.
pub fn check_with_records(
    layout: &Layout,
    image: &Image,
    policy: &Policy,
    records: &[Option<&crate::layer_findings::LayerFindings>],
) -> Result<CheckOutcome> {
    let keep = crate::layer_findings::kept_by_gates;
    let mut scanner = SecretScanner::new(policy.max_scan_size, policy.allow_secret_in.clone());
    let observer: Option<&mut dyn crate::imagefs::Observer> = if policy.allow_secrets {
        None
    } else {
        Some(&mut scanner)
    };
    let record = |index: usize| records.get(index).copied().flatten();
    let fs = ImageFs::read_with_records(layout, image, &keep, observer, &record)?;

    let mut findings = Vec::new();
    let config = image.config.config().as_ref();
    let user_spec = config.and_then(|c| c.user().clone()).unwrap_or_default();
    let user = users::resolve(&user_spec, &fs);
    if !policy.allow_root {
        findings.extend(root_findings(&user_spec, &user));
    }
    if !policy.allow_shell {
        findings.extend(shell_findings(&fs));
    }
    if !policy.allow_secrets {
        if let Some(c) = config {
            scanner.scan_env(c.env().as_deref().unwrap_or_default());
            let mut labels: Vec<_> = c.labels().iter().flatten().collect();
            labels.sort();
            scanner.scan_labels(labels);
        }
        findings.extend(secret_findings(&scanner, &fs));
    }
    let application_layers: Vec<bool> = fs
        .layers
        .iter()
        .map(|l| match policy.app_layers {
            AppLayers::AfterBase(n) => l.index >= n,
            AppLayers::NotDebianPackages => !l.writes_dpkg_database,
        })
        .collect();
    if !policy.allow_permissions {
        findings.extend(permission_findings(
            &fs,
            &user,
            &application_layers,
            &policy.app_prefixes,
        ));
        findings.extend(special_file_findings(&fs, &application_layers, policy));
    }
    let compressed_size = fs.compressed_layer_bytes() + image.manifest.config().size();
    if let Some(max) = policy.max_size {
        if compressed_size > max {
            findings.push(Finding {
                gate: Gate::Size,
                message: format!(
                    "image is {} compressed ({compressed_size} bytes of layers and config), over --max-size {max}",
                    pyoci_manifest::human_size(compressed_size)
                ),
                narrow_opt_out: None,
            });
        }
    }
    Ok(CheckOutcome {
        fs,
        findings,
        user,
        application_layers,
        compressed_size,
    })
}

fn root_findings(spec: &str, user: &UserResolution) -> Option<Finding> {
    let message = match user {
        UserResolution::Unresolvable(reason) => format!(
            "config User {spec:?} cannot be resolved ({reason}); the container would not start"
        ),
        UserResolution::Resolved(u) if u.is_root() => {
            if spec.is_empty() {
                "the image runs as root: config User is empty; set a non-root user such as 65532"
                    .into()
            } else {
                format!("the image runs as root: config User {spec:?} is uid 0; set a non-root user such as 65532")
            }
        }
        UserResolution::Resolved(_) => return None,
    };
    Some(Finding {
        gate: Gate::NonRoot,
        message,
        narrow_opt_out: None,
    })
}

fn shell_findings(fs: &ImageFs) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (path, entry) in fs.entries() {
        let name = path.rsplit('/').next().unwrap_or("");
        let what = if SHELLS.contains(&name) {
            "a shell"
        } else if PACKAGE_MANAGERS.contains(&name) {
            "a package manager"
        } else {
            continue;
        };
        let detail = match entry.kind {
            Kind::Symlink => format!(
                " (symlink to {})",
                entry.link_target.as_deref().unwrap_or("")
            ),
            Kind::File | Kind::Hardlink if entry.mode & 0o111 != 0 => String::new(),
            _ => continue,
        };
        findings.push(Finding {
            gate: Gate::NoShell,
            message: format!("{path} is {what}{detail} in a non-debug image"),
            narrow_opt_out: None,
        });
    }
    findings
}

fn secret_findings(scanner: &SecretScanner, fs: &ImageFs) -> Vec<Finding> {
    scanner
        .findings
        .iter()
        .map(|finding| {
            let (message, narrow) = match &finding.location {
                SecretLocation::Env { key } => (format!("env {key}: {}", finding.what), None),
                SecretLocation::Label { key } => (format!("label {key}: {}", finding.what), None),
                SecretLocation::File {
                    layer,
                    layer_digest,
                    path,
                    line,
                } => {
                    let line = line.map(|n| format!(" line {n}")).unwrap_or_default();
                    let short = layer_digest.get(..19).unwrap_or(layer_digest);
                    let shipped = if fs.get(path).is_some_and(|e| e.layer == *layer) {
                        ""
                    } else {
                        "; a later layer hides it, but it still ships in this layer"
                    };
                    (
                        format!(
                            "{path}{line} (layer {layer}, {short}): {}{shipped}",
                            finding.what
                        ),
                        Some(format!("--allow-secret-in {path}")),
                    )
                }
            };
            Finding {
                gate: Gate::Secrets,
                message,
                narrow_opt_out: narrow,
            }
        })
        .collect()
}

fn permission_findings(
    fs: &ImageFs,
    user: &UserResolution,
    application_layers: &[bool],
    prefixes: &[String],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Another user's home (root's /root, 0700) is private by design.
    let private_homes: Vec<(String, u64)> = match user {
        UserResolution::Resolved(u) => users::home_directories(fs)
            .into_iter()
            .filter(|(home, owner)| {
                *owner != u.uid && fs.get(home).is_some_and(|e| e.uid == *owner)
            })
            .collect(),
        UserResolution::Unresolvable(_) => Vec::new(),
    };
    for (path, entry) in fs.entries() {
        let in_scope = !entry.implicit
            && application_layers
                .get(entry.layer)
                .copied()
                .unwrap_or(false)
            && (prefixes.is_empty() || prefixes.iter().any(|p| is_under(path, p)))
            && matches!(entry.kind, Kind::File | Kind::Hardlink | Kind::Dir);
        if !in_scope {
            continue;
        }
        let is_dir = entry.kind == Kind::Dir;
        let sticky_dir = is_dir && entry.mode & 0o1000 != 0;
        if entry.mode & 0o002 != 0 && !sticky_dir {
            findings.push(Finding {
                gate: Gate::Permissions,
                message: format!("{path} is world-writable (mode {:04o})", entry.mode),
                narrow_opt_out: None,
            });
        }
        let in_private_home = private_homes.iter().any(|(home, _)| is_under(path, home));
        if let (UserResolution::Resolved(u), false) = (user, in_private_home) {
            let needed = if is_dir { 0o5 } else { 0o4 };
            if !u.can_access(entry.uid, entry.gid, entry.mode, needed) {
                let what = if is_dir {
                    "readable and searchable"
                } else {
                    "readable"
                };
                findings.push(Finding {
                    gate: Gate::Permissions,
                    message: format!(
                        "{path} is not {what} by the image user {}:{} (owner {}:{}, mode {:04o})",
                        u.uid, u.gid, entry.uid, entry.gid, entry.mode
                    ),
                    narrow_opt_out: None,
                });
            }
        }
    }
    findings
}

/// setuid/setgid files and device nodes that application layers add, anywhere in the
/// filesystem (not only under --app-prefix: a setuid binary in /usr/bin is the point).
fn special_file_findings(
    fs: &ImageFs,
    application_layers: &[bool],
    policy: &Policy,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (path, entry) in fs.entries() {
        if !application_layers
            .get(entry.layer)
            .copied()
            .unwrap_or(false)
        {
            continue;
        }
        let is_file = matches!(entry.kind, Kind::File | Kind::Hardlink);
        if is_file && entry.mode & 0o6000 != 0 && !policy.allow_setuid {
            let what = match (entry.mode & 0o4000 != 0, entry.mode & 0o2000 != 0) {
                (true, true) => format!("setuid {} and setgid {}", entry.uid, entry.gid),
                (true, false) => format!("setuid {}", entry.uid),
                _ => format!("setgid {}", entry.gid),
            };
            findings.push(Finding {
                gate: Gate::Permissions,
                message: format!(
                    "{path} is {what} (mode {:04o}) in an application layer",
                    entry.mode
                ),
                narrow_opt_out: Some("--allow-setuid".into()),
            });
        }
        if let (Kind::Other, Some(what), false) = (entry.kind, entry.special, policy.allow_devices)
        {
            findings.push(Finding {
                gate: Gate::Permissions,
                message: format!(
                    "{path} is a {what} (mode {:04o}) in an application layer",
                    entry.mode
                ),
                narrow_opt_out: Some("--allow-devices".into()),
            });
        }
    }
    findings
}

/// Parses `--max-size`: bytes, or a number with K/M/G (powers of 1000) or
/// Ki/Mi/Gi (powers of 1024), optionally followed by `B`.
pub fn parse_size(text: &str) -> Result<u64> {
    let invalid = |reason: &str| Error::InvalidValue {
        what: "size",
        value: text.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim();
    let unit = unit.strip_suffix(['B', 'b']).unwrap_or(unit);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "ki" => 1 << 10,
        "mi" => 1 << 20,
        "gi" => 1 << 30,
        _ => {
            return Err(invalid(
                "unit must be one of K, M, G, Ki, Mi, Gi (optionally followed by B)",
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| invalid("expected a number of bytes, e.g. 150MB or 157286400"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(invalid("size must be a positive number"));
    }
    Ok((value * multiplier as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("150MB").unwrap(), 150_000_000);
        assert_eq!(parse_size("1.5Mi").unwrap(), 1_572_864);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn finding_lines_name_the_opt_out() {
        let finding = Finding {
            gate: Gate::NonRoot,
            message: "the image runs as root".into(),
            narrow_opt_out: None,
        };
        assert_eq!(
            finding.to_string(),
            "non-root: the image runs as root [opt out: --allow-root]"
        );
    }
}
