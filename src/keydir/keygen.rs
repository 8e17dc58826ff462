//! Making and retiring keys in the key directory: `keygen`, `rotate`, `prune`.
//!
//! Prosody caches a key by kid until it restarts, so these functions never
//! reuse a kid: `create` refuses an existing one, `rotate` names its key so
//! that it is known newer than every key before it, and `prune` only
//! removes keys known older than the ones kept (the order of
//! [`super::age`], never the order kids sort in).

use super::age::{self, Made};
use super::{KeyEntry, KeySet};
use crate::error::Error;
use crate::keys;
use crate::kid;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NS: u64 = 1_000_000_000;

/// A key just written.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Its kid.
    pub kid: String,
    /// The private key file.
    pub path: PathBuf,
    /// `<sha256(kid)>.pem`.
    pub url_path: String,
    /// Modulus size.
    pub bits: usize,
    /// The public key, SPKI PEM.
    pub public_pem: String,
}

/// Generates an RSA key of `bits` and writes it as `<dir>/<kid>.pem`
/// (PKCS#8, mode 0600, atomically). Refuses an existing kid, and a kid
/// `serve` would not serve (`kid::servable_anywhere`: the rule its
/// scanner applies, with every route `serve` may answer).
pub fn create(dir: &Path, kid: &str, bits: usize) -> Result<NewKey, Error> {
    let bad = |source| Error::BadKid {
        kid: kid.to_owned(),
        source,
    };
    kid::servable_anywhere(kid).map_err(bad)?;
    let path = kid::file_path(dir, kid).map_err(bad)?;
    let exists = |path: &Path| Error::KidExists {
        kid: kid.to_owned(),
        path: path.to_owned(),
    };
    if path.symlink_metadata().is_ok() {
        return Err(exists(&path));
    }
    let pem = keys::generate_pkcs8_pem(bits).map_err(Error::Keygen)?;
    let public = keys::decode_public(pem.as_bytes()).map_err(Error::Keygen)?;
    keys::write_new_private_key(&path, &pem).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            exists(&path)
        } else {
            Error::WriteKey {
                path: path.clone(),
                source,
            }
        }
    })?;
    Ok(NewKey {
        url_path: kid::prosody_path(kid),
        kid: kid.to_owned(),
        path,
        bits: public.bits,
        public_pem: public.spki_pem(),
    })
}

/// An issuer is one kid segment: `jitsi`, never `a/b` or `..`.
fn check_issuer(issuer: &str) -> Result<(), Error> {
    let bad = |source| Error::BadKid {
        kid: issuer.to_owned(),
        source,
    };
    kid::validate(issuer).map_err(bad)?;
    if issuer.contains('/') {
        return Err(bad(kid::KidError::IssuerSegment));
    }
    if issuer.starts_with('.') {
        return Err(bad(kid::KidError::Hidden(issuer.to_owned())));
    }
    Ok(())
}

/// How sure `rotate` is of the key it makes: the kid, and the moment it
/// may be written (its name's day or second must have begun).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextKid {
    /// The kid to create.
    pub kid: String,
    /// Write the key no earlier than this.
    pub not_before: SystemTime,
}

/// The kid `rotate` creates for `issuer` at `now`, known newer than every
/// key of the issuer in `set` (see [`super::age`]), whatever their names:
/// `ISSUER/<today>` when today began after every one of them was made (its
/// file last written), else `ISSUER/<today>T<hhmmss>Z` for the first second
/// after all of them, which may be up to two seconds ahead.
pub fn next_kid(set: &KeySet, dir: &Path, issuer: &str, now: SystemTime) -> Result<NextKid, Error> {
    check_issuer(issuer)?;
    let mut latest: Option<(u64, &str)> = None;
    for k in set.keys().filter(|k| kid::in_issuer(&k.kid, issuer)) {
        let end = Made::of_entry(k).latest;
        if latest.is_none_or(|(t, _)| end > t) {
            latest = Some((end, &k.kid));
        }
    }
    let latest_ns = latest.map_or(0, |(t, _)| t);
    let free = |kid: &str| {
        kid::validate(kid).is_ok()
            && kid::file_path(dir, kid).is_ok_and(|path| path.symlink_metadata().is_err())
    };
    let day = format!("{issuer}/{}", kid::day_name(now));
    if let Some(named) = kid::named_time(&day) {
        if named.start.saturating_mul(NS) > latest_ns && free(&day) {
            return Ok(NextKid {
                kid: day,
                not_before: now,
            });
        }
    }
    let now_secs = age::epoch_secs(now).unwrap_or(0);
    let first = now_secs.max(latest_ns / NS + 1);
    if first > now_secs + 2 {
        let (_, newest) = latest.unwrap_or((0, ""));
        return Err(Error::KeyFromTheFuture {
            kid: newest.to_owned(),
            time: humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(latest_ns))
                .to_string(),
        });
    }
    (first..first + 10)
        .map(|s| {
            (
                s,
                format!(
                    "{issuer}/{}",
                    kid::second_name(UNIX_EPOCH + Duration::from_secs(s))
                ),
            )
        })
        .find(|(_, kid)| free(kid))
        .map(|(s, kid)| NextKid {
            kid,
            not_before: UNIX_EPOCH + Duration::from_secs(s),
        })
        .ok_or_else(|| Error::KidExists {
            kid: format!("{issuer}/{}", kid::second_name(now)),
            path: dir.join(issuer),
        })
}

/// The private keys `mint --issuer` chooses from: directly under `<issuer>/`.
pub fn signing_candidates(set: &KeySet, issuer: &str) -> Vec<Arc<KeyEntry>> {
    set.issuer_keys(issuer).into_iter().cloned().collect()
}

/// Why `prune` keeps a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Fewer than `--keep` keys are known newer (the newest, or one whose
    /// order cannot be told).
    Newest {
        /// How many keys are known newer.
        newer: usize,
    },
    /// It may have been made less than `--min-age` ago.
    Young,
    /// It was the newest less than `--min-age` ago: tokens it signed may
    /// still be alive.
    RecentlySuperseded {
        /// When the first newer key appeared (ns since the epoch), at the latest.
        since_ns: u64,
    },
}

/// What `prune` keeps and removes.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    /// Kept, with the reason, in kid order.
    pub keep: Vec<(Arc<KeyEntry>, Kept)>,
    /// To remove, in kid order.
    pub remove: Vec<Arc<KeyEntry>>,
}

/// What `prune` may do to the private keys of `issuer` at `now`: remove
/// those with at least `keep` keys known newer (so never the key `mint
/// --issuer` picks), made at least `min_age` ago, and superseded at least
/// `min_age` ago.
pub fn prune_plan(
    set: &KeySet,
    dir: &Path,
    issuer: &str,
    keep: usize,
    min_age: Duration,
    now: SystemTime,
) -> Result<PrunePlan, Error> {
    if keep == 0 {
        return Err(Error::PruneKeepZero);
    }
    check_issuer(issuer)?;
    let all = signing_candidates(set, issuer);
    if all.is_empty() {
        return Err(Error::NoKeysForIssuer {
            issuer: issuer.to_owned(),
            dir: dir.to_owned(),
        });
    }
    let now_ns = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let cutoff = now_ns.saturating_sub(min_age.as_nanos() as u64);
    let mut plan = PrunePlan {
        keep: Vec::new(),
        remove: Vec::new(),
    };
    for r in age::rank(&all) {
        let kept = if r.newer < keep {
            Some(Kept::Newest { newer: r.newer })
        } else if r.made.latest > cutoff {
            Some(Kept::Young)
        } else {
            r.superseded_ns
                .filter(|&since| since > cutoff)
                .map(|since_ns| Kept::RecentlySuperseded { since_ns })
        };
        match kept {
            Some(why) => plan.keep.push((r.key, why)),
            None => plan.remove.push(r.key),
        }
    }
    Ok(plan)
}

/// Removes the files of `plan.remove`.
pub fn prune(plan: &PrunePlan) -> Result<(), Error> {
    for key in &plan.remove {
        std::fs::remove_file(key.source()).map_err(|source| Error::WriteKey {
            path: key.source().clone(),
            source,
        })?;
    }
    Ok(())
}

/// Creates a first 2048-bit key of issuer `jitsi` (`jitsi/<today>`), so
/// that `serve` on an empty directory serves something at once.
pub fn create_first(dir: &Path) -> Result<NewKey, Error> {
    let next = next_kid(
        &KeySet::load_or_empty(dir)?,
        dir,
        "jitsi",
        SystemTime::now(),
    )?;
    wait_until(next.not_before);
    create(dir, &next.kid, 2048)
}

/// Sleeps until `t` (a second or two at most, from [`next_kid`]).
pub fn wait_until(t: SystemTime) {
    if let Ok(left) = t.duration_since(SystemTime::now()) {
        std::thread::sleep(left.min(Duration::from_secs(3)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyError;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }
    /// 2026-12-01T00:00:00Z.
    const DEC1: u64 = 1_796_083_200;

    fn touch(path: &Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(at(secs)).unwrap();
    }

    #[test]
    fn rotation_kids_are_newer_than_every_key_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let next =
            |now: u64| next_kid(&KeySet::load_or_empty(d).unwrap(), d, "acme", at(now)).unwrap();
        assert_eq!(next(DEC1 + 60).kid, "acme/2026-12-01");
        // A key written yesterday: today's name is known newer.
        create(d, "acme/zzz", 2048).unwrap();
        touch(&d.join("acme/zzz.pem"), DEC1 - 10);
        assert_eq!(next(DEC1 + 60).kid, "acme/2026-12-01");
        // Written today: the day could be older, the second after it is not.
        touch(&d.join("acme/zzz.pem"), DEC1 + 50);
        let n = next(DEC1 + 60);
        assert_eq!(
            (n.kid.as_str(), n.not_before),
            ("acme/2026-12-01T000100Z", at(DEC1 + 60))
        );
        // Written in the same second: wait for the next one.
        touch(&d.join("acme/zzz.pem"), DEC1 + 60);
        let n = next(DEC1 + 60);
        assert_eq!(
            (n.kid.as_str(), n.not_before),
            ("acme/2026-12-01T000101Z", at(DEC1 + 61))
        );
        // A file from the future: refuse, naming it.
        touch(&d.join("acme/zzz.pem"), DEC1 + 3600);
        let err = next_kid(&KeySet::load(d).unwrap(), d, "acme", at(DEC1 + 60)).unwrap_err();
        assert!(err.to_string().contains("acme/zzz"), "{err}");
        assert!(matches!(
            next_kid(&KeySet::empty(), d, "bad issuer", at(DEC1)),
            Err(Error::BadKid { .. })
        ));
    }

    #[test]
    fn create_refuses_an_existing_kid_and_bad_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let k = create(dir.path(), "iss/a", 2048).unwrap();
        assert_eq!(k.bits, 2048);
        assert!(matches!(
            create(dir.path(), "iss/a", 2048),
            Err(Error::KidExists { .. })
        ));
        assert!(matches!(
            create(dir.path(), "iss/b", 1024),
            Err(Error::Keygen(KeyError::UnsupportedSize(1024)))
        ));
        assert!(!dir.path().join("iss/b.pem").exists());
    }
}
