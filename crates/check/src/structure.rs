//! Structure tests in the spirit of container-structure-test (same field
//! names, JSON only): file and metadata checks read the layers directly;
//! command tests run the image with podman in a private, throw-away store.
//!
//! Spec format (every section optional; unknown fields are errors):
//!
//! ```json
//! {
//!   "schemaVersion": "2.0.0",
//!   "globalEnvVars": [{"key": "PYTHONUNBUFFERED", "value": "1"}],
//!   "containerRunOptions": {"user": "65532"},
//!   "commandTests": [{
//!     "name": "python version",
//!     "command": "python3", "args": ["--version"],
//!     "envVars": [{"key": "LANG", "value": "C.UTF-8"}],
//!     "expectedOutput": ["Python 3\\.11"], "excludedOutput": ["rc"],
//!     "expectedError": [], "excludedError": ["Traceback"],
//!     "exitCode": 0
//!   }],
//!   "fileExistenceTests": [{
//!     "name": "app", "path": "/app/main.py", "shouldExist": true,
//!     "permissions": "-rw-r--r--", "uid": 0, "gid": 0, "isExecutableBy": "any"
//!   }],
//!   "fileContentTests": [{
//!     "name": "config", "path": "/app/config.yaml",
//!     "expectedContents": ["port: 8080"], "excludedContents": ["password"]
//!   }],
//!   "metadataTest": {
//!     "envVars": [{"key": "LOG_LEVEL", "value": "INFO"}, {"key": "PATH", "value": "/usr/.*", "isRegex": true}],
//!     "unboundEnvVars": [{"key": "DEBUG"}],
//!     "labels": [{"key": "org.opencontainers.image.version", "value": "1.0.0"}],
//!     "entrypoint": ["/usr/bin/python3", "/app/main.py"], "cmd": [],
//!     "exposedPorts": ["8080/tcp"], "unexposedPorts": ["22"],
//!     "volumes": ["/data"], "unmountedVolumes": ["/tmp"],
//!     "workdir": "/app", "user": "65532"
//!   }
//! }
//! ```
//!
//! Regexes use Rust `regex` syntax and match anywhere in the text (like Go's
//! `MatchString`). As in container-structure-test, a command test replaces
//! the image's entrypoint with `command` + `args`; `exitCode` defaults to 0.
//! `permissions` is either `ls -l` style (`-rwxr-xr-x`, `drwxr-xr-x`,
//! `lrwxrwxrwx`) or octal (`0755`). Paths are checked like `lstat` in the
//! container: symlinks in parent directories are followed, the last one is
//! not; file content tests follow it. Ports without a protocol mean `/tcp`.

//! Structure tests with container-structure-test's spec format (schema 2.0.0, JSON or YAML,
//! see [`spec`]) and CST's verdicts: file, license and metadata checks read the layers
//! directly; command tests run the image with podman in a private, throw-away store.
//!
//! CST's semantics we follow (its docker driver, 1.19): paths are looked up like `lstat` in the
//! container (symlinks in parent directories followed); `permissions` is compared with Go's
//! `FileMode.String()` (`-rw-r--r--`, `dtrwxrwxrwx` for sticky /tmp, `Lrwxrwxrwx` for a
//! symlink, `urwxr-xr-x` for setuid); a device or fifo counts as absent; file existence paths
//! and command lines get `$VAR` substitution from the image's environment; metadata ports are
//! compared by number; regexes match anywhere (Go's RE2 and Rust's regex agree on syntax).
//!
//! Where we deliberately differ (each undone by `CstCompat::strict`, `pyoci test --strict-cst`):
//! - `permissions` may also be written `ls -l` style (`drwxrwxrwt`, `lrwxrwxrwx`,
//!   `-rwsr-xr-x`) or octal (`0644`); CST fails every such test, as Go never prints them.
//! - A port may be written `8080/tcp` (then the protocol must match too); CST compares numbers
//!   only, so it fails those.
//! - A content test through a relative symlink reads its target relative to the link's
//!   directory; CST's docker driver asks for the bare target, i.e. relative to `/`.
//! - Per-test `envVars` apply also when `containerRunOptions` is set; CST then drops them.
//! - A variable named in `containerRunOptions.envVars` that is unset here is skipped; CST
//!   passes it as an empty entry, which Docker rejects, failing every command test.
//! - Content tests read at most `max_file_bytes` of a file (a bigger file fails the test with
//!   its size), so a compressed bomb cannot exhaust memory; CST reads any size.

pub mod expand;
pub mod podman;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use crate::error::Result;
use crate::imagefs::{Entry, ImageFs, Kind, Observer, RawEntry};
use pyoci_manifest::{Image, Layout};

pub use spec::{
    CommandTest, EnvVar, FileContentTest, FileExistenceTest, LicenseTest, MetadataTest,
    RunOptions, Spec,
};

/// Default for [`CstCompat::max_file_bytes`].
pub const DEFAULT_MAX_FILE_BYTES: u64 = 32 << 20;
/// CST's license test fails on copyright files naming these.
const BANNED_LICENSE_WORDS: [&str; 2] = ["AGPL", "WTFPL"];
/// Packages CST's license test skips.
const LICENSE_ALLOWLIST: [&str; 1] = ["libgnutls30"];
const MAX_LINK_HOPS: usize = 40;

/// How closely to follow container-structure-test where we deliberately differ (module docs).
#[derive(Clone, Copy, Debug)]
pub struct CstCompat {
    pub strict: bool,
    /// Largest file a content or license test reads.
    pub max_file_bytes: u64,
}

impl Default for CstCompat {
    fn default() -> Self {
        CstCompat {
            strict: false,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// The outcome of one check: no failures means it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub kind: &'static str,
    pub name: String,
    pub failures: Vec<String>,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `PASS file existence: app` or `FAIL ...: expected ..., got ...`.
    pub fn line(&self) -> String {
        if self.passed() {
            format!("PASS {}: {}", self.kind, self.name)
        } else {
            format!(
                "FAIL {}: {}: {}",
                self.kind,
                self.name,
                self.failures.join("; ")
            )
        }
    }
}

/// The image's environment as CST sees it (`KEY=VALUE`, first `=` splits, last one wins),
/// with the spec's global variables applied on top (their values expanded against it).
pub fn environment(image: &Image, globals: &[EnvVar]) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let expanded: Vec<(String, String)> = globals
        .iter()
        .map(|g| (g.key.clone(), expand::expand(&g.value, &env)))
        .collect();
    env.extend(expanded);
    env
}

/// Where a content or license test's bytes are: the final file entry after following links.
enum Located {
    File { path: String, layer: usize, size: u64 },
    Missing(String),
}

/// Collects the contents of chosen (path, layer) file entries, skipping larger ones.
struct ContentCollector {
    wanted: BTreeSet<(String, usize)>,
    max_bytes: u64,
    found: BTreeMap<(String, usize), Vec<u8>>,
}

impl Observer for ContentCollector {
    fn wants_content(&mut self, entry: &RawEntry) -> bool {
        entry.size <= self.max_bytes
            && self.wanted.contains(&(entry.path.to_string(), entry.layer))
    }

    fn observe(&mut self, entry: &RawEntry, content: Option<&[u8]>) {
        if let Some(bytes) = content {
            self.found
                .insert((entry.path.to_string(), entry.layer), bytes.to_vec());
        }
    }
}

/// Reads the layers and runs the file existence, file content, license and metadata checks,
/// in CST's order. The layers are read twice: once for metadata, once for the few files
/// whose contents the tests need (each at most `compat.max_file_bytes`).
pub fn run_static_checks(
    layout: &Layout,
    image: &Image,
    spec: &Spec,
    compat: CstCompat,
) -> Result<Vec<CheckResult>> {
    let fs = ImageFs::read(layout, image, &|_| false, None)?;
    let env = environment(image, &spec.global_env_vars);

    let content_targets: Vec<Located> = spec
        .file_content_tests
        .iter()
        .map(|t| locate(&fs, &t.path, compat.strict))
        .collect();
    let license_targets: Vec<Vec<(String, Located)>> = spec
        .license_tests
        .iter()
        .map(|t| license_files(&fs, t, compat.strict))
        .collect();
    let wanted: BTreeSet<(String, usize)> = content_targets
        .iter()
        .chain(license_targets.iter().flatten().map(|(_, l)| l))
        .filter_map(|l| match l {
            Located::File { path, layer, size } if *size <= compat.max_file_bytes => {
                Some((path.clone(), *layer))
            }
            _ => None,
        })
        .collect();
    let mut collector = ContentCollector {
        wanted,
        max_bytes: compat.max_file_bytes,
        found: BTreeMap::new(),
    };
    if !collector.wanted.is_empty() {
        drop(ImageFs::read(layout, image, &|_| false, Some(&mut collector))?);
    }
    let read = |located: &Located| -> std::result::Result<&[u8], String> {
        match located {
            Located::Missing(reason) => Err(reason.clone()),
            Located::File { path, size, .. } if *size > compat.max_file_bytes => Err(format!(
                "{path} is {size} bytes, more than the {} bytes content tests read \
                 (raise --max-file-bytes)",
                compat.max_file_bytes
            )),
            Located::File { path, layer, .. } => collector
                .found
                .get(&(path.clone(), *layer))
                .map(Vec::as_slice)
                .ok_or_else(|| format!("{path} could not be read from the layers")),
        }
    };

    let mut results = Vec::new();
    for (test, located) in spec.file_content_tests.iter().zip(&content_targets) {
        let mut failures = Vec::new();
        match read(located) {
            Err(reason) => failures.push(reason),
            Ok(bytes) => match_regexes(
                &mut failures,
                "contents",
                &String::from_utf8_lossy(bytes),
                &test.expected_contents,
                &test.excluded_contents,
            ),
        }
        results.push(CheckResult {
            kind: "file content",
            name: test.name.clone(),
            failures,
        });
    }
    for test in &spec.file_existence_tests {
        results.push(file_existence(&fs, test, &env, compat.strict));
    }
    for files in &license_targets {
        let mut failures = Vec::new();
        for (shown, located) in files {
            match read(located) {
                Err(reason) => failures.push(format!("license file of {shown}: {reason}")),
                Ok(bytes) => {
                    let upper = String::from_utf8_lossy(bytes).to_uppercase();
                    for word in BANNED_LICENSE_WORDS {
                        if upper.contains(word) {
                            failures.push(format!("{shown}: license contains {word}"));
                        }
                    }
                }
            }
        }
        results.push(CheckResult {
            kind: "license",
            name: "License Test".into(),
            failures,
        });
    }
    if !spec.metadata_test.is_empty() {
        results.extend(metadata_checks(image, &spec.metadata_test, compat.strict));
    }
    Ok(results)
}

/// The file a content test reads. CST's docker driver fetches the path without following a
/// final symlink, then asks again for the link's target as written (so relative targets are
/// taken from `/`); we follow links the way the kernel does unless `strict`.
fn locate(fs: &ImageFs, path: &str, strict: bool) -> Located {
    let mut current = path.to_string();
    for _ in 0..MAX_LINK_HOPS {
        let found = if strict {
            fs.resolve(&current, false)
        } else {
            fs.resolve(&current, true)
        };
        let Some((resolved, entry)) = found else {
            return Located::Missing(format!("{path} does not exist"));
        };
        match entry.kind {
            Kind::Symlink if strict => {
                let target = entry.link_target.clone().unwrap_or_default();
                current = if target.starts_with('/') {
                    target
                } else {
                    format!("/{target}")
                };
            }
            Kind::Symlink => return Located::Missing(format!("{path}: too many symlinks")),
            Kind::Dir => {
                return Located::Missing(format!("{path} is a directory, not a file"))
            }
            Kind::Other => return Located::Missing(format!("{path} does not exist")),
            Kind::File => return file_at(resolved, entry),
            Kind::Hardlink => {
                let target = entry.link_target.clone().unwrap_or_default();
                return match fs.get(&target) {
                    Some(e) if e.kind == Kind::File => file_at(target, e),
                    _ => Located::Missing(format!(
                        "{path} is a hard link to {target}, which is not in the image"
                    )),
                };
            }
        }
    }
    Located::Missing(format!("{path}: too many symlinks"))
}

fn file_at(path: String, entry: &Entry) -> Located {
    Located::File {
        path,
        layer: entry.layer,
        size: entry.size,
    }
}

/// The files one license test reads, each with the name its failures show.
fn license_files(fs: &ImageFs, test: &LicenseTest, strict: bool) -> Vec<(String, Located)> {
    let mut files = Vec::new();
    if test.debian {
        let root = "/usr/share/doc/";
        for (path, entry) in fs.entries() {
            let Some(package) = path.strip_prefix(root) else {
                continue;
            };
            if package.contains('/') || entry.kind != Kind::Dir {
                continue;
            }
            if LICENSE_ALLOWLIST.contains(&package) {
                continue;
            }
            let copyright = format!("{root}{package}/copyright");
            files.push((package.to_string(), locate(fs, &copyright, strict)));
        }
    }
    for file in &test.files {
        files.push((file.clone(), locate(fs, file, strict)));
    }
    files
}

fn file_existence(
    fs: &ImageFs,
    test: &FileExistenceTest,
    env: &BTreeMap<String, String>,
    strict: bool,
) -> CheckResult {
    let mut failures = Vec::new();
    let path = expand::expand(&test.path, env);
    // CST's docker driver sees only directories, files and links; devices and fifos are absent.
    let found = fs
        .resolve(&path, false)
        .filter(|(_, e)| !(strict && e.kind == Kind::Other));
    match (found, test.should_exist()) {
        (None, true) => failures.push(format!("expected {} to exist, it does not", test.path)),
        (Some((_, entry)), false) => failures.push(format!(
            "expected {} to be absent, found {} {}",
            test.path,
            go_mode(entry.kind, effective_mode(entry)),
            describe_kind(entry.kind)
        )),
        (None, false) => {}
        (Some((_, entry)), true) => {
            let mode = effective_mode(entry);
            if !test.permissions.is_empty() {
                let matches = test.permissions == go_mode(entry.kind, effective_mode(entry))
                    || (!strict
                        && match Permissions::parse(&test.permissions) {
                            Some(Permissions::Octal(bits)) => bits == mode & 0o7777,
                            _ => test.permissions == ls_mode(entry.kind, mode),
                        });
                if !matches {
                    failures.push(format!(
                        "permissions: expected {}, got {} ({:04o})",
                        test.permissions,
                        go_mode(entry.kind, effective_mode(entry)),
                        mode & 0o7777
                    ));
                }
            }
            if !test.is_executable_by.is_empty() {
                let mask = executable_mask(&test.is_executable_by).unwrap_or(0o111);
                if mode & mask == 0 {
                    failures.push(format!(
                        "expected executable by {}, mode is {}",
                        test.is_executable_by,
                        go_mode(entry.kind, effective_mode(entry))
                    ));
                }
            }
            if let Some(uid) = test.uid {
                if u64::try_from(uid).ok() != Some(entry.uid) {
                    failures.push(format!("uid: expected {uid}, got {}", entry.uid));
                }
            }
            if let Some(gid) = test.gid {
                if u64::try_from(gid).ok() != Some(entry.gid) {
                    failures.push(format!("gid: expected {gid}, got {}", entry.gid));
                }
            }
        }
    }
    CheckResult {
        kind: "file existence",
        name: test.name.clone(),
        failures,
    }
}

/// Mode bits as `lstat` reports them in a container: Linux symlinks are always 0777.
fn effective_mode(entry: &Entry) -> u32 {
    if entry.kind == Kind::Symlink {
        0o777
    } else {
        entry.mode & 0o7777
    }
}

/// Go's `os.FileMode.String()` of an entry, which is what CST compares `permissions` with:
/// type and special-bit letters (`d`, `L`, `u`, `g`, `t`, in Go's order) then `rwxrwxrwx`.
pub fn go_mode(kind: Kind, mode: u32) -> String {
    let mut out = String::with_capacity(12);
    match kind {
        Kind::Dir => out.push('d'),
        Kind::Symlink => out.push('L'),
        Kind::Other => out.push('?'),
        Kind::File | Kind::Hardlink => {}
    }
    for (bit, letter) in [(0o4000, 'u'), (0o2000, 'g'), (0o1000, 't')] {
        if mode & bit != 0 {
            out.push(letter);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        out.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        out.push(if bits & 0o1 != 0 { 'x' } else { '-' });
    }
    out
}

/// Appends a failure for each expected regex that does not match and each
/// excluded regex that does.
pub(crate) fn match_regexes(
    failures: &mut Vec<String>,
    what: &str,
    text: &str,
    expected: &[String],
    excluded: &[String],
) {
    for pattern in expected {
        let matched = Regex::new(pattern)
            .map(|r| r.is_match(text))
            .unwrap_or(false);
        if !matched {
            failures.push(format!(
                "{what}: expected to match /{pattern}/, got {}",
                excerpt(text)
            ));
        }
    }
    for pattern in excluded {
        if let Some(found) = Regex::new(pattern).ok().and_then(|r| r.find(text)) {
            failures.push(format!(
                "{what}: expected not to match /{pattern}/, found {:?}",
                found.as_str()
            ));
        }
    }
}

/// Quoted, escaped and shortened, so a failure stays one readable line.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 300;
    let shortened: String = text.chars().take(LIMIT).collect();
    if text.chars().count() > LIMIT {
        format!("{shortened:?}... ({} bytes)", text.len())
    } else {
        format!("{shortened:?}")
    }
}

fn metadata_checks(image: &Image, test: &MetadataTest, strict: bool) -> Vec<CheckResult> {
    let config = image.config.config().clone().unwrap_or_default();
    let env = environment(image, &[]);
    let labels = config.labels().clone().unwrap_or_default();
    let ports: Vec<String> = config.exposed_ports().iter().flatten().cloned().collect();
    let volumes: Vec<String> = config.volumes().iter().flatten().cloned().collect();
    let mut results = Vec::new();
    let mut push = |name: String, failures: Vec<String>| {
        results.push(CheckResult {
            kind: "metadata",
            name,
            failures,
        })
    };
    for var in &test.env_vars {
        push(
            format!("env {}", var.key),
            compare_value(&var.value, var.is_regex, env.get(&var.key).map(String::as_str)),
        );
    }
    for var in &test.unbound_env_vars {
        let failures = match env.get(&var.key) {
            Some(v) => vec![format!("expected unset, got {v:?}")],
            None => Vec::new(),
        };
        push(format!("env {} unset", var.key), failures);
    }
    for label in &test.labels {
        let actual = labels.get(&label.key).map(String::as_str);
        push(
            format!("label {}", label.key),
            compare_value(&label.value, label.is_regex, actual),
        );
    }
    if let Some(expected) = &test.entrypoint {
        let actual = config.entrypoint().clone().unwrap_or_default();
        push("entrypoint".into(), compare_list(expected, &actual));
    }
    if let Some(expected) = &test.cmd {
        let actual = config.cmd().clone().unwrap_or_default();
        push("cmd".into(), compare_list(expected, &actual));
    }
    // CST lists a port by number only ("8080" for "8080/tcp"); a protocol is our extension.
    let has_port = |wanted: &str| {
        ports.iter().any(|p| {
            let number = p.split_once('/').map_or(p.as_str(), |(n, _)| n);
            number == wanted || (!strict && wanted.contains('/') && p == wanted)
        })
    };
    for port in &test.exposed_ports {
        let failures = if has_port(port) {
            Vec::new()
        } else {
            vec![format!("expected exposed, exposed ports are {ports:?}")]
        };
        push(format!("exposed port {port}"), failures);
    }
    for port in &test.unexposed_ports {
        let failures = if has_port(port) {
            vec![format!("expected not exposed, exposed ports are {ports:?}")]
        } else {
            Vec::new()
        };
        push(format!("unexposed port {port}"), failures);
    }
    for volume in &test.volumes {
        let failures = if volumes.contains(volume) {
            Vec::new()
        } else {
            vec![format!("expected a volume, volumes are {volumes:?}")]
        };
        push(format!("volume {volume}"), failures);
    }
    for volume in &test.unmounted_volumes {
        let failures = if volumes.contains(volume) {
            vec![format!("expected no volume, volumes are {volumes:?}")]
        } else {
            Vec::new()
        };
        push(format!("no volume {volume}"), failures);
    }
    if !test.workdir.is_empty() {
        let actual = config.working_dir().clone().unwrap_or_default();
        push(
            "workdir".into(),
            compare_value(&test.workdir, false, Some(&actual)),
        );
    }
    if !test.user.is_empty() {
        let actual = config.user().clone().unwrap_or_default();
        push("user".into(), compare_value(&test.user, false, Some(&actual)));
    }
    results
}

fn compare_value(expected: &str, is_regex: bool, actual: Option<&str>) -> Vec<String> {
    match actual {
        None => vec![format!("expected {expected:?}, not set")],
        Some(actual) => {
            let ok = if is_regex {
                Regex::new(expected)
                    .map(|r| r.is_match(actual))
                    .unwrap_or(false)
            } else {
                expected == actual
            };
            if ok {
                Vec::new()
            } else if is_regex {
                vec![format!("expected to match /{expected}/, got {actual:?}")]
            } else {
                vec![format!("expected {expected:?}, got {actual:?}")]
            }
        }
    }
}

fn compare_list(expected: &[String], actual: &[String]) -> Vec<String> {
    if expected == actual {
        Vec::new()
    } else {
        vec![format!("expected {expected:?}, got {actual:?}")]
    }
}

/// The spellings `permissions` accepts; see the module docs for which ones CST passes.
pub(crate) enum Permissions {
    /// Go's `FileMode.String()`, what CST compares with.
    Go,
    /// `ls -l` style with `s`/`t` letters and `l` for links.
    Ls,
    Octal(u32),
}

impl Permissions {
    pub(crate) fn parse(text: &str) -> Option<Permissions> {
        let bytes = text.as_bytes();
        if (3..=4).contains(&bytes.len()) && bytes.iter().all(|b| (b'0'..=b'7').contains(b)) {
            return u32::from_str_radix(text, 8).ok().map(Permissions::Octal);
        }
        if bytes.len() < 10 {
            return None;
        }
        let (kind, rwx) = text.split_at(text.len() - 9);
        let go_rwx = rwx
            .chars()
            .enumerate()
            .all(|(i, c)| c == '-' || c == ['r', 'w', 'x'][i % 3]);
        if go_rwx && (kind == "-" || kind.chars().all(|c| "dalTLDpSugct?".contains(c))) {
            return Some(Permissions::Go);
        }
        let ls_rwx = rwx.chars().enumerate().all(|(i, c)| match i % 3 {
            0 => "r-".contains(c),
            1 => "w-".contains(c),
            _ => "xsStT-".contains(c),
        });
        (kind.len() == 1 && "-dlcbps".contains(kind) && ls_rwx)
            .then_some(Permissions::Ls)
    }
}

fn executable_mask(who: &str) -> Option<u32> {
    match who {
        "owner" => Some(0o100),
        "group" => Some(0o010),
        "other" => Some(0o001),
        "any" => Some(0o111),
        _ => None,
    }
}

fn describe_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::File | Kind::Hardlink => "file",
        Kind::Dir => "directory",
        Kind::Symlink => "symlink",
        Kind::Other => "special file",
    }
}

/// `ls -l` rendering of a mode, setuid/setgid/sticky included.
pub fn ls_mode(kind: Kind, mode: u32) -> String {
    let mut out = String::with_capacity(10);
    out.push(kind.ls_char());
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (class, (special_bit, with_x, without_x)) in special.iter().enumerate() {
        let shift = 6 - class * 3;
        let bits = (mode >> shift) & 0o7;
        out.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        out.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        let x = bits & 0o1 != 0;
        out.push(match (mode & special_bit != 0, x) {
            (true, true) => *with_x,
            (true, false) => *without_x,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_modes() {
        assert_eq!(ls_mode(Kind::File, 0o644), "-rw-r--r--");
        assert_eq!(ls_mode(Kind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(ls_mode(Kind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(ls_mode(Kind::Symlink, 0o777), "lrwxrwxrwx");
    }

    #[test]
    fn permissions_syntax() {
        assert!(matches!(Permissions::parse("0755"), Some(Permissions::Octal(0o755))));
        assert!(matches!(Permissions::parse("-rw-r--r--"), Some(Permissions::Go)));
        assert!(matches!(Permissions::parse("dtrwxrwxrwx"), Some(Permissions::Go)));
        assert!(matches!(Permissions::parse("Lrwxrwxrwx"), Some(Permissions::Go)));
        assert!(matches!(Permissions::parse("drwxrwxrwt"), Some(Permissions::Ls)));
        assert!(matches!(Permissions::parse("-rwsr-xr-x"), Some(Permissions::Ls)));
        assert!(Permissions::parse("rw-r--r--").is_none());
        assert!(Permissions::parse("9999").is_none());
        assert!(Permissions::parse("xrwxrwxrwx").is_none());
    }

    #[test]
    fn go_modes_as_cst_prints_them() {
        assert_eq!(go_mode(Kind::Dir, 0o1777), "dtrwxrwxrwx");
        assert_eq!(go_mode(Kind::Symlink, 0o777), "Lrwxrwxrwx");
        assert_eq!(go_mode(Kind::File, 0o4755), "urwxr-xr-x");
        assert_eq!(go_mode(Kind::Dir, 0o2755), "dgrwxr-xr-x");
        assert_eq!(go_mode(Kind::File, 0o644), "-rw-r--r--");
    }

    #[test]
    fn regex_failures_show_expected_and_actual() {
        let mut failures = Vec::new();
        match_regexes(
            &mut failures,
            "stdout",
            "hello\n",
            &["^bye".into()],
            &["hel+".into()],
        );
        assert_eq!(failures.len(), 2);
        assert_eq!(
            failures[0],
            "stdout: expected to match /^bye/, got \"hello\\n\""
        );
        assert_eq!(
            failures[1],
            "stdout: expected not to match /hel+/, found \"hell\""
        );
    }
}
