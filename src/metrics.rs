//! Counters for `/metrics`, in Prometheus text format.
//!
//! Requests are counted in a fixed table of atomics (route × status), so
//! the request path stays lock- and allocation-free; the text is rendered
//! only when `/metrics` is scraped, together with what the current key set
//! says (keys loaded, files skipped by reason).

use crate::keystore::{KeySet, SkipReason};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/<sha256(kid)>.pem`
    Prosody,
    /// `/<kid>`
    Asap,
    /// The JWKS.
    Jwks,
    /// `/healthz`
    Health,
    /// `/readyz`
    Ready,
    /// `/metrics`
    Metrics,
    /// Anything else.
    Unknown,
}

const ROUTES: [(Route, &str); 7] = [
    (Route::Prosody, "prosody_pem"),
    (Route::Asap, "asap"),
    (Route::Jwks, "jwks"),
    (Route::Health, "healthz"),
    (Route::Ready, "readyz"),
    (Route::Metrics, "metrics"),
    (Route::Unknown, "unknown"),
];
const STATUSES: [u16; 6] = [200, 304, 404, 405, 503, 0];

/// The process-wide counters.
#[derive(Debug)]
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    last_reload: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            reloads: AtomicU64::new(0),
            reload_errors: AtomicU64::new(0),
            last_reload: AtomicU64::new(now()),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn skip_label(r: &SkipReason) -> &'static str {
    match r {
        SkipReason::Dotfile => "dotfile",
        SkipReason::NotPem => "not_pem",
        SkipReason::Readme => "readme",
        SkipReason::NotRegularFile => "not_regular_file",
        SkipReason::Empty => "empty",
        SkipReason::TooLarge(_) => "too_large",
        SkipReason::Unreadable(_) => "unreadable",
        SkipReason::OutsideKeyDir(_) => "outside_key_dir",
        SkipReason::SymlinkLoop => "symlink_loop",
        SkipReason::BadKid(_) => "bad_kid",
        SkipReason::BadKey(_) => "bad_key",
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: Route, status: u16) {
        let r = ROUTES
            .iter()
            .position(|(x, _)| *x == route)
            .unwrap_or(ROUTES.len() - 1);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[r][s].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a successful reload (a new key set swapped in, or a rescan that found no change).
    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.last_reload.store(now(), Ordering::Relaxed);
    }

    /// Counts a failed rescan.
    pub fn reload_failed(&self) {
        self.reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, keys: &KeySet) -> String {
        let mut out = String::with_capacity(2048);
        let _ = writeln!(
            out,
            "# HELP asap_keyserver_requests_total HTTP requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE asap_keyserver_requests_total counter");
        for (r, (_, route)) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[r][s].load(Ordering::Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_owned()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(out, "asap_keyserver_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
                }
            }
        }
        let _ = writeln!(out, "# HELP asap_keyserver_keys Keys currently served.");
        let _ = writeln!(out, "# TYPE asap_keyserver_keys gauge");
        let _ = writeln!(out, "asap_keyserver_keys {}", keys.len());
        let _ = writeln!(
            out,
            "# HELP asap_keyserver_skipped_files Files in the key directory not served, by reason."
        );
        let _ = writeln!(out, "# TYPE asap_keyserver_skipped_files gauge");
        let mut by_reason = std::collections::BTreeMap::new();
        for s in keys.skipped() {
            *by_reason.entry(skip_label(&s.reason)).or_insert(0u64) += 1;
        }
        for (reason, n) in by_reason {
            let _ = writeln!(
                out,
                "asap_keyserver_skipped_files{{reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP asap_keyserver_reloads_total Rescans of the key directory that succeeded."
        );
        let _ = writeln!(out, "# TYPE asap_keyserver_reloads_total counter");
        let _ = writeln!(
            out,
            "asap_keyserver_reloads_total {}",
            self.reloads.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP asap_keyserver_reload_errors_total Rescans that failed (the last good set stays served).");
        let _ = writeln!(out, "# TYPE asap_keyserver_reload_errors_total counter");
        let _ = writeln!(
            out,
            "asap_keyserver_reload_errors_total {}",
            self.reload_errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP asap_keyserver_seconds_since_last_reload Seconds since the last successful rescan.");
        let _ = writeln!(out, "# TYPE asap_keyserver_seconds_since_last_reload gauge");
        let since = now().saturating_sub(self.last_reload.load(Ordering::Relaxed));
        let _ = writeln!(out, "asap_keyserver_seconds_since_last_reload {since}");
        let _ = writeln!(out, "# HELP asap_keyserver_build_info Build information.");
        let _ = writeln!(out, "# TYPE asap_keyserver_build_info gauge");
        let _ = writeln!(
            out,
            "asap_keyserver_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}
