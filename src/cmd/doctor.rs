//! `asap-keyserver doctor`: findings grouped by what was looked at.

use crate::cli::DoctorArgs;
use crate::doctor::{self, Finding};
use crate::fetch;
use crate::prosody_config::{Config, Read, TokenOptions};
use crate::verify::Status;
use std::io::Write as _;
use std::process::ExitCode;

pub(super) fn run(a: DoctorArgs) -> anyhow::Result<ExitCode> {
    let dir = &a.dir.path;
    let mut sections: Vec<(String, Vec<Finding>)> = Vec::new();
    let state = a.state.clone().or_else(|| doctor::default_state_path(dir));
    let mut seen = state.as_deref().map(doctor::load_state).unwrap_or_default();
    let mut keys = doctor::check_keys(dir, &mut seen);
    if let Some(path) = &state {
        if let Err(e) = doctor::save_state(path, &seen) {
            keys.push(Finding {
                status: Status::Warn,
                subject: path.display().to_string(),
                message: format!("cannot remember fingerprints for the next run: {e}"),
                fix: Some("pass --state FILE in a writable place".into()),
            });
        }
    }
    sections.push((format!("Key directory {}", dir.display()), keys));

    let options = fetch::Options {
        timeout: a.fetch.timeout,
        ca_file: a.fetch.ca_file.clone(),
    };
    let mut key_server = a.url.clone();
    let mut paste = None;
    if let Some(path) = &a.prosody_config {
        let config = Config::load(path)?;
        let o = TokenOptions::read(&config, a.host.as_deref())?;
        let set = crate::keygen::scan_or_empty(dir)?;
        let mut issuers: Vec<String> = set
            .keys()
            .map(|k| crate::kid::issuer(&k.kid).to_owned())
            .collect();
        issuers.dedup();
        sections.push((
            format!(
                "Prosody config {} (VirtualHost {:?})",
                path.display(),
                o.host
            ),
            doctor::check_prosody(&o, &issuers),
        ));
        if let (None, Read::Set(url)) = (&key_server, &o.asap_key_server) {
            key_server = Some(url.clone());
        }
        let issuer = issuers.first().cloned().unwrap_or_else(|| "jitsi".into());
        let server = key_server
            .clone()
            .unwrap_or_else(|| "https://keys.example.com".into());
        paste = Some(crate::prosody::config_lines(&issuer, &server));
    }
    if let Some(url) = &key_server {
        sections.push((
            format!("Key server {url}"),
            doctor::check_server(dir, url, &options),
        ));
    }

    let all: Vec<&Finding> = sections.iter().flat_map(|(_, f)| f).collect();
    let failures = all.iter().filter(|f| f.status == Status::Fail).count();
    let warnings = all.iter().filter(|f| f.status == Status::Warn).count();
    let mut out = std::io::stdout().lock();
    if a.json {
        let doc = serde_json::json!({
            "ok": failures == 0,
            "failures": failures,
            "warnings": warnings,
            "sections": sections.iter().map(|(t, f)| serde_json::json!({"title": t, "findings": f})).collect::<Vec<_>>(),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        for (title, findings) in &sections {
            writeln!(out, "{title}")?;
            for f in findings {
                writeln!(out, "  {} {}  {}", f.status.symbol(), f.subject, f.message)?;
                if let (Some(fix), false) = (&f.fix, f.status == Status::Pass) {
                    writeln!(out, "      fix: {fix}")?;
                }
            }
            writeln!(out)?;
        }
        if let Some(lines) = &paste {
            writeln!(out, "Lines for the token VirtualHost:\n{lines}")?;
        }
        let verdict = if failures == 0 {
            "no problems"
        } else {
            "PROBLEMS FOUND"
        };
        writeln!(
            out,
            "{verdict}: {failures} problem(s), {warnings} warning(s)"
        )?;
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
