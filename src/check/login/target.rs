//! What to log in to, as Jitsi's client would derive it: from a meeting
//! URL and the deployment's `config.js` where it is reachable, what was
//! given explicitly winning over both.

use super::meeting::{config_js_value, token_in, Meeting};
use crate::check::fetch;

/// How to reach Prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `wss://host/xmpp-websocket` (Jitsi's default).
    WebSocket(String),
    /// `https://host/http-bind`.
    Bosh(String),
}

/// What to log in to, as Jitsi's client would derive it from a meeting URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// The endpoint, without the token.
    pub endpoint: Endpoint,
    /// The XMPP domain (`hosts.domain`).
    pub domain: String,
    /// The MUC domain (`hosts.muc`, `conference.<domain>`).
    pub muc_domain: String,
    /// The focus component (`focus.<domain>`).
    pub focus: String,
    /// The room to join; `None` stops after bind.
    pub room: Option<String>,
    /// The meeting URL's tenant, if it names one (the offline checks of
    /// `sub` need it; the login itself does not).
    pub tenant: Option<String>,
    /// The token.
    pub token: String,
}

/// What was given explicitly (`login`'s flags); each wins over what the
/// meeting URL and `config.js` say.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// The WebSocket endpoint.
    pub websocket: Option<String>,
    /// The BOSH endpoint.
    pub bosh: Option<String>,
    /// The XMPP domain.
    pub domain: Option<String>,
    /// The MUC domain.
    pub muc_domain: Option<String>,
    /// The focus component.
    pub focus: Option<String>,
    /// The room (joined lower-cased, as the client does).
    pub room: Option<String>,
    /// Stop after the login: join no room.
    pub no_join: bool,
}

/// Why there is nothing to log in to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// Not a meeting URL after all.
    #[error("{0}")]
    Meeting(String),
    /// A meeting URL without a token.
    #[error("the meeting URL has no ?jwt= token: append ?jwt=<token>")]
    NoToken,
    /// Not three dot-separated parts.
    #[error("not a JWT (three base64url parts): check the token you pasted")]
    NotJwt,
    /// Neither a meeting URL nor an endpoint.
    #[error(
        "say where Prosody is: a meeting URL (https://meet.example.com/room?jwt=...), \
         --websocket URL or --bosh URL"
    )]
    NoEndpoint,
    /// No meeting URL and no domain.
    #[error("--domain is needed without a meeting URL (config.js hosts.domain)")]
    NoDomain,
    /// No meeting URL, no room, and a join asked for.
    #[error("say which room to join (--room NAME), or --no-join")]
    NoRoom,
}

impl Target {
    /// The target `token` (a token, or a meeting URL with `?jwt=`) and
    /// `given` describe, reading `config.js` beside a meeting URL with
    /// `options`; and lines saying what was read.
    pub fn derive(
        token: &str,
        given: &Given,
        options: &fetch::Options,
    ) -> Result<(Target, Vec<String>), TargetError> {
        let mut notes = Vec::new();
        let meeting = if token.starts_with("https://") || token.starts_with("http://") {
            Some(Meeting::parse(token).map_err(TargetError::Meeting)?)
        } else {
            None
        };
        let token = match &meeting {
            Some(m) => m.token.clone().ok_or(TargetError::NoToken)?,
            None => token_in(token).to_owned(),
        };
        if token.split('.').count() != 3 {
            return Err(TargetError::NotJwt);
        }
        // config.js, where it is reachable, as the client reads it.
        let js = meeting
            .as_ref()
            .and_then(|m| config_js(m, options, &mut notes));
        let from_js = |key: &str| js.as_deref().and_then(|t| config_js_value(t, key));
        let endpoint = match (&given.websocket, &given.bosh, &meeting) {
            (Some(ws), _, _) => Endpoint::WebSocket(ws.clone()),
            (None, Some(b), _) => Endpoint::Bosh(b.clone()),
            (None, None, Some(m)) => match (from_js("websocket"), from_js("bosh")) {
                (Some(ws), _) => Endpoint::WebSocket(ws),
                (None, Some(b)) if b.starts_with("http") => Endpoint::Bosh(b),
                _ => Endpoint::WebSocket(m.websocket()),
            },
            (None, None, None) => return Err(TargetError::NoEndpoint),
        };
        let domain = given
            .domain
            .clone()
            .or_else(|| from_js("domain"))
            .or_else(|| meeting.as_ref().map(Meeting::domain))
            .ok_or(TargetError::NoDomain)?;
        let muc_domain = given
            .muc_domain
            .clone()
            .or_else(|| from_js("muc"))
            .or_else(|| meeting.as_ref().map(Meeting::muc_domain))
            .unwrap_or_else(|| format!("conference.{domain}"));
        let focus = given
            .focus
            .clone()
            .or_else(|| from_js("focus"))
            .unwrap_or_else(|| format!("focus.{domain}"));
        let room = if given.no_join {
            None
        } else {
            match (&given.room, &meeting) {
                (Some(r), _) => Some(r.to_lowercase()),
                (None, Some(m)) => Some(m.room.clone()),
                (None, None) => return Err(TargetError::NoRoom),
            }
        };
        let tenant = meeting.and_then(|m| m.tenant);
        let target = Target {
            endpoint,
            domain,
            muc_domain,
            focus,
            room,
            tenant,
            token,
        };
        Ok((target, notes))
    }
}

/// The meeting's `config.js`, if it answers 200; a note says what happened.
fn config_js(
    meeting: &Meeting,
    options: &fetch::Options,
    notes: &mut Vec<String>,
) -> Option<String> {
    let url = meeting.config_js();
    match fetch::get(&url, options) {
        Ok(r) if r.status == 200 => {
            notes.push(format!("read {url}"));
            Some(String::from_utf8_lossy(&r.body).into_owned())
        }
        Ok(r) => {
            let status = r.status;
            notes.push(format!(
                "{url}: HTTP {status}; using the defaults the client derives"
            ));
            None
        }
        Err(e) => {
            notes.push(format!("{url}: {e}; using the defaults the client derives"));
            None
        }
    }
}
