//! `doctor --config FILE`: the token service's config as `serve --config`
//! would use it, checked without writing anything: every issuer it signs
//! for has a key old enough for `min_key_age` (the signer's own choice), and
//! the Prosody config, when given, accepts those issuers and audiences.

use super::super::Diagnostic;
use crate::keydir::KeySet;
use crate::prosody::config::{Read, TokenOptions};
use crate::token::service::{ServiceConfig, SignError, Signer};
use std::collections::BTreeSet;
use std::time::SystemTime;

/// The `aud` of the mint API's tokens (the `mint` default).
const MINT_AUDIENCE: &str = "jitsi";

/// Findings about `config` against the key set `set` at `now`, and
/// Prosody's token options `prosody` when known.
pub fn check_service(
    config: &ServiceConfig,
    set: &KeySet,
    prosody: Option<&TokenOptions>,
    now: SystemTime,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for note in &config.notes {
        out.push(
            Diagnostic::warn("cookie key", note.clone())
                .fix("start serve --config once, or create it with `openssl rand -hex 32`"),
        );
    }
    let mut issuers = BTreeSet::new();
    let mut audiences = BTreeSet::new();
    if let Some(mint) = &config.mint {
        for c in &mint.clients {
            issuers.extend(c.issuers.iter().cloned());
        }
        audiences.insert(MINT_AUDIENCE.to_owned());
        out.push(Diagnostic::pass(
            "[mint]",
            format!(
                "{} client(s): {}",
                mint.clients.len(),
                mint.clients
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(oidc) = &config.oidc {
        issuers.insert(oidc.token_issuer.clone());
        audiences.insert(oidc.audience.clone());
        // The login bridge's own checks (the identity provider's discovery
        // reachable) belong to token/service/oidc/ and are added there.
    }
    let signer = Signer::new(config.min_key_age);
    let min = humantime::format_duration(config.min_key_age);
    for issuer in &issuers {
        let check = format!("signing key of {issuer}");
        out.push(match signer.choose(set, issuer, now) {
            Ok(entry) => {
                let age = now
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    .saturating_sub(entry.times.changed_ns / 1_000_000_000);
                Diagnostic::pass(
                    &check,
                    format!(
                        "{} (in the key directory for {age} s; min_key_age {min})",
                        entry.kid
                    ),
                )
            }
            Err(e @ SignError::TooYoung { .. }) => Diagnostic::warn(&check, e.to_string()).fix(
                "wait: tokens are refused (503 with Retry-After) until then; or lower min_key_age",
            ),
            Err(e) => Diagnostic::fail(&check, e.to_string())
                .fix(format!("asap-keyserver rotate {issuer}")),
        });
    }
    if let Some(o) = prosody {
        out.extend(check_prosody_accepts(o, &issuers, &audiences));
    }
    out
}

/// Whether Prosody's `asap_accepted_issuers` (default: `app_id`) and
/// `asap_accepted_audiences` (default: any) take the service's tokens.
fn check_prosody_accepts(
    o: &TokenOptions,
    issuers: &BTreeSet<String>,
    audiences: &BTreeSet<String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let accepted: Option<Vec<String>> = match (&o.accepted_issuers, o.app_id.value()) {
        (Read::Set(list), _) => Some(list.clone()),
        (Read::Unset, Some(app)) => Some(vec![app.clone()]),
        _ => None,
    };
    for issuer in issuers {
        let check = format!("iss {issuer:?}");
        match &accepted {
            Some(list) if list.contains(issuer) => {
                out.push(Diagnostic::pass(&check, "Prosody accepts it"))
            }
            Some(list) => out.push(
                Diagnostic::fail(
                    &check,
                    format!(
                        "Prosody accepts only {list:?} (asap_accepted_issuers, by default app_id)"
                    ),
                )
                .fix(format!(
                    "add \"{issuer}\" to asap_accepted_issuers on the token VirtualHost"
                )),
            ),
            None => out.push(Diagnostic::skip(
                &check,
                "neither asap_accepted_issuers nor app_id could be read",
            )),
        }
    }
    for aud in audiences {
        let check = format!("aud {aud:?}");
        match &o.accepted_audiences {
            Read::Set(list) if list.iter().any(|a| a == aud || a == "*") => out.push(Diagnostic::pass(&check, "Prosody accepts it")),
            Read::Set(list) => out.push(
                Diagnostic::fail(&check, format!("Prosody accepts only {list:?} (asap_accepted_audiences)"))
                    .fix(format!("add \"{aud}\" to asap_accepted_audiences, or set the token service's audience to one of them")),
            ),
            Read::Unset => out.push(Diagnostic::pass(&check, "Prosody accepts any aud (asap_accepted_audiences unset)")),
            Read::Unreadable(_) => out.push(Diagnostic::skip(&check, "asap_accepted_audiences could not be read")),
        }
    }
    out
}
