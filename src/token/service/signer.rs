//! The token service's signer: the newest key of an issuer that has been
//! in the key directory for `min_key_age`, chosen from the live key set by
//! the same rule as `mint --issuer --min-key-age` ([`crate::token::choice`]).
//!
//! Choosing is a lookup in the [`KeySet`] the server already holds. The
//! private key is read from its file on first use and kept, by kid and
//! fingerprint: a kid whose file now holds another key is another cache
//! entry, and a file whose public half is not the one the server serves
//! under that kid (replaced since the last scan) signs nothing, since
//! Prosody would fetch the served key and reject the token.

use crate::keydir::age::epoch_secs;
use crate::keydir::{keygen, KeyEntry, KeySet};
use crate::token::choice::{self, Choice};
use crate::token::claims::{Built, ClaimsError, TokenSpec};
use crate::token::mint::{ChoiceError, MintError, SigningKey};
use std::collections::HashMap;
use std::path::PathBuf;
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
    /// The claims signed, and warnings about them.
    pub built: Built,
}

/// Signs with the newest old-enough key of an issuer; caches parsed keys.
#[derive(Debug)]
pub struct Signer {
    min_key_age: Duration,
    cache: Mutex<HashMap<KeyId, Arc<SigningKey>>>,
}

/// A key material's identity: its kid and the fingerprint of its public half.
type KeyId = (String, [u8; 32]);

impl Signer {
    /// A signer that uses keys only once they have been in the key directory for `min_key_age`.
    pub fn new(min_key_age: Duration) -> Signer {
        Signer {
            min_key_age,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The minimum age of a signing key.
    pub fn min_key_age(&self) -> Duration {
        self.min_key_age
    }

    /// The key [`Signer::sign`] would use for `issuer` at `now`.
    pub fn choose(
        &self,
        set: &KeySet,
        issuer: &str,
        now: SystemTime,
    ) -> Result<Arc<KeyEntry>, SignError> {
        let choice = Choice {
            now,
            min_key_age: self.min_key_age,
        };
        choice::newest(set, issuer, choice)
            .map_err(|e| too_young(e, &keygen::signing_candidates(set, issuer), choice))
    }

    /// Signs `spec` with the newest key of `issuer` that has been in the
    /// key directory for `min_key_age` at `now`.
    pub fn sign(
        &self,
        set: &KeySet,
        issuer: &str,
        spec: &TokenSpec,
        now: SystemTime,
    ) -> Result<Signed, SignError> {
        let entry = self.choose(set, issuer, now)?;
        self.sign_with(set, &entry, spec, now)
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
            built: minted.built,
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
}
