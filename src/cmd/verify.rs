//! `asap-keyserver verify`: one line per check, then the verdict.

use crate::check::fetch;
use crate::check::generation;
use crate::check::keysource::KeySource;
use crate::check::verify::{self, Settings};
use crate::check::{self, Layout};
use crate::cli::{ProsodyArgs, VerifyArgs};
use crate::prosody::config::{Config, Redactions, TokenOptions};
use anyhow::Context as _;
use std::io::{Read as _, Write as _};
use std::process::ExitCode;

/// The token from an argument, a meeting URL, or stdin.
pub(super) fn token_text(arg: Option<&str>) -> anyhow::Result<String> {
    let raw = match arg {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the token from stdin")?;
            s
        }
        Some(t) => t.to_owned(),
    };
    Ok(crate::check::login::meeting::token_in(&raw).to_owned())
}

/// Prosody's settings as `--prosody-config` and the flags give them.
pub(super) struct Prosody {
    /// The settings to check with.
    pub settings: Settings,
    /// `asap_key_server` from the config.
    pub key_server: Option<String>,
    /// Lines saying what was read and how (the first: which plugin).
    pub notes: Vec<String>,
    /// What the config read from files, to keep out of the output.
    pub redactions: Redactions,
}

/// Reads `--prosody-config` (if given), then the flags over it, then the
/// plugin generation (`--jitsi`, else detected, else the newest).
pub(super) fn prosody_settings(a: &ProsodyArgs, fetch: fetch::Options) -> anyhow::Result<Prosody> {
    let mut settings = Settings {
        fetch,
        ..Settings::default()
    };
    let mut key_server = None;
    let mut notes = Vec::new();
    let mut redactions = Redactions::default();
    let mut checked_as = "the newest known; --jitsi YYYY-MM for another".to_owned();
    if let Some(path) = &a.prosody_config {
        let config = Config::load(path)?;
        redactions = config.redactions.clone();
        let o = TokenOptions::read(&config, a.host.as_deref())?;
        notes.push(format!(
            "Prosody config {} (VirtualHost {:?})",
            path.display(),
            o.host
        ));
        for (name, text) in o.unreadable() {
            notes.push(format!(
                "! could not read {name} ({text}); using Prosody's default or your flags"
            ));
        }
        settings.overlay(&o);
        key_server = o.asap_key_server.value().cloned();
        let plugin_paths = o.plugin_paths.value().cloned().unwrap_or_default();
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        match generation::detect(&plugin_paths, base) {
            Ok(found) => {
                settings.generation = found.generation;
                checked_as = format!("detected from {}", found.file.display());
            }
            Err(e) => notes.push(format!(
                "! cannot tell which token plugin Prosody runs: {e}; checking as the newest known"
            )),
        }
    }
    a.settings.apply(&mut settings);
    if let Some(generation) = a.jitsi {
        settings.generation = generation;
        checked_as = "as --jitsi says".into();
    }
    notes.insert(
        0,
        format!(
            "checked as {} ({checked_as})",
            settings.generation.describe()
        ),
    );
    notes.iter_mut().for_each(|n| redactions.scrub_in(n));
    Ok(Prosody {
        settings,
        key_server,
        notes,
        redactions,
    })
}

pub(super) fn run(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let token = token_text(a.token.as_deref())?;
    let Prosody {
        mut settings,
        key_server: mut config_server,
        notes,
        redactions,
    } = prosody_settings(&a.prosody, (&a.fetch).into())?;
    if a.domain.is_some() {
        settings.domain.clone_from(&a.domain);
    }
    settings.tenant.clone_from(&a.tenant);
    settings.room.clone_from(&a.room);
    let secret = match (&a.app_secret, &a.app_secret_file) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--app-secret-file {}: cannot read it", path.display()))?;
            Some(text.strip_suffix('\n').unwrap_or(&text).to_owned())
        }
        (None, None) => None,
    };
    if let Some(secret) = secret {
        settings.app_secret = Some(secret);
        if a.prosody.settings.algorithm.is_none() {
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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs();
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
            let layout = Layout {
                indent: "",
                width: 16,
            };
            check::write_text(out, &report.checks, layout)?;
            writeln!(out, "{}", report.verdict())?;
        }
        Ok(())
    })
}
