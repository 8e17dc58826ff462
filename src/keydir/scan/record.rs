//! Recording what a walk found: the verdict on each path goes into the
//! walk's cache entries, a kid that comes back with other key material is
//! noted, and each change is logged once, when it appears.

use super::examine::{Stamp, Verdict};
use super::walk::Walk;
use super::{Cached, Scanner};
use crate::error::shown;
use crate::keydir::age::now_secs;
use crate::keydir::{KeyEntry, SkipReason};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{debug, error, info, warn};

/// The first 8 bytes of a hash, as the key of [`Scanner`]'s `seen` map.
fn prefix64(bytes: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(first)
}

impl Scanner {
    /// Records that `rel`, a folder or a symlink (never a key file), could
    /// not be read, and why. Whatever key was served at that path goes: a
    /// folder or a dangling link took the file's place.
    pub(super) fn unreadable(
        &mut self,
        walk: &mut Walk,
        rel: PathBuf,
        why: &dyn std::fmt::Display,
    ) {
        let reason = SkipReason::Unreadable(why.to_string());
        self.record_as(walk, rel, None, Verdict::skip(reason), false);
    }

    /// Stores the verdict for `rel` in the walk's cache and logs what changed.
    /// A key file that is still a regular file but cannot be read or parsed
    /// right now (being rewritten, briefly unreadable) keeps serving its last
    /// good key; anything else at the path ends it, as a fresh start would.
    pub(super) fn record(
        &mut self,
        walk: &mut Walk,
        rel: PathBuf,
        stamp: Option<Stamp>,
        verdict: Verdict,
    ) {
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
