//! `asap-keyserver man [--dir DIR]` (hidden): the manual pages, made by
//! `clap_mangen` from the same definitions as `--help`, so they cannot
//! drift from the flags. `scripts/package` installs them with the Debian
//! package.

use crate::cli::{Cli, ManArgs};
use anyhow::Context as _;
use clap::CommandFactory as _;
use std::process::ExitCode;

pub(super) fn run(args: ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    match &args.dir {
        Some(dir) => {
            if !dir.is_dir() {
                anyhow::bail!(
                    "{}: not a folder: create it first (mkdir -p {})",
                    dir.display(),
                    dir.display()
                );
            }
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
        }
    }
    Ok(super::ACCEPTED)
}
