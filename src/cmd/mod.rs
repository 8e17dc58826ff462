//! The subcommands: each turns checked arguments into work and output.
//! This is the presentation layer; the modules it calls only log. One
//! module per subcommand, and `prosody`: the settings `verify` and `login`
//! both check a token with.
//!
//! Exit status, as ripgrep's: `ACCEPTED` (0) for accepted / no problems,
//! `REJECTED` (1) for rejected / problems found, and 2 for any error
//! (`main` maps every `Err` to it, except a closed stdout pipe, which is
//! success).

mod doctor;
mod explain;
mod export;
mod keygen;
mod list;
mod login;
mod man;
mod mint;
mod probe;
mod prosody;
mod serve;
mod verify;

use crate::cli::Command;
use anyhow::Context as _;
use std::process::ExitCode;

/// Accepted, or no problems found.
pub(crate) const ACCEPTED: ExitCode = ExitCode::SUCCESS;
/// Rejected, or problems found.
pub(crate) const REJECTED: ExitCode = ExitCode::FAILURE;
/// Exit status for any error.
pub const ERROR: u8 = 2;

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args),
        Command::List(args) => list::run(args),
        Command::Keygen(args) => keygen::keygen(args),
        Command::Rotate(args) => keygen::rotate(args),
        Command::Prune(args) => keygen::prune(args),
        Command::Mint(args) => mint::run(*args),
        Command::Verify(args) => verify::run(*args),
        Command::Doctor(args) => doctor::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Login(args) => login::run(*args),
        Command::Export(args) => export::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// The most stdin may hold for a token (or a meeting URL with one): real
/// tokens are a few kilobytes.
const TOKEN_LIMIT: u64 = 1024 * 1024;

/// The token from an argument, a meeting URL, or stdin (`verify` and
/// `login`).
fn token_text(arg: Option<&str>) -> anyhow::Result<String> {
    let raw = match arg {
        None | Some("-") => {
            let bytes =
                crate::keys::read_stdin(TOKEN_LIMIT).context("cannot read the token from stdin")?;
            String::from_utf8(bytes).context("the token on stdin is not UTF-8 text")?
        }
        Some(t) => t.to_owned(),
    };
    Ok(crate::check::login::meeting::token_in(&raw).to_owned())
}

/// Writes a command's report to stdout, then exits with `code`, the
/// verdict, which a reader that stopped early (`| grep -q`, `| head -1`)
/// does not change.
fn report(
    code: ExitCode,
    write: impl FnOnce(&mut std::io::StdoutLock<'static>) -> anyhow::Result<()>,
) -> anyhow::Result<ExitCode> {
    match write(&mut std::io::stdout().lock()) {
        Err(e) if !is_broken_pipe(&e) => Err(e),
        _ => Ok(code),
    }
}

/// Whether `error` comes from writing to a closed pipe (`... | head -1`),
/// which ends the output early but is no failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
