//! The OpenID Connect login bridge: `/oidc/auth` sends a Jitsi user to the
//! identity provider, `/oidc/callback` mints their token and sends them
//! back to Jitsi, `/oidc/logout` ends the session.
//!
//! - [`provider`]: the IdP (discovery, JWKS, code exchange, id_token, userinfo),
//!   over [`http`] (a ureq agent with the program's trust; IdP time counted).
//! - [`cookie`]: the login state, sealed in a short-lived cookie.
//! - [`jitsi`]: Jitsi's `state`, the room and tenant, the return URL.
//! - [`pages`]: the error pages, the app hand-over and the logout.
//!
//! [`Bridge::handle`] blocks on the IdP (discovery, token endpoint,
//! userinfo): `serve` runs it in `spawn_blocking`. Nothing of a login is
//! kept in memory; the only state is the sealed cookie.

pub mod cookie;
pub mod http;
pub mod jitsi;
pub mod pages;
pub mod provider;

use super::{OidcConfig, Reply, Signer};
use crate::keydir::age::epoch_secs;
use crate::keydir::KeySet;
use crate::token::claims::{TokenSpec, User};
use cookie::{CookieError, LoginState, Sealer, Session, LOGIN_COOKIE, SESSION_COOKIE};
use jitsi::{App, Target};
use pages::Page;
use provider::{Identity, Provider, ProviderError, Settings};
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// A sealed id_token larger than this is not kept for logout (browsers
/// drop cookies over about 4 KiB); logout then goes without the hint.
const MAX_SESSION_COOKIE: usize = 3500;
/// The login cookie's limit: browsers keep about 4 KiB per cookie, name
/// and attributes included, and silently drop a larger one.
const MAX_LOGIN_COOKIE: usize = 4000;

/// A request to the bridge, as `serve` hands it over (owned: it crosses
/// into `spawn_blocking`).
#[derive(Debug, Clone, Default)]
pub struct BridgeRequest {
    /// The HTTP method.
    pub method: String,
    /// The path after `/oidc/` (`auth`, `callback`, `logout`).
    pub route: String,
    /// The raw query string.
    pub query: Option<String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
}

/// What happened, for the log line and the metric (never a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent to the IdP.
    Started,
    /// A token minted and the user sent back.
    Minted,
    /// Logged out.
    LoggedOut,
    /// Refused: the label says why.
    Refused(&'static str),
}

impl Outcome {
    /// A short label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Started => "started",
            Outcome::Minted => "minted",
            Outcome::LoggedOut => "logged_out",
            Outcome::Refused(why) => why,
        }
    }
}

/// The bridge's answer: the reply, what happened, and the kid that signed.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP reply.
    pub reply: Reply,
    /// What happened.
    pub outcome: Outcome,
    /// The kid of a minted token.
    pub kid: Option<String>,
    /// Why it was refused, for the log (no token, code or secret).
    pub detail: Option<String>,
    /// Time spent waiting for the IdP while answering.
    pub idp_time: std::time::Duration,
}

/// The login bridge of `[oidc]`.
pub struct Bridge {
    config: OidcConfig,
    provider: Result<Arc<Provider>, String>,
    sealer: Sealer,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn refused(
    status: u16,
    why: &'static str,
    what: &str,
    todo: &str,
    detail: String,
    cookies: Vec<String>,
) -> Box<Answer> {
    Box::new(Answer {
        reply: to_reply(pages::error(status, what, todo, cookies)),
        outcome: Outcome::Refused(why),
        kid: None,
        detail: Some(detail),
        idp_time: std::time::Duration::ZERO,
    })
}

fn to_reply(page: Page) -> Reply {
    let mut reply = Reply {
        status: page.status,
        content_type: "text/html; charset=utf-8",
        headers: page.headers,
        body: page.body.into_bytes(),
    };
    for (name, value) in pages::COMMON_HEADERS.iter().skip(1) {
        reply.headers.push((name, (*value).to_owned()));
    }
    reply
}

impl Bridge {
    /// The bridge for `config`; the IdP is discovered on the first login.
    pub fn new(config: OidcConfig) -> Bridge {
        let settings = Settings {
            issuer: config.issuer.as_str().to_owned(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.as_ref().map(|s| s.expose().to_owned()),
            redirect_uri: format!(
                "{}/oidc/callback",
                config.public_url.as_str().trim_end_matches('/')
            ),
            scopes: config.scopes.clone(),
            ca_file: config.ca_file.clone(),
        };
        let sealer = Sealer::new(&config.cookie_key, config.public_url.scheme() == "https");
        Bridge {
            provider: Provider::new(settings)
                .map(Arc::new)
                .map_err(|e| e.to_string()),
            config,
            sealer,
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
            Err(e) => tracing::warn!(issuer = provider.issuer(), error = %e, "login bridge: identity provider not usable yet (retried at the next login)"),
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

    /// Its configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    fn provider(&self) -> Result<&Arc<Provider>, Box<Answer>> {
        self.provider.as_ref().map_err(|e| {
            refused(
                500,
                "config",
                "The login service is misconfigured.",
                "Tell the meeting's administrator.",
                e.clone(),
                vec![],
            )
        })
    }

    /// Answers one request under `/oidc/` (blocks on the IdP).
    pub fn handle(
        &self,
        req: &BridgeRequest,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
    ) -> Answer {
        http::take_idp_time();
        // GET only: a HEAD of the callback would spend the code for nothing.
        if req.method != "GET" {
            let mut a = refused(
                405,
                "method",
                "This address is only opened by a browser.",
                "Open it with GET.",
                req.method.clone(),
                vec![],
            );
            a.reply.headers.push(("allow", "GET".into()));
            return *a;
        }
        let query: Vec<(String, String)> =
            form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let result = match req.route.as_str() {
            "auth" => self.auth(param("state"), param("room"), now),
            "callback" => self.callback(&param, req.cookie.as_deref(), set, signer, now),
            "logout" => Ok(self.logout(req.cookie.as_deref())),
            _ => Err(refused(
                404,
                "not_found",
                "There is no such page.",
                "Use /oidc/auth, /oidc/callback or /oidc/logout.",
                req.route.clone(),
                vec![],
            )),
        };
        let mut answer = result.unwrap_or_else(|a| *a);
        answer.idp_time = http::take_idp_time();
        answer
    }

    /// `GET /oidc/auth?room=…&state=…`: a new login.
    fn auth(
        &self,
        state: Option<&str>,
        room: Option<&str>,
        now: SystemTime,
    ) -> Result<Answer, Box<Answer>> {
        let bad_request = |detail: String| {
            refused(
                400,
                "bad_request",
                &format!("The meeting link is not usable for login: {detail}."),
                "Open the meeting again from its link.",
                detail,
                vec![],
            )
        };
        let mut jitsi: Value = match state {
            Some(s) if !s.is_empty() => serde_json::from_str(s)
                .map_err(|e| bad_request(format!("the state parameter is not JSON ({e})")))?,
            _ => Value::Null,
        };
        Target::from_request(Some(&jitsi), room).map_err(|e| bad_request(e.to_string()))?;
        // Jitsi's refresh token is of no use to the bridge: it is not kept.
        if let Some(fields) = jitsi.as_object_mut() {
            fields.remove("refreshToken");
        }
        let start = self.provider()?.start().map_err(|e| self.idp_failure(e))?;
        let login = LoginState {
            state: start.state,
            verifier: start.verifier,
            nonce: start.nonce,
            jitsi,
            room: room.map(str::to_owned),
            created: epoch_secs(now).unwrap_or(0),
        };
        let cookie = self.sealer.login_cookie(&login);
        if cookie.len() > MAX_LOGIN_COOKIE {
            return Err(bad_request(format!(
                "Jitsi's state is too large to keep in a cookie ({} bytes sealed, at most {MAX_LOGIN_COOKIE})",
                cookie.len()
            )));
        }
        Ok(Answer {
            reply: to_reply(pages::redirect(&start.url, vec![cookie])),
            outcome: Outcome::Started,
            kid: None,
            detail: None,
            idp_time: std::time::Duration::ZERO,
        })
    }

    /// `GET /oidc/callback?code=…&state=…[&iss=…]`: finish the login, mint, send back.
    fn callback<'a>(
        &self,
        param: &dyn Fn(&str) -> Option<&'a str>,
        cookie: Option<&str>,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
    ) -> Result<Answer, Box<Answer>> {
        let clear = || vec![self.sealer.clear(LOGIN_COOKIE)];
        let again = "Go back to the meeting and log in again.";
        let login = self
            .sealer
            .open_login(cookie, epoch_secs(now).unwrap_or(0))
            .map_err(|e| {
                let why = match e {
                    CookieError::Missing => "cookie_missing",
                    CookieError::Tampered => "cookie_tampered",
                    CookieError::Expired => "cookie_expired",
                };
                let todo = "Go back to the meeting and log in again (allow cookies for this site).";
                refused(
                    400,
                    why,
                    &format!("This login cannot be finished: {e}."),
                    todo,
                    e.to_string(),
                    clear(),
                )
            })?;
        if let Some(error) = param("error") {
            let status = if error == "access_denied" { 403 } else { 502 };
            let text = crate::error::escape_controls(error).into_owned();
            let what = format!("The identity provider did not log you in ({text}).");
            return Err(refused(status, "idp_error", &what, again, text, clear()));
        }
        let ours = login.state.as_bytes();
        if !bool::from(param("state").unwrap_or("").as_bytes().ct_eq(ours)) {
            let what = "This answer of the identity provider does not belong to the login started in this browser.";
            return Err(refused(
                400,
                "state_mismatch",
                what,
                again,
                "state mismatch".into(),
                clear(),
            ));
        }
        let Some(code) = param("code").filter(|c| !c.is_empty()) else {
            return Err(refused(
                400,
                "bad_request",
                "The identity provider's answer has no code.",
                again,
                "no code".into(),
                clear(),
            ));
        };
        let provider = self.provider()?;
        provider
            .check_iss_parameter(param("iss"))
            .map_err(|e| self.idp_failure(e))?;
        let identity = provider
            .finish(code, &login.verifier, &login.nonce)
            .map_err(|e| self.idp_failure(e))?;
        let target =
            Target::from_request(Some(&login.jitsi), login.room.as_deref()).map_err(|e| {
                refused(
                    400,
                    "bad_request",
                    &format!("The meeting link is not usable for login: {e}."),
                    again,
                    e.to_string(),
                    clear(),
                )
            })?;
        let spec = self.spec(&identity, &target);
        let signed = signer
            .sign(set, &self.config.token_issuer, &spec, now)
            .map_err(|e| match e.retry_after() {
                Some(wait) => {
                    let mut a = refused(
                        503,
                        "no_key",
                        "No signing key is ready.",
                        "Try again in a minute.",
                        e.to_string(),
                        clear(),
                    );
                    a.reply
                        .headers
                        .push(("retry-after", wait.as_secs().max(1).to_string()));
                    a
                }
                None => {
                    let todo = "Tell the meeting's administrator (the server log says why).";
                    refused(
                        500,
                        "sign_failed",
                        "Your token could not be made.",
                        todo,
                        e.to_string(),
                        clear(),
                    )
                }
            })?;
        let url = target.return_url(&self.config.jitsi_url, &signed.token);
        let mut cookies = clear();
        let session = self.sealer.session_cookie(
            &Session {
                id_token: identity.id_token.clone(),
            },
            self.config.ttl.as_secs(),
        );
        if session.len() <= MAX_SESSION_COOKIE {
            cookies.push(session);
        }
        let page = match target.app {
            App::Web => pages::redirect(&url, cookies),
            _ => pages::open_app(&url, cookies),
        };
        Ok(Answer {
            reply: to_reply(page),
            outcome: Outcome::Minted,
            kid: Some(signed.kid),
            detail: None,
            idp_time: std::time::Duration::ZERO,
        })
    }

    /// The claims of the token for `identity` joining `target`.
    fn spec(&self, identity: &Identity, target: &Target) -> TokenSpec {
        let moderator = self.config.moderator.as_ref().is_some_and(|rule| {
            match identity.claims.get(&rule.claim) {
                Some(Value::String(s)) => *s == rule.value,
                Some(Value::Array(values)) => values
                    .iter()
                    .any(|v| v.as_str() == Some(rule.value.as_str())),
                _ => false,
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
        TokenSpec {
            iss: Some(self.config.token_issuer.clone()),
            aud: Some(self.config.audience.clone()),
            sub: Some(target.sub()),
            room: Some(target.room_claim()),
            ttl: Some(self.config.ttl),
            user: User {
                id: Some(identity.sub.clone()),
                name,
                email: identity.text("email").map(str::to_owned),
                avatar,
                affiliation: moderator.then(|| "owner".to_owned()),
                ..User::default()
            },
            // The string "true" Jitsi's plugins compare with (token::claims' rule).
            moderator: moderator.then_some(true),
            ..TokenSpec::default()
        }
    }

    /// `GET /oidc/logout`: cookies cleared, on to the IdP's logout, back to Jitsi's `static/logout.html`.
    fn logout(&self, cookie: Option<&str>) -> Answer {
        let back = pages::jitsi_logout_page(self.config.jitsi_url.as_str());
        let hint = self.sealer.open_session(cookie).map(|s| s.id_token);
        let next = self
            .provider
            .as_ref()
            .ok()
            .and_then(|p| p.end_session_url(hint.as_deref(), &back))
            .unwrap_or(back);
        Answer {
            reply: to_reply(pages::logout(
                &next,
                vec![
                    self.sealer.clear(LOGIN_COOKIE),
                    self.sealer.clear(SESSION_COOKIE),
                ],
            )),
            outcome: Outcome::LoggedOut,
            kid: None,
            detail: None,
            idp_time: std::time::Duration::ZERO,
        }
    }

    fn idp_failure(&self, e: ProviderError) -> Box<Answer> {
        let clear = vec![self.sealer.clear(LOGIN_COOKIE)];
        let again = "Go back to the meeting and log in again.";
        match &e {
            ProviderError::Unreachable(_) => refused(
                502,
                "idp_unreachable",
                "The identity provider cannot be reached.",
                "Try again in a few minutes; if it lasts, tell the meeting's administrator.",
                e.to_string(),
                clear,
            ),
            ProviderError::Discovery(_) => refused(
                502,
                "idp_config",
                "The identity provider's configuration cannot be used by this login service.",
                "Tell the meeting's administrator.",
                e.to_string(),
                clear,
            ),
            ProviderError::CodeRefused(_) => refused(
                400,
                "code_refused",
                "The identity provider refused this login (it was finished already, or took too long).",
                again,
                e.to_string(),
                clear,
            ),
            ProviderError::IdToken(_) => refused(
                502,
                "id_token_invalid",
                "The identity provider's answer failed the security checks; no token was made.",
                "Tell the meeting's administrator.",
                e.to_string(),
                clear,
            ),
            ProviderError::MalformedIdToken(_) => refused(
                502,
                "id_token_malformed",
                "The identity provider's answer could not be read; no token was made.",
                "Tell the meeting's administrator.",
                e.to_string(),
                clear,
            ),
            ProviderError::SubjectMismatch(_) => refused(
                502,
                "userinfo_mismatch",
                "The identity provider described another user than the one who logged in; no token was made.",
                "Tell the meeting's administrator.",
                e.to_string(),
                clear,
            ),
            ProviderError::Mixup(_) => refused(
                400,
                "issuer_mismatch",
                "This answer does not come from the expected identity provider.",
                again,
                e.to_string(),
                clear,
            ),
        }
    }
}
