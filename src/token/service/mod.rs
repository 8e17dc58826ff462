//! The token service `serve --config FILE` turns on: tokens for the people
//! who join, signed RS256 with the newest key of an issuer.
//!
//! - [`config`]: the TOML file, checked ([`ServiceConfig`]); [`policy`]: a
//!   mint client's rules (issuers, rooms, tenants, moderator, features,
//!   max_ttl, rate).
//! - [`signer`]: the [`Signer`]: the newest key of an issuer that has been in
//!   the key directory for `min_key_age` (the rule of `mint --issuer
//!   --min-key-age`, [`crate::token::choice`]), its private key read once.
//! - [`api`]: the mint API (`POST /mint`): a backend with a client secret
//!   asks for a token within its policy.
//! - [`oidc`]: the OpenID Connect login bridge (`/oidc/auth`,
//!   `/oidc/callback`, `/oidc/logout`): the identity provider logs a Jitsi
//!   user in, the [`Signer`] signs their token.
//!
//! Everything here is pure: a request's parts and the live key set in, a
//! [`Reply`] out. `serve::service` reads the bodies and writes the replies.

pub mod api;
pub mod config;
pub mod oidc;
pub mod policy;
pub mod signer;

pub use config::{
    ClientPolicy, MintConfig, ModeratorRule, NameRule, OidcConfig, Secret, ServiceConfig,
};
pub use signer::{SignError, Signed, Signer};

/// The largest request body the service reads.
pub const MAX_BODY: usize = 64 * 1024;

/// What the token service turns on, built once from its config.
#[derive(Debug)]
pub struct Service {
    /// The mint API, when `[mint]` is configured.
    pub mint: Option<api::MintApi>,
    /// The login bridge, when `[oidc]` is configured.
    pub oidc: Option<oidc::Bridge>,
    /// Chooses keys and signs, for both.
    pub signer: Signer,
    /// Where the config came from (for messages).
    pub file: std::path::PathBuf,
}

impl Service {
    /// The service `config` describes.
    pub fn new(config: ServiceConfig) -> Service {
        Service {
            mint: config.mint.map(api::MintApi::new),
            oidc: config.oidc.map(oidc::Bridge::new),
            signer: Signer::new(config.min_key_age),
            file: config.file,
        }
    }

    /// The paths (under `--base-path`) this service answers: `mint` and
    /// the bridge's `oidc/auth`, `oidc/callback` and `oidc/logout`, for
    /// the parts that are on. Every other path, `oidc/<anything else>`
    /// included, stays a key route.
    pub fn routes(&self) -> Vec<&'static str> {
        let mut routes = Vec::new();
        if self.mint.is_some() {
            routes.push(MINT_ROUTE);
        }
        if self.oidc.is_some() {
            routes.extend(OIDC_ROUTES.iter().map(|r| r.0));
        }
        routes
    }
}

/// The mint API's path.
pub const MINT_ROUTE: &str = "mint";
/// The login bridge's paths and the bridge route each one is.
pub const OIDC_ROUTES: [(&str, &str); 3] = [
    ("oidc/auth", "auth"),
    ("oidc/callback", "callback"),
    ("oidc/logout", "logout"),
];

/// An answer of the token service, before HTTP: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Other headers (`Retry-After`, `WWW-Authenticate`, `Location`, `Set-Cookie`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body,
        }
    }

    /// A JSON error: `{"error": message}`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "error": message }))
    }

    /// The same reply with one more header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}
