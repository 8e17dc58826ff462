//! The settings of the HTTP server, shared by the handler (cache ages,
//! paths) and the accept loops (timeouts, connection limit).

use std::time::Duration;

/// The JWKS `max-age` by default: Prosody refreshes `cache_keys_url` every
/// `max-age - 60` s, so every 5 minutes.
pub const DEFAULT_JWKS_MAX_AGE: u64 = 360;

/// Settings of the HTTP server (`serve`'s flags about HTTP; the whole of
/// `serve` is `cmd::serve::ServeConfig`).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `max-age` sent with keys, in seconds.
    pub cache_max_age: u64,
    /// `max-age` sent with the JWKS: Prosody's `cache_keys_url` refresh
    /// runs every `max-age - 60` seconds.
    pub jwks_max_age: u64,
    /// Time a client has to send a complete request head (also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body (`POST /mint`),
    /// counted from the end of its head.
    pub body_timeout: Duration,
    /// Open connections at most; further clients are read in the lane over
    /// the limit (`server::OVER_LIMIT`).
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// A response that makes no progress this long is dropped (a client
    /// that stopped reading).
    pub send_timeout: Duration,
    /// Prefix under which every route is mounted (`/keys` -> `/keys/<hex>.pem`).
    pub base_path: String,
    /// Path of the JWKS document.
    pub jwks_path: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            cache_max_age: 300,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 4096,
            drain_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            base_path: String::new(),
            jwks_path: "/.well-known/jwks.json".into(),
        }
    }
}

impl HttpConfig {
    /// The route table of these settings (base path, JWKS path), the token
    /// service's routes off.
    pub fn routes(&self) -> crate::routes::Routes {
        crate::routes::Routes::new(&self.base_path, &self.jwks_path)
    }
}
