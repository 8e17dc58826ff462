//! `asap-keyserver verify`: one line per check, then the verdict.

use super::prosody::ProsodySettings;
use crate::check::keysource::KeySource;
use crate::check::verify;
use crate::check::{self, Columns};
use crate::cli::VerifyArgs;
use anyhow::Context as _;
use std::io::Write as _;
use std::process::ExitCode;

/// The most `--app-secret-file` may hold (a secret is tens of bytes).
const APP_SECRET_LIMIT: u64 = 64 * 1024;

pub(super) fn run(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let token = super::token_text(a.token.as_deref())?;
    let ProsodySettings {
        mut settings,
        key_server: mut config_server,
        notes,
        redactions,
    } = super::prosody::read(&a.prosody, (&a.fetch).into())?;
    if a.domain.is_some() {
        settings.domain.clone_from(&a.domain);
    }
    settings.tenant.clone_from(&a.tenant);
    settings.room.clone_from(&a.room);
    let secret = match (&a.app_secret, &a.app_secret_file) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(path)) => {
            let bytes = crate::keys::read_regular(path, APP_SECRET_LIMIT)
                .with_context(|| format!("--app-secret-file {}: cannot read it", path.display()))?;
            let text = String::from_utf8(bytes)
                .with_context(|| format!("--app-secret-file {}: not UTF-8 text", path.display()))?;
            Some(text.strip_suffix('\n').unwrap_or(&text).to_owned())
        }
        (None, None) => None,
    };
    if let Some(secret) = secret {
        settings.app_secret = Some(secret);
        if a.prosody.options.algorithm.is_none() {
            // The plugin's default without asap_key_server.
            settings.algorithm = "HS256".into();
        }
        config_server = None;
    }

    let source = match (a.key_server.or(config_server), a.keys, a.key) {
        (_, Some(dir), _) => KeySource::Dir(dir),
        (_, _, Some(file)) => KeySource::File(file),
        (Some(base), _, _) => KeySource::Server {
            base,
            options: (&a.fetch).into(),
        },
        (None, None, None) if settings.cache_keys_url.is_some() || settings.app_secret.is_some() => {
            KeySource::Unset
        }
        (None, None, None) => anyhow::bail!(
            "say where the key comes from: --key-server URL, --keys DIR, --key FILE, --cache-keys-url URL, or --prosody-config with asap_key_server"
        ),
    };
    let now = crate::keydir::age::epoch_secs(std::time::SystemTime::now())
        .context("clock before 1970")?;
    let mut report = verify::verify(&token, &settings, &source, now);
    report.checks.iter_mut().for_each(|d| d.redact(&redactions));
    let code = if report.accepted() {
        super::ACCEPTED
    } else {
        super::REJECTED
    };
    super::report(code, |out| {
        if a.json {
            let doc = serde_json::json!({
                "accepted": report.accepted(),
                "verdict": report.verdict(),
                "conditions": report.conditions(),
                "first_failure": report.first_failure().map(|c| &c.check),
                "plugin": {
                    "generation": report.generation.name,
                    "since": report.generation.since,
                    "checked_as": notes.first(),
                },
                "checks": check::to_json(&report.checks),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        } else {
            for n in &notes {
                writeln!(out, "{n}")?;
            }
            let columns = Columns {
                indent: "",
                width: 16,
            };
            check::write_text(out, &report.checks, columns)?;
            writeln!(out, "{}", report.verdict())?;
        }
        Ok(())
    })
}
