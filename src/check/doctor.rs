//! `doctor`: what is wrong with a key setup, before Prosody finds out.
//!
//! Three looks: the key directory itself (forms, sizes, modes, skipped
//! files, kids reused for another key since the last run), a running key
//! server compared with it kid by kid (`server`, bounded in time), the
//! Prosody configuration that should point at it, the JWKS Prosody reads
//! (`jwks`: its size, and kid by kid), and the token service's config
//! (`service`, `doctor --config`, with `inline`: Jitsi's inline login).

mod inline;
mod jwks;
mod server;
mod service;
pub use jwks::check_jwks;
pub use server::check_server;
pub use service::check_service;

use super::generation::{self, Generation};
use super::{fetch, keysource, Diagnostic, Status};
use crate::error::Error;
use crate::keydir::{KeySet, SkipReason};
use crate::prosody::config::{Read, TokenOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Kid → key fingerprint, remembered between runs to spot a reused kid.
pub type Seen = BTreeMap<String, String>;

/// The most the state file may hold (a kid and a fingerprint are ~100
/// bytes: a million kids).
const STATE_LIMIT: u64 = 128 * 1024 * 1024;

/// Loads remembered fingerprints (missing or unreadable state = nothing remembered).
pub fn load_state(path: &Path) -> Seen {
    crate::keys::read_regular(path, STATE_LIMIT)
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
            k.source().display()
        );
        match seen.insert(k.kid.clone(), fp.clone()) {
            Some(old) if old != fp => out.push(
                Diagnostic::fail(
                    &k.kid,
                    format!(
                        "{line}: this kid now holds a DIFFERENT \
                key than at the last doctor run"
                    ),
                )
                .fix(
                    "Prosody caches keys by kid until restart: put the new key \
                under a new kid, restore the old one, or restart every Prosody",
                ),
            ),
            _ => out.push(Diagnostic::pass(&k.kid, line)),
        }
        if k.too_open() {
            out.push(
                Diagnostic::fail(
                    &k.kid,
                    format!(
                        "private key {} is readable by group or others (mode {:04o})",
                        k.source().display(),
                        k.mode
                    ),
                )
                .fix("chmod 600 it (on Kubernetes: defaultMode: 0400)"),
            );
        }
        if !k.kid.contains('/') {
            out.push(
                Diagnostic::warn(
                    &k.kid,
                    "the kid has no issuer segment: ASAP verifiers require kids to start \
                with \"<iss>/\"",
                )
                .fix("use kids like jitsi/2026-11-27 (a file jitsi/2026-11-27.pem)"),
            );
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

/// Checks the token VirtualHost's options; `dir` is the key directory,
/// whose keys are of `issuers_in_dir`.
pub fn check_prosody(o: &TokenOptions, dir: &Path, issuers_in_dir: &[String]) -> Vec<Diagnostic> {
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
        Read::Unset if o.app_secret_set => {
            let app = o.app_id.value().map_or("jitsi", String::as_str);
            out.push(
                Diagnostic::warn(
                    "asap_key_server",
                    format!("not set on {host}: it verifies HS256 tokens with app_secret, one shared secret that \
                        signs every token and cannot be rotated without changing Prosody and every minter at once"),
                )
                .fix(format!(
                    "to move to a key server: 1. asap-keyserver rotate {app} (a key pair, kid {app}/<date>); \
                     2. asap-keyserver serve where Prosody can reach it (or export to static hosting); \
                     3. on this VirtualHost set asap_key_server = \"https://<that server>\" and asap_accepted_issuers \
                         = {{ \"{app}\" }}, remove app_secret, restart Prosody; \
                     4. mint RS256 tokens: asap-keyserver mint --issuer {app} (tokens signed with the secret stop working at that restart); \
                     5. check one: asap-keyserver verify TOKEN --prosody-config <this file>"
                )),
            )
        }
        Read::Unset => out.push(
            Diagnostic::fail("asap_key_server", format!("not set on {host}"))
                .fix("set asap_key_server = \"https://<this key server>\""),
        ),
        Read::Set(url) if url.starts_with("file:") => out.push(
            Diagnostic::fail(
                "asap_key_server",
                format!("{url:?}: Prosody fetches keys over HTTP(S) only"),
            )
            .fix("serve the keys and use the http(s) URL"),
        ),
        Read::Set(url) if !(url.starts_with("http://") || url.starts_with("https://")) => out.push(
            Diagnostic::fail(
                "asap_key_server",
                format!("{url:?} is not an http:// or https:// URL"),
            )
            .fix("write the full URL, e.g. https://keys.example.com"),
        ),
        Read::Set(url) => {
            let mut fine = true;
            if url.ends_with('/') {
                fine = false;
                out.push(
                    Diagnostic::warn(
                        "asap_key_server",
                        format!(
                            "{url:?} ends in '/': Prosody will request \
                    //<sha256>.pem (asap-keyserver answers it; nginx or S3 may not)"
                        ),
                    )
                    .fix("remove the trailing slash"),
                );
            }
            if url.starts_with("http://") {
                fine = false;
                out.push(
                    Diagnostic::warn(
                        "asap_key_server",
                        format!("{url:?} is plain http: keys can be swapped in transit"),
                    )
                    .fix("use https unless the server is on the same host or a private network"),
                );
            }
            if fine {
                out.push(Diagnostic::pass("asap_key_server", format!("{url:?}")));
            }
        }
        Read::Unreadable(_) => {}
    }
    if o.app_secret_set && matches!(o.asap_key_server, Read::Set(_)) {
        out.push(
            Diagnostic::warn(
                "app_secret",
                "set beside asap_key_server: it is ignored (tokens are verified \
            with fetched RSA keys), and it suggests HS256 tokens that will fail",
            )
            .fix("remove app_secret from the VirtualHost"),
        );
    }
    if let Read::Unset = o.app_id {
        out.push(
            Diagnostic::fail(
                "app_id",
                "not set: the token plugin logs \"'app_id' must not be empty\" and \
            is not installed",
            )
            .fix("set app_id = \"jitsi\""),
        );
    }
    out.extend(check_issuers(o, dir, issuers_in_dir));
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

/// The issuers this Prosody accepts (`asap_accepted_issuers`, else
/// `app_id`) and where that list comes from; `None` when neither is set
/// or readable.
pub fn accepted_issuers(o: &TokenOptions) -> Option<(Vec<String>, &'static str)> {
    match (&o.accepted_issuers, &o.app_id) {
        (Read::Set(list), _) => Some((list.clone(), "asap_accepted_issuers")),
        (Read::Unset, Read::Set(app)) => Some((
            vec![app.clone()],
            "app_id (asap_accepted_issuers is not set, so only app_id is accepted)",
        )),
        _ => None,
    }
}

/// Issuers both ways: one with keys here that Prosody would not accept (every
/// token `mint` makes with its keys carries that `iss`, and Prosody answers
/// "invalid 'iss' claim"), and one Prosody accepts with no key here.
///
/// With one folder per tenant (`keys/<tenant>/`, each tenant's Prosody
/// accepting its own issuer), the other tenants' folders are expected: an
/// issuer this Prosody does not accept is then a note, and a problem only
/// when none of the issuers it accepts has a key here.
fn check_issuers(o: &TokenOptions, dir: &Path, issuers_in_dir: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let host = format!("VirtualHost {:?}", o.host);
    let Some((accepted, from)) = accepted_issuers(o) else {
        return out;
    };
    if accepted.iter().any(|i| i == "*") {
        return out;
    }
    let shown = |list: &[String]| {
        let items: Vec<String> = list.iter().map(|i| format!("{i:?}")).collect();
        format!("{{ {} }}", items.join(", "))
    };
    let mut wanted = accepted.clone();
    for issuer in issuers_in_dir {
        if !wanted.contains(issuer) {
            wanted.push(issuer.clone());
        }
    }
    let served_here = issuers_in_dir.iter().any(|i| accepted.contains(i));
    for issuer in issuers_in_dir.iter().filter(|i| !accepted.contains(i)) {
        if served_here {
            let folder = dir.join(issuer);
            let place = if folder.is_dir() {
                format!("{}/", folder.display())
            } else {
                format!("{}.pem", folder.display())
            };
            out.push(
                Diagnostic::skip(
                    place,
                    format!("issuer {issuer:?} is not accepted by this Prosody ({host} accepts {} from {from}): \
                        another tenant's keys?", shown(&accepted)),
                )
                .why(format!("its tokens carry iss {issuer:?}, which this Prosody refuses (\"invalid 'iss' claim\"); \
                    with a folder per tenant, that tenant's own Prosody accepts them"))
                .fix(format!("nothing, if they are another tenant's; if this Prosody should take them, \
                    write asap_accepted_issuers = {} on {host}", shown(&wanted))),
            );
            continue;
        }
        out.push(
            Diagnostic::fail(
                "asap_accepted_issuers",
                format!(
                    "issuer {issuer:?} has keys in the key directory ({issuer}/...), but {host} accepts only {} from {from}",
                    shown(&accepted)
                ),
            )
            .why(format!("tokens signed with its keys carry iss {issuer:?} (asap-keyserver mint takes iss from the kid), and Prosody rejects them"))
            .fix(format!(
                "on {host}, write asap_accepted_issuers = {}, or mint with --iss {:?}",
                shown(&wanted),
                accepted[0]
            ))
            .prosody_says("invalid 'iss' claim"),
        );
    }
    if issuers_in_dir.is_empty() {
        // An empty directory is its own problem, reported with the keys.
        return out;
    }
    for issuer in accepted.iter().filter(|i| !issuers_in_dir.contains(i)) {
        let keep: Vec<String> = accepted.iter().filter(|i| *i != issuer).cloned().collect();
        let fix = if keep.is_empty() {
            format!("create a key of it (asap-keyserver rotate {issuer}), or on {host} accept the issuers that \
                have keys: asap_accepted_issuers = {}", shown(issuers_in_dir))
        } else {
            format!("create a key of it (asap-keyserver rotate {issuer}), or on {host} write asap_accepted_issuers = {}", shown(&keep))
        };
        out.push(
            Diagnostic::fail(
                "asap_accepted_issuers",
                format!("{host} accepts issuer {issuer:?} (from {from}), but the key directory has no key of it"),
            )
            .why("a token with that iss needs a kid this key server publishes; none is under that issuer here, \
                so such tokens fail \"could not obtain public key\" unless signed with another issuer's key")
            .fix(fix),
        );
    }
    out
}

/// The room side: `token_verification` on the VirtualHost's MUC component,
/// and `muc_mapper_domain_base`, which the token plugin reads from the
/// VirtualHost or the global section (never the Component) and matches
/// rooms under. `generation`: the detected token plugin, if known.
pub fn check_muc(o: &TokenOptions, generation: Option<&'static Generation>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let host = &o.host;
    for c in &o.muc_components {
        for option in &c.ignored_options {
            out.push(
                Diagnostic::warn(
                    option.clone(),
                    format!("set in Component {:?}, where the token plugin never reads it (it reads VirtualHost {host:?}, else the global section)", c.name),
                )
                .fix(format!("move it to VirtualHost {host:?} or the global section")),
            );
        }
    }
    let checking: Vec<&str> = o
        .muc_components
        .iter()
        .filter(|c| c.token_verification)
        .map(|c| c.name.as_str())
        .collect();
    if checking.is_empty() {
        let muc = o
            .muc_components
            .first()
            .map_or(format!("conference.{host}"), |c| c.name.clone());
        out.push(
            Diagnostic::warn(
                "token_verification",
                format!("no MUC component of {host} loads it here: a token's room and sub are never checked, so any valid token joins any room"),
            )
            .fix(format!("add \"token_verification\" to modules_enabled of Component {muc:?} \"muc\" (Jitsi's jitsi-meet-tokens \
                package does); if that component is in another file, check that file")),
        );
        return out;
    }
    let verifying = o
        .enable_domain_verification
        .value()
        .copied()
        .unwrap_or(true);
    let line = format!(
        "muc_mapper_domain_base = {host:?} in the global section (Jitsi's packages set it)"
    );
    match o.muc_domain() {
        None => {
            let (fail, seen) = match generation {
                Some(g) if g.room_lookup => (true, format!("not set: {} looks every room up under it, so every \
                    join is refused (\"Room does not exist\")", g.describe())),
                Some(g) if verifying => (true, format!("not set: {} refuses joins with sub \"*\" or a tenant (\"Room \
                    and token mismatched\"); only sub {host:?} joins", g.describe())),
                Some(_) => (false, "not set: rooms are matched by the room claim alone (enable_domain_verification = false)".to_owned()),
                None => (true, "not set: the token plugin of 2025-11 and later refuses every join (\"Room does \
                    not exist\"); older ones refuse sub \"*\" and tenants (\"Room and token mismatched\")".to_owned()),
            };
            let d = if fail {
                Diagnostic::fail("muc_mapper_domain_base", seen).because(&super::causes::NO_MUC_BASE).fix_here(line)
            } else {
                Diagnostic::warn("muc_mapper_domain_base", seen).fix(line)
            };
            out.push(d);
        }
        Some(muc) if !checking.contains(&muc.as_str()) => out.push(
            Diagnostic::fail(
                "muc_mapper_domain_base",
                format!(
                    "rooms are matched under {muc}, but token_verification runs on {}: joins with sub \"*\" are \
                        refused (and from 2025-11 every join: \"Room does not exist\")",
                    checking.join(", ")
                ),
            )
            .fix(format!("set muc_mapper_domain_base (and muc_mapper_domain_prefix) so that <prefix>.<base> is {}", checking[0])),
        ),
        Some(muc) => out.push(Diagnostic::pass(
            "token_verification",
            format!(
                "on {}; rooms matched under {muc} (muc_mapper_domain_base {:?})",
                checking.join(", "),
                o.muc_mapper_domain_base.value().map_or("", String::as_str)
            ),
        )),
    }
    out
}

/// The JWKS path `serve` answers, for the lines doctor suggests.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Which token plugin the Prosody config loads, and whether its
/// `cache_keys_url` set-up fits it. `config_dir` resolves relative
/// `plugin_paths`; `key_server` is the URL suggested for the JWKS line;
/// `options` fetch `cache_keys_url` where what it serves matters (G1).
pub fn check_plugin(
    o: &TokenOptions,
    config_dir: &Path,
    key_server: Option<&str>,
    options: &fetch::Options,
) -> (Vec<Diagnostic>, Option<&'static Generation>) {
    let mut out = Vec::new();
    let paths = o.plugin_paths.value().cloned().unwrap_or_default();
    let generation = match generation::detect(&paths, config_dir) {
        Ok(found) => {
            out.push(Diagnostic::pass(
                "token plugin",
                format!(
                    "{}, detected from {}",
                    found.generation.describe(),
                    found.file.display()
                ),
            ));
            Some(found.generation)
        }
        Err(e) => {
            out.push(
                Diagnostic::warn("token plugin", format!("cannot tell which one Prosody runs: {e}"))
                    .fix("set plugin_paths to the folder holding token/util.lib.lua (Debian: /usr/share/jitsi-meet/prosody-plugins/)"),
            );
            None
        }
    };
    let jwks_since = Generation::jwks_since().unwrap_or("a later version");
    let has_asap = matches!(o.asap_key_server, Read::Set(_));
    match (&o.cache_keys_url, generation) {
        (Read::Set(url), Some(g))
            if !g.jwks
                && keysource::read_jwks(url, options, &|_| false)
                    .is_err_and(|p| p.too_large.is_none()) =>
        {
            out.push(
            Diagnostic::warn(
                "cache_keys_url",
                format!(
                    "{url:?} is not a JWKS: {} reads it as a JSON map of kid to certificate, which asap-keyserver does not serve",
                    g.describe()
                ),
            )
            .fix("make sure it serves that map, or remove it and rely on asap_key_server"),
        )
        }
        (Read::Set(url), Some(g)) if !g.jwks => out.push(
            Diagnostic::fail(
                "cache_keys_url",
                format!(
                    "{url:?}: {} reads it as a map of certificates, not a JWKS; its refresh fails on every run \
                        (\"attempt to call a nil value (method 'sub')\")",
                    g.describe()
                ),
            )
            .fix(format!("remove cache_keys_url, or upgrade the Jitsi token plugin to {jwks_since} or later")),
        ),
        (Read::Set(_), _) if !has_asap => out.push(
            Diagnostic::fail(
                "cache_keys_url",
                "set without asap_key_server: a kid that is not in the JWKS is not handled safely",
            )
            .fix("set asap_key_server too (the same server's base URL)"),
        ),
        (Read::Set(url), _) => out.push(Diagnostic::pass(
            "cache_keys_url",
            format!("{url:?}: kids are looked up in this JWKS first; a key replaced under the same kid is picked up at the next refresh"),
        )),
        (Read::Unset, Some(g)) if g.jwks => {
            let base = key_server
                .or(o.asap_key_server.value().map(String::as_str))
                .unwrap_or("https://keys.example.com")
                .trim_end_matches('/');
            out.push(
                Diagnostic::warn(
                    "cache_keys_url",
                    "not set: Prosody caches every key fetched from asap_key_server until it restarts, so rotating \
                        needs a new kid and removing a key revokes nothing",
                )
                .fix(format!(
                    "add to the VirtualHost: cache_keys_url = \"{base}{JWKS_PATH}\" (this plugin reads the JWKS \
                        asap-keyserver serves, refreshed by its Cache-Control)"
                )),
            )
        }
        _ => {}
    }
    (out, generation)
}
