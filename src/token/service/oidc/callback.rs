//! `GET /oidc/callback?code=…&state=…[&iss=…]`: the IdP sends the browser
//! back. The login cookie is opened, the state compared, the login marked
//! used on this replica (a replayed callback is refused), the code
//! exchanged, the token minted and the person sent back to Jitsi.
//!
//! An inline login (`tokenAuthInline`) is answered with a one-time code
//! for Jitsi's `sso.html` instead ([`super::inline`]).
//!
//! An `error=` answer is honoured only with this browser's own state: one
//! without it cannot abort (or clear the cookie of) a login in progress.

use super::cookie::{Session, LOGIN_COOKIE, LOGIN_TTL};
use super::jitsi::{App, Target};
use super::{done, idp_refusal, pages, sign_refusal, Bridge, Refused, Step};
use crate::keydir::age::epoch_secs;
use crate::keydir::KeySet;
use crate::token::service::refusal::Refusal;
use crate::token::service::{Outcome, Signer};
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// A sealed id_token larger than this is not kept for logout (browsers
/// drop cookies over about 4 KiB); logout then goes without the hint.
const MAX_SESSION_COOKIE: usize = 3500;

impl Bridge {
    /// `GET /oidc/callback?code=…&state=…[&iss=…]`: finish the login, mint, send back.
    pub(super) fn callback<'a>(
        &self,
        param: &dyn Fn(&str) -> Option<&'a str>,
        cookie: Option<&str>,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
    ) -> Step {
        let secs = epoch_secs(now).unwrap_or(0);
        let login = self
            .sealer
            .open_login(cookie, secs)
            .map_err(Refusal::Cookie)?;
        // The meeting they came from: every refusal from here links back to it.
        let target = Target::from_request(Some(&login.jitsi), login.room.as_deref());
        let back = target
            .as_ref()
            .ok()
            .map(|t| t.meeting_url(&self.config.jitsi_url));
        let refuse = |refusal: Refusal| Refused::from(refusal).back_to(back.clone());
        let ours = bool::from(
            param("state")
                .unwrap_or("")
                .as_bytes()
                .ct_eq(login.state.as_bytes()),
        );
        if let Some(error) = param("error") {
            if !ours {
                // Not this browser's login: the login in progress is kept.
                let mut r = refuse(Refusal::ErrorWithoutState);
                r.clear = false;
                return Err(r);
            }
            return Err(refuse(Refusal::IdpError(
                crate::error::escape_controls(error).into_owned(),
            )));
        }
        if !ours {
            return Err(refuse(Refusal::StateMismatch));
        }
        let Some(code) = param("code").filter(|c| !c.is_empty()) else {
            return Err(refuse(Refusal::NoCode));
        };
        let provider = self.provider()?;
        provider
            .check_iss_parameter(param("iss"))
            .map_err(|e| refuse(idp_refusal(e)))?;
        // Marked used before the code is spent: two callbacks of one login
        // at once cannot both mint.
        let expires = login.created.saturating_add(LOGIN_TTL.as_secs());
        if !self.used.first_use(&login.state, expires, secs) {
            return Err(refuse(Refusal::Replayed));
        }
        let identity = provider
            .finish(code, &login.verifier, &login.nonce)
            .map_err(|e| refuse(idp_refusal(e)))?;
        let target = target.map_err(|e| refuse(Refusal::MeetingLink(e.to_string())))?;
        let mut cookies = vec![self.sealer.clear(LOGIN_COOKIE)];
        let session = self.sealer.session_cookie(
            &Session {
                id_token: identity.id_token.clone(),
            },
            self.config.ttl.as_secs(),
        );
        if session.len() <= MAX_SESSION_COOKIE {
            cookies.push(session);
        }
        if let Some(inline) = &login.inline {
            return Ok(self.hand_over(&login, inline, &identity, &target, secs, &cookies));
        }
        let spec = self.spec(&self.person(&identity), &target);
        let signed = signer
            .sign(set, &self.config.token_issuer, &spec, now)
            .map_err(|e| refuse(sign_refusal(e)))?;
        let url = target.return_url(&self.config.jitsi_url, &signed.token);
        let page = match target.app {
            App::Web => pages::redirect(&url, &cookies),
            _ => pages::open_app(&url, &cookies),
        };
        Ok(done(page, Outcome::Minted, Some(signed.kid)))
    }
}
