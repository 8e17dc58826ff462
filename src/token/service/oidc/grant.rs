//! Inline login's own grants (`tokenAuthInline`): the one-time
//! authorization code the callback hands Jitsi's `static/sso.html`, and
//! the refresh token the token endpoint answers with. Both are sealed
//! like the login cookie ([`Sealer`]: AES-256-GCM under `cookie_key`, each
//! kind under its own name as associated data, so neither can stand in for
//! the other or for a cookie): no server state is needed to read them, and
//! every replica sharing the cookie key reads them alike.
//!
//! Each carries a random id. "One time" is per replica: the replica that
//! redeems a code or a refresh token records its id ([`super::replay::Used`])
//! until it could no longer be used anyway (a code's 60 s; a refresh
//! token's `refresh_ttl` from the login), so a second use there is
//! refused. Another replica sharing the key has its own record: a code
//! stolen in its 60 s, or a refresh token, could be redeemed once on each
//! replica. PKCE binds a code to the browser that started the login, and
//! an IdP refresh token (`offline_access`), which the IdP rotates, makes a
//! replayed refresh token fail at the IdP.

use super::cookie::Sealer;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The associated data of a sealed code.
const CODE: &str = "asap_sso_code";
/// The associated data of a sealed refresh token.
const REFRESH: &str = "asap_sso_refresh";
/// How long a code may be redeemed after the callback made it.
pub const CODE_TTL: Duration = Duration::from_secs(60);

/// The person a login vouched for, as the tokens will name them (the
/// moderator rule applied at the login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// `sub` at the IdP (`context.user.id`, the id_token's `sub`).
    pub sub: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// An https avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Whether the moderator rule matched.
    pub moderator: bool,
}

/// What a code and a refresh token are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The client (`sso_client_id`) it was issued to.
    pub client: String,
    /// Who logged in.
    pub person: Person,
    /// The room in `roomSafe` form, if the login named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The tenant, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When the person logged in at the IdP (Unix seconds): `auth_time`,
    /// and where `refresh_ttl` counts from.
    pub login: u64,
    /// The IdP's refresh token, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_refresh: Option<String>,
}

/// A one-time authorization code of inline login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// Random: what "used" is recorded by.
    pub id: String,
    /// The login it finishes.
    pub grant: Grant,
    /// The client's PKCE challenge (S256).
    pub challenge: String,
    /// The `redirect_uri` it was sent to (`<jitsi_url>/static/sso.html`).
    pub redirect: String,
    /// The client's nonce, for the id_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// When the callback made it (Unix seconds).
    pub created: u64,
}

/// A refresh token of inline login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    /// Random: what "used" is recorded by.
    pub id: String,
    /// The login it continues.
    pub grant: Grant,
}

/// Why a code or a refresh token is refused (each an `invalid_grant`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// Not sealed with our key, or not this kind of grant.
    #[error("the {0} is not one this service issued (altered, another kind, or sealed with another cookie_key)")]
    NotOurs(&'static str),
    /// Past its lifetime.
    #[error("the {0} has expired")]
    Expired(&'static str),
    /// Issued to another client.
    #[error("the {0} was issued to another client")]
    OtherClient(&'static str),
    /// Sent to another `redirect_uri`.
    #[error("the code was issued for another redirect_uri")]
    OtherRedirect,
    /// The PKCE verifier does not match the challenge.
    #[error("the code_verifier does not match the login's code_challenge (PKCE S256)")]
    Verifier,
}

/// A new random id (128 bits, base64url).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Code {
    /// Sealed, as it goes into `sso.html?code=`.
    pub fn seal(&self, sealer: &Sealer) -> String {
        sealer.seal(CODE, self)
    }

    /// Opens `sealed` and checks it for `client`, `redirect` and the PKCE
    /// `verifier` at `now` (Unix seconds). Whether it was used already is
    /// the caller's record.
    pub fn redeem(
        sealer: &Sealer,
        sealed: &str,
        client: &str,
        redirect: &str,
        verifier: &str,
        now: u64,
    ) -> Result<Code, GrantError> {
        let code: Code = open(sealer, CODE, sealed, "code")?;
        if now > code.created.saturating_add(CODE_TTL.as_secs()) || code.created > now + 60 {
            return Err(GrantError::Expired("code"));
        }
        if code.grant.client != client {
            return Err(GrantError::OtherClient("code"));
        }
        if code.redirect != redirect {
            return Err(GrantError::OtherRedirect);
        }
        if !pkce_s256_matches(verifier, &code.challenge) {
            return Err(GrantError::Verifier);
        }
        Ok(code)
    }

    /// Until when its id must be remembered as used.
    pub fn used_until(&self) -> u64 {
        self.created.saturating_add(CODE_TTL.as_secs())
    }
}

impl Refresh {
    /// Sealed, as the token endpoint answers it.
    pub fn seal(&self, sealer: &Sealer) -> String {
        sealer.seal(REFRESH, self)
    }

    /// Whether `sealed` opens as a refresh token whose login holds an IdP
    /// refresh token (nothing else is checked).
    pub fn asks_idp(sealer: &Sealer, sealed: &str) -> bool {
        open::<Refresh>(sealer, REFRESH, sealed, "refresh token")
            .is_ok_and(|r| r.grant.idp_refresh.is_some())
    }

    /// Opens `sealed` and checks it for `client` at `now`, `ttl` after the
    /// login at most.
    pub fn redeem(
        sealer: &Sealer,
        sealed: &str,
        client: &str,
        ttl: Duration,
        now: u64,
    ) -> Result<Refresh, GrantError> {
        let refresh: Refresh = open(sealer, REFRESH, sealed, "refresh token")?;
        if now > refresh.grant.login.saturating_add(ttl.as_secs()) {
            return Err(GrantError::Expired("refresh token"));
        }
        if refresh.grant.client != client {
            return Err(GrantError::OtherClient("refresh token"));
        }
        Ok(refresh)
    }
}

fn open<T: serde::de::DeserializeOwned>(
    sealer: &Sealer,
    name: &str,
    sealed: &str,
    what: &'static str,
) -> Result<T, GrantError> {
    // Whatever the sealer says (altered, another key, another kind), it is not ours.
    sealer
        .open(name, sealed)
        .map_err(|_| GrantError::NotOurs(what))
}

/// Whether `challenge` is a well-formed S256 challenge: 43 base64url
/// characters (a SHA-256, unpadded).
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.6 for S256: `verifier` is 43 to 128 unreserved characters
/// and base64url(SHA-256(verifier)) equals `challenge` (compared in
/// constant time).
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let shaped = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    shaped && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(client: &str) -> Grant {
        Grant {
            client: client.into(),
            person: Person {
                sub: "ada".into(),
                name: Some("Ada".into()),
                email: None,
                avatar: None,
                moderator: true,
            },
            room: Some("r".into()),
            tenant: None,
            login: 1000,
            idp_refresh: None,
        }
    }

    // RFC 7636 appendix B's example.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_s256_is_rfc_7636s_example() {
        assert!(pkce_s256_matches(VERIFIER, CHALLENGE));
        assert!(is_s256_challenge(CHALLENGE));
        assert!(!pkce_s256_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!pkce_s256_matches("short", CHALLENGE));
        assert!(!is_s256_challenge("plain-challenge"));
    }

    #[test]
    fn a_code_redeems_once_checked_for_client_redirect_verifier_and_age() {
        let sealer = Sealer::new(&[3; 32], true);
        let code = Code {
            id: new_id(),
            grant: grant("jitsi-meet"),
            challenge: CHALLENGE.into(),
            redirect: "https://meet/static/sso.html".into(),
            nonce: Some("n".into()),
            created: 1000,
        };
        let sealed = code.seal(&sealer);
        let redeem = |client: &str, redirect: &str, verifier: &str, now: u64| {
            Code::redeem(&sealer, &sealed, client, redirect, verifier, now)
        };
        let redirect = "https://meet/static/sso.html";
        assert_eq!(
            redeem("jitsi-meet", redirect, VERIFIER, 1030),
            Ok(code.clone())
        );
        assert_eq!(
            redeem("other", redirect, VERIFIER, 1030),
            Err(GrantError::OtherClient("code"))
        );
        assert_eq!(
            redeem("jitsi-meet", "https://evil/static/sso.html", VERIFIER, 1030),
            Err(GrantError::OtherRedirect)
        );
        assert_eq!(
            redeem("jitsi-meet", redirect, &"a".repeat(43), 1030),
            Err(GrantError::Verifier)
        );
        assert_eq!(
            redeem("jitsi-meet", redirect, VERIFIER, 1061),
            Err(GrantError::Expired("code"))
        );
        // Another kind of sealed thing, or another key, is not a code.
        let refresh = Refresh {
            id: new_id(),
            grant: grant("jitsi-meet"),
        }
        .seal(&sealer);
        assert_eq!(
            Code::redeem(&sealer, &refresh, "jitsi-meet", redirect, VERIFIER, 1030),
            Err(GrantError::NotOurs("code"))
        );
        let other = Sealer::new(&[4; 32], true);
        assert_eq!(
            Code::redeem(&other, &sealed, "jitsi-meet", redirect, VERIFIER, 1030),
            Err(GrantError::NotOurs("code"))
        );
    }

    #[test]
    fn a_refresh_token_lives_refresh_ttl_from_the_login_for_its_client() {
        let sealer = Sealer::new(&[3; 32], true);
        let refresh = Refresh {
            id: new_id(),
            grant: grant("jitsi-meet"),
        };
        let sealed = refresh.seal(&sealer);
        let ttl = Duration::from_secs(3600);
        assert_eq!(
            Refresh::redeem(&sealer, &sealed, "jitsi-meet", ttl, 4600),
            Ok(refresh)
        );
        assert_eq!(
            Refresh::redeem(&sealer, &sealed, "jitsi-meet", ttl, 4601),
            Err(GrantError::Expired("refresh token"))
        );
        assert_eq!(
            Refresh::redeem(&sealer, &sealed, "other", ttl, 2000),
            Err(GrantError::OtherClient("refresh token"))
        );
        let mut tampered = sealed.into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            Refresh::redeem(&sealer, &tampered, "jitsi-meet", ttl, 2000),
            Err(GrantError::NotOurs("refresh token"))
        );
    }
}
