//! asap-keyserver: a public-key server and token minter for Jitsi Meet
//! (Prosody's `asap_key_server`) and other ASAP consumers.
//!
//! Prosody takes the `kid` from a token header and fetches
//! `<asap_key_server>/<lowercase hex sha256(kid)>.pem`, caching the answer by
//! kid forever. This crate serves a watched directory of key files at exactly
//! those paths, always as SPKI public keys.
//!
//! # Layout
//! - [`claims`]: typed Jitsi/JaaS/ASAP claims and their defaults.
//! - [`cli`]: clap definitions of the subcommands and their flags.
//! - [`cmd`]: the subcommands, turning checked flags into work and output.
//! - [`error`]: typed errors that name the file or kid and the fix.
//! - [`kid`]: kid rules, file path → kid, kid → `<sha256>.pem`.
//! - [`keygen`]: keygen, rotate and prune on the key directory.
//! - [`keys`]: PEM decoding to the public half, key generation, safe writes.
//! - [`keystore`]: directory scan into an immutable [`keystore::KeySet`],
//!   swapped atomically in a [`keystore::KeyStore`].
//! - [`watch`]: notify or polling → rescan → swap.
//! - [`mint`]: the Minter: cached signing keys, RS256 tokens.
//! - [`prosody`]: the Prosody configuration lines to paste.
//! - [`server`]: the pure request handler and the accept loop.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod claims;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod keygen;
pub mod keys;
pub mod keystore;
pub mod kid;
pub mod mint;
pub mod prosody;
pub mod server;
pub mod watch;
