//! `asap-keyserver login`: ask the real Prosody, step by step.

use crate::check::fetch;
use crate::check::keysource::KeySource;
use crate::check::login::{self, Endpoint, Meeting, Outcome, Target};
use crate::check::verify::{self, Settings};
use crate::check::{self, Diagnostic, Layout, Status};
use crate::cli::LoginArgs;
use std::io::Write as _;
use std::process::ExitCode;

/// `hosts` values from a deployment's `config.js`: `domain`, `muc`,
/// `focus`, and the `websocket` / `bosh` URLs, where written as string
/// literals (the usual, generated form).
fn config_js_value(text: &str, key: &str) -> Option<String> {
    for quote in ['\'', '"'] {
        for sep in [": ", ":"] {
            let needle = format!("{key}{sep}{quote}");
            if let Some(pos) = text.find(&needle) {
                let rest = &text[pos + needle.len()..];
                let value = rest.split(quote).next()?;
                if !value.is_empty() && !value.contains('\n') {
                    return Some(value.to_owned());
                }
            }
        }
    }
    None
}

/// The target as Jitsi's client would derive it, flags winning.
fn target(
    a: &LoginArgs,
    token_arg: &str,
    options: &fetch::Options,
) -> anyhow::Result<(Target, Vec<String>)> {
    let mut notes = Vec::new();
    let meeting = if token_arg.starts_with("https://") || token_arg.starts_with("http://") {
        Some(Meeting::parse(token_arg).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    let token = match &meeting {
        Some(m) => m.token.clone().ok_or_else(|| {
            anyhow::anyhow!("the meeting URL has no ?jwt= token: append ?jwt=<token>")
        })?,
        None => super::verify::token_text(Some(token_arg))?,
    };
    anyhow::ensure!(
        token.split('.').count() == 3,
        "not a JWT (three base64url parts): check the token you pasted"
    );
    // config.js, where it is reachable, as the client reads it.
    let mut js = None;
    if let Some(m) = &meeting {
        let url = format!(
            "{}://{}{}/config.js",
            m.scheme,
            m.host,
            m.tenant
                .as_ref()
                .map(|t| format!("/{t}"))
                .unwrap_or_default()
        );
        match fetch::get(&url, options) {
            Ok(r) if r.status == 200 => {
                notes.push(format!("read {url}"));
                js = Some(String::from_utf8_lossy(&r.body).into_owned());
            }
            Ok(r) => notes.push(format!(
                "{url}: HTTP {}; using the defaults the client derives",
                r.status
            )),
            Err(e) => notes.push(format!("{url}: {e}; using the defaults the client derives")),
        }
    }
    let from_js = |key: &str| js.as_deref().and_then(|t| config_js_value(t, key));
    let endpoint = match (&a.websocket, &a.bosh, &meeting) {
        (Some(ws), _, _) => Endpoint::WebSocket(ws.clone()),
        (None, Some(b), _) => Endpoint::Bosh(b.clone()),
        (None, None, Some(m)) => match (from_js("websocket"), from_js("bosh")) {
            (Some(ws), _) => Endpoint::WebSocket(ws),
            (None, Some(b)) if b.starts_with("http") => Endpoint::Bosh(b),
            _ => Endpoint::WebSocket(m.websocket()),
        },
        (None, None, None) => anyhow::bail!(
            "say where Prosody is: a meeting URL (https://meet.example.com/room?jwt=...), --websocket URL or --bosh URL"
        ),
    };
    let domain = a
        .domain
        .clone()
        .or_else(|| from_js("domain"))
        .or_else(|| meeting.as_ref().map(Meeting::domain))
        .ok_or_else(|| {
            anyhow::anyhow!("--domain is needed without a meeting URL (config.js hosts.domain)")
        })?;
    let muc_domain = a
        .muc_domain
        .clone()
        .or_else(|| from_js("muc"))
        .or_else(|| meeting.as_ref().map(Meeting::muc_domain))
        .unwrap_or_else(|| format!("conference.{domain}"));
    let focus = a
        .focus
        .clone()
        .or_else(|| from_js("focus"))
        .unwrap_or_else(|| format!("focus.{domain}"));
    let room = if a.no_join {
        None
    } else {
        match (&a.room, &meeting) {
            (Some(r), _) => Some(r.to_lowercase()),
            (None, Some(m)) => Some(m.room.clone()),
            (None, None) => anyhow::bail!("say which room to join (--room NAME), or --no-join"),
        }
    };
    Ok((
        Target {
            endpoint,
            domain,
            muc_domain,
            focus,
            room,
            token,
        },
        notes,
    ))
}

/// The token's claims, unverified.
fn claims(token: &str) -> serde_json::Map<String, serde_json::Value> {
    token
        .split('.')
        .nth(1)
        .and_then(verify::decode_part)
        .unwrap_or_default()
}

/// Why a join was refused, from the claims: room and sub.
fn join_hints(
    target: &Target,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let room = target.room.clone().unwrap_or_default();
    match claims.get("room").and_then(|v| v.as_str()) {
        Some("*") => out.push(Diagnostic::pass("room claim", "\"*\": any room")),
        Some(r) if r.to_lowercase() == room => out.push(Diagnostic::pass("room claim", format!("{r:?} names the room"))),
        Some(r) => out.push(
            Diagnostic::fail("room claim", format!("{r:?}, joining {room:?}"))
                .why("the token's room does not name the room joined: token_verification refuses the join")
                .fix(format!("mint with room {room:?} (or \"*\")")),
        ),
        None => out.push(Diagnostic::warn("room claim", "missing")),
    }
    match claims.get("sub").and_then(|v| v.as_str()) {
        Some("*") => out.push(Diagnostic::pass("sub claim", "\"*\": any domain or tenant")),
        Some(s)
            if s.eq_ignore_ascii_case(&target.domain)
                || target.muc_domain.contains(&format!(".{s}.")) =>
        {
            out.push(Diagnostic::pass("sub claim", format!("{s:?} matches")))
        }
        Some(s) => out.push(
            Diagnostic::warn("sub claim", format!("{s:?}, domain {:?}", target.domain))
                .why("with enable_domain_verification, sub must be the tenant or the domain")
                .fix("mint with sub \"*\" or the tenant/domain"),
        ),
        None => out.push(Diagnostic::warn("sub claim", "missing")),
    }
    out
}

/// The claim checks of `verify` that fail: what most likely made the SASL
/// step fail.
fn offline_checks(token: &str) -> Vec<Diagnostic> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let report = verify::verify(token, &Settings::default(), &KeySource::Unset, now);
    let key_rows = [
        "key",
        "key URL",
        "key file",
        "key JWKS",
        "signature",
        "cache_keys_url",
    ];
    report
        .checks
        .into_iter()
        .filter(|d| d.status == Status::Fail && !key_rows.contains(&d.check.as_str()))
        .collect()
}

pub(super) fn run(a: LoginArgs) -> anyhow::Result<ExitCode> {
    let options = fetch::Options {
        timeout: a.timeout,
        ca_file: a.ca_file.clone(),
    };
    let arg = match a.token.as_deref() {
        None | Some("-") => super::verify::token_text(None)?,
        Some(t) => t.trim().to_owned(),
    };
    let (target, notes) = target(&a, &arg, &options)?;
    let report = login::login(
        &target,
        &login::Options {
            fetch: options,
            nick: a.nick.clone(),
        },
    );
    let explain = match &report.outcome {
        Outcome::Refused { step: "SASL", .. } => (
            "Offline checks of the token (asap-keyserver verify)",
            offline_checks(&target.token),
        ),
        Outcome::Refused { step: "join", .. } => (
            "The token's claims against the room",
            join_hints(&target, &claims(&target.token)),
        ),
        _ => ("", Vec::new()),
    };
    let code = match report.outcome {
        Outcome::Accepted => super::ACCEPTED,
        Outcome::Refused { .. } => super::REJECTED,
        Outcome::Error(_) => ExitCode::from(super::ERROR),
    };
    super::report(code, |out| {
        if a.json {
            let doc = serde_json::json!({
                "outcome": match report.outcome { Outcome::Accepted => "accepted", Outcome::Refused { .. } => "refused", Outcome::Error(_) => "error" },
                "verdict": report.verdict(),
                "steps": check::to_json(&report.steps),
                "explain": check::to_json(&explain.1),
                "notes": notes,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            return Ok(());
        }
        for n in &notes {
            writeln!(out, "{n}")?;
        }
        let layout = Layout {
            indent: "",
            width: 8,
        };
        check::write_text(out, &report.steps, layout)?;
        if !explain.1.is_empty() {
            writeln!(out, "{}:", explain.0)?;
            check::write_text(
                out,
                &explain.1,
                Layout {
                    indent: "  ",
                    width: 14,
                },
            )?;
        }
        writeln!(out, "{}", report.verdict())?;
        Ok(())
    })
}
