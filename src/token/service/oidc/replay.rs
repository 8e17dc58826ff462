//! The record of login states already used on this replica, so that a
//! callback is finished at most once even when the IdP would take its
//! code twice. Short-lived (an entry lives as long as its login cookie
//! could: [`LOGIN_TTL`](super::cookie::LOGIN_TTL) from the login's start),
//! bounded ([`CAPACITY`] entries; when full, the oldest goes first), and
//! per replica: another replica sharing the cookie key has its own record,
//! and the IdP's one-time codes are the other guard.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Login states remembered at most.
pub const CAPACITY: usize = 100_000;

/// Used login states, by the SHA-256 of the state, with when they expire.
#[derive(Debug, Default)]
pub struct Used {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<[u8; 32]>,
    /// Insertion order, with each state's expiry (Unix seconds).
    order: VecDeque<([u8; 32], u64)>,
}

impl Used {
    /// Marks `state` used until `expires` (Unix seconds), at `now`; `false`
    /// when it was used already (a replay).
    pub fn first_use(&self, state: &str, expires: u64, now: u64) -> bool {
        let key = digest(state);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(&(old, until)) = inner.order.front() {
            if until > now && inner.order.len() < CAPACITY {
                break;
            }
            inner.order.pop_front();
            inner.seen.remove(&old);
        }
        if !inner.seen.insert(key) {
            return false;
        }
        inner.order.push_back((key, expires));
        true
    }

    /// Forgets `state` (its use did not go through: it may be tried again).
    pub fn forget(&self, state: &str) {
        let key = digest(state);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.seen.remove(&key) {
            inner.order.retain(|(k, _)| *k != key);
        }
    }

    /// States remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .order
            .len()
    }
}

fn digest(state: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, state.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_used_once_until_it_expires() {
        let used = Used::default();
        assert!(used.first_use("s1", 1600, 1000));
        assert!(!used.first_use("s1", 1600, 1001), "a replay");
        assert!(used.first_use("s2", 1700, 1100));
        // After its expiry, s1 is forgotten (its cookie is refused by then anyway).
        assert!(used.first_use("s3", 1800, 1650));
        assert_eq!(used.len(), 2);
        used.forget("s3");
        assert!(
            used.first_use("s3", 1800, 1650),
            "forgotten, so usable again"
        );
        assert_eq!(used.len(), 2);
    }
}
