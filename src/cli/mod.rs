//! Command-line interface (clap derive). The `///` comments are the help
//! text; daemon flags can also be set through `ASAP_*` environment variables.
//!
//! [`Cli`] and its [`Command`]s here; their flags by what the commands do:
//! `serve` (the daemon), `keys` (list, keygen, rotate, prune, export, mint:
//! the key directory and what signs with it), `check` (verify, login,
//! doctor, explain, probe: asking whether things work) and `values` (the
//! parsers of durations, key sizes and features), all re-exported here.

// The `///` comments are --help text, where <DIR> and <kid> are placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod check;
mod keys;
mod serve;
mod values;

pub(crate) use check::{DoctorArgs, ExplainArgs, LoginArgs, ProbeArgs, ProsodyArgs, VerifyArgs};
pub(crate) use keys::{
    ExportArgs, KeyDirArg, KeygenArgs, ListArgs, MintArgs, PruneArgs, RotateArgs,
};
pub(crate) use serve::ServeArgs;
pub(crate) use values::show_duration;

use clap::{Parser, Subcommand};

/// The exit status every command follows, shown under `--help`.
pub(crate) const EXIT_STATUS: &str = "\
Exit status:
  0  accepted / no problems (verify: Prosody would accept; doctor: no problems;
     explain: no token failure in the log)
  1  rejected / problems found (verify: Prosody would reject; doctor: problems;
     explain: token failures in the log; probe: the URL did not answer 200)
  2  an error: a bad flag, an unreadable file, log or config, a key directory
     that cannot be read, a key that cannot be written
A closed output pipe (asap-keyserver list | head -1) is not an error.";

/// A public-key server and token minter for Jitsi Meet and ASAP consumers.
///
/// Prosody's token plugin (asap_key_server) fetches
/// `<asap_key_server>/<sha256(kid)>.pem`; `serve` answers exactly that from a
/// directory of key files, where the kid is the file's path minus `.pem`.
#[derive(Debug, Parser)]
#[command(
    name = "asap-keyserver",
    version,
    propagate_version = true,
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Log lines as text or as JSON objects (one per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ASAP_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the public half of every key in the key directory at /<sha256(kid)>.pem.
    #[command(after_help = EXIT_STATUS)]
    Serve(ServeArgs),
    /// List the keys in the key directory (kid, URL path, kind, bits, file) and the files skipped.
    #[command(after_help = EXIT_STATUS)]
    List(ListArgs),
    /// Create a new RSA signing key for KID (PKCS#8, mode 0600).
    #[command(after_help = EXIT_STATUS)]
    Keygen(KeygenArgs),
    /// Create a key of ISSUER known newer than all its others (ISSUER/<yyyy-mm-dd>, or
    /// ISSUER/<yyyy-mm-dd>T<hhmmss>Z when another was written today) and say what to do next.
    #[command(after_help = EXIT_STATUS)]
    Rotate(RotateArgs),
    /// Remove older private keys of ISSUER, keeping the newest N and any that may
    /// still have live tokens (dry run unless --yes).
    #[command(after_help = EXIT_STATUS)]
    Prune(PruneArgs),
    /// Sign a token with a key from the key directory, with the claims Jitsi expects.
    #[command(after_help = EXIT_STATUS)]
    Mint(Box<MintArgs>),
    /// Say whether Prosody would accept a token, check by check, and why not.
    #[command(after_help = EXIT_STATUS)]
    Verify(Box<VerifyArgs>),
    /// Log in to Prosody with a token as Jitsi's client does (WebSocket or
    /// BOSH, SASL, join the room) and show Prosody's own answer at each step.
    #[command(after_help = EXIT_STATUS)]
    Login(Box<LoginArgs>),
    /// Find what is wrong with a key directory, a running key server and a Prosody config.
    #[command(after_help = EXIT_STATUS)]
    Doctor(DoctorArgs),
    /// Read Prosody's log and explain every token failure in it, grouped by
    /// cause: how often, when, what Prosody said, why, and the fix.
    ///
    /// Reads Prosody 0.12 and 13 logs as the file sink writes them
    /// (/var/log/prosody/prosody.log), as `docker logs` shows the console sink
    /// (with or without timestamps, `docker compose` prefixes), and as
    /// `journalctl -u prosody` or a syslog file shows the syslog sink. Lines
    /// of other programs are skipped. Tokens in what Prosody logged are
    /// printed as [REDACTED TOKEN].
    #[command(after_help = EXIT_STATUS)]
    Explain(ExplainArgs),
    /// Write the public keys as static files (Prosody, ASAP and JWKS layouts) for nginx, S3 or a CDN.
    #[command(after_help = EXIT_STATUS)]
    Export(ExportArgs),
    /// Exit 0 if URL answers 200 (a health check for images without curl).
    #[command(after_help = EXIT_STATUS)]
    Probe(ProbeArgs),
    /// Write the manual pages, made from these definitions (for packagers).
    #[command(hide = true)]
    Man(ManArgs),
}

/// Flags of the hidden `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write asap-keyserver.1 and one asap-keyserver-COMMAND.1 per command
    /// into DIR (it must exist) instead of printing asap-keyserver.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

impl Command {
    /// Log level when `RUST_LOG` is not set: the daemon narrates, one-shot commands stay quiet.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Serve(_) => "info",
            _ => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;
    use std::time::Duration;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn login_fetches_as_verify_does_but_waits_longer_per_step() {
        let timeout = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Login(a) => a.fetch.timeout,
            Command::Verify(a) => a.fetch.timeout,
            _ => unreachable!(),
        };
        let login = [
            "asap-keyserver",
            "login",
            "--no-join",
            "--websocket",
            "ws://h",
            "a.b.c",
        ];
        assert_eq!(timeout(&login), Duration::from_secs(15));
        assert_eq!(
            timeout(&[&login[..], &["--timeout", "3s"]].concat()),
            Duration::from_secs(3)
        );
        assert_eq!(
            timeout(&["asap-keyserver", "verify", "a.b.c"]),
            Duration::from_secs(10)
        );
    }
}
