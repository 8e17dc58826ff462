//! Command-line interface (clap derive). The `///` comments are the help
//! text; daemon flags can also be set through `ASAP_*` environment variables.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A public-key server and token minter for Jitsi Meet and ASAP consumers.
///
/// Prosody's token plugin (asap_key_server) fetches
/// `<asap_key_server>/<sha256(kid)>.pem`; `serve` answers exactly that from a
/// directory of key files, where the kid is the file's path minus `.pem`.
#[derive(Debug, Parser)]
#[command(name = "asap-keyserver", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the public half of every key in the key directory at /<sha256(kid)>.pem.
    Serve(ServeArgs),
    /// List the keys in the key directory (kid, URL path, kind, bits, file) and the files skipped.
    List(ListArgs),
}

impl Command {
    /// Log level when `RUST_LOG` is not set: the daemon narrates, one-shot commands stay quiet.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            Command::List(_) => "error",
        }
    }
}

/// `--keys DIR`, shared by every command that reads the key directory.
#[derive(Debug, Args)]
pub struct KeyDirArg {
    /// Key directory: `DIR/jitsi/2026-11-27.pem` holds kid `jitsi/2026-11-27`.
    #[arg(
        long = "keys",
        env = "ASAP_KEYS_DIR",
        default_value = "keys",
        value_name = "DIR"
    )]
    pub path: PathBuf,
}

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

    /// Time a client has to send a complete request head; idle keep-alive
    /// connections are closed after it too.
    #[arg(long, env = "ASAP_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_timeout: Duration,

    /// Open connections at most; more clients wait in the kernel's accept queue.
    #[arg(
        long,
        env = "ASAP_MAX_CONNECTIONS",
        default_value_t = 4096,
        value_name = "N"
    )]
    pub max_connections: usize,
}

/// Flags of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Parses a humane duration such as `500ms`, `2s`, `1m` or `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e}: write a duration like 500ms, 2s, 5m or 1h"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").unwrap_err().contains("like 500ms"));
    }
}
