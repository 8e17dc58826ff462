//! Tokens: the claims Jitsi, JaaS and ASAP consumers expect (`claims`,
//! [`TokenSpec`]), signing them with keys from the key directory (`mint`,
//! [`Minter`]), the rule that chooses the key (`choice`), and the token
//! service `serve --config` runs (`service`: the mint API and the OpenID
//! Connect login bridge, whose sealed login cookie is [`Sealer`]'s).

pub(crate) mod choice;
pub(crate) mod claims;
pub(crate) mod mint;
pub(crate) mod service;

pub use claims::TokenSpec;
pub use mint::Minter;
pub use service::oidc::cookie::{LoginState, Sealer, LOGIN_COOKIE};
pub use service::oidc::grant::{Code, Grant, Person, Refresh};
