//! The live key set the server reads, and the counters of the rescans that
//! replace it.

use crate::keydir::age::now_secs;
use crate::keydir::KeySet;
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The live key set, replaced atomically on reload; readers never block.
#[derive(Debug)]
pub struct KeyStore {
    current: ArcSwap<KeySet>,
    reloads: Reloads,
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore {
            current: ArcSwap::from_pointee(KeySet::empty()),
            reloads: Reloads::default(),
        }
    }
}

impl KeyStore {
    /// A store holding an empty, not-ready set.
    pub fn new() -> Self {
        KeyStore::default()
    }

    /// The current set.
    pub fn load(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.current.load()
    }

    /// Replaces the current set.
    pub fn store(&self, set: KeySet) {
        self.current.store(Arc::new(set));
    }

    /// How the rescans behind this store went.
    pub fn reloads(&self) -> &Reloads {
        &self.reloads
    }
}

/// Counters of the rescans of the key directory.
#[derive(Debug)]
pub struct Reloads {
    succeeded: AtomicU64,
    full_walks: AtomicU64,
    failed: AtomicU64,
    last_success: AtomicU64,
}

impl Default for Reloads {
    fn default() -> Self {
        Reloads {
            succeeded: AtomicU64::new(0),
            full_walks: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_success: AtomicU64::new(now_secs()),
        }
    }
}

impl Reloads {
    /// Counts a successful rescan (a new key set swapped in, or nothing changed).
    pub fn succeeded(&self) {
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        self.last_success.store(now_secs(), Ordering::Relaxed);
    }

    /// Records how many times the whole directory has been walked.
    pub fn set_full_walks(&self, walks: u64) {
        self.full_walks.store(walks, Ordering::Relaxed);
    }

    /// Walks of the whole directory so far (the rest of the rescans looked
    /// only at the paths the watcher named).
    pub fn full_walks(&self) -> u64 {
        self.full_walks.load(Ordering::Relaxed)
    }

    /// Counts a failed rescan.
    pub fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Successful rescans so far.
    pub fn successes(&self) -> u64 {
        self.succeeded.load(Ordering::Relaxed)
    }

    /// Failed rescans so far.
    pub fn failures(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Seconds since the last successful rescan (or since start).
    pub fn seconds_since_success(&self) -> u64 {
        now_secs().saturating_sub(self.last_success.load(Ordering::Relaxed))
    }
}
