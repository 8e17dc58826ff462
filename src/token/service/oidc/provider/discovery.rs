//! Discovery: the IdP's metadata (issuer compared exactly, PKCE S256,
//! a token endpoint) and its JWKS, with the client built from them.

use super::super::http::IdpHttp;
use super::{error_chain, unreachable, IdpClient, Provider, ProviderError};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, ClientId, ClientSecret, IssuerUrl, JsonWebKeySet, ProviderMetadata,
    RedirectUrl,
};
use serde::{Deserialize, Serialize};

/// Discovery fields openidconnect does not type.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraMetadata {
    /// PKCE methods (RFC 8414); when listed, S256 must be among them.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the IdP sends `iss` on the callback.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
    /// RP-initiated logout.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

pub(super) type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
/// What discovery found, with the JWKS of the moment.
pub(super) struct Discovered {
    /// The issuer exactly as discovery spells it.
    pub(super) issuer: String,
    pub(super) http: IdpHttp,
    pub(super) client: IdpClient,
    pub(super) jwks: JsonWebKeySet<CoreJsonWebKey>,
    pub(super) jwks_uri: openidconnect::JsonWebKeySetUrl,
    pub(super) iss_parameter: bool,
    pub(super) end_session: Option<String>,
    /// `code_challenge_methods_supported`, when listed.
    pub(super) pkce_methods: Option<Vec<String>>,
}

impl Provider {
    /// Discovery (issuer compared exactly by openidconnect) and the JWKS.
    pub(super) fn discover(&self) -> Result<Discovered, ProviderError> {
        let http = IdpHttp::new(self.settings.ca_file.as_deref())
            .map_err(|e| ProviderError::Discovery(format!("ca_file {e}")))?;
        let mut first_error = None;
        let mut found = None;
        for candidate in issuer_spellings(&self.settings.issuer) {
            let issuer = IssuerUrl::new(candidate.clone())
                .map_err(|e| ProviderError::Discovery(e.to_string()))?;
            match Metadata::discover(&issuer, &http) {
                Ok(m) => {
                    found = Some((candidate, m));
                    break;
                }
                Err(e) => {
                    let e = match e {
                        openidconnect::DiscoveryError::Validation(v) => ProviderError::Discovery(v),
                        other => unreachable(error_chain(&other)),
                    };
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some((issuer, metadata)) = found else {
            return Err(first_error.unwrap_or_else(|| ProviderError::Discovery("no issuer".into())));
        };
        let extra = metadata.additional_metadata().clone();
        if let Some(methods) = &extra.code_challenge_methods_supported {
            if !methods.iter().any(|m| m == "S256") {
                return Err(ProviderError::Discovery(format!(
                    "code_challenge_methods_supported is {methods:?} without S256: enable PKCE S256 for the client at the IdP"
                )));
            }
        }
        if metadata.token_endpoint().is_none() {
            return Err(ProviderError::Discovery(
                "discovery has no token_endpoint".into(),
            ));
        }
        let jwks = metadata.jwks().clone();
        let jwks_uri = metadata.jwks_uri().clone();
        let client = IdpClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(
            RedirectUrl::new(self.settings.redirect_uri.clone())
                .map_err(|e| ProviderError::Discovery(e.to_string()))?,
        );
        Ok(Discovered {
            issuer,
            http,
            client,
            jwks,
            jwks_uri,
            iss_parameter: extra.authorization_response_iss_parameter_supported == Some(true),
            end_session: extra.end_session_endpoint,
            pkce_methods: extra.code_challenge_methods_supported,
        })
    }
}

/// The issuer as configured, and for an issuer that is a bare origin the
/// other spelling of its root (`https://idp` / `https://idp/`): the
/// config's URL type cannot keep which one was written, and discovery
/// must then match one of them exactly (Auth0 writes the slash, most do
/// not). Every later comparison is exact against the spelling discovery used.
pub(super) fn issuer_spellings(configured: &str) -> Vec<String> {
    let mut out = vec![configured.to_owned()];
    if let Ok(url) = openidconnect::url::Url::parse(configured) {
        if url.path() == "/" && url.query().is_none() {
            let bare = configured.trim_end_matches('/').to_owned();
            out.insert(0, bare.clone());
            out.push(format!("{bare}/"));
            out.dedup();
            let mut seen = std::collections::HashSet::new();
            out.retain(|s| seen.insert(s.clone()));
        }
    }
    out
}
