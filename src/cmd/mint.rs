//! `asap-keyserver mint`: a token on stdout, warnings on stderr.

use crate::cli::MintArgs;
use crate::keydir::age;
use crate::token::claims::{TokenSpec, User};
use crate::token::mint::{Choice, Minter};
use anyhow::{bail, Context as _};
use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::SystemTime;

fn read_claims(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let (name, text) = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("--claims -: cannot read stdin")?;
        ("stdin".to_owned(), s)
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--claims {}: cannot read it", path.display()))?;
        (path.display().to_string(), text)
    };
    serde_json::from_str(&text).with_context(|| format!("--claims {name}: not valid JSON"))
}

pub(super) fn run(a: MintArgs) -> anyhow::Result<ExitCode> {
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
