//! `asap-keyserver doctor`: findings grouped by what was looked at.

use crate::check::{self, doctor, Columns, Diagnostic, Tally};
use crate::cli::DoctorArgs;
use crate::keydir::KeySet;
use crate::prosody::config::{Config, Redactions, TokenOptions};
use crate::token::service::config::ConfigError;
use crate::token::service::ServiceConfig;
use std::io::Write as _;
use std::process::ExitCode;

pub(super) fn run(a: DoctorArgs) -> anyhow::Result<ExitCode> {
    // Everything fetched is fetched by then (--deadline).
    let deadline = std::time::Instant::now() + a.deadline;
    let options: crate::check::fetch::Options = (&a.fetch).into();
    let dir = &a.dir.path;
    let mut sections: Vec<(String, Vec<Diagnostic>)> = Vec::new();
    let loaded = KeySet::load(dir);
    let empty = KeySet::empty();
    let set = loaded.as_ref().unwrap_or(&empty);

    let state = a.state.clone().or_else(|| doctor::default_state_path(dir));
    let mut seen = state.as_deref().map(doctor::load_state).unwrap_or_default();
    let mut keys = doctor::check_keys(dir, &loaded, &mut seen);
    if let Some(path) = &state {
        if let Err(e) = doctor::save_state(path, &seen) {
            keys.push(
                Diagnostic::warn(
                    path.display().to_string(),
                    format!("cannot remember fingerprints for the next run: {e}"),
                )
                .fix("pass --state FILE in a writable place"),
            );
        }
    }
    sections.push((format!("Key directory {}", dir.display()), keys));

    let mut key_server = a.url.clone();
    let mut cache_keys_url = None;
    let mut paste = None;
    let mut redactions = Redactions::default();
    let mut prosody_options = None;
    if let Some(path) = &a.prosody_config {
        let config = Config::load(path)?;
        redactions = config.redactions.clone();
        let o = TokenOptions::read(&config, a.host.as_deref())?;
        let mut issuers: Vec<String> = set
            .keys()
            .map(|k| crate::kid::issuer(&k.kid).to_owned())
            .collect();
        issuers.sort();
        issuers.dedup();
        let config_dir = path.parent().unwrap_or(std::path::Path::new("."));
        let mut findings = doctor::check_prosody(&o, dir, &issuers);
        let (plugin, generation) = doctor::check_plugin(
            &o,
            config_dir,
            a.url.as_deref(),
            &options.within(deadline).unwrap_or_else(|| options.clone()),
        );
        findings.extend(plugin);
        findings.extend(doctor::check_muc(&o, generation));
        sections.push((
            format!(
                "Prosody config {} (VirtualHost {:?})",
                path.display(),
                o.host
            ),
            findings,
        ));
        if key_server.is_none() {
            key_server = o.asap_key_server.value().cloned();
        }
        // A plugin from before 2025-11 reads cache_keys_url as something
        // else than a JWKS: then there is no JWKS of Prosody's to check.
        let jwks_lines = generation.is_none_or(|g| g.jwks);
        if jwks_lines {
            cache_keys_url = o.cache_keys_url.value().cloned();
        }
        // One tenant's Prosody: the lines name an issuer it accepts.
        let accepted = doctor::accepted_issuers(&o)
            .map(|(list, _)| list)
            .unwrap_or_default();
        let issuer = issuers
            .iter()
            .find(|i| accepted.contains(i))
            .or(issuers.first())
            .map_or("jitsi", String::as_str);
        let server = key_server.as_deref().unwrap_or("https://keys.example.com");
        paste = Some(if jwks_lines {
            crate::prosody::config_lines_with_jwks(issuer, server, set.len())
        } else {
            crate::prosody::config_lines(issuer, server)
        });
        prosody_options = Some(o);
    }
    if let Some(file) = &a.config {
        let findings = match ServiceConfig::check(file) {
            Ok(config) => doctor::check_service(
                &config,
                set,
                prosody_options.as_ref(),
                std::time::SystemTime::now(),
            ),
            // Not a config at all (a FIFO, a device, a secret file): an
            // error in what was asked, as for every other input.
            Err(e @ (ConfigError::Read { .. } | ConfigError::NotConfig { .. })) => {
                return Err(e.into())
            }
            Err(e) => vec![Diagnostic::fail("config", e.to_string())],
        };
        sections.push((format!("Token service {}", file.display()), findings));
    }
    if let Some(url) = &key_server {
        sections.push((
            format!("Key server {url}"),
            doctor::check_server(
                set,
                url,
                &options,
                cache_keys_url.is_some(),
                deadline,
                a.deadline,
            ),
        ));
    }
    let jwks = match (&cache_keys_url, &a.url) {
        (Some(url), _) => Some((url.clone(), true)),
        (None, Some(url)) => Some((
            format!("{}{}", url.trim_end_matches('/'), doctor::JWKS_PATH),
            false,
        )),
        (None, None) => None,
    };
    if let Some((url, configured)) = jwks {
        let findings = match options.within(deadline) {
            Some(options) => doctor::check_jwks(set, &url, &options, configured),
            None => vec![Diagnostic::fail(
                &url,
                format!(
                    "not fetched: the --deadline of {} ran out",
                    humantime::format_duration(a.deadline)
                ),
            )
            .fix("raise --deadline, or find out why the key server answers slowly")],
        };
        sections.push((format!("JWKS {url}"), findings));
    }

    // Run as root on a config others may write: nothing it read from a
    // file is printed.
    for (title, findings) in &mut sections {
        redactions.scrub_in(title);
        findings.iter_mut().for_each(|f| f.redact(&redactions));
    }
    if let Some(lines) = &mut paste {
        redactions.scrub_in(lines);
    }
    let tally = Tally::of(sections.iter().flat_map(|(_, f)| f));
    let code = if tally.failures == 0 {
        super::ACCEPTED
    } else {
        super::REJECTED
    };
    super::report(code, |out| {
        if a.json {
            let doc = serde_json::json!({
                "ok": tally.failures == 0,
                "failures": tally.failures,
                "warnings": tally.warnings,
                "sections": sections.iter().map(|(t, f)| serde_json::json!({"title": t, "findings": check::to_json(f)})).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            return Ok(());
        }
        let columns = Columns {
            indent: "  ",
            width: 0,
        };
        for (title, findings) in &sections {
            writeln!(out, "{title}")?;
            check::write_text(out, findings, columns)?;
            writeln!(out)?;
        }
        if let Some(lines) = &paste {
            writeln!(out, "Lines for the token VirtualHost:\n{lines}")?;
        }
        let verdict = if tally.failures == 0 {
            "no problems"
        } else {
            "PROBLEMS FOUND"
        };
        writeln!(
            out,
            "{verdict}: {} problem(s), {} warning(s)",
            tally.failures, tally.warnings
        )?;
        Ok(())
    })
}
