//! Prosody's token rules as data: each check of the Jitsi token plugin
//! (`token/util.lib.lua`, luajwtjitsi, `verify_room`), applied in the order
//! Prosody applies them, gives pass / fail / warning with the value seen,
//! why, the fix in one sentence, and the error Prosody would log.
//!
//! Which plugin: the generation in [`Settings::generation`] (the newest by
//! default) decides the checks that changed upstream (`sub` required since
//! 2026-05, the missing-room error, the `exp` text, whether
//! `cache_keys_url` may be a JWKS); where generations disagree on a token,
//! the check says so.
//!
//! The first failing check is what Prosody would reject the login with.
//! Warnings are things Prosody accepts but that will bite later (a token
//! that never expires, a moderator flag Jitsi ignores). Never reported:
//! the whole signature or any key material.

use super::causes::{self, Check};
use super::generation::Generation;
use super::keysource::{self, KeySource, Obtained};
use super::{fetch, Diagnostic, Status};
use crate::prosody::config::TokenOptions;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

mod claims;

/// What Prosody is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `app_id`.
    pub app_id: Option<String>,
    /// `asap_accepted_issuers`; `None` = Prosody's default, `{ app_id }`.
    pub accepted_issuers: Option<Vec<String>>,
    /// `asap_accepted_audiences` (default `{ "*" }`).
    pub accepted_audiences: Vec<String>,
    /// `signature_algorithm` (default RS256 with asap_key_server).
    pub algorithm: String,
    /// `asap_require_room_claim` (default true).
    pub require_room: bool,
    /// `enable_domain_verification` (default true in current Jitsi).
    pub domain_verification: bool,
    /// The meeting domain, to check `sub`.
    pub domain: Option<String>,
    /// The tenant (`https://domain/<tenant>/room`), to check `sub`.
    pub tenant: Option<String>,
    /// The room being joined, to check `room`.
    pub room: Option<String>,
    /// The token plugin to check as (default: the newest known).
    pub generation: &'static Generation,
    /// `cache_keys_url`: the JWKS Prosody looks a kid up in first.
    pub cache_keys_url: Option<String>,
    /// How to fetch `cache_keys_url`.
    pub fetch: fetch::Options,
    /// `app_secret` without `asap_key_server`: HMAC (HS256 by default)
    /// tokens checked with this shared secret, no kid, no key fetch.
    pub app_secret: Option<String>,
    /// What the room checks match rooms under (`muc_mapper_domain_base`).
    pub muc_base: MucBase,
}

/// `muc_mapper_domain_base`, as far as it is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MucBase {
    /// No Prosody config was read.
    #[default]
    Unknown,
    /// The config does not set it (globally or on the VirtualHost), and a
    /// MUC component of the token host loads `token_verification`.
    Unset,
    /// Set to this domain.
    Set(String),
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            app_id: None,
            accepted_issuers: None,
            accepted_audiences: vec!["*".into()],
            algorithm: "RS256".into(),
            require_room: true,
            domain_verification: true,
            domain: None,
            tenant: None,
            room: None,
            generation: Generation::newest(),
            cache_keys_url: None,
            fetch: fetch::Options::default(),
            app_secret: None,
            muc_base: MucBase::Unknown,
        }
    }
}

impl Settings {
    /// Takes every option `options` sets (read from a Prosody config);
    /// options it leaves unset or could not read keep their value.
    pub fn overlay(&mut self, options: &TokenOptions) {
        let o = options;
        if let Some(v) = o.app_id.value() {
            self.app_id = Some(v.clone());
        }
        if let Some(v) = o.accepted_issuers.value() {
            self.accepted_issuers = Some(v.clone());
        }
        if let Some(v) = o.accepted_audiences.value() {
            self.accepted_audiences = v.clone();
        }
        if let Some(v) = o.signature_algorithm.value() {
            self.algorithm = v.clone();
        }
        if let Some(v) = o.require_room_claim.value() {
            self.require_room = *v;
        }
        if let Some(v) = o.enable_domain_verification.value() {
            self.domain_verification = *v;
        }
        if let Some(v) = o.cache_keys_url.value() {
            self.cache_keys_url = Some(v.clone());
        }
        // The room checks run where a MUC component loads token_verification;
        // a config that shows none says nothing about them.
        let checked = o.muc_components.iter().any(|m| m.token_verification);
        self.muc_base = match o.muc_mapper_domain_base.value() {
            Some(base) => {
                // The domain a plain room's sub must name (flags may change it).
                self.domain.get_or_insert_with(|| base.clone());
                MucBase::Set(base.clone())
            }
            None if checked => MucBase::Unset,
            None => MucBase::Unknown,
        };
        // Else the token VirtualHost is the meeting's domain.
        self.domain.get_or_insert_with(|| o.host.clone());
    }
}

/// All checks, in Prosody's order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Diagnostic>,
    /// The plugin generation checked as.
    #[serde(skip)]
    pub generation: &'static Generation,
}

impl Report {
    /// The check Prosody would reject with, if any.
    pub fn first_failure(&self) -> Option<&Diagnostic> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    /// Whether Prosody would accept the token.
    pub fn accepted(&self) -> bool {
        self.first_failure().is_none()
    }

    /// What must hold, beyond what was checked, for Prosody to accept: the
    /// conditions of checks that depend on settings or state not seen.
    pub fn conditions(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter_map(|c| c.only_if.as_deref())
            .collect()
    }

    /// The last line: the verdict, with its conditions.
    pub fn verdict(&self) -> String {
        match self.first_failure() {
            None if self.conditions().is_empty() => "Prosody would ACCEPT this token".into(),
            None => format!(
                "Prosody would ACCEPT this token only if {}",
                self.conditions().join(", and if ")
            ),
            Some(c) => format!(
                "Prosody would REJECT this token: {}{}",
                c.check,
                c.prosody_says
                    .as_ref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// The checks made so far, in Prosody's order.
type Checks = Vec<Diagnostic>;

/// A short rendering of a JSON value.
fn brief(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Prosody's `iss` and `aud` checks alone, for tokens that will carry
/// `iss` and `aud` (what `doctor --config` asks of the token service's
/// `token_issuer` and `audience` before any token exists).
pub fn issuer_audience(iss: &str, aud: &str, settings: &Settings) -> Vec<Diagnostic> {
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(iss.to_owned()));
    claims.insert("aud".into(), Value::String(aud.to_owned()));
    let mut c = Checks::new();
    claims::claim_checks(&mut c, &claims, settings);
    c.retain(|d| d.check == Check::Iss || d.check == Check::Aud);
    c
}

/// A JWT part (header or payload) as a JSON object, unverified.
pub fn decode_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Applies Prosody's checks to `token` at `now` (seconds since the epoch).
pub fn verify(token: &str, settings: &Settings, source: &KeySource, now: u64) -> Report {
    let mut c = Checks::new();
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let header = parts.first().and_then(|p| decode_part(p));
    let payload = parts.get(1).and_then(|p| decode_part(p));
    match (&header, &payload) {
        _ if parts.len() != 3 => c.push(
            Diagnostic::fail(Check::TokenShape, format!("{} part(s)", parts.len()))
                .prosody_says(if parts.len() == 1 {
                    "Invalid token"
                } else {
                    "bad token format"
                })
                .because(&causes::BAD_FORMAT)
                .here("a JWT is three base64url parts, header.payload.signature")
                .fix_here("no quotes, spaces or 'Bearer ' prefix"),
        ),
        (None, _) => c.push(
            Diagnostic::fail(Check::TokenShape, "the header is not base64url JSON")
                .prosody_says("bad token format")
                .because(&causes::BAD_FORMAT),
        ),
        (_, None) => c.push(
            Diagnostic::fail(Check::TokenShape, "the payload is not base64url JSON")
                .prosody_says("Invalid body")
                .because(&causes::BAD_FORMAT),
        ),
        _ => c.push(Diagnostic::pass(
            Check::TokenShape,
            "three base64url parts, header and payload are JSON objects",
        )),
    }
    let Some(header) = header else {
        return Report {
            checks: c,
            generation: settings.generation,
        };
    };

    if let Some(secret) = &settings.app_secret {
        secret_checks(&mut c, &header, &parts, settings, secret);
        return claim_stage(c, payload, settings, now);
    }

    // token/util.lib.lua: kid, then the RS family, then the key fetch.
    let kid = match header.get("kid") {
        Some(Value::String(k)) if !k.is_empty() => {
            if let Err(e) = crate::kid::validate(k) {
                c.push(
                    Diagnostic::warn(Check::Kid, format!("{k:?}"))
                        .why(format!(
                        "Prosody accepts any kid, but ASAP tools and asap-keyserver do not: {e}"
                    ))
                        .fix("use kids like issuer/2026-11-27"),
                );
            } else {
                c.push(Diagnostic::pass(Check::Kid, format!("{k:?}")));
            }
            Some(k.clone())
        }
        other => {
            c.push(
                Diagnostic::fail(Check::Kid, other.map_or("missing".into(), brief))
                    .because(&causes::KID_MISSING),
            );
            None
        }
    };
    let alg = header.get("alg").and_then(Value::as_str).map(str::to_owned);
    match &alg {
        None => c.push(
            Diagnostic::fail(Check::Alg, "missing")
                .prosody_says("'alg' claim is missing")
                .because(&causes::ALG_NOT_RS),
        ),
        Some(a) if !a.starts_with("RS") => c.push(
            Diagnostic::fail(Check::Alg, format!("{a:?}"))
                .because(&causes::ALG_NOT_RS)
                .here(if a.starts_with("HS") {
                    "an HMAC (app_secret) token"
                } else {
                    "not an RSA algorithm"
                }),
        ),
        Some(a) => c.push(Diagnostic::pass(Check::Alg, format!("{a:?} (RSA family)"))),
    }

    let (obtained, from_jwks) = match (&kid, alg.as_deref().is_some_and(|a| a.starts_with("RS"))) {
        (Some(kid), true) => {
            let (o, jwks) = find_key(&mut c, settings, source, kid);
            (Some(o), jwks)
        }
        _ => (None, false),
    };
    key_checks(
        &mut c,
        obtained.as_ref(),
        if from_jwks { None } else { Some(source) },
    );
    if let (Some(o), Some(kid)) = (&obtained, &kid) {
        replaced_check(&mut c, o, kid, settings);
    }

    // luajwtjitsi: typ, alg, signature, exp, nbf.
    header_checks(&mut c, &header, settings, false);
    signature_check(&mut c, &parts, alg.as_deref(), obtained.as_ref());

    claim_stage(c, payload, settings, now)
}

/// luajwtjitsi's header checks: `typ` exactly `JWT`, `alg` exactly
/// `signature_algorithm`; `secret`: the plugin verifies with `app_secret`.
fn header_checks(c: &mut Checks, header: &Map<String, Value>, settings: &Settings, secret: bool) {
    match header.get("typ") {
        Some(Value::String(t)) if t == "JWT" => c.push(Diagnostic::pass(Check::Typ, "\"JWT\"")),
        other => c.push(
            Diagnostic::fail(Check::Typ, other.map_or("missing".into(), brief))
                .because(&causes::TYP),
        ),
    }
    let configured = &settings.algorithm;
    match header.get("alg").and_then(Value::as_str) {
        Some(a) if a == configured => c.push(Diagnostic::pass(
            Check::AlgConfigured,
            format!("{a} (signature_algorithm {configured})"),
        )),
        Some(a) => {
            let (why, fix) = if secret && a.starts_with("RS") {
                (
                    "an RSA token, but without asap_key_server Prosody checks an HMAC with app_secret".to_owned(),
                    format!("sign with {configured} and the app_secret"),
                )
            } else if secret {
                (
                    format!("Prosody accepts only signature_algorithm = {configured:?}"),
                    format!("sign with {configured} and the app_secret"),
                )
            } else {
                (
                    format!("Prosody accepts only signature_algorithm = {configured:?}"),
                    format!("sign with {configured} or set signature_algorithm = \"{a}\" on the VirtualHost"),
                )
            };
            c.push(
                Diagnostic::fail(
                    Check::AlgConfigured,
                    format!("{a:?}, configured {configured}"),
                )
                .because(&causes::ALG)
                .here(why)
                .fix_here(fix),
            )
        }
        None if secret => {
            c.push(Diagnostic::fail(Check::AlgConfigured, "missing").because(&causes::ALG))
        }
        None => c.push(Diagnostic::skip(Check::AlgConfigured, "no alg")),
    }
}

/// exp/nbf, then the claim checks, then what Jitsi reads from `context`.
fn claim_stage(
    mut c: Checks,
    payload: Option<Map<String, Value>>,
    settings: &Settings,
    now: u64,
) -> Report {
    if let Some(claims) = payload {
        claims::time_checks(&mut c, &claims, now, settings.generation);
        claims::claim_checks(&mut c, &claims, settings);
        claims::context_checks(&mut c, &claims, settings);
    }
    Report {
        checks: c,
        generation: settings.generation,
    }
}

/// The plugin with `app_secret` and no `asap_key_server`: luajwtjitsi's
/// typ and alg checks, then an HMAC over header.payload with the secret.
fn secret_checks(
    c: &mut Checks,
    header: &Map<String, Value>,
    parts: &[&str],
    settings: &Settings,
    secret: &str,
) {
    c.push(Diagnostic::pass(
        Check::Key,
        "app_secret (no asap_key_server): HMAC tokens, no kid needed",
    ));
    header_checks(c, header, settings, true);
    let alg = header.get("alg").and_then(Value::as_str);
    let algorithm = match alg {
        Some("HS256") => Some(jsonwebtoken::Algorithm::HS256),
        Some("HS384") => Some(jsonwebtoken::Algorithm::HS384),
        Some("HS512") => Some(jsonwebtoken::Algorithm::HS512),
        _ => None,
    };
    let (Some(algorithm), [h, p, sig]) = (algorithm, parts) else {
        c.push(Diagnostic::skip(Check::Signature, "not an HMAC token"));
        return;
    };
    let message = format!("{h}.{p}");
    let key = jsonwebtoken::DecodingKey::from_secret(secret.as_bytes());
    let shown = format!(
        "{}… with the app_secret",
        sig.chars().take(8).collect::<String>()
    );
    match jsonwebtoken::crypto::verify(sig, message.as_bytes(), &key, algorithm) {
        Ok(true) => c.push(Diagnostic::pass(
            Check::Signature,
            format!("valid: {shown}"),
        )),
        _ => c.push(
            Diagnostic::fail(Check::Signature, format!("invalid: {shown}"))
                .prosody_says("Invalid signature")
                .why("the token was not signed with this app_secret, or was changed after signing")
                .fix("sign with the same secret as Prosody's app_secret (no trailing newline)"),
        ),
    }
}

/// The key for `kid` where Prosody looks: the JWKS at `cache_keys_url`
/// first (token plugin 2025-11 and later), then `source` (`asap_key_server`).
/// Says which gave it, in a `cache_keys_url` check, when one is configured.
fn find_key(
    c: &mut Checks,
    settings: &Settings,
    source: &KeySource,
    kid: &str,
) -> (Obtained, bool) {
    let Some(url) = &settings.cache_keys_url else {
        return (keysource::obtain(source, kid), false);
    };
    let generation = settings.generation;
    let fallback = match source {
        KeySource::Unset => "and asap_key_server is not set, so the login fails",
        _ => "so Prosody falls back to asap_key_server",
    };
    if !generation.jwks {
        c.push(
            Diagnostic::warn(Check::CacheKeysUrl, url)
                .why(format!(
                    "{} reads cache_keys_url as a map of certificates, not a JWKS: its refresh fails \
                     (\"attempt to call a nil value (method 'sub')\" in the log) and keys come from asap_key_server only",
                    generation.describe()
                ))
                .fix(format!(
                    "upgrade the Jitsi token plugin ({} or later), or remove cache_keys_url",
                    Generation::jwks_since().unwrap_or("a newer version")
                )),
        );
        return (keysource::obtain(source, kid), false);
    }
    // Only this kid's entry is kept; the others are counted.
    match keysource::read_jwks(url, &settings.fetch, &|k| k == kid) {
        Err(problem) => {
            c.push(
                Diagnostic::warn(Check::CacheKeysUrl, url)
                    .why(format!(
                        "{}: Prosody logs an error, keeps the keys it had (none after a restart) and tries again in 30 s; {fallback}",
                        problem.why
                    ))
                    .fix(problem.fix),
            );
            (keysource::obtain(source, kid), false)
        }
        Ok(jwks) => match keysource::from_jwks(&jwks, kid) {
            Some(found) => {
                c.push(Diagnostic::pass(
                    Check::CacheKeysUrl,
                    format!("kid listed in the JWKS at {url} ({} key(s)): Prosody takes the key from there", jwks.count),
                ));
                (found, true)
            }
            None => {
                c.push(Diagnostic::pass(
                    Check::CacheKeysUrl,
                    format!(
                        "kid not in the JWKS at {url} ({} key(s)), {fallback}",
                        jwks.count
                    ),
                ));
                (keysource::obtain(source, kid), false)
            }
        },
    }
}

/// The key URL (or file) and the key; `source` is `None` when the key came
/// from the JWKS.
fn key_checks(c: &mut Checks, obtained: Option<&Obtained>, source: Option<&KeySource>) {
    let Some(o) = obtained else {
        c.push(Diagnostic::skip(
            Check::Key,
            "not fetched: no usable kid or alg",
        ));
        return;
    };
    if source.is_none() {
        c.push(Diagnostic::pass(Check::KeyJwks, &o.location));
    } else if let Some(KeySource::Server { base, .. }) = source {
        if base.ends_with('/') {
            c.push(
                Diagnostic::warn(Check::KeyUrl, &o.location)
                    .why(
                        "asap_key_server ends in '/', so Prosody requests \
                a path with '//'; asap-keyserver answers it, other servers may not",
                    )
                    .fix(
                        "remove the trailing slash \
                from asap_key_server",
                    ),
            );
        } else {
            c.push(Diagnostic::pass(Check::KeyUrl, &o.location));
        }
    } else if let Some(KeySource::Unset) = source {
        c.push(Diagnostic::skip(
            Check::KeyUrl,
            "asap_key_server is not set",
        ));
    } else {
        c.push(Diagnostic::pass(Check::KeyFile, &o.location));
    }
    match (&o.problem, &o.warning) {
        (Some((why, fix)), _) => {
            let cause = if o.summary.contains("not a usable key")
                || o.summary.contains("a certificate")
                || o.summary.contains("empty body")
            {
                &causes::KEY_NOT_PARSED
            } else {
                &causes::NO_KEY
            };
            c.push(
                Diagnostic::fail(Check::Key, &o.summary)
                    .prosody_says("could not obtain public key")
                    .because(cause)
                    .here(why.clone())
                    .fix_here(fix.clone()),
            )
        }
        (None, Some(w)) => c.push(
            Diagnostic::warn(Check::Key, &o.summary)
                .why(w.clone())
                .fix("serve only SPKI public keys of 2048 bits or more"),
        ),
        (None, None) => c.push(Diagnostic::pass(Check::Key, &o.summary)),
    }
}

/// A key the key server says was replaced under its kid (asap-keyserver's
/// `Asap-Key-Replaced`): a Prosody that fetched the kid before then holds
/// the old key until it restarts.
fn replaced_check(c: &mut Checks, o: &Obtained, kid: &str, settings: &Settings) {
    let Some(when) = &o.replaced else {
        return;
    };
    let jwks = settings.generation.jwks && settings.cache_keys_url.is_some();
    let why = if jwks {
        "a Prosody that fetched this kid through asap_key_server before then keeps the old key until it restarts; \
            through cache_keys_url it takes the new one at its next JWKS refresh only if the kid is in that JWKS"
    } else {
        "a Prosody that fetched this kid through asap_key_server before then still holds the old key, and rejects \
            tokens signed with the new one (\"Invalid signature\") until it restarts"
    };
    c.push(
        Diagnostic::warn(Check::KeyReplaced, format!("kid {kid:?} holds another key since {when} (the key server says so)"))
            .why(why)
            .fix(format!(
                "restart Prosody, or add cache_keys_url (token plugin {} and later) so a replaced key is picked \
                    up; rotate with a new kid next time (asap-keyserver rotate)",
                Generation::jwks_since().unwrap_or("2025-11")
            ))
            .only_if(format!(
                "Prosody has not fetched kid {kid:?} through asap_key_server before {when}, or restarted since"
            )),
    );
}

fn signature_check(c: &mut Checks, parts: &[&str], alg: Option<&str>, obtained: Option<&Obtained>) {
    let Some(key) = obtained.and_then(|o| o.key.as_ref()) else {
        c.push(Diagnostic::skip(
            Check::Signature,
            "no key to check it with",
        ));
        return;
    };
    let algorithm = match alg {
        Some("RS256") => jsonwebtoken::Algorithm::RS256,
        Some("RS384") => jsonwebtoken::Algorithm::RS384,
        Some("RS512") => jsonwebtoken::Algorithm::RS512,
        other => {
            c.push(Diagnostic::skip(
                Check::Signature,
                format!("cannot check {other:?}"),
            ));
            return;
        }
    };
    if parts.len() != 3 {
        c.push(Diagnostic::skip(Check::Signature, "no signature part"));
        return;
    }
    let message = format!("{}.{}", parts[0], parts[1]);
    let dk = jsonwebtoken::DecodingKey::from_rsa_raw_components(&key.n, &key.e);
    let sig = parts[2];
    let shown = format!(
        "{}… with the RSA-{} key",
        sig.chars().take(8).collect::<String>(),
        key.bits
    );
    match jsonwebtoken::crypto::verify(sig, message.as_bytes(), &dk, algorithm) {
        Ok(true) => c.push(Diagnostic::pass(
            Check::Signature,
            format!("valid: {shown}"),
        )),
        _ => c.push(
            Diagnostic::fail(Check::Signature, format!("invalid: {shown}"))
                .because(&causes::SIGNATURE),
        ),
    }
}

#[cfg(test)]
mod tests;
