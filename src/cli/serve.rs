//! Flags of `serve`: where to listen, how to watch, what to send, and the
//! limits of the HTTP server.

use super::values::parse_duration;
use super::KeyDirArg;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// Address to listen on (use 0.0.0.0:8085 to serve other hosts).
    #[arg(
        long,
        env = "ASAP_LISTEN",
        default_value = "127.0.0.1:8085",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// Also answer /healthz and /readyz on this address (plain HTTP, no
    /// other route), in a lane of their own: for an orchestrator's probes,
    /// out of reach of the clients of --listen, e.g. `0.0.0.0:8086`.
    #[arg(long, env = "ASAP_HEALTH_LISTEN", value_name = "ADDR")]
    pub health_listen: Option<SocketAddr>,

    /// Rescan the key directory on this interval instead of using OS file
    /// notifications (for NFS and volumes that send none), e.g. `2s`.
    #[arg(long, env = "ASAP_POLL_INTERVAL", value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Option<Duration>,

    /// Do not create the key directory and a first signing key when there is no key.
    #[arg(long, env = "ASAP_NO_INIT")]
    pub no_init: bool,

    /// `Cache-Control: max-age` sent with keys, in seconds.
    #[arg(
        long,
        env = "ASAP_CACHE_MAX_AGE",
        default_value_t = 300,
        value_name = "SECONDS"
    )]
    pub cache_max_age: u64,

    /// `Cache-Control: max-age` sent with the JWKS, in seconds. Prosody's
    /// `cache_keys_url` (token plugin 2025-11 and later) refreshes every
    /// max-age - 60 s: the default 360 makes it 5 minutes.
    #[arg(
        long,
        env = "ASAP_JWKS_MAX_AGE",
        default_value_t = crate::serve::DEFAULT_JWKS_MAX_AGE,
        value_name = "SECONDS"
    )]
    pub jwks_max_age: u64,

    /// Time a client has to send a complete request head; idle keep-alive
    /// connections are closed after it too.
    #[arg(long, env = "ASAP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_timeout: Duration,

    /// Time a client has to send a whole request body (`POST /mint`),
    /// after its head: one that trickles is answered 408 and closed (nginx's
    /// client_body_timeout). The mint API checks the secret before it reads
    /// a byte of the body.
    #[arg(long, env = "ASAP_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub body_timeout: Duration,

    /// A response that makes no progress this long is dropped: a client
    /// that stopped reading (nginx's send_timeout) frees its connection.
    #[arg(long, env = "ASAP_SEND_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub send_timeout: Duration,

    /// Mount every route under this prefix (for reverse proxies), e.g. `/keys`.
    #[arg(
        long,
        env = "ASAP_BASE_PATH",
        default_value = "",
        value_name = "PREFIX"
    )]
    pub base_path: String,

    /// Where the JWKS of all keys is served.
    #[arg(
        long,
        env = "ASAP_JWKS_PATH",
        default_value = "/.well-known/jwks.json",
        value_name = "PATH"
    )]
    pub jwks_path: String,

    /// Serve HTTPS with this PEM certificate chain (reloaded when the file changes).
    #[arg(long, env = "ASAP_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "ASAP_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Turn on the token service from this TOML file: the mint API
    /// (`POST /mint`) and/or the OpenID Connect login bridge (`/oidc/*`),
    /// signing with the newest key of an issuer (see deploy/asap-keyserver.toml).
    #[arg(long, env = "ASAP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Accept loops, each on its own SO_REUSEPORT listener [default: one per CPU].
    #[arg(long, env = "ASAP_ACCEPT_LOOPS", value_name = "N")]
    pub accept_loops: Option<usize>,

    /// Open connections at most [default: 4096]; never more than the
    /// open-file limit (raised to its hard limit at start) less 64 file
    /// descriptors kept for probes, rescans and watches. Over the limit,
    /// up to 8 clients are read at a time (1 s to send the request; when
    /// a 9th comes, the oldest still silent is closed), /healthz and
    /// /readyz are answered at once, up to 8 others wait for a slot, and
    /// more get 503.
    #[arg(long, env = "ASAP_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
}
