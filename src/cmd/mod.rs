//! The subcommands: each turns checked arguments into work and output.
//! This is the presentation layer; the modules it calls only log.

mod doctor;
mod export;
mod keys;
mod list;
mod mint;
mod serve;
mod verify;

use crate::cli::Command;
use std::process::ExitCode;

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args),
        Command::List(args) => list::run(args),
        Command::Keygen(args) => keys::keygen(args),
        Command::Rotate(args) => keys::rotate(args),
        Command::Prune(args) => keys::prune(args),
        Command::Mint(args) => mint::run(*args),
        Command::Verify(args) => verify::run(*args),
        Command::Doctor(args) => doctor::run(args),
        Command::Export(args) => export::run(args),
        Command::Probe(args) => {
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
    }
}
