//! `asap-keyserver probe [URL]`: a health check for images without curl.
//! Any answer but 200, and no answer, is "unhealthy" (exit 1, as Docker's
//! HEALTHCHECK expects; it reserves 2).

use crate::check::fetch;
use crate::cli::ProbeArgs;
use std::process::ExitCode;

pub(super) fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    match fetch::get(&args.url, &(&args.fetch).into()) {
        Ok(r) if r.status == 200 => Ok(super::ACCEPTED),
        Ok(r) => {
            eprintln!("{}: HTTP {}", args.url, r.status);
            Ok(super::REJECTED)
        }
        Err(e) => {
            eprintln!("{}: {e}", args.url);
            Ok(super::REJECTED)
        }
    }
}
