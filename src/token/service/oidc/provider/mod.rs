//! The identity provider as the bridge sees it: discovery (tried again
//! with backoff while it fails), the JWKS (fetched again when a signature
//! does not check and on a schedule, at most once per [`jwks::JWKS_REFRESH_EVERY`]),
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
//!
//! Its parts: `discovery` (the metadata and the client), `jwks` (the
//! keys, fetched again) and `id_token` (the validation policy).

mod discovery;
mod id_token;
mod jwks;

pub use id_token::ExtraClaims;

use super::token_error::{self, Refused};
use discovery::Discovered;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, Client, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardTokenResponse, SubjectIdentifier,
    TokenResponse, UserInfoClaims, UserInfoError,
};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The token endpoint's id_token is not a signed JWT with JSON claims
    /// (cut short, encrypted, or not a JWT at all).
    #[error(
        "the identity provider's id_token cannot be read: {0}; the IdP must send a signed (not encrypted) JWT: \
         check the client's id_token settings there"
    )]
    MalformedIdToken(String),
    /// userinfo answered for another user than the id_token's `sub`.
    #[error(
        "the identity provider's userinfo is about another user than its id_token: {0}; no token was made: \
         check the IdP's userinfo endpoint (or a proxy in front of it)"
    )]
    SubjectMismatch(String),
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
    /// The IdP's refresh token, when it gave one (`offline_access`): an
    /// inline login's refresh asks the IdP with it first.
    pub refresh_token: Option<String>,
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
/// down, and a failed discovery is tried again with backoff).
pub struct Provider {
    settings: Settings,
    discovered: Mutex<Option<Arc<Discovered>>>,
    /// Held while discovery runs (one at a time).
    discovering: Mutex<()>,
    /// The last failed discovery, until one succeeds.
    failed: Mutex<Option<discovery::Failure>>,
    /// The last JWKS refetch (rate limit).
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
            discovering: Mutex::new(()),
            failed: Mutex::new(None),
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

    /// Discovers the IdP (as [`prepare`](Self::prepare)) and says what was
    /// found.
    pub fn describe(&self) -> Result<Described, ProviderError> {
        let d = self.discovered()?;
        Ok(Described {
            issuer: d.issuer.clone(),
            jwks_uri: d.jwks_uri.as_str().to_owned(),
            keys: d.keys.set.keys().len(),
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
                RequestTokenError::Parse(e, body) => match id_token::malformed(&body) {
                    Some(why) => ProviderError::MalformedIdToken(why),
                    None => ProviderError::Unreachable(format!("token endpoint answer: {e}")),
                },
                other => unreachable(error_chain(&other)),
            })?;
        let id_token = tokens.id_token().ok_or_else(|| {
            ProviderError::IdToken(
                "the token endpoint answered without an id_token (is the openid scope allowed?)"
                    .into(),
            )
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        let d = self.current_keys(d);
        // A signature the keys held do not check may be a rotation (a new
        // kid, the same kid, or none): once more with the IdP's JWKS of now.
        let claims = match self.verify(&d.issuer, &d.keys.set, id_token, &nonce) {
            Err(e) if jwks::worth_refetch(&e) => match self.refresh_jwks(&d)? {
                Some(fresh) => self.verify(&fresh.issuer, &fresh.keys.set, id_token, &nonce),
                None => Err(e),
            },
            other => other,
        }
        .map_err(|e| {
            let alg = id_token.signing_alg().ok().and_then(jose_name);
            ProviderError::IdToken(id_token::explain(&e, alg.as_deref(), &error_chain(&e)))
        })?;
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
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// Asks the IdP whether the login behind `refresh_token` still stands
    /// (a user it disabled, a session it ended: refused as
    /// [`ProviderError::CodeRefused`]); its next refresh token, when it
    /// rotates them.
    pub fn refresh(&self, refresh_token: &str) -> Result<Option<String>, ProviderError> {
        let d = self.discovered()?;
        let token = RefreshToken::new(refresh_token.to_owned());
        let tokens = d
            .client
            .exchange_refresh_token(&token)
            .map_err(|e| ProviderError::Discovery(e.to_string()))?
            .request(&d.http)
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => match token_error::refused(&r) {
                    Refused::Client(text) => ProviderError::ClientCredentials(text),
                    Refused::Code(text) => ProviderError::CodeRefused(text),
                },
                RequestTokenError::Request(e) => unreachable(error_chain(&e)),
                // Answered, but not with tokens nor a readable error: a 4xx is
                // the IdP's no (a client it does not let refresh answers so).
                other => match super::http::last_status() {
                    Some(status) if (400..500).contains(&status) => ProviderError::CodeRefused(format!(
                        "HTTP {status} without a usable error ({}); if every refresh is refused, allow refresh tokens \
                         for the client at the identity provider",
                        error_chain(&other)
                    )),
                    _ => ProviderError::Unreachable(format!("token endpoint answer to a refresh: {}", error_chain(&other))),
                },
            })?;
        Ok(tokens.refresh_token().map(|t| t.secret().clone()))
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
            .map_err(|e| match e {
                UserInfoError::ClaimsVerification(ClaimsVerificationError::InvalidSubject(why)) => {
                    ProviderError::SubjectMismatch(why)
                }
                e => unreachable(format!("userinfo: {}", error_chain(&e))),
            })?;
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

/// A signing algorithm's JOSE name (`PS256`).
fn jose_name(alg: &CoreJwsSigningAlgorithm) -> Option<String> {
    serde_json::to_value(alg).ok()?.as_str().map(str::to_owned)
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
    use super::discovery::issuer_spellings;
    use super::id_token::{check_azp, ALLOWED_ALGS};
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
