//! `keygen`, `rotate` and `prune`: make and retire keys, and say what to do next.

use crate::cli::{KeygenArgs, PruneArgs, RotateArgs};
use crate::error::Error;
use crate::keydir::keygen::{self, utc_date, NewKey};
use crate::keydir::KeySet;
use crate::{keys, kid, prosody};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

/// What removing a key means for Prosody, under each set-up.
const REVOCATION: &str = "\
     With asap_key_server alone (any token plugin): Prosody caches each key by kid until it
     restarts, so a removed key keeps working there until then; restart Prosody if it leaked.
     With cache_keys_url at this server's JWKS (token plugin 2025-11 and later): a removed kid
     stops working about 90 minutes after Prosody's next JWKS refresh (every 5 minutes by
     default), unless that Prosody had also fetched it through asap_key_server.
     Never reuse a kid for another key.
";

fn created(out: &mut impl std::io::Write, key: &NewKey) -> std::io::Result<()> {
    writeln!(
        out,
        "created kid {} (RSA-{}, PKCS#8, mode 0600)",
        key.kid, key.bits
    )?;
    writeln!(out, "  file      {}", key.path.display())?;
    writeln!(out, "  url path  /{}", key.url_path)?;
    writeln!(out)
}

fn describe(out: &mut impl std::io::Write, key: &NewKey, key_server: &str) -> std::io::Result<()> {
    created(out, key)?;
    writeln!(out, "Prosody (token VirtualHost), if not configured yet:")?;
    write!(
        out,
        "{}",
        prosody::config_lines(kid::issuer(&key.kid), key_server)
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Mint a token:  asap-keyserver mint --kid {} --room <room>",
        key.kid
    )
}

pub(super) fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    // Every output is checked before anything is written.
    if let Some(path) = &args.public_out {
        if path.symlink_metadata().is_ok() {
            return Err(Error::OutputExists { path: path.clone() }.into());
        }
    }
    let key = keygen::create(&args.dir.path, &args.kid, args.bits)?;
    let mut out = std::io::stdout().lock();
    if let Some(path) = &args.public_out {
        if let Err(source) = keys::write_new_file(path, key.public_pem.as_bytes(), 0o644) {
            // All or nothing: take the new private key back out.
            let _ = std::fs::remove_file(&key.path);
            return Err(Error::WriteKey {
                path: path.clone(),
                source,
            }
            .into());
        }
        writeln!(out, "wrote public key {}", path.display())?;
    }
    describe(&mut out, &key, &args.public_url)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir.path;
    let set = KeySet::load_or_empty(dir)?;
    let before: Vec<_> = set.issuer_keys(&args.issuer).collect();
    let kid = keygen::next_kid(dir, &args.issuer, &utc_date(SystemTime::now()))?;
    let key = keygen::create(dir, &kid, args.bits)?;
    let mut out = std::io::stdout().lock();
    created(&mut out, &key)?;
    writeln!(out, "Next:")?;
    writeln!(
        out,
        "  1. A running `serve` publishes it within a second; sign new tokens with --kid {kid}"
    )?;
    writeln!(
        out,
        "     (or `mint --issuer {}`, which picks the newest key).",
        args.issuer
    )?;
    if before.is_empty() {
        writeln!(
            out,
            "  2. This is the first key of issuer {:?}: put it in Prosody's asap_accepted_issuers.",
            args.issuer
        )?;
    } else {
        let previous: Vec<_> = before.iter().map(|k| k.kid.as_str()).collect();
        writeln!(
            out,
            "  2. Keep publishing the previous key(s) {} until every token they signed has expired",
            previous.join(", ")
        )?;
        writeln!(out, "     (the longest --ttl you mint; 1h by default).")?;
        writeln!(
            out,
            "  3. Then: asap-keyserver prune {} --keep 1 --yes",
            args.issuer
        )?;
        write!(out, "{}", REVOCATION)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn prune(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let plan = keygen::prune_plan(&args.dir.path, &args.issuer, args.keep)?;
    let mut out = std::io::stdout().lock();
    for k in &plan.keep {
        writeln!(out, "keep    {}  {}", k.kid, k.source().display())?;
    }
    if plan.remove.is_empty() {
        writeln!(
            out,
            "nothing to remove: issuer {:?} has {} key(s)",
            args.issuer,
            plan.keep.len()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.yes { "removed" } else { "would remove" };
    if args.yes {
        keygen::prune(&plan)?;
    }
    for k in &plan.remove {
        writeln!(out, "{verb}  {}  {}", k.kid, k.source().display())?;
    }
    writeln!(out)?;
    write!(out, "Note:\n{REVOCATION}")?;
    if !args.yes {
        writeln!(out, "Dry run: nothing was removed. Add --yes to remove.")?;
    }
    Ok(ExitCode::SUCCESS)
}
