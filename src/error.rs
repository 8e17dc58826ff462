//! Typed errors. Each message names the thing at fault and, where there is
//! one, the fix; `main` prints the chain once with `{:#}`.

use crate::kid::KidError;
use std::path::PathBuf;

/// Why the bytes of a key file are not a usable RSA key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block at all.
    #[error("not a PEM key{}", if *.binary { " (binary data; for DER run `openssl pkey -inform DER -in FILE -out FILE.pem`)" } else { " (expected BEGIN PRIVATE KEY / BEGIN PUBLIC KEY)" })]
    NotPem {
        /// The file is not text at all.
        binary: bool,
    },
    /// An X.509 certificate where a key belongs.
    #[error("a certificate, not a key (Prosody cannot use it here): extract the key with `openssl x509 -pubkey -noout -in FILE`")]
    Certificate,
    /// A passphrase-protected key.
    #[error("an encrypted private key: decrypt it with `openssl pkey -in FILE -out FILE.pem`")]
    Encrypted,
    /// An OpenSSH-format key.
    #[error("an OpenSSH key: convert it with `ssh-keygen -p -m PKCS8 -f FILE`")]
    OpenSsh,
    /// A key of another algorithm.
    #[error("not an RSA key ({0}): Prosody's asap_key_server verifies RS256, which needs RSA")]
    NotRsa(String),
    /// A PEM block of a type we do not know.
    #[error("PEM block '{0}' is not a key (expected BEGIN PRIVATE KEY / BEGIN PUBLIC KEY)")]
    UnknownLabel(String),
    /// More than one key block in one file.
    #[error("more than one key in one file: keep one key per file, one file per kid")]
    SeveralKeys,
    /// A key block that does not decode.
    #[error("malformed key: {0}")]
    Malformed(String),
    /// An RSA modulus under [`crate::keys::MIN_BITS`].
    #[error("RSA key of {bits} bits is too short: use 2048 bits or more")]
    TooShort {
        /// The modulus size found.
        bits: usize,
    },
    /// A public key where a private key is needed.
    #[error("holds only a public key; signing needs the private key")]
    PublicOnly,
    /// A key size we do not generate.
    #[error("cannot generate a {0}-bit key: choose 2048, 3072, 4096 or 8192")]
    UnsupportedSize(usize),
    /// The crypto library failed to generate a key.
    #[error("key generation failed in aws-lc")]
    Generate,
}

/// Errors that stop a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key directory does not exist.
    #[error("key directory {path} does not exist: create it, point --keys at another one, or drop --no-init to have serve create it")]
    KeyDirMissing {
        /// The directory.
        path: PathBuf,
    },
    /// The key directory is a file.
    #[error("{path} is not a directory: --keys takes a directory of .pem files")]
    KeyDirNotDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The key directory could not be listed.
    #[error("cannot read key directory {path}")]
    KeyDirUnreadable {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A kid that breaks the rules.
    #[error("invalid kid {kid:?}")]
    BadKid {
        /// The kid given.
        kid: String,
        /// The rule broken.
        source: KidError,
    },
    /// Refusing to reuse a kid.
    #[error("kid {kid:?} already exists at {path}: Prosody caches keys by kid forever, so a kid is never reused; pick a new kid")]
    KidExists {
        /// The kid.
        kid: String,
        /// The existing file.
        path: PathBuf,
    },
    /// A key could not be written.
    #[error("cannot write key {path} (nothing was written)")]
    WriteKey {
        /// The target file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file that does not decode.
    #[error("{path}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A key could not be generated.
    #[error("{0}")]
    Keygen(KeyError),
    /// An issuer with no private key to act on.
    #[error("no private key for issuer {issuer:?} in {dir}: create one with `asap-keyserver rotate {issuer}`")]
    NoKeysForIssuer {
        /// The issuer.
        issuer: String,
        /// The key directory.
        dir: PathBuf,
    },
    /// `prune --keep 0`.
    #[error("--keep must be at least 1: prune never removes the newest key")]
    PruneKeepZero,
    /// More rotations in one day than kid suffixes.
    #[error("issuer {issuer:?} already has 99 keys dated {date}; remove some or use `keygen` with a kid of your choice")]
    TooManyKeysToday {
        /// The issuer.
        issuer: String,
        /// Today's date.
        date: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}
