//! Walking the key directory, whole or at the paths the watcher named:
//! which paths are there (following symlinks only inside the directory,
//! never into hidden folders, at most [`MAX_DEPTH`] deep), batching the
//! files to examine, and which cache entries are gone.

use super::examine::{Examined, Pending, Verdict};
use super::{Entries, Rel, Scanner, MAX_DEPTH};
use crate::error::{shown, Error};
use crate::keydir::SkipReason;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use tracing::{error, info, warn};

/// Work state of one walk, of the whole directory or of one region of it.
pub(super) struct Walk {
    root_canon: PathBuf,
    /// The cache entries of what this walk found.
    pub(super) next: Entries,
    visited_dirs: HashSet<PathBuf>,
    /// New or changed files, read and parsed after the walk, in parallel.
    pending: Vec<Pending>,
    /// Only part of the directory: a symlink met means "walk it all".
    partial: bool,
    /// Many files to read at once: one summary line instead of a line per key.
    pub(super) bulk: bool,
    /// How many symlinked folders the walk is inside now.
    via_symlink: usize,
    /// New or changed files read.
    read: usize,
    symlinks: usize,
}

/// What walking one path came to.
pub(super) enum Rescan {
    /// Nothing there is ever served (it is inside a hidden folder).
    Nothing,
    /// As for the full walk, at and under the path: the cache entries not
    /// found unchanged (taken out), and those of what is new or changed.
    Walked(Entries, Entries),
    /// The whole directory must be walked instead.
    WalkAll,
}

/// More new or changed files than this in one scan: keys loaded are logged
/// at debug level.
const BULK: usize = 1000;

/// Files stat'ed and parsed together: bounds what a scan holds at once.
const BATCH: usize = 4096;

/// The keys of `map` at `rel` or under it: `rel` itself, then the range
/// `[rel/, rel0)` (`'0'` follows `'/'`).
pub(super) fn subtree<'a, V>(map: &'a BTreeMap<Rel, V>, rel: &'a Path) -> Vec<&'a Rel> {
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

impl Scanner {
    /// The full walk: every path under the key directory. Returns the
    /// cache entries it did not find unchanged (taken out of the cache:
    /// gone or changed) and the entries of what it found new or changed.
    /// Fails only when the directory itself cannot be read.
    pub(super) fn walk_all(&mut self) -> Result<(Entries, Entries), Error> {
        let root_canon = self.root_canon()?;
        let mut walk = Walk {
            visited_dirs: HashSet::from([root_canon.clone()]),
            root_canon,
            next: BTreeMap::new(),
            pending: Vec::new(),
            partial: false,
            bulk: false,
            via_symlink: 0,
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
        self.lost_events = false;
        Ok((old, walk.next))
    }

    /// The incremental walk: the file or folder at `rel` and what is under
    /// it.
    pub(super) fn walk_one(&mut self, rel: &Path) -> Result<Rescan, Error> {
        let depth = rel.components().count();
        let mut ancestor = rel.parent();
        while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
            let hidden = dir
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'));
            if hidden {
                // Inside `.git` or a `..data` with no symlink into it:
                // nothing there is ever served.
                return Ok(Rescan::Nothing);
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
            via_symlink: 0,
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
            .filter(|k| self.cache.get(&***k).is_some_and(|c| c.pass != self.pass))
            .cloned()
            .collect();
        let old = self.take(stale);
        Ok(Rescan::Walked(old, walk.next))
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

    /// Visits the `entries` of the folder `dir` (`rel` under the key
    /// directory), `depth` levels down.
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
                Ok(sub) => {
                    let symlinked = usize::from(file_type.is_symlink());
                    walk.via_symlink += symlinked;
                    self.walk_entries(sub, path, &rel_path, depth + 1, walk);
                    walk.via_symlink -= symlinked;
                }
                Err(e) => {
                    // As for an unreadable file: the keys last read in
                    // this folder stay served until it can be read again.
                    // Not through a symlinked folder: the watcher hears of
                    // a deletion there under the target's name only.
                    // Nor after the watcher lost events: a deletion there
                    // may have gone unheard.
                    let last: Vec<Rel> = if walk.via_symlink > 0 || file_type.is_symlink() {
                        Vec::new()
                    } else {
                        subtree(&self.cache, &rel_path)
                            .into_iter()
                            .filter(|p| ***p != *rel_path.as_os_str())
                            .cloned()
                            .collect()
                    };
                    let kept = if self.lost_events {
                        if !last.is_empty() {
                            warn!(dir = %shown(path), error = %e, keys = last.len(),
                                "folder not readable after the file watcher lost events; the keys last read in it \
                                 are no longer served (a deletion there may have gone unheard)");
                        }
                        Vec::new()
                    } else {
                        last
                    };
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
}
