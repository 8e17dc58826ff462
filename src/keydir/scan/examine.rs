//! Classifying each [`Pending`] file the walk found: its [`Stamp`] (what
//! tells a changed file without reading it), and the [`Verdict`] on it (a
//! key to serve, or skipped and why), read and parsed on every core when
//! there are many.

use super::{Scanner, MAX_FILE_SIZE};
use crate::keydir::{FileTimes, KeyEntry, SkipReason};
use crate::keys::{self, ReadError};
use crate::kid::{self, KidError};
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file to look at: stat'ed (and read and parsed if new or changed) after
/// the walk, on every core.
pub(super) struct Pending {
    pub(super) rel: PathBuf,
    pub(super) hidden: bool,
    /// Already known for a symlink (the walk had to follow it).
    pub(super) meta: Option<Box<fs::Metadata>>,
}

/// What identifies a version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    len: u64,
    mtime_ns: u64,
    ino: u64,
    dev: u64,
    mode: u32,
    /// Hard links to the file: more than one means other names share it.
    pub(super) links: u64,
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
pub(super) enum Verdict {
    /// A key to serve.
    Key(Arc<KeyEntry>),
    /// Not served, and why.
    Skip(Box<SkipReason>),
}

impl Verdict {
    pub(super) fn skip(reason: SkipReason) -> Self {
        Verdict::Skip(Box::new(reason))
    }
}

/// What looking at a [`Pending`] file found.
pub(super) enum Examined {
    /// Same stamp as last time: keep what the cache says.
    Same,
    /// Nothing to record (a hidden file that cannot be stat'ed).
    Nothing,
    /// New or changed: its stamp (if it could be stat'ed) and what it is.
    New(Option<Stamp>, Verdict),
}

/// Below this much work, one thread does it (starting threads costs about
/// as much as stat'ing 100 known files): a file never seen counts
/// [`NEW_FILE_WORK`] (read and parse), a known one 1 (a `stat`).
const PARALLEL_FROM: usize = 640;
/// The work of reading and parsing a file, in `stat`s.
const NEW_FILE_WORK: usize = 10;

impl Scanner {
    /// Stats a file the walk found and, if it is new or changed, reads and
    /// parses it. A file never seen before is opened straight away (its
    /// `fstat` is the stamp): a cold scan costs one path lookup per file.
    pub(super) fn examine_pending(&self, p: &Pending) -> Examined {
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
        match self.examine(&path, &p.rel, p.hidden, &meta, file) {
            Ok(verdict) => Examined::New(Some(stamp), verdict),
            Err(e) => {
                // Stat'ed, then not found when opened: it moved between the
                // two (its folder, or the key directory, moved away and
                // back). Kept without a stamp, it is read again at the next
                // scan; with one, an unchanged file would stay skipped while
                // it is there to read.
                let vanished = e.kind() == std::io::ErrorKind::NotFound;
                let verdict = Verdict::skip(SkipReason::Unreadable(e.to_string()));
                Examined::New((!vanished).then_some(stamp), verdict)
            }
        }
    }

    /// Reads and parses `pending` on every core (RSA parsing is most of a
    /// cold scan's time), keeping their order.
    pub(super) fn examine_all(&self, pending: &[Pending]) -> Vec<Examined> {
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

    /// Decides what a (new or changed) file is, reading it if it may be a
    /// key; a failure to open or read it is returned as is.
    fn examine(
        &self,
        path: &Path,
        rel: &Path,
        hidden: bool,
        meta: &fs::Metadata,
        file: Option<fs::File>,
    ) -> Result<Verdict, std::io::Error> {
        if hidden {
            return Ok(Verdict::skip(SkipReason::Dotfile));
        }
        if !meta.is_file() {
            return Ok(Verdict::skip(SkipReason::NotRegularFile));
        }
        let kid = match kid::from_relative_path(rel) {
            None if rel
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"README")) =>
            {
                return Ok(Verdict::skip(SkipReason::Readme))
            }
            None => return Ok(Verdict::skip(SkipReason::NotPem)),
            Some(Err(e)) => return Ok(Verdict::skip(SkipReason::BadKid(e))),
            Some(Ok(kid)) => kid,
        };
        // The one kid rule, as keygen, rotate and mint --kid apply it (the
        // walk has already left hidden and too deep paths out).
        match kid::servable(&kid, &self.reserved, &self.documents) {
            Ok(()) => {}
            Err(KidError::Shadowed(why)) => return Ok(Verdict::skip(SkipReason::Shadowed(why))),
            Err(KidError::Hidden(_)) => return Ok(Verdict::skip(SkipReason::Dotfile)),
            Err(KidError::TooDeep(_)) => return Ok(Verdict::skip(SkipReason::TooDeep)),
            Err(e) => return Ok(Verdict::skip(SkipReason::BadKid(e))),
        }
        if meta.len() > MAX_FILE_SIZE {
            return Ok(Verdict::skip(SkipReason::TooLarge(meta.len())));
        }
        if meta.len() == 0 {
            return Ok(Verdict::skip(SkipReason::Empty));
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
            Err(ReadError::NotRegular(_)) => return Ok(Verdict::skip(SkipReason::NotRegularFile)),
            Err(ReadError::TooLarge { size, .. }) => {
                return Ok(Verdict::skip(SkipReason::TooLarge(size)))
            }
            Err(ReadError::Io(e)) => return Err(e),
        };
        match keys::decode_public(&data) {
            Ok(public) => {
                let mode = meta.permissions().mode() & 0o777;
                Ok(Verdict::Key(Arc::new(KeyEntry::new(
                    kid,
                    Arc::clone(&self.shared_root),
                    public,
                    mode,
                    FileTimes::of(meta),
                ))))
            }
            Err(e) => Ok(Verdict::skip(SkipReason::BadKey(e))),
        }
    }
}
