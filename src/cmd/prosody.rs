//! Prosody's settings as `verify` and `login` check a token with them: its
//! config (`--prosody-config`, read as [`TokenOptions`]), then the token
//! options given as flags (`cli::check::TokenOptionArgs`)
//! over it, then the token plugin generation.

use crate::check::fetch;
use crate::check::generation;
use crate::check::verify::Settings;
use crate::cli::ProsodyArgs;
use crate::prosody::config::{Config, Redactions, TokenOptions};

/// Prosody's settings as `--prosody-config` and the flags give them.
pub(super) struct ProsodySettings {
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
pub(super) fn read(a: &ProsodyArgs, fetch: fetch::Options) -> anyhow::Result<ProsodySettings> {
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
    a.options.apply(&mut settings);
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
    Ok(ProsodySettings {
        settings,
        key_server,
        notes,
        redactions,
    })
}
