//! `asap-keyserver export OUTDIR`.

use crate::cli::ExportArgs;
use std::io::Write as _;
use std::process::ExitCode;

pub(super) fn run(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let done = crate::keydir::export::export(&a.dir.path, &a.outdir, a.layout)?;
    writeln!(
        std::io::stdout(),
        "exported {} key(s), {} file(s): {} -> {}",
        done.keys,
        done.files,
        a.outdir.display(),
        done.version.display()
    )?;
    for kid in &done.conflicts {
        eprintln!("warning: kid {kid:?} not written in the ASAP layout: another kid uses {kid}/ as a directory");
    }
    Ok(ExitCode::SUCCESS)
}
