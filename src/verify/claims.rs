//! The claim checks: `exp` and `nbf` (luajwtjitsi, zero leeway), `iss`,
//! `aud` and `room` (token/util.lib.lua), `sub` and `room` against the room
//! being joined (`verify_room`), and what Jitsi reads from `context`.

use super::{brief, Checks, Settings};
use serde_json::{Map, Value};
use std::time::{Duration, UNIX_EPOCH};

fn when(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs.min(253_402_300_799)))
        .to_string()
}

fn span(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

pub(super) fn time_checks(c: &mut Checks, claims: &Map<String, Value>, now: u64) {
    const MS: u64 = 100_000_000_000; // 5138 AD in seconds; any later value is milliseconds
    match claims.get("exp") {
        None => c.warn(
            "exp",
            "missing",
            "Prosody accepts a token without exp, and it never expires",
            "always set exp (asap-keyserver mint sets 1h by default)",
        ),
        Some(v) => match v.as_f64() {
            None => c.fail(
                "exp",
                brief(v),
                "exp must be number",
                "exp must be a JSON number of seconds",
                "set exp to seconds since 1970",
            ),
            Some(exp) => {
                let exp = exp as u64;
                if exp >= MS {
                    c.warn("exp", format!("{exp} (milliseconds?)"), "exp looks like milliseconds: Prosody reads seconds, so this token is valid for millennia", "divide by 1000: exp is seconds since 1970");
                } else if now >= exp {
                    c.fail(
                        "exp",
                        format!("{} ({} ago)", when(exp), span(now - exp)),
                        "Not acceptable by exp",
                        "the token has expired; Prosody allows no clock skew",
                        "mint a new token, with a ttl that covers the whole meeting",
                    );
                } else {
                    c.pass(
                        "exp",
                        format!("{} (valid for {} more)", when(exp), span(exp - now)),
                    );
                }
            }
        },
    }
    match claims.get("nbf") {
        None => c.pass("nbf", "not set"),
        Some(v) => match v.as_f64() {
            None => c.fail(
                "nbf",
                brief(v),
                "nbf must be number",
                "nbf must be a JSON number of seconds",
                "set nbf to seconds since 1970",
            ),
            Some(nbf) => {
                let nbf = nbf as u64;
                if now < nbf {
                    let ms = nbf >= MS;
                    c.fail("nbf", format!("{}{}", when(nbf), if ms { " (milliseconds?)" } else { "" }), "Not acceptable by nbf",
                        if ms { "nbf looks like milliseconds, which Prosody reads as seconds far in the future".to_owned() } else { format!("the token is not valid for {} more; Prosody allows no clock skew", span(nbf - now)) },
                        if ms { "divide by 1000: nbf is seconds since 1970" } else { "set nbf a little in the past (mint --nbf-skew 30s) and keep clocks in sync" });
                } else {
                    c.pass("nbf", when(nbf));
                }
            }
        },
    }
}

fn listed(list: &[String]) -> String {
    format!(
        "{{ {} }}",
        list.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(super) fn claim_checks(c: &mut Checks, claims: &Map<String, Value>, s: &Settings) {
    // iss: asap_accepted_issuers, default { app_id }.
    let default_issuers = s.accepted_issuers.is_none();
    let issuers: Option<Vec<String>> = s
        .accepted_issuers
        .clone()
        .or_else(|| s.app_id.clone().map(|a| vec![a]));
    match (claims.get("iss"), &issuers) {
        (None, _) => c.fail(
            "iss",
            "missing",
            "'iss' claim is missing",
            "Prosody requires iss",
            "set iss to your app_id (or one of asap_accepted_issuers)",
        ),
        (Some(v), None) => c.warn(
            "iss",
            brief(v),
            "not checked: Prosody accepts only asap_accepted_issuers, by default just app_id",
            "pass --app-id or --accepted-issuers (or --prosody-config)",
        ),
        (Some(v), Some(list)) => {
            let ok = list
                .iter()
                .any(|i| i == "*" || Some(i.as_str()) == v.as_str());
            let default = if default_issuers {
                " (the default: app_id alone)"
            } else {
                ""
            };
            if ok {
                c.pass(
                    "iss",
                    format!(
                        "{} in asap_accepted_issuers {}{default}",
                        brief(v),
                        listed(list)
                    ),
                );
            } else {
                c.fail(
                    "iss",
                    brief(v),
                    "invalid 'iss' claim",
                    format!("not in asap_accepted_issuers {}{default}", listed(list)),
                    format!(
                        "mint with iss {:?}, or add {} to asap_accepted_issuers",
                        list[0],
                        brief(v)
                    ),
                );
            }
        }
    }
    // aud: asap_accepted_audiences, default { "*" }, compared as a string.
    let any = s.accepted_audiences.iter().any(|a| a == "*");
    match claims.get("aud") {
        None => c.fail("aud", "missing", "'aud' claim is missing", "Prosody requires aud", "set aud, e.g. \"jitsi\""),
        Some(Value::String(a)) if any || s.accepted_audiences.contains(a) => {
            c.pass("aud", format!("{a:?} in asap_accepted_audiences {}", listed(&s.accepted_audiences)))
        }
        Some(Value::String(a)) => c.fail("aud", format!("{a:?}"), "invalid 'aud' claim", format!("not in asap_accepted_audiences {}", listed(&s.accepted_audiences)),
            format!("mint with aud {:?}, or add {a:?} to asap_accepted_audiences", s.accepted_audiences.first().cloned().unwrap_or_default())),
        Some(v) if any => c.warn("aud", brief(v), "aud is not a string: it passes only because asap_accepted_audiences contains \"*\"", "make aud one string"),
        Some(v) => c.fail("aud", brief(v), "invalid 'aud' claim", "aud is an array or not a string: Prosody compares aud as a string, so it never matches",
            "make aud one string that is in asap_accepted_audiences"),
    }
    // room: required unless asap_require_room_claim = false; matched on MUC join.
    match claims.get("room") {
        None if s.require_room => c.fail("room", "missing", "'room' claim is missing",
            "Prosody requires room (and its 0.12 plugin then crashes the SASL reply, so the client just disconnects)", "set room to the room name, or \"*\" for any room"),
        None => c.pass("room", "not required (asap_require_room_claim = false)"),
        Some(Value::String(r)) if r == "*" => c.pass("room", "\"*\": any room"),
        Some(Value::String(r)) if r.contains('@') || r.contains('/') => c.warn("room", format!("{r:?}"),
            "room must be the bare room name, not a JID or URL: the MUC join will not match", "set room to the name after the last '/' of the meeting URL"),
        Some(Value::String(r)) => match &s.room {
            Some(joining) if r.to_lowercase() != joining.to_lowercase() => c.fail("room", format!("{r:?}, joining {joining:?}"), "room join refused (verify_room)",
                "the room claim does not name the room being joined", format!("mint with room {:?} or \"*\"", joining.to_lowercase())),
            _ if r.chars().any(char::is_uppercase) => c.warn("room", format!("{r:?}"), "Prosody compares lower-cased: this matches the room in lower case only", "mint the room name in lower case"),
            _ => c.pass("room", format!("{r:?}")),
        },
        Some(v) => c.fail("room", brief(v), "room join refused (verify_room)", "room must be a string", "set room to the room name, or \"*\""),
    }
    // sub: checked on MUC join when domain verification is on.
    let sub = claims.get("sub");
    match (sub, s.domain_verification, &s.domain, &s.tenant) {
        (None, _, _, _) => c.warn(
            "sub",
            "missing",
            "current Jitsi requires sub at login, and domain verification needs it on join",
            "set sub to the tenant or domain, or \"*\"",
        ),
        (Some(v), false, _, _) => c.pass(
            "sub",
            format!(
                "{} (enable_domain_verification = false: not checked)",
                brief(v)
            ),
        ),
        (Some(Value::String(v)), true, _, _) if v == "*" => {
            c.pass("sub", "\"*\": any domain or tenant")
        }
        (Some(v), true, None, None) => c.warn(
            "sub",
            brief(v),
            "not checked: pass --domain (and --tenant for multi-tenant URLs) to check it",
            "with domain verification on, sub must be the tenant or the domain, or \"*\"",
        ),
        (Some(v), true, domain, tenant) => {
            let want = tenant
                .as_ref()
                .or(domain.as_ref())
                .map(|w| w.to_lowercase())
                .unwrap_or_default();
            match v.as_str() {
                Some(got) if got.to_lowercase() == want => c.pass(
                    "sub",
                    format!(
                        "{got:?} matches the {}",
                        if tenant.is_some() { "tenant" } else { "domain" }
                    ),
                ),
                _ => c.fail(
                    "sub",
                    brief(v),
                    "room join refused (verify_room)",
                    format!(
                        "with domain verification, sub must be the {} {want:?} or \"*\"",
                        if tenant.is_some() { "tenant" } else { "domain" }
                    ),
                    format!("mint with sub {want:?}"),
                ),
            }
        }
    }
}

pub(super) fn context_checks(c: &mut Checks, claims: &Map<String, Value>, s: &Settings) {
    let context = claims.get("context").and_then(Value::as_object);
    let user = context
        .and_then(|ctx| ctx.get("user"))
        .and_then(Value::as_object);
    if let Some(user) = user {
        let odd: Vec<_> = user
            .iter()
            .filter(|(_, v)| !v.is_string())
            .map(|(k, v)| format!("{k}={}", brief(v)))
            .collect();
        if odd.is_empty() {
            c.pass(
                "context.user",
                format!("{} field(s), all strings", user.len()),
            );
        } else {
            c.warn(
                "context.user",
                odd.join(", "),
                "context.user fields should be strings: Jitsi components compare them as strings",
                "quote the values (\"true\", \"123\")",
            );
        }
    }
    let moderator = user.and_then(|u| u.get("moderator"));
    if let Some(top) = claims.get("moderator") {
        c.warn(
            "moderator",
            format!("top-level moderator={}", brief(top)),
            "Jitsi ignores a top-level moderator claim",
            "move it to context.user.moderator = \"true\"",
        );
    } else if let Some(m) = moderator {
        if m.is_string() {
            c.pass(
                "moderator",
                format!("context.user.moderator = {}", brief(m)),
            );
        } else {
            c.warn("moderator", format!("context.user.moderator = {}", brief(m)), "a non-string moderator is ignored by older Jitsi code, which compares with \"true\"", "write \"true\" or \"false\" as strings");
        }
    }
    if let Some(features) = context.and_then(|ctx| ctx.get("features")) {
        if moderator.is_none() && claims.get("moderator").is_none() {
            c.warn("features", brief(features), "features are set but the user is not a moderator: recording, streaming and the like need a moderator to start them",
                "add context.user.moderator = \"true\" for the user who should use them");
        } else {
            c.pass("features", brief(features));
        }
    }
    if let Some(group) = context.and_then(|ctx| ctx.get("group")) {
        if s.tenant.is_none() {
            c.warn(
                "group",
                brief(group),
                "context.group is read only in multi-tenant setups",
                "drop it unless your deployment uses groups",
            );
        } else {
            c.pass("group", brief(group));
        }
    }
}
