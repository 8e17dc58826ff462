//! Serving the key directory over HTTP(S): everything `serve` runs.
//!
//! - [`store`]: the live [`KeySet`](crate::keydir::KeySet), swapped
//!   atomically, with its reload counters.
//! - [`watch`]: notify or polling → rescan → swap.
//! - [`HttpConfig`]: the HTTP server's settings (`config`).
//! - [`handler`]: the pure request handler: a request and the key set in,
//!   a response out, no I/O.
//! - [`server`]: the accept loops around it: listeners, connection limit,
//!   TLS handshake, graceful shutdown.
//! - [`metrics`]: request counters and the `/metrics` text.
//! - [`tls`]: rustls from PEM files, reloaded when they change.
//! - [`service`]: the token service's routes (`serve --config`: `/mint`,
//!   `/oidc/*`), answered before the handler: bodies read, replies sent.
//!
//! Inside, not public: `conn` (a connection's bytes before hyper: the send
//! timeout, and a request head read ahead for health checks over the
//! connection limit), `body` (prebuilt bytes, or a JWKS written as it is
//! sent: the [`Body`] of every response), `parts` (response parts of hot
//! keys, made once) and `headers` (a key's ETag and HTTP dates, from its
//! fingerprint and times).

mod body;
mod config;
mod conn;
pub mod handler;
mod headers;
pub mod metrics;
mod parts;
pub mod server;
pub mod service;
pub mod store;
pub mod tls;
pub mod watch;

pub use body::Body;
pub use config::{HttpConfig, DEFAULT_JWKS_MAX_AGE};
pub use server::run;
pub use store::KeyStore;
