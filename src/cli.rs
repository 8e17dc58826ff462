//! Command-line interface (clap derive). The `///` comments are the help
//! text; daemon flags can also be set through `ASAP_*` environment variables.

// The `///` comments are --help text, where <DIR> and <kid> are placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]

use crate::check::fetch;
use crate::check::generation::Generation;
use crate::check::verify::Settings;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The exit status every command follows, shown under `--help`.
pub const EXIT_STATUS: &str = "\
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

    /// Accept loops, each on its own SO_REUSEPORT listener [default: one per CPU].
    #[arg(long, env = "ASAP_ACCEPT_LOOPS", value_name = "N")]
    pub accept_loops: Option<usize>,

    /// Open connections at most; more clients wait for one to close
    /// [default: 4096, or fewer to leave 64 file descriptors of the
    /// open-file limit (raised to its hard limit at start) for rescans].
    /// Over the limit, /healthz and /readyz are still answered (up to 8
    /// clients read at a time), up to 8 others wait, and more get 503.
    #[arg(long, env = "ASAP_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
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

/// Flags of `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The new key's id, e.g. `jitsi/2026-11-27` (written to `<DIR>/jitsi/2026-11-27.pem`).
    pub kid: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// RSA modulus size.
    #[arg(long, default_value_t = 2048, value_parser = parse_bits)]
    pub bits: usize,

    /// Also write the public key (SPKI PEM) to FILE, for a key server that should hold only public keys.
    /// Its folder must exist (as with `cp`), unless --parents.
    #[arg(long, value_name = "FILE")]
    pub public_out: Option<PathBuf>,

    /// Create the missing folders of --public-out (as `mkdir -p`).
    #[arg(long, requires = "public_out")]
    pub parents: bool,

    /// The URL Prosody will use for this server, for the printed configuration.
    #[arg(
        long,
        env = "ASAP_PUBLIC_URL",
        default_value = "http://127.0.0.1:8085",
        value_name = "URL"
    )]
    pub public_url: String,
}

/// Flags of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The issuer (first kid segment), e.g. `jitsi`.
    pub issuer: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// RSA modulus size.
    #[arg(long, default_value_t = 2048, value_parser = parse_bits)]
    pub bits: usize,
}

/// Flags of `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The issuer whose older keys go.
    pub issuer: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// How many of the newest keys to keep (at least 1). A key is removed only
    /// when N keys are known newer by the kid dates and file times that
    /// `mint --issuer` goes by: never the key it picks, and never a key whose
    /// age cannot be told.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub keep: usize,

    /// Keep every key made less than this ago, or that was the newest less
    /// than this ago: tokens it signed may still be alive (Prosody checks exp
    /// only). Make it longer than your longest token ttl, plus the signer's
    /// --min-key-age. `0` turns the guard off.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub min_age: Duration,

    /// Really remove the files (without it, only say what would go).
    #[arg(long)]
    pub yes: bool,
}

/// Flags of `mint`.
#[derive(Debug, Args)]
pub struct MintArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// Sign with this kid's private key.
    #[arg(long, conflicts_with = "issuer")]
    pub kid: Option<String>,

    /// Sign with the newest private key under `<DIR>/<ISSUER>/`: newest by the
    /// date in its kid (ISSUER/2026-12-01, ISSUER/2026-12-01T151136Z, as
    /// `rotate` names them) and its file time, never by kid spelling; when
    /// that cannot tell, mint refuses and names the candidates.
    #[arg(long)]
    pub issuer: Option<String>,

    /// With --issuer (or no --kid): use only keys that have been in the key
    /// directory this long (by the file's ctime), so that every key server
    /// replica serves a new key, and Prosody can find it, before it signs.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub min_key_age: Duration,

    /// Consumer shape: jitsi (self-hosted Prosody), jaas (8x8), asap (Atlassian ASAP rules).
    #[arg(long, value_enum, default_value_t = crate::token::claims::Profile::Jitsi)]
    pub profile: crate::token::claims::Profile,

    /// `iss` [default: the kid's first segment]: must be in Prosody's asap_accepted_issuers.
    #[arg(long)]
    pub iss: Option<String>,

    /// `aud`, one string [default: jitsi]: must be in asap_accepted_audiences.
    #[arg(long)]
    pub aud: Option<String>,

    /// `sub`: the tenant or domain, or `*` [default: *].
    #[arg(long)]
    pub sub: Option<String>,

    /// `room`: the room name, or `*` for any [default: *].
    #[arg(long)]
    pub room: Option<String>,

    /// Lifetime, e.g. `90m`, `2h` or seconds [default: 1h].
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,

    /// How far `nbf` lies in the past; Prosody allows no clock skew [default: 30s].
    #[arg(long, value_parser = parse_duration)]
    pub nbf_skew: Option<Duration>,

    /// `context.user.id`.
    #[arg(long)]
    pub user_id: Option<String>,

    /// `context.user.name`.
    #[arg(long)]
    pub name: Option<String>,

    /// `context.user.email`.
    #[arg(long)]
    pub email: Option<String>,

    /// `context.user.avatar` (an https or data: URL).
    #[arg(long)]
    pub avatar: Option<String>,

    /// Make the user a moderator (`context.user.moderator`; `--moderator=false` to say no).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub moderator: Option<bool>,

    /// `context.user.affiliation` (e.g. owner, member).
    #[arg(long)]
    pub affiliation: Option<String>,

    /// `context.features.NAME` (repeat): livestreaming, recording, transcription, outbound-call, ...
    #[arg(long = "feature", value_name = "NAME[=BOOL]", value_parser = parse_feature)]
    pub features: Vec<(String, bool)>,

    /// `context.group` (multi-tenant setups).
    #[arg(long)]
    pub group: Option<String>,

    /// Merge the JSON object in FILE (`-` for stdin); flags given here win over it.
    #[arg(long, value_name = "FILE|-")]
    pub claims: Option<PathBuf>,

    /// Let --claims drop sub or room (set them to null): Prosody rejects such
    /// tokens by default (sub since the token plugin of 2026-05).
    #[arg(long, requires = "claims")]
    pub allow_missing_claims: bool,

    /// Print `<URL>/<room>?jwt=<token>` instead of the bare token.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Also print the header and payload as JSON on stderr.
    #[arg(long)]
    pub decode: bool,
}

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

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to publish: becomes a symlink to a complete copy, swapped atomically on each export.
    pub outdir: PathBuf,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub dir: KeyDirArg,

    /// Which files to write.
    #[arg(long, value_enum, default_value_t = crate::keydir::export::Layout::All)]
    pub layout: crate::keydir::export::Layout,
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

/// Parses `--bits`: the sizes key generation offers (2048, 3072, 4096, 8192).
pub fn parse_bits(s: &str) -> Result<usize, String> {
    match s.trim() {
        "2048" => Ok(2048),
        "3072" => Ok(3072),
        "4096" => Ok(4096),
        "8192" => Ok(8192),
        _ => Err("choose 2048, 3072, 4096 or 8192".to_owned()),
    }
}

/// Parses `NAME` or `NAME=true|false` for `--feature`.
pub fn parse_feature(s: &str) -> Result<(String, bool), String> {
    let (name, value) = s.split_once('=').unwrap_or((s, "true"));
    let on = match value {
        "true" | "yes" | "1" => true,
        "false" | "no" | "0" => false,
        other => {
            return Err(format!(
                "{other:?} is not true or false (write NAME or NAME=false)"
            ))
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{name:?} is not a feature name like recording or outbound-call"
        ));
    }
    Ok((name.to_owned(), on))
}

/// Parses a humane duration such as `500ms`, `2s`, `1m` or `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}: write a duration like 500ms, 2s, 5m or 1h"))
}

/// Writes a duration as a flag takes it: `24h`, `90s`, `1h 30m`, `0s`
/// (whole seconds).
pub fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    [(h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").unwrap_err().contains("like 500ms"));
        for (secs, text) in [(0, "0s"), (90, "1m 30s"), (86_400, "24h"), (3_605, "1h 5s")] {
            assert_eq!(show_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        }
    }
}
