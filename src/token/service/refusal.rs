//! The one refusal type of the token service: every way the mint API or
//! the login bridge says no is a [`Refusal`] variant carrying its status,
//! its outcome label (logs and metrics), what happened and what to do, and
//! it is rendered once: as an HTML page for people ([`Refusal::page`], the
//! bridge) or as JSON for programs ([`Refusal::json`], the mint API).
//!
//! What a refusal says never holds a token, a code, a cookie or a secret:
//! the IdP's own error texts it carries are escaped to one line.

use super::oidc::cookie::CookieError;
use super::oidc::pages;
use super::response::{self, Response};
use ::http::header::{HeaderName, ALLOW, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use ::http::StatusCode;

/// What to do when the only fix is a new login.
const AGAIN: &str = "Go back to the meeting and log in again.";
/// What to do when only the administrator can help.
const ADMIN: &str = "Tell the meeting's administrator (the server log says why).";

/// RFC 6749 §5.2's error codes, as inline login's token endpoint
/// (`POST /oidc/token`) answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    /// A parameter missing, repeated or malformed (400).
    InvalidRequest,
    /// Not the client Jitsi's `sso.clientId` should name (401).
    InvalidClient,
    /// The code or refresh token is not good (any more) (400).
    InvalidGrant,
    /// Neither `authorization_code` nor `refresh_token` (400).
    UnsupportedGrantType,
}

impl OAuthError {
    /// The `error` value.
    pub fn code(self) -> &'static str {
        match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

/// Why the token service refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A method the route does not take (405, with `Allow`).
    Method {
        /// The methods it takes.
        allow: &'static str,
    },
    /// The mint API: no secret, or one that names no client (401).
    Unauthorized(String),
    /// The mint API: the client is over its rate (429, `Retry-After`).
    RateLimited {
        /// What the client was told.
        message: String,
        /// Seconds until it may retry.
        retry_after: u64,
    },
    /// The mint API: a malformed request, saying what is wrong (400).
    Malformed(String),
    /// The mint API: outside the client's policy, naming the rule (403).
    Forbidden(String),
    /// No key can sign now (503, `Retry-After` when known).
    NoKey {
        /// Why.
        message: String,
        /// Seconds until a key may be ready.
        retry_after: Option<u64>,
    },
    /// Signing failed (500; the log says why).
    SignFailed(String),
    /// The request body did not arrive within `--body-timeout` (408).
    BodyTimeout(String),
    /// The login bridge's configuration cannot work (500).
    Misconfigured(String),
    /// The server failed inside (a task that did not finish) (500).
    Internal(String),
    /// Jitsi's link (room, tenant or state) is not usable for a login (400).
    MeetingLink(String),
    /// The login cookie is missing, altered or too old (400).
    Cookie(CookieError),
    /// The IdP's answer has no code (400).
    NoCode,
    /// The callback's state is not this browser's login (400).
    StateMismatch,
    /// An `error=` callback without this browser's state: not honoured, and
    /// the login in progress is left alone (400).
    ErrorWithoutState,
    /// This login was finished already on this replica (400).
    Replayed,
    /// The IdP did not log the person in: its `error` code (403 for
    /// `access_denied`, else 502).
    IdpError(String),
    /// The IdP cannot be reached (502).
    IdpUnreachable(String),
    /// The IdP's discovery describes something the bridge must not use (502).
    IdpConfig(String),
    /// The token endpoint refused the code: used, expired or not ours (400).
    CodeRefused(String),
    /// The token endpoint refused the bridge's client credentials
    /// (`invalid_client`, `unauthorized_client`): a set-up error (502).
    ClientCredentials(String),
    /// The id_token failed validation (502).
    IdTokenInvalid(String),
    /// The token endpoint's id_token is not a signed JWT with JSON claims (502).
    IdTokenMalformed(String),
    /// userinfo describes another user than the id_token's `sub` (502).
    UserinfoMismatch(String),
    /// The answer is not from the configured IdP (RFC 9207) (400).
    IssuerMismatch(String),
    /// An inline login's `/oidc/auth` asks for another client or redirect,
    /// or its PKCE challenge or nonce are not what Jitsi sends (400).
    SsoRequest(String),
    /// The token endpoint's refusal, with its RFC 6749 code and what is
    /// wrong (401 for `invalid_client`, else 400).
    OAuth(OAuthError, String),
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use Refusal::*;
        match self {
            Method { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Forbidden(_) => StatusCode::FORBIDDEN,
            OAuth(OAuthError::InvalidClient, _) => StatusCode::UNAUTHORIZED,
            IdpError(code) if code == "access_denied" => StatusCode::FORBIDDEN,
            NoKey { .. } => StatusCode::SERVICE_UNAVAILABLE,
            SignFailed(_) | Misconfigured(_) | Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IdpError(_) | IdpUnreachable(_) | IdpConfig(_) | ClientCredentials(_)
            | IdTokenInvalid(_) | IdTokenMalformed(_) | UserinfoMismatch(_) => {
                StatusCode::BAD_GATEWAY
            }
            Malformed(_) | MeetingLink(_) | Cookie(_) | NoCode | StateMismatch
            | ErrorWithoutState | Replayed | CodeRefused(_) | IssuerMismatch(_) | SsoRequest(_)
            | OAuth(..) => StatusCode::BAD_REQUEST,
        }
    }

    /// The outcome label of logs and metrics (the mint API's
    /// `asap_keyserver_mint_requests_total{outcome}` among them).
    pub fn label(&self) -> &'static str {
        use Refusal::*;
        match self {
            Method { .. } => "method",
            Unauthorized(_) => "unauthorized",
            RateLimited { .. } => "rate_limited",
            Malformed(_) | MeetingLink(_) | NoCode | BodyTimeout(_) => "bad_request",
            Forbidden(_) => "forbidden",
            NoKey { .. } => "no_key",
            SignFailed(_) => "sign_failed",
            Misconfigured(_) => "config",
            Internal(_) => "internal",
            Cookie(CookieError::Missing) => "cookie_missing",
            Cookie(CookieError::Tampered) => "cookie_tampered",
            Cookie(CookieError::Expired) => "cookie_expired",
            StateMismatch => "state_mismatch",
            ErrorWithoutState => "error_state_mismatch",
            Replayed => "replayed",
            IdpError(_) => "idp_error",
            IdpUnreachable(_) => "idp_unreachable",
            IdpConfig(_) => "idp_config",
            CodeRefused(_) => "code_refused",
            ClientCredentials(_) => "client_credentials",
            IdTokenInvalid(_) => "id_token_invalid",
            IdTokenMalformed(_) => "id_token_malformed",
            UserinfoMismatch(_) => "userinfo_mismatch",
            IssuerMismatch(_) => "issuer_mismatch",
            SsoRequest(_) => "sso_request",
            OAuth(e, _) => e.code(),
        }
    }

    /// What happened, in words for the person (the bridge) or the
    /// program (the mint API's `error`).
    pub fn what(&self) -> String {
        use Refusal::*;
        match self {
            Method { allow } => format!("This address takes {allow} only."),
            Unauthorized(m) | Malformed(m) | Forbidden(m) | BodyTimeout(m) => m.clone(),
            RateLimited { message, .. } => message.clone(),
            NoKey { message, .. } => message.clone(),
            SignFailed(_) => "The token could not be signed; the server log says why.".into(),
            Misconfigured(_) => "The login service is misconfigured.".into(),
            Internal(_) => "The request failed inside the server; the server log says why.".into(),
            MeetingLink(why) => format!("The meeting link is not usable for login: {why}."),
            Cookie(e) => format!("This login cannot be finished: {e}."),
            NoCode => "The identity provider's answer has no code.".into(),
            StateMismatch => {
                "This answer of the identity provider does not belong to the login started in this browser.".into()
            }
            ErrorWithoutState => "An error answer that does not belong to the login started in this browser was ignored; \
                 a login in progress here is not affected."
                .into(),
            Replayed => "This login was finished already: its answer from the identity provider cannot be used twice.".into(),
            IdpError(code) => format!("The identity provider did not log you in ({code})."),
            IdpUnreachable(_) => "The identity provider cannot be reached.".into(),
            IdpConfig(_) => "The identity provider's configuration cannot be used by this login service.".into(),
            CodeRefused(_) => "The identity provider refused this login (it was finished already, or took too long).".into(),
            ClientCredentials(_) => "The identity provider does not accept this login service's client credentials.".into(),
            IdTokenInvalid(_) => "The identity provider's answer failed the security checks; no token was made.".into(),
            IdTokenMalformed(_) => "The identity provider's answer could not be read; no token was made.".into(),
            UserinfoMismatch(_) => "The identity provider described another user than the one who logged in; no token was made.".into(),
            IssuerMismatch(_) => "This answer does not come from the expected identity provider.".into(),
            SsoRequest(why) => format!("This meeting's login link is not usable: {why}."),
            OAuth(_, why) => why.clone(),
        }
    }

    /// What to do about it.
    pub fn todo(&self) -> &'static str {
        use Refusal::*;
        match self {
            Method { .. } => "Open it from the meeting's login button.",
            Unauthorized(_) => "Send Authorization: Bearer <client secret> with a secret of [mint].",
            RateLimited { .. } => "Retry after the time in Retry-After.",
            Malformed(_) => "Fix the request as the error says.",
            Forbidden(_) => "Ask within the client's policy, or widen the policy in --config.",
            NoKey { .. } => "Try again in a minute.",
            BodyTimeout(_) => "Send the whole body at once.",
            SignFailed(_) | Misconfigured(_) | Internal(_) | IdpConfig(_) | IdTokenInvalid(_) | IdTokenMalformed(_)
            | UserinfoMismatch(_) => ADMIN,
            MeetingLink(_) => "Open the meeting again from its link.",
            Cookie(_) => "Go back to the meeting and log in again (allow cookies for this site).",
            ErrorWithoutState => "If you were logging in, finish it in the window you started it in, or log in again.",
            ClientCredentials(_) => {
                "Tell the meeting's administrator: the bridge's client credentials (client_id and client_secret_file) \
                 must match the client registered at the identity provider."
            }
            IdpUnreachable(_) => "Try again in a few minutes; if it lasts, tell the meeting's administrator.",
            NoCode | StateMismatch | Replayed | IdpError(_) | CodeRefused(_) | IssuerMismatch(_) => AGAIN,
            SsoRequest(_) | OAuth(OAuthError::InvalidClient, _) => {
                "Tell the meeting's administrator: config.js's tokenAuthUrl and sso block (tokenService, clientId) \
                 must match the token service's [oidc] (jitsi_url, sso_client_id)."
            }
            OAuth(..) => AGAIN,
        }
    }

    /// What the log line says (never a token, code, cookie or secret).
    pub fn detail(&self) -> String {
        use Refusal::*;
        match self {
            Method { allow } => format!("not {allow}"),
            Cookie(e) => e.to_string(),
            NoKey { message, .. } => message.clone(),
            SignFailed(d)
            | Misconfigured(d)
            | Internal(d)
            | MeetingLink(d)
            | IdpError(d)
            | IdpUnreachable(d)
            | IdpConfig(d)
            | CodeRefused(d)
            | ClientCredentials(d)
            | IdTokenInvalid(d)
            | IdTokenMalformed(d)
            | UserinfoMismatch(d)
            | IssuerMismatch(d)
            | SsoRequest(d)
            | OAuth(_, d) => d.clone(),
            other => other.label().replace('_', " "),
        }
    }

    /// Headers the refusal carries: `Allow`, `Retry-After`, `WWW-Authenticate`.
    fn headers(&self) -> Vec<(HeaderName, String)> {
        match self {
            Refusal::Method { allow } => vec![(ALLOW, (*allow).to_owned())],
            Refusal::RateLimited { retry_after, .. } => {
                vec![(RETRY_AFTER, retry_after.to_string())]
            }
            Refusal::NoKey {
                retry_after: Some(wait),
                ..
            } => vec![(RETRY_AFTER, wait.to_string())],
            Refusal::Unauthorized(_) => {
                vec![(WWW_AUTHENTICATE, "Bearer realm=\"mint\"".to_owned())]
            }
            _ => Vec::new(),
        }
    }

    /// As JSON for a program: `{"error": what}` with the status and headers.
    pub fn json(&self) -> Response {
        let body = serde_json::json!({ "error": self.what() });
        let mut builder = ::http::Response::builder().status(self.status());
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        response::json(builder, &body)
    }

    /// As an HTML page for a person, with a link `back` to the meeting
    /// (or Jitsi) they came from, and `Set-Cookie` values (cookies cleared).
    pub fn page(&self, back: &str, set_cookies: &[String]) -> Response {
        let mut builder = ::http::Response::builder().status(self.status());
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        for c in set_cookies {
            builder = builder.header(SET_COOKIE, c);
        }
        let body = pages::error(&self.what(), self.todo(), back);
        response::html(builder, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_page_for_people_and_json_for_programs() {
        let r = Refusal::NoKey {
            message: "no key can sign now".into(),
            retry_after: Some(30),
        };
        let json = r.json();
        assert_eq!(
            (
                json.status().as_u16(),
                json.headers()["retry-after"].to_str().unwrap()
            ),
            (503, "30")
        );
        let v: serde_json::Value = serde_json::from_slice(json.body()).unwrap();
        assert_eq!(v["error"], "no key can sign now");
        let page = Refusal::ClientCredentials("invalid_client".into())
            .page("https://meet.example.com/r", &["c=; Max-Age=0".into()]);
        assert_eq!(page.status(), 502);
        let text = String::from_utf8(page.body().to_vec()).unwrap();
        assert!(
            text.contains("client_secret_file")
                && text.contains("href=\"https://meet.example.com/r\""),
            "{text}"
        );
        assert_eq!(page.headers()["set-cookie"], "c=; Max-Age=0");
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert_eq!(Refusal::IdpError("access_denied".into()).status(), 403);
        assert_eq!(
            Refusal::Cookie(CookieError::Expired).label(),
            "cookie_expired"
        );
    }
}
