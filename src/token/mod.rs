//! Tokens: the claims Jitsi, JaaS and ASAP consumers expect ([`claims`]),
//! and signing them with keys from the key directory ([`mint`]).

pub mod claims;
pub mod mint;
