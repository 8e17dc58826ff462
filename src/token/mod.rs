//! Tokens: the claims Jitsi, JaaS and ASAP consumers expect ([`claims`]),
//! signing them with keys from the key directory ([`mint`]), the rule that
//! chooses the key ([`choice`]).

pub mod choice;
pub mod claims;
pub mod mint;
