//! HTTPS for `serve`: a rustls configuration (aws-lc provider, TLS 1.2 and
//! 1.3, HTTP/1.1 by ALPN) built from PEM files, and reloaded when those
//! files change, so a renewed Let's Encrypt certificate takes effect without
//! a restart. Each connection takes the configuration current at its
//! accept; a pair that does not load at reload keeps the old one in service.

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing::{error, info};

/// Why a certificate/key pair could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or holds no PEM of the expected kind.
    #[error("{path}: {what}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("--tls-cert {cert} with --tls-key {key}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// The certificate chain and key files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The most a certificate chain or key file may hold (a chain is a few KiB).
const TLS_FILE_LIMIT: u64 = 1024 * 1024;

/// Builds a server configuration from the files.
pub fn load(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let file_err = |path: &Path, what: String| TlsError::File {
        path: path.to_owned(),
        what,
    };
    // Read as every input is (a FIFO or /dev/zero in their place is an
    // error, not a hang or a gigabyte).
    let read = |path: &Path, what: &str| {
        crate::keys::read_regular(path, TLS_FILE_LIMIT)
            .map_err(|e| file_err(path, format!("cannot read {what}: {e}")))
    };
    let cert_pem = read(&files.cert, "certificates")?;
    let key_pem = read(&files.key, "the private key")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(&files.cert, format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_err(
            &files.cert,
            "no BEGIN CERTIFICATE block: --tls-cert takes a PEM certificate chain".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_err(&files.key, format!("no usable private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let pair_err = |e: rustls::Error| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(pair_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(pair_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// The live TLS configuration.
pub struct TlsState {
    files: TlsFiles,
    current: ArcSwap<rustls::ServerConfig>,
    stamps: Mutex<(Stamp, Stamp)>,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("files", &self.files)
            .finish()
    }
}

impl TlsState {
    /// Loads the files; a bad pair here is a start-up error.
    pub fn new(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let config = load(&files)?;
        let stamps = (stamp(&files.cert), stamp(&files.key));
        Ok(Arc::new(TlsState {
            files,
            current: ArcSwap::from_pointee(config),
            stamps: Mutex::new(stamps),
        }))
    }

    /// An acceptor with the current configuration.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// Reloads if either file changed; keeps the old configuration on error.
    pub fn reload_if_changed(&self) -> bool {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        {
            let mut seen = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == now {
                return false;
            }
            *seen = now;
        }
        self.reload()
    }

    /// Reloads the files now (SIGHUP); keeps the old configuration on error.
    pub fn reload(&self) -> bool {
        match load(&self.files) {
            Ok(config) => {
                self.current.store(Arc::new(config));
                info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                error!(error = %e, "new TLS certificate does not load; still serving the previous one");
                false
            }
        }
    }

    /// Checks the files every `every` until `shutdown`.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => {}
            }
            let state = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || state.reload_if_changed()).await;
        }
    }
}
