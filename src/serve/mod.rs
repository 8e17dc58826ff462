//! Serving the key directory over HTTP(S): everything `serve` runs.
//!
//! - [`store`]: the live [`KeySet`](crate::keydir::KeySet), swapped
//!   atomically, with its reload counters.
//! - [`watch`]: notify or polling → rescan → swap.
//! - [`config`]: the HTTP server's settings.
//! - [`handler`]: the pure request handler: a request and the key set in,
//!   a response out, no I/O.
//! - [`server`]: the accept loops around it: listeners, connection limit,
//!   TLS handshake, graceful shutdown.
//! - [`conn`]: a connection's bytes before hyper: the send timeout, and a
//!   request head read ahead (health checks over the connection limit).
//! - [`body`]: prebuilt bytes, or a JWKS written as it is sent.
//! - [`parts`]: response parts of hot keys, made once.
//! - [`metrics`]: request counters and the `/metrics` text.
//! - [`tls`]: rustls from PEM files, reloaded when they change.

pub mod body;
pub mod config;
pub mod conn;
pub mod handler;
pub mod metrics;
pub mod parts;
pub mod server;
pub mod store;
pub mod tls;
pub mod watch;

pub use config::HttpConfig;
pub use server::run;
pub use store::KeyStore;
