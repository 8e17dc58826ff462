//! Trust for outgoing HTTPS: the system's CA certificates plus those of an
//! extra CA file (PEM), as ureq's [`TlsConfig`] and as a rustls
//! [`rustls::ClientConfig`], both over the aws-lc provider.
//!
//! It lives beside the key material because certificates are PEM material
//! too, and because two unrelated callers need the same trust: the checks
//! (`verify`, `doctor`, `login` fetching as Prosody would, with
//! `--ca-file`) and the token service's identity-provider client (with
//! `ca_file` in its config). Neither may import the other.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// Why an extra CA file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct TrustError {
    /// The CA file.
    pub path: PathBuf,
    /// What is wrong with it, and the fix.
    pub reason: String,
}

/// The most a CA file may hold (the whole Mozilla bundle is ~220 KiB).
const CA_FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// The system's CA certificates, and those of `ca_file` when given.
fn certificates(ca_file: Option<&Path>) -> Result<Vec<Certificate<'static>>, TrustError> {
    let mut certs: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(path) = ca_file {
        let bad = |reason: String| TrustError {
            path: path.to_owned(),
            reason,
        };
        let pem = super::read_regular(path, CA_FILE_LIMIT).map_err(|e| bad(e.to_string()))?;
        let before = certs.len();
        for item in ureq::tls::parse_pem(&pem) {
            if let PemItem::Certificate(c) = item.map_err(|e| bad(e.to_string()))? {
                certs.push(c);
            }
        }
        if certs.len() == before {
            return Err(bad(
                "no BEGIN CERTIFICATE block (give the CA's certificate in PEM)".into(),
            ));
        }
    }
    Ok(certs)
}

/// ureq's TLS settings: the system's CAs and `ca_file`, rustls with aws-lc.
pub fn tls_config(ca_file: Option<&Path>) -> Result<TlsConfig, TrustError> {
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::from(certificates(ca_file)?))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build())
}

/// A rustls client configuration with the same trust as [`tls_config`]
/// (for connections ureq does not make, such as a `wss://` upgrade).
pub fn rustls_client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TrustError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(ca_file)? {
        // A system certificate rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(rustls::pki_types::CertificateDer::from(c.der().to_vec()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TrustError {
            path: ca_file.map(Path::to_owned).unwrap_or_default(),
            reason: e.to_string(),
        })
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = tls_config(Some(&path)).unwrap_err();
        assert_eq!(e.path, path);
        assert!(e.reason.contains("BEGIN CERTIFICATE"), "{e}");
        let missing = dir.path().join("absent.pem");
        let e = rustls_client_config(Some(&missing)).unwrap_err();
        assert!(
            e.to_string().starts_with(&missing.display().to_string()),
            "{e}"
        );
        assert!(tls_config(None).is_ok());
    }
}
