//! `asap-keyserver probe [URL]`: a health check for images without curl.

use crate::cli::ProbeArgs;
use std::process::ExitCode;

pub(super) fn run(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let options = crate::fetch::Options {
        timeout: args.fetch.timeout,
        ca_file: args.fetch.ca_file,
    };
    match crate::fetch::get(&args.url, &options) {
        Ok(r) if r.status == 200 => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("{}: HTTP {}", args.url, r.status);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{}: {e}", args.url);
            Ok(ExitCode::FAILURE)
        }
    }
}
