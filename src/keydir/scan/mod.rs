//! Scanning the key directory into a [`KeySet`].
//!
//! A [`Scanner`] remembers every file it has seen by path, size, mtime,
//! inode and mode, so a rescan re-reads only what changed and logs each
//! problem once, when it appears, not on every rescan. A file that stops
//! parsing keeps serving its last good key: a half-written or corrupted file
//! must never take a working key away from Prosody. Kubernetes' `..data`
//! directories are hidden and skipped; symlinks are followed only when they
//! stay inside the key directory.
//!
//! This file holds the [`Scanner`] and its public API, and brings its cache
//! and the set in step; the work is in one child module per step:
//! `walk` (which paths there are: the full walk and the walk of one path),
//! `examine` (what one file is: its stamp, read and parsed) and `record`
//! (storing each verdict, and logging what changed).

use crate::error::{shown, Error};
use crate::keydir::age::now_secs;
use crate::keydir::{KeyEntry, KeySet, Skipped};
use examine::{Stamp, Verdict};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::info;
use walk::{subtree, Rescan};

mod examine;
mod record;
#[cfg(test)]
mod tests;
mod walk;

/// Key files larger than this are not keys (an RSA-16384 private key is ~12 KiB).
pub const MAX_FILE_SIZE: u64 = 64 * 1024;
/// How deep subdirectories are followed: a key in a folder 32 levels
/// below the key directory, or deeper, is skipped with [`SkipReason::TooDeep`]
/// (the kid rule `kid::servable` says so of a kid).
///
/// [`SkipReason::TooDeep`]: crate::keydir::SkipReason::TooDeep
pub use crate::kid::MAX_DEPTH;

/// What the scanner knows of one path.
#[derive(Debug, Clone)]
struct Cached {
    stamp: Option<Stamp>,
    verdict: Verdict,
    last_good: Option<Arc<KeyEntry>>,
    /// The last pass that found this path (entries a pass did not mark are
    /// gone or changed: no second map of every file is built to tell).
    pass: u32,
}

impl Cached {
    /// The key served for this path: its own, or its last good one.
    fn served(&self) -> Option<&Arc<KeyEntry>> {
        match &self.verdict {
            Verdict::Key(entry) => Some(entry),
            Verdict::Skip(_) => self.last_good.as_ref(),
        }
    }
}

/// Paths under the key directory, relative to it, ordered as bytes (cheaper
/// than `Path`'s component order; a folder's contents are still one range).
type Rel = Box<OsStr>;

/// Cache entries by path.
type Entries = BTreeMap<Rel, Cached>;

/// Walks the key directory, re-reading only files that changed since the
/// last scan, and keeps the [`KeySet`] built from it up to date one key at
/// a time.
#[derive(Debug)]
pub struct Scanner {
    root: PathBuf,
    shared_root: Arc<Path>,
    /// Every file (and unreadable or refused folder) seen, by relative path.
    cache: Entries,
    /// The files not served, by relative path.
    skipped: BTreeMap<Rel, Skipped>,
    /// The set built from `cache`.
    set: KeySet,
    /// Key material served per kid in this process (hash prefixes), and
    /// when it last changed (seconds; 0 = not since start): to warn when a
    /// kid comes back with other material, and to say since when. Never
    /// pruned, so a kid removed and later re-added with another key counts.
    seen: HashMap<u64, (u64, u64)>,
    /// Whether a scan has completed (the first one always yields a set).
    scanned: bool,
    /// Numbers the passes (full walks and rescans of one path), to mark the
    /// cache entries each one finds.
    pass: u32,
    /// Walks of the whole directory so far.
    full_walks: u64,
    /// Symlinks met by the last full walk: with any, a change at one path
    /// can change what another path serves, so every rescan walks it all.
    symlinks: usize,
    /// Files with more than one hard link (counted by the last full walk,
    /// raised when one is met since): writing one name changes the file
    /// under its other names, of which the watcher says nothing, so every
    /// rescan walks it all while any exist.
    hard_links: usize,
    /// Kids the server's own routes would shadow.
    reserved: Vec<String>,
    /// Paths of the JWKS, also served under every folder.
    documents: Vec<String>,
    /// Cache entries taken out by [`Scanner::forget_removed`], brought in
    /// step with the set by the next pass.
    forgotten: Entries,
    /// The file watcher lost events since the last full walk (see
    /// [`Scanner::events_lost`]).
    lost_events: bool,
}

impl Scanner {
    /// A scanner for the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Scanner {
            shared_root: Arc::from(root.as_path()),
            root,
            cache: BTreeMap::new(),
            skipped: BTreeMap::new(),
            set: KeySet::empty(),
            seen: HashMap::new(),
            scanned: false,
            pass: 0,
            full_walks: 0,
            symlinks: 0,
            hard_links: 0,
            reserved: crate::routes::Routes::default().reserved_kids(),
            documents: crate::routes::Routes::default().documents(),
            forgotten: BTreeMap::new(),
            lost_events: false,
        }
    }

    /// Also refuses kids equal to `path` (a `--jwks-path` the server answers).
    pub fn reserving(mut self, path: &str) -> Self {
        let path = path.trim_matches('/');
        if !path.is_empty() && !self.reserved.iter().any(|r| r == path) {
            self.reserved.push(path.to_owned());
            self.documents.push(path.to_owned());
        }
        self
    }

    /// Also refuses a kid equal to `path`: a route the server answers
    /// itself (the token service's `mint`, `oidc/auth`, …), so that the kid
    /// is listed as skipped with the reason instead of silently shadowed.
    pub fn reserving_route(mut self, path: &str) -> Self {
        let path = path.trim_matches('/');
        if !path.is_empty() && !self.reserved.iter().any(|r| r == path) {
            self.reserved.push(path.to_owned());
        }
        self
    }

    /// The file watcher lost events (its queue overflowed), or no watch was
    /// in place for a while (one placed anew): a key deleted in a folder
    /// that turned unreadable since may have gone unheard. Until the next
    /// full walk is done, an unreadable folder keeps nothing, as on a fresh
    /// start, instead of the keys last read in it.
    pub fn events_lost(&mut self) {
        self.lost_events = true;
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

    /// How many times the whole directory was walked (every [`Scanner::scan`],
    /// and every [`Scanner::rescan_paths`] that had to).
    pub fn full_walks(&self) -> u64 {
        self.full_walks
    }

    fn root_canon(&self) -> Result<PathBuf, Error> {
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
        Ok(root_canon)
    }

    /// Walks the whole directory. Returns the new set, or `None` when
    /// nothing served or skipped changed since the last scan. Fails only
    /// when the directory itself cannot be read; problems with single files
    /// are [`Skipped`] entries.
    pub fn scan(&mut self) -> Result<Option<KeySet>, Error> {
        let (old, next) = self.walk_all()?;
        Ok(self.apply(old, next))
    }

    /// Looks again at `paths` only (what the file watcher named: files or
    /// folders, present or gone, absolute or relative to the key directory)
    /// and updates the set from them: one changed file costs about the same
    /// among a million keys as among ten. Walks the whole directory instead
    /// before the first scan, when the directory holds symlinks (a change
    /// at one path can then change what another serves), or when a path is
    /// outside it or is the directory itself.
    pub fn rescan_paths(&mut self, paths: &[PathBuf]) -> Result<Option<KeySet>, Error> {
        if !self.scanned || self.symlinks > 0 || self.hard_links > 0 {
            return self.scan();
        }
        let mut rels: Vec<PathBuf> = Vec::with_capacity(paths.len());
        let mut canonical = None;
        for path in paths {
            match self.relative(path, &mut canonical) {
                Some(rel) if !rel.as_os_str().is_empty() => rels.push(rel),
                _ => return self.scan(),
            }
        }
        // A path inside another one is covered by it.
        rels.sort();
        rels.dedup_by(|later, earlier| later.starts_with(earlier));
        let mut changed = None;
        for rel in rels {
            match self.walk_one(&rel)? {
                Rescan::Nothing => {}
                Rescan::Walked(old, next) => changed = self.apply(old, next).or(changed),
                Rescan::WalkAll => return Ok(self.scan()?.or(changed)),
            }
        }
        if self.hard_links > 0 {
            // A file just met has other names: see them all.
            return Ok(self.scan()?.or(changed));
        }
        if !self.forgotten.is_empty() {
            // Forgotten where nothing was walked (inside a hidden folder).
            changed = self.apply(Entries::new(), Entries::new()).or(changed);
        }
        Ok(changed)
    }

    /// `path` (absolute, or relative to the key directory) relative to the
    /// key directory, if it is in it and names no `..` or `.`; `canonical`
    /// caches the key directory's real path, looked up once if needed (an
    /// absolute path for a root given relative, or through a symlink).
    fn relative(&self, path: &Path, canonical: &mut Option<Option<PathBuf>>) -> Option<PathBuf> {
        let rel = match path.strip_prefix(&self.root) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) if path.is_relative() => path.to_path_buf(),
            Err(_) => {
                let root = canonical.get_or_insert_with(|| fs::canonicalize(&self.root).ok());
                root.as_ref()
                    .and_then(|r| path.strip_prefix(r).ok())?
                    .to_path_buf()
            }
        };
        rel.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
            .then_some(rel)
    }

    /// Forgets what was last read at `removed` (paths the OS reported
    /// deleted or moved away, absolute or relative to the key directory)
    /// and under them, so that nothing there is served on the strength of
    /// an earlier read: a key deleted just before its folder turned
    /// unreadable (or was replaced) is gone, as a fresh start says. Only a
    /// folder that turns unreadable with its files in place keeps the keys
    /// last read in it. A path that exists again now keeps its own entry (a
    /// key file written anew keeps its last good key while it cannot be
    /// parsed) but not what was under it (a folder replaced: what was in
    /// the old one is not in the new one). The key directory itself (or a
    /// path above it) forgets everything: it was replaced.
    ///
    /// Takes effect at the next [`Scanner::scan`] or
    /// [`Scanner::rescan_paths`], which must look at these paths (name them,
    /// or walk everything): what is there now is then read afresh.
    pub fn forget_removed(&mut self, removed: &[PathBuf]) {
        if !self.scanned || removed.is_empty() {
            return;
        }
        let mut rels: Vec<PathBuf> = Vec::with_capacity(removed.len());
        let mut canonical = None;
        for path in removed {
            match self.relative(path, &mut canonical) {
                Some(rel) => rels.push(rel),
                None if self.root.starts_with(path) => rels.push(PathBuf::new()),
                None => {}
            }
        }
        rels.sort();
        rels.dedup();
        let mut keys: Vec<Rel> = Vec::new();
        for rel in &rels {
            if rel.as_os_str().is_empty() {
                keys = self.cache.keys().cloned().collect();
                break;
            }
            let exists = fs::symlink_metadata(self.root.join(rel)).is_ok();
            keys.extend(
                subtree(&self.cache, rel)
                    .into_iter()
                    .filter(|k| !(exists && ***k == *rel.as_os_str()))
                    .cloned(),
            );
        }
        let forgotten = self.take(keys);
        self.forgotten.extend(forgotten);
    }

    /// Takes the cache entries at `keys` out of the cache.
    fn take(&mut self, keys: Vec<Rel>) -> Entries {
        keys.into_iter()
            .filter_map(|k| self.cache.remove_entry(&k))
            .collect()
    }

    /// Replaces the cache entries `old` (taken out of the cache) by `next`
    /// and brings the set in step: the keys served, the skipped files.
    /// Returns the new set if anything served or skipped changed.
    fn apply(&mut self, mut old: Entries, next: Entries) -> Option<KeySet> {
        if !self.forgotten.is_empty() {
            // Out of the cache already: gone unless this pass found them.
            old.append(&mut self.forgotten);
        }
        let mut set = std::mem::take(&mut self.set);
        let mut changed = !self.scanned;
        let mut skipped_changed = false;
        for (rel, before) in &old {
            if next.contains_key(rel) {
                continue;
            }
            if let Some(entry) = before.served() {
                info!(kid = %entry.kid, path = %shown(&self.root.join(&**rel)),
                    "key removed; a Prosody that already fetched it keeps trusting it until restart");
                if set.get(&entry.kid).is_some_and(|e| Arc::ptr_eq(e, entry)) {
                    set.remove(&entry.kid);
                    changed = true;
                }
            }
            skipped_changed |= self.skipped.remove(rel).is_some();
        }
        for (rel, now) in &next {
            let before = old.get(rel);
            let (was, is) = (before.and_then(Cached::served), now.served());
            match (was, is) {
                (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {}
                (_, Some(b)) => {
                    set.insert(Arc::clone(b));
                    changed = true;
                }
                (Some(a), None) => {
                    if set.get(&a.kid).is_some_and(|e| Arc::ptr_eq(e, a)) {
                        set.remove(&a.kid);
                        changed = true;
                    }
                }
                (None, None) => {}
            }
            let same_skip = match (before.map(|b| &b.verdict), &now.verdict) {
                (Some(Verdict::Skip(a)), Verdict::Skip(b)) => {
                    a == b
                        && before.is_some_and(|b| b.last_good.is_some()) == now.last_good.is_some()
                }
                (Some(Verdict::Key(_)) | None, Verdict::Key(_)) => true,
                _ => false,
            };
            if !same_skip {
                skipped_changed = true;
                match &now.verdict {
                    Verdict::Skip(reason) => {
                        self.skipped.insert(
                            rel.clone(),
                            Skipped {
                                path: self.root.join(&**rel),
                                reason: (**reason).clone(),
                                serving_last_good: now.last_good.is_some(),
                            },
                        );
                    }
                    Verdict::Key(_) => {
                        self.skipped.remove(rel);
                    }
                }
            }
        }
        if self.cache.is_empty() {
            self.cache = next;
        } else {
            self.cache.extend(next);
        }
        if skipped_changed {
            set.set_skipped(self.skipped.values().cloned().collect());
            changed = true;
        }
        if changed && self.scanned {
            set.touch(now_secs());
        } else if !self.scanned {
            set.touch(
                set.keys()
                    .map(|k| k.times.modified_secs())
                    .max()
                    .unwrap_or(0),
            );
        }
        set.set_ready();
        self.scanned = true;
        self.set = set;
        changed.then(|| self.set.clone())
    }
}
