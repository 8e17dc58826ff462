//! The claim checks: `exp` and `nbf` (luajwtjitsi, zero leeway), `iss`,
//! `aud` and `room` (token/util.lib.lua), `sub` and `room` against the room
//! being joined (`verify_room`), and what Jitsi reads from `context`.

use super::{brief, Checks, MucBase, Settings};
use crate::check::causes::{self, Check};
use crate::check::generation::Generation;
use crate::check::Diagnostic;
use serde_json::{Map, Value};
use std::time::{Duration, UNIX_EPOCH};

fn when(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs.min(253_402_300_799)))
        .to_string()
}

fn span(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// What the plugin says about an expired token: since 2026-05 with how long
/// ago and, given `iat`, for how long it was valid.
pub(super) fn exp_text(
    generation: &Generation,
    claims: &Map<String, Value>,
    exp: u64,
    now: u64,
) -> String {
    if !generation.exp_detail {
        return "Not acceptable by exp".into();
    }
    let valid = claims
        .get("iat")
        .and_then(Value::as_f64)
        .map(|iat| format!(", valid for:{} sec", exp as i64 - iat as i64))
        .unwrap_or_default();
    format!(
        "Not acceptable by exp ({} sec since expired{valid})",
        now - exp
    )
}

pub(super) fn time_checks(
    c: &mut Checks,
    claims: &Map<String, Value>,
    now: u64,
    generation: &Generation,
) {
    const MS: u64 = 100_000_000_000; // 5138 AD in seconds; any later value is milliseconds
    match claims.get("exp") {
        None => c.push(
            Diagnostic::warn(Check::Exp, "missing")
                .why("Prosody accepts a token without exp, and it never expires")
                .fix("always set exp (asap-keyserver mint sets 1h by default)"),
        ),
        Some(v) => match v.as_f64() {
            None => c.push(
                Diagnostic::fail(Check::Exp, brief(v))
                    .prosody_says("exp must be number")
                    .because(&causes::EXP)
                    .here("exp must be a JSON number of seconds since 1970"),
            ),
            Some(exp) => {
                let exp = exp as u64;
                if exp >= MS {
                    c.push(
                        Diagnostic::warn(Check::Exp, format!("{exp} (milliseconds?)"))
                            .why(
                                "exp looks like milliseconds: \
                        Prosody reads seconds, so this token is valid for millennia",
                            )
                            .fix(
                                "divide by 1000: exp \
                        is seconds since 1970",
                            ),
                    );
                } else if now >= exp {
                    c.push(
                        Diagnostic::fail(
                            Check::Exp,
                            format!("{} ({} ago)", when(exp), span(now - exp)),
                        )
                        .prosody_says(exp_text(generation, claims, exp, now))
                        .because(&causes::EXP),
                    );
                } else {
                    c.push(Diagnostic::pass(
                        Check::Exp,
                        format!("{} (valid for {} more)", when(exp), span(exp - now)),
                    ));
                }
            }
        },
    }
    match claims.get("nbf") {
        None => c.push(Diagnostic::pass(Check::Nbf, "not set")),
        Some(v) => match v.as_f64() {
            None => c.push(
                Diagnostic::fail(Check::Nbf, brief(v))
                    .prosody_says("nbf must be number")
                    .because(&causes::NBF)
                    .here("nbf must be a JSON number of seconds since 1970"),
            ),
            Some(nbf) => {
                let nbf = nbf as u64;
                if now < nbf {
                    let ms = nbf >= MS;
                    let d = Diagnostic::fail(
                        Check::Nbf,
                        format!("{}{}", when(nbf), if ms { " (milliseconds?)" } else { "" }),
                    )
                    .because(&causes::NBF);
                    c.push(if ms { d.here("nbf looks like milliseconds, which Prosody reads as seconds far in the \
                        future").fix_here("divide by 1000") } else { d.here(format!("valid in {}", span(nbf - now))) });
                } else {
                    c.push(Diagnostic::pass(Check::Nbf, when(nbf)));
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

/// `; the plugin of 2026-05 and later gives a clean error` when other
/// generations treat this case differently from `generation` (as `how`
/// describes each); empty when they all agree.
fn disagreement(generation: &Generation, how: impl Fn(&Generation) -> &'static str) -> String {
    let mine = how(generation);
    let others: Vec<String> = crate::check::generation::GENERATIONS
        .iter()
        .filter(|g| how(g) != mine)
        .map(|g| format!("{} gives {}", g.describe(), how(g)))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!("; {}", others.join(", "))
    }
}

pub(super) fn claim_checks(c: &mut Checks, claims: &Map<String, Value>, s: &Settings) {
    // iss: asap_accepted_issuers, default { app_id }.
    let default_issuers = s.accepted_issuers.is_none();
    let issuers: Option<Vec<String>> = s
        .accepted_issuers
        .clone()
        .or_else(|| s.app_id.clone().map(|a| vec![a]));
    match (claims.get("iss"), &issuers) {
        (None, _) => c.push(Diagnostic::fail(Check::Iss, "missing").prosody_says("'iss' claim is missing").because(&causes::ISS)),
        (Some(v), None) => c.push(
            Diagnostic::warn(Check::Iss, brief(v))
                .why("not checked: Prosody accepts only asap_accepted_issuers, by default just app_id")
                .fix("pass --app-id or --accepted-issuers (or --prosody-config)")
                .only_if(match v.as_str() {
                    Some(iss) => format!("app_id or asap_accepted_issuers includes {iss:?}"),
                    None => format!("asap_accepted_issuers includes \"*\" (iss {} is not a string)", brief(v)),
                }),
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
                c.push(Diagnostic::pass(Check::Iss, format!(
                        "{} in asap_accepted_issuers {}{default}",
                        brief(v),
                        listed(list)
                    )));
            } else {
                c.push(Diagnostic::fail(Check::Iss, brief(v)).because(&causes::ISS).here(format!("not in asap_accepted_issuers \
                    {}{default}", listed(list))).fix_here(format!(
                        "mint with iss {:?}, or add {} to asap_accepted_issuers",
                        list[0],
                        brief(v)
                    )));
            }
        }
    }
    // aud: asap_accepted_audiences, default { "*" }, compared as a string.
    let any = s.accepted_audiences.iter().any(|a| a == "*");
    match claims.get("aud") {
        None => c.push(
            Diagnostic::fail(Check::Aud, "missing")
                .prosody_says("'aud' claim is missing")
                .because(&causes::AUD),
        ),
        Some(Value::String(a)) if any || s.accepted_audiences.contains(a) => {
            c.push(Diagnostic::pass(
                Check::Aud,
                format!(
                    "{a:?} in asap_accepted_audiences {}",
                    listed(&s.accepted_audiences)
                ),
            ))
        }
        Some(Value::String(a)) => c.push(
            Diagnostic::fail(Check::Aud, format!("{a:?}"))
                .because(&causes::AUD)
                .here(format!(
                    "not \
            in asap_accepted_audiences {}",
                    listed(&s.accepted_audiences)
                ))
                .fix_here(format!(
                    "mint with aud {:?}, \
            or add {a:?} to asap_accepted_audiences",
                    s.accepted_audiences.first().cloned().unwrap_or_default()
                )),
        ),
        Some(v) if any => c.push(
            Diagnostic::warn(Check::Aud, brief(v))
                .why(
                    "aud is not a string: it passes only because \
            asap_accepted_audiences contains \"*\"",
                )
                .fix("make aud one string"),
        ),
        Some(v) => c.push(
            Diagnostic::fail(Check::Aud, brief(v))
                .because(&causes::AUD)
                .here(
                    "aud is an array or not \
            a string: Prosody compares aud as a string, so it never matches",
                ),
        ),
    }
    // room: required unless asap_require_room_claim = false; matched on MUC join.
    match claims.get("room") {
        None if s.require_room => {
            let r = &s.generation.missing_room;
            let cause = if r.answered {
                &causes::ROOM_MISSING
            } else {
                &causes::ROOM_MISSING_CRASH
            };
            let others = disagreement(s.generation, |g| {
                if g.missing_room.answered {
                    "a clean error"
                } else {
                    "no answer to the client"
                }
            });
            c.push(
                Diagnostic::fail(Check::Room, "missing")
                    .prosody_says(r.text)
                    .because(cause)
                    .here(format!(
                        "{} answers {}{others}",
                        s.generation.describe(),
                        if r.answered { r.condition } else { "nothing" }
                    )),
            )
        }
        None => c.push(Diagnostic::pass(
            Check::Room,
            "not required (asap_require_room_claim = false)",
        )),
        Some(Value::String(r)) if r == "*" => {
            c.push(Diagnostic::pass(Check::Room, "\"*\": any room"))
        }
        Some(Value::String(r)) if r.contains('@') || r.contains('/') => c.push(
            Diagnostic::warn(Check::Room, format!("{r:?}"))
                .why(
                    "room \
            must be the bare room name, not a JID or URL: the MUC join will not match",
                )
                .fix(
                    "set room to the name \
            after the last '/' of the meeting URL",
                ),
        ),
        Some(Value::String(r)) => match &s.room {
            Some(joining) if r.to_lowercase() != joining.to_lowercase() => c.push(
                Diagnostic::fail(
                    Check::Room,
                    format!(
                        "{r:?}, \
                joining {joining:?}"
                    ),
                )
                .prosody_says("Room and token mismatched")
                .because(&causes::ROOM_MISMATCH)
                .here(
                    "the \
                room claim names another room",
                )
                .fix_here(format!(
                    "mint with room {:?} or \"*\"",
                    joining.to_lowercase()
                )),
            ),
            _ if r.chars().any(char::is_uppercase) => c.push(
                Diagnostic::warn(Check::Room, format!("{r:?}"))
                    .why(
                        "Prosody \
                compares lower-cased: this matches the room in lower case only",
                    )
                    .fix("mint the room name in lower case"),
            ),
            _ => c.push(Diagnostic::pass(Check::Room, format!("{r:?}"))),
        },
        Some(v) => c.push(
            Diagnostic::fail(Check::Room, brief(v))
                .prosody_says("Room and token mismatched")
                .because(&causes::ROOM_MISMATCH)
                .here(
                    "room \
            must be a string",
                ),
        ),
    }
    // The room join itself: from 2025-11 the plugin looks every room up
    // under muc_mapper_domain_base's MUC domain, and finds none without it.
    let no_base = s.muc_base == MucBase::Unset;
    if no_base && s.generation.room_lookup {
        c.push(
            Diagnostic::fail(Check::RoomJoin, "muc_mapper_domain_base is not set")
                .prosody_says("Room does not exist")
                .because(&causes::ROOM_DOES_NOT_EXIST)
                .here(format!(
                    "{} looks every room up under muc_mapper_domain_base, which this config does not set: every join is refused",
                    s.generation.describe()
                ))
                .fix_here("set muc_mapper_domain_base = \"<your domain>\" in the global section"),
        );
    }
    let g1_no_base = no_base && !s.generation.room_lookup;
    // sub: checked on MUC join when domain verification is on.
    let sub = claims.get("sub");
    match (sub, s.domain_verification, &s.domain, &s.tenant) {
        (None, _, _, _) => {
            let since = Generation::sub_required_since().unwrap_or("a later version");
            match &s.generation.sub_required {
                Some(r) => c.push(
                    Diagnostic::fail(Check::Sub, "missing")
                        .prosody_says(r.text)
                        .because(&causes::SUB_MISSING)
                        .here(format!(
                            "{} requires sub at login and answers {}: rejected since {since}; accepted before",
                            s.generation.describe(),
                            r.condition
                        )),
                ),
                None if s.domain_verification => c.push(
                    Diagnostic::fail(Check::Sub, "missing")
                        .prosody_says("bad argument #1 to 'lower' (string expected, got nil)")
                        .because(&causes::SUB_MISSING)
                        .here(format!(
                            "{} logs the user in, then its room check (with enable_domain_verification) fails on \
                                the missing sub: the join gets no answer; rejected at login since {since}",
                            s.generation.describe()
                        )),
                ),
                None => c.push(
                    Diagnostic::warn(Check::Sub, "missing")
                        .why(format!(
                            "accepted by {} (enable_domain_verification = false), but rejected at login since {since} (\"sub claim is missing\")",
                            s.generation.describe()
                        ))
                        .fix(causes::SUB_MISSING.fix),
                ),
            }
        }
        (Some(v), false, _, _) => c.push(Diagnostic::pass(
            Check::Sub,
            format!(
                "{} (enable_domain_verification = false: not checked)",
                brief(v)
            ),
        )),
        (Some(Value::String(v)), true, _, _) if v == "*" && g1_no_base => c.push(
            Diagnostic::fail(Check::Sub, "\"*\"")
                .prosody_says("Room and token mismatched")
                .because(&causes::ROOM_MISMATCH)
                .here(format!(
                    "{} matches \"*\" against the MUC domain of muc_mapper_domain_base, which this config does not set: every join is refused",
                    s.generation.describe()
                ))
                .fix_here("set muc_mapper_domain_base = \"<your domain>\" in the global section, or mint with sub = the domain"),
        ),
        (Some(Value::String(v)), true, _, _) if v == "*" => c.push(Diagnostic::pass(
            Check::Sub,
            match &s.muc_base {
                MucBase::Set(base) => format!("\"*\": any domain or tenant (rooms under muc_mapper_domain_base {base:?})"),
                _ => "\"*\": any domain or tenant (at the join, where muc_mapper_domain_base is set, as Jitsi's packages set it)".to_owned(),
            },
        )),
        (Some(v), true, None, None) => c.push(
            Diagnostic::warn(Check::Sub, brief(v))
                .why("not checked: pass --domain (and --tenant for multi-tenant URLs) to check it")
                .fix("with domain verification on, sub must be the tenant or the domain, or \"*\"")
                .only_if(format!(
                    "the meeting's tenant or domain is {} (sub, checked at the room join)",
                    brief(v)
                )),
        ),
        (Some(v), true, domain, tenant) => {
            let want = tenant
                .as_ref()
                .or(domain.as_ref())
                .map(|w| w.to_lowercase())
                .unwrap_or_default();
            let what = if tenant.is_some() { "tenant" } else { "domain" };
            match v.as_str() {
                Some(got) if got.to_lowercase() == want && !(g1_no_base && tenant.is_some()) => {
                    c.push(Diagnostic::pass(Check::Sub, format!("{got:?} matches the {what}")))
                }
                Some(got) if got.to_lowercase() == want => c.push(
                    Diagnostic::fail(Check::Sub, brief(v))
                        .prosody_says("No 'muc_domain_base' option set, denying access!")
                        .because(&causes::NO_MUC_BASE)
                        .here(format!("{got:?} is the tenant, and tenant rooms need muc_mapper_domain_base")),
                ),
                _ => c.push(
                    Diagnostic::fail(Check::Sub, brief(v))
                        .prosody_says("Room and token mismatched")
                        .because(&causes::ROOM_MISMATCH)
                        .here(format!("with domain verification, sub must be the {what} {want:?} or \"*\""))
                        .fix_here(format!("mint with sub {want:?}")),
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
            c.push(Diagnostic::pass(
                Check::ContextUser,
                format!("{} field(s), all strings", user.len()),
            ));
        } else {
            c.push(
                Diagnostic::warn(Check::ContextUser, odd.join(", "))
                    .why(
                        "context.user fields should be strings: \
                Jitsi components compare them as strings",
                    )
                    .fix("quote the values (\"true\", \"123\")"),
            );
        }
    }
    let moderator = user.and_then(|u| u.get("moderator"));
    if let Some(top) = claims.get("moderator") {
        c.push(
            Diagnostic::warn(
                Check::Moderator,
                format!("top-level moderator={}", brief(top)),
            )
            .why("Jitsi ignores a top-level moderator claim")
            .fix("move it to context.user.moderator = \"true\""),
        );
    } else if let Some(m) = moderator {
        if m.is_string() {
            c.push(Diagnostic::pass(
                Check::Moderator,
                format!("context.user.moderator = {}", brief(m)),
            ));
        } else {
            c.push(
                Diagnostic::warn(
                    Check::Moderator,
                    format!("context.user.moderator = {}", brief(m)),
                )
                .why(
                    "a non-string \
                moderator is ignored by older Jitsi code, which compares with \"true\"",
                )
                .fix(
                    "write \"true\" or \
                \"false\" as strings",
                ),
            );
        }
    }
    if let Some(features) = context.and_then(|ctx| ctx.get("features")) {
        if moderator.is_none() && claims.get("moderator").is_none() {
            c.push(
                Diagnostic::warn(Check::Features, brief(features))
                    .why(
                        "features are set but the user is not a moderator: \
                recording, streaming and the like need a moderator to start them",
                    )
                    .fix(
                        "add context.user.moderator \
                = \"true\" for the user who should use them",
                    ),
            );
        } else {
            c.push(Diagnostic::pass(Check::Features, brief(features)));
        }
    }
    if let Some(group) = context.and_then(|ctx| ctx.get("group")) {
        if s.tenant.is_none() {
            c.push(
                Diagnostic::warn(Check::Group, brief(group))
                    .why("context.group is read only in multi-tenant setups")
                    .fix("drop it unless your deployment uses groups"),
            );
        } else {
            c.push(Diagnostic::pass(Check::Group, brief(group)));
        }
    }
}
