//! Scanning the key directory into a [`KeySet`].
//!
//! A [`Scanner`] remembers every file it has seen by path, size, mtime,
//! inode and mode, so a rescan re-reads only what changed and logs each
//! problem once, when it appears, not on every rescan. A file that stops
//! parsing keeps serving its last good key: a half-written or corrupted file
//! must never take a working key away from Prosody. Kubernetes' `..data`
//! directories are hidden and skipped; symlinks are followed only when they
//! stay inside the key directory.

use super::{KeyEntry, KeySet, SkipReason, Skipped};
use crate::error::Error;
use crate::keys;
use crate::kid;
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::{debug, error, info, warn};

/// Key files larger than this are not keys (an RSA-16384 private key is ~12 KiB).
pub const MAX_FILE_SIZE: u64 = 64 * 1024;
/// How deep subdirectories are followed: a key in a folder 32 levels
/// below the key directory, or deeper, is skipped with [`SkipReason::TooDeep`].
pub const MAX_DEPTH: usize = 32;

/// Paths the server answers itself; a kid equal to one would be shadowed.
pub const RESERVED_KIDS: [&str; 4] = ["healthz", "readyz", "metrics", ".well-known/jwks.json"];

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: SystemTime,
    ino: u64,
    dev: u64,
    mode: u32,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Stamp {
            len: meta.len(),
            mtime: meta.modified().unwrap_or(UNIX_EPOCH),
            ino: meta.ino(),
            dev: meta.dev(),
            mode: meta.permissions().mode() & 0o7777,
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Key(Arc<KeyEntry>),
    Skip(SkipReason),
}

#[derive(Debug, Clone)]
struct Cached {
    stamp: Option<Stamp>,
    outcome: Outcome,
    last_good: Option<Arc<KeyEntry>>,
}

/// Walks the key directory, re-reading only files that changed since the last scan.
#[derive(Debug)]
pub struct Scanner {
    root: PathBuf,
    cache: HashMap<PathBuf, Cached>,
    /// Key material ever served per kid in this process, to warn on reuse.
    seen: HashMap<String, [u8; 32]>,
    /// Whether a scan has completed (the first one always yields a set).
    scanned: bool,
    /// Kids the server's own routes would shadow.
    reserved: Vec<String>,
}

/// Work state of one scan.
struct Walk {
    root_canon: PathBuf,
    next: HashMap<PathBuf, Cached>,
    visited_dirs: HashSet<PathBuf>,
    changed: bool,
    /// New or changed files, read and parsed after the walk, in parallel.
    pending: Vec<Pending>,
}

/// A file to read and parse: new, or changed since the last scan.
struct Pending {
    path: PathBuf,
    rel: PathBuf,
    hidden: bool,
    meta: fs::Metadata,
    stamp: Stamp,
}

/// Below this many files to parse, one thread does it.
const PARALLEL_FROM: usize = 64;

impl Scanner {
    /// A scanner for the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Scanner {
            root: root.into(),
            cache: HashMap::new(),
            seen: HashMap::new(),
            scanned: false,
            reserved: RESERVED_KIDS.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// Also refuses kids equal to `path` (a `--jwks-path` the server answers).
    pub fn reserving(mut self, path: &str) -> Self {
        let path = path.trim_matches('/');
        if !path.is_empty() && !self.reserved.iter().any(|r| r == path) {
            self.reserved.push(path.to_owned());
        }
        self
    }

    /// Makes the next scan read every file again, as if all had changed
    /// (SIGHUP); what is served meanwhile stays.
    pub fn forget_stamps(&mut self) {
        for cached in self.cache.values_mut() {
            cached.stamp = None;
        }
    }

    /// The key directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Scans the directory. Returns the new set, or `None` when nothing
    /// changed since the last scan. Fails only when the directory itself
    /// cannot be read; problems with single files are [`Skipped`] entries.
    pub fn scan(&mut self) -> Result<Option<KeySet>, Error> {
        let root_canon = match fs::canonicalize(&self.root) {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::KeyDirMissing {
                    path: self.root.clone(),
                })
            }
            Err(source) => {
                return Err(Error::KeyDirUnreadable {
                    path: self.root.clone(),
                    source,
                })
            }
        };
        if !root_canon.is_dir() {
            return Err(Error::KeyDirNotDirectory {
                path: self.root.clone(),
            });
        }
        let mut walk = Walk {
            visited_dirs: HashSet::from([root_canon.clone()]),
            root_canon,
            next: HashMap::with_capacity(self.cache.len()),
            changed: !self.scanned,
            pending: Vec::new(),
        };
        let root = self.root.clone();
        let entries = fs::read_dir(&root).map_err(|source| Error::KeyDirUnreadable {
            path: root.clone(),
            source,
        })?;
        self.walk_entries(entries, &root, Path::new(""), 0, &mut walk);
        let pending = std::mem::take(&mut walk.pending);
        let outcomes = self.examine_all(&pending);
        for (p, outcome) in pending.into_iter().zip(outcomes) {
            self.record(&mut walk, p.path, Some(p.stamp), outcome);
        }

        for (path, old) in &self.cache {
            if !walk.next.contains_key(path) {
                walk.changed = true;
                if let Outcome::Key(entry) = &old.outcome {
                    info!(kid = %entry.kid, path = %shown(path),
                        "key removed; a Prosody that already fetched it keeps trusting it until restart");
                } else if let Some(entry) = &old.last_good {
                    info!(kid = %entry.kid, path = %shown(path), "key removed");
                }
            }
        }
        self.cache = walk.next;
        self.scanned = true;
        if !walk.changed {
            return Ok(None);
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (path, cached) in &self.cache {
            match &cached.outcome {
                Outcome::Key(entry) => keys.push(Arc::clone(entry)),
                Outcome::Skip(reason) => {
                    if let Some(good) = &cached.last_good {
                        keys.push(Arc::clone(good));
                    }
                    skipped.push(Skipped {
                        path: path.clone(),
                        reason: reason.clone(),
                        serving_last_good: cached.last_good.is_some(),
                    });
                }
            }
        }
        Ok(Some(KeySet::build(keys, skipped)))
    }

    fn walk_entries(
        &mut self,
        entries: fs::ReadDir,
        dir: &Path,
        rel: &Path,
        depth: usize,
        walk: &mut Walk,
    ) {
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.record(
                        walk,
                        dir.to_path_buf(),
                        None,
                        Outcome::Skip(SkipReason::Unreadable(e.to_string())),
                    );
                    continue;
                }
            };
            let name = entry.file_name();
            let path = dir.join(&name);
            let rel_path = rel.join(&name);
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let hidden = name.as_encoded_bytes().first() == Some(&b'.');
            if file_type.is_symlink() {
                match fs::canonicalize(&path) {
                    Ok(target) if !target.starts_with(&walk.root_canon) => {
                        if !hidden {
                            self.record(
                                walk,
                                path,
                                None,
                                Outcome::Skip(SkipReason::OutsideKeyDir(target)),
                            );
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if !hidden {
                            let reason = SkipReason::Unreadable(format!("broken symlink: {e}"));
                            self.record(walk, path, None, Outcome::Skip(reason));
                        }
                        continue;
                    }
                }
            }
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    if !hidden {
                        self.record(
                            walk,
                            path,
                            None,
                            Outcome::Skip(SkipReason::Unreadable(e.to_string())),
                        );
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                // `..data`, `..2026_11_27_...` (Kubernetes), `.git`: never keys.
                if hidden {
                    continue;
                }
                if depth + 1 >= MAX_DEPTH {
                    self.record(walk, path, None, Outcome::Skip(SkipReason::TooDeep));
                    continue;
                }
                let canon = if file_type.is_symlink() {
                    fs::canonicalize(&path).ok()
                } else {
                    None
                };
                if let Some(c) = canon {
                    if !walk.visited_dirs.insert(c) {
                        self.record(walk, path, None, Outcome::Skip(SkipReason::SymlinkLoop));
                        continue;
                    }
                }
                match fs::read_dir(&path) {
                    Ok(sub) => self.walk_entries(sub, &path, &rel_path, depth + 1, walk),
                    Err(e) => {
                        // As for an unreadable file: the keys last read in
                        // this folder stay served until it can be read again.
                        let kept: Vec<_> = self
                            .cache
                            .iter()
                            .filter(|(p, _)| p.starts_with(&path) && **p != path)
                            .map(|(p, c)| (p.clone(), c.clone()))
                            .collect();
                        if !kept.is_empty() && !self.cache.contains_key(&path) {
                            error!(dir = %shown(&path), error = %e, keys = kept.len(),
                                "folder no longer readable; still serving the keys last read in it");
                        }
                        walk.next.extend(kept);
                        self.record(
                            walk,
                            path,
                            None,
                            Outcome::Skip(SkipReason::Unreadable(e.to_string())),
                        );
                    }
                }
                continue;
            }
            let stamp = Stamp::of(&meta);
            if let Some(old) = self.cache.get(&path) {
                if old.stamp == Some(stamp) {
                    walk.next.insert(path, old.clone());
                    continue;
                }
            }
            walk.pending.push(Pending {
                path,
                rel: rel_path,
                hidden,
                meta,
                stamp,
            });
        }
    }

    /// Reads and parses `pending` on every core (RSA parsing is most of a
    /// cold scan's time), keeping their order.
    fn examine_all(&self, pending: &[Pending]) -> Vec<Outcome> {
        let one = |p: &Pending| self.examine(&p.path, &p.rel, p.hidden, &p.meta);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        if pending.len() < PARALLEL_FROM || threads < 2 {
            return pending.iter().map(one).collect();
        }
        let chunk = pending.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = pending
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// Why `kid` cannot be served at its ASAP route `/<kid>`, if it cannot:
    /// it is one of the server's own paths, or it looks like a Prosody
    /// `<sha256>.pem` path and would answer for another kid.
    fn shadowed(&self, kid: &str) -> Option<String> {
        if let Some(r) = self.reserved.iter().find(|r| *r == kid) {
            return Some(format!("/{r} is a route of the server itself"));
        }
        let hex = kid.strip_suffix(".pem")?;
        (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| format!("/{kid} is the path Prosody requests for the kid hashing to {hex}"))
    }

    /// Decides what a (new or changed) file is, reading it if it may be a key.
    fn examine(&self, path: &Path, rel: &Path, hidden: bool, meta: &fs::Metadata) -> Outcome {
        if hidden {
            return Outcome::Skip(SkipReason::Dotfile);
        }
        if !meta.is_file() {
            return Outcome::Skip(SkipReason::NotRegularFile);
        }
        let kid = match kid::from_relative_path(rel) {
            None if rel
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"README")) =>
            {
                return Outcome::Skip(SkipReason::Readme)
            }
            None => return Outcome::Skip(SkipReason::NotPem),
            Some(Err(e)) => return Outcome::Skip(SkipReason::BadKid(e)),
            Some(Ok(kid)) => kid,
        };
        if let Some(why) = self.shadowed(&kid) {
            return Outcome::Skip(SkipReason::Shadowed(why));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Outcome::Skip(SkipReason::TooLarge(meta.len()));
        }
        if meta.len() == 0 {
            return Outcome::Skip(SkipReason::Empty);
        }
        let mut data = Vec::with_capacity(meta.len() as usize);
        match read_regular(path, &mut data) {
            Ok(true) => {}
            Ok(false) => return Outcome::Skip(SkipReason::NotRegularFile),
            Err(e) => return Outcome::Skip(SkipReason::Unreadable(e.to_string())),
        }
        if data.len() as u64 > MAX_FILE_SIZE {
            return Outcome::Skip(SkipReason::TooLarge(data.len() as u64));
        }
        match keys::decode_public(&data) {
            Ok(public) => {
                let mode = meta.permissions().mode() & 0o777;
                let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
                Outcome::Key(Arc::new(KeyEntry::new(
                    kid,
                    path.to_path_buf(),
                    public,
                    mode,
                    mtime,
                )))
            }
            Err(e) => Outcome::Skip(SkipReason::BadKey(e)),
        }
    }

    /// Stores the outcome for `path` in the next cache and logs what changed.
    fn record(&mut self, walk: &mut Walk, path: PathBuf, stamp: Option<Stamp>, outcome: Outcome) {
        let old = self.cache.get(&path);
        let last_good = match (&outcome, old) {
            (Outcome::Key(_), _) => None,
            (Outcome::Skip(_), Some(old)) => match &old.outcome {
                Outcome::Key(entry) => Some(Arc::clone(entry)),
                Outcome::Skip(_) => old.last_good.clone(),
            },
            (Outcome::Skip(_), None) => None,
        };
        let same_as_before = match (old.map(|o| &o.outcome), &outcome) {
            (Some(Outcome::Skip(a)), Outcome::Skip(b)) => a == b,
            (Some(Outcome::Key(a)), Outcome::Key(b)) => {
                a.public.fingerprint == b.public.fingerprint && a.mode == b.mode
            }
            _ => false,
        };
        if old.is_none_or(|o| o.stamp != stamp || !same_as_before) {
            walk.changed = true;
        }
        if !same_as_before {
            let was_key = old.is_some_and(|o| matches!(o.outcome, Outcome::Key(_)));
            self.log_outcome(&path, &outcome, last_good.as_ref(), was_key);
        }
        walk.next.insert(
            path,
            Cached {
                stamp,
                outcome,
                last_good,
            },
        );
    }

    fn log_outcome(
        &mut self,
        path: &Path,
        outcome: &Outcome,
        last_good: Option<&Arc<KeyEntry>>,
        existed: bool,
    ) {
        let shown = shown(path);
        match outcome {
            Outcome::Key(entry) => {
                let previous = self
                    .seen
                    .insert(entry.kid.clone(), entry.public.fingerprint);
                if previous.is_some_and(|fp| fp != entry.public.fingerprint) {
                    warn!(kid = %entry.kid, path = %shown,
                        "key material changed under an existing kid: a Prosody that fetched it through asap_key_server \
                         keeps the old key until it restarts (one with cache_keys_url at our JWKS, token plugin 2025-11 \
                         and later, picks the new key up at its next refresh); to be safe everywhere, rotate by adding a new kid");
                } else {
                    info!(kid = %entry.kid, path = %shown, url_path = %format!("/{}", entry.url_path()),
                        form = %entry.public.form, bits = entry.public.bits,
                        "{}", if existed { "key reloaded" } else { "key loaded" });
                }
                if entry.too_open() {
                    warn!(kid = %entry.kid, path = %shown, mode = %format!("{:04o}", entry.mode),
                        "UNPROTECTED PRIVATE KEY FILE: readable by group or others; run chmod 600 on it \
                         (on Kubernetes set defaultMode: 0400 on the volume)");
                }
            }
            Outcome::Skip(reason @ (SkipReason::Dotfile | SkipReason::Readme)) => {
                debug!(path = %shown, reason = %reason, "skipped file")
            }
            Outcome::Skip(SkipReason::Empty) if last_good.is_none() => info!(
                path = %shown,
                "empty file skipped (still being written?); it is read again when it changes"
            ),
            Outcome::Skip(reason) => match last_good {
                Some(good) => error!(kid = %good.kid, path = %shown, reason = %reason,
                    "key file no longer parses; still serving its last good key"),
                None => warn!(path = %shown, reason = %reason, "skipped file"),
            },
        }
    }
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

/// Reads at most `MAX_FILE_SIZE + 1` bytes of `path` into `data` if it is a
/// regular file when opened; `Ok(false)` when it is not. The open never
/// blocks: a FIFO swapped in after the `stat` would otherwise hang the
/// rescan until someone writes to it.
fn read_regular(path: &Path, data: &mut Vec<u8>) -> std::io::Result<bool> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(false);
    }
    file.take(MAX_FILE_SIZE + 1).read_to_end(data)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_caches_and_reports_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut scanner = Scanner::new(dir.path());
        let first = scanner.scan().unwrap().expect("first scan builds a set");
        assert!(first.is_ready() && first.is_empty());
        assert!(scanner.scan().unwrap().is_none(), "nothing changed");
        fs::write(dir.path().join("note.txt"), "x").unwrap();
        let set = scanner.scan().unwrap().unwrap();
        assert_eq!(set.skipped()[0].reason, SkipReason::NotPem);
        fs::create_dir(dir.path().join("iss")).unwrap();
        fs::write(
            dir.path().join("iss/k.pem"),
            keys::generate_pkcs8_pem(2048).unwrap(),
        )
        .unwrap();
        let set = scanner.scan().unwrap().unwrap();
        let key = set.get("iss/k").unwrap();
        assert_eq!(set.route(&kid::prosody_path("iss/k")).unwrap().kid, "iss/k");
        assert!(key.body.starts_with(b"-----BEGIN PUBLIC KEY-----"));
        // Corrupt it: the last good key stays.
        fs::write(
            dir.path().join("iss/k.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n",
        )
        .unwrap();
        let set = scanner.scan().unwrap().unwrap();
        assert!(set.get("iss/k").is_some());
        assert!(set.skipped().iter().any(|s| s.serving_last_good));
        fs::remove_file(dir.path().join("iss/k.pem")).unwrap();
        let set = scanner.scan().unwrap().unwrap();
        assert!(set.get("iss/k").is_none());
    }

    #[test]
    fn missing_root_is_an_error() {
        let mut scanner = Scanner::new("/nonexistent/asap-keys");
        assert!(matches!(scanner.scan(), Err(Error::KeyDirMissing { .. })));
    }
}
