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
//! - [`doctor`]: what is wrong with a key directory, a key server and a Prosody config.
//! - [`error`]: typed errors that name the file or kid and the fix.
//! - [`export`]: the public keys as static files, published atomically.
//! - [`fetch`]: GET a key exactly as Prosody does (no redirects, 200/204 only).
//! - [`kid`]: kid rules, file path → kid, kid → `<sha256>.pem`.
//! - [`keygen`]: keygen, rotate and prune on the key directory.
//! - [`keys`]: PEM decoding to the public half, key generation, safe writes.
//! - [`keysource`]: where verify gets a key, judged as luaossl would.
//! - [`keystore`]: directory scan into an immutable [`keystore::KeySet`],
//!   swapped atomically in a [`keystore::KeyStore`].
//! - [`tls`]: rustls configuration from PEM files, reloaded when they change.
//! - [`verify`]: Prosody's token checks as data, in Prosody's order.
//! - [`watch`]: notify or polling → rescan → swap.
//! - [`metrics`]: request and reload counters, Prometheus text.
//! - [`mint`]: the Minter: cached signing keys, RS256 tokens.
//! - [`prosody`]: the Prosody configuration lines to paste.
//! - [`prosody_config`]: reads the token options from a real Prosody `*.cfg.lua`.
//! - [`scan`]: the directory walk with its stat cache and last-good retention.
//! - [`server`]: the pure request handler and the accept loop.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod claims;
pub mod cli;
pub mod cmd;
pub mod doctor;
pub mod error;
pub mod export;
pub mod fetch;
pub mod keygen;
pub mod keys;
pub mod keysource;
pub mod keystore;
pub mod kid;
pub mod metrics;
pub mod mint;
pub mod prosody;
pub mod prosody_config;
pub mod scan;
pub mod server;
pub mod tls;
pub mod verify;
pub mod watch;
