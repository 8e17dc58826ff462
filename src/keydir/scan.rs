//! Scanning the key directory into a [`KeySet`].
//!
//! A [`Scanner`] remembers every file it has seen by path, size, mtime,
//! inode and mode, so a rescan re-reads only what changed and logs each
//! problem once, when it appears, not on every rescan. A file that stops
//! parsing keeps serving its last good key: a half-written or corrupted file
//! must never take a working key away from Prosody. Kubernetes' `..data`
//! directories are hidden and skipped; symlinks are followed only when they
//! stay inside the key directory.

use super::age::now_secs;
use super::{KeyEntry, KeySet, SkipReason, Skipped};
use crate::error::{shown, Error};
use crate::keys::{self, ReadError};
use crate::kid;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{debug, error, info, warn};

/// Key files larger than this are not keys (an RSA-16384 private key is ~12 KiB).
pub const MAX_FILE_SIZE: u64 = 64 * 1024;
/// How deep subdirectories are followed: a key in a folder 32 levels
/// below the key directory, or deeper, is skipped with [`SkipReason::TooDeep`].
pub const MAX_DEPTH: usize = 32;

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: u64,
    ino: u64,
    dev: u64,
    mode: u32,
    /// Hard links to the file: more than one means other names share it.
    links: u64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Stamp {
            len: meta.len(),
            mtime_ns: (meta.mtime() as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(meta.mtime_nsec() as u64),
            ino: meta.ino(),
            dev: meta.dev(),
            mode: meta.permissions().mode() & 0o7777,
            links: meta.nlink(),
        }
    }
}

/// What the scanner decided a file is.
#[derive(Debug, Clone)]
enum Verdict {
    /// A key to serve.
    Key(Arc<KeyEntry>),
    /// Not served, and why.
    Skip(Box<SkipReason>),
}

impl Verdict {
    fn skip(reason: SkipReason) -> Self {
        Verdict::Skip(Box::new(reason))
    }
}

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

/// The keys of `map` at `rel` or under it: `rel` itself, then the range
/// `[rel/, rel0)` (`'0'` follows `'/'`).
fn subtree<'a, V>(map: &'a BTreeMap<Rel, V>, rel: &'a Path) -> Vec<&'a Rel> {
    let mut low = rel.as_os_str().to_owned();
    low.push("/");
    let mut high = rel.as_os_str().to_owned();
    high.push("0");
    let own = map.get_key_value(rel.as_os_str()).map(|(k, _)| k);
    let range = map.range::<OsStr, _>((
        std::ops::Bound::Included(low.as_os_str()),
        std::ops::Bound::Excluded(high.as_os_str()),
    ));
    own.into_iter().chain(range.map(|(k, _)| k)).collect()
}

/// Walks the key directory, re-reading only files that changed since the
/// last scan, and keeps the [`KeySet`] built from it up to date one key at
/// a time.
#[derive(Debug)]
pub struct Scanner {
    root: PathBuf,
    shared_root: Arc<Path>,
    /// Every file (and unreadable or refused folder) seen, by relative path.
    cache: BTreeMap<Rel, Cached>,
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
}

/// Work state of one walk, of the whole directory or of one region of it.
struct Walk {
    root_canon: PathBuf,
    next: BTreeMap<Rel, Cached>,
    visited_dirs: HashSet<PathBuf>,
    /// New or changed files, read and parsed after the walk, in parallel.
    pending: Vec<Pending>,
    /// Only part of the directory: a symlink met means "walk it all".
    partial: bool,
    /// Many files to read at once: one summary line instead of a line per key.
    bulk: bool,
    /// New or changed files read.
    read: usize,
    symlinks: usize,
}

/// A file to look at: stat'ed (and read and parsed if new or changed) after
/// the walk, on every core.
struct Pending {
    rel: PathBuf,
    hidden: bool,
    /// Already known for a symlink (the walk had to follow it).
    meta: Option<Box<fs::Metadata>>,
}

/// What looking at a [`Pending`] file found.
enum Examined {
    /// Same stamp as last time: keep what the cache says.
    Same,
    /// Nothing to record (a hidden file that cannot be stat'ed).
    Nothing,
    /// New or changed: its stamp (if it could be stat'ed) and what it is.
    New(Option<Stamp>, Verdict),
}

/// What rescanning one path came to.
enum Rescan {
    /// Done: the new set if anything changed.
    Done(Option<KeySet>),
    /// The whole directory must be walked instead.
    WalkAll,
}

/// More new or changed files than this in one scan: keys loaded are logged
/// at debug level.
const BULK: usize = 1000;

/// Files stat'ed and parsed together: bounds what a scan holds at once.
const BATCH: usize = 4096;

/// Below this much work, one thread does it (starting threads costs about
/// as much as stat'ing 100 known files): a file never seen counts
/// [`NEW_FILE_WORK`] (read and parse), a known one 1 (a `stat`).
const PARALLEL_FROM: usize = 640;
/// The work of reading and parsing a file, in `stat`s.
const NEW_FILE_WORK: usize = 10;

fn prefix64(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(first)
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
            reserved: kid::RESERVED_KIDS.iter().map(|r| (*r).to_owned()).collect(),
            documents: vec![kid::RESERVED_KIDS[3].to_owned()],
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
        let root_canon = self.root_canon()?;
        let mut walk = Walk {
            visited_dirs: HashSet::from([root_canon.clone()]),
            root_canon,
            next: BTreeMap::new(),
            pending: Vec::new(),
            partial: false,
            bulk: false,
            read: 0,
            symlinks: 0,
        };
        let root = self.root.clone();
        let entries = fs::read_dir(&root).map_err(|source| Error::KeyDirUnreadable {
            path: root.clone(),
            source,
        })?;
        self.pass = self.pass.wrapping_add(1);
        self.full_walks += 1;
        self.walk_entries(entries, &root, Path::new(""), 0, &mut walk);
        self.parse_pending(&mut walk);
        if walk.bulk {
            info!(files = walk.read, dir = %shown(&self.root),
                "read {} new or changed files (a line per key at debug level)", walk.read);
        }
        self.symlinks = walk.symlinks;
        let pass = self.pass;
        self.hard_links = self
            .cache
            .values()
            .chain(walk.next.values())
            .filter(|c| c.pass == pass && c.stamp.is_some_and(|s| s.links > 1))
            .count();
        let stale: Vec<Rel> = self
            .cache
            .iter()
            .filter(|(_, c)| c.pass != pass)
            .map(|(k, _)| k.clone())
            .collect();
        let old = self.take(stale);
        Ok(self.apply(old, walk.next))
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
            let rel = match path.strip_prefix(&self.root) {
                Ok(rel) => rel.to_path_buf(),
                // An absolute path for a root given relative (or through a symlink).
                Err(_) => {
                    let root = canonical.get_or_insert_with(|| fs::canonicalize(&self.root).ok());
                    match root.as_ref().and_then(|r| path.strip_prefix(r).ok()) {
                        Some(rel) => rel.to_path_buf(),
                        None => return self.scan(),
                    }
                }
            };
            if rel.as_os_str().is_empty()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return self.scan();
            }
            rels.push(rel);
        }
        // A path inside another one is covered by it.
        rels.sort();
        rels.dedup_by(|later, earlier| later.starts_with(earlier));
        let mut changed = None;
        for rel in rels {
            match self.rescan_one(&rel)? {
                Rescan::Done(set) => changed = set.or(changed),
                Rescan::WalkAll => return Ok(self.scan()?.or(changed)),
            }
        }
        if self.hard_links > 0 {
            // A file just met has other names: see them all.
            return Ok(self.scan()?.or(changed));
        }
        Ok(changed)
    }

    /// Rescans the file or folder at `rel` and what is under it.
    fn rescan_one(&mut self, rel: &Path) -> Result<Rescan, Error> {
        let depth = rel.components().count();
        let mut ancestor = rel.parent();
        while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
            let hidden = dir
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'));
            if hidden {
                // Inside `.git` or a `..data` with no symlink into it:
                // nothing there is ever served.
                return Ok(Rescan::Done(None));
            }
            if self.cache.contains_key(dir.as_os_str()) {
                // A folder refused or unreadable last time: see it all again.
                return Ok(Rescan::WalkAll);
            }
            ancestor = dir.parent();
        }
        let path = self.root.join(rel);
        self.pass = self.pass.wrapping_add(1);
        let mut walk = Walk {
            root_canon: PathBuf::new(),
            next: BTreeMap::new(),
            visited_dirs: HashSet::new(),
            pending: Vec::new(),
            partial: true,
            bulk: false,
            read: 0,
            symlinks: 0,
        };
        match fs::symlink_metadata(&path) {
            Ok(meta) => {
                let name = rel.file_name().unwrap_or_default().to_owned();
                self.visit(
                    &path,
                    rel.to_path_buf(),
                    &name,
                    meta.file_type(),
                    depth - 1,
                    &mut walk,
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Gone, or its folder is: whatever was there goes.
                if fs::symlink_metadata(&self.root).is_err() {
                    self.root_canon()?;
                }
            }
            Err(_) => return Ok(Rescan::WalkAll),
        }
        if walk.symlinks > 0 {
            return Ok(Rescan::WalkAll);
        }
        self.parse_pending(&mut walk);
        let stale: Vec<Rel> = subtree(&self.cache, rel)
            .into_iter()
            .filter(|k| {
                self.cache
                    .get(&***k)
                    .is_some_and(|c| c.pass != self.pass)
            })
            .cloned()
            .collect();
        let old = self.take(stale);
        Ok(Rescan::Done(self.apply(old, walk.next)))
    }

    /// Takes the cache entries at `keys` out of the cache.
    fn take(&mut self, keys: Vec<Rel>) -> BTreeMap<Rel, Cached> {
        keys.into_iter()
            .filter_map(|k| self.cache.remove_entry(&k))
            .collect()
    }

    /// Reads and parses what the walk found new or changed, and records it.
    fn parse_pending(&mut self, walk: &mut Walk) {
        let pending = std::mem::take(&mut walk.pending);
        let found = self.examine_all(&pending);
        let new = found
            .iter()
            .filter(|o| matches!(o, Examined::New(..)))
            .count();
        walk.read += new;
        walk.bulk |= new > BULK;
        for (p, examined) in pending.into_iter().zip(found) {
            match examined {
                Examined::Same => {
                    if let Some(old) = self.cache.get_mut(p.rel.as_os_str()) {
                        old.pass = self.pass;
                    }
                }
                Examined::Nothing => {}
                Examined::New(stamp, verdict) => self.record(walk, p.rel, stamp, verdict),
            }
        }
    }

    /// Replaces the cache entries `old` (taken out of the cache) by `next`
    /// and brings the set in step: the keys served, the skipped files.
    /// Returns the new set if anything served or skipped changed.
    fn apply(&mut self, old: BTreeMap<Rel, Cached>, next: BTreeMap<Rel, Cached>) -> Option<KeySet> {
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
                    self.unreadable(walk, rel.to_path_buf(), &e);
                    continue;
                }
            };
            let name = entry.file_name();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            self.visit(
                &dir.join(&name),
                rel.join(&name),
                &name,
                file_type,
                depth,
                walk,
            );
            if walk.partial && walk.symlinks > 0 {
                return;
            }
        }
    }

    /// Looks at one directory entry: `path` (`rel` under the key directory)
    /// in a folder `depth` levels down.
    fn visit(
        &mut self,
        path: &Path,
        rel_path: PathBuf,
        name: &std::ffi::OsStr,
        file_type: fs::FileType,
        depth: usize,
        walk: &mut Walk,
    ) {
        let hidden = name.as_encoded_bytes().first() == Some(&b'.');
        if !file_type.is_symlink() && !file_type.is_dir() {
            // A file: stat'ed and read after the walk, on every core.
            walk.pending.push(Pending {
                rel: rel_path,
                hidden,
                meta: None,
            });
            if walk.pending.len() >= BATCH {
                self.parse_pending(walk);
            }
            return;
        }
        if file_type.is_symlink() {
            walk.symlinks += 1;
            if walk.partial {
                return;
            }
            match fs::canonicalize(path) {
                Ok(target) if !target.starts_with(&walk.root_canon) => {
                    if !hidden {
                        self.record(
                            walk,
                            rel_path,
                            None,
                            Verdict::skip(SkipReason::OutsideKeyDir(target)),
                        );
                    }
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    if !hidden {
                        self.unreadable(walk, rel_path, &format!("broken symlink: {e}"));
                    }
                    return;
                }
            }
        }
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                if !hidden {
                    self.unreadable(walk, rel_path, &e);
                }
                return;
            }
        };
        if meta.is_dir() {
            // `..data`, `..2026_11_27_...` (Kubernetes), `.git`: never keys.
            if hidden {
                return;
            }
            if depth + 1 >= MAX_DEPTH {
                self.record(walk, rel_path, None, Verdict::skip(SkipReason::TooDeep));
                return;
            }
            if file_type.is_symlink() {
                if let Ok(c) = fs::canonicalize(path) {
                    if !walk.visited_dirs.insert(c) {
                        self.record(walk, rel_path, None, Verdict::skip(SkipReason::SymlinkLoop));
                        return;
                    }
                }
            }
            match fs::read_dir(path) {
                Ok(sub) => self.walk_entries(sub, path, &rel_path, depth + 1, walk),
                Err(e) => {
                    // As for an unreadable file: the keys last read in
                    // this folder stay served until it can be read again.
                    let kept: Vec<Rel> = subtree(&self.cache, &rel_path)
                        .into_iter()
                        .filter(|p| ***p != *rel_path.as_os_str())
                        .cloned()
                        .collect();
                    if !kept.is_empty() && !self.cache.contains_key(rel_path.as_os_str()) {
                        error!(dir = %shown(path), error = %e, keys = kept.len(),
                            "folder no longer readable; still serving the keys last read in it");
                    }
                    for k in kept {
                        if let Some(c) = self.cache.get_mut(&k) {
                            c.pass = self.pass;
                        }
                    }
                    self.unreadable(walk, rel_path, &e);
                }
            }
            return;
        }
        walk.pending.push(Pending {
            rel: rel_path,
            hidden,
            meta: Some(Box::new(meta)),
        });
        if walk.pending.len() >= BATCH {
            self.parse_pending(walk);
        }
    }

    /// Stats a file the walk found and, if it is new or changed, reads and
    /// parses it. A file never seen before is opened straight away (its
    /// `fstat` is the stamp): a cold scan costs one path lookup per file.
    fn examine_pending(&self, p: &Pending) -> Examined {
        let old = self.cache.get(p.rel.as_os_str());
        let path = self.root.join(&p.rel);
        let unreadable = |e: std::io::Error| {
            if p.hidden {
                Examined::Nothing
            } else {
                Examined::New(None, Verdict::skip(SkipReason::Unreadable(e.to_string())))
            }
        };
        let mut file = None;
        let meta = match &p.meta {
            Some(meta) => (**meta).clone(),
            None if old.is_none() && !p.hidden => match keys::open_nonblocking(&path) {
                Ok(f) => match f.metadata() {
                    Ok(meta) => {
                        file = Some(f);
                        meta
                    }
                    Err(e) => return unreadable(e),
                },
                Err(_) => match fs::metadata(&path) {
                    Ok(meta) => meta,
                    Err(e) => return unreadable(e),
                },
            },
            None => match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => return unreadable(e),
            },
        };
        let stamp = Stamp::of(&meta);
        if old.is_some_and(|o| o.stamp == Some(stamp)) {
            return Examined::Same;
        }
        Examined::New(
            Some(stamp),
            self.examine(&path, &p.rel, p.hidden, &meta, file),
        )
    }

    /// Reads and parses `pending` on every core (RSA parsing is most of a
    /// cold scan's time), keeping their order.
    fn examine_all(&self, pending: &[Pending]) -> Vec<Examined> {
        let one = |p: &Pending| self.examine_pending(p);
        let work: usize = pending
            .iter()
            .map(|p| {
                if self.cache.contains_key(p.rel.as_os_str()) {
                    1
                } else {
                    NEW_FILE_WORK
                }
            })
            .sum();
        if work < PARALLEL_FROM {
            return pending.iter().map(one).collect();
        }
        // Asking costs reads of cgroup files: once per process.
        static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let threads = *THREADS
            .get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
        if threads < 2 {
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

    /// Decides what a (new or changed) file is, reading it if it may be a key.
    fn examine(
        &self,
        path: &Path,
        rel: &Path,
        hidden: bool,
        meta: &fs::Metadata,
        file: Option<fs::File>,
    ) -> Verdict {
        if hidden {
            return Verdict::skip(SkipReason::Dotfile);
        }
        if !meta.is_file() {
            return Verdict::skip(SkipReason::NotRegularFile);
        }
        let kid = match kid::from_relative_path(rel) {
            None if rel
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"README")) =>
            {
                return Verdict::skip(SkipReason::Readme)
            }
            None => return Verdict::skip(SkipReason::NotPem),
            Some(Err(e)) => return Verdict::skip(SkipReason::BadKid(e)),
            Some(Ok(kid)) => kid,
        };
        if let Some(why) = kid::shadowed(&kid, &self.reserved, &self.documents) {
            return Verdict::skip(SkipReason::Shadowed(why));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Verdict::skip(SkipReason::TooLarge(meta.len()));
        }
        if meta.len() == 0 {
            return Verdict::skip(SkipReason::Empty);
        }
        // The open never blocks: a FIFO swapped in after the `stat` would
        // otherwise hang the rescan until someone writes to it.
        let read = match file {
            // Opened (and `meta` is its `fstat`) by `examine_pending`.
            Some(file) => keys::read_opened(file, meta, MAX_FILE_SIZE),
            None => keys::read_regular(path, MAX_FILE_SIZE),
        };
        let data = match read {
            Ok(data) => data,
            Err(ReadError::NotRegular(_)) => return Verdict::skip(SkipReason::NotRegularFile),
            Err(ReadError::TooLarge(n)) => return Verdict::skip(SkipReason::TooLarge(n)),
            Err(ReadError::Io(e)) => return Verdict::skip(SkipReason::Unreadable(e.to_string())),
        };
        match keys::decode_public(&data) {
            Ok(public) => {
                let mode = meta.permissions().mode() & 0o777;
                Verdict::Key(Arc::new(KeyEntry::new(
                    kid,
                    Arc::clone(&self.shared_root),
                    public,
                    mode,
                    super::FileTimes::of(meta),
                )))
            }
            Err(e) => Verdict::skip(SkipReason::BadKey(e)),
        }
    }

    /// Records that `rel`, a folder or a symlink (never a key file), could
    /// not be read, and why. Whatever key was served at that path goes: a
    /// folder or a dangling link took the file's place.
    fn unreadable(&mut self, walk: &mut Walk, rel: PathBuf, why: &dyn std::fmt::Display) {
        let reason = SkipReason::Unreadable(why.to_string());
        self.record_as(walk, rel, None, Verdict::skip(reason), false);
    }

    /// Stores the verdict for `rel` in the walk's cache and logs what changed.
    /// A key file that is still a regular file but cannot be read or parsed
    /// right now (being rewritten, briefly unreadable) keeps serving its last
    /// good key; anything else at the path ends it, as a fresh start would.
    fn record(&mut self, walk: &mut Walk, rel: PathBuf, stamp: Option<Stamp>, verdict: Verdict) {
        let transient = matches!(&verdict, Verdict::Skip(r) if matches!(**r,
            SkipReason::Unreadable(_) | SkipReason::Empty | SkipReason::BadKey(_)));
        self.record_as(walk, rel, stamp, verdict, transient);
    }

    /// [`Self::record`], saying whether a skip keeps the last good key.
    fn record_as(
        &mut self,
        walk: &mut Walk,
        rel: PathBuf,
        stamp: Option<Stamp>,
        mut verdict: Verdict,
        keep_last_good: bool,
    ) {
        if stamp.is_some_and(|s| s.links > 1) {
            // Another name for the same file: a change under one name must
            // be seen under the other (see `hard_links`).
            self.hard_links = self.hard_links.max(1);
        }
        let mut replaced = false;
        if let Verdict::Key(entry) = &mut verdict {
            // Other material than this kid held before in this process?
            let fingerprint = prefix64(&entry.public.fingerprint);
            let slot = self
                .seen
                .entry(prefix64(&entry.kid_hash))
                .or_insert((fingerprint, 0));
            if slot.0 != fingerprint {
                *slot = (fingerprint, now_secs().max(1));
                replaced = true;
            }
            let since = slot.1;
            if since != 0 {
                match Arc::get_mut(entry) {
                    Some(e) => e.replaced_secs = since,
                    None => {
                        // Shared already (never, as examine made it): a copy.
                        let mut copy = KeyEntry::clone(entry);
                        copy.replaced_secs = since;
                        *entry = Arc::new(copy);
                    }
                }
            }
        }
        let old = self.cache.get(rel.as_os_str());
        let last_good = match (&verdict, old) {
            (Verdict::Key(_), _) => None,
            (Verdict::Skip(_), Some(old)) if keep_last_good => old.served().cloned(),
            (Verdict::Skip(_), _) => None,
        };
        let same_as_before = match (old.map(|o| &o.verdict), &verdict) {
            (Some(Verdict::Skip(a)), Verdict::Skip(b)) => a == b,
            (Some(Verdict::Key(a)), Verdict::Key(b)) => {
                a.public.fingerprint == b.public.fingerprint && a.mode == b.mode
            }
            _ => false,
        };
        if !same_as_before {
            let was_key = old.is_some_and(|o| matches!(o.verdict, Verdict::Key(_)));
            self.log_verdict(
                &rel,
                &verdict,
                last_good.as_ref(),
                was_key,
                walk.bulk,
                replaced,
            );
        }
        walk.next.insert(
            rel.into_os_string().into_boxed_os_str(),
            Cached {
                stamp,
                verdict,
                last_good,
                pass: self.pass,
            },
        );
    }

    /// Logs what `rel` now is. In a `bulk` read (the first scan of a big
    /// directory) a key loaded is a debug line, not one info line per key.
    fn log_verdict(
        &self,
        rel: &Path,
        verdict: &Verdict,
        last_good: Option<&Arc<KeyEntry>>,
        existed: bool,
        bulk: bool,
        replaced: bool,
    ) {
        // Only made when a line is written (tracing evaluates fields lazily).
        let path = || shown(&self.root.join(rel));
        match verdict {
            Verdict::Key(entry) => {
                if replaced {
                    warn!(kid = %entry.kid, path = %path(),
                        "key material changed under an existing kid: a Prosody that fetched it through asap_key_server \
                         keeps the old key until it restarts (one with cache_keys_url at our JWKS, token plugin 2025-11 \
                         and later, picks the new key up at its next refresh); to be safe everywhere, rotate by adding a new kid");
                } else if bulk {
                    debug!(kid = %entry.kid, path = %path(), url_path = %format!("/{}", entry.url_path()),
                        form = %entry.public.form, bits = entry.public.bits, "key loaded");
                } else {
                    info!(kid = %entry.kid, path = %path(), url_path = %format!("/{}", entry.url_path()),
                        form = %entry.public.form, bits = entry.public.bits,
                        "{}", if existed { "key reloaded" } else { "key loaded" });
                }
                if entry.too_open() {
                    warn!(kid = %entry.kid, path = %path(), mode = %format!("{:04o}", entry.mode),
                        "UNPROTECTED PRIVATE KEY FILE: readable by group or others; run chmod 600 on it \
                         (on Kubernetes set defaultMode: 0400 on the volume)");
                }
            }
            Verdict::Skip(reason)
                if matches!(**reason, SkipReason::Dotfile | SkipReason::Readme) =>
            {
                debug!(path = %path(), reason = %reason, "skipped file")
            }
            Verdict::Skip(reason) if **reason == SkipReason::Empty && last_good.is_none() => info!(
                path = %path(),
                "empty file skipped (still being written?); it is read again when it changes"
            ),
            Verdict::Skip(reason) => match last_good {
                Some(good) => error!(kid = %good.kid, path = %path(), reason = %reason,
                    "key file no longer parses; still serving its last good key"),
                None => warn!(path = %path(), reason = %reason, "skipped file"),
            },
        }
    }
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
        assert!(key.pem().starts_with(b"-----BEGIN PUBLIC KEY-----"));
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

    /// Served kids with their fingerprints; skipped files with why.
    type Summary = (Vec<(String, String)>, Vec<(PathBuf, String, bool)>);

    /// What a set serves and skips, to compare two sets.
    fn summary(set: &KeySet) -> Summary {
        let keys = set
            .keys()
            .map(|k| (k.kid.clone(), hex::encode(&k.public.fingerprint[..8])))
            .collect();
        let skipped = set
            .skipped()
            .iter()
            .map(|s| (s.path.clone(), s.reason.to_string(), s.serving_last_good))
            .collect();
        (keys, skipped)
    }

    /// A scanner kept up to date by `rescan_paths` only, beside a reference
    /// scanner that walks everything each time (both see the same history,
    /// so both keep the same last good keys).
    struct Incremental {
        scanner: Scanner,
        set: KeySet,
        reference: Scanner,
        full: KeySet,
    }

    impl Incremental {
        fn new(dir: &Path) -> Self {
            let mut scanner = Scanner::new(dir);
            let set = scanner.scan().unwrap().unwrap();
            let mut reference = Scanner::new(dir);
            let full = reference.scan().unwrap().unwrap();
            Incremental {
                scanner,
                set,
                reference,
                full,
            }
        }

        /// Rescans the named paths only and checks the result is exactly
        /// what a full scan builds; returns whether it walked it all.
        fn rescan(&mut self, named: &[&str]) -> bool {
            let walks = self.scanner.full_walks();
            let paths: Vec<PathBuf> = named.iter().map(|p| self.scanner.root().join(p)).collect();
            if let Some(set) = self.scanner.rescan_paths(&paths).unwrap() {
                self.set = set;
            }
            if let Some(full) = self.reference.scan().unwrap() {
                self.full = full;
            }
            assert_eq!(
                summary(&self.set),
                summary(&self.full),
                "after a change at {named:?}"
            );
            let all = crate::keydir::Scope::All;
            assert!(
                self.set.jwks_document(&all) == self.full.jwks_document(&all),
                "the JWKS differs after a change at {named:?}"
            );
            self.scanner.full_walks() > walks
        }
    }

    fn pems() -> &'static [String] {
        static PEMS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        PEMS.get_or_init(|| {
            (0..3)
                .map(|_| keys::generate_pkcs8_pem(2048).unwrap())
                .collect()
        })
    }

    #[test]
    fn rescanning_named_paths_builds_what_a_full_scan_builds() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("keys");
        let outside = base.path().join("staging");
        fs::create_dir_all(dir.join("a")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(dir.join("a/k1.pem"), &pems()[0]).unwrap();
        fs::write(dir.join("top.pem"), &pems()[1]).unwrap();
        let mut inc = Incremental::new(&dir);

        // One file added, replaced, broken (last good stays), removed.
        fs::write(dir.join("a/k2.pem"), &pems()[1]).unwrap();
        assert!(!inc.rescan(&["a/k2.pem"]));
        fs::write(dir.join("a/k2.pem"), &pems()[2]).unwrap();
        assert!(!inc.rescan(&["a/k2.pem"]));
        fs::write(dir.join("a/k2.pem"), "-----BEGIN PUBLIC KEY-----\nAAAA\n").unwrap();
        assert!(!inc.rescan(&["a/k2.pem"]));
        assert!(inc.set.get("a/k2").is_some(), "last good key kept");
        fs::remove_file(dir.join("a/k2.pem")).unwrap();
        assert!(!inc.rescan(&["a/k2.pem"]));

        // A folder moved in: the watcher names only the folder.
        fs::create_dir_all(outside.join("tenant/deep")).unwrap();
        fs::write(outside.join("tenant/x.pem"), &pems()[0]).unwrap();
        fs::write(outside.join("tenant/deep/y.pem"), &pems()[1]).unwrap();
        fs::write(outside.join("tenant/notes.txt"), "x").unwrap();
        fs::rename(outside.join("tenant"), dir.join("tenant")).unwrap();
        assert!(!inc.rescan(&["tenant"]));
        assert!(inc.set.get("tenant/deep/y").is_some());

        // The folder renamed: both names.
        fs::rename(dir.join("tenant"), dir.join("tenant2")).unwrap();
        assert!(!inc.rescan(&["tenant", "tenant2"]));
        assert!(inc.set.get("tenant/x").is_none() && inc.set.get("tenant2/x").is_some());

        // A file replaced by a folder, and back.
        fs::remove_file(dir.join("top.pem")).unwrap();
        fs::create_dir(dir.join("top.pem")).unwrap();
        fs::write(dir.join("top.pem/inner.pem"), &pems()[2]).unwrap();
        assert!(!inc.rescan(&["top.pem"]));
        assert!(inc.set.get("top.pem/inner").is_some() && inc.set.get("top").is_none());
        fs::remove_dir_all(dir.join("top.pem")).unwrap();
        fs::write(dir.join("top.pem"), &pems()[1]).unwrap();
        assert!(!inc.rescan(&["top.pem"]));

        // A whole folder deleted; a path inside a hidden folder changes nothing.
        fs::remove_dir_all(dir.join("tenant2")).unwrap();
        assert!(!inc.rescan(&["tenant2/x.pem", "tenant2"]));
        fs::create_dir_all(dir.join(".git/objects")).unwrap();
        fs::write(dir.join(".git/objects/k.pem"), &pems()[0]).unwrap();
        assert!(!inc.rescan(&[".git/objects/k.pem", ".git"]));

        // A symlink: from then on every change walks it all.
        fs::create_dir_all(dir.join(".store")).unwrap();
        fs::write(dir.join(".store/one.pem"), &pems()[0]).unwrap();
        fs::write(dir.join(".store/two.pem"), &pems()[1]).unwrap();
        std::os::unix::fs::symlink(".store/one.pem", dir.join("live.pem")).unwrap();
        assert!(inc.rescan(&["live.pem"]));
        std::os::unix::fs::symlink(".store/two.pem", dir.join(".live.tmp")).unwrap();
        fs::rename(dir.join(".live.tmp"), dir.join("live.pem")).unwrap();
        assert!(
            inc.rescan(&["live.pem"]),
            "a retargeted symlink walks it all"
        );
        assert_eq!(
            inc.set.get("live").unwrap().public.fingerprint,
            keys::decode_public(pems()[1].as_bytes())
                .unwrap()
                .fingerprint
        );
        // Only the link's target changed: the event names a hidden path.
        fs::write(dir.join(".store/two.pem"), &pems()[2]).unwrap();
        assert!(inc.rescan(&[".store/two.pem"]));
    }

    #[test]
    fn missing_root_is_an_error() {
        let mut scanner = Scanner::new("/nonexistent/asap-keys");
        assert!(matches!(scanner.scan(), Err(Error::KeyDirMissing { .. })));
    }
}
