//! The subcommands: each turns checked arguments into work and output.
//! This is the presentation layer; the modules it calls only log.

mod list;
mod serve;

use crate::cli::Command;
use std::process::ExitCode;

/// Runs one subcommand.
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args),
        Command::List(args) => list::run(args),
    }
}
