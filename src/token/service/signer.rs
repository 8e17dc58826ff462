//! The token service's signer: the newest key of an issuer that has been
//! in the key directory for `min_key_age`, chosen from the live key set by
//! the same rule as `mint --issuer --min-key-age` ([`crate::token::choice`]).
//!
//! Where the order of the newest keys cannot be told (two kids without a
//! date whose files were written within a minute of each other: a copy),
//! the signer keeps the key it signed with before, or at its first token
//! the one whose file was written last ([`crate::keydir::age::keep_or_latest`]),
//! warns once per such set of candidates and counts it
//! (`asap_keyserver_newest_unordered_total`): a key added never stops the
//! service, and never moves signing to a guess.
//!
//! Choosing is a lookup in the [`KeySet`] the server already holds. The
//! private key is read from its file on first use and kept, by kid and
//! fingerprint: a kid whose file now holds another key is another cache
//! entry, and a file whose public half is not the one the server serves
//! under that kid (replaced since the last scan) signs nothing, since
//! Prosody would fetch the served key and reject the token.

use crate::keydir::age::epoch_secs;
use crate::keydir::{keygen, KeyEntry, KeySet};
use crate::token::choice::{self, Choice, Picked};
use crate::token::claims::{ClaimsError, TokenSpec};
use crate::token::mint::{ChoiceError, MintError, SigningKey};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The most a private key file may hold.
const KEY_FILE_LIMIT: u64 = 256 * 1024;
/// Cached keys kept before the ones no longer served are dropped.
const CACHE_PRUNE_AT: usize = 64;

/// Why no token was signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No key to choose (none for the issuer, no order).
    #[error(transparent)]
    Choice(ChoiceError),
    /// Every key of the issuer is younger than `min_key_age`.
    #[error("{source}")]
    TooYoung {
        /// What `mint --min-key-age` would say.
        source: ChoiceError,
        /// Until the first of them is old enough.
        retry_after: Duration,
    },
    /// A kid asked for is not served.
    #[error("no key with kid {0:?} in the key directory")]
    UnknownKid(String),
    /// A kid asked for holds only a public key.
    #[error("kid {0:?} holds only a public key: it cannot sign")]
    PublicOnly(String),
    /// The key file cannot be read or parsed.
    #[error("{}: cannot use the private key of {kid}: {problem}", path.display())]
    Unreadable {
        /// The kid.
        kid: String,
        /// Its file.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// The file no longer holds the key served under its kid.
    #[error("{}: the file no longer holds the key served as {kid} (replaced since the last scan): not signing with it until the rescan", path.display())]
    Mismatch {
        /// The kid.
        kid: String,
        /// Its file.
        path: PathBuf,
    },
    /// The claims asked for are not valid.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

impl SignError {
    /// When a retry may succeed: when the first key becomes old enough
    /// for `min_key_age`, or after a moment for a rescan.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SignError::TooYoung { retry_after, .. } => {
                Some((*retry_after).max(Duration::from_secs(1)))
            }
            SignError::Mismatch { .. } => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

impl From<MintError> for SignError {
    fn from(e: MintError) -> Self {
        match e {
            MintError::Claims(c) => SignError::Claims(c),
            MintError::Sign(s) => SignError::Sign(s),
            MintError::Choice(c) => SignError::Choice(c),
            other => SignError::Sign(other.to_string()),
        }
    }
}

/// A choosing error, with when to retry when every candidate is too young.
fn too_young(e: ChoiceError, candidates: &[Arc<KeyEntry>], choice: Choice) -> SignError {
    match e {
        ChoiceError::TooYoung { .. } => {
            let now_ns = choice.now_ns();
            let until = choice::stable_until_ns(candidates, choice).unwrap_or(now_ns);
            SignError::TooYoung {
                source: e,
                retry_after: Duration::from_nanos(until.saturating_sub(now_ns)),
            }
        }
        other => SignError::Choice(other),
    }
}

/// A signed token.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The compact JWT.
    pub token: String,
    /// The kid in its header.
    pub kid: String,
    /// Its `exp` (seconds since the epoch).
    pub exp: u64,
}

/// Signs with the newest old-enough key of an issuer; caches parsed keys.
#[derive(Debug)]
pub struct Signer {
    min_key_age: Duration,
    cache: Mutex<HashMap<KeyId, Arc<SigningKey>>>,
    /// By issuer: the kid it last signed with, and the candidates it was
    /// kept among (empty when the order was known).
    signing: Mutex<HashMap<String, Signing>>,
    /// New sets of candidates whose order could not be told.
    unordered: AtomicU64,
}

/// What an issuer last signed with.
#[derive(Debug, Default)]
struct Signing {
    kid: String,
    unordered: Vec<String>,
}

/// A key material's identity: its kid and the fingerprint of its public half.
type KeyId = (String, [u8; 32]);

impl Signer {
    /// A signer that uses keys only once they have been in the key directory for `min_key_age`.
    pub fn new(min_key_age: Duration) -> Signer {
        Signer {
            min_key_age,
            cache: Mutex::new(HashMap::new()),
            signing: Mutex::new(HashMap::new()),
            unordered: AtomicU64::new(0),
        }
    }

    /// How many times a new set of keys whose order could not be told was
    /// met (each logged once), for `/metrics`.
    pub fn unordered_total(&self) -> u64 {
        self.unordered.load(Ordering::Relaxed)
    }

    /// The minimum age of a signing key.
    pub fn min_key_age(&self) -> Duration {
        self.min_key_age
    }

    /// The key [`Signer::sign`] would use for `issuer` at `now`: the
    /// newest old-enough key, or where their order cannot be told the one
    /// it signed with before (with the candidates in [`Picked::unordered`]).
    pub fn choose(&self, set: &KeySet, issuer: &str, now: SystemTime) -> Result<Picked, SignError> {
        let choice = Choice {
            now,
            min_key_age: self.min_key_age,
        };
        let keep = self
            .signing
            .lock()
            .ok()
            .and_then(|s| s.get(issuer).map(|s| s.kid.clone()));
        choice::newest_keeping(set, issuer, choice, keep.as_deref())
            .map_err(|e| too_young(e, &keygen::signing_candidates(set, issuer), choice))
    }

    /// Signs `spec` with the newest key of `issuer` that has been in the
    /// key directory for `min_key_age` at `now` (see [`Signer::choose`]).
    pub fn sign(
        &self,
        set: &KeySet,
        issuer: &str,
        spec: &TokenSpec,
        now: SystemTime,
    ) -> Result<Signed, SignError> {
        let picked = self.choose(set, issuer, now)?;
        let signed = self.sign_with(set, &picked.key, spec, now)?;
        self.remember(issuer, picked);
        Ok(signed)
    }

    /// Signs `spec` as [`Signer::sign`] does and, with the same key, the
    /// claims `also` makes of that token (an id_token beside Jitsi's token:
    /// one choice of key, so both carry the same kid).
    pub fn sign_pair<T: serde::Serialize>(
        &self,
        set: &KeySet,
        issuer: &str,
        spec: &TokenSpec,
        now: SystemTime,
        also: impl FnOnce(&Signed) -> T,
    ) -> Result<(Signed, String), SignError> {
        let picked = self.choose(set, issuer, now)?;
        let signed = self.sign_with(set, &picked.key, spec, now)?;
        let other = self.key(set, &picked.key)?.sign(&also(&signed))?;
        self.remember(issuer, picked);
        Ok((signed, other))
    }

    /// Records what `issuer` signed with; warns and counts once when the
    /// order of its newest keys cannot be told (a new set of candidates).
    fn remember(&self, issuer: &str, picked: Picked) {
        let Ok(mut signing) = self.signing.lock() else {
            return;
        };
        let last = signing.entry(issuer.to_owned()).or_default();
        if !picked.unordered.is_empty() && picked.unordered != last.unordered {
            self.unordered.fetch_add(1, Ordering::Relaxed);
            let kept = if picked.key.kid == last.kid {
                "the key it signed with before"
            } else {
                "the one whose file was written last"
            };
            tracing::warn!(
                issuer = %issuer,
                candidates = %picked.unordered.join(", "),
                kid = %picked.key.kid,
                "cannot tell which key of the issuer is the newest (their kids' dates do not settle it, and a kid \
                 without a date is newer only when its file was written more than {} after the other's): signing \
                 with {kept}; run `asap-keyserver rotate {issuer}` to make \
                 a key known newer than all of them",
                humantime::format_duration(crate::keydir::age::MTIME_MARGIN)
            );
        }
        if last.kid != picked.key.kid {
            last.kid = picked.key.kid.clone();
        }
        last.unordered = picked.unordered;
    }

    /// Signs `spec` with the key `kid` (which must also have been in the
    /// key directory for `min_key_age`).
    pub fn sign_kid(
        &self,
        set: &KeySet,
        kid: &str,
        spec: &TokenSpec,
        now: SystemTime,
    ) -> Result<Signed, SignError> {
        let entry = set
            .get(kid)
            .ok_or_else(|| SignError::UnknownKid(kid.to_owned()))?;
        if !entry.public.form.is_private() {
            return Err(SignError::PublicOnly(kid.to_owned()));
        }
        let choice = Choice {
            now,
            min_key_age: self.min_key_age,
        };
        let candidates = vec![Arc::clone(entry)];
        let entry = choice::pick(crate::kid::issuer(kid), candidates.clone(), choice)
            .map_err(|e| too_young(e, &candidates, choice))?;
        self.sign_with(set, &entry, spec, now)
    }

    fn sign_with(
        &self,
        set: &KeySet,
        entry: &Arc<KeyEntry>,
        spec: &TokenSpec,
        now: SystemTime,
    ) -> Result<Signed, SignError> {
        let key = self.key(set, entry)?;
        let secs = epoch_secs(now).unwrap_or(0);
        let minted = key.mint(spec, secs)?;
        Ok(Signed {
            token: minted.token,
            kid: entry.kid.clone(),
            exp: minted.built.claims.exp,
        })
    }

    /// The parsed private key of `entry`, from the cache or its file.
    fn key(&self, set: &KeySet, entry: &KeyEntry) -> Result<Arc<SigningKey>, SignError> {
        let id = (entry.kid.clone(), entry.public.fingerprint);
        if let Some(k) = self.cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(k);
        }
        let path = entry.source();
        let unreadable = |problem: String| SignError::Unreadable {
            kid: entry.kid.clone(),
            path: path.clone(),
            problem,
        };
        let pem = crate::keys::read_regular(&path, KEY_FILE_LIMIT)
            .map_err(|e| unreadable(format!("{e:?}")))?;
        let public = crate::keys::decode_public(&pem).map_err(|e| unreadable(e.to_string()))?;
        if public.fingerprint != entry.public.fingerprint {
            return Err(SignError::Mismatch {
                kid: entry.kid.clone(),
                path,
            });
        }
        let key = SigningKey::from_pem(&entry.kid, path.clone(), &pem)
            .map_err(|e| unreadable(e.to_string()))?;
        let key = Arc::new(key);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_PRUNE_AT {
                cache.retain(|(kid, fp), _| {
                    set.get(kid).is_some_and(|e| e.public.fingerprint == *fp)
                });
            }
            cache.insert(id, Arc::clone(&key));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::keygen;

    #[test]
    fn signs_with_the_newest_old_enough_key_and_refuses_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        keygen::create(dir.path(), "jitsi/2026-11-01", 2048).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let signer = Signer::new(Duration::from_secs(3600));
        let err = signer
            .sign(&set, "jitsi", &TokenSpec::default(), SystemTime::now())
            .unwrap_err();
        let wait = err.retry_after().unwrap().as_secs();
        assert!((3500..=3600).contains(&wait), "{wait}: {err}");
        let later = SystemTime::now() + Duration::from_secs(7200);
        let signed = signer
            .sign(&set, "jitsi", &TokenSpec::default(), later)
            .unwrap();
        assert_eq!(signed.kid, "jitsi/2026-11-01");
        // The file replaced by another key, the set not rescanned yet.
        let path = dir.path().join("jitsi/2026-11-01.pem");
        std::fs::remove_file(&path).unwrap();
        keygen::create(dir.path(), "jitsi/2026-11-01", 2048).unwrap();
        let fresh = Signer::new(Duration::ZERO);
        let err = fresh
            .sign(&set, "jitsi", &TokenSpec::default(), later)
            .unwrap_err();
        assert!(matches!(err, SignError::Mismatch { .. }), "{err}");
        // The cached key still matches the served one.
        assert!(signer
            .sign(&set, "jitsi", &TokenSpec::default(), later)
            .is_ok());
    }

    #[test]
    fn keeps_the_key_it_signed_with_where_the_order_cannot_be_told() {
        let dir = tempfile::tempdir().unwrap();
        keygen::create(dir.path(), "jitsi/a", 2048).unwrap();
        let signer = Signer::new(Duration::ZERO);
        let spec = TokenSpec::default();
        let later = SystemTime::now() + Duration::from_secs(5);
        let set = KeySet::load(dir.path()).unwrap();
        assert_eq!(
            signer.sign(&set, "jitsi", &spec, later).unwrap().kid,
            "jitsi/a"
        );
        // b, written within the margin of a (a copy): a keeps signing, once counted.
        keygen::create(dir.path(), "jitsi/b", 2048).unwrap();
        let a_time = std::fs::metadata(dir.path().join("jitsi/a.pem"))
            .unwrap()
            .modified()
            .unwrap();
        let b = dir.path().join("jitsi/b.pem");
        let set_mtime = |t: SystemTime| {
            let f = std::fs::File::options().write(true).open(&b).unwrap();
            f.set_modified(t).unwrap();
        };
        set_mtime(a_time);
        let set = KeySet::load(dir.path()).unwrap();
        for _ in 0..3 {
            assert_eq!(
                signer.sign(&set, "jitsi", &spec, later).unwrap().kid,
                "jitsi/a"
            );
        }
        assert_eq!(signer.unordered_total(), 1);
        let picked = signer.choose(&set, "jitsi", later).unwrap();
        assert_eq!(picked.unordered, ["jitsi/a", "jitsi/b"]);
        // A signer that never signed takes the file written last (same
        // time: the last kid).
        let fresh = Signer::new(Duration::ZERO);
        assert_eq!(
            fresh.sign(&set, "jitsi", &spec, later).unwrap().kid,
            "jitsi/b"
        );
        // b written two minutes after a: known newer, so it signs.
        set_mtime(a_time + Duration::from_secs(120));
        let set = KeySet::load(dir.path()).unwrap();
        let picked = signer.choose(&set, "jitsi", later).unwrap();
        assert!(picked.unordered.is_empty());
        assert_eq!(
            signer.sign(&set, "jitsi", &spec, later).unwrap().kid,
            "jitsi/b"
        );
        assert_eq!(signer.unordered_total(), 1);
    }
}
