//! Shared test harness, split by concern. Everything is re-exported, so a
//! test module says `use crate::common::*;`.

pub mod http;
pub mod keys;
pub mod peers;
pub mod pki;
pub mod process;
pub mod prosody;
pub mod server;

pub use http::*;
pub use keys::*;
pub use peers::*;
pub use pki::*;
pub use process::*;
pub use prosody::*;
pub use server::*;
