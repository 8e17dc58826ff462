//! The identity provider as the bridge sees it: discovery, the JWKS
//! (refreshed on an unknown kid, at most once per [`JWKS_REFRESH_EVERY`]),
//! the authorization request with PKCE S256 and a nonce, the code
//! exchange, id_token validation and userinfo.
//!
//! The protocol is the `openidconnect` crate's (an implementation of the
//! OpenID Connect specs with typed metadata, tokens and claims); its HTTP
//! goes through a ureq agent with the same trust as the rest of the program
//! ([`super::http`] over [`crate::keys::trust`]: the system's CAs and the
//! config's `ca_file`). What is ours is the policy: the algorithms allowed
//! (asymmetric only), the leeway, `azp`, and RFC 9207's `iss` parameter.
//! Every call blocks: the server runs them in `spawn_blocking`.

use super::http::IdpHttp;
use super::token_error::{self, Refused};
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode,
    ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IdTokenVerifier, IssuerUrl,
    JsonWebKeySet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    StandardErrorResponse, StandardTokenResponse, SubjectIdentifier, TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clock leeway for `exp` and `iat` (the IdP's clock and ours differ a little).
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The JWKS is fetched again for an unknown kid at most this often, so a
/// stream of forged kids cannot turn the bridge against the IdP.
pub const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(30);

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

/// Every claim beyond the standard ones (the moderator rule may name any).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    /// The claims by name.
    #[serde(flatten)]
    pub claims: Map<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

type Metadata = ProviderMetadata<
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
type Fields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type IdpClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the bridge needs to know of its IdP (from the `[oidc]` table).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer, compared exactly with discovery's and the id_token's.
    pub issuer: String,
    /// Our client id at the IdP.
    pub client_id: String,
    /// Our client secret (none: a public client with PKCE only).
    pub client_secret: Option<String>,
    /// `<public_url>/oidc/callback`.
    pub redirect_uri: String,
    /// Scopes asked for (`openid` is always sent).
    pub scopes: Vec<String>,
    /// An extra CA for the IdP's certificate.
    pub ca_file: Option<PathBuf>,
}

/// Why a login could not be completed with the IdP.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The IdP could not be reached or answered nonsense.
    #[error("identity provider unreachable or unusable: {0}")]
    Unreachable(String),
    /// Discovery is reachable but describes something we must not use.
    #[error("identity provider configuration: {0}")]
    Discovery(String),
    /// The token endpoint refused the code (used already, expired, wrong verifier).
    #[error("the identity provider refused the login code: {0}")]
    CodeRefused(String),
    /// The token endpoint refused our client credentials (`invalid_client`, `unauthorized_client`): a set-up error.
    #[error("the identity provider refused the bridge's client credentials (client_id, client_secret_file): {0}")]
    ClientCredentials(String),
    /// The id_token failed validation.
    #[error("the identity provider's id_token is not valid: {0}")]
    IdToken(String),
    /// The callback's `iss` (RFC 9207) is not our issuer, or missing though announced.
    #[error("the callback does not come from the configured identity provider: {0}")]
    Mixup(String),
}

/// What discovery found, with the JWKS of the moment.
struct Discovered {
    /// The issuer exactly as discovery spells it.
    issuer: String,
    http: IdpHttp,
    client: IdpClient,
    jwks: JsonWebKeySet<CoreJsonWebKey>,
    jwks_uri: openidconnect::JsonWebKeySetUrl,
    iss_parameter: bool,
    end_session: Option<String>,
    /// `code_challenge_methods_supported`, when listed.
    pkce_methods: Option<Vec<String>>,
}

/// What discovery found, for `doctor --config` to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The issuer as discovery spells it.
    pub issuer: String,
    /// The JWKS URL.
    pub jwks_uri: String,
    /// Keys in the JWKS the bridge may check an id_token with.
    pub keys: usize,
    /// `code_challenge_methods_supported`, when listed (it holds S256, or
    /// discovery would have failed).
    pub pkce_methods: Option<Vec<String>>,
    /// RP-initiated logout.
    pub end_session: Option<String>,
    /// RFC 9207: the IdP sends `iss` on the callback.
    pub iss_parameter: bool,
}

/// A login to start: the URL to send the browser to and what the callback
/// needs back (sealed in the login cookie).
#[derive(Debug, Clone)]
pub struct Start {
    /// The IdP's authorization URL with our state, PKCE challenge and nonce.
    pub url: String,
    /// Our random state (compared on the callback).
    pub state: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// The nonce the id_token must carry.
    pub nonce: String,
}

/// The person the IdP vouched for.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// `sub` at the IdP.
    pub sub: String,
    /// Every claim of the id_token, then userinfo's on top.
    pub claims: Map<String, Value>,
    /// The raw id_token (kept for the logout's `id_token_hint`).
    pub id_token: String,
}

impl Identity {
    /// A string claim.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// The IdP, discovered on first use (the server starts while the IdP is
/// down, and a failed discovery is retried on the next login).
pub struct Provider {
    settings: Settings,
    discovered: Mutex<Option<Arc<Discovered>>>,
    last_refresh: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

fn unreachable<E: std::fmt::Display>(e: E) -> ProviderError {
    ProviderError::Unreachable(e.to_string())
}

impl Provider {
    /// A provider for `settings`; nothing is fetched yet.
    pub fn new(settings: Settings) -> Result<Provider, ProviderError> {
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| ProviderError::Discovery(format!("issuer {:?}: {e}", settings.issuer)))?;
        RedirectUrl::new(settings.redirect_uri.clone())
            .map_err(|e| ProviderError::Discovery(format!("public_url: {e}")))?;
        Ok(Provider {
            settings,
            discovered: Mutex::new(None),
            last_refresh: Mutex::new(None),
        })
    }

    /// The issuer configured.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Discovers the IdP now (discovery and JWKS) unless done already, so a
    /// bad `issuer` shows in the log at start and the first login does not wait.
    pub fn prepare(&self) -> Result<(), ProviderError> {
        self.discovered().map(|_| ())
    }

    fn discovered(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self
            .discovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(d);
        }
        let d = Arc::new(self.discover()?);
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
        Ok(d)
    }

    /// Discovery (issuer compared exactly by openidconnect) and the JWKS.
    fn discover(&self) -> Result<Discovered, ProviderError> {
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

    /// Discovers the IdP (as [`prepare`](Self::prepare)) and says what was
    /// found.
    pub fn describe(&self) -> Result<Described, ProviderError> {
        let d = self.discovered()?;
        Ok(Described {
            issuer: d.issuer.clone(),
            jwks_uri: d.jwks_uri.as_str().to_owned(),
            keys: d.jwks.keys().len(),
            pkce_methods: d.pkce_methods.clone(),
            end_session: d.end_session.clone(),
            iss_parameter: d.iss_parameter,
        })
    }

    /// The authorization URL for a new login (fresh state, PKCE verifier, nonce).
    pub fn start(&self) -> Result<Start, ProviderError> {
        let d = self.discovered()?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = d
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Start {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            nonce: nonce.secret().clone(),
        })
    }

    /// RFC 9207: an `iss` sent on the callback must be the issuer; one the
    /// IdP announced but did not send is a mix-up attempt.
    pub fn check_iss_parameter(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        let d = self.discovered()?;
        let announced = d.iss_parameter;
        match iss {
            Some(i) if i == d.issuer => Ok(()),
            Some(i) => Err(ProviderError::Mixup(format!(
                "the callback's iss {:?} is not the issuer {:?} (RFC 9207)",
                crate::error::escape_controls(i),
                d.issuer
            ))),
            None if announced => Err(ProviderError::Mixup(
                "the callback has no iss though the IdP announces it (RFC 9207)".into(),
            )),
            None => Ok(()),
        }
    }

    /// Exchanges the code (with the PKCE verifier), validates the id_token
    /// against `nonce`, and reads userinfo when the IdP has it.
    pub fn finish(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Identity, ProviderError> {
        let d = self.discovered()?;
        let tokens = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request(&d.http)
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => match token_error::refused(&r) {
                    Refused::Client(text) => ProviderError::ClientCredentials(text),
                    Refused::Code(text) => ProviderError::CodeRefused(text),
                },
                RequestTokenError::Parse(e, _) => {
                    ProviderError::Unreachable(format!("token endpoint answer: {e}"))
                }
                other => unreachable(error_chain(&other)),
            })?;
        let id_token = tokens.id_token().ok_or_else(|| {
            ProviderError::IdToken(
                "the token endpoint answered without an id_token (is the openid scope allowed?)"
                    .into(),
            )
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match self.verify(&d.issuer, &d.jwks, id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let d = self.refresh_jwks(&d)?;
                self.verify(&d.issuer, &d.jwks, id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| ProviderError::IdToken(e.to_string()))?;
        let sub = claims.subject().to_string();
        let mut all = match serde_json::to_value(&claims) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let Some(info) = self.userinfo(&d, tokens.access_token(), &sub)? {
            all.extend(info);
        }
        Ok(Identity {
            sub,
            claims: all,
            id_token: id_token.to_string(),
        })
    }

    fn verify(
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

    /// Fetches the JWKS again, unless that was done within [`JWKS_REFRESH_EVERY`].
    fn refresh_jwks(&self, d: &Arc<Discovered>) -> Result<Arc<Discovered>, ProviderError> {
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

    fn userinfo(
        &self,
        d: &Discovered,
        access: &AccessToken,
        sub: &str,
    ) -> Result<Option<Map<String, Value>>, ProviderError> {
        let Ok(request) = d
            .client
            .user_info(access.clone(), Some(SubjectIdentifier::new(sub.to_owned())))
        else {
            return Ok(None);
        };
        let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
            .require_signed_response(false)
            .request(&d.http)
            .map_err(|e| unreachable(format!("userinfo: {}", error_chain(&e))))?;
        Ok(match serde_json::to_value(&info) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        })
    }

    /// Where to send a browser to end its IdP session: the
    /// `end_session_endpoint` with `client_id`, `id_token_hint` when known
    /// and `post_logout_redirect_uri`; `None` without an endpoint.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout: &str,
    ) -> Option<String> {
        let d = self.discovered().ok()?;
        let mut url = openidconnect::url::Url::parse(d.end_session.as_deref()?).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.settings.client_id);
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("post_logout_redirect_uri", post_logout);
        }
        Some(url.to_string())
    }
}

/// The issuer as configured, and for an issuer that is a bare origin the
/// other spelling of its root (`https://idp` / `https://idp/`): the
/// config's URL type cannot keep which one was written, and discovery
/// must then match one of them exactly (Auth0 writes the slash, most do
/// not). Every later comparison is exact against the spelling discovery used.
fn issuer_spellings(configured: &str) -> Vec<String> {
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

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn chrono_leeway() -> chrono::TimeDelta {
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

/// An error with its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_origin_issuer_is_tried_without_and_with_its_slash() {
        assert_eq!(
            issuer_spellings("https://idp.example.com/"),
            ["https://idp.example.com", "https://idp.example.com/"]
        );
        assert_eq!(
            issuer_spellings("https://idp.example.com/realms/main"),
            ["https://idp.example.com/realms/main"]
        );
    }

    #[test]
    fn azp_is_required_with_several_audiences_and_must_be_us() {
        assert!(check_azp(["jitsi"].into_iter(), None, "jitsi").is_ok());
        assert!(check_azp(["jitsi", "other"].into_iter(), Some("jitsi"), "jitsi").is_ok());
        assert!(check_azp(["jitsi", "other"].into_iter(), None, "jitsi")
            .unwrap_err()
            .contains("no azp"));
        assert!(check_azp(["jitsi"].into_iter(), Some("other"), "jitsi")
            .unwrap_err()
            .contains("not our client_id"));
    }

    #[test]
    fn no_symmetric_or_unsigned_algorithm_is_allowed() {
        use openidconnect::JwsSigningAlgorithm;
        assert!(ALLOWED_ALGS.iter().all(|a| !a.uses_shared_secret()));
        assert!(!ALLOWED_ALGS.contains(&CoreJwsSigningAlgorithm::None));
    }

    #[test]
    fn a_bad_issuer_or_public_url_is_refused_before_any_request() {
        let settings = Settings {
            issuer: "not a url".into(),
            client_id: "jitsi".into(),
            client_secret: None,
            redirect_uri: "https://auth.example.com/oidc/callback".into(),
            scopes: vec!["openid".into()],
            ca_file: None,
        };
        assert!(matches!(
            Provider::new(settings.clone()),
            Err(ProviderError::Discovery(_))
        ));
        let settings = Settings {
            issuer: "https://idp.example.com".into(),
            redirect_uri: "nope".into(),
            ..settings
        };
        assert!(matches!(
            Provider::new(settings),
            Err(ProviderError::Discovery(_))
        ));
    }
}
