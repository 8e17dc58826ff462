//! Request counters, and the `/metrics` text in Prometheus format.
//!
//! Requests are counted in a fixed table of atomics (route × status), so
//! the request path stays lock- and allocation-free; the text is rendered
//! only when `/metrics` is scraped, together with what the current key set
//! says (keys loaded, files skipped by reason) and the reload counters of
//! the [`KeyStore`](super::store::KeyStore).

use super::store::Reloads;
use crate::keydir::KeySet;
use crate::token::service::Service;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use crate::routes::Route;

/// Counter rows: one per metric label ([`Route::label`]; the bridge's
/// three routes share one), in [`Route::ALL`]'s order.
fn row(route: Route) -> usize {
    Route::ALL
        .iter()
        .position(|r| r.label() == route.label())
        .unwrap_or(Route::ALL.len() - 1)
}

const STATUSES: [u16; 13] = [
    200, 302, 303, 304, 400, 401, 403, 404, 405, 429, 500, 503, 0,
];

/// `# HELP` of `asap_keyserver_key_replaced_timestamp_seconds`.
const KEY_REPLACED_HELP: &str = "When a served kid's key material last changed while this server ran \
    (a kid holding another key than before): a Prosody that fetched the kid through asap_key_server \
    before then still holds the old key.";
/// `# HELP` of `asap_keyserver_full_walks_total`.
const FULL_WALKS_HELP: &str = "Rescans that walked the whole key directory (start, once the watch is \
    placed, watcher overflow or error, SIGHUP, poll mode, a directory holding symlinks); the others \
    looked only at the paths the watcher named.";

/// `# HELP` of `asap_keyserver_newest_unordered_total`.
const NEWEST_UNORDERED_HELP: &str = "Times the token service met keys of an issuer whose order it cannot tell \
    (their kids' dates do not settle it, and files without a date written within a minute of each other) and \
    kept signing with the key it had (each new set of candidates once; the log names them).";

/// Requests answered, by route and status.
#[derive(Debug)]
pub struct Requests {
    counts: [[AtomicU64; STATUSES.len()]; Route::ALL.len()],
    /// The token service, whose counters `/metrics` shows too.
    service: Option<Arc<Service>>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            service: None,
        }
    }
}

impl Requests {
    /// Counters that also render the token service's (`serve --config`).
    pub fn with_service(service: Option<Arc<Service>>) -> Requests {
        Requests {
            service,
            ..Requests::default()
        }
    }

    /// Counts one answered request.
    pub fn record(&self, route: Route, status: u16) {
        let r = row(route);
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.counts[r][s].fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text: these counters, the key set and the reloads.
    pub fn render(&self, keys: &KeySet, reloads: &Reloads) -> String {
        let mut out = String::with_capacity(2048);
        header(
            &mut out,
            "requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for (r, route) in Route::ALL.iter().enumerate() {
            if row(*route) != r {
                continue;
            }
            let route = route.label();
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.counts[r][s].load(Ordering::Relaxed);
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
        header(&mut out, "keys", "gauge", "Keys currently served.");
        let _ = writeln!(out, "asap_keyserver_keys {}", keys.len());
        header(
            &mut out,
            "skipped_files",
            "gauge",
            "Files in the key directory not served, by reason.",
        );
        let mut by_reason = std::collections::BTreeMap::new();
        for s in keys.skipped() {
            *by_reason.entry(s.reason.label()).or_insert(0u64) += 1;
        }
        for (reason, n) in by_reason {
            let _ = writeln!(
                out,
                "asap_keyserver_skipped_files{{reason=\"{reason}\"}} {n}"
            );
        }
        header(
            &mut out,
            "key_replaced_timestamp_seconds",
            "gauge",
            KEY_REPLACED_HELP,
        );
        for (kid, secs) in keys.replaced() {
            // Kids are [A-Za-z0-9_.+/-]: nothing to escape in a label value.
            let _ = writeln!(
                out,
                "asap_keyserver_key_replaced_timestamp_seconds{{kid=\"{kid}\"}} {secs}"
            );
        }
        let plain: [(&str, &str, &str, u64); 4] = [
            (
                "reloads_total",
                "counter",
                "Rescans of the key directory that succeeded.",
                reloads.successes(),
            ),
            (
                "full_walks_total",
                "counter",
                FULL_WALKS_HELP,
                reloads.full_walks(),
            ),
            (
                "reload_errors_total",
                "counter",
                "Rescans that failed (the last good set stays served).",
                reloads.failures(),
            ),
            (
                "seconds_since_last_reload",
                "gauge",
                "Seconds since the last successful rescan.",
                reloads.seconds_since_success(),
            ),
        ];
        for (name, kind, help, value) in plain {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "asap_keyserver_{name} {value}");
        }
        if let Some(service) = &self.service {
            header(
                &mut out,
                "newest_unordered_total",
                "counter",
                NEWEST_UNORDERED_HELP,
            );
            let _ = writeln!(
                out,
                "asap_keyserver_newest_unordered_total {}",
                service.signer.unordered_total()
            );
        }
        if let Some(api) = self.service.as_ref().and_then(|s| s.mint.as_ref()) {
            api.render_metrics(&mut out);
        }
        header(&mut out, "build_info", "gauge", "Build information.");
        let _ = writeln!(
            out,
            "asap_keyserver_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// The `# HELP` and `# TYPE` lines of `asap_keyserver_<name>`.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP asap_keyserver_{name} {help}");
    let _ = writeln!(out, "# TYPE asap_keyserver_{name} {kind}");
}
