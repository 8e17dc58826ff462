//! The IdP's JWKS, fetched again when an id_token's key is not in it.

use super::discovery::Discovered;
use super::{error_chain, unreachable, Provider, ProviderError, JWKS_REFRESH_EVERY};
use openidconnect::JsonWebKeySet;
use std::sync::Arc;
use std::time::Instant;

impl Provider {
    /// Fetches the JWKS again, unless that was done within [`JWKS_REFRESH_EVERY`].
    pub(super) fn refresh_jwks(
        &self,
        d: &Arc<Discovered>,
    ) -> Result<Arc<Discovered>, ProviderError> {
        {
            let mut last = self.last_refresh.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < JWKS_REFRESH_EVERY) {
                return Err(ProviderError::IdToken(
                    "no key of the IdP's JWKS matches the id_token's kid (JWKS fetched recently)"
                        .into(),
                ));
            }
            *last = Some(Instant::now());
        }
        let jwks =
            JsonWebKeySet::fetch(&d.jwks_uri, &d.http).map_err(|e| unreachable(error_chain(&e)))?;
        let fresh = Arc::new(Discovered {
            issuer: d.issuer.clone(),
            http: d.http.clone(),
            client: d.client.clone(),
            jwks,
            jwks_uri: d.jwks_uri.clone(),
            iss_parameter: d.iss_parameter,
            end_session: d.end_session.clone(),
            pkce_methods: d.pkce_methods.clone(),
        });
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }
}
