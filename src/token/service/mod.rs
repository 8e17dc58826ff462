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
//! - [`refusal`]: the one [`Refusal`] type, a page for people or JSON for
//!   programs; [`response`]: answers as [`http::Response`] ([`Response`]).
//!
//! Everything here is pure: a request (an [`http::Request`]) and the live
//! key set in, an [`Answer`] out. `serve::service` reads the bodies and
//! writes the responses.

pub(crate) mod api;
pub(crate) mod config;
pub(crate) mod oidc;
pub(crate) mod policy;
pub(crate) mod refusal;
pub(crate) mod response;
pub(crate) mod signer;

pub use config::{OidcConfig, ServiceConfig};
pub use refusal::Refusal;
pub use response::Response;
pub use signer::{SignError, Signer};

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
    /// The service `config` describes, on the server whose routes are
    /// `routes` (its `--base-path`: where the bridge's redirect URI and
    /// cookies point).
    pub fn new(config: ServiceConfig, routes: &crate::routes::Routes) -> Service {
        Service {
            mint: config.mint.map(api::MintApi::new),
            oidc: config.oidc.map(|o| oidc::Bridge::mounted(o, routes)),
            signer: Signer::new(config.min_key_age),
            file: config.file,
        }
    }
}

/// What a request came to, for the log line and the metrics (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The bridge sent the person to the IdP.
    Started,
    /// A token was minted (the mint API's 200, the bridge's return to Jitsi).
    Minted,
    /// The bridge logged the person out.
    LoggedOut,
    /// Refused: the refusal says why.
    Refused(Refusal),
}

impl Outcome {
    /// The label of logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Started => "started",
            Outcome::Minted => "minted",
            Outcome::LoggedOut => "logged_out",
            Outcome::Refused(r) => r.label(),
        }
    }
}

/// The token service's answer to one request: the response, what happened,
/// and what a log line may say (the client, the kid; never a token).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP response.
    pub response: Response,
    /// What happened.
    pub outcome: Outcome,
    /// The kid that signed (a token minted).
    pub kid: Option<String>,
    /// The mint API's client the secret named, if any.
    pub client: Option<String>,
    /// Time spent waiting for the IdP while answering (the bridge).
    pub idp_time: std::time::Duration,
}

impl Answer {
    /// `refusal`, answered as `response`.
    pub fn refused(response: Response, refusal: Refusal) -> Answer {
        Answer {
            response,
            outcome: Outcome::Refused(refusal),
            kid: None,
            client: None,
            idp_time: std::time::Duration::ZERO,
        }
    }
}
