//! `asap-keyserver mint`: a token on stdout, warnings on stderr.

use crate::cli::MintArgs;
use crate::keydir::age;
use crate::keys;
use crate::token::claims::{TokenSpec, User};
use crate::token::mint::{Choice, Minter};
use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

/// The most a claims file (or stdin) may hold: claims are a few hundred
/// bytes; a token of a megabyte no browser would carry in a URL.
const CLAIMS_LIMIT: u64 = 1024 * 1024;

fn read_claims(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let (name, read) = if path.as_os_str() == "-" {
        ("stdin".to_owned(), keys::read_stdin(CLAIMS_LIMIT))
    } else {
        (
            path.display().to_string(),
            keys::read_regular(path, CLAIMS_LIMIT),
        )
    };
    let bytes = read.with_context(|| format!("--claims {name}: cannot read it"))?;
    // serde_json's errors say the line and column, never the text.
    serde_json::from_slice(&bytes).with_context(|| format!("--claims {name}: not valid JSON"))
}

pub(super) fn run(a: MintArgs) -> anyhow::Result<ExitCode> {
    if let Some(kid) = &a.kid {
        // The rule keygen and serve's scanner apply: never sign with a kid
        // no key server serves.
        crate::kid::servable_anywhere(kid).map_err(|source| crate::error::Error::BadKid {
            kid: kid.clone(),
            source,
        })?;
    }
    let merge = a.claims.as_deref().map(read_claims).transpose()?;
    let spec = TokenSpec {
        profile: a.profile,
        iss: a.iss,
        aud: a.aud,
        sub: a.sub,
        room: a.room,
        ttl: a.ttl,
        nbf_skew: a.nbf_skew,
        user: User {
            id: a.user_id,
            name: a.name,
            email: a.email,
            avatar: a.avatar,
            affiliation: a.affiliation,
            ..User::default()
        },
        moderator: a.moderator,
        features: a.features,
        group: a.group,
        merge,
        allow_missing: a.allow_missing_claims,
    };
    let minter = Minter::load(&a.dir.path)?;
    let clock = SystemTime::now();
    let choice = Choice {
        now: clock,
        min_key_age: a.min_key_age,
    };
    let key = minter.choose(a.kid.as_deref(), a.issuer.as_deref(), choice)?;
    let now = age::epoch_secs(clock).context("the clock is before 1970")?;
    let minted = minter.mint(&key, &spec, now)?;
    let claims = &minted.built.claims;
    let url = match (&a.url, claims.room.as_deref()) {
        (Some(_), None | Some("*")) => {
            bail!("--url needs --room NAME: a meeting URL names one room, the token names none or \"*\"")
        }
        (Some(base), Some(room)) => Some(format!(
            "{}/{}?jwt={}",
            base.trim_end_matches('/'),
            crate::check::login::meeting::encode(room),
            minted.token
        )),
        (None, _) => None,
    };
    let mut err = std::io::stderr().lock();
    for w in &minted.built.warnings {
        writeln!(err, "warning: {w}")?;
    }
    if a.decode {
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": key.kid });
        writeln!(err, "{}", serde_json::to_string_pretty(&header)?)?;
        writeln!(err, "{}", serde_json::to_string_pretty(claims)?)?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", url.as_deref().unwrap_or(&minted.token))?;
    Ok(ExitCode::SUCCESS)
}
