//! `POST /oidc/token` (and `OPTIONS`): Jitsi's `static/sso.html` redeems
//! an inline login's code (`grant_type=authorization_code` with PKCE S256,
//! RFC 7636) or a refresh token (`grant_type=refresh_token`), posted as a
//! form from the Jitsi page's origin by a cross-origin `fetch`.
//!
//! The answer is Jitsi's token (`access_token`: the same claims as the
//! redirect contract's), an `id_token` (iss `public_url`, aud
//! `sso_client_id`, the IdP's `sub`, Jitsi's nonce on a code; signed RS256
//! by the same key), `token_type`, `expires_in` and a new refresh token: a
//! refresh token is rotated at every use, and each refresh signs with the
//! newest key that is old enough, so tokens move to a dropped key without
//! a new login. When the IdP gave a refresh token, a refresh asks the IdP
//! first: a user it disabled is refused.
//!
//! Refusals are RFC 6749 §5.2 JSON (`error`, `error_description`); every
//! answer is `Cache-Control: no-store`; `Access-Control-Allow-Origin` is
//! given to the origin of `jitsi_url` and no other. Nothing here logs or
//! answers a code or a token it was sent.

use super::grant::{new_id, Code, GrantError, Refresh};
use super::jitsi::{App, Target};
use super::provider::ProviderError;
use super::{idp_refusal, sign_refusal, Bridge};
use crate::keydir::age::epoch_secs;
use crate::keydir::KeySet;
use crate::token::service::refusal::{OAuthError, Refusal};
use crate::token::service::response;
use crate::token::service::{Answer, Outcome, Signer};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::SystemTime;

/// How long a browser may keep the answer to a preflight.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The form `sso.html` posts, each parameter once.
type Form = HashMap<String, String>;

/// The claims of the id_token beside Jitsi's token.
#[derive(Serialize)]
struct IdToken<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

fn oauth(error: OAuthError, description: impl Into<String>) -> Refusal {
    Refusal::OAuth(error, description.into())
}

fn invalid_grant(e: GrantError) -> Refusal {
    oauth(OAuthError::InvalidGrant, e.to_string())
}

impl Bridge {
    /// Answers `POST /oidc/token` with its form `body` (`None`: over the
    /// size limit), or its preflight `OPTIONS`. Blocks on the IdP when a
    /// refresh asks it.
    pub fn token(
        &self,
        req: &http::Request<()>,
        body: Option<&[u8]>,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
    ) -> Answer {
        super::http::take_idp_time();
        let mut answer = match *req.method() {
            Method::OPTIONS => self.preflight(req),
            Method::POST => match read_form(req, body)
                .and_then(|form| self.redeem(req, &form, set, signer, now))
            {
                Ok(a) => a,
                Err(refusal) => self.token_refused(req, refusal),
            },
            _ => self.token_refused(
                req,
                Refusal::Method {
                    allow: "POST, OPTIONS",
                },
            ),
        };
        answer.idp_time = super::http::take_idp_time();
        answer
    }

    /// Whether answering the token request with form `body` may block on
    /// the IdP: a refresh whose login holds an IdP refresh token. `serve`
    /// runs only those off its workers; the rest (a code, a refresh
    /// without one, a refusal) sign inline, as the mint API does.
    pub fn token_may_block(&self, body: Option<&[u8]>) -> bool {
        let Some(Ok(form)) = body.map(parse_form) else {
            return false;
        };
        form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form
                .get("refresh_token")
                .is_some_and(|t| Refresh::asks_idp(&self.sealer, t))
    }

    /// A refusal of the token endpoint as RFC 6749 §5.2 JSON, with the
    /// CORS grant for Jitsi's origin (so `sso.html` can show why).
    pub fn token_refused(&self, req: &http::Request<()>, refusal: Refusal) -> Answer {
        let error = match &refusal {
            Refusal::OAuth(e, _) => e.code(),
            Refusal::NoKey { .. } | Refusal::IdpUnreachable(_) => "temporarily_unavailable",
            r if r.status().is_server_error() => "server_error",
            _ => "invalid_request",
        };
        let description: String = refusal
            .what()
            .chars()
            // RFC 6749: error_description is printable ASCII without '"' and '\'.
            .map(|c| {
                if c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\') {
                    c
                } else {
                    '\''
                }
            })
            .collect();
        let mut builder = self.cors(req, http::Response::builder().status(refusal.status()));
        if let Refusal::NoKey {
            retry_after: Some(wait),
            ..
        } = &refusal
        {
            builder = builder.header(header::RETRY_AFTER, wait.to_string());
        }
        if let Refusal::Method { allow } = &refusal {
            builder = builder.header(header::ALLOW, *allow);
        }
        let body = json!({ "error": error, "error_description": description });
        Answer::refused(response::json(no_store(builder), &body), refusal)
    }

    /// `Access-Control-Allow-Origin` for the origin of `jitsi_url` only
    /// (and `Vary: Origin` always: the answer depends on it).
    fn cors(
        &self,
        req: &http::Request<()>,
        builder: http::response::Builder,
    ) -> http::response::Builder {
        let builder = builder.header(header::VARY, HeaderValue::from_static("origin"));
        let jitsi = self.config.jitsi_url.origin().ascii_serialization();
        match req.headers().get(header::ORIGIN) {
            Some(origin) if origin.as_bytes() == jitsi.as_bytes() => {
                builder.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())
            }
            _ => builder,
        }
    }

    /// `OPTIONS`: a preflight granted to Jitsi's origin only (`sso.html`'s
    /// form post needs none; a client that adds headers does).
    fn preflight(&self, req: &http::Request<()>) -> Answer {
        let builder = self
            .cors(
                req,
                http::Response::builder().status(StatusCode::NO_CONTENT),
            )
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, "POST")
            .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type")
            .header(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE);
        let response = response::finish(no_store(builder), "text/plain; charset=utf-8", Vec::new());
        super::done(response, Outcome::Started, None)
    }

    /// The answer to the token request `form` (of `req`, for its origin).
    fn redeem(
        &self,
        req: &http::Request<()>,
        form: &Form,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
    ) -> Result<Answer, Refusal> {
        let client = form
            .get("client_id")
            .ok_or_else(|| oauth(OAuthError::InvalidRequest, "client_id is missing"))?;
        if *client != self.config.sso_client_id {
            return Err(oauth(
                OAuthError::InvalidClient,
                "client_id is not this service's sso_client_id (config.js's sso.clientId must match [oidc] sso_client_id)",
            ));
        }
        let need = |name: &str| {
            form.get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| oauth(OAuthError::InvalidRequest, format!("{name} is missing")))
        };
        let secs = epoch_secs(now).unwrap_or(0);
        let (grant, nonce) = match need("grant_type")? {
            "authorization_code" => {
                let code = Code::redeem(
                    &self.sealer,
                    need("code")?,
                    client,
                    need("redirect_uri")?,
                    need("code_verifier")?,
                    secs,
                )
                .map_err(invalid_grant)?;
                if !self.redeemed.first_use(&code.id, code.used_until(), secs) {
                    return Err(oauth(OAuthError::InvalidGrant, "the code was used already"));
                }
                (code.grant, code.nonce)
            }
            "refresh_token" => {
                let ttl = self.config.refresh_ttl;
                let mut refresh =
                    Refresh::redeem(&self.sealer, need("refresh_token")?, client, ttl, secs)
                        .map_err(invalid_grant)?;
                let until = refresh.grant.login.saturating_add(ttl.as_secs());
                if !self.redeemed.first_use(&refresh.id, until, secs) {
                    return Err(oauth(
                        OAuthError::InvalidGrant,
                        "the refresh token was used already (each is good for one refresh; use the one the last refresh answered)",
                    ));
                }
                if let Some(idp_refresh) = refresh.grant.idp_refresh.take() {
                    match self.ask_idp(&idp_refresh) {
                        Ok(next) => refresh.grant.idp_refresh = Some(next.unwrap_or(idp_refresh)),
                        Err(e) => {
                            if !matches!(e, Refusal::OAuth(..)) {
                                // Not the IdP's no: the same token may be tried again.
                                self.redeemed.forget(&refresh.id);
                            }
                            return Err(e);
                        }
                    }
                }
                (refresh.grant, None)
            }
            _ => {
                return Err(oauth(
                    OAuthError::UnsupportedGrantType,
                    "grant_type must be authorization_code or refresh_token",
                ))
            }
        };
        let target = Target {
            tenant: grant.tenant.clone(),
            room: grant.room.clone(),
            overrides: Vec::new(),
            app: App::Web,
        };
        let spec = self.spec(&grant.person, &target);
        let issuer = self
            .config
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let signed = signer.sign_pair(set, &self.config.token_issuer, &spec, now, |token| {
            IdToken {
                iss: &issuer,
                sub: &grant.person.sub,
                aud: &self.config.sso_client_id,
                iat: secs,
                exp: token.exp,
                auth_time: grant.login,
                nonce: nonce.as_deref(),
            }
        });
        let (token, id_token) = signed.map_err(sign_refusal)?;
        let next = Refresh {
            id: new_id(),
            grant,
        }
        .seal(&self.sealer);
        let body = json!({
            "access_token": token.token,
            "token_type": "Bearer",
            "expires_in": token.exp.saturating_sub(secs),
            "id_token": id_token,
            "refresh_token": next,
        });
        let builder = self.cors(req, http::Response::builder().status(StatusCode::OK));
        Ok(super::done(
            response::json(no_store(builder), &body),
            Outcome::Minted,
            Some(token.kid),
        ))
    }

    /// The IdP asked whether the login still stands: its next refresh
    /// token, an `invalid_grant` when it says no.
    fn ask_idp(&self, idp_refresh: &str) -> Result<Option<String>, Refusal> {
        let provider = self
            .provider
            .as_ref()
            .map_err(|e| Refusal::Misconfigured(e.clone()))?;
        provider.refresh(idp_refresh).map_err(|e| match e {
            ProviderError::CodeRefused(why) => oauth(
                OAuthError::InvalidGrant,
                format!("the identity provider no longer accepts this login ({why}): log in again"),
            ),
            other => idp_refusal(other),
        })
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
fn no_store(builder: http::response::Builder) -> http::response::Builder {
    builder
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .header(header::PRAGMA, HeaderValue::from_static("no-cache"))
}

/// The form of a token request: `application/x-www-form-urlencoded`, each
/// parameter at most once (RFC 6749 §3.2).
fn read_form(req: &http::Request<()>, body: Option<&[u8]>) -> Result<Form, Refusal> {
    let body = body.ok_or_else(|| {
        oauth(
            OAuthError::InvalidRequest,
            format!(
                "the request body is over {} bytes",
                crate::token::service::MAX_BODY
            ),
        )
    })?;
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(oauth(
            OAuthError::InvalidRequest,
            "the body must be a form (Content-Type: application/x-www-form-urlencoded)",
        ));
    }
    parse_form(body)
}

/// `body` as a form, each parameter at most once.
fn parse_form(body: &[u8]) -> Result<Form, Refusal> {
    let mut form = Form::new();
    for (k, v) in form_urlencoded::parse(body) {
        if form
            .insert(k.clone().into_owned(), v.into_owned())
            .is_some()
        {
            return Err(oauth(
                OAuthError::InvalidRequest,
                format!(
                    "{} is given more than once",
                    crate::error::escape_controls(&k.chars().take(40).collect::<String>())
                ),
            ));
        }
    }
    Ok(form)
}
