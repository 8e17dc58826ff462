//! The OpenID Connect login bridge: `/oidc/auth` sends a Jitsi user to the
//! identity provider, `/oidc/callback` mints their token and sends them
//! back to Jitsi, `/oidc/logout` ends the session.
//!
//! - [`provider`]: the IdP (discovery, JWKS, code exchange, id_token, userinfo),
//!   over [`http`] (a ureq agent with the program's trust; IdP time counted).
//! - [`idp`]: the seam: the [`IdentityProvider`] trait the flow asks, which
//!   [`provider::Provider`] implements (and a fake, in the unit tests);
//!   [`token_error`]: what the token endpoint's error answer means.
//! - The flow, one child per route: `auth`, `callback` (with `replay`, the
//!   login states used on this replica), `logout`, and inline login's
//!   `POST /oidc/token` (`redeem`).
//! - Inline login (`tokenAuthInline` + `sso` in Jitsi's config.js): `inline`
//!   (what `/oidc/auth` and the callback do differently for it), [`grant`]
//!   (its sealed one-time codes and refresh tokens).
//! - [`cookie`]: the login state, sealed in a short-lived cookie.
//! - [`jitsi`]: Jitsi's `state`, the room and tenant, the return URL.
//! - [`pages`]: the redirects, the app hand-over, the error page's body.
//!
//! [`Bridge::handle`] takes an [`::http::Request`] and answers an
//! [`Answer`] whose response is an [`::http::Response`]; a refusal is a
//! [`Refusal`] rendered as a page. It blocks on the IdP (discovery, token
//! endpoint, userinfo): `serve` runs it in `spawn_blocking`. The login in
//! progress lives in the sealed cookie; the one thing kept in memory is
//! the record of login states used already (`replay`).

mod auth;
mod callback;
pub(crate) mod cookie;
pub(crate) mod grant;
pub(crate) mod http;
pub(crate) mod idp;
mod inline;
pub(crate) mod jitsi;
mod logout;
pub(crate) mod pages;
pub(crate) mod provider;
mod redeem;
mod replay;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_inline;
pub(crate) mod token_error;

pub use idp::IdentityProvider;

use super::refusal::Refusal;
use super::{Answer, OidcConfig, Outcome, Response, Signer};
use crate::keydir::KeySet;
use crate::routes::{BridgeUrls, Route, Routes};
use crate::token::claims::{TokenSpec, User};
use cookie::{Sealer, LOGIN_COOKIE};
use grant::Person;
use jitsi::Target;
use provider::{Identity, Provider, ProviderError, Settings};
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;

/// The login bridge of `[oidc]`.
pub struct Bridge {
    config: OidcConfig,
    provider: Result<Arc<dyn IdentityProvider>, String>,
    sealer: Sealer,
    urls: BridgeUrls,
    used: replay::Used,
    /// Inline login's codes and refresh tokens redeemed on this replica.
    redeemed: replay::Used,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("config", &self.config)
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

/// A refusal of the bridge with where to send the person back, and the
/// cookies to clear.
struct Refused {
    refusal: Refusal,
    /// The meeting they came from, when known.
    back: Option<String>,
    /// Whether the login cookie is cleared (no, when the refusal must not
    /// touch a login in progress).
    clear: bool,
}

impl From<Refusal> for Refused {
    fn from(refusal: Refusal) -> Refused {
        Refused {
            refusal,
            back: None,
            clear: true,
        }
    }
}

impl Refused {
    /// The same refusal, linking back to `meeting`.
    fn back_to(mut self, meeting: Option<String>) -> Refused {
        if self.back.is_none() {
            self.back = meeting;
        }
        self
    }
}

/// A step of the flow: its answer, or a refusal.
type Step = Result<Answer, Refused>;

impl Bridge {
    /// The bridge for `config` at the root (`/oidc/…` under `public_url`);
    /// the IdP is discovered on the first login.
    pub fn new(config: OidcConfig) -> Bridge {
        Bridge::mounted(config, &Routes::default())
    }

    /// The bridge for `config` on the server whose routes are `routes`
    /// (its `--base-path`): redirect URI and cookie path from the route table.
    pub fn mounted(config: OidcConfig, routes: &Routes) -> Bridge {
        let urls = routes.bridge(&config.public_url);
        let settings = Settings {
            issuer: config.issuer.as_str().to_owned(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.as_ref().map(|s| s.expose().to_owned()),
            redirect_uri: urls.redirect_uri.clone(),
            scopes: config.scopes.clone(),
            ca_file: config.ca_file.clone(),
        };
        let provider = Provider::new(settings)
            .map(|p| Arc::new(p) as Arc<dyn IdentityProvider>)
            .map_err(|e| e.to_string());
        Bridge::with_provider(config, urls, provider)
    }

    /// The bridge for `config` asking `provider` (the unit tests' fake IdP).
    fn with_provider(
        config: OidcConfig,
        urls: BridgeUrls,
        provider: Result<Arc<dyn IdentityProvider>, String>,
    ) -> Bridge {
        let sealer = Sealer::new(&config.cookie_key, config.public_url.scheme() == "https")
            .at_path(&urls.cookie_path);
        Bridge {
            provider,
            config,
            sealer,
            urls,
            used: replay::Used::default(),
            redeemed: replay::Used::default(),
        }
    }

    /// Discovers the IdP on a thread of its own: the outcome is logged at
    /// start, and the first login finds it done. A failure is retried by
    /// the next login.
    pub fn prepare_in_background(&self) {
        let Ok(provider) = self.provider.clone() else {
            return;
        };
        let spawned = std::thread::Builder::new().name("oidc-discovery".into()).spawn(move || match provider.prepare() {
            Ok(()) => tracing::info!(issuer = provider.issuer(), "login bridge: identity provider discovered"),
            Err(e) => tracing::warn!(
                issuer = provider.issuer(),
                error = %e,
                "login bridge: identity provider not usable yet (tried again with backoff, 1 s up to 5 minutes)"
            ),
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "login bridge: cannot start the discovery thread (discovery happens at the first login)");
        }
    }

    /// Discovers the IdP now, on this thread, as a login would (for
    /// `doctor --config`): what was found, or why it cannot be used.
    pub fn describe(&self) -> Result<provider::Described, String> {
        let provider = self.provider.as_ref().map_err(Clone::clone)?;
        provider.describe().map_err(|e| e.to_string())
    }

    /// Its addresses as browsers reach them: the redirect URI to register
    /// at the IdP, the cookie path (with [`crate::routes::post_logout_uri`]
    /// the post-logout redirect URI).
    #[cfg(test)]
    pub fn urls(&self) -> &BridgeUrls {
        &self.urls
    }

    fn provider(&self) -> Result<&Arc<dyn IdentityProvider>, Refused> {
        self.provider
            .as_ref()
            .map_err(|e| Refusal::Misconfigured(e.clone()).into())
    }

    /// Answers one request of the bridge's `route` (blocks on the IdP).
    pub fn handle(
        &self,
        route: Route,
        req: &::http::Request<()>,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
    ) -> Answer {
        http::take_idp_time();
        // GET only: a HEAD of the callback would spend the code for nothing.
        let step = if req.method() != ::http::Method::GET {
            Err(Refusal::Method { allow: "GET" }.into())
        } else {
            let query: Vec<(String, String)> =
                form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let cookie = cookie_header(req);
            let param = |name: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            match route {
                Route::OidcAuth => self.auth(&param, raw_param(req.uri().query(), "state"), now),
                Route::OidcCallback => self.callback(&param, cookie.as_deref(), set, signer, now),
                Route::OidcLogout => Ok(self.logout(cookie.as_deref())),
                _ => Err(Refusal::Misconfigured(format!(
                    "{route:?} is not a route of the login bridge"
                ))
                .into()),
            }
        };
        let mut answer = step.unwrap_or_else(|r| self.refused(r));
        answer.idp_time = http::take_idp_time();
        answer
    }

    /// A refusal as the page the person sees.
    fn refused(&self, r: Refused) -> Answer {
        let back = r
            .back
            .unwrap_or_else(|| self.config.jitsi_url.as_str().to_owned());
        let clear = if r.clear {
            vec![self.sealer.clear(LOGIN_COOKIE)]
        } else {
            Vec::new()
        };
        Answer::refused(r.refusal.page(&back, &clear), r.refusal)
    }

    /// Who `identity` is, as the tokens name them: the moderator rule
    /// applied, the display name, e-mail and an https avatar.
    fn person(&self, identity: &Identity) -> Person {
        let moderator = self.config.moderator.as_ref().is_some_and(|rule| match identity.claims.get(&rule.claim) {
            Some(Value::String(s)) => *s == rule.value,
            Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(rule.value.as_str())),
            Some(_) => false,
            None => {
                // Once per login: a rule that can never match says so (the
                // claim's name only, never its values or a token).
                tracing::info!(
                    claim = rule.claim.as_str(),
                    "login bridge: the moderator rule's claim is in neither the id_token nor userinfo \
                     (ask for the scope that releases it in `scopes`, or map it at the IdP); not a moderator"
                );
                false
            }
        });
        let name = identity
            .text("name")
            .or_else(|| identity.text("preferred_username"))
            .map(str::to_owned);
        // Jitsi shows the avatar to everyone: only an https picture is passed on.
        let avatar = identity
            .text("picture")
            .filter(|p| {
                p.to_ascii_lowercase().starts_with("https://")
                    && crate::token::claims::avatar_allowed(p)
            })
            .map(str::to_owned);
        Person {
            sub: identity.sub.clone(),
            name,
            email: identity.text("email").map(str::to_owned),
            avatar,
            moderator,
        }
    }

    /// The claims of the token for `person` joining `target`: the one rule
    /// of the redirect contract and of inline login.
    fn spec(&self, person: &Person, target: &Target) -> TokenSpec {
        TokenSpec {
            iss: Some(self.config.token_issuer.clone()),
            aud: Some(self.config.audience.clone()),
            sub: Some(target.sub()),
            room: Some(target.room_claim()),
            ttl: Some(self.config.ttl),
            user: User {
                id: Some(person.sub.clone()),
                name: person.name.clone(),
                email: person.email.clone(),
                avatar: person.avatar.clone(),
                affiliation: person.moderator.then(|| "owner".to_owned()),
                ..User::default()
            },
            // The string "true" Jitsi's plugins compare with (token::claims' rule).
            moderator: person.moderator.then_some(true),
            ..TokenSpec::default()
        }
    }
}

/// The first value of `name` in `query` as it came, still percent-encoded.
fn raw_param<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// The request's `Cookie` header(s), joined as one (`None` without, or
/// when one is not text).
fn cookie_header(req: &::http::Request<()>) -> Option<String> {
    let values: Option<Vec<&str>> = req
        .headers()
        .get_all(::http::header::COOKIE)
        .iter()
        .map(|v| v.to_str().ok())
        .collect();
    values.filter(|v| !v.is_empty()).map(|v| v.join("; "))
}

/// A token the bridge could not sign: 503 with `Retry-After` while no key
/// is ready (too young, or a file being replaced), else 500.
fn sign_refusal(e: super::SignError) -> Refusal {
    match e.retry_after() {
        Some(wait) => Refusal::NoKey {
            message: format!("No signing key is ready ({e})."),
            retry_after: Some(wait.as_secs().max(1)),
        },
        None => Refusal::SignFailed(e.to_string()),
    }
}

/// An IdP failure as the refusal it is, each labelled for what it is; a
/// set-up error (the bridge's client credentials) is also logged at `error`.
fn idp_refusal(e: ProviderError) -> Refusal {
    let detail = e.to_string();
    match e {
        ProviderError::Unreachable(_) => Refusal::IdpUnreachable(detail),
        ProviderError::Discovery(_) => Refusal::IdpConfig(detail),
        ProviderError::CodeRefused(_) => Refusal::CodeRefused(detail),
        ProviderError::ClientCredentials(_) => {
            tracing::error!(error = %detail, "login bridge: the identity provider refused the bridge's client credentials \
                (client_id / client_secret_file): no login can succeed until they match the client registered at the IdP");
            Refusal::ClientCredentials(detail)
        }
        ProviderError::IdToken(_) => Refusal::IdTokenInvalid(detail),
        ProviderError::MalformedIdToken(_) => Refusal::IdTokenMalformed(detail),
        ProviderError::SubjectMismatch(_) => Refusal::UserinfoMismatch(detail),
        ProviderError::Mixup(_) => Refusal::IssuerMismatch(detail),
    }
}

/// A redirect or page the flow answers, with what happened.
fn done(response: Response, outcome: Outcome, kid: Option<String>) -> Answer {
    Answer {
        response,
        outcome,
        kid,
        client: None,
        idp_time: std::time::Duration::ZERO,
    }
}
