//! Serving the key directory over HTTP(S): everything `serve` runs.
//!
//! - `store`: the live [`KeySet`](crate::keydir::KeySet), swapped
//!   atomically (`KeyStore`), with its reload counters ([`Reloads`]).
//! - `watch`: notify or polling → rescan → swap.
//! - [`HttpConfig`]: the HTTP server's settings (`config`).
//! - `handler`: the pure request handler ([`handle`], with the answers
//!   made once in [`Prebuilt`]): a request and the key set in, a response
//!   out, no I/O.
//! - `server`: the accept loops around it (`server::run`): listeners, connection
//!   limit, TLS handshake, graceful shutdown.
//! - `metrics`: request counters ([`Requests`]) and the `/metrics` text.
//! - `tls`: rustls from PEM files, reloaded when they change.
//! - `service`: the token service's routes (`serve --config`: `/mint`,
//!   `/oidc/*`), answered before the handler: bodies read, replies sent.
//!
//! The modules are the crate's own; the linked items are public. Inside
//! also: `lane` (the clients read over the connection limit, and which
//! one a newcomer closes), `conn` (a connection's bytes before hyper: the send
//! timeout, and a request head read ahead for health checks over the
//! connection limit), `body` (prebuilt bytes, or a JWKS written as it is
//! sent: the [`Body`] of every response), `parts` (response parts of hot
//! keys, made once) and `headers` (a key's ETag and HTTP dates, from its
//! fingerprint and times).

mod body;
mod config;
mod conn;
pub(crate) mod handler;
mod headers;
mod lane;
pub(crate) mod metrics;
mod parts;
pub(crate) mod server;
pub(crate) mod service;
pub(crate) mod store;
pub(crate) mod tls;
pub(crate) mod watch;

pub use body::Body;
pub use config::HttpConfig;
pub(crate) use config::DEFAULT_JWKS_MAX_AGE;
pub use handler::{handle, Prebuilt};
pub use metrics::Requests;
pub(crate) use store::KeyStore;
pub use store::Reloads;
