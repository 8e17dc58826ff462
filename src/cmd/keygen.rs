//! `keygen`, `rotate` and `prune`: make and retire keys, and say what to do next.

use crate::cli::{KeygenArgs, PruneArgs, RotateArgs};
use crate::error::Error;
use crate::keydir::age;
use crate::keydir::keygen::{self, Kept, NewKey};
use crate::keydir::KeySet;
use crate::{keys, kid, prosody};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

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
        // Like `cp`: a missing folder is more likely a typo than a wish,
        // and keygen often runs as root (folders it made would be root's).
        let folder = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !folder.exists() {
            if !args.parents {
                return Err(Error::NoOutputFolder {
                    path: path.clone(),
                    folder: folder.to_owned(),
                }
                .into());
            }
            std::fs::create_dir_all(folder).map_err(|source| Error::WriteKey {
                path: path.clone(),
                source,
            })?;
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
    let before = keygen::signing_candidates(&set, &args.issuer);
    let next = keygen::next_kid(&set, dir, &args.issuer, SystemTime::now())?;
    keygen::wait_until(next.not_before);
    let key = keygen::create(dir, &next.kid, args.bits)?;
    let kid = &key.kid;
    // What `mint --issuer` picks now, by the same rule it uses.
    let picked = age::newest(&keygen::signing_candidates(
        &KeySet::load(dir)?,
        &args.issuer,
    ));
    let mut out = std::io::stdout().lock();
    created(&mut out, &key)?;
    match &picked {
        Ok(k) if &k.kid == kid => {}
        Ok(k) => writeln!(out, "warning: `mint --issuer {}` picks {} (its file time is later than this key's): sign with --kid {kid}\n", args.issuer, k.kid)?,
        Err(age::NoNewest::Unknown { candidates }) => writeln!(out, "warning: `mint --issuer {}` cannot tell which \
            of {} is newest: sign with --kid {kid}\n", args.issuer, candidates.join(", "))?,
        Err(age::NoNewest::Empty) => {}
    }
    writeln!(out, "Next:")?;
    writeln!(
        out,
        "  1. A running `serve` publishes it at once. Sign new tokens with it: `mint --issuer {}`\n     picks it \
            (the newest by kid date and file time), or --kid {kid}.",
        args.issuer
    )?;
    writeln!(
        out,
        "     With several key server replicas (a Kubernetes Secret reaches each up to a minute apart)\n     or \
            a Prosody reading only cache_keys_url, sign with --min-key-age (README: Rotation)."
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
            "  3. Then: asap-keyserver prune {} --yes (keeps the newest key, and every key that was\n     the newest less than --min-age, 24h by default, ago)",
            args.issuer
        )?;
        write!(out, "{}", REVOCATION)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `prune` keeps a key, in words.
fn kept_because(why: &Kept, keep: usize, min_age: &str, now: SystemTime) -> String {
    match why {
        Kept::Newest { newer: 0 } => "no key is known newer".to_owned(),
        Kept::Newest { newer } => format!("one of the {keep} newest ({newer} known newer)"),
        Kept::Young => format!("may have been made less than --min-age {min_age} ago"),
        Kept::RecentlySuperseded { since_ns } => {
            let since = UNIX_EPOCH + std::time::Duration::from_nanos(*since_ns);
            let ago = now.duration_since(since).unwrap_or_default();
            format!(
                "the newest until {} ago: tokens it signed may still be alive (--min-age {min_age})",
                crate::cli::show_duration(ago)
            )
        }
    }
}

pub(super) fn prune(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir.path;
    let now = SystemTime::now();
    let set = KeySet::load(dir)?;
    let plan = keygen::prune_plan(&set, dir, &args.issuer, args.keep, args.min_age, now)?;
    let min_age = crate::cli::show_duration(args.min_age);
    let mut out = std::io::stdout().lock();
    for (k, why) in &plan.keep {
        writeln!(
            out,
            "keep          {}  {}  ({})",
            k.kid,
            k.source().display(),
            kept_because(why, args.keep, &min_age, now)
        )?;
    }
    if plan.remove.is_empty() {
        writeln!(
            out,
            "nothing to remove: issuer {:?} has {} key(s), all kept for the reasons above",
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
        writeln!(out, "{verb:<12}  {}  {}", k.kid, k.source().display())?;
    }
    writeln!(out)?;
    write!(out, "Note:\n{REVOCATION}")?;
    if !args.yes {
        writeln!(out, "Dry run: nothing was removed. Add --yes to remove.")?;
    }
    Ok(ExitCode::SUCCESS)
}
