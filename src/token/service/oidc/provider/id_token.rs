//! id_token validation: the algorithms allowed, the leeway (for `exp`,
//! `iat` and `nbf`), `azp`; and what is wrong with one that cannot be read.

use super::Provider;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdTokenVerifier, IssuerUrl, JsonWebKeySet,
    Nonce,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// Clock leeway for `exp`, `iat` and `nbf` (the IdP's clock and ours differ a little).
pub const LEEWAY: Duration = Duration::from_secs(60);
/// id_token signature algorithms accepted: asymmetric only. `none` and the
/// HMAC family are never accepted (an HMAC "signed" with the IdP's public
/// key is the classic forgery).
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Every claim beyond the standard ones (the moderator rule may name any).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    /// The claims by name.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

impl Provider {
    pub(super) fn verify(
        &self,
        issuer: &str,
        jwks: &JsonWebKeySet<CoreJsonWebKey>,
        id_token: &openidconnect::IdToken<
            ExtraClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        nonce: &Nonce,
    ) -> Result<openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>, ClaimsVerificationError>
    {
        let issuer = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
        let client_id = self.settings.client_id.clone();
        // Public-client verifier: no client secret, so no HMAC even if the list allowed it.
        let verifier = IdTokenVerifier::new_public_client(
            ClientId::new(client_id.clone()),
            issuer,
            jwks.clone(),
        )
        .set_allowed_algs(ALLOWED_ALGS)
        .set_other_audience_verifier_fn(|_| true)
        .set_time_fn(|| now() - chrono_leeway())
        .set_issue_time_verifier_fn(|iat| {
            if iat > now() + chrono_leeway() {
                Err(format!("iat {iat} is in the future"))
            } else {
                Ok(())
            }
        });
        let claims = id_token.claims(&verifier, nonce)?.clone();
        check_azp(
            claims.audiences().iter().map(|a| a.as_str()),
            claims.authorized_party().map(|p| p.as_str()),
            &client_id,
        )
        .map_err(ClaimsVerificationError::InvalidAudience)?;
        check_nbf(
            claims.additional_claims().claims.get("nbf"),
            now().timestamp(),
            LEEWAY,
        )
        .map_err(ClaimsVerificationError::Other)?;
        Ok(claims)
    }
}

pub(super) fn now() -> DateTime<Utc> {
    Utc::now()
}

pub(super) fn chrono_leeway() -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(LEEWAY.as_secs() as i64)
}

/// RFC 7519 4.1.5: a token with `nbf` (seconds since the epoch) later
/// than `now` plus `leeway` is not valid yet; an `nbf` that is not a
/// number is refused too.
pub(super) fn check_nbf(nbf: Option<&Value>, now: i64, leeway: Duration) -> Result<(), String> {
    let Some(nbf) = nbf else {
        return Ok(());
    };
    let Some(at) = nbf.as_f64() else {
        return Err("nbf is not a number of seconds".into());
    };
    let leeway = leeway.as_secs() as f64;
    if at > now as f64 + leeway {
        return Err(format!(
            "nbf {at} is {} s after now: the id_token is not valid yet (is the IdP's clock ahead?)",
            at - now as f64
        ));
    }
    Ok(())
}

/// What to say of a failed validation `e` (`text`: it with its sources) of
/// an id_token signed with `alg`: a PS signature that the IdP's key does
/// not check is most often a salt of another length than the hash's.
pub(super) fn explain(e: &ClaimsVerificationError, alg: Option<&str>, text: &str) -> String {
    let bad_signature = matches!(
        e,
        ClaimsVerificationError::SignatureVerification(
            openidconnect::SignatureVerificationError::CryptoError(_)
        )
    );
    match alg {
        Some(a) if bad_signature && a.starts_with("PS") => format!(
            "{text} ({a}: the salt must be as long as the hash, RFC 7518 3.5; an IdP signing with a longer one needs \
             its salt length set to the digest length, or RS256)"
        ),
        _ => text.to_owned(),
    }
}

/// Why the token endpoint's answer `body` failed to parse, when it is its
/// id_token: `None` when the id_token reads (or there is none). Only the
/// token's shape is described: never its content.
pub(super) fn malformed(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let token = answer.get("id_token")?;
    type Token = openidconnect::IdToken<
        ExtraClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >;
    if serde_json::from_value::<Token>(token.clone()).is_ok() {
        return None;
    }
    let Some(text) = token.as_str() else {
        return Some("the id_token is not a string".into());
    };
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 3 {
        return Some(format!(
            "the id_token has {} dot-separated part(s), a signed JWT has 3 (an encrypted one has 5)",
            parts.len()
        ));
    }
    for (part, name) in parts.iter().take(2).zip(["header", "claims"]) {
        use base64::Engine as _;
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part) else {
            return Some(format!("the id_token's {name} are not base64url"));
        };
        if serde_json::from_slice::<Value>(&bytes).map_or(true, |v| !v.is_object()) {
            return Some(format!("the id_token's {name} are not a JSON object"));
        }
    }
    Some("the id_token's header or claims lack what an id_token must have (alg; iss, sub, aud, exp, iat)".into())
}

/// OpenID Connect Core 3.1.3.7 steps 4–5: with several audiences an `azp`
/// must be present, and an `azp` must be our client id.
pub fn check_azp<'a>(
    mut audiences: impl Iterator<Item = &'a str>,
    azp: Option<&str>,
    client_id: &str,
) -> Result<(), String> {
    let several = audiences.nth(1).is_some();
    match azp {
        Some(p) if p != client_id => Err(format!(
            "azp {:?} is not our client_id {client_id:?}",
            crate::error::escape_controls(p)
        )),
        None if several => Err("several audiences and no azp".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nbf_later_than_the_leeway_is_refused() {
        let leeway = Duration::from_secs(60);
        assert!(check_nbf(None, 1_000, leeway).is_ok());
        assert!(check_nbf(Some(&json!(1_000)), 1_000, leeway).is_ok());
        assert!(check_nbf(Some(&json!(1_060)), 1_000, leeway).is_ok());
        assert!(check_nbf(Some(&json!(1_061)), 1_000, leeway)
            .unwrap_err()
            .contains("not valid yet"));
        assert!(check_nbf(Some(&json!(4_600)), 1_000, leeway).is_err());
        assert!(check_nbf(Some(&json!("1000")), 1_000, leeway).is_err());
    }

    #[test]
    fn a_malformed_id_token_is_described_by_its_shape_only() {
        let answer = |t: Value| {
            serde_json::to_vec(&json!({"access_token": "a", "token_type": "Bearer", "id_token": t}))
                .unwrap()
        };
        let secret = "c2VjcmV0LWNvbnRlbnQ";
        let two = malformed(&answer(json!(format!("{secret}.{secret}")))).unwrap();
        assert!(
            two.contains("2 dot-separated part(s)") && !two.contains(secret),
            "{two}"
        );
        let not_b64 = malformed(&answer(json!("e30.!!!.sig"))).unwrap();
        assert!(not_b64.contains("claims are not base64url"), "{not_b64}");
        let not_json = malformed(&answer(json!(format!("e30.{secret}.sig")))).unwrap();
        assert!(
            not_json.contains("claims are not a JSON object"),
            "{not_json}"
        );
        assert!(malformed(&answer(json!(7)))
            .unwrap()
            .contains("not a string"));
        assert_eq!(
            malformed(b"{\"access_token\": 1}"),
            None,
            "no id_token: not its fault"
        );
        assert_eq!(malformed(b"<html>"), None);
    }
}
