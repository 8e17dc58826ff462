//! `asap-keyserver login`: ask the real Prosody, step by step.

use super::prosody::ProsodySettings;
use crate::check::fetch;
use crate::check::keysource::KeySource;
use crate::check::login::{self, diagnose, Answer, Target};
use crate::check::verify::{self, MucBase};
use crate::check::{self, Columns};
use crate::cli::LoginArgs;
use std::io::Write as _;
use std::process::ExitCode;

/// Prosody's settings (from `--prosody-config` and the flags) and where it
/// fetches keys, for the offline checks of a refusal.
fn offline_checks(
    a: &LoginArgs,
    target: &Target,
    options: &fetch::Options,
) -> anyhow::Result<(verify::Report, MucBase, Vec<String>)> {
    let ProsodySettings {
        settings,
        key_server,
        notes,
        redactions,
    } = super::prosody::read(&a.prosody, options.clone())?;
    let source = match a.key_server.clone().or(key_server) {
        Some(base) => KeySource::Server {
            base,
            options: options.clone(),
        },
        None => KeySource::Unset,
    };
    let muc_base = settings.muc_base.clone();
    let now = crate::keydir::age::now_secs();
    let report = diagnose::offline_checks(target, settings, &source, &redactions, now);
    Ok((report, muc_base, notes))
}

pub(super) fn run(a: LoginArgs) -> anyhow::Result<ExitCode> {
    let options = fetch::Options::from(&a.fetch);
    let arg = match a.token.as_deref() {
        None | Some("-") => super::token_text(None)?,
        Some(t) => t.trim().to_owned(),
    };
    let (target, notes) = Target::derive(&arg, &(&a).into(), &options)?;
    let transcript = login::login(
        &target,
        &login::Options {
            fetch: options.clone(),
            nick: a.nick.clone(),
        },
    );
    let mut checked_as = Vec::new();
    let explained = match &transcript.answer {
        Answer::Refused { step, .. } if *step == "SASL" || *step == "join" => {
            let (checks, muc_base, notes) = offline_checks(&a, &target, &options)?;
            checked_as = notes;
            Some((
                *step,
                diagnose::refusal(step, transcript.said.as_deref(), &checks, &muc_base),
            ))
        }
        _ => None,
    };
    let code = match transcript.answer {
        Answer::Accepted => super::ACCEPTED,
        Answer::Refused { .. } => super::REJECTED,
        Answer::Error(_) => ExitCode::from(super::ERROR),
    };
    super::report(code, |out| {
        if a.json {
            let doc = serde_json::json!({
                "outcome": match transcript.answer {
                    Answer::Accepted => "accepted",
                    Answer::Refused { .. } => "refused",
                    Answer::Error(_) => "error",
                },
                "verdict": transcript.verdict(),
                "steps": check::to_json(&transcript.steps),
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
        let columns = Columns {
            indent: "",
            width: 8,
        };
        check::write_text(out, &transcript.steps, columns)?;
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
                Columns {
                    indent: "  ",
                    width: 16,
                },
            )?;
        }
        writeln!(out, "{}", transcript.verdict())?;
        Ok(())
    })
}
