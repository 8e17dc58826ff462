//! The key directory: what is in it, and everything done to it.
//!
//! A [`Scanner`] walks the directory into an immutable [`KeySet`] (the
//! served keys, the JWKS, and the files skipped with the reason);
//! [`KeySet::load`] does it once for one-shot commands. `keygen` makes
//! ([`create`]) and retires keys, `export` writes the public side as static
//! files.
//!
//! Keys know bytes and times (the SPKI DER, its fingerprint, the file's
//! mtime); the HTTP headers made from them are `serve`'s.

use crate::error::Error;
use crate::keys::{KeyError, PublicKey};
use crate::kid::KidError;
use bytes::Bytes;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) mod age;
pub(crate) mod export;
pub(crate) mod keygen;
pub use keygen::create;
mod scan;
mod set;
pub use scan::Scanner;
pub(crate) use scan::{MAX_DEPTH, MAX_FILE_SIZE};
pub use set::KeySet;
pub(crate) use set::{JwksCursor, JwksInfo, Newest, Scope, Selection};

/// One servable key: its kid, where it came from, and the one form its
/// responses are made from (the SPKI DER).
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The key id (file path under the key directory, minus `.pem`).
    pub kid: String,
    /// SHA-256 of the kid: Prosody requests `/<hex of this>.pem`.
    pub kid_hash: [u8; 32],
    /// The key directory, shared by every key read from it.
    root: Arc<Path>,
    /// What the key is (form, size, fingerprint).
    pub public: KeyInfo,
    /// Permission bits of the file (after following symlinks).
    pub mode: u32,
    /// The file's times: `serve`'s `Last-Modified`, and which key is newest.
    pub times: FileTimes,
    /// When this kid last started holding other key material than before,
    /// as seen by the [`Scanner`] that read it (seconds since the epoch; 0 =
    /// not since the scanner started). A Prosody that fetched the kid through
    /// `asap_key_server` before then still holds the old key.
    pub replaced_secs: u64,
    /// The SPKI DER (and, if they could not be found in it, `n` and `e`).
    der: Box<[u8]>,
    der_len: u16,
    n_at: (u16, u16),
    e_at: (u16, u16),
}

/// A key file's times, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileTimes {
    /// Last content change (`mtime`): the key material is never younger.
    pub modified_ns: u64,
    /// Last status change (`ctime`): set when the file appeared at its path
    /// (created, renamed or linked there), and by later chmods; it cannot be
    /// set back, so the file has been in the directory at least since then.
    pub changed_ns: u64,
}

impl FileTimes {
    /// The times of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> FileTimes {
        use std::os::unix::fs::MetadataExt as _;
        let ns = |secs: i64, nsec: i64| {
            u64::try_from(secs)
                .unwrap_or(0)
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::try_from(nsec).unwrap_or(0))
        };
        FileTimes {
            modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
            changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The mtime in whole seconds.
    pub fn modified_secs(&self) -> u64 {
        self.modified_ns / 1_000_000_000
    }
}

/// What a served key is, without its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// How the source file encoded the key.
    pub form: crate::keys::KeyForm,
    /// Modulus size in bits.
    pub bits: usize,
    /// SHA-256 of the SPKI DER.
    pub fingerprint: [u8; 32],
}

/// Where `part` sits in `der`, as (offset, length).
fn find(der: &[u8], from: usize, part: &[u8]) -> Option<(u16, u16)> {
    let first = *part.first()?;
    let at = from
        + der
            .get(from..)?
            .windows(part.len())
            .position(|w| w[0] == first && w == part)?;
    Some((u16::try_from(at).ok()?, u16::try_from(part.len()).ok()?))
}

impl KeyEntry {
    pub(crate) fn new(
        kid: String,
        root: Arc<Path>,
        public: PublicKey,
        mode: u32,
        times: FileTimes,
    ) -> Self {
        let mut der = public.spki_der;
        let der_len = der.len();
        // The modulus and exponent are in the DER; keep only their place.
        let (n_at, e_at) = match find(&der, 0, &public.n).and_then(|n| {
            let after = usize::from(n.0) + usize::from(n.1);
            Some((n, find(&der, after, &public.e)?))
        }) {
            Some(places) if der_len <= usize::from(u16::MAX) => places,
            _ => {
                let n_at = (der.len() as u16, public.n.len() as u16);
                der.extend_from_slice(&public.n);
                let e_at = (der.len() as u16, public.e.len() as u16);
                der.extend_from_slice(&public.e);
                (n_at, e_at)
            }
        };
        KeyEntry {
            kid_hash: crate::kid::sha256(&kid),
            kid,
            root,
            public: KeyInfo {
                form: public.form,
                bits: public.bits,
                fingerprint: public.fingerprint,
            },
            mode,
            times,
            replaced_secs: 0,
            der: der.into_boxed_slice(),
            der_len: der_len as u16,
            n_at,
            e_at,
        }
    }

    /// The file the key was read from: `<key directory>/<kid>.pem`.
    pub fn source(&self) -> PathBuf {
        self.root.join(format!("{}.pem", self.kid))
    }

    /// The public key as SPKI DER.
    pub fn der(&self) -> &[u8] {
        &self.der[..usize::from(self.der_len)]
    }

    /// RSA modulus, big-endian (for the JWKS).
    pub fn n(&self) -> &[u8] {
        let (at, len) = (usize::from(self.n_at.0), usize::from(self.n_at.1));
        &self.der[at..at + len]
    }

    /// RSA public exponent, big-endian (for the JWKS).
    pub fn e(&self) -> &[u8] {
        let (at, len) = (usize::from(self.e_at.0), usize::from(self.e_at.1));
        &self.der[at..at + len]
    }

    /// The response body: the SPKI PEM (`BEGIN PUBLIC KEY`), made from the
    /// DER when asked for (under a microsecond; keeping it would cost ~450
    /// bytes per key).
    pub fn pem(&self) -> Bytes {
        Bytes::from(crate::keys::pem_encode("PUBLIC KEY", self.der()))
    }

    /// `<sha256(kid) hex>.pem`, the path Prosody requests (no leading slash).
    pub fn url_path(&self) -> String {
        crate::kid::hash_path(&self.kid_hash)
    }

    /// Whether a private key file is readable by group or others.
    pub fn too_open(&self) -> bool {
        self.public.form.is_private() && self.mode & 0o077 != 0
    }
}

/// Why a file in the key directory is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A hidden file (editors, Kubernetes and our own atomic writes stage files so).
    Dotfile,
    /// The name does not end in `.pem`.
    NotPem,
    /// A `README*` file documenting the directory (the default `keys/` ships one).
    Readme,
    /// A FIFO, socket or device.
    NotRegularFile,
    /// Zero bytes (often a file still being written; it is re-read when it changes).
    Empty,
    /// Over `MAX_FILE_SIZE` (64 KiB).
    TooLarge(u64),
    /// Could not be stat'ed or read.
    Unreadable(String),
    /// A symlink that resolves outside the key directory.
    OutsideKeyDir(PathBuf),
    /// A directory already walked through another path.
    SymlinkLoop,
    /// The path does not make a valid kid.
    BadKid(KidError),
    /// The content is not a usable key.
    BadKey(KeyError),
    /// A folder `MAX_DEPTH` (32) or more levels deep (its keys are not read).
    TooDeep,
    /// A kid the server's own routes or a Prosody path would shadow, and why.
    Shadowed(String),
}

impl SkipReason {
    /// A short stable name, for metrics labels and JSON.
    pub fn label(&self) -> &'static str {
        match self {
            SkipReason::Dotfile => "dotfile",
            SkipReason::NotPem => "not_pem",
            SkipReason::Readme => "readme",
            SkipReason::NotRegularFile => "not_regular_file",
            SkipReason::Empty => "empty",
            SkipReason::TooLarge(_) => "too_large",
            SkipReason::Unreadable(_) => "unreadable",
            SkipReason::OutsideKeyDir(_) => "outside_key_dir",
            SkipReason::SymlinkLoop => "symlink_loop",
            SkipReason::BadKid(_) => "bad_kid",
            SkipReason::BadKey(_) => "bad_key",
            SkipReason::TooDeep => "too_deep",
            SkipReason::Shadowed(_) => "shadowed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Dotfile => f.write_str("hidden file (name starts with '.')"),
            SkipReason::NotPem => f.write_str("not a .pem file"),
            SkipReason::Readme => f.write_str("documentation, not a key"),
            SkipReason::NotRegularFile => f.write_str("not a regular file"),
            SkipReason::Empty => f.write_str("empty file"),
            SkipReason::TooLarge(n) => write!(
                f,
                "{n} bytes is too large for a key file (limit {MAX_FILE_SIZE})"
            ),
            SkipReason::Unreadable(e) => write!(f, "unreadable: {e}"),
            SkipReason::OutsideKeyDir(t) => {
                write!(
                    f,
                    "symlink resolves to {} outside the key directory; refused",
                    t.display()
                )
            }
            SkipReason::SymlinkLoop => {
                f.write_str("directory already scanned through another path (symlink loop)")
            }
            SkipReason::BadKid(e) => write!(f, "bad kid: {e}; rename the file"),
            SkipReason::BadKey(e) => write!(f, "{e}"),
            SkipReason::TooDeep => write!(
                f,
                "folder {} or more levels below the key directory: its keys are not read; move them up",
                scan::MAX_DEPTH
            ),
            SkipReason::Shadowed(why) => write!(f, "kid refused: {why}; rename the file"),
        }
    }
}

/// A file that is not served, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The file, as found under the key directory.
    pub path: PathBuf,
    /// Why it is skipped.
    pub reason: SkipReason,
    /// The file used to parse and its last good key is still served.
    pub serving_last_good: bool,
}

impl KeySet {
    /// Scans `dir` once, for commands that read keys and exit.
    pub fn load(dir: &Path) -> Result<KeySet, Error> {
        Ok(Scanner::new(dir).scan()?.unwrap_or_default())
    }

    /// Like [`KeySet::load`], but a missing directory is an empty set
    /// (nothing created yet).
    pub fn load_or_empty(dir: &Path) -> Result<KeySet, Error> {
        match KeySet::load(dir) {
            Err(Error::KeyDirMissing { .. }) => Ok(KeySet::empty()),
            other => other,
        }
    }
}
