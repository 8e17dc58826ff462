//! The login in progress, kept by the browser: our state, the PKCE
//! verifier, the nonce and Jitsi's `state`, sealed with AES-256-GCM
//! (aws-lc-rs; a random 96-bit nonce per cookie, the cookie's name as
//! associated data so one cookie cannot stand in for another) under the
//! config's `cookie_key`. Nothing is kept in server memory, so any replica
//! sharing the key can finish a login another one started.
//!
//! The cookie lives [`LOGIN_TTL`] (checked on open from the sealed
//! creation time, not trusted to the browser's `Max-Age`), is `HttpOnly`,
//! `SameSite=Lax` (it must come back on the top-level redirect from the
//! IdP), `Secure` when `public_url` is https, and scoped to the bridge's
//! routes as browsers reach them (`/oidc/` under `public_url`'s path or the
//! base path: [`crate::routes::Routes::bridge`]). The `Set-Cookie` and
//! `Cookie` syntax is the `cookie` crate's; the sealing is ours.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// How long a login may take, from `/oidc/auth` to `/oidc/callback`.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// The login cookie's name.
pub const LOGIN_COOKIE: &str = "asap_oidc_login";
/// The cookie keeping the id_token for the logout's `id_token_hint`.
pub const SESSION_COOKIE: &str = "asap_oidc_session";
/// Where both cookies are sent when the bridge is at the root.
pub const COOKIE_PATH: &str = "/oidc/";
/// Largest cookie value opened (browsers keep about 4 KiB per cookie).
const MAX_VALUE: usize = 8 * 1024;

/// A login started by `/oidc/auth`, to be finished by `/oidc/callback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginState {
    /// Our random state, sent to the IdP and compared on the callback.
    pub state: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// The nonce the id_token must carry.
    pub nonce: String,
    /// Jitsi's `state` JSON as it came (`null` when Jitsi sent none).
    pub jitsi: Value,
    /// The `room` query parameter, when Jitsi's state has no room.
    pub room: Option<String>,
    /// When the login started (Unix seconds).
    pub created: u64,
    /// Inline login (`tokenAuthInline`): what the callback hands to
    /// Jitsi's `static/sso.html` instead of a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineLogin>,
}

/// What `/oidc/auth` keeps of an inline login for its callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineLogin {
    /// Jitsi's PKCE challenge (S256), bound into the code.
    pub challenge: String,
    /// Jitsi's nonce, for the id_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Jitsi's `state` as it goes back to `sso.html` (percent-encoded).
    pub state: String,
}

/// The IdP session to end on logout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The id_token, sent back as `id_token_hint`.
    pub id_token: String,
}

/// Why the login cookie cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// The browser sent no login cookie.
    #[error("no login cookie came with the request (cookies blocked, or the login was started elsewhere)")]
    Missing,
    /// The cookie was not sealed with our key (altered, or another key).
    #[error("the login cookie is not one this server sealed (altered, or sealed with another cookie_key)")]
    Tampered,
    /// Sealed too long ago.
    #[error("the login took longer than {} minutes", LOGIN_TTL.as_secs() / 60)]
    Expired,
}

/// Seals and opens cookies with the 32-byte `cookie_key`.
pub struct Sealer {
    key: LessSafeKey,
    secure: bool,
    path: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("secure", &self.secure)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer; `secure` adds the `Secure` attribute (public_url is
    /// https); its cookies go to `COOKIE_PATH` until [`Sealer::at_path`].
    pub fn new(key: &[u8; 32], secure: bool) -> Sealer {
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("AES-256-GCM takes a 32-byte key");
        Sealer {
            key: LessSafeKey::new(unbound),
            secure,
            path: COOKIE_PATH.to_owned(),
        }
    }

    /// The same sealer with its cookies sent to `path` (the bridge's
    /// routes as browsers reach them).
    pub fn at_path(mut self, path: &str) -> Sealer {
        path.clone_into(&mut self.path);
        self
    }

    /// `value` as JSON, sealed under the cookie `name`, base64url.
    pub fn seal<T: Serialize>(&self, name: &str, value: &T) -> String {
        let mut data = serde_json::to_vec(value).expect("cookie contents serialize");
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the system random generator works");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM seals any cookie-sized input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Opens what [`Sealer::seal`] made under `name`.
    pub fn open<T: DeserializeOwned>(&self, name: &str, sealed: &str) -> Result<T, CookieError> {
        if sealed.len() > MAX_VALUE {
            return Err(CookieError::Tampered);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| CookieError::Tampered)?;
        if bytes.len() < NONCE_LEN {
            return Err(CookieError::Tampered);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CookieError::Tampered)?;
        let mut rest = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut rest)
            .map_err(|_| CookieError::Tampered)?;
        serde_json::from_slice(plain).map_err(|_| CookieError::Tampered)
    }

    /// The login state sealed into a `Set-Cookie` value.
    pub fn login_cookie(&self, state: &LoginState) -> String {
        self.set_cookie(
            LOGIN_COOKIE,
            &self.seal(LOGIN_COOKIE, state),
            LOGIN_TTL.as_secs(),
        )
    }

    /// The login state of a request's `Cookie` header, checked for age at `now`.
    pub fn open_login(
        &self,
        cookie_header: Option<&str>,
        now: u64,
    ) -> Result<LoginState, CookieError> {
        let value = cookie_header
            .and_then(|h| cookie_value(h, LOGIN_COOKIE))
            .ok_or(CookieError::Missing)?;
        let state: LoginState = self.open(LOGIN_COOKIE, &value)?;
        if now.saturating_sub(state.created) > LOGIN_TTL.as_secs() || state.created > now + 60 {
            return Err(CookieError::Expired);
        }
        Ok(state)
    }

    /// The session cookie (the id_token for logout), kept `max_age` seconds.
    pub fn session_cookie(&self, session: &Session, max_age: u64) -> String {
        self.set_cookie(SESSION_COOKIE, &self.seal(SESSION_COOKIE, session), max_age)
    }

    /// The session of a request's `Cookie` header, if any and ours.
    pub fn open_session(&self, cookie_header: Option<&str>) -> Option<Session> {
        let value = cookie_header.and_then(|h| cookie_value(h, SESSION_COOKIE))?;
        self.open(SESSION_COOKIE, &value).ok()
    }

    /// A `Set-Cookie` value that removes cookie `name`.
    pub fn clear(&self, name: &str) -> String {
        self.set_cookie(name, "", 0)
    }

    fn set_cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
        cookie::Cookie::build((name, value))
            .path(self.path.as_str())
            .max_age(cookie::time::Duration::seconds(max_age))
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure)
            .build()
            .to_string()
    }
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`, read by
/// the `cookie` crate; pairs it cannot read are skipped); the values we
/// set are base64url, so no decoding is involved.
pub fn cookie_value(header: &str, name: &str) -> Option<String> {
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(created: u64) -> LoginState {
        LoginState {
            state: "s".into(),
            verifier: "v".into(),
            nonce: "n".into(),
            jitsi: serde_json::json!({"room": "r"}),
            room: None,
            created,
            inline: None,
        }
    }

    fn header(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_sealed_login_opens_with_the_same_key_only() {
        let sealer = Sealer::new(&[7; 32], true);
        let set = sealer.login_cookie(&state(1000));
        assert!(
            set.contains("HttpOnly")
                && set.contains("SameSite=Lax")
                && set.contains("Secure")
                && set.contains("Path=/oidc/")
        );
        let cookie = format!("other=1; {}", header(&set));
        assert_eq!(sealer.open_login(Some(&cookie), 1100), Ok(state(1000)));
        let other = Sealer::new(&[8; 32], true);
        assert_eq!(
            other.open_login(Some(&cookie), 1100),
            Err(CookieError::Tampered)
        );
        assert!(!Sealer::new(&[7; 32], false)
            .login_cookie(&state(1))
            .contains("Secure"));
    }

    #[test]
    fn a_changed_byte_a_missing_cookie_or_an_old_one_is_refused() {
        let sealer = Sealer::new(&[7; 32], false);
        let cookie = header(&sealer.login_cookie(&state(1000)));
        let mut bytes = cookie.into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            sealer.open_login(Some(&tampered), 1100),
            Err(CookieError::Tampered)
        );
        assert_eq!(
            sealer.open_login(Some("x=1"), 1100),
            Err(CookieError::Missing)
        );
        assert_eq!(sealer.open_login(None, 1100), Err(CookieError::Missing));
        let fresh = header(&sealer.login_cookie(&state(1000)));
        assert_eq!(
            sealer.open_login(Some(&fresh), 1000 + 601),
            Err(CookieError::Expired)
        );
    }

    #[test]
    fn a_session_cookie_cannot_stand_in_for_a_login_cookie() {
        let sealer = Sealer::new(&[7; 32], false);
        let value = sealer.seal(SESSION_COOKIE, &state(1000));
        let cookie = format!("{LOGIN_COOKIE}={value}");
        assert_eq!(
            sealer.open_login(Some(&cookie), 1000),
            Err(CookieError::Tampered)
        );
        let session = Session {
            id_token: "t".into(),
        };
        let set = sealer.session_cookie(&session, 60);
        assert_eq!(sealer.open_session(Some(&header(&set))), Some(session));
        assert!(sealer.clear(LOGIN_COOKIE).contains("Max-Age=0"));
        let keys = Sealer::new(&[7; 32], false).at_path("/keys/oidc/");
        assert!(keys.clear(LOGIN_COOKIE).contains("Path=/keys/oidc/"));
        assert_eq!(
            cookie_value("a=1; asap_oidc_login=\"x\"; b", LOGIN_COOKIE),
            Some("x".to_owned())
        );
    }
}
