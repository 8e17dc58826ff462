//! `GET /oidc/auth?room=…&state=…`: a new login. Jitsi's state is read
//! (and stays in the sealed login cookie, never sent to the IdP), the IdP's
//! authorization URL is made with our state, PKCE and a nonce.
//!
//! With a `code_challenge` it is an inline login (`tokenAuthInline`,
//! [`super::inline`]): the challenge and Jitsi's nonce are kept too, and a
//! state holding Jitsi's `refreshToken` goes straight back to `sso.html`.

use super::cookie::LoginState;
use super::jitsi::Target;
use super::{done, idp_refusal, pages, Bridge, Refused, Step};
use crate::keydir::age::epoch_secs;
use crate::token::service::refusal::Refusal;
use crate::token::service::Outcome;
use serde_json::Value;
use std::time::SystemTime;

/// The login cookie's limit: browsers keep about 4 KiB per cookie, name
/// and attributes included, and silently drop a larger one.
const MAX_LOGIN_COOKIE: usize = 4000;

impl Bridge {
    /// `GET /oidc/auth?room=…&state=…[&code_challenge=…&nonce=…]`: a new
    /// login; `raw_state` is the `state` parameter as it came, still
    /// percent-encoded.
    pub(super) fn auth<'a>(
        &self,
        param: &dyn Fn(&str) -> Option<&'a str>,
        raw_state: Option<&str>,
        now: SystemTime,
    ) -> Step {
        let (state, room) = (param("state"), param("room"));
        let bad = |detail: String| Refused::from(Refusal::MeetingLink(detail));
        let mut jitsi: Value = match state {
            Some(s) if !s.is_empty() => serde_json::from_str(s)
                .map_err(|e| bad(format!("the state parameter is not JSON ({e})")))?,
            _ => Value::Null,
        };
        let target = Target::from_request(Some(&jitsi), room).map_err(|e| bad(e.to_string()))?;
        let back = Some(target.meeting_url(&self.config.jitsi_url));
        let inline = self
            .inline_request(param, raw_state, &jitsi)
            .map_err(|r| r.back_to(back.clone()))?;
        if let Some(inline) = &inline {
            if let Some(handed) = self.refresh_hand_over(&jitsi, inline) {
                return Ok(handed);
            }
        }
        // Jitsi's refresh token is of no use to the login: it is not kept.
        if let Some(fields) = jitsi.as_object_mut() {
            fields.remove("refreshToken");
        }
        let start = self
            .provider()?
            .start()
            .map_err(|e| Refused::from(idp_refusal(e)).back_to(back.clone()))?;
        let login = LoginState {
            state: start.state,
            verifier: start.verifier,
            nonce: start.nonce,
            jitsi,
            room: room.map(str::to_owned),
            created: epoch_secs(now).unwrap_or(0),
            inline,
        };
        let cookie = self.sealer.login_cookie(&login);
        if cookie.len() > MAX_LOGIN_COOKIE {
            return Err(bad(format!(
                "Jitsi's state is too large to keep in a cookie ({} bytes sealed, at most {MAX_LOGIN_COOKIE})",
                cookie.len()
            ))
            .back_to(back));
        }
        Ok(done(
            pages::redirect(&start.url, &[cookie]),
            Outcome::Started,
            None,
        ))
    }
}
