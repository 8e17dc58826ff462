//! Flags of the commands on the key directory (`list`, `keygen`,
//! `rotate`, `prune`, `export`) and of `mint`, which signs with its keys.

use super::values::{parse_bits, parse_duration, parse_feature};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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
    /// `rotate` names them), for a kid without a date by its file time (more
    /// than 60 s later), never by kid spelling; when that cannot tell, mint
    /// refuses and names the candidates.
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
