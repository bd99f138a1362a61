//! Trust the way docker, podman, skopeo and crane do: the system store (which honours
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`), CA files the user names (`--ca-cert`), and per
//! registry `certs.d/<host[:port]>/` directories holding `*.crt` CAs and a
//! `*.cert`/`*.key` client certificate pair.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::error::{Error, Result};

/// Where docker (`/etc/docker/certs.d`) and podman (`/etc/containers/certs.d`) keep
/// per-registry certificates. `PYOCI_CERTS_D` (a `:`-separated list) replaces both, for
/// tests and for machines that keep them elsewhere.
pub fn certs_d_roots() -> Vec<PathBuf> {
    match std::env::var_os("PYOCI_CERTS_D") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list).collect(),
        _ => vec![
            PathBuf::from("/etc/docker/certs.d"),
            PathBuf::from("/etc/containers/certs.d"),
        ],
    }
}

/// The certs.d directory names for a registry, most specific first: `host:port` as written
/// in references, then the bare host for the default HTTPS port.
pub fn certs_d_names(host: &str, port: u16) -> Vec<String> {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port == 443 {
        vec![host.clone(), format!("{host}:443")]
    } else {
        vec![format!("{host}:{port}")]
    }
}

/// What a certs.d directory held for one registry.
#[derive(Default)]
struct HostFiles {
    cas: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
}

pub(crate) struct Trust {
    roots: Vec<PathBuf>,
    extra: Vec<Certificate<'static>>,
    system: OnceLock<Arc<Vec<Certificate<'static>>>>,
}

impl Trust {
    pub(crate) fn new(ca_files: &[PathBuf]) -> Result<Trust> {
        let mut extra = Vec::new();
        for file in ca_files {
            let cas = read_certificates(file)?;
            if cas.is_empty() {
                return Err(tls_file(file, "holds no PEM certificate"));
            }
            extra.extend(cas);
        }
        Ok(Trust {
            roots: certs_d_roots(),
            extra,
            system: OnceLock::new(),
        })
    }

    /// The certs.d directory a user would put files in for this registry (the first root).
    pub(crate) fn suggested_dir(&self, host: &str, port: u16) -> PathBuf {
        let root = self
            .roots
            .first()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("/etc/docker/certs.d"));
        root.join(&certs_d_names(host, port)[0])
    }

    fn system(&self) -> Arc<Vec<Certificate<'static>>> {
        self.system
            .get_or_init(|| {
                // Unreadable entries in the store are skipped, as every TLS client does.
                let found = rustls_native_certs::load_native_certs();
                Arc::new(
                    found
                        .certs
                        .iter()
                        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                        .collect(),
                )
            })
            .clone()
    }

    fn host_files(&self, host: &str, port: u16) -> Result<HostFiles> {
        let mut files = HostFiles::default();
        for root in &self.roots {
            for name in certs_d_names(host, port) {
                let dir = root.join(name);
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                paths.sort();
                for path in paths {
                    match path.extension().and_then(|e| e.to_str()) {
                        Some("crt") => files.cas.extend(read_certificates(&path)?),
                        Some("cert") if files.client.is_none() => {
                            let key = path.with_extension("key");
                            if !key.exists() {
                                return Err(tls_file(
                                    &path,
                                    &format!(
                                        "client certificate without its key {}",
                                        key.display()
                                    ),
                                ));
                            }
                            let chain = read_certificates(&path)?;
                            let key_pem = std::fs::read(&key).map_err(|e| Error::io(&key, e))?;
                            let key_der = PrivateKey::from_pem(&key_pem).map_err(|e| {
                                tls_file(&key, &format!("not a PEM private key: {e}"))
                            })?;
                            files.client = Some(ClientCert::new_with_certs(&chain, key_der));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(files)
    }

    /// The TLS settings for one registry host.
    pub(crate) fn config_for(&self, host: &str, port: u16) -> Result<TlsConfig> {
        let files = self.host_files(host, port)?;
        let mut roots: Vec<Certificate<'static>> = self.system().as_ref().clone();
        let system_is_empty = roots.is_empty();
        roots.extend(self.extra.iter().cloned());
        roots.extend(files.cas);
        let root_certs = if system_is_empty && roots.is_empty() {
            // No system store at all (a scratch container): the compiled-in Mozilla list.
            RootCerts::WebPki
        } else {
            RootCerts::Specific(Arc::new(roots))
        };
        Ok(TlsConfig::builder()
            .root_certs(root_certs)
            .client_cert(files.client)
            .build())
    }
}

fn read_certificates(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(tls_file(path, &format!("not valid PEM: {e}"))),
        }
    }
    Ok(certs)
}

fn tls_file(path: &Path, reason: &str) -> Error {
    Error::TlsFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// What went wrong in a handshake, in the words a user can act on; `None` for failures
/// that are not about certificates (the server does not speak TLS at all, for one).
pub(crate) fn certificate_problem(error: &rustls::Error) -> Option<(&'static str, Fix)> {
    use rustls::{AlertDescription as A, CertificateError as C};
    match error {
        rustls::Error::InvalidCertificate(cert) => Some(match cert {
            C::UnknownIssuer => (
                "its certificate is signed by an unknown certificate authority",
                Fix::TrustCa,
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                "its certificate is not valid for this host name (name mismatch)",
                Fix::Name,
            ),
            C::Expired | C::ExpiredContext { .. } => ("its certificate has expired", Fix::Renew),
            C::NotValidYet | C::NotValidYetContext { .. } => (
                "its certificate is not valid yet (check the clock)",
                Fix::Renew,
            ),
            C::Revoked => ("its certificate was revoked", Fix::Renew),
            _ => ("its certificate was rejected", Fix::TrustCa),
        }),
        rustls::Error::AlertReceived(
            A::CertificateRequired | A::HandshakeFailure | A::BadCertificate,
        ) => Some((
            "it requires a client certificate, and none was accepted",
            Fix::ClientCert,
        )),
        rustls::Error::AlertReceived(A::UnknownCA) => Some((
            "it does not trust our client certificate's authority",
            Fix::ClientCert,
        )),
        rustls::Error::NoCertificatesPresented => {
            Some(("it presented no certificate", Fix::TrustCa))
        }
        _ => None,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Fix {
    TrustCa,
    Name,
    Renew,
    ClientCert,
}

impl Fix {
    pub(crate) fn advice(self, dir: &Path) -> String {
        match self {
            Fix::TrustCa => format!(
                "put the registry's CA certificate in {}/ca.crt, pass it with --ca-cert \
                 (ca_cert on the rule), or add it to the system store / SSL_CERT_FILE",
                dir.display()
            ),
            Fix::Name => "use the host name the certificate was issued for, or have the \
                          registry's certificate reissued with this name"
                .to_string(),
            Fix::Renew => "the registry's certificate must be renewed".to_string(),
            Fix::ClientCert => format!(
                "put a client certificate and key the registry accepts in {}/client.cert \
                 and {}/client.key",
                dir.display(),
                dir.display()
            ),
        }
    }
}

/// The rustls error inside a ureq error, wherever ureq put it.
pub(crate) fn rustls_error(error: &ureq::Error) -> Option<&rustls::Error> {
    match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => {
            let inner = io.get_ref()?;
            if let Some(e) = inner.downcast_ref::<rustls::Error>() {
                return Some(e);
            }
            match inner.downcast_ref::<ureq::Error>()? {
                ureq::Error::Rustls(e) => Some(e),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_d_directory_names_follow_docker() {
        assert_eq!(certs_d_names("127.0.0.1", 5443), ["127.0.0.1:5443"]);
        assert_eq!(
            certs_d_names("registry.example.com", 443),
            ["registry.example.com", "registry.example.com:443"]
        );
        assert_eq!(certs_d_names("::1", 5000), ["[::1]:5000"]);
    }

    #[test]
    fn default_roots_are_dockers_and_podmans() {
        // The variable is read, not set, here: tests run in parallel threads.
        if std::env::var_os("PYOCI_CERTS_D").is_none() {
            assert_eq!(
                certs_d_roots(),
                [
                    PathBuf::from("/etc/docker/certs.d"),
                    PathBuf::from("/etc/containers/certs.d")
                ]
            );
        }
    }
}
