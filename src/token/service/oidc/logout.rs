//! `GET /oidc/logout` (Jitsi's `tokenLogoutUrl`, in a hidden iframe): the
//! bridge's cookies cleared, on to the IdP's `end_session_endpoint` with
//! the id_token as a hint, back to Jitsi's `static/logout.html`.

use super::cookie::{LOGIN_COOKIE, SESSION_COOKIE};
use super::{done, pages, Bridge};
use crate::token::service::{Answer, Outcome};

impl Bridge {
    /// `GET /oidc/logout`: cookies cleared, on to the IdP's logout, back to Jitsi's `static/logout.html`.
    pub(super) fn logout(&self, cookie: Option<&str>) -> Answer {
        let back = crate::routes::post_logout_uri(&self.config.jitsi_url);
        let hint = self.sealer.open_session(cookie).map(|s| s.id_token);
        let next = self
            .provider
            .as_ref()
            .ok()
            .and_then(|p| p.end_session_url(hint.as_deref(), &back))
            .unwrap_or(back);
        let clear = [
            self.sealer.clear(LOGIN_COOKIE),
            self.sealer.clear(SESSION_COOKIE),
        ];
        done(pages::logout(&next, &clear), Outcome::LoggedOut, None)
    }
}
