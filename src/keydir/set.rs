//! [`KeySet`]: the served keys, updated one key at a time.
//!
//! Requests look a key up by the SHA-256 of its kid in one of [`SHARDS`]
//! small hash tables; a second index keeps the keys in kid order for the
//! JWKS, the per-folder JWKS and the one-shot commands. Both are
//! copy-on-write: a clone shares everything, and a change copies one shard
//! and a few B-tree nodes, so replacing one key among a million costs about
//! what it costs among ten. The JWKS is never held as one document: it is
//! written from the keys when asked for (see [`KeySet::write_jwks`]); its
//! validators and length are kept up to date as keys come and go.

use super::{KeyEntry, Skipped};
use hashbrown::HashTable;
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

/// How many hash tables the keys are spread over (a change copies one).
pub const SHARDS: usize = 1024;

type Shard = HashTable<Arc<KeyEntry>>;

/// A key ordered by its kid.
#[derive(Debug, Clone)]
struct ByKid(Arc<KeyEntry>);

impl PartialEq for ByKid {
    fn eq(&self, other: &Self) -> bool {
        self.0.kid == other.0.kid
    }
}
impl Eq for ByKid {}
impl PartialOrd for ByKid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKid {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.kid.cmp(&other.0.kid)
    }
}
impl Borrow<str> for ByKid {
    fn borrow(&self) -> &str {
        &self.0.kid
    }
}

/// An immutable snapshot of the key directory; cheap to clone and to
/// derive the next one from.
#[derive(Debug, Clone)]
pub struct KeySet {
    routes: Vec<Arc<Shard>>,
    by_kid: imbl::OrdSet<ByKid>,
    skipped: Arc<[Skipped]>,
    /// Kids whose key material changed while the scanner ran, and when
    /// (few: a kid is normally never reused).
    replaced: imbl::OrdMap<String, u64>,
    /// Sum of every key's [`digest`]: the JWKS ETag.
    digest: u128,
    /// Sum of every key's JWK length.
    jwk_bytes: u64,
    /// When the set last changed (or its newest key's mtime), in seconds.
    modified_secs: u64,
    /// Counts changes (any key added, replaced or removed, times included),
    /// so what is derived from a set can be kept until it changes.
    version: u64,
    ready: bool,
}

impl Default for KeySet {
    fn default() -> Self {
        let empty = Arc::new(Shard::new());
        KeySet {
            routes: vec![empty; SHARDS],
            by_kid: imbl::OrdSet::new(),
            skipped: Arc::from(Vec::new()),
            replaced: imbl::OrdMap::new(),
            digest: 0,
            jwk_bytes: 0,
            modified_secs: 0,
            version: 0,
            ready: false,
        }
    }
}

fn shard_of(hash: &[u8; 32]) -> usize {
    usize::from(u16::from_le_bytes([hash[30], hash[31]])) % SHARDS
}

fn table_hash(hash: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(first)
}

/// What a key adds to the JWKS ETag: its kid and its material, mixed from
/// the SHA-256 sums made at reload (no hashing when a document is asked
/// for). Multiplying by an odd constant is a bijection, so moving material
/// from one kid to another changes the sum.
fn digest(entry: &KeyEntry) -> u128 {
    const MIX: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
    let half = |bytes: &[u8; 32]| {
        let mut first = [0u8; 16];
        first.copy_from_slice(&bytes[..16]);
        u128::from_le_bytes(first)
    };
    half(&entry.kid_hash) ^ half(&entry.public.fingerprint).wrapping_mul(MIX)
}

const JWK_HEAD: &str = "{\"kty\":\"RSA\",\"kid\":\"";
const JWK_N: &str = "\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"";
const JWK_E: &str = "\",\"e\":\"";
const JWK_TAIL: &str = "\"}";
const DOC_HEAD: &str = "{\"keys\":[";
const DOC_TAIL: &str = "]}";

fn b64_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// Length of the JWK [`write_jwk`] writes for `entry`.
fn jwk_len(entry: &KeyEntry) -> usize {
    JWK_HEAD.len()
        + entry.kid.len()
        + JWK_N.len()
        + b64_len(entry.n().len())
        + JWK_E.len()
        + b64_len(entry.e().len())
        + JWK_TAIL.len()
}

/// Appends the RSA JWK of `entry`. Kids are JSON-safe by the kid rules
/// (`[A-Za-z0-9_.+/-]`), so the kid needs no escaping.
fn write_jwk(out: &mut Vec<u8>, entry: &KeyEntry) {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let start = out.len();
    let len = jwk_len(entry);
    out.reserve(len);
    out.extend_from_slice(JWK_HEAD.as_bytes());
    out.extend_from_slice(entry.kid.as_bytes());
    out.extend_from_slice(JWK_N.as_bytes());
    let n_at = out.len();
    out.resize(n_at + b64_len(entry.n().len()), 0);
    let _ = b64.encode_slice(entry.n(), &mut out[n_at..]);
    out.extend_from_slice(JWK_E.as_bytes());
    let e_at = out.len();
    out.resize(e_at + b64_len(entry.e().len()), 0);
    let _ = b64.encode_slice(entry.e(), &mut out[e_at..]);
    out.extend_from_slice(JWK_TAIL.as_bytes());
    debug_assert_eq!(out.len() - start, len);
}

/// The keys a JWKS holds: all of them, or those under one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every key.
    All,
    /// The keys whose kid starts with `<folder>/` (at any depth).
    Folder(String),
}

/// The kid bounds of a scope: `[<folder>/, <folder>0)` (`'0'` follows
/// `'/'`), or none for [`Scope::All`].
#[derive(Debug)]
struct Span(Option<(String, String)>);

impl Span {
    fn of(scope: &Scope) -> Span {
        Span(match scope {
            Scope::All => None,
            Scope::Folder(f) => Some((format!("{f}/"), format!("{f}0"))),
        })
    }

    /// The kid range, starting after `after` if given.
    fn range<'a>(&'a self, after: Option<&'a str>) -> (Bound<&'a str>, Bound<&'a str>) {
        match (&self.0, after) {
            (None, None) => (Bound::Unbounded, Bound::Unbounded),
            (None, Some(kid)) => (Bound::Excluded(kid), Bound::Unbounded),
            (Some((low, high)), None) => (Bound::Included(low), Bound::Excluded(high)),
            (Some((_, high)), Some(kid)) => (Bound::Excluded(kid), Bound::Excluded(high)),
        }
    }
}

/// Where a JWKS being written has got to: pass it back to
/// [`KeySet::write_jwks`] for the next part.
#[derive(Debug, Clone, Default)]
pub struct JwksCursor {
    /// The last kid written.
    after: Option<Arc<KeyEntry>>,
    started: bool,
    done: bool,
}

impl JwksCursor {
    /// Whether the whole document has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// Which keys a bounded JWKS holds (`?newest=N&issuer=NAME`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Newest {
    /// The newest this many keys of each issuer; `None`: all of them.
    pub per_issuer: Option<usize>,
    /// Only these issuers (first kid segments); empty: every issuer.
    pub issuers: Vec<String>,
}

impl Newest {
    /// Most keys per issuer a bounded JWKS may ask for.
    pub const MAX: usize = 1000;

    /// The bounded JWKS a URL query asks for (`newest=N`, `issuer=NAME`,
    /// repeatable), `None` for no query (the whole JWKS), or why not.
    pub fn from_query(query: Option<&str>) -> Result<Option<Newest>, String> {
        let Some(query) = query.filter(|q| !q.is_empty()) else {
            return Ok(None);
        };
        let mut newest = Newest::default();
        let mut seen = false;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "newest" if seen => return Err("newest is given twice".into()),
                "newest" => {
                    seen = true;
                    newest.per_issuer = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=Newest::MAX).contains(n))
                            .ok_or_else(|| {
                                format!(
                                    "newest={value:?} is not a number of keys from 1 to {}",
                                    Newest::MAX
                                )
                            })?,
                    );
                }
                "issuer" => {
                    if crate::kid::validate(&value).is_err() || value.contains('/') {
                        return Err(format!(
                            "issuer={value:?} is not an issuer (the first segment of a kid, like jitsi)"
                        ));
                    }
                    newest.issuers.push(value.into_owned());
                }
                other => {
                    let shown: String = other
                        .chars()
                        .take(40)
                        .flat_map(char::escape_default)
                        .collect();
                    return Err(format!(
                        "unknown parameter \"{shown}\": this JWKS takes newest=N (the newest N keys of each issuer) and issuer=NAME (repeatable)"
                    ));
                }
            }
        }
        newest.issuers.sort();
        newest.issuers.dedup();
        Ok(Some(newest))
    }
}

/// The keys of a bounded JWKS, chosen once, written as often as asked.
#[derive(Debug, Clone)]
pub struct Selection {
    keys: Vec<Arc<KeyEntry>>,
    /// Its size and validators.
    pub info: JwksInfo,
}

impl Selection {
    /// The kids it holds, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    /// Appends the next part of the document to `out` (at least `at_least`
    /// bytes unless it ends first), from key `*next` on; `None` when done.
    pub fn write(&self, next: &mut Option<usize>, out: &mut Vec<u8>, at_least: usize) {
        let Some(mut i) = *next else {
            return;
        };
        let start = out.len();
        if i == 0 {
            out.extend_from_slice(DOC_HEAD.as_bytes());
        }
        while i < self.keys.len() {
            if i > 0 {
                out.push(b',');
            }
            write_jwk(out, &self.keys[i]);
            i += 1;
            if out.len() - start >= at_least {
                *next = Some(i);
                return;
            }
        }
        out.extend_from_slice(DOC_TAIL.as_bytes());
        *next = None;
    }
}

/// Validators and size of a JWKS, known before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksInfo {
    /// Keys in it.
    pub keys: usize,
    /// Its exact length in bytes.
    pub len: u64,
    /// A digest of its content, for a strong ETag.
    pub digest: u128,
    /// Last-Modified, in seconds since the epoch.
    pub modified_secs: u64,
}

impl KeySet {
    /// An empty set that is not ready (no scan has completed yet).
    pub fn empty() -> Self {
        KeySet::default()
    }

    /// Marks the set as coming from a completed scan.
    pub(crate) fn set_ready(&mut self) {
        self.ready = true;
    }

    /// Records when the set changed (its documents' `Last-Modified`); never
    /// goes back.
    pub(crate) fn touch(&mut self, secs: u64) {
        self.modified_secs = self.modified_secs.max(secs);
    }

    /// Adds `entry`, replacing the key with the same kid; returns the old one.
    pub(crate) fn insert(&mut self, entry: Arc<KeyEntry>) -> Option<Arc<KeyEntry>> {
        self.version += 1;
        let hash = table_hash(&entry.kid_hash);
        if entry.replaced_secs != 0 {
            self.replaced.insert(entry.kid.clone(), entry.replaced_secs);
        } else if !self.replaced.is_empty() {
            self.replaced.remove(&entry.kid);
        }
        self.digest = self.digest.wrapping_add(digest(&entry));
        self.jwk_bytes += jwk_len(&entry) as u64;
        let old = self.by_kid.insert(ByKid(Arc::clone(&entry))).map(|k| k.0);
        let shard = Arc::make_mut(&mut self.routes[shard_of(&entry.kid_hash)]);
        match (&old, shard.find_mut(hash, |e| e.kid_hash == entry.kid_hash)) {
            (Some(old), Some(slot)) => {
                self.digest = self.digest.wrapping_sub(digest(old));
                self.jwk_bytes -= jwk_len(old) as u64;
                *slot = entry;
            }
            _ => {
                shard.insert_unique(hash, entry, |e| table_hash(&e.kid_hash));
            }
        }
        old
    }

    /// Removes the key with this kid; returns it.
    pub(crate) fn remove(&mut self, kid: &str) -> Option<Arc<KeyEntry>> {
        let ByKid(old) = self.by_kid.remove(kid)?;
        self.version += 1;
        if !self.replaced.is_empty() {
            self.replaced.remove(kid);
        }
        let hash = table_hash(&old.kid_hash);
        let shard = Arc::make_mut(&mut self.routes[shard_of(&old.kid_hash)]);
        if let Ok(found) = shard.find_entry(hash, |e| e.kid_hash == old.kid_hash) {
            found.remove();
        }
        self.digest = self.digest.wrapping_sub(digest(&old));
        self.jwk_bytes -= jwk_len(&old) as u64;
        Some(old)
    }

    /// Replaces the list of skipped files.
    pub(crate) fn set_skipped(&mut self, skipped: Vec<Skipped>) {
        self.skipped = Arc::from(skipped);
    }

    /// The served kids whose key material changed while the scanner ran,
    /// with when (seconds since the epoch), in kid order.
    pub fn replaced(&self) -> impl Iterator<Item = (&str, u64)> {
        self.replaced.iter().map(|(k, t)| (k.as_str(), *t))
    }

    /// The key whose kid hashes to `hash`.
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<&Arc<KeyEntry>> {
        self.routes[shard_of(hash)].find(table_hash(hash), |e| e.kid_hash == *hash)
    }

    /// The key served at `path` (no leading slash), e.g. `<hex>.pem`.
    pub fn route(&self, path: &str) -> Option<&Arc<KeyEntry>> {
        self.by_hash(&crate::kid::prosody_hash(path)?)
    }

    /// The key at `path` in either layout: `<sha256(kid)>.pem` first (Prosody),
    /// then `<kid>` (ASAP). The flag says whether it was the ASAP layout.
    pub fn lookup(&self, path: &str) -> Option<(&Arc<KeyEntry>, bool)> {
        match self.route(path) {
            Some(entry) => Some((entry, false)),
            None => self.get(path).map(|e| (e, true)),
        }
    }

    /// The key with this kid.
    pub fn get(&self, kid: &str) -> Option<&Arc<KeyEntry>> {
        self.by_kid.get(kid).map(|k| &k.0)
    }

    /// Every key, in kid order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<KeyEntry>> {
        self.by_kid.iter().map(|k| &k.0)
    }

    /// The keys in `scope`, in kid order.
    pub fn keys_in(&self, scope: &Scope) -> Vec<&Arc<KeyEntry>> {
        let span = Span::of(scope);
        self.by_kid
            .range::<_, str>(span.range(None))
            .map(|k| &k.0)
            .collect()
    }

    /// The private keys directly under `<dir>/<issuer>/`, in kid order
    /// (which says nothing of their age: `keydir::age` tells which is newest).
    /// A range lookup in kid order: the other issuers' keys are not visited.
    pub fn issuer_keys(&self, issuer: &str) -> Vec<&Arc<KeyEntry>> {
        self.keys_in(&Scope::Folder(issuer.to_owned()))
            .into_iter()
            .filter(|k| k.public.form.is_private() && crate::kid::in_issuer(&k.kid, issuer))
            .collect()
    }

    /// Number of keys served.
    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// Whether no key is served.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    /// Files not served, in path order.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// A number that changes whenever a key is added, replaced (its file's
    /// times included) or removed.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The JWKS that holds, of the keys in `scope`, the newest
    /// `newest.per_issuer` of each issuer (first kid segment; newest by
    /// `keydir::age`, the rule `mint --issuer` follows), of the issuers
    /// `newest.issuers` names (all if none). Where the evidence cannot order
    /// keys, every key that may be among the newest is kept: a key left out
    /// is still fetched through `asap_key_server`, but one whose material
    /// changes under its kid must be in it.
    pub fn newest_keys(&self, scope: &Scope, newest: &Newest) -> Selection {
        let wanted =
            |issuer: &str| newest.issuers.is_empty() || newest.issuers.iter().any(|i| i == issuer);
        let mut keys: Vec<Arc<KeyEntry>> = Vec::new();
        let mut group: Vec<Arc<KeyEntry>> = Vec::new();
        let flush = |group: &mut Vec<Arc<KeyEntry>>, keys: &mut Vec<Arc<KeyEntry>>| {
            match newest.per_issuer {
                Some(n) if group.len() > n => keys.extend(
                    super::age::rank(group)
                        .into_iter()
                        .filter(|r| r.newer < n)
                        .map(|r| r.key),
                ),
                _ => keys.append(group),
            }
            group.clear();
        };
        for entry in self.keys_in(scope) {
            let issuer = crate::kid::issuer(&entry.kid);
            if !wanted(issuer) {
                continue;
            }
            if group
                .first()
                .is_some_and(|g| crate::kid::issuer(&g.kid) != issuer)
            {
                flush(&mut group, &mut keys);
            }
            group.push(Arc::clone(entry));
        }
        flush(&mut group, &mut keys);
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        let frame = (DOC_HEAD.len() + DOC_TAIL.len()) as u64;
        let len = frame
            + keys.iter().map(|k| jwk_len(k) as u64).sum::<u64>()
            + keys.len().saturating_sub(1) as u64;
        let sum = keys.iter().fold(0u128, |s, k| s.wrapping_add(digest(k)));
        Selection {
            info: JwksInfo {
                keys: keys.len(),
                len,
                digest: sum,
                modified_secs: self.modified_secs,
            },
            keys,
        }
    }

    /// Whether this set comes from a completed scan.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Size and validators of the JWKS of `scope`, without writing it: for
    /// every key at once they are kept up to date; for a folder they cost
    /// one pass over its keys.
    pub fn jwks_info(&self, scope: &Scope) -> JwksInfo {
        let frame = (DOC_HEAD.len() + DOC_TAIL.len()) as u64;
        match scope {
            Scope::All => JwksInfo {
                keys: self.len(),
                len: frame + self.jwk_bytes + self.len().saturating_sub(1) as u64,
                digest: self.digest,
                modified_secs: self.modified_secs,
            },
            Scope::Folder(_) => {
                let (mut keys, mut len, mut sum) = (0usize, frame, 0u128);
                let span = Span::of(scope);
                for ByKid(entry) in self.by_kid.range::<_, str>(span.range(None)) {
                    keys += 1;
                    len += jwk_len(entry) as u64;
                    sum = sum.wrapping_add(digest(entry));
                }
                JwksInfo {
                    keys,
                    len: len + keys.saturating_sub(1) as u64,
                    digest: sum,
                    modified_secs: self.modified_secs,
                }
            }
        }
    }

    /// Appends the next part of the JWKS of `scope` to `out`, at least
    /// `at_least` bytes of it unless the document ends first, and moves
    /// `cursor` on. Start with a default cursor; stop when it
    /// is done (`JwksCursor::is_done`).
    pub fn write_jwks(
        &self,
        scope: &Scope,
        cursor: &mut JwksCursor,
        out: &mut Vec<u8>,
        at_least: usize,
    ) {
        if cursor.done {
            return;
        }
        let start = out.len();
        if !cursor.started {
            out.extend_from_slice(DOC_HEAD.as_bytes());
            cursor.started = true;
        }
        let span = Span::of(scope);
        let after = cursor.after.clone();
        let mut first = after.is_none();
        let range = span.range(after.as_ref().map(|e| e.kid.as_str()));
        for ByKid(entry) in self.by_kid.range::<_, str>(range) {
            if !first {
                out.push(b',');
            }
            first = false;
            write_jwk(out, entry);
            cursor.after = Some(Arc::clone(entry));
            if out.len() - start >= at_least {
                return;
            }
        }
        out.extend_from_slice(DOC_TAIL.as_bytes());
        cursor.done = true;
    }

    /// The whole JWKS of `scope` as one buffer (for `export` and tests).
    pub fn jwks_document(&self, scope: &Scope) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cursor = JwksCursor::default();
        while !cursor.is_done() {
            self.write_jwks(scope, &mut cursor, &mut out, usize::MAX);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::Scanner;

    #[test]
    fn documents_match_their_announced_length_and_scope() {
        let dir = tempfile::tempdir().unwrap();
        let pem = crate::keys::generate_pkcs8_pem(2048).unwrap();
        for kid in ["a/k1", "a/k2", "a/deep/k3", "a+b/k", "a.c/k", "ab/k", "top"] {
            let path = dir.path().join(format!("{kid}.pem"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &pem).unwrap();
        }
        let set = Scanner::new(dir.path()).scan().unwrap().unwrap();
        let folder = Scope::Folder("a".into());
        for scope in [Scope::All, folder.clone(), Scope::Folder("none".into())] {
            let doc = set.jwks_document(&scope);
            let info = set.jwks_info(&scope);
            assert_eq!(info.len, doc.len() as u64, "{scope:?}");
            let json: serde_json::Value = serde_json::from_slice(&doc).unwrap();
            assert_eq!(
                json["keys"].as_array().unwrap().len(),
                info.keys,
                "{scope:?}"
            );
            // Written in small parts, the document is the same.
            let mut cursor = JwksCursor::default();
            let mut parts = Vec::new();
            while !cursor.is_done() {
                set.write_jwks(&scope, &mut cursor, &mut parts, 1);
            }
            assert_eq!(parts, doc);
        }
        let kids: Vec<_> = set.keys_in(&folder).iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids, ["a/deep/k3", "a/k1", "a/k2"], "only what is under a/");
        // The ETag digest follows the content, whatever the order of changes.
        let mut changed = set.clone();
        let removed = changed.remove("a/k1").unwrap();
        assert_ne!(
            changed.jwks_info(&Scope::All).digest,
            set.jwks_info(&Scope::All).digest
        );
        changed.insert(removed);
        assert_eq!(changed.jwks_info(&Scope::All), set.jwks_info(&Scope::All));
        assert!(changed.lookup("a/k1").unwrap().1, "ASAP route");
        assert!(changed.lookup("a/k9").is_none());
    }
}
