//! `asap-keyserver login`: ask the real Prosody, step by step.

use crate::check::fetch;
use crate::check::keysource::KeySource;
use crate::check::login::{self, diagnose, Endpoint, Meeting, Outcome, Target};
use crate::check::verify::{self, MucBase};
use crate::check::{self, Diagnostic, Layout};
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
) -> anyhow::Result<(Target, Option<String>, Vec<String>)> {
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
    let tenant = meeting.as_ref().and_then(|m| m.tenant.clone());
    Ok((
        Target {
            endpoint,
            domain,
            muc_domain,
            focus,
            room,
            token,
        },
        tenant,
        notes,
    ))
}

/// Verify's checks of the token with Prosody's settings (from
/// `--prosody-config` and the flags) and the room joined, for a refusal.
fn offline_checks(
    a: &LoginArgs,
    target: &Target,
    tenant: Option<String>,
    options: &fetch::Options,
) -> anyhow::Result<(verify::Report, MucBase, Vec<String>)> {
    let super::verify::Prosody {
        mut settings,
        key_server,
        notes,
        redactions,
    } = super::verify::prosody_settings(&a.prosody, options.clone())?;
    settings.domain = Some(target.domain.clone());
    settings.tenant = tenant;
    settings.room.clone_from(&target.room);
    let source = match a.key_server.clone().or(key_server) {
        Some(base) => KeySource::Server {
            base,
            options: options.clone(),
        },
        None => KeySource::Unset,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let unknown_key = matches!(source, KeySource::Unset) && settings.cache_keys_url.is_none();
    let mut report = verify::verify(&target.token, &settings, &source, now);
    report.checks.iter_mut().for_each(|d| d.redact(&redactions));
    if unknown_key {
        // Where Prosody fetches keys was not said: the key is not checked,
        // which is not a failure of the token.
        report.checks.retain(|d| d.check != "key URL");
        for d in &mut report.checks {
            if d.check == "key" || d.check == "signature" {
                *d = Diagnostic::skip(
                    d.check.clone(),
                    "not checked: give --key-server URL (Prosody's asap_key_server) or --prosody-config",
                );
            }
        }
    }
    Ok((report, settings.muc_base.clone(), notes))
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
    let (target, tenant, notes) = target(&a, &arg, &options)?;
    let report = login::login(
        &target,
        &login::Options {
            fetch: options.clone(),
            nick: a.nick.clone(),
        },
    );
    let mut checked_as = Vec::new();
    let explained = match &report.outcome {
        Outcome::Refused { step, .. } if *step == "SASL" || *step == "join" => {
            let (checks, muc_base, notes) = offline_checks(&a, &target, tenant, &options)?;
            checked_as = notes;
            Some((
                *step,
                diagnose::refusal(step, report.said.as_deref(), &checks, &muc_base),
            ))
        }
        _ => None,
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
                "cause": explained.as_ref().and_then(|(_, e)| e.cause).map(|c| serde_json::json!({
                    "id": c.id, "check": c.check, "stage": c.stage, "why": c.why, "fix": c.fix,
                })),
                "explain": explained.as_ref().map(|(_, e)| check::to_json(&e.checks)),
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
        if let Some((step, e)) = &explained {
            if let Some(c) = e.cause {
                writeln!(out, "What Prosody's answer means ({}):", c.id)?;
                writeln!(out, "  {}", c.why)?;
                writeln!(out, "  fix: {}", c.fix)?;
            }
            let what = if *step == "join" {
                "The token's claims against the room"
            } else {
                "Offline checks of the token (asap-keyserver verify)"
            };
            writeln!(
                out,
                "{what}, {}:",
                checked_as.first().map_or("", String::as_str)
            )?;
            for n in checked_as.iter().skip(1) {
                writeln!(out, "  {n}")?;
            }
            check::write_text(
                out,
                &e.checks,
                Layout {
                    indent: "  ",
                    width: 16,
                },
            )?;
        }
        writeln!(out, "{}", report.verdict())?;
        Ok(())
    })
}
