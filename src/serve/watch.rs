//! Keeps the [`KeyStore`] in step with the key directory.
//!
//! The notify callback notes the paths an event names and `try_send`s on a
//! one-slot channel; the task waits a short window for the burst to finish,
//! then looks again at those paths only (one changed file costs the same
//! among a million keys as among ten) and swaps the updated set in. The
//! whole directory is walked instead (re-reading only changed files) when
//! the watcher's queue overflowed or failed, when too many paths piled up,
//! on SIGHUP, in poll mode, and while the directory holds symlinks
//! (Kubernetes' atomic `..data` swap retargets every key at once) or
//! hard-linked files. `--poll-interval` replaces notifications by a timer
//! for NFS and volumes that send none. If the directory disappears, the
//! last good set keeps being served and the directory is polled until it
//! returns.
//!
//! Every folder gets its own watch (`watch_tree`), placed by this module
//! rather than notify's recursive mode, and the folders a burst names are
//! watched again before they are walked: a folder created unreadable gets
//! its watch when its `chmod` is heard, and a folder moved whose watch
//! inotify took back gets a new one. SIGHUP and too many paths in one
//! burst place every watch again on the watcher in place; overflow and a
//! watcher error (events lost) with a new watcher, placed before the old
//! one is let go, which is kept until the walk after is done (its last
//! events, a deletion say, are still read). Paths are noted whatever else
//! is going on: a folder created while a full walk runs is named by its
//! event and watched at the next burst, before it is walked again.
//!
//! A deletion or a move away the OS reported is carried to the scanner
//! ([`Scanner::forget_removed`]): what was last read there is forgotten
//! before the walk, so a folder made unreadable (or replaced) right after
//! cannot bring a deleted key back. So are paths reported created or moved
//! in: a walk may have read them before their watch was in place, when a
//! deletion there went unheard. A folder that turns unreadable with its
//! files in place keeps the keys last read in it, as a key file that stops
//! parsing keeps its last good key.
//!
//! A watch sits on an inode, not a path: when the key directory is replaced
//! at the same path (`rm -rf keys && mkdir keys`, `mv keys keys.old`, a
//! `--keys` symlink pointed at a new release), the old watch hears nothing
//! of the new one. So the root's own delete and move events, and a change of
//! the path's device and inode (checked every [`ROOT_CHECK`] with one
//! `stat`: a retargeted symlink sends no event at all), re-establish the
//! watch and rescan; the events matter because a directory deleted and
//! made again often gets the same inode number back. What was read in the
//! replaced directory is forgotten (its folders are not the new one's). A
//! full rescan request (SIGHUP) re-reads every file and places every watch
//! again.

use super::store::KeyStore;
use crate::error::Error;
use crate::keydir::Scanner;
use crate::keydir::MAX_DEPTH;
use notify::{RecursiveMode, Watcher as _};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

/// How long to gather a burst of events before rescanning.
const SETTLE: Duration = Duration::from_millis(5);
/// How often to look for a vanished key directory.
const MISSING_POLL: Duration = Duration::from_millis(500);
/// How often to check that the watched directory is still the one at the path.
pub const ROOT_CHECK: Duration = Duration::from_millis(250);
/// Longest wait before retrying a rescan that failed (e.g. out of file descriptors).
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Device and inode of the directory at `root` (symlinks followed).
fn identity(root: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(root).ok().map(|m| (m.dev(), m.ino()))
}

/// An error with its causes, for log lines (`cannot read key directory
/// keys: Too many open files (os error 24)`).
struct Chain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// OS file notifications, falling back to polling every second if they fail.
    Notify,
    /// Rescan on a timer.
    Poll(Duration),
}

/// Paths the watcher named since the last rescan.
///
/// Paths are noted whatever else happened: a folder created while a full
/// walk runs (SIGHUP, overflow, a replaced key directory) is named here and
/// gets its watch at the next burst, before it is walked again.
#[derive(Debug, Default)]
struct Changes {
    paths: Vec<PathBuf>,
    /// Paths the OS reported deleted or moved away (also in `paths`): the
    /// scanner forgets what it last read there, so that a folder turning
    /// unreadable (or replaced) afterwards cannot bring their keys back.
    /// Also those it reported created or moved in: what a walk read there
    /// before their watch was placed is read again (see [`removed_paths`]).
    removed: Vec<PathBuf>,
    /// Walk everything (overflow, errors, too many paths).
    all: bool,
    /// Events were lost (overflow, errors): place every watch again, with
    /// a new watcher.
    rewatch: bool,
    /// Too many paths to keep: place every watch again (this watcher's
    /// events were not lost, so it stays).
    retree: bool,
}

/// More paths than this in one burst: walk the whole directory and place
/// every watch again instead.
const MAX_PATHS: usize = 4096;
/// More deletions than this in one burst: their folders are forgotten
/// instead (a full walk reads them again).
const MAX_REMOVED: usize = 65_536;

impl Changes {
    /// Notes the paths of one event, and those of them it reports deleted
    /// or moved away.
    fn note(&mut self, paths: &[PathBuf], removed: &[PathBuf]) {
        if !removed.is_empty() {
            self.removed.extend_from_slice(removed);
            if self.removed.len() > MAX_REMOVED {
                // Their folders instead: forgetting more than was removed
                // only costs reading those folders again.
                self.removed = collapse(std::mem::take(&mut self.removed));
            }
        }
        if self.rewatch || self.retree {
            // Every watch is placed again and everything walked.
            return;
        }
        if self.paths.len() + paths.len() > MAX_PATHS {
            info!("more than {MAX_PATHS} changes at once; watching and rescanning the whole key directory again");
            self.all = true;
            self.retree = true;
            self.paths = Vec::new();
            return;
        }
        self.paths.extend_from_slice(paths);
    }
}

/// `paths` replaced by their parent folders, a level up at a time until at
/// most [`MAX_PATHS`] remain.
fn collapse(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths.dedup_by(|later, earlier| later.starts_with(&*earlier));
    while paths.len() > MAX_PATHS {
        for p in &mut paths {
            if let Some(parent) = p.parent() {
                *p = parent.to_path_buf();
            }
        }
        paths.sort();
        paths.dedup_by(|later, earlier| later.starts_with(&*earlier));
    }
    paths
}

/// The paths of an event whose last read the scanner forgets before the
/// walk (see [`Changes::removed`]): those it reports deleted or moved
/// away, and those it reports created or moved in. A folder that appears
/// is unwatched until its burst is handled (and a folder moved inside the
/// tree loses its watch when notify handles the "moved from"): a walk
/// running meanwhile (SIGHUP) may read it, and a key deleted there before
/// the watch is placed is heard by nobody. Read again after the watch is
/// placed, it cannot keep such a key if it turns unreadable.
fn removed_paths(ev: &notify::Event) -> &[PathBuf] {
    use notify::event::{EventKind, ModifyKind};
    match ev.kind {
        EventKind::Remove(_) | EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => {
            &ev.paths
        }
        _ => &[],
    }
}

/// Forgets what was last read at `removed` (paths the OS reported deleted
/// or moved away, see [`Scanner::forget_removed`]), rescans `paths` (all of
/// the directory for `None`) and swaps in the result; returns the scanner
/// for reuse.
pub async fn rescan(
    mut scanner: Scanner,
    store: &KeyStore,
    paths: Option<Vec<PathBuf>>,
    removed: Vec<PathBuf>,
) -> (Scanner, Result<(), Error>) {
    let (scanner, result) = tokio::task::spawn_blocking(move || {
        scanner.forget_removed(&removed);
        let result = match paths {
            Some(paths) => scanner.rescan_paths(&paths),
            None => scanner.scan(),
        };
        (scanner, result)
    })
    .await
    .expect("scan task panicked");
    store.reloads().set_full_walks(scanner.full_walks());
    match result {
        Ok(Some(set)) => {
            info!(
                keys = set.len(),
                skipped = set.skipped().len(),
                "key set reloaded"
            );
            store.store(set);
            store.reloads().succeeded();
            (scanner, Ok(()))
        }
        Ok(None) => {
            store.reloads().succeeded();
            (scanner, Ok(()))
        }
        Err(e) => {
            store.reloads().failed();
            (scanner, Err(e))
        }
    }
}

/// Places a watch on `dir` and on every folder below it (less than
/// [`MAX_DEPTH`] below `root`), one folder at a time. notify's own recursive mode stops at the first folder it cannot
/// watch (one created mode 000, say), adds watches only for folders created
/// or moved in while their parent's watch was in place, and drops the watch
/// of a folder moved away even when that folder already has a new name: so
/// the watcher places them itself, here, and again for every folder an
/// event names (see [`run`]), which also heals a watch lost in a move. A
/// folder that cannot be watched now (unreadable) is skipped: its `chmod`
/// is an event on its parent, which brings it here again. Only running out
/// of inotify watches is an error.
fn watch_tree(
    watcher: &mut notify::RecommendedWatcher,
    root: &std::path::Path,
    dir: &std::path::Path,
) -> notify::Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let depth = dir.strip_prefix(root).map_or(0, |r| r.components().count());
        match watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => {}
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => return Err(e),
            Err(e) => {
                debug!(dir = %dir.display(), error = %e, "folder not watched (yet)");
                continue;
            }
        }
        if depth + 1 >= MAX_DEPTH {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // Hidden folders too: a symlink may point into one (a key
            // store, Kubernetes' `..data`). Symlinked folders are not
            // followed: while any symlink is in the tree, every change
            // walks it all.
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Watches again the folders among `paths` (what events named) and every
/// folder below them (see [`watch_tree`]); returns those folders.
///
/// The caller passes the previous burst's folders too. A folder moved from
/// a watched place into one just made can be met by the walk of its new
/// parent before notify has handled its "moved from": inotify then hands
/// back the folder's old watch, which that "moved from" removes a moment
/// later. The burst that "moved from" starts watches it again.
fn rewatch(
    watcher: &mut notify::RecommendedWatcher,
    root: &std::path::Path,
    paths: &[PathBuf],
) -> notify::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .filter(|p| {
            p.strip_prefix(root)
                .is_ok_and(|rel| !rel.as_os_str().is_empty())
                && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
        })
        .cloned()
        .collect();
    dirs.sort();
    dirs.dedup_by(|later, earlier| later.starts_with(&*earlier));
    for dir in &dirs {
        watch_tree(watcher, root, dir)?;
    }
    Ok(dirs)
}

/// Watches `root`; every change sends on `tx`, and the root itself going
/// away (deleted or moved: the watch then hears nothing of what replaces it
/// at the path) also sets `gone`.
fn start_watcher(
    root: &std::path::Path,
    tx: mpsc::Sender<()>,
    gone: Arc<AtomicBool>,
    changes: Arc<Mutex<Changes>>,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::event::{EventKind, ModifyKind};
    let watched = root.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(ev) if ev.need_rescan() => {
                warn!("file watcher queue overflowed; watching and rescanning the whole key directory again");
                let mut c = lock(&changes);
                c.all = true;
                c.rewatch = true;
            }
            Ok(ev)
                if matches!(
                    ev.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                ) && ev.paths.contains(&watched) =>
            {
                gone.store(true, Ordering::Relaxed);
            }
            // Reads (ours included: a rescan opens every directory) change
            // nothing; reacting to them would rescan forever. A close after
            // writing is kept: it ends an in-place write.
            Ok(ev) if is_read_only(&ev.kind) => return,
            Ok(ev) if ev.paths.is_empty() => lock(&changes).all = true,
            Ok(ev) => {
                lock(&changes).note(&ev.paths, removed_paths(&ev));
            }
            Err(e) => {
                warn!(error = %e, "file watcher error; watching and rescanning the whole key directory again");
                let mut c = lock(&changes);
                c.all = true;
                c.rewatch = true;
            }
        }
        // A full slot already means "rescan pending".
        let _ = tx.try_send(());
    })?;
    watcher.watch(root, RecursiveMode::NonRecursive)?;
    watch_tree(&mut watcher, root, root)?;
    Ok(watcher)
}

/// The lock, even if a panic poisoned it (the data is a plain list).
fn lock(changes: &Mutex<Changes>) -> std::sync::MutexGuard<'_, Changes> {
    changes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether an event only reports that something was read.
fn is_read_only(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    matches!(kind, EventKind::Access(a) if !matches!(a, AccessKind::Close(AccessMode::Write)))
}

/// A watch on the key directory, and what its events left to look at.
#[derive(Debug)]
struct Watch {
    mode: Mode,
    tx: mpsc::Sender<()>,
    rx: mpsc::Receiver<()>,
    watcher: Option<notify::RecommendedWatcher>,
    /// Place every watch again, with a new watcher (SIGHUP, overflow, the
    /// key directory replaced).
    restart: bool,
    /// The watchers restarts replaced, kept until the walk after them is
    /// done: what the OS reported to them just before (a deletion) must
    /// still be read from their queues, not dropped with them.
    retiring: Vec<notify::RecommendedWatcher>,
    /// Device and inode of the directory watched.
    watched: Option<(u64, u64)>,
    poll: Option<Duration>,
    failed: bool,
    /// A watch was placed anew: what happened before it went unheard.
    placed: bool,
    gone: Arc<AtomicBool>,
    changes: Arc<Mutex<Changes>>,
}

impl Watch {
    /// Starts watching `root` (for [`Mode::Notify`]). Once the watch is in
    /// place, [`run`] walks the whole directory once (re-reading only what
    /// changed) to catch what changed before it; from then on, only the
    /// paths events name are looked at. (Watching before the first scan
    /// would have the scan's own opens flood and overflow the event queue.)
    fn new(root: &std::path::Path, mode: Mode) -> Watch {
        let (tx, rx) = mpsc::channel::<()>(1);
        let mut watch = Watch {
            mode,
            tx,
            rx,
            watcher: None,
            restart: false,
            retiring: Vec::new(),
            watched: None,
            poll: match mode {
                Mode::Poll(every) => Some(every),
                Mode::Notify => None,
            },
            failed: false,
            placed: false,
            gone: Arc::new(AtomicBool::new(false)),
            changes: Arc::new(Mutex::new(Changes::default())),
        };
        if mode == Mode::Notify {
            watch.start(root);
        }
        watch
    }

    /// Places the watch and asks for a walk of everything (what changed
    /// while no watch was in place); on failure, falls back to polling
    /// every second.
    fn start(&mut self, root: &std::path::Path) {
        // Taken before the watches are placed: if the path is pointed
        // elsewhere while they are (a `--keys` symlink retargeted again),
        // the next check sees another directory and starts over. Taken
        // after, it would name the new directory for watches on the old.
        let before = identity(root);
        match start_watcher(
            root,
            self.tx.clone(),
            Arc::clone(&self.gone),
            Arc::clone(&self.changes),
        ) {
            Ok(w) => {
                info!(dir = %root.display(), "watching the key directory for changes");
                self.retiring.extend(self.watcher.replace(w));
                self.restart = false;
                self.watched = before;
                self.poll = None;
                self.placed = true;
                lock(&self.changes).all = true;
                let _ = self.tx.try_send(());
            }
            Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {
                // Gone for a moment (`mv keys keys.old; mv keys.new keys`):
                // the walk says so, and the watch is placed again once it is back.
                warn!(error = %e, dir = %root.display(),
                    "cannot watch the key directory (not there now); trying again in a second");
                self.poll = Some(Duration::from_secs(1));
                self.restart = true;
                self.retiring.extend(self.watcher.take());
            }
            Err(e) => {
                warn!(error = %e, dir = %root.display(),
                    "cannot watch the key directory; polling every second instead (see --poll-interval)");
                self.poll = Some(Duration::from_secs(1));
                self.failed = true;
                self.restart = false;
                self.retiring.extend(self.watcher.take());
            }
        }
    }

    /// Whether to (re)place the watch now.
    fn wants_start(&self, missing: bool) -> bool {
        self.mode == Mode::Notify
            && (self.watcher.is_none() || self.restart)
            && !missing
            && !self.failed
    }
}

impl Watch {
    /// The key directory at `root` is another one than the one watched:
    /// watch the new one, and forget what was read in the old one (the
    /// keys last read in one of its folders are not the new one's).
    fn replaced(&mut self, root: &std::path::Path) {
        info!(dir = %root.display(),
            "the key directory was replaced at its path; watching the new one");
        self.restart = true;
        lock(&self.changes).removed.push(root.to_path_buf());
    }
}

/// Watches the scanner's directory and reloads `store` until `shutdown`
/// completes; each message on `full_rescans` re-reads every file.
pub async fn run(
    mut scanner: Scanner,
    store: Arc<KeyStore>,
    mode: Mode,
    mut full_rescans: mpsc::Receiver<()>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    // Placing a recursive watch visits every folder (a third of a second
    // at 100,000 keys): off the request threads, while requests are served.
    let root = scanner.root().to_path_buf();
    let Ok(mut w) = tokio::task::spawn_blocking(move || Watch::new(&root, mode)).await else {
        error!("placing the file watch panicked; the key directory is not watched");
        return;
    };
    let mut missing = false;
    let mut retry: Option<Duration> = None;
    // The folders the last burst named (see `rewatch`).
    let mut recent_dirs: Vec<PathBuf> = Vec::new();
    // When to look next whether the path still names the directory
    // watched: on a clock of its own, so that a stream of events (from the
    // old directory, say) cannot put it off.
    let mut root_check_at = tokio::time::Instant::now() + ROOT_CHECK;
    loop {
        // What the next rescan looks at: the named paths, or everything.
        let mut all = true;
        // Place every watch again (SIGHUP, too many paths).
        let mut retree = false;
        if w.wants_start(missing) {
            w.start(scanner.root());
        }
        let checking_root = w.watcher.is_some() && !missing && retry.is_none() && w.poll.is_none();
        if checking_root && tokio::time::Instant::now() >= root_check_at {
            root_check_at = tokio::time::Instant::now() + ROOT_CHECK;
            if identity(scanner.root()) != w.watched {
                w.replaced(scanner.root());
                continue;
            }
        }
        let tick = match (missing, retry, w.poll) {
            (true, _, _) => Some(MISSING_POLL),
            (false, Some(r), _) => Some(r),
            (false, None, Some(p)) => Some(p),
            (false, None, None) if checking_root => {
                Some(root_check_at.saturating_duration_since(tokio::time::Instant::now()))
            }
            _ => None,
        };
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = w.rx.recv() => {
                tokio::time::sleep(SETTLE).await;
                while w.rx.try_recv().is_ok() {}
                if w.gone.swap(false, Ordering::Relaxed) {
                    w.replaced(scanner.root());
                } else {
                    all = retry.is_some() || missing;
                }
            }
            Some(()) = full_rescans.recv() => {
                info!(dir = %scanner.root().display(), "full rescan requested (SIGHUP): watching every folder and reading every file again");
                scanner.forget_stamps();
                // On the watcher in place: a new one would drop what the
                // OS told this one just before (a deletion).
                retree = true;
                w.failed = false;
            }
            _ = sleep_opt(tick) => {
                if checking_root {
                    // The check is at the top of the loop.
                    continue;
                }
            }
        }
        let taken = std::mem::take(&mut *lock(&w.changes));
        if taken.rewatch {
            // Events lost: read as a fresh start reads, even if no watch can be placed.
            w.restart = true;
            scanner.events_lost();
        }
        if w.wants_start(missing) {
            // Placed before the walk, so that nothing changed meanwhile is missed.
            tokio::task::block_in_place(|| w.start(scanner.root()));
            all = true;
        } else if let Some(watcher) = w.watcher.as_mut() {
            // Folders named by this burst (created, moved in, made
            // readable), and by the one before, are watched before they
            // are walked.
            let root = scanner.root().to_path_buf();
            let mut named = std::mem::take(&mut recent_dirs);
            named.extend_from_slice(&taken.paths);
            let placed = if retree || taken.retree {
                all = true;
                tokio::task::block_in_place(|| {
                    watch_tree(watcher, &root, &root).map(|()| Vec::new())
                })
            } else {
                tokio::task::block_in_place(|| rewatch(watcher, &root, &named))
            };
            match placed {
                Ok(dirs) => recent_dirs = dirs,
                Err(e) => {
                    warn!(error = %e, "cannot watch more folders (fs.inotify.max_user_watches?); polling every second instead");
                    w.watcher = None;
                    w.failed = true;
                    w.poll = Some(Duration::from_secs(1));
                    all = true;
                }
            }
        }
        if std::mem::take(&mut w.placed) {
            // A watch placed anew: what happened before it went unheard.
            scanner.events_lost();
        }
        let paths = (!all && !taken.all).then_some(taken.paths);
        let result;
        tokio::select! {
            _ = &mut shutdown => break,
            r = rescan(scanner, &store, paths, taken.removed) => (scanner, result) = r,
        }
        // Its last events were noted while the walk ran.
        w.retiring.clear();
        if result.is_ok() {
            retry = None;
        }
        match result {
            Ok(()) => {
                if missing {
                    info!(dir = %scanner.root().display(), "key directory is back");
                    missing = false;
                    w.failed = false;
                    w.watcher = None;
                }
            }
            Err(e @ (Error::KeyDirMissing { .. } | Error::KeyDirNotDirectory { .. })) => {
                if !missing {
                    error!(error = %Chain(&e), keys = store.load().len(),
                        "key directory is gone; still serving the last good key set until it returns");
                }
                missing = true;
                w.watcher = None;
                // Whatever comes back at the path is another directory.
                lock(&w.changes).removed.push(scanner.root().to_path_buf());
            }
            Err(e) => {
                let next = retry.map_or(Duration::from_millis(100), |r| (r * 2).min(RETRY_MAX));
                error!(error = %Chain(&e), retry_in = ?next,
                    "rescan failed; still serving the last good key set");
                retry = Some(next);
            }
        }
    }
    drop(w.watcher);
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, EventKind, ModifyKind, RemoveKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        paths.iter().fold(notify::Event::new(kind), |e, p| {
            e.add_path(PathBuf::from(p))
        })
    }

    /// What the scanner forgets before the walk: deleted and moved away
    /// (a deletion reported stays one), created and moved in (the random
    /// walk, seed 1: a folder moved in was read by a SIGHUP walk before it
    /// had a watch, and kept a key deleted there unheard once it turned
    /// unreadable). Writes and attribute changes forget nothing (a key file
    /// that stops parsing keeps its last good key).
    #[test]
    fn what_appeared_or_went_away_is_read_afresh() {
        let forgotten = |kind, paths: &[&str]| removed_paths(&event(kind, paths)).len();
        let name = |mode| EventKind::Modify(ModifyKind::Name(mode));
        assert_eq!(
            forgotten(EventKind::Remove(RemoveKind::File), &["k/a.pem"]),
            1
        );
        assert_eq!(
            forgotten(EventKind::Create(CreateKind::Folder), &["k/t"]),
            1
        );
        assert_eq!(forgotten(name(RenameMode::From), &["k/s"]), 1);
        assert_eq!(forgotten(name(RenameMode::To), &["k/t/c"]), 1);
        assert_eq!(forgotten(name(RenameMode::Both), &["k/s", "k/t/c"]), 2);
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(forgotten(write, &["k/a.pem"]), 0);
        let chmod = EventKind::Modify(ModifyKind::Metadata(
            notify::event::MetadataKind::Permissions,
        ));
        assert_eq!(forgotten(chmod, &["k/t"]), 0);
    }
}
