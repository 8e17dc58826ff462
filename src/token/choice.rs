//! Which key signs: the one rule `mint --issuer --min-key-age` and the token
//! service's [`Signer`](super::service::Signer) follow, written once.
//!
//! The key to sign with for an issuer is the newest (by
//! [`crate::keydir::age`]) of its private keys directly under `<issuer>/`
//! that has been in the key directory for at least `min_key_age`: a key
//! every key server replica and every Prosody can already find. Finding the
//! issuer's keys is a range lookup in the [`KeySet`]'s kid order, not a scan.
//!
//! Where the order cannot be told ([`age::newest_candidates`] gives
//! several), a person at a terminal (`mint --issuer`) gets
//! [`ChoiceError::Unordered`] naming the candidates ([`newest`], [`pick`]);
//! a running service keeps the key it signed with before
//! ([`newest_keeping`], [`pick_keeping`]): adding a key never stops it.

use crate::keydir::age;
use crate::keydir::{keygen, KeyEntry, KeySet};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why no key of an issuer can sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChoiceError {
    /// `--issuer` has no private key.
    #[error("no private key under issuer {issuer:?}; issuers: {}", list(.choices))]
    NoKeysForIssuer {
        /// The issuer asked for.
        issuer: String,
        /// The issuers that could be used.
        choices: Vec<String>,
    },
    /// The evidence cannot tell which key of the issuer is the newest.
    #[error("cannot tell which key of {issuer} is the newest: {} (their kids' dates do not settle it, and a kid \
        without a date is newer only when its file was written more than {} after the other's); \
        sign with --kid KID, or run `asap-keyserver rotate {issuer}` to \
        make a key known newer than all of them", list(.candidates), secs(&age::MTIME_MARGIN))]
    Unordered {
        /// The issuer (or `the key directory`).
        issuer: String,
        /// The kids that may be the newest.
        candidates: Vec<String>,
    },
    /// Every key of the issuer is younger than `--min-key-age`.
    #[error("no key of {issuer} has been in the key directory for {} (--min-key-age) yet; the youngest, {kid}, \
        appeared {} ago: wait, or sign with --kid", secs(.min_key_age), secs(.age))]
    TooYoung {
        /// The issuer.
        issuer: String,
        /// The minimum asked for.
        min_key_age: Duration,
        /// The key that appeared most recently.
        kid: String,
        /// How long ago.
        age: Duration,
    },
}

fn secs(d: &Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(d.as_secs()))
}

/// Items for an error message, `none` when there are none.
pub(crate) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Which key of an issuer to sign with: the newest by [`crate::keydir::age`]
/// among those in the directory for at least `min_key_age` at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    /// The time of signing.
    pub now: SystemTime,
    /// How long a key must have been in the directory before it signs, so
    /// that every key server replica and Prosody can find it first.
    pub min_key_age: Duration,
}

impl Choice {
    /// Now, with no minimum age.
    pub fn now() -> Choice {
        Choice {
            now: SystemTime::now(),
            min_key_age: Duration::ZERO,
        }
    }

    /// `now` in nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    /// Keys that appeared at or before this (ns) are old enough.
    fn cutoff_ns(&self) -> u64 {
        self.now_ns()
            .saturating_sub(self.min_key_age.as_nanos() as u64)
    }
}

/// The issuers (first kid segments) that have private keys in `set`, for
/// error messages (a pass over every key: only when something is wrong).
pub fn issuers(set: &KeySet) -> Vec<String> {
    let names: BTreeSet<_> = set
        .keys()
        .filter(|k| k.public.form.is_private())
        .map(|k| crate::kid::issuer(&k.kid).to_owned())
        .collect();
    names.into_iter().collect()
}

/// The key to sign with for `issuer`: the newest of its private keys
/// directly under `<issuer>/` that has been in the directory for
/// `choice.min_key_age`; [`ChoiceError::Unordered`] when the order cannot
/// be told.
pub fn newest(set: &KeySet, issuer: &str, choice: Choice) -> Result<Arc<KeyEntry>, ChoiceError> {
    newest_keeping(set, issuer, choice, None)?.strict(issuer)
}

/// Like [`newest`], for a service that signed with `keep` before: where
/// the order cannot be told, `keep` when it is a candidate, else the
/// candidate written last ([`age::keep_or_latest`]).
pub fn newest_keeping(
    set: &KeySet,
    issuer: &str,
    choice: Choice,
    keep: Option<&str>,
) -> Result<Picked, ChoiceError> {
    let candidates = keygen::signing_candidates(set, issuer);
    if candidates.is_empty() {
        return Err(ChoiceError::NoKeysForIssuer {
            issuer: issuer.to_owned(),
            choices: issuers(set),
        });
    }
    pick_keeping(issuer, candidates, choice, keep)
}

/// The key chosen, and whether the rule chose it.
#[derive(Debug, Clone)]
pub struct Picked {
    /// The key to sign with.
    pub key: Arc<KeyEntry>,
    /// The kids that may be the newest when the order could not be told
    /// (`key` among them, chosen by [`age::keep_or_latest`]); empty when
    /// `key` is known newer than every other old-enough key.
    pub unordered: Vec<String>,
}

impl Picked {
    /// The key, or [`ChoiceError::Unordered`] when the rule did not choose it.
    pub fn strict(self, issuer: &str) -> Result<Arc<KeyEntry>, ChoiceError> {
        if self.unordered.is_empty() {
            Ok(self.key)
        } else {
            Err(ChoiceError::Unordered {
                issuer: issuer.to_owned(),
                candidates: self.unordered,
            })
        }
    }
}

/// The newest of `candidates` (keys of `issuer`) old enough for `choice`.
pub fn pick(
    issuer: &str,
    candidates: Vec<Arc<KeyEntry>>,
    choice: Choice,
) -> Result<Arc<KeyEntry>, ChoiceError> {
    pick_keeping(issuer, candidates, choice, None)?.strict(issuer)
}

/// Like [`pick`], keeping `keep` where the order cannot be told.
pub fn pick_keeping(
    issuer: &str,
    candidates: Vec<Arc<KeyEntry>>,
    choice: Choice,
    keep: Option<&str>,
) -> Result<Picked, ChoiceError> {
    let now_ns = choice.now_ns();
    let cutoff = choice.cutoff_ns();
    let (old_enough, young): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|k| k.times.changed_ns <= cutoff);
    if old_enough.is_empty() {
        let youngest = young.iter().max_by_key(|k| k.times.changed_ns);
        return Err(ChoiceError::TooYoung {
            issuer: issuer.to_owned(),
            min_key_age: choice.min_key_age,
            kid: youngest.map(|k| k.kid.clone()).unwrap_or_default(),
            age: Duration::from_nanos(
                now_ns.saturating_sub(youngest.map_or(0, |k| k.times.changed_ns)),
            ),
        });
    }
    let tops = age::newest_candidates(&old_enough);
    let key = age::keep_or_latest(&tops, keep).ok_or_else(|| ChoiceError::NoKeysForIssuer {
        issuer: issuer.to_owned(),
        choices: Vec::new(),
    })?;
    let unordered = if tops.len() > 1 {
        tops.iter().map(|k| k.kid.clone()).collect()
    } else {
        Vec::new()
    };
    Ok(Picked { key, unordered })
}

/// Until when (ns since the epoch) the answer of [`newest`] for these
/// `candidates` stays the same, the key set unchanged: the moment the next
/// of its young keys becomes old enough (`None`: no young key, so until
/// the key set changes).
pub fn stable_until_ns(candidates: &[Arc<KeyEntry>], choice: Choice) -> Option<u64> {
    let cutoff = choice.cutoff_ns();
    let age = choice.min_key_age.as_nanos() as u64;
    candidates
        .iter()
        .filter(|k| k.times.changed_ns > cutoff)
        .map(|k| k.times.changed_ns.saturating_add(age))
        .min()
}
