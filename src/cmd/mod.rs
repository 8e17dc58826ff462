//! The subcommands: each turns checked arguments into work and output.
//! This is the presentation layer; the modules it calls only log.

mod doctor;
mod export;
mod keys;
mod list;
mod mint;
mod probe;
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
        Command::Probe(args) => probe::run(args),
    }
}
