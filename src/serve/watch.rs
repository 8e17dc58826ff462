//! Keeps the [`KeyStore`] in step with the key directory.
//!
//! OS notifications (inotify) only say "something changed": the notify
//! callback just `try_send`s on a one-slot channel, the task waits a short
//! window for the burst to finish, then rescans (which re-reads only changed
//! files) and swaps the new set in. Kubernetes' atomic `..data` symlink swap
//! is a rename in the watched directory, so it triggers a rescan like any
//! other change. `--poll-interval` replaces notifications by a timer for NFS
//! and volumes that send none. If the directory disappears, the last good
//! set keeps being served and the directory is polled until it returns.

use super::store::KeyStore;
use crate::error::Error;
use crate::keydir::Scanner;
use notify::{RecursiveMode, Watcher as _};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// How long to gather a burst of events before rescanning.
const SETTLE: Duration = Duration::from_millis(25);
/// How often to look for a vanished key directory.
const MISSING_POLL: Duration = Duration::from_millis(500);

/// How changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// OS file notifications, falling back to polling every second if they fail.
    Notify,
    /// Rescan on a timer.
    Poll(Duration),
}

/// Rescans once and swaps in the result; returns the scanner for reuse.
pub async fn rescan(mut scanner: Scanner, store: &KeyStore) -> (Scanner, Result<(), Error>) {
    let (scanner, result) = tokio::task::spawn_blocking(move || {
        let result = scanner.scan();
        (scanner, result)
    })
    .await
    .expect("scan task panicked");
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

fn start_watcher(
    root: &std::path::Path,
    tx: mpsc::Sender<()>,
) -> notify::Result<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(ev) if ev.need_rescan() => {
                warn!("file watcher queue overflowed; rescanning the whole key directory")
            }
            // Reads (ours included: a rescan opens every directory) change
            // nothing; reacting to them would rescan forever. A close after
            // writing is kept: it ends an in-place write.
            Ok(ev) if is_read_only(&ev.kind) => return,
            Ok(_) => {}
            Err(e) => warn!(error = %e, "file watcher error; rescanning"),
        }
        // A full slot already means "rescan pending".
        let _ = tx.try_send(());
    })?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Whether an event only reports that something was read.
fn is_read_only(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    matches!(kind, EventKind::Access(a) if !matches!(a, AccessKind::Close(AccessMode::Write)))
}

/// Watches the scanner's directory and reloads `store` until `shutdown` completes.
pub async fn run(
    mut scanner: Scanner,
    store: Arc<KeyStore>,
    mode: Mode,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = None;
    let mut poll = match mode {
        Mode::Poll(every) => Some(every),
        Mode::Notify => None,
    };
    let mut missing = false;
    let mut watch_failed = false;
    loop {
        if mode == Mode::Notify && watcher.is_none() && !missing && !watch_failed {
            match start_watcher(scanner.root(), tx.clone()) {
                Ok(w) => {
                    info!(dir = %scanner.root().display(), "watching the key directory for changes");
                    watcher = Some(w);
                    poll = None;
                    // Catch what changed while no watch was in place.
                    let _ = tx.try_send(());
                }
                Err(e) => {
                    warn!(error = %e, dir = %scanner.root().display(),
                        "cannot watch the key directory; polling every second instead (see --poll-interval)");
                    poll = Some(Duration::from_secs(1));
                    watch_failed = true;
                }
            }
        }
        let tick = if missing { Some(MISSING_POLL) } else { poll };
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = rx.recv() => {
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
            }
            _ = sleep_opt(tick) => {}
        }
        let result;
        (scanner, result) = rescan(scanner, &store).await;
        match result {
            Ok(()) => {
                if missing {
                    info!(dir = %scanner.root().display(), "key directory is back");
                    missing = false;
                    watch_failed = false;
                    watcher = None;
                }
            }
            Err(e @ (Error::KeyDirMissing { .. } | Error::KeyDirNotDirectory { .. })) => {
                if !missing {
                    error!(error = %e, keys = store.load().len(),
                        "key directory is gone; still serving the last good key set until it returns");
                }
                missing = true;
                watcher = None;
            }
            Err(e) => error!(error = %e, "rescan failed; still serving the last good key set"),
        }
    }
    drop(watcher);
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
