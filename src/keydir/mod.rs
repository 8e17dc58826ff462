//! The key directory: what is in it, and everything done to it.
//!
//! A [`Scanner`] walks the directory into an immutable [`KeySet`] (the
//! served keys with their prebuilt response parts, the JWKS, and the files
//! skipped with the reason); [`KeySet::load`] does it once for one-shot
//! commands. [`keygen`] makes and retires keys, [`export`] writes the public
//! side as static files.

use crate::error::Error;
use crate::keys::{KeyError, PublicKey};
use crate::kid::KidError;
use bytes::Bytes;
use hyper::header::HeaderValue;
use sha2::Digest as _;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub mod export;
pub mod keygen;
mod scan;
pub use scan::{escape_controls, shown, Scanner, MAX_DEPTH, MAX_FILE_SIZE, RESERVED_KIDS};

/// One servable key: its kid, where it came from, and its prebuilt response parts.
#[derive(Debug)]
pub struct KeyEntry {
    /// The key id (file path under the key directory, minus `.pem`).
    pub kid: String,
    /// SHA-256 of the kid: Prosody requests `/<hex of this>.pem`.
    pub kid_hash: [u8; 32],
    /// The file the key was read from, as found under the key directory.
    pub source: PathBuf,
    /// What the key is (form, size, fingerprint); its bytes are in `body`, `n` and `e`.
    pub public: KeyInfo,
    /// Permission bits of the file (after following symlinks).
    pub mode: u32,
    /// The file's mtime in whole seconds since the epoch.
    pub modified_secs: u64,
    /// Response body: the SPKI PEM.
    pub body: Bytes,
    /// Strong ETag derived from the key material.
    pub etag: HeaderValue,
    /// `Last-Modified`, from the file's mtime.
    pub last_modified: HeaderValue,
    /// RSA modulus, big-endian (for the JWKS).
    pub n: Box<[u8]>,
    /// RSA public exponent, big-endian (for the JWKS).
    pub e: Box<[u8]>,
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

impl KeyEntry {
    pub(crate) fn new(
        kid: String,
        source: PathBuf,
        public: PublicKey,
        mode: u32,
        mtime: SystemTime,
    ) -> Self {
        let modified_secs = mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let etag = format!("\"{}\"", hex::encode(&public.fingerprint[..16]));
        let last_modified =
            httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(modified_secs));
        KeyEntry {
            kid_hash: sha2::Sha256::digest(kid.as_bytes()).into(),

            kid,
            source,
            body: Bytes::from(public.spki_pem),
            public: KeyInfo {
                form: public.form,
                bits: public.bits,
                fingerprint: public.fingerprint,
            },
            n: public.n.into_boxed_slice(),
            e: public.e.into_boxed_slice(),
            mode,
            modified_secs,
            etag: HeaderValue::try_from(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified: HeaderValue::try_from(last_modified)
                .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
        }
    }

    /// `<sha256(kid) hex>.pem`, the path Prosody requests (no leading slash).
    pub fn url_path(&self) -> String {
        let mut path = hex::encode(self.kid_hash);
        path.push_str(".pem");
        path
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
    /// Over [`MAX_FILE_SIZE`].
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
    /// A folder [`scan::MAX_DEPTH`] or more levels deep (its keys are not read).
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

/// The hash in a Prosody key path: 64 lowercase hex digits, then `.pem`.
fn prosody_hash(path: &str) -> Option<[u8; 32]> {
    let hex_part = path.strip_suffix(".pem")?;
    if hex_part.len() != 64
        || !hex_part
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

/// Appends the RSA JWK of `entry` (kids are JSON-safe by the kid rules).
fn push_jwk(out: &mut String, entry: &KeyEntry) {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    out.push_str("{\"kty\":\"RSA\",\"kid\":");
    out.push_str(&serde_json::Value::from(entry.kid.as_str()).to_string());
    out.push_str(",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"");
    b64.encode_string(&entry.n, out);
    out.push_str("\",\"e\":\"");
    b64.encode_string(&entry.e, out);
    out.push_str("\"}");
}

/// A prebuilt document (the JWKS) with its validators.
#[derive(Debug, Clone)]
pub struct Document {
    /// The body.
    pub body: Bytes,
    /// Strong ETag of the body.
    pub etag: HeaderValue,
    /// Newest mtime of the keys in it.
    pub last_modified: HeaderValue,
    /// The same, in seconds.
    pub modified_secs: u64,
}

impl Document {
    fn new(body: String, modified_secs: u64) -> Self {
        use sha2::Digest as _;
        let etag = format!(
            "\"{}\"",
            hex::encode(&sha2::Sha256::digest(body.as_bytes())[..16])
        );
        Document {
            body: Bytes::from(body),
            etag: HeaderValue::try_from(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified: http_date(modified_secs),
            modified_secs,
        }
    }
}

fn http_date(secs: u64) -> HeaderValue {
    let text = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

impl Default for Document {
    fn default() -> Self {
        Document::new("{\"keys\":[]}".to_owned(), 0)
    }
}

/// An immutable snapshot of the key directory.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: BTreeMap<String, Arc<KeyEntry>>,
    routes: HashMap<[u8; 32], Arc<KeyEntry>>,
    jwks: Document,
    skipped: Vec<Skipped>,
    ready: bool,
}

impl KeySet {
    /// An empty set that is not ready (no scan has completed yet).
    pub fn empty() -> Self {
        KeySet::default()
    }

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

    /// The private keys directly under `<dir>/<issuer>/`, oldest first (kid
    /// sort order, as Atlassian's file key repository orders them).
    pub fn issuer_keys<'a>(&'a self, issuer: &'a str) -> impl Iterator<Item = &'a Arc<KeyEntry>> {
        self.keys()
            .filter(move |k| k.public.form.is_private() && crate::kid::in_issuer(&k.kid, issuer))
    }

    pub(crate) fn build(entries: Vec<Arc<KeyEntry>>, mut skipped: Vec<Skipped>) -> Self {
        let mut keys = BTreeMap::new();
        let mut routes = HashMap::with_capacity(entries.len());
        for entry in entries {
            routes.insert(entry.kid_hash, Arc::clone(&entry));
            keys.insert(entry.kid.clone(), entry);
        }
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        let mut body = String::with_capacity(16 + keys.len() * 460);
        body.push_str("{\"keys\":[");
        let mut newest = 0;
        for (i, entry) in keys.values().enumerate() {
            if i > 0 {
                body.push(',');
            }
            push_jwk(&mut body, entry);
            newest = newest.max(entry.modified_secs);
        }
        body.push_str("]}");
        KeySet {
            keys,
            routes,
            jwks: Document::new(body, newest),
            skipped,
            ready: true,
        }
    }

    /// The key served at `path` (no leading slash), e.g. `<hex>.pem`.
    pub fn route(&self, path: &str) -> Option<&Arc<KeyEntry>> {
        self.routes.get(&prosody_hash(path)?)
    }

    /// The key at `path` in either layout: `<sha256(kid)>.pem` first (Prosody),
    /// then `<kid>` (ASAP). The flag says whether it was the ASAP layout.
    pub fn lookup(&self, path: &str) -> Option<(&Arc<KeyEntry>, bool)> {
        match self.route(path) {
            Some(entry) => Some((entry, false)),
            None => self.keys.get(path).map(|e| (e, true)),
        }
    }

    /// Every key as a JWKS (`{"keys":[...]}`), prebuilt.
    pub fn jwks(&self) -> &Document {
        &self.jwks
    }

    /// The key with this kid.
    pub fn get(&self, kid: &str) -> Option<&Arc<KeyEntry>> {
        self.keys.get(kid)
    }

    /// Every key, in kid order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<KeyEntry>> {
        self.keys.values()
    }

    /// Number of keys served.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is served.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Files not served, in path order.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Whether this set comes from a completed scan.
    pub fn is_ready(&self) -> bool {
        self.ready
    }
}
