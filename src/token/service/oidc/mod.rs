//! The OpenID Connect login bridge: `/oidc/auth` sends a Jitsi user to the
//! identity provider, `/oidc/callback` mints their token, `/oidc/logout`
//! ends the session.
//!
//! - `provider`: the IdP (discovery, JWKS, code exchange, id_token, userinfo).
//! - `cookie`: the login state, sealed in a short-lived cookie.
//! - `jitsi`: Jitsi's `state`, the room and tenant, the return URL.
//! - `pages`: the error pages and the logout page.

pub mod cookie;
pub mod jitsi;
pub mod pages;
pub mod provider;
