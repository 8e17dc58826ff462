//! `doctor`: what is wrong with a key setup, before Prosody finds out.
//!
//! Three looks: the key directory itself (forms, sizes, modes, skipped
//! files, kids reused for another key since the last run), a running key
//! server compared with it kid by kid, and the Prosody configuration that
//! should point at it.

use crate::fetch;
use crate::keysource;
use crate::keystore::{Scanner, SkipReason};
use crate::prosody_config::{Read, TokenOptions};
use crate::verify::Status;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One thing doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Pass, fail (something is wrong) or warn.
    pub status: Status,
    /// What it is about (a kid, a file, an option).
    pub subject: String,
    /// What was found.
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn finding(
    status: Status,
    subject: impl Into<String>,
    message: impl Into<String>,
    fix: Option<&str>,
) -> Finding {
    Finding {
        status,
        subject: subject.into(),
        message: message.into(),
        fix: fix.map(str::to_owned),
    }
}

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

/// Checks the key directory; updates `seen` with the fingerprints found.
pub fn check_keys(dir: &Path, seen: &mut Seen) -> Vec<Finding> {
    let mut out = Vec::new();
    let set = match Scanner::new(dir).scan() {
        Ok(set) => set.unwrap_or_default(),
        Err(e) => {
            out.push(finding(
                Status::Fail,
                dir.display().to_string(),
                e.to_string(),
                Some("create it with asap-keyserver rotate jitsi, or point --keys at it"),
            ));
            return out;
        }
    };
    if set.is_empty() {
        out.push(finding(
            Status::Fail,
            dir.display().to_string(),
            "no keys: Prosody will find no key for any kid",
            Some("asap-keyserver rotate jitsi"),
        ));
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
            Some(old) if old != fp => out.push(finding(Status::Fail, &k.kid, format!("{line}: this kid now holds a DIFFERENT key than at the last doctor run"),
                Some("Prosody caches keys by kid until restart: put the new key under a new kid, restore the old one, or restart every Prosody"))),
            _ => out.push(finding(Status::Pass, &k.kid, line, None)),
        }
        if k.too_open() {
            out.push(finding(
                Status::Fail,
                &k.kid,
                format!(
                    "private key {} is readable by group or others (mode {:04o})",
                    k.source.display(),
                    k.mode
                ),
                Some("chmod 600 it (on Kubernetes: defaultMode: 0400)"),
            ));
        }
        if !k.kid.contains('/') {
            out.push(finding(Status::Warn, &k.kid, "the kid has no issuer segment: ASAP verifiers require kids to start with \"<iss>/\"",
                Some("use kids like jitsi/2026-11-27 (a file jitsi/2026-11-27.pem)")));
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
        out.push(finding(
            status,
            s.path.display().to_string(),
            format!("skipped: {}{last}", s.reason),
            Some("fix or remove the file; asap-keyserver list shows every skipped file"),
        ));
    }
    out
}

/// Fetches every local kid from a running key server and compares.
pub fn check_server(dir: &Path, url: &str, options: &fetch::Options) -> Vec<Finding> {
    let set = Scanner::new(dir).scan().ok().flatten().unwrap_or_default();
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
            (Some((why, fix)), _) => finding(Status::Fail, &k.kid, format!("{} ({}): {why}", got.location, got.summary), Some(fix.as_str())),
            (None, Some(t)) if Some(&t) != ours.as_ref() => finding(Status::Fail, &k.kid, format!("{} serves a DIFFERENT key than {}", got.location, k.source.display()),
                Some("Prosody verifies with the served key: make the server serve this directory, or restart it")),
            (None, _) if got.key.as_ref().is_some_and(|f| f.form.is_private()) => finding(Status::Fail, &k.kid, format!("{} serves PRIVATE key material", got.location),
                Some("serve only public keys (asap-keyserver serve re-encodes them as SPKI), rotate to a new kid")),
            _ => finding(Status::Pass, &k.kid, format!("served identically at {}", got.location), None),
        };
        out.push(f);
    }
    out
}

/// Checks the token VirtualHost's options.
pub fn check_prosody(o: &TokenOptions, issuers_in_dir: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    let host = format!("VirtualHost {:?}", o.host);
    for (name, text) in o.unreadable() {
        out.push(finding(
            Status::Fail,
            name,
            format!("could not read its value ({text}): doctor does not evaluate Lua expressions"),
            Some("write it as a plain string or list, or check it by hand"),
        ));
    }
    match &o.asap_key_server {
        Read::Unset => out.push(finding(Status::Fail, "asap_key_server", format!("not set on {host}"), Some("set asap_key_server = \"https://<this key server>\""))),
        Read::Set(url) if url.starts_with("file:") => out.push(finding(Status::Fail, "asap_key_server", format!("{url:?}: Prosody fetches keys over HTTP(S) only"), Some("serve the keys and use the http(s) URL"))),
        Read::Set(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            out.push(finding(Status::Fail, "asap_key_server", format!("{url:?} is not an http:// or https:// URL"), Some("write the full URL, e.g. https://keys.example.com")))
        }
        Read::Set(url) if url.ends_with('/') => out.push(finding(Status::Warn, "asap_key_server", format!("{url:?} ends in '/': Prosody will request //<sha256>.pem (asap-keyserver answers it; nginx or S3 may not)"), Some("remove the trailing slash"))),
        Read::Set(url) if url.starts_with("http://") => out.push(finding(Status::Warn, "asap_key_server", format!("{url:?} is plain http: keys can be swapped in transit"), Some("use https unless the server is on the same host or a private network"))),
        Read::Set(url) => out.push(finding(Status::Pass, "asap_key_server", format!("{url:?}"), None)),
        Read::Unreadable(_) => {}
    }
    if o.app_secret_set {
        out.push(finding(Status::Warn, "app_secret", "set beside asap_key_server: it is ignored (tokens are verified with fetched RSA keys), and it suggests HS256 tokens that will fail",
            Some("remove app_secret from the VirtualHost")));
    }
    if let Read::Unset = o.app_id {
        out.push(finding(
            Status::Fail,
            "app_id",
            "not set: the token plugin logs \"'app_id' must not be empty\" and is not installed",
            Some("set app_id = \"jitsi\""),
        ));
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
                    out.push(finding(
                        Status::Warn,
                        "asap_accepted_issuers",
                        format!(
                            "issuer {issuer:?} has keys here but is not accepted ({})",
                            list.join(", ")
                        ),
                        Some("add it to asap_accepted_issuers, or mint with an accepted iss"),
                    ));
                }
            }
        }
    }
    if let Read::Set(alg) = &o.signature_algorithm {
        if alg != "RS256" {
            out.push(finding(
                Status::Warn,
                "signature_algorithm",
                format!(
                    "{alg:?}: tokens must use exactly this alg (asap-keyserver mint signs RS256)"
                ),
                Some("remove signature_algorithm to use RS256"),
            ));
        }
    }
    out
}
