//! Typed errors. Each message names the thing at fault and, where there is
//! one, the fix; `main` prints the chain once with `{:#}`.
//!
//! Naming a file or a kid in a line a person reads is this module's job, so
//! the text helpers that make one thing one line ([`escape_controls`],
//! [`shown`]) live here too: every module may use them (this one imports
//! only the bottom modules `keys` and `kid`) for its logs, rows and findings.

use crate::keys::KeyError;
use crate::kid::KidError;
use std::path::{Path, PathBuf};

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
    /// An output file that is already there.
    #[error("{path} already exists: nothing was written; choose another file or remove it")]
    OutputExists {
        /// The file.
        path: PathBuf,
    },
    /// An output file whose folder is not there.
    #[error("{path}: no such folder {}: create it first, or pass --parents; nothing was written", .folder.display())]
    NoOutputFolder {
        /// The file.
        path: PathBuf,
        /// Its missing parent.
        folder: PathBuf,
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
    /// A key of the issuer looks made in the future: no new key can be
    /// known newer than it.
    #[error("cannot make a key known newer than {kid}: its file was last written at {time}, in the future; \
        fix the clock, or `touch` that file if its time is wrong")]
    KeyFromTheFuture {
        /// The kid.
        kid: String,
        /// Its file's mtime.
        time: String,
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

/// `text` with control characters escaped (`\n` for a newline in a file
/// name), so one thing is one log line, one `list` row, one finding.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A path for a human-readable line, control characters escaped.
pub fn shown(path: &Path) -> String {
    escape_controls(&path.display().to_string()).into_owned()
}
