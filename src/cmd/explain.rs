//! `asap-keyserver explain`: the token failures in Prosody's log, by cause.

use crate::check::explain;
use crate::cli::ExplainArgs;
use std::io::Write as _;
use std::process::ExitCode;

pub(super) fn run(a: ExplainArgs) -> anyhow::Result<ExitCode> {
    let summary = explain::read(a.file.as_deref())?;
    let code = if summary.failures() == 0 {
        super::ACCEPTED
    } else {
        super::REJECTED
    };
    super::report(code, |out| {
        if a.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&summary.to_json())?)?;
        } else {
            summary.write_text(out)?;
        }
        Ok(())
    })
}
