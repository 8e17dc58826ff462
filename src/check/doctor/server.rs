//! `doctor --url`: every kid fetched from the running key server, within
//! bounds that hold at 10,000 kids against a server that never answers.
//!
//! Fetching is blocking ureq, so a few threads share the kids
//! ([`IN_FLIGHT`]); the whole audit has one deadline (`--deadline`), each
//! fetch waits at most `--timeout` and never past that deadline; and after
//! [`TIMEOUTS_IN_A_ROW`] fetches in a row get no answer the rest are not
//! tried: one finding says so, instead of hours of the same timeout.

use super::super::generation::Generation;
use super::super::{fetch, keysource, Diagnostic};
use crate::keydir::{KeyEntry, KeySet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Fetches at once.
pub const IN_FLIGHT: usize = 4;
/// Timeouts in a row (in the order answers came) that end the audit.
pub const TIMEOUTS_IN_A_ROW: usize = 3;

/// Why an audit stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeouts,
    Deadline,
}

/// What the fetching threads share.
struct Shared {
    /// Each kid's answer, by its place in the set.
    got: Vec<Option<keysource::Obtained>>,
    /// Timeouts in a row so far.
    in_a_row: usize,
    stop: Option<Stop>,
}

/// Fetches every kid of `set` from a running key server and compares, by
/// `deadline` (`--deadline`, shown as `budget`). `jwks`: Prosody also reads
/// a JWKS at `cache_keys_url` (token plugin 2025-11 and later), which picks
/// up a key replaced under its kid.
pub fn check_server(
    set: &KeySet,
    url: &str,
    options: &fetch::Options,
    jwks: bool,
    deadline: Instant,
    budget: std::time::Duration,
) -> Vec<Diagnostic> {
    let keys: Vec<&KeyEntry> = set.keys().map(|k| &**k).collect();
    let next = AtomicUsize::new(0);
    let shared = Mutex::new(Shared {
        got: vec![None; keys.len()],
        in_a_row: 0,
        stop: None,
    });
    let stopped = || shared.lock().map_or(true, |s| s.stop.is_some());
    let fetch_all = || {
        while !stopped() {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(k) = keys.get(i) else { break };
            let Some(options) = options.within(deadline) else {
                if let Ok(mut s) = shared.lock() {
                    s.stop.get_or_insert(Stop::Deadline);
                }
                break;
            };
            let source = keysource::KeySource::Server {
                base: url.to_owned(),
                options,
            };
            let got = keysource::obtain(&source, &k.kid);
            let Ok(mut s) = shared.lock() else { break };
            if got.timed_out && Instant::now() >= deadline {
                // Cut short by the deadline: the server may be slow, not gone.
                s.stop.get_or_insert(Stop::Deadline);
            } else {
                s.in_a_row = if got.timed_out { s.in_a_row + 1 } else { 0 };
                if s.in_a_row >= TIMEOUTS_IN_A_ROW {
                    s.stop.get_or_insert(Stop::Timeouts);
                }
            }
            s.got[i] = Some(got);
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..IN_FLIGHT.min(keys.len()) {
            scope.spawn(fetch_all);
        }
    });
    let Shared { got, stop, .. } = shared
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Vec::new();
    let mut unchecked = 0usize;
    for (k, got) in keys.iter().zip(got) {
        match got {
            Some(got) => compare(k, &got, jwks, &mut out),
            None => unchecked += 1,
        }
    }
    match stop {
        Some(Stop::Timeouts) => out.push(
            Diagnostic::fail(
                url,
                format!(
                    "stopped after {TIMEOUTS_IN_A_ROW} timeouts in a row: the key server at {url} does not answer; {unchecked} kids not checked"
                ),
            )
            .why("Prosody waits for it the same way, blocking each login that needs a key it has not cached")
            .fix("check that the key server runs and is reachable from here and from Prosody, or raise --timeout"),
        ),
        Some(Stop::Deadline) if unchecked > 0 => out.push(
            Diagnostic::fail(
                url,
                format!(
                    "stopped at the --deadline of {}: {unchecked} kids not checked",
                    humantime::format_duration(budget)
                ),
            )
            .fix("raise --deadline, or find out why the key server answers slowly"),
        ),
        _ => {}
    }
    out
}

/// What the key server gave for `k`, compared with the key on disk.
fn compare(k: &KeyEntry, got: &keysource::Obtained, jwks: bool, out: &mut Vec<Diagnostic>) {
    let ours = Some((k.n().to_vec(), k.e().to_vec()));
    let theirs = got.key.as_ref().map(|f| (f.n.clone(), f.e.clone()));
    let f = match (&got.problem, theirs) {
        (Some((why, fix)), _) => {
            Diagnostic::fail(&k.kid, format!("{} ({}): {why}", got.location, got.summary)).fix(fix)
        }
        (None, Some(t)) if Some(&t) != ours.as_ref() => Diagnostic::fail(
            &k.kid,
            format!(
                "{} serves a DIFFERENT \
            key than {}",
                got.location,
                k.source().display()
            ),
        )
        .fix(
            "Prosody verifies with the served key: make \
            the server serve this directory, or restart it",
        ),
        (None, _) if got.key.as_ref().is_some_and(|f| f.form.is_private()) => Diagnostic::fail(
            &k.kid,
            format!(
                "{} \
            serves PRIVATE key material",
                got.location
            ),
        )
        .fix(
            "serve only public keys (asap-keyserver serve re-encodes \
            them as SPKI), rotate to a new kid",
        ),
        _ => Diagnostic::pass(&k.kid, format!("served identically at {}", got.location)),
    };
    out.push(f);
    if let Some(when) = &got.replaced {
        let seen = format!("its key changed at {when} while the server ran (Asap-Key-Replaced)");
        let d = if jwks {
            Diagnostic::warn(&k.kid, seen).why("Prosody takes the new key from cache_keys_url's JWKS at its next \
                refresh, but one that fetched this kid through asap_key_server before then keeps the old key until it restarts")
        } else {
            Diagnostic::fail(&k.kid, seen).why("a Prosody that fetched this kid through asap_key_server before \
                then still holds the old key and rejects every token signed with the new one (\"Invalid signature\") until it restarts")
        };
        out.push(d.fix(format!(
            "restart Prosody, or add cache_keys_url (token plugin {} and later); rotate with a new kid next time (asap-keyserver rotate {})",
            Generation::jwks_since().unwrap_or("2025-11"),
            crate::kid::issuer(&k.kid)
        )));
    }
}
