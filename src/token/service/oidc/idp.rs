//! The seam between the bridge's flow and its identity provider: the
//! [`IdentityProvider`] trait, what the flow (`auth`, `callback`, `logout`)
//! asks of an IdP. [`Provider`] (the real client, over HTTP) implements
//! it; the bridge's unit tests give the flow an in-process fake instead,
//! beside the end-to-end tests against real IdPs.

use super::provider::{Described, Identity, Provider, ProviderError, Start};

/// What the login bridge asks of an identity provider. Every call may
/// block on the IdP (the server runs the bridge in `spawn_blocking`).
pub trait IdentityProvider: Send + Sync {
    /// The issuer configured.
    fn issuer(&self) -> &str;
    /// Discovers the IdP now unless done already.
    fn prepare(&self) -> Result<(), ProviderError>;
    /// What discovery found (for `doctor --config`).
    fn describe(&self) -> Result<Described, ProviderError>;
    /// A new login: the authorization URL and what the callback needs back.
    fn start(&self) -> Result<Start, ProviderError>;
    /// RFC 9207's `iss` callback parameter, checked.
    fn check_iss_parameter(&self, iss: Option<&str>) -> Result<(), ProviderError>;
    /// The code exchanged, the id_token validated against `nonce`, userinfo read.
    fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<Identity, ProviderError>;
    /// Where to end the IdP session, if it has an `end_session_endpoint`.
    fn end_session_url(&self, id_token_hint: Option<&str>, post_logout: &str) -> Option<String>;
    /// The IdP asked whether a login still stands, with its refresh token;
    /// the next one when it rotates them.
    fn refresh(&self, refresh_token: &str) -> Result<Option<String>, ProviderError>;
}

impl IdentityProvider for Provider {
    fn issuer(&self) -> &str {
        Provider::issuer(self)
    }

    fn prepare(&self) -> Result<(), ProviderError> {
        Provider::prepare(self)
    }

    fn describe(&self) -> Result<Described, ProviderError> {
        Provider::describe(self)
    }

    fn start(&self) -> Result<Start, ProviderError> {
        Provider::start(self)
    }

    fn check_iss_parameter(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        Provider::check_iss_parameter(self, iss)
    }

    fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<Identity, ProviderError> {
        Provider::finish(self, code, verifier, nonce)
    }

    fn end_session_url(&self, id_token_hint: Option<&str>, post_logout: &str) -> Option<String> {
        Provider::end_session_url(self, id_token_hint, post_logout)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Option<String>, ProviderError> {
        Provider::refresh(self, refresh_token)
    }
}
