//! Tokens: the claims Jitsi, JaaS and ASAP consumers expect ([`claims`]),
//! signing them with keys from the key directory ([`mint`]), the rule that
//! chooses the key ([`choice`]), and the token service `serve --config`
//! runs ([`service`]: the mint API and the OpenID Connect login bridge).

pub mod choice;
pub mod claims;
pub mod mint;
pub mod service;
