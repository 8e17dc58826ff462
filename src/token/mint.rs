//! Signing tokens: a [`Minter`] loads the private keys of a key directory
//! once, and each token then costs one RSA signature.
//!
//! jsonwebtoken 11's `encode` re-parses the DER key for every token (a
//! third of the achievable rate), so we sign with an aws-lc-rs key pair
//! parsed once, and assemble `header.payload.signature` ourselves.
//! The header is always `{"alg":"RS256","typ":"JWT","kid":…}`: Prosody
//! rejects any other `typ` and, by default, any other `alg`.

use super::choice::list;
pub use super::choice::{Choice, ChoiceError};
use super::claims::{Built, ClaimsError, TokenSpec};
use crate::keydir::KeySet;
use crate::keys::{self, KeyError, KeyForm};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The key directory could not be read.
    #[error(transparent)]
    Dir(#[from] crate::error::Error),
    /// No private key at all.
    #[error("no private key in {dir}: create one with `asap-keyserver keygen jitsi/<date>` or `asap-keyserver rotate jitsi`")]
    NoPrivateKeys {
        /// The key directory.
        dir: PathBuf,
    },
    /// `--kid` names no key.
    #[error("no key with kid {kid:?}; private keys: {}", list(.choices))]
    KidNotFound {
        /// The kid asked for.
        kid: String,
        /// The kids that could be used.
        choices: Vec<String>,
    },
    /// `--kid` names a public key.
    #[error("kid {kid:?} holds only a public key: minting needs its private key; private keys: {}", list(.choices))]
    PublicOnly {
        /// The kid.
        kid: String,
        /// The kids that could be used.
        choices: Vec<String>,
    },
    /// No key of `--issuer` to sign with (see [`ChoiceError`]).
    #[error(transparent)]
    Choice(#[from] ChoiceError),
    /// Neither `--kid` nor `--issuer`, and more than one issuer.
    #[error("more than one issuer has private keys; choose one with --issuer ({}) or --kid", list(.choices))]
    Ambiguous {
        /// The issuers.
        choices: Vec<String>,
    },
    /// A private key file aws-lc refused.
    #[error("{path}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
    /// The claims are not valid.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    /// Serialising or signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// RS256 over an aws-lc-rs key pair parsed once.
pub struct Rs256Signer {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl Rs256Signer {
    /// Parses a PKCS#8 or PKCS#1 private key (DER).
    pub fn new(form: KeyForm, der: &[u8]) -> Result<Self, KeyError> {
        let pair = match form {
            KeyForm::Pkcs8Private => RsaKeyPair::from_pkcs8(der),
            KeyForm::Pkcs1Private => RsaKeyPair::from_der(der),
            _ => return Err(KeyError::PublicOnly),
        }
        .map_err(|e| KeyError::Malformed(format!("aws-lc refused the private key: {e}")))?;
        Ok(Rs256Signer {
            pair,
            rng: SystemRandom::new(),
        })
    }
}

impl Rs256Signer {
    /// The RSASSA-PKCS1-v1_5 SHA-256 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, MintError> {
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut sig)
            .map_err(|e| MintError::Sign(e.to_string()))?;
        Ok(sig)
    }
}

/// A private key ready to sign tokens with its kid.
pub struct SigningKey {
    /// The kid put in every token header.
    pub kid: String,
    /// The file it came from.
    pub path: PathBuf,
    header_b64: String,
    signer: Rs256Signer,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("path", &self.path)
            .finish()
    }
}

impl SigningKey {
    /// A signing key for `kid` from the bytes of a PEM private key file.
    pub fn from_pem(kid: &str, path: PathBuf, pem: &[u8]) -> Result<Self, KeyError> {
        let (form, der) = keys::private_key_der(pem)?;
        let signer = Rs256Signer::new(form, &der)?;
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        Ok(SigningKey {
            kid: kid.to_owned(),
            path,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            signer,
        })
    }

    /// Builds claims from `spec` at `now` (seconds) and signs them: the one
    /// way `mint`, the mint API and the login bridge make a token.
    pub fn mint(&self, spec: &TokenSpec, now: u64) -> Result<Minted, MintError> {
        let built = spec.build(&self.kid, now, new_jti())?;
        let token = self.sign(&built.claims)?;
        Ok(Minted { token, built })
    }

    /// Signs `claims` into a compact JWT: `header.payload.signature`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, MintError> {
        let payload = serde_json::to_vec(claims).map_err(|e| MintError::Sign(e.to_string()))?;
        let sig_len = self.signer.pair.public_modulus_len().div_ceil(3) * 4;
        let mut token =
            String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + sig_len + 8);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let sig = self.signer.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut token);
        Ok(token)
    }
}

/// A freshly minted token with its claims and warnings.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The compact JWT.
    pub token: String,
    /// What was signed, and what to watch out for.
    pub built: Built,
}

/// The private keys of a key directory, parsed once.
#[derive(Debug)]
pub struct Minter {
    dir: PathBuf,
    keys: BTreeMap<String, Arc<SigningKey>>,
    public_only: BTreeSet<String>,
    /// The keys as scanned: their files' times say which is newest.
    set: KeySet,
}

impl Minter {
    /// Loads every private key in `dir` (scanned as `serve` would).
    pub fn load(dir: &Path) -> Result<Self, MintError> {
        let set = KeySet::load(dir)?;
        let mut keys = BTreeMap::new();
        let mut public_only = BTreeSet::new();
        for entry in set.keys() {
            if !entry.public.form.is_private() {
                public_only.insert(entry.kid.clone());
                continue;
            }
            let pem =
                keys::read_regular(&entry.source(), crate::keydir::MAX_FILE_SIZE).map_err(|e| {
                    MintError::Key {
                        path: entry.source().clone(),
                        source: KeyError::Malformed(e.to_string()),
                    }
                })?;
            let key = SigningKey::from_pem(&entry.kid, entry.source().clone(), &pem).map_err(
                |source| MintError::Key {
                    path: entry.source().clone(),
                    source,
                },
            )?;
            keys.insert(entry.kid.clone(), Arc::new(key));
        }
        Ok(Minter {
            dir: dir.to_owned(),
            keys,
            public_only,
            set,
        })
    }

    fn kids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// The issuers (first kid segments) that have private keys.
    pub fn issuers(&self) -> Vec<String> {
        let set: BTreeSet<_> = self
            .keys
            .keys()
            .map(|k| crate::kid::issuer(k).to_owned())
            .collect();
        set.into_iter().collect()
    }

    /// The key with this kid.
    pub fn key(&self, kid: &str) -> Result<Arc<SigningKey>, MintError> {
        if let Some(k) = self.keys.get(kid) {
            return Ok(Arc::clone(k));
        }
        if self.public_only.contains(kid) {
            return Err(MintError::PublicOnly {
                kid: kid.to_owned(),
                choices: self.kids(),
            });
        }
        Err(MintError::KidNotFound {
            kid: kid.to_owned(),
            choices: self.kids(),
        })
    }

    /// The newest private key directly under `<dir>/<issuer>/`, now.
    pub fn newest(&self, issuer: &str) -> Result<Arc<SigningKey>, MintError> {
        self.newest_by(issuer, Choice::now())
    }

    /// The newest private key directly under `<dir>/<issuer>/` that has
    /// been in the directory for `choice.min_key_age` (see `token::choice`).
    pub fn newest_by(&self, issuer: &str, choice: Choice) -> Result<Arc<SigningKey>, MintError> {
        let entry = super::choice::newest(&self.set, issuer, choice)?;
        self.key(&entry.kid)
    }

    /// `--kid`, else `--issuer`'s newest key, else the newest key of the
    /// only issuer, each as `Choice` says.
    pub fn choose(
        &self,
        kid: Option<&str>,
        issuer: Option<&str>,
        choice: Choice,
    ) -> Result<Arc<SigningKey>, MintError> {
        if let Some(kid) = kid {
            return self.key(kid);
        }
        if let Some(issuer) = issuer {
            return self.newest_by(issuer, choice);
        }
        if self.keys.is_empty() {
            return Err(MintError::NoPrivateKeys {
                dir: self.dir.clone(),
            });
        }
        match self.issuers().as_slice() {
            [only] => match self.newest_by(only, choice) {
                // The only issuer's keys are nested deeper: all of them compete.
                Err(MintError::Choice(ChoiceError::NoKeysForIssuer { .. })) => {
                    let all = self
                        .set
                        .keys()
                        .filter(|k| k.public.form.is_private())
                        .cloned()
                        .collect();
                    let entry = super::choice::pick(only, all, choice)?;
                    self.key(&entry.kid)
                }
                other => other,
            },
            many => Err(MintError::Ambiguous {
                choices: many.to_vec(),
            }),
        }
    }

    /// Builds claims for `key` from `spec` at `now` and signs them.
    pub fn mint(&self, key: &SigningKey, spec: &TokenSpec, now: u64) -> Result<Minted, MintError> {
        key.mint(spec, now)
    }
}

/// A random token id: 128 bits, hex.
pub fn new_jti() -> String {
    let mut b = [0u8; 16];
    // aws-lc's system RNG does not fail on Linux; fall back to the clock if it ever does.
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
    }
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keydir::keygen;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use std::time::{Duration, SystemTime};

    #[test]
    fn tokens_verify_with_jsonwebtoken_and_the_served_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let new = keygen::create(dir.path(), "jitsi/2026-11-28", 2048).unwrap();
        keygen::create(dir.path(), "jitsi/2026-11-01", 2048).unwrap();
        let minter = Minter::load(dir.path()).unwrap();
        let key = minter.choose(None, None, Choice::now()).unwrap();
        assert_eq!(
            key.kid, "jitsi/2026-11-28",
            "newest by the dates in the kids"
        );
        let now = jsonwebtoken::get_current_timestamp();
        let spec = TokenSpec {
            room: Some("standup".into()),
            ..TokenSpec::default()
        };
        let minted = minter.mint(&key, &spec, now).unwrap();

        let header = jsonwebtoken::decode_header(&minted.token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("jitsi/2026-11-28"));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = 0;
        v.set_audience(&["jitsi"]);
        v.set_issuer(&["jitsi"]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let dk = DecodingKey::from_rsa_pem(new.public_pem.as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(&minted.token, &dk, &v).unwrap();
        assert_eq!(data.claims["room"], "standup");
        assert_eq!(data.claims["jti"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn key_choice_errors_list_the_choices() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Minter::load(dir.path())
                .unwrap()
                .choose(None, None, Choice::now()),
            Err(MintError::NoPrivateKeys { .. })
        ));
        keygen::create(dir.path(), "a/1", 2048).unwrap();
        keygen::create(dir.path(), "b/1", 2048).unwrap();
        let public =
            keys::decode_public(&std::fs::read(dir.path().join("a/1.pem")).unwrap()).unwrap();
        std::fs::write(dir.path().join("a/pub.pem"), public.spki_pem()).unwrap();
        let m = Minter::load(dir.path()).unwrap();
        let choose = |kid, issuer| m.choose(kid, issuer, Choice::now());
        let err = choose(None, None).unwrap_err().to_string();
        assert!(err.contains("--issuer (a, b)"), "{err}");
        let err = choose(Some("a/pub"), None).unwrap_err().to_string();
        assert!(
            err.contains("only a public key") && err.contains("a/1, b/1"),
            "{err}"
        );
        let err = choose(Some("a/2"), None).unwrap_err().to_string();
        assert!(
            err.contains("no key with kid \"a/2\"; private keys: a/1, b/1"),
            "{err}"
        );
        let err = choose(None, Some("c")).unwrap_err().to_string();
        assert!(err.contains("issuers: a, b"), "{err}");
        assert_eq!(choose(None, Some("b")).unwrap().kid, "b/1");
        // Two undated kids: no guess.
        keygen::create(dir.path(), "b/2", 2048).unwrap();
        let m = Minter::load(dir.path()).unwrap();
        let err = m.newest("b").unwrap_err().to_string();
        assert!(
            err.contains("cannot tell which key of b is the newest: b/1, b/2")
                && err.contains("--kid"),
            "{err}"
        );
        // Too young for a minimum age.
        let soon = Choice {
            now: SystemTime::now(),
            min_key_age: Duration::from_secs(3600),
        };
        let err = m.newest_by("a", soon).unwrap_err().to_string();
        assert!(
            err.contains("no key of a has been in the key directory for 1h"),
            "{err}"
        );
    }
}
