//! Flags of the commands that ask whether things work: `verify`, `login`,
//! `doctor`, `explain` and `probe`, and what they share: how to fetch
//! ([`FetchArgs`]) and Prosody's settings ([`ProsodyArgs`],
//! [`TokenOptionArgs`]).
//!
//! The doc comments below are `--help` text, printed as written: their URLs
//! stay bare.
#![allow(rustdoc::bare_urls)]

use super::values::parse_duration;
use super::KeyDirArg;
use crate::check::fetch;
use crate::check::generation::Generation;
use crate::check::verify::Settings;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Where a key is fetched from, and how.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Extra CA certificates (PEM) to trust for https, beside the system store.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Connect and read timeout for fetching keys.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

impl From<&FetchArgs> for fetch::Options {
    fn from(a: &FetchArgs) -> Self {
        fetch::Options {
            timeout: a.timeout,
            ca_file: a.ca_file.clone(),
        }
    }
}

/// Flags of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The token, a meeting URL with ?jwt=..., or `-` for stdin [default: stdin].
    pub token: Option<String>,

    /// Fetch the key as Prosody does: URL + "/" + sha256hex(kid) + ".pem".
    #[arg(long, value_name = "URL", group = "source")]
    pub key_server: Option<String>,

    /// Take the key from a key directory (<DIR>/<kid>.pem).
    #[arg(long, value_name = "DIR", group = "source")]
    pub keys: Option<PathBuf>,

    /// Take the key from this PEM file.
    #[arg(long, value_name = "FILE", group = "source")]
    pub key: Option<PathBuf>,

    /// Prosody without a key server: check HS256 (or --algorithm HS384/HS512)
    /// tokens with this app_secret, as the token plugin does. Visible in `ps`:
    /// prefer --app-secret-file.
    #[arg(long, value_name = "SECRET", group = "source")]
    pub app_secret: Option<String>,

    /// Like --app-secret, read from FILE (a trailing newline is dropped).
    #[arg(long, value_name = "FILE", group = "source")]
    pub app_secret_file: Option<PathBuf>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub fetch: FetchArgs,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub prosody: ProsodyArgs,

    /// The meeting domain, to check sub [default: the config's
    /// muc_mapper_domain_base, else its token VirtualHost].
    #[arg(long)]
    pub domain: Option<String>,

    /// The tenant (https://domain/<tenant>/room), to check sub.
    #[arg(long)]
    pub tenant: Option<String>,

    /// The room being joined, to check room.
    #[arg(long)]
    pub room: Option<String>,

    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prosody's token options given as flags, as
/// [`TokenOptions`](crate::prosody::config::TokenOptions) are read from its
/// config: both end in verify's [`Settings`]
/// ([`Settings::overlay`] takes the config's, [`TokenOptionArgs::apply`]
/// these, which win over `--prosody-config`).
#[derive(Debug, Args)]
pub struct TokenOptionArgs {
    /// Prosody's app_id (the default accepted issuer).
    #[arg(long)]
    pub app_id: Option<String>,

    /// asap_accepted_issuers [default: app_id alone].
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub accepted_issuers: Option<Vec<String>>,

    /// asap_accepted_audiences [default: *].
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub accepted_audiences: Option<Vec<String>>,

    /// signature_algorithm [default: RS256].
    #[arg(long, value_name = "ALG")]
    pub algorithm: Option<String>,

    /// asap_require_room_claim = false.
    #[arg(long)]
    pub no_room_claim: bool,

    /// enable_domain_verification = false.
    #[arg(long)]
    pub no_domain_verification: bool,

    /// cache_keys_url: look the kid up in this JWKS first, as the token
    /// plugin of 2025-11 and later does, then fall back to the key server.
    #[arg(long, value_name = "URL")]
    pub cache_keys_url: Option<String>,
}

impl TokenOptionArgs {
    /// Sets in `settings` every option given as a flag.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(v) = &self.app_id {
            settings.app_id = Some(v.clone());
        }
        if let Some(v) = &self.accepted_issuers {
            settings.accepted_issuers = Some(v.clone());
        }
        if let Some(v) = &self.accepted_audiences {
            settings.accepted_audiences = v.clone();
        }
        if let Some(v) = &self.algorithm {
            settings.algorithm = v.clone();
        }
        if self.no_room_claim {
            settings.require_room = false;
        }
        if self.no_domain_verification {
            settings.domain_verification = false;
        }
        if let Some(url) = &self.cache_keys_url {
            settings.cache_keys_url = Some(url.clone());
        }
    }
}

/// Where Prosody's settings come from: its config, and flags over it.
#[derive(Debug, Args)]
pub struct ProsodyArgs {
    /// Read app_id, asap_key_server, accepted issuers/audiences, ... from a Prosody *.cfg.lua.
    #[arg(long, value_name = "FILE")]
    pub prosody_config: Option<PathBuf>,

    /// The VirtualHost to read (default: the only one with authentication = "token").
    #[arg(long, value_name = "VHOST", requires = "prosody_config")]
    pub host: Option<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub options: TokenOptionArgs,

    /// Check as the Jitsi token plugin of this month, e.g. 2025-10 [default:
    /// detected from --prosody-config's plugin_paths, else the newest known].
    #[arg(long, value_name = "YYYY-MM", value_parser = Generation::at)]
    pub jitsi: Option<&'static Generation>,
}

/// Flags of `login`.
#[derive(Debug, Args)]
// The fetch flags in login's words: --timeout is the limit of each step
// (15 s by default, not verify's 10 s), and --ca-file serves wss:// too.
#[command(
    mut_arg("timeout", |a| a.default_value("15s")
        .help("Longest each step (connect, SASL, bind, focus, join) may take, as a whole")),
    mut_arg("ca_file", |a| a.help("Extra CA certificates (PEM) to trust for wss:// and https://")),
)]
pub struct LoginArgs {
    /// The token, a meeting URL with ?jwt= (https://meet.example.com/[tenant/]room?jwt=...),
    /// or `-` for stdin [default: stdin].
    pub token: Option<String>,

    /// Prosody's WebSocket endpoint, e.g. wss://meet.example.com/xmpp-websocket
    /// [default: from the meeting URL, as the client derives it].
    #[arg(long, value_name = "URL", conflicts_with = "bosh")]
    pub websocket: Option<String>,

    /// Use BOSH at this URL instead, e.g. https://meet.example.com/http-bind.
    #[arg(long, value_name = "URL")]
    pub bosh: Option<String>,

    /// The XMPP domain (config.js hosts.domain) [default: the meeting URL's host].
    #[arg(long)]
    pub domain: Option<String>,

    /// The MUC domain (config.js hosts.muc) [default: conference.<domain>].
    #[arg(long)]
    pub muc_domain: Option<String>,

    /// The focus component (jicofo) [default: focus.<domain>].
    #[arg(long)]
    pub focus: Option<String>,

    /// The room to join [default: the meeting URL's].
    #[arg(long)]
    pub room: Option<String>,

    /// Stop after the login (SASL and bind); do not join a room.
    #[arg(long)]
    pub no_join: bool,

    /// Where Prosody fetches keys (asap_key_server), for the offline checks
    /// shown when Prosody refuses [default: from --prosody-config].
    #[arg(long, value_name = "URL")]
    pub key_server: Option<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub prosody: ProsodyArgs,

    /// The nickname in the room.
    #[arg(long, default_value = "asap-keyserver-login")]
    pub nick: String,

    /// `--ca-file`, and `--timeout` as the limit of each step.
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// Print the steps as JSON.
    #[arg(long)]
    pub json: bool,
}

impl From<&LoginArgs> for crate::check::login::Given {
    fn from(a: &LoginArgs) -> Self {
        crate::check::login::Given {
            websocket: a.websocket.clone(),
            bosh: a.bosh.clone(),
            domain: a.domain.clone(),
            muc_domain: a.muc_domain.clone(),
            focus: a.focus.clone(),
            room: a.room.clone(),
            no_join: a.no_join,
        }
    }
}

/// Flags of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// Also fetch every kid from this running key server and compare.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub fetch: FetchArgs,

    /// Longest the whole run may spend fetching from key servers (each fetch
    /// also waits at most --timeout); kids not fetched by then are counted
    /// in one finding. Fetching stops sooner, after 3 timeouts in a row.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub deadline: Duration,

    /// Also check this Prosody *.cfg.lua.
    #[arg(long, value_name = "FILE")]
    pub prosody_config: Option<PathBuf>,

    /// The VirtualHost to read (default: the only one with authentication = "token").
    #[arg(long, value_name = "VHOST", requires = "prosody_config")]
    pub host: Option<String>,

    /// Also check the token service's config (`serve --config FILE`): every
    /// issuer it signs for has a key old enough for min_key_age, and the
    /// Prosody config (with --prosody-config) accepts its iss and aud.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where to remember key fingerprints between runs (to spot a kid reused for another key).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Prosody's log, e.g. /var/log/prosody/prosody.log, or `-` for stdin
    /// (`journalctl -u prosody | asap-keyserver explain -`) [default: stdin].
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,

    /// Print the causes as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The URL to GET.
    #[arg(default_value = "http://127.0.0.1:8085/readyz")]
    pub url: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub fetch: FetchArgs,
}
