//! `doctor`: what is wrong with a key setup, before Prosody finds out.
//!
//! Three looks: the key directory itself (forms, sizes, modes, skipped
//! files, kids reused for another key since the last run), a running key
//! server compared with it kid by kid, and the Prosody configuration that
//! should point at it.

use super::{fetch, keysource, Diagnostic, Status};
use crate::error::Error;
use crate::keydir::{KeySet, SkipReason};
use crate::prosody::config::{Read, TokenOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Kid → key fingerprint, remembered between runs to spot a reused kid.
pub type Seen = BTreeMap<String, String>;

/// Loads remembered fingerprints (missing or unreadable state = nothing remembered).
pub fn load_state(path: &Path) -> Seen {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Saves fingerprints for the next run.
pub fn save_state(path: &Path, seen: &Seen) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(seen).unwrap_or_default())?;
    std::fs::rename(tmp, path)
}

/// The default state file for a key directory: under `$XDG_STATE_HOME` (or `~/.local/state`).
pub fn default_state_path(dir: &Path) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    let canon = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let id = crate::kid::sha256_hex(&canon.to_string_lossy());
    Some(
        base.join("asap-keyserver")
            .join(format!("doctor-{}.json", &id[..16])),
    )
}

/// Checks the key directory `dir`, as loaded by [`KeySet::load`]; updates
/// `seen` with the fingerprints found.
pub fn check_keys(dir: &Path, loaded: &Result<KeySet, Error>, seen: &mut Seen) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let set = match loaded {
        Ok(set) => set,
        Err(e) => {
            out.push(
                Diagnostic::fail(dir.display().to_string(), e.to_string())
                    .fix("create it with asap-keyserver rotate jitsi, or point --keys at it"),
            );
            return out;
        }
    };
    if set.is_empty() {
        out.push(
            Diagnostic::fail(
                dir.display().to_string(),
                "no keys: Prosody will find no key for any kid",
            )
            .fix("asap-keyserver rotate jitsi"),
        );
    }
    for k in set.keys() {
        let fp = hex::encode(k.public.fingerprint);
        let line = format!(
            "/{}  {}  RSA-{}  mode {:04o}  {}",
            k.url_path(),
            k.public.form.kind(),
            k.public.bits,
            k.mode,
            k.source.display()
        );
        match seen.insert(k.kid.clone(), fp.clone()) {
            Some(old) if old != fp => out.push(Diagnostic::fail(&k.kid, format!("{line}: this kid now holds a DIFFERENT key than at the last doctor run")).fix("Prosody caches keys by kid until restart: put the new key under a new kid, restore the old one, or restart every Prosody")),
            _ => out.push(Diagnostic::pass(&k.kid, line)),
        }
        if k.too_open() {
            out.push(
                Diagnostic::fail(
                    &k.kid,
                    format!(
                        "private key {} is readable by group or others (mode {:04o})",
                        k.source.display(),
                        k.mode
                    ),
                )
                .fix("chmod 600 it (on Kubernetes: defaultMode: 0400)"),
            );
        }
        if !k.kid.contains('/') {
            out.push(Diagnostic::warn(&k.kid, "the kid has no issuer segment: ASAP verifiers require kids to start with \"<iss>/\"").fix("use kids like jitsi/2026-11-27 (a file jitsi/2026-11-27.pem)"));
        }
    }
    for s in set.skipped() {
        let status = match s.reason {
            SkipReason::Dotfile | SkipReason::Readme => continue,
            SkipReason::NotPem | SkipReason::Empty => Status::Warn,
            _ => Status::Fail,
        };
        let last = if s.serving_last_good {
            " (its last good key is still served)"
        } else {
            ""
        };
        out.push(Diagnostic {
            status,
            ..Diagnostic::fail(
                s.path.display().to_string(),
                format!("skipped: {}{last}", s.reason),
            )
            .fix("fix or remove the file; asap-keyserver list shows every skipped file")
        });
    }
    out
}

/// Fetches every kid of `set` from a running key server and compares.
pub fn check_server(set: &KeySet, url: &str, options: &fetch::Options) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for k in set.keys() {
        let source = keysource::KeySource::Server {
            base: url.to_owned(),
            options: options.clone(),
        };
        let got = keysource::obtain(&source, &k.kid);
        let ours = Some((k.n.to_vec(), k.e.to_vec()));
        let theirs = got.key.as_ref().map(|f| (f.n.clone(), f.e.clone()));
        let f = match (&got.problem, theirs) {
            (Some((why, fix)), _) => Diagnostic::fail(&k.kid, format!("{} ({}): {why}", got.location, got.summary)).fix(fix),
            (None, Some(t)) if Some(&t) != ours.as_ref() => Diagnostic::fail(&k.kid, format!("{} serves a DIFFERENT key than {}", got.location, k.source.display())).fix("Prosody verifies with the served key: make the server serve this directory, or restart it"),
            (None, _) if got.key.as_ref().is_some_and(|f| f.form.is_private()) => Diagnostic::fail(&k.kid, format!("{} serves PRIVATE key material", got.location)).fix("serve only public keys (asap-keyserver serve re-encodes them as SPKI), rotate to a new kid"),
            _ => Diagnostic::pass(&k.kid, format!("served identically at {}", got.location)),
        };
        out.push(f);
    }
    out
}

/// Checks the token VirtualHost's options.
pub fn check_prosody(o: &TokenOptions, issuers_in_dir: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let host = format!("VirtualHost {:?}", o.host);
    for (name, text) in o.unreadable() {
        out.push(
            Diagnostic::fail(
                name,
                format!(
                    "could not read its value ({text}): Prosody expects a string, a number, a boolean or a list here"
                ),
            )
            .fix("write it as a plain string or list"),
        );
    }
    match &o.asap_key_server {
        Read::Unset => out.push(Diagnostic::fail("asap_key_server", format!("not set on {host}")).fix("set asap_key_server = \"https://<this key server>\"")),
        Read::Set(url) if url.starts_with("file:") => out.push(Diagnostic::fail("asap_key_server", format!("{url:?}: Prosody fetches keys over HTTP(S) only")).fix("serve the keys and use the http(s) URL")),
        Read::Set(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            out.push(Diagnostic::fail("asap_key_server", format!("{url:?} is not an http:// or https:// URL")).fix("write the full URL, e.g. https://keys.example.com"))
        }
        Read::Set(url) if url.ends_with('/') => out.push(Diagnostic::warn("asap_key_server", format!("{url:?} ends in '/': Prosody will request //<sha256>.pem (asap-keyserver answers it; nginx or S3 may not)")).fix("remove the trailing slash")),
        Read::Set(url) if url.starts_with("http://") => out.push(Diagnostic::warn("asap_key_server", format!("{url:?} is plain http: keys can be swapped in transit")).fix("use https unless the server is on the same host or a private network")),
        Read::Set(url) => out.push(Diagnostic::pass("asap_key_server", format!("{url:?}"))),
        Read::Unreadable(_) => {}
    }
    if o.app_secret_set {
        out.push(Diagnostic::warn("app_secret", "set beside asap_key_server: it is ignored (tokens are verified with fetched RSA keys), and it suggests HS256 tokens that will fail").fix("remove app_secret from the VirtualHost"));
    }
    if let Read::Unset = o.app_id {
        out.push(Diagnostic::fail("app_id", "not set: the token plugin logs \"'app_id' must not be empty\" and is not installed").fix("set app_id = \"jitsi\""));
    }
    let issuers = match (&o.accepted_issuers, &o.app_id) {
        (Read::Set(list), _) => Some(list.clone()),
        (Read::Unset, Read::Set(app)) => Some(vec![app.clone()]),
        _ => None,
    };
    if let Some(list) = &issuers {
        if !list.iter().any(|i| i == "*") {
            for issuer in issuers_in_dir {
                if !list.contains(issuer) {
                    out.push(
                        Diagnostic::warn(
                            "asap_accepted_issuers",
                            format!(
                                "issuer {issuer:?} has keys here but is not accepted ({})",
                                list.join(", ")
                            ),
                        )
                        .fix("add it to asap_accepted_issuers, or mint with an accepted iss"),
                    );
                }
            }
        }
    }
    if let Read::Set(alg) = &o.signature_algorithm {
        if alg != "RS256" {
            out.push(
                Diagnostic::warn(
                    "signature_algorithm",
                    format!(
                    "{alg:?}: tokens must use exactly this alg (asap-keyserver mint signs RS256)"
                ),
                )
                .fix("remove signature_algorithm to use RS256"),
            );
        }
    }
    out
}
