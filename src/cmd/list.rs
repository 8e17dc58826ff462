//! `asap-keyserver list`: what `serve` would serve from a key directory.

use crate::cli::ListArgs;
use crate::error::shown;
use crate::keydir::KeySet;
use std::io::Write as _;
use std::process::ExitCode;

pub(super) fn run(args: ListArgs) -> anyhow::Result<ExitCode> {
    let set = KeySet::load(&args.dir.path)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &as_json(&set))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if set.is_empty() {
        writeln!(out, "no keys in {}", args.dir.path.display())?;
    } else {
        let width = set.keys().map(|k| k.kid.len()).max().unwrap_or(3).max(3);
        writeln!(
            out,
            "{:width$}  {:69}  {:7}  {:>5}  FILE",
            "KID", "PATH", "KIND", "BITS"
        )?;
        for k in set.keys() {
            writeln!(
                out,
                "{:width$}  /{:68}  {:7}  {:>5}  {}",
                k.kid,
                k.url_path(),
                k.public.form.kind(),
                k.public.bits,
                shown(&k.source())
            )?;
        }
    }
    for s in set.skipped() {
        let last = if s.serving_last_good {
            " (its last good key is still served)"
        } else {
            ""
        };
        writeln!(out, "skipped  {}: {}{last}", shown(&s.path), s.reason)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn as_json(set: &KeySet) -> serde_json::Value {
    let keys: Vec<_> = set
        .keys()
        .map(|k| {
            serde_json::json!({
                "kid": k.kid,
                "path": format!("/{}", k.url_path()),
                "kind": k.public.form.kind(),
                "form": k.public.form,
                "bits": k.public.bits,
                "file": k.source(),
                "mode": format!("{:04o}", k.mode),
                "fingerprint": hex::encode(k.public.fingerprint),
            })
        })
        .collect();
    let skipped: Vec<_> = set
        .skipped()
        .iter()
        .map(|s| {
            serde_json::json!({
                "file": s.path,
                "reason": s.reason.to_string(),
                "code": s.reason.label(),
                "serving_last_good": s.serving_last_good,
            })
        })
        .collect();
    serde_json::json!({ "keys": keys, "skipped": skipped })
}
