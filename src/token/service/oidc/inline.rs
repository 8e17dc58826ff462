//! Inline login (`tokenAuthInline: true` with an `sso` block in Jitsi's
//! config.js, web client since 2026-02): the meeting stays open, the login
//! runs in a popup, and the popup ends at Jitsi's own `static/sso.html`,
//! which redeems what it is given at `POST /oidc/token` ([`super::redeem`]).
//!
//! `/oidc/auth` is in this mode when the query has a `code_challenge`
//! (Jitsi's `{code_challenge}` placeholder: PKCE S256; no
//! `code_challenge_method` is sent, one that is sent must be `S256`). A
//! `redirect_uri` or `client_id` in the query must then be
//! `<jitsi_url>/static/sso.html` and `sso_client_id`. The login runs at the
//! IdP as in the redirect contract; its callback answers with a one-time
//! code of our own ([`super::grant::Code`]) on
//! `sso.html?code=…&state=<Jitsi's state as it came>`. With Jitsi's
//! `refreshToken` in the state, the popup goes straight back to `sso.html`
//! with the state alone: no IdP page, no code; `sso.html` then refreshes.

use super::cookie::{InlineLogin, LoginState};
use super::grant::{new_id, Code, Grant};
use super::jitsi::Target;
use super::provider::Identity;
use super::{done, pages, Bridge, Refused};
use crate::token::service::refusal::Refusal;
use crate::token::service::{Answer, Outcome};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

/// What JavaScript's `encodeURIComponent` leaves as it is (Jitsi encodes
/// its state with it): letters, digits and `- _ . ! ~ * ' ( )`.
const JS_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The longest nonce taken from Jitsi (it sends 64 hex digits).
const MAX_NONCE: usize = 255;

impl Bridge {
    /// `<jitsi_url>/static/sso.html`: the one redirect target of inline login.
    pub(super) fn sso_page(&self) -> String {
        crate::routes::sso_redirect_uri(&self.config.jitsi_url)
    }

    /// The inline login `/oidc/auth`'s query asks for, if it has a
    /// `code_challenge`; a 400 when it names another client or redirect,
    /// or its challenge or nonce are not what Jitsi sends.
    pub(super) fn inline_request<'a>(
        &self,
        param: &dyn Fn(&str) -> Option<&'a str>,
        raw_state: Option<&str>,
        jitsi: &Value,
    ) -> Result<Option<InlineLogin>, Refused> {
        let Some(challenge) = param("code_challenge") else {
            return Ok(None);
        };
        let bad = |why: String| Refused::from(Refusal::SsoRequest(why));
        if let Some(method) = param("code_challenge_method").filter(|m| *m != "S256") {
            return Err(bad(format!(
                "code_challenge_method {:?} is not S256, the only PKCE method Jitsi uses and this service takes",
                crate::error::escape_controls(method)
            )));
        }
        if !super::grant::is_s256_challenge(challenge) {
            return Err(bad(
                "code_challenge is not an S256 challenge (43 base64url characters)".into(),
            ));
        }
        if let Some(redirect) = param("redirect_uri").filter(|r| *r != self.sso_page()) {
            return Err(bad(format!(
                "redirect_uri {:?} is not {}, the only page inline login returns to",
                crate::error::escape_controls(redirect),
                self.sso_page()
            )));
        }
        if let Some(client) = param("client_id").filter(|c| *c != self.config.sso_client_id) {
            return Err(bad(format!(
                "client_id {:?} is not sso_client_id {:?} (config.js's sso.clientId must match [oidc] sso_client_id)",
                crate::error::escape_controls(client),
                self.config.sso_client_id
            )));
        }
        let nonce = param("nonce").filter(|n| !n.is_empty());
        if let Some(n) = nonce {
            let shaped = n.len() <= MAX_NONCE
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            if !shaped {
                return Err(bad(format!(
                    "nonce is not a nonce Jitsi sends (at most {MAX_NONCE} letters, digits, '-', '.', '_' or '~')"
                )));
            }
        }
        if jitsi.is_null() {
            return Err(bad(
                "inline login needs Jitsi's state ({state} in tokenAuthUrl): sso.html reads the meeting from it"
                    .into(),
            ));
        }
        Ok(Some(InlineLogin {
            challenge: challenge.to_owned(),
            nonce: nonce.map(str::to_owned),
            state: state_for_sso(raw_state, jitsi),
        }))
    }

    /// With Jitsi's `refreshToken` in its state, the popup goes straight
    /// back to `sso.html` with the state alone: `sso.html` refreshes at
    /// `POST /oidc/token`, and nothing is asked of the IdP here.
    pub(super) fn refresh_hand_over(&self, jitsi: &Value, inline: &InlineLogin) -> Option<Answer> {
        let asks = jitsi
            .get("refreshToken")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty());
        asks.then(|| {
            let url = format!("{}?state={}", self.sso_page(), inline.state);
            done(pages::redirect(&url, &[]), Outcome::Started, None)
        })
    }

    /// The callback of an inline login: a one-time code for `sso.html`,
    /// bound to the challenge, the client, the redirect and the nonce.
    pub(super) fn hand_over(
        &self,
        login: &LoginState,
        inline: &InlineLogin,
        identity: &Identity,
        target: &Target,
        now: u64,
        cookies: &[String],
    ) -> Answer {
        let code = Code {
            id: new_id(),
            grant: Grant {
                client: self.config.sso_client_id.clone(),
                person: self.person(identity),
                room: target.room.clone(),
                tenant: target.tenant.clone(),
                login: now,
                idp_refresh: identity.refresh_token.clone(),
            },
            challenge: inline.challenge.clone(),
            redirect: self.sso_page(),
            nonce: inline.nonce.clone(),
            created: now.max(login.created),
        };
        let url = format!(
            "{}?code={}&state={}",
            self.sso_page(),
            code.seal(&self.sealer),
            inline.state
        );
        done(pages::redirect(&url, cookies), Outcome::Started, None)
    }
}

/// Jitsi's state as it goes back to `sso.html`: as it came when it is
/// encoded as Jitsi encodes it (`encodeURIComponent`), else `jitsi`
/// encoded that way (what reads the same once decoded).
fn state_for_sso(raw: Option<&str>, jitsi: &Value) -> String {
    let as_jitsi_encodes = |r: &&str| {
        r.bytes()
            .all(|b| b == b'%' || b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b))
            && percent_decode_str(r).decode_utf8().is_ok()
    };
    match raw.filter(as_jitsi_encodes) {
        Some(r) => r.to_owned(),
        None => utf8_percent_encode(&jitsi.to_string(), JS_COMPONENT).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_state_goes_back_as_it_came_when_jitsi_encoded_it() {
        let state = json!({"room": "My Room", "roomSafe": "my%20room"});
        let encoded = "%7B%22room%22%3A%22My%20Room%22%2C%22roomSafe%22%3A%22my%2520room%22%7D";
        assert_eq!(state_for_sso(Some(encoded), &state), encoded);
        // Not as Jitsi encodes (a raw quote and brace): encoded as Jitsi would.
        let sent = state_for_sso(Some("{\"room\":\"My Room\"}"), &state);
        assert_eq!(
            percent_decode_str(&sent).decode_utf8().unwrap(),
            state.to_string()
        );
        assert!(!sent.contains(['{', '"', '&', '#', ' ']), "{sent}");
    }
}
