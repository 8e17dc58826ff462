//! Discovery: the IdP's metadata (issuer compared exactly, PKCE S256,
//! a token endpoint) and its JWKS, with the client built from them.
//!
//! Done on first use and kept. A failed discovery is tried again with
//! exponential backoff ([`FIRST_RETRY`] doubling up to [`LAST_RETRY`]):
//! until the next try, a login is answered at once with the last error,
//! without a request to the IdP, so a down IdP is not hammered by logins.

use super::super::http::IdpHttp;
use super::jwks::{Keys, JWKS_REFRESH_EVERY};
use super::{error_chain, unreachable, IdpClient, Provider, ProviderError};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, ClientId, ClientSecret, IssuerUrl, ProviderMetadata, RedirectUrl,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// The wait after a first failed discovery.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between two discovery tries.
pub const LAST_RETRY: Duration = Duration::from_secs(300);

/// The last failed discovery: its error, and when to try again.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    error: ProviderError,
    wait: Duration,
    next_try: Instant,
}

/// The wait before the next try after a failure that followed `previous`.
pub(super) fn next_wait(previous: Option<Duration>) -> Duration {
    previous.map_or(FIRST_RETRY, |w| (w * 2).min(LAST_RETRY))
}

/// What discovery found, with the JWKS of the moment.
#[derive(Clone)]
pub(super) struct Discovered {
    /// The issuer exactly as discovery spells it.
    pub(super) issuer: String,
    pub(super) http: IdpHttp,
    pub(super) client: IdpClient,
    pub(super) keys: Keys,
    pub(super) jwks_uri: openidconnect::JsonWebKeySetUrl,
    pub(super) iss_parameter: bool,
    pub(super) end_session: Option<String>,
    /// `code_challenge_methods_supported`, when listed.
    pub(super) pkce_methods: Option<Vec<String>>,
}

impl Provider {
    /// What discovery found: kept from before, or found now; while
    /// discovery fails, the last error until its next try.
    pub(super) fn discovered(&self) -> Result<Arc<Discovered>, ProviderError> {
        let held = || {
            self.discovered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        if let Some(d) = held() {
            return Ok(d);
        }
        // One discovery at a time: the others wait for its outcome.
        let _one = self.discovering.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = held() {
            return Ok(d);
        }
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = failed.as_ref().filter(|f| Instant::now() < f.next_try) {
            return Err(f.error.clone());
        }
        match self.discover() {
            Ok(d) => {
                let d = Arc::new(d);
                *failed = None;
                *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
                Ok(d)
            }
            Err(error) => {
                let wait = next_wait(failed.as_ref().map(|f| f.wait));
                *failed = Some(Failure {
                    error: error.clone(),
                    wait,
                    next_try: Instant::now() + wait,
                });
                Err(error)
            }
        }
    }

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
        // The JWKS was this thread's last request (its max-age is read now).
        let keys = Keys::fetched_now(metadata.jwks().clone());
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
            keys,
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

// The JWKS held with the metadata, fetched again (the rules are in `jwks`).
impl Provider {
    /// `d`, with its JWKS fetched again when it is past its lifetime (a
    /// failed fetch keeps the keys held, and is logged).
    pub(super) fn current_keys(&self, d: Arc<Discovered>) -> Arc<Discovered> {
        if !d.keys.stale() {
            return d;
        }
        match self.refresh_jwks(&d) {
            Ok(Some(fresh)) => fresh,
            Ok(None) => d,
            Err(e) => {
                tracing::warn!(issuer = %d.issuer, error = %e, "login bridge: the IdP's JWKS could not be fetched again (the keys held are used)");
                d
            }
        }
    }

    /// Fetches the JWKS again and keeps it (replacing the old one), unless
    /// a refetch happened within [`JWKS_REFRESH_EVERY`]: then `None`, or
    /// the newer keys another login fetched since `d`.
    pub(super) fn refresh_jwks(
        &self,
        d: &Arc<Discovered>,
    ) -> Result<Option<Arc<Discovered>>, ProviderError> {
        {
            let mut last = self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < JWKS_REFRESH_EVERY) {
                drop(last);
                let held = self
                    .discovered
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                return Ok(held.filter(|h| h.keys.fetched > d.keys.fetched));
            }
            *last = Some(Instant::now());
        }
        let set = openidconnect::JsonWebKeySet::fetch(&d.jwks_uri, &d.http)
            .map_err(|e| unreachable(format!("JWKS: {}", error_chain(&e))))?;
        let fresh = Arc::new(Discovered {
            keys: Keys::fetched_now(set),
            ..(**d).clone()
        });
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
        Ok(Some(fresh))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_backs_off_from_one_second_doubling_to_five_minutes() {
        let mut wait = None;
        let mut seen = Vec::new();
        for _ in 0..12 {
            let w = next_wait(wait);
            seen.push(w.as_secs());
            wait = Some(w);
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }
}
