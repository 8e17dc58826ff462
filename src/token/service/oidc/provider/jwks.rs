//! The IdP's JWKS: fetched with discovery, fetched again when an
//! id_token's signature does not check with the keys held (a rotation,
//! under a new kid, the same kid or none) and when the keys are older than
//! their lifetime ([`JWKS_MAX_AGE`], shorter when the IdP's
//! `Cache-Control: max-age` says so). Refetches are at most one per
//! [`JWKS_REFRESH_EVERY`], so a stream of forged tokens cannot turn the
//! bridge against the IdP. A new JWKS replaces the old one: a key the IdP
//! withdrew is no longer trusted.

use super::super::http;
use openidconnect::core::CoreJsonWebKey;
use openidconnect::{ClaimsVerificationError, JsonWebKeySet, SignatureVerificationError};
use std::time::{Duration, Instant};

/// The JWKS is fetched again at most this often (on a failed signature or
/// on its schedule).
pub const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(10);
/// The JWKS is fetched again when it is this old (sooner with a shorter
/// `Cache-Control: max-age`, never sooner than [`JWKS_REFRESH_EVERY`]).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(600);

/// The IdP's keys and when they were fetched.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// The JWKS as the IdP served it.
    pub(super) set: JsonWebKeySet<CoreJsonWebKey>,
    /// When it was fetched.
    pub(super) fetched: Instant,
    /// How long it is used before it is fetched again.
    pub(super) fresh_for: Duration,
}

impl Keys {
    /// Keys just fetched, with the answer's `max-age` (on this thread).
    pub(super) fn fetched_now(set: JsonWebKeySet<CoreJsonWebKey>) -> Keys {
        Keys {
            set,
            fetched: Instant::now(),
            fresh_for: lifetime(http::last_max_age()),
        }
    }

    pub(super) fn stale(&self) -> bool {
        self.fetched.elapsed() >= self.fresh_for
    }
}

/// How long a JWKS is used: its `max-age` bounded by
/// [`JWKS_REFRESH_EVERY`] and [`JWKS_MAX_AGE`], else [`JWKS_MAX_AGE`].
pub(super) fn lifetime(max_age: Option<Duration>) -> Duration {
    max_age
        .unwrap_or(JWKS_MAX_AGE)
        .clamp(JWKS_REFRESH_EVERY, JWKS_MAX_AGE)
}

/// A signature failure that a newer JWKS may cure: no key with the kid,
/// a key under the kid (or without kids) that does not check it, several
/// keys without kids, or a key of another type under the kid. A refused
/// algorithm or a missing signature is not cured by any key.
pub(super) fn worth_refetch(e: &ClaimsVerificationError) -> bool {
    matches!(
        e,
        ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::CryptoError(_)
                | SignatureVerificationError::AmbiguousKeyId(_)
                | SignatureVerificationError::InvalidKey(_)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwks_lifetime_is_its_max_age_within_bounds() {
        assert_eq!(lifetime(None), JWKS_MAX_AGE);
        assert_eq!(
            lifetime(Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(lifetime(Some(Duration::ZERO)), JWKS_REFRESH_EVERY);
        assert_eq!(lifetime(Some(Duration::from_secs(86_400))), JWKS_MAX_AGE);
    }

    #[test]
    fn only_failures_a_newer_key_can_cure_refetch() {
        use ClaimsVerificationError::SignatureVerification as Sig;
        use SignatureVerificationError as S;
        assert!(worth_refetch(&Sig(S::NoMatchingKey)));
        assert!(worth_refetch(&Sig(S::CryptoError("bad signature".into()))));
        assert!(worth_refetch(&Sig(S::AmbiguousKeyId("two".into()))));
        assert!(!worth_refetch(&Sig(S::DisallowedAlg("HS256".into()))));
        assert!(!worth_refetch(&Sig(S::NoSignature)));
        assert!(!worth_refetch(&ClaimsVerificationError::Expired(
            "old".into()
        )));
    }
}
