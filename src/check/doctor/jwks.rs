//! The JWKS Prosody reads at `cache_keys_url`: how often it is refreshed,
//! what it weighs (every key costs Prosody ~2.5 ms of Lua at each refresh,
//! and its HTTP client takes no body over 10 MiB), and kid by kid whether
//! it serves the keys of the directory.
//!
//! The JWKS is streamed and counted whatever its size (up to
//! `keysource::jwks::MAX_JWKS`), so a large one gets the size finding and the
//! `?newest=N` fix, never "make it reachable".

use super::super::{fetch, keysource, Diagnostic, Status};
use crate::keydir::KeySet;
use crate::prosody::{BOUNDED_JWKS_FROM, MS_PER_JWKS_KEY};

/// Fetches the JWKS at `url` as Prosody's `cache_keys_url` refresh does and
/// compares it kid by kid with `set`; says how often Prosody refreshes it,
/// how long a removed kid keeps working, and what its size costs Prosody.
/// `configured`: Prosody's `cache_keys_url` points here (an unusable JWKS
/// is then a problem, not a warning).
pub fn check_jwks(
    set: &KeySet,
    url: &str,
    options: &fetch::Options,
    configured: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Only the directory's keys are held; every other entry is counted.
    let keep = |kid: &str| set.get(kid).is_some();
    let jwks = match keysource::read_jwks(url, options, &keep) {
        Ok(j) => j,
        Err(keysource::JwksProblem {
            too_large: Some(t), ..
        }) => {
            out.push(too_large(url, &t, configured));
            return out;
        }
        Err(p) if configured => {
            out.push(Diagnostic::fail(url, p.why).fix(p.fix));
            return out;
        }
        Err(p) => {
            out.push(
                Diagnostic::warn(
                    url,
                    format!("{}: this server cannot be Prosody's cache_keys_url", p.why),
                )
                .fix(p.fix),
            );
            return out;
        }
    };
    let refresh = fetch::prosody_refresh_secs(jwks.cache_control.as_deref());
    out.push(Diagnostic::pass(
        "refresh",
        format!(
            "Cache-Control {:?}: Prosody reads it every {}; a replaced key is live within {}, a removed kid keeps working up to {} (refresh + 90 min)",
            jwks.cache_control.as_deref().unwrap_or("(none: 6 h)"),
            shown(refresh),
            shown(refresh),
            shown(refresh + 90 * 60)
        ),
    ));
    out.push(weigh(url, jwks.count, jwks.bytes, refresh, configured));
    out.extend(compare(set, url, &jwks));
    out
}

/// A duration as `5m`, `6h`.
fn shown(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// A size in bytes as `812.3 kB` or `4.2 MB`.
fn size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} kB", bytes as f64 / 1e3)
    }
}

/// `url` without its query.
fn plain(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The fix for a JWKS too large for Prosody: the bounded JWKS, or, where
/// `url` is bounded already, naming keys by date and pruning.
fn bounded_fix(url: &str) -> String {
    if plain(url) == url {
        format!(
            "set cache_keys_url = \"{}?newest=2\": the newest 2 keys of each issuer; older kids still log in \
                through asap_key_server while their files exist",
            plain(url)
        )
    } else {
        "it is bounded already, yet large: keys whose order cannot be told (kids without a date written within \
            a minute of each other) all stay in it; name keys by date (asap-keyserver rotate), or prune old ones"
            .to_owned()
    }
}

/// A JWKS Prosody cannot take is a problem where it is Prosody's
/// `cache_keys_url`, a warning elsewhere.
fn severity(configured: bool) -> Status {
    if configured {
        Status::Fail
    } else {
        Status::Warn
    }
}

/// Prosody's time for `keys` keys at every refresh, in words.
fn stall(keys: usize) -> String {
    format!(
        "about {keys} x {MS_PER_JWKS_KEY} ms = {:.1} s of Prosody's time",
        keys as f64 * MS_PER_JWKS_KEY / 1000.0
    )
}

/// What the JWKS's size costs Prosody: under a few hundred keys a pass;
/// from [`BOUNDED_JWKS_FROM`] keys a warning of the stall; over
/// [`keysource::PROSODY_MAX_BODY`] Prosody never reads it (a problem where
/// it is Prosody's `cache_keys_url`).
fn weigh(url: &str, count: usize, bytes: u64, refresh: u64, configured: bool) -> Diagnostic {
    let seen = format!("{count} key(s), {}", size(bytes));
    if bytes > keysource::PROSODY_MAX_BODY {
        let limit = keysource::PROSODY_MAX_BODY / (1024 * 1024);
        let d = Diagnostic {
            status: severity(configured),
            ..Diagnostic::fail(
                "size",
                format!("{seen}: over the {limit} MiB Prosody's HTTP client takes"),
            )
        };
        return d
            .why(format!(
                "Prosody's net.http refuses a body over {limit} MiB (content-length-limit-exceeded): each refresh \
                    fails and is tried again in 30 s, so no key comes from this JWKS and every kid goes through \
                    asap_key_server, cached until Prosody restarts; read, it would cost {} every {}, during which \
                    nobody can log in, join or send a message",
                stall(count),
                shown(refresh)
            ))
            .fix(bounded_fix(url));
    }
    if count >= BOUNDED_JWKS_FROM {
        return Diagnostic::warn("size", seen)
            .why(format!(
                "Prosody turns every JWKS key into a PEM at every refresh: {} every {}, during which nobody \
                    can log in, join or send a message",
                stall(count),
                shown(refresh)
            ))
            .fix(bounded_fix(url));
    }
    Diagnostic::pass(
        "size",
        format!(
            "{seen}: about {:.0} ms of Prosody's time at every refresh",
            count as f64 * MS_PER_JWKS_KEY
        ),
    )
}

/// A JWKS over `keysource::jwks::MAX_JWKS`: its own finding, with the keys
/// counted by then and the bounded JWKS as the fix.
fn too_large(url: &str, t: &keysource::TooLarge, configured: bool) -> Diagnostic {
    let mib = t.cap / (1024 * 1024);
    let d = Diagnostic {
        status: severity(configured),
        ..Diagnostic::fail(
            "size",
            format!("the JWKS at {url} is larger than {mib} MiB"),
        )
    };
    let why = t.why();
    let why = if t.keys_read > 0 {
        format!(
            "{why}; its first {} key(s) alone would cost {} at every refresh",
            t.keys_read,
            stall(t.keys_read)
        )
    } else {
        why
    };
    d.why(why).fix(bounded_fix(url))
}

/// Each key of `set` in scope against its JWKS entry: the same key, a
/// different one, or none.
fn compare(set: &KeySet, url: &str, jwks: &keysource::Jwks) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let folder = folder_of_jwks(set, url);
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(q));
    let bounded = crate::keydir::Newest::from_query(query).ok().flatten();
    let scope = folder
        .clone()
        .map_or(crate::keydir::Scope::All, crate::keydir::Scope::Folder);
    let expected: Option<std::collections::BTreeSet<String>> = bounded.as_ref().map(|n| {
        set.newest_keys(&scope, n)
            .kids()
            .map(str::to_owned)
            .collect()
    });
    let mut outside = 0usize;
    let mut older = 0usize;
    for k in set.keys() {
        if let Some(f) = &folder {
            if !k.kid.starts_with(&format!("{f}/")) {
                outside += 1;
                continue;
            }
        }
        if expected.as_ref().is_some_and(|e| !e.contains(&k.kid)) {
            older += 1;
            continue;
        }
        let d = match jwks.get(&k.kid) {
            None => Diagnostic::warn(&k.kid, format!("not in the JWKS at {url}"))
                .fix("Prosody falls back to asap_key_server for it, and caches it until restart: serve the JWKS from this key directory"),
            Some(Err(why)) => Diagnostic::fail(&k.kid, format!("the JWKS entry is {why}"))
                .fix("publish RSA n and e for it (asap-keyserver serve does)"),
            Some(Ok(found)) if found.n != *k.n() || found.e != *k.e() => {
                Diagnostic::fail(&k.kid, format!("the JWKS holds a DIFFERENT key than {}", k.source().display()))
                    .fix("serve the JWKS from this key directory (the .pem routes and the JWKS must agree)")
            }
            Some(Ok(_)) => Diagnostic::pass(&k.kid, "in the JWKS with the same key as its .pem route"),
        };
        out.push(d);
    }
    if let Some(f) = folder {
        out.push(Diagnostic::pass(
            "scope",
            format!("{url} is the JWKS of the keys under {f}/; the {outside} other keys are not expected in it"),
        ));
    }
    if bounded.is_some() {
        out.push(Diagnostic::pass(
            "bounded",
            format!("it holds the newest keys of each issuer, as asked; the {older} older key(s) are not expected \
                in it: Prosody fetches them through asap_key_server while their files exist"),
        ));
    }
    out
}

/// The folder whose JWKS `url` is (`<base>/<folder>/.well-known/jwks.json`,
/// as `serve` answers it), if its path names a folder of `set`'s keys.
fn folder_of_jwks(set: &KeySet, url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.split_once('/')?.1.split(['?', '#']).next()?;
    let before = path.strip_suffix(".well-known/jwks.json")?;
    let segments: Vec<&str> = before.split('/').filter(|s| !s.is_empty()).collect();
    // The longest tail that is a folder of keys (the head may be a --base-path).
    (0..segments.len())
        .map(|i| segments[i..].join("/"))
        .find(|f| {
            !set.keys_in(&crate::keydir::Scope::Folder(f.clone()))
                .is_empty()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_weighed_against_the_stall_and_prosodys_body_limit() {
        let url = "https://keys.example.com/.well-known/jwks.json";
        let small = weigh(url, 3, 1_300, 300, true);
        assert_eq!(small.status, Status::Pass);
        let many = weigh(url, 10_000, 4_198_900, 300, true);
        assert_eq!(many.status, Status::Warn);
        assert_eq!(many.seen, "10000 key(s), 4.2 MB");
        assert!(many
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("{url}?newest=2")));
        let over = 11 * 1024 * 1024;
        let huge = weigh(url, 26_000, over, 300, true);
        assert_eq!(huge.status, Status::Fail);
        assert!(
            huge.seen
                .ends_with("over the 10 MiB Prosody's HTTP client takes")
                && huge
                    .why
                    .as_deref()
                    .unwrap()
                    .contains("content-length-limit-exceeded"),
            "{huge:?}"
        );
        assert_eq!(weigh(url, 26_000, over, 300, false).status, Status::Warn);
        let bounded = weigh(&format!("{url}?newest=2"), 500, 200_000, 300, true);
        assert!(bounded
            .fix
            .as_deref()
            .unwrap()
            .starts_with("it is bounded already"));
    }
}
