//! id_token validation: the algorithms allowed, the leeway, `azp`.

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

/// Clock leeway for `exp` and `iat` (the IdP's clock and ours differ a little).
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
        Ok(claims)
    }
}

pub(super) fn now() -> DateTime<Utc> {
    Utc::now()
}

pub(super) fn chrono_leeway() -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(LEEWAY.as_secs() as i64)
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
