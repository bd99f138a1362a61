//! SPDX 2.3 JSON for an image: the image itself, the Debian packages its
//! dpkg database lists, and the Python distributions whose metadata it holds.
//!
//! Sources, all read from the layers (no container):
//! - Debian: `/var/lib/dpkg/status.d/*` stanzas (distroless) and
//!   `/var/lib/dpkg/status`; licences from machine-readable
//!   `/usr/share/doc/<package>/copyright`, else NOASSERTION;
//! - Python: every `*.dist-info/METADATA` and `*.egg-info/PKG-INFO` anywhere
//!   (site-packages, dist-packages, Bazel runfiles); licence from
//!   `License-Expression`, then `License`, then `License ::` classifiers.
//!
//! The output is deterministic: packages sorted, the namespace derived from
//! the manifest digest, `created` taken from the caller or the image config.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::imagefs::ImageFs;
use crate::licenses::{self, Term};
use pyoci_manifest::{Image, Layout};

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const DPKG_STATUS_DIR: &str = "/var/lib/dpkg/status.d/";
const DOC_DIR: &str = "/usr/share/doc/";
const OS_RELEASE: &[&str] = &["/etc/os-release", "/usr/lib/os-release"];
const NOASSERTION: &str = "NOASSERTION";
const EPOCH: &str = "1970-01-01T00:00:00Z";
const NAMESPACE_BASE: &str = "https://spdx.org/spdxdocs/";

pub struct SbomOptions {
    /// Document name, and the image package's name.
    pub name: String,
    /// RFC 3339; defaults to the image config's `created`, else the epoch.
    pub created: Option<String>,
    /// Written as `Tool: <creator>`.
    pub creator: String,
}

#[derive(Serialize, Debug)]
pub struct Document {
    #[serde(rename = "spdxVersion")]
    pub spdx_version: &'static str,
    #[serde(rename = "dataLicense")]
    pub data_license: &'static str,
    #[serde(rename = "SPDXID")]
    pub spdx_id: &'static str,
    pub name: String,
    #[serde(rename = "documentNamespace")]
    pub document_namespace: String,
    #[serde(rename = "creationInfo")]
    pub creation_info: CreationInfo,
    pub packages: Vec<Package>,
    pub relationships: Vec<Relationship>,
    #[serde(
        rename = "hasExtractedLicensingInfos",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extracted_licenses: Vec<ExtractedLicense>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CreationInfo {
    pub created: String,
    pub creators: Vec<String>,
    pub license_list_version: String,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    #[serde(rename = "SPDXID")]
    pub spdx_id: String,
    pub name: String,
    pub version_info: String,
    pub supplier: String,
    pub download_location: &'static str,
    pub files_analyzed: bool,
    pub license_concluded: String,
    pub license_declared: String,
    pub copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_package_purpose: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<Checksum>,
    pub external_refs: Vec<ExternalRef>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Checksum {
    pub algorithm: &'static str,
    pub checksum_value: String,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRef {
    pub reference_category: &'static str,
    pub reference_type: &'static str,
    pub reference_locator: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    pub spdx_element_id: String,
    pub relationship_type: &'static str,
    pub related_spdx_element: String,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ExtractedLicense {
    pub license_id: String,
    pub name: String,
    pub extracted_text: String,
}

/// Paths whose contents the SBOM needs.
pub fn wanted(path: &str) -> bool {
    path == DPKG_STATUS
        || OS_RELEASE.contains(&path)
        || (path.starts_with(DPKG_STATUS_DIR) && !path.ends_with(".md5sums"))
        || (path.starts_with(DOC_DIR) && path.ends_with("/copyright"))
        || path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
}

pub fn generate(layout: &Layout, image: &Image, options: &SbomOptions) -> Result<Document> {
    let fs = ImageFs::read(layout, image, &wanted, None)?;
    from_fs(&fs, image, options)
}

pub fn from_fs(fs: &ImageFs, image: &Image, options: &SbomOptions) -> Result<Document> {
    let created = match &options.created {
        Some(text) => normalize_timestamp(text).ok_or_else(|| Error::InvalidValue {
            what: "creation time",
            value: text.clone(),
            reason: "expected RFC 3339, e.g. 2024-05-01T12:00:00Z".into(),
        })?,
        None => image
            .config
            .created()
            .as_deref()
            .and_then(normalize_timestamp)
            .unwrap_or_else(|| EPOCH.to_string()),
    };
    let manifest_hex = image
        .manifest_digest
        .split_once(':')
        .map_or(image.manifest_digest.as_str(), |(_, hex)| hex)
        .to_string();
    let os = OsRelease::read(fs);
    let mut refs = LicenseRefs::default();
    let mut packages = debian_packages(fs, &os, &mut refs);
    packages.extend(python_packages(fs));
    packages.sort_by(|a, b| a.spdx_id.cmp(&b.spdx_id));
    make_ids_unique(&mut packages);

    let image_package = Package {
        spdx_id: "SPDXRef-Image".into(),
        name: options.name.clone(),
        version_info: image.manifest_digest.clone(),
        supplier: NOASSERTION.into(),
        download_location: NOASSERTION,
        files_analyzed: false,
        license_concluded: NOASSERTION.into(),
        license_declared: NOASSERTION.into(),
        copyright_text: NOASSERTION,
        source_info: None,
        primary_package_purpose: Some("CONTAINER"),
        checksums: vec![Checksum {
            algorithm: "SHA256",
            checksum_value: manifest_hex.clone(),
        }],
        external_refs: vec![ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: format!(
                "pkg:oci/{}@sha256%3A{manifest_hex}",
                purl_encode(&oci_purl_name(&options.name))
            ),
        }],
    };
    let mut relationships = vec![Relationship {
        spdx_element_id: "SPDXRef-DOCUMENT".into(),
        relationship_type: "DESCRIBES",
        related_spdx_element: image_package.spdx_id.clone(),
    }];
    relationships.extend(packages.iter().map(|p| Relationship {
        spdx_element_id: image_package.spdx_id.clone(),
        relationship_type: "CONTAINS",
        related_spdx_element: p.spdx_id.clone(),
    }));
    let mut all_packages = vec![image_package];
    all_packages.extend(packages);
    Ok(Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: "SPDXRef-DOCUMENT",
        name: options.name.clone(),
        document_namespace: format!(
            "{NAMESPACE_BASE}{}-{manifest_hex}",
            licenses::sanitize_ref(&options.name)
        ),
        creation_info: CreationInfo {
            created,
            creators: vec![format!("Tool: {}", options.creator)],
            license_list_version: spdx::license_version()
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join("."),
        },
        packages: all_packages,
        relationships,
        extracted_licenses: refs.into_vec(),
    })
}

fn normalize_timestamp(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

/// SPDX ids of packages must be unique; sanitizing versions can collide.
fn make_ids_unique(packages: &mut [Package]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for package in packages.iter_mut() {
        let count = seen.entry(package.spdx_id.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            package.spdx_id = format!("{}-{}", package.spdx_id, count);
        }
    }
}

#[derive(Default)]
struct LicenseRefs {
    by_id: BTreeMap<String, ExtractedLicense>,
}

impl LicenseRefs {
    fn add(&mut self, scope: &str, name: &str, text: Option<&str>) -> String {
        let id = format!(
            "LicenseRef-{}-{}",
            licenses::sanitize_ref(scope),
            licenses::sanitize_ref(name)
        );
        self.by_id
            .entry(id.clone())
            .or_insert_with(|| ExtractedLicense {
                license_id: id.clone(),
                name: name.to_string(),
                extracted_text: text
                    .filter(|t| !t.trim().is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("The text of {name:?} was not found in the image.")),
            });
        id
    }

    fn into_vec(self) -> Vec<ExtractedLicense> {
        self.by_id.into_values().collect()
    }
}

/// A deb822 paragraph: fields in order, continuation lines joined by `\n`.
type Paragraph = Vec<(String, String)>;

fn parse_deb822(text: &str) -> Vec<Paragraph> {
    let mut paragraphs = Vec::new();
    let mut current: Paragraph = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, value)) = current.last_mut() {
                let continuation = line.trim();
                value.push('\n');
                if continuation != "." {
                    value.push_str(continuation);
                }
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

fn field<'a>(paragraph: &'a Paragraph, name: &str) -> Option<&'a str> {
    paragraph
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct OsRelease {
    id: String,
    version_id: Option<String>,
}

impl OsRelease {
    fn read(fs: &ImageFs) -> OsRelease {
        let text = OS_RELEASE
            .iter()
            .find_map(|p| fs.read_file(p))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let value = |key: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
        };
        OsRelease {
            id: value("ID").unwrap_or_else(|| "debian".into()),
            version_id: value("VERSION_ID"),
        }
    }
}

fn debian_packages(fs: &ImageFs, os: &OsRelease, refs: &mut LicenseRefs) -> Vec<Package> {
    let mut stanzas: BTreeMap<(String, String, String), Paragraph> = BTreeMap::new();
    let status_files = fs
        .entries()
        .filter(|(p, _)| *p == DPKG_STATUS || (p.starts_with(DPKG_STATUS_DIR) && wanted(p)))
        .map(|(p, _)| p.to_string())
        .collect::<Vec<_>>();
    for path in status_files {
        let Some(bytes) = fs.read_file(&path) else {
            continue;
        };
        for paragraph in parse_deb822(&String::from_utf8_lossy(bytes)) {
            let installed = field(&paragraph, "Status").is_none_or(|s| s.ends_with(" installed"));
            let (Some(name), Some(version)) =
                (field(&paragraph, "Package"), field(&paragraph, "Version"))
            else {
                continue;
            };
            if !installed {
                continue;
            }
            let arch = field(&paragraph, "Architecture").unwrap_or("").to_string();
            stanzas.insert((name.to_string(), version.to_string(), arch), paragraph);
        }
    }
    stanzas
        .into_iter()
        .map(|((name, version, arch), paragraph)| {
            let licence = debian_licence(fs, &name, refs);
            let supplier = field(&paragraph, "Maintainer")
                .map(spdx_person)
                .unwrap_or_else(|| NOASSERTION.into());
            let mut qualifiers = Vec::new();
            if !arch.is_empty() {
                qualifiers.push(format!("arch={}", purl_encode(&arch)));
            }
            if let Some(v) = &os.version_id {
                qualifiers.push(format!("distro={}-{}", purl_encode(&os.id), purl_encode(v)));
            }
            let query = if qualifiers.is_empty() {
                String::new()
            } else {
                format!("?{}", qualifiers.join("&"))
            };
            Package {
                spdx_id: format!(
                    "SPDXRef-deb-{}-{}-{}",
                    licenses::sanitize_ref(&name),
                    licenses::sanitize_ref(&version),
                    licenses::sanitize_ref(&arch)
                ),
                name: name.clone(),
                version_info: version.clone(),
                supplier,
                download_location: NOASSERTION,
                files_analyzed: false,
                license_concluded: licence.clone(),
                license_declared: licence,
                copyright_text: NOASSERTION,
                source_info: field(&paragraph, "Source")
                    .map(|s| format!("built from Debian source package {s}")),
                primary_package_purpose: None,
                checksums: Vec::new(),
                external_refs: vec![ExternalRef {
                    reference_category: "PACKAGE-MANAGER",
                    reference_type: "purl",
                    reference_locator: format!(
                        "pkg:deb/{}/{}@{}{query}",
                        purl_encode(&os.id),
                        purl_encode(&name),
                        purl_encode(&version)
                    ),
                }],
            }
        })
        .collect()
}

/// The licence expression of a machine-readable Debian copyright file.
fn debian_licence(fs: &ImageFs, package: &str, refs: &mut LicenseRefs) -> String {
    let path = format!("{DOC_DIR}{package}/copyright");
    let Some(bytes) = fs.read_file(&path) else {
        return NOASSERTION.into();
    };
    let paragraphs = parse_deb822(&String::from_utf8_lossy(bytes));
    let machine_readable = paragraphs
        .first()
        .and_then(|p| field(p, "Format"))
        .is_some_and(|f| f.contains("copyright-format"));
    if !machine_readable {
        return NOASSERTION.into();
    }
    let standalone_texts: BTreeMap<String, String> = paragraphs
        .iter()
        .filter(|p| field(p, "Files").is_none())
        .filter_map(|p| field(p, "License"))
        .filter_map(|l| {
            l.split_once('\n')
                .map(|(n, t)| (n.trim().to_string(), t.to_string()))
        })
        .collect();
    // Top-level AND terms of every Files paragraph, each once, in file order.
    let mut conjuncts: Vec<String> = Vec::new();
    let mut pending_refs: Vec<(String, Option<String>)> = Vec::new();
    for paragraph in paragraphs.iter().filter(|p| field(p, "Files").is_some()) {
        let Some(licence) = field(paragraph, "License") else {
            continue;
        };
        let (first_line, inline_text) = match licence.split_once('\n') {
            Some((first, text)) => (first.trim(), Some(text.to_string())),
            None => (licence.trim(), None),
        };
        if first_line.is_empty() {
            continue;
        }
        let mut expression = String::new();
        for (operator, term) in licenses::debian_expression(first_line) {
            if let Some(op) = operator {
                expression.push_str(&format!(" {op} "));
            }
            match term {
                Term::Spdx(id) => expression.push_str(&id),
                Term::Other(name) => {
                    let text = standalone_texts.get(&name).cloned().or(inline_text.clone());
                    expression.push_str(&format!(
                        "LicenseRef-{}-{}",
                        licenses::sanitize_ref(package),
                        licenses::sanitize_ref(&name)
                    ));
                    pending_refs.push((name, text));
                }
            }
        }
        let terms: Vec<String> = if expression.contains(" OR ") {
            vec![format!("({expression})")]
        } else {
            expression.split(" AND ").map(str::to_string).collect()
        };
        for term in terms {
            if !conjuncts.contains(&term) {
                conjuncts.push(term);
            }
        }
    }
    if conjuncts.is_empty() {
        return NOASSERTION.into();
    }
    let combined = if conjuncts.len() == 1 {
        let only = &conjuncts[0];
        only.strip_prefix('(')
            .and_then(|o| o.strip_suffix(')'))
            .unwrap_or(only)
            .to_string()
    } else {
        conjuncts.join(" AND ")
    };
    if !licenses::valid_expression(&combined) {
        return NOASSERTION.into();
    }
    for (name, text) in pending_refs {
        refs.add(package, &name, text.as_deref());
    }
    combined
}

fn python_packages(fs: &ImageFs) -> Vec<Package> {
    // One package per (name, version); the same wheel often appears in
    // several runfiles trees.
    let mut found: BTreeMap<(String, String), (Paragraph, BTreeSet<String>)> = BTreeMap::new();
    let metadata_files: Vec<String> = fs
        .entries()
        .filter(|(p, _)| p.ends_with(".dist-info/METADATA") || p.ends_with(".egg-info/PKG-INFO"))
        .map(|(p, _)| p.to_string())
        .collect();
    for path in metadata_files {
        let Some(bytes) = fs.read_file(&path) else {
            continue;
        };
        let headers = parse_metadata_headers(&String::from_utf8_lossy(bytes));
        let (Some(name), Some(version)) = (field(&headers, "Name"), field(&headers, "Version"))
        else {
            continue;
        };
        let key = (normalize_python_name(name), version.to_string());
        let dir = path
            .rsplit_once('/')
            .map_or(path.as_str(), |(d, _)| d)
            .to_string();
        found
            .entry(key)
            .or_insert_with(|| (headers.clone(), BTreeSet::new()))
            .1
            .insert(dir);
    }
    found
        .into_iter()
        .map(|((normalized, version), (headers, dirs))| {
            let name = field(&headers, "Name").unwrap_or(&normalized).to_string();
            let licence = python_licence(&headers).unwrap_or_else(|| NOASSERTION.into());
            let supplier = python_supplier(&headers);
            Package {
                spdx_id: format!(
                    "SPDXRef-pypi-{}-{}",
                    licenses::sanitize_ref(&normalized),
                    licenses::sanitize_ref(&version)
                ),
                name,
                version_info: version.clone(),
                supplier,
                download_location: NOASSERTION,
                files_analyzed: false,
                license_concluded: licence.clone(),
                license_declared: licence,
                copyright_text: NOASSERTION,
                source_info: Some(format!(
                    "metadata at {}",
                    dirs.into_iter().collect::<Vec<_>>().join(", ")
                )),
                primary_package_purpose: Some("LIBRARY"),
                checksums: Vec::new(),
                external_refs: vec![ExternalRef {
                    reference_category: "PACKAGE-MANAGER",
                    reference_type: "purl",
                    reference_locator: format!(
                        "pkg:pypi/{}@{}",
                        purl_encode(&normalized),
                        purl_encode(&version)
                    ),
                }],
            }
        })
        .collect()
}

/// Author (else Maintainer) as an SPDX person; `*-email` may hold
/// `Name <address>` or a bare address.
fn python_supplier(headers: &Paragraph) -> String {
    let non_empty = |name: &str| {
        field(headers, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let (name, email) = match non_empty("Author").or(non_empty("Author-email")) {
        Some(_) => (non_empty("Author"), non_empty("Author-email")),
        None => (non_empty("Maintainer"), non_empty("Maintainer-email")),
    };
    match (name, email) {
        (_, Some(email)) if email.contains('<') => spdx_person(email),
        (Some(name), Some(email)) => format!("Person: {name} ({email})"),
        (Some(name), None) => format!("Person: {name}"),
        (None, Some(email)) => format!("Person: {email}"),
        (None, None) => NOASSERTION.into(),
    }
}

fn python_licence(headers: &Paragraph) -> Option<String> {
    if let Some(expression) = field(headers, "License-Expression") {
        if licenses::valid_expression(expression.trim()) {
            return Some(expression.trim().to_string());
        }
    }
    if let Some(id) = field(headers, "License").and_then(licenses::python_value) {
        return Some(id);
    }
    let mut from_classifiers: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Classifier"))
        .filter_map(|(_, v)| licenses::python_classifier(v))
        .collect();
    from_classifiers.sort();
    from_classifiers.dedup();
    // Several licence classifiers: all of them apply as far as we can tell.
    (!from_classifiers.is_empty()).then(|| from_classifiers.join(" AND "))
}

/// Core metadata is RFC 822 headers, then a blank line, then the description.
fn parse_metadata_headers(text: &str) -> Paragraph {
    let header_block = text.split("\n\n").next().unwrap_or("");
    let mut fields: Paragraph = Vec::new();
    for line in header_block.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    fields
}

/// PEP 503: lowercase, runs of `-`, `_`, `.` become one `-`.
fn normalize_python_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut previous_separator = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !previous_separator {
                out.push('-');
            }
            previous_separator = true;
        } else {
            out.push(c.to_ascii_lowercase());
            previous_separator = false;
        }
    }
    out
}

/// `Jane Doe <jane@example.org>` -> `Person: Jane Doe (jane@example.org)`.
fn spdx_person(text: &str) -> String {
    let text = text.trim();
    // Author-email may list several people; the first is the supplier.
    let first = text.split(">,").next().unwrap_or(text);
    let first = if first.contains('<') && !first.ends_with('>') {
        format!("{first}>")
    } else {
        first.to_string()
    };
    match (first.find('<'), first.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let name = first[..open].trim().trim_matches('"');
            let email = &first[open + 1..close];
            if name.is_empty() {
                format!("Person: {email}")
            } else {
                format!("Person: {name} ({email})")
            }
        }
        _ if first.is_empty() => NOASSERTION.into(),
        _ => format!("Person: {first}"),
    }
}

/// Percent-encodes everything but unreserved characters and the `+` and `:`
/// Debian versions carry (as purl implementations print them).
fn purl_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~+:".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn oci_purl_name(name: &str) -> String {
    name.rsplit('/')
        .next()
        .unwrap_or(name)
        .split(':')
        .next()
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// The canonical JSON bytes written to disk (pretty, trailing newline).
pub fn to_json(document: &Document) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(document).map_err(|e| Error::InvalidValue {
        what: "SBOM",
        value: document.name.clone(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822() {
        let paragraphs = parse_deb822(
            "Package: libc6\nVersion: 2.36-9+deb12u14\nDescription: GNU C Library\n more\n .\n end\n\nPackage: b\nVersion: 1\n",
        );
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(
            field(&paragraphs[0], "Description"),
            Some("GNU C Library\nmore\n\nend")
        );
    }

    #[test]
    fn metadata_headers() {
        let headers = parse_metadata_headers(
            "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nLicense: MIT\nClassifier: License :: OSI Approved :: MIT License\n\nlong: description\n",
        );
        assert_eq!(field(&headers, "Name"), Some("PyYAML"));
        assert_eq!(python_licence(&headers).as_deref(), Some("MIT"));
        assert!(field(&headers, "long").is_none());
    }

    #[test]
    fn names_and_people() {
        assert_eq!(normalize_python_name("Foo_Bar.baz"), "foo-bar-baz");
        assert_eq!(
            spdx_person("GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
            "Person: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
        );
        assert_eq!(
            spdx_person("\"A B\" <a@b.c>, C <c@d.e>"),
            "Person: A B (a@b.c)"
        );
        assert_eq!(purl_encode("1:1.2.13.dfsg-1"), "1:1.2.13.dfsg-1");
        assert_eq!(purl_encode("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            normalize_timestamp("2024-05-01T12:00:00.123+02:00").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(normalize_timestamp("yesterday"), None);
    }
}
