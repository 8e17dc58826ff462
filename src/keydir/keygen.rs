//! Making and retiring keys in the key directory: `keygen`, `rotate`, `prune`.
//!
//! Prosody caches a key by kid until it restarts, so these functions never
//! reuse a kid: `create` refuses an existing one, `rotate` picks the next
//! free dated kid, and `prune` only ever removes older keys of an issuer.

use super::{KeyEntry, KeySet};
use crate::error::Error;
use crate::keys;
use crate::kid;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
/// (PKCS#8, mode 0600, atomically). Refuses an existing kid.
pub fn create(dir: &Path, kid: &str, bits: usize) -> Result<NewKey, Error> {
    let path = kid::file_path(dir, kid).map_err(|source| Error::BadKid {
        kid: kid.to_owned(),
        source,
    })?;
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
    Ok(())
}

/// The kid `rotate` would create for `issuer` on `date`: `ISSUER/DATE`, or
/// `ISSUER/DATE.02`, `.03`, ... when taken, so kid sort order stays age order.
pub fn next_kid(dir: &Path, issuer: &str, date: &str) -> Result<String, Error> {
    check_issuer(issuer)?;
    let base = format!("{issuer}/{date}");
    kid::validate(&base).map_err(|source| Error::BadKid {
        kid: base.clone(),
        source,
    })?;
    let free =
        |kid: &str| kid::file_path(dir, kid).is_ok_and(|path| path.symlink_metadata().is_err());
    if free(&base) {
        return Ok(base);
    }
    (2..=99)
        .map(|n| format!("{base}.{n:02}"))
        .find(|kid| free(kid))
        .ok_or_else(|| Error::TooManyKeysToday {
            issuer: issuer.to_owned(),
            date: date.to_owned(),
        })
}

/// What `prune` keeps and removes.
#[derive(Debug, Clone)]
pub struct PrunePlan {
    /// Kept, newest last.
    pub keep: Vec<Arc<KeyEntry>>,
    /// To remove, oldest first.
    pub remove: Vec<Arc<KeyEntry>>,
}

/// Plans removing all but the newest `keep` private keys of `issuer`.
pub fn prune_plan(dir: &Path, issuer: &str, keep: usize) -> Result<PrunePlan, Error> {
    if keep == 0 {
        return Err(Error::PruneKeepZero);
    }
    check_issuer(issuer)?;
    let set = KeySet::load(dir)?;
    let mut all: Vec<_> = set.issuer_keys(issuer).cloned().collect();
    if all.is_empty() {
        return Err(Error::NoKeysForIssuer {
            issuer: issuer.to_owned(),
            dir: dir.to_owned(),
        });
    }
    let split = all.len().saturating_sub(keep);
    let keep = all.split_off(split);
    Ok(PrunePlan { keep, remove: all })
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

/// Creates the 2048-bit key `jitsi/<today>`, so that `serve` on an empty
/// directory serves something at once.
pub fn create_first(dir: &Path) -> Result<NewKey, Error> {
    create(dir, &format!("jitsi/{}", utc_date(SystemTime::now())), 2048)
}

/// `yyyy-mm-dd` (UTC) for a time.
pub fn utc_date(t: SystemTime) -> String {
    let days = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // Civil-from-days (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyError;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(utc_date(UNIX_EPOCH), "1970-01-01");
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(1_795_824_000)),
            "2026-11-28"
        );
        assert_eq!(
            utc_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29"
        );
    }

    #[test]
    fn rotation_kids_sort_in_age_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            next_kid(d, "jitsi", "2026-11-28").unwrap(),
            "jitsi/2026-11-28"
        );
        std::fs::create_dir(d.join("jitsi")).unwrap();
        std::fs::write(d.join("jitsi/2026-11-28.pem"), "x").unwrap();
        assert_eq!(
            next_kid(d, "jitsi", "2026-11-28").unwrap(),
            "jitsi/2026-11-28.02"
        );
        std::fs::write(d.join("jitsi/2026-11-28.02.pem"), "x").unwrap();
        let third = next_kid(d, "jitsi", "2026-11-28").unwrap();
        assert_eq!(third, "jitsi/2026-11-28.03");
        let mut order = vec![
            "jitsi/2026-11-29",
            third.as_str(),
            "jitsi/2026-11-28",
            "jitsi/2026-11-28.02",
        ];
        order.sort();
        assert_eq!(
            order,
            [
                "jitsi/2026-11-28",
                "jitsi/2026-11-28.02",
                "jitsi/2026-11-28.03",
                "jitsi/2026-11-29"
            ]
        );
        assert!(matches!(
            next_kid(d, "bad issuer", "2026-11-28"),
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
