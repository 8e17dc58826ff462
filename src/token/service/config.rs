//! `serve --config FILE`: the token service's settings, read from TOML.
//!
//! Every key is checked when the file is read, before `serve` binds: an
//! unknown key, a duration that does not parse, a secret file that cannot
//! be read are errors naming the file, the key and the fix. Paths in the
//! file are relative to the file's folder. Secrets (client secrets, the
//! cookie key) are read from their own files, and never shown by `Debug`.

mod clients;
mod toml_error;

pub use super::policy::{ClientPolicy, Rate, Secret};
use clients::{mint, RawMint};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml_error::parse_error;

/// The most a secret or key file may hold.
const SECRET_FILE_LIMIT: u64 = 64 * 1024;
/// The most the config file may hold (a config with a thousand clients is
/// under 200 KiB).
pub const CONFIG_FILE_LIMIT: u64 = 1024 * 1024;
/// The shortest client secret accepted: a guessable secret mints tokens.
pub const MIN_SECRET_LEN: usize = 16;
/// `min_key_age` when the file does not set it: long enough for every
/// replica's watcher and every Prosody's `cache_keys_url` refresh to see a
/// new key before it signs.
pub const DEFAULT_MIN_KEY_AGE: Duration = Duration::from_secs(90);
/// The OIDC tokens' lifetime when `[oidc] ttl` is not set.
pub const DEFAULT_OIDC_TTL: Duration = Duration::from_secs(3 * 3600);
/// How long after a login a refresh token is honoured when `[oidc]
/// refresh_ttl` is not set (a working day and then some).
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(12 * 3600);
/// Jitsi's `config.sso.clientId` when `[oidc] sso_client_id` is not set.
pub const DEFAULT_SSO_CLIENT_ID: &str = "jitsi-meet";
/// A mint client's `max_ttl` when not set (the `mint` command's default ttl).
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(3600);
/// A mint client's rate when not set.
pub const DEFAULT_RATE: &str = "100/s";

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read: missing, not a regular file (a FIFO, a
    /// device), over [`CONFIG_FILE_LIMIT`], not UTF-8.
    #[error("{}: cannot read the token service config: {problem}; check the path given to --config (or ASAP_CONFIG)", file.display())]
    Read {
        /// The config file.
        file: PathBuf,
        /// Why.
        problem: crate::keys::ReadError,
    },
    /// One line without `=` or `[`: a secret (a `secret_file`) given as
    /// the config, whose text is not shown.
    #[error("{}: this is not a config file (one line without '=' or '[', perhaps a secret file; \
        its text is not shown): give the TOML config to --config (see deploy/asap-keyserver.toml)", file.display())]
    NotConfig {
        /// The file.
        file: PathBuf,
    },
    /// Not TOML, an unknown key, a value of the wrong type: where, and
    /// toml's message without the line's text or any value (a config
    /// error must not print what may be a secret).
    #[error("{}:{line}:{column}: {message} (the line's text is not shown)", file.display())]
    Parse {
        /// The config file.
        file: PathBuf,
        /// 1-based line (0 when toml does not say).
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong, naming the key, without values.
        message: String,
    },
    /// A key whose value cannot be used.
    #[error("{}: {key}: {problem}; {fix}", file.display())]
    Key {
        /// The config file.
        file: PathBuf,
        /// The key, as a TOML path (`mint.clients[0].secret_file`).
        key: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
}

/// The whole file, checked.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The config file it was read from.
    pub file: PathBuf,
    /// Sign only with keys that have been in the key directory this long.
    pub min_key_age: Duration,
    /// `[oidc]`: the login bridge, if configured.
    pub oidc: Option<OidcConfig>,
    /// `[mint]`: the mint API, if configured.
    pub mint: Option<MintConfig>,
    /// What a check without side effects ([`ServiceConfig::check`]) left
    /// undone, for `doctor` to say (a cookie key file not created yet).
    pub notes: Vec<String>,
}

/// `[oidc]`: the OpenID Connect login bridge.
#[derive(Clone)]
pub struct OidcConfig {
    /// The identity provider (discovery at `<issuer>/.well-known/openid-configuration`).
    pub issuer: url::Url,
    /// This server's client id at the identity provider.
    pub client_id: String,
    /// The client secret (from `client_secret_file`); `None`: a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// This server as browsers reach it; the callback is `<public_url>/oidc/callback`.
    pub public_url: url::Url,
    /// The Jitsi Meet deployment: the only place a user is sent back to.
    pub jitsi_url: url::Url,
    /// Scopes asked for (default `openid profile email`).
    pub scopes: Vec<String>,
    /// Sign with the newest key under `<key dir>/<token_issuer>/`; also the tokens' `iss`.
    pub token_issuer: String,
    /// The tokens' `aud`.
    pub audience: String,
    /// The tokens' lifetime (default 3h).
    pub ttl: Duration,
    /// Who is made moderator; `None`: nobody by the token.
    pub moderator: Option<ModeratorRule>,
    /// The key sealing the login-state cookie (from `cookie_key_file`).
    pub cookie_key: [u8; 32],
    /// Where the cookie key lives (shared by replicas).
    pub cookie_key_file: PathBuf,
    /// An extra CA (PEM) to trust for the identity provider's HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Inline login: the client id Jitsi's `static/sso.html` sends
    /// (`config.sso.clientId`; default `jitsi-meet`).
    pub sso_client_id: String,
    /// Inline login: how long after the login a refresh token is honoured
    /// (default 12h).
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("public_url", &self.public_url.as_str())
            .field("jitsi_url", &self.jitsi_url.as_str())
            .field("scopes", &self.scopes)
            .field("token_issuer", &self.token_issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .field("moderator", &self.moderator)
            .field("cookie_key", &"<redacted>")
            .field("cookie_key_file", &self.cookie_key_file)
            .field("ca_file", &self.ca_file)
            .field("sso_client_id", &self.sso_client_id)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish()
    }
}

/// `moderator = { claim = "groups", value = "jitsi-moderators" }`: the user
/// is moderator when the claim equals the value or, as a list, contains it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeratorRule {
    /// The claim of the id_token or userinfo (e.g. `groups`, `roles`).
    pub claim: String,
    /// The value that makes a moderator.
    pub value: String,
}

/// `[mint]`: the mint API's clients.
#[derive(Debug, Clone)]
pub struct MintConfig {
    /// Every client, each with its secret and policy.
    pub clients: Vec<ClientPolicy>,
}

// The file as written: strings, checked afterwards so that each error
// names its key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    min_key_age: Option<String>,
    oidc: Option<RawOidc>,
    mint: Option<RawMint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: String,
    client_id: String,
    client_secret_file: Option<PathBuf>,
    public_url: String,
    jitsi_url: String,
    scopes: Option<Vec<String>>,
    token_issuer: String,
    audience: Option<String>,
    ttl: Option<String>,
    moderator: Option<ModeratorRule>,
    cookie_key_file: PathBuf,
    ca_file: Option<PathBuf>,
    sso_client_id: Option<String>,
    refresh_ttl: Option<String>,
}

/// Checks values against one file, naming keys in errors.
struct Reader<'a> {
    file: &'a Path,
    dir: PathBuf,
    /// Create a missing cookie key file (`serve`), or only note it (`doctor`).
    create: bool,
    notes: std::cell::RefCell<Vec<String>>,
}

impl Reader<'_> {
    fn err(&self, key: &str, problem: impl Into<String>, fix: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            file: self.file.to_owned(),
            key: key.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn path(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }

    fn duration(
        &self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        humantime::parse_duration(v.trim()).map_err(|e| {
            self.err(
                key,
                format!("{v:?} is not a duration ({e})"),
                "write it like \"90s\", \"30m\" or \"3h\"",
            )
        })
    }

    fn url(&self, key: &str, value: &str) -> Result<url::Url, ConfigError> {
        let fix = "write an absolute URL like \"https://meet.example.com\"";
        let url = url::Url::parse(value)
            .map_err(|e| self.err(key, format!("{value:?} is not a URL ({e})"), fix))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(self.err(key, format!("{value:?} is not an http(s) URL"), fix));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.err(
                key,
                format!("{value:?} has a query or fragment"),
                "give the URL without ?… or #…",
            ));
        }
        Ok(url)
    }

    fn name(&self, key: &str, value: &str, what: &str) -> Result<(), ConfigError> {
        if value.is_empty() || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(self.err(
                key,
                format!("{value:?} is not a usable {what}"),
                format!("give a {what} without spaces"),
            ));
        }
        Ok(())
    }

    /// A secret from its own file: trimmed, at least [`MIN_SECRET_LEN`] characters.
    fn secret(&self, key: &str, file: &Path) -> Result<Secret, ConfigError> {
        let path = self.path(file);
        let bytes = crate::keys::read_regular(&path, SECRET_FILE_LIMIT).map_err(|e| {
            if looks_like_a_secret(file) && !path.exists() {
                // The secret itself pasted where its file's path belongs:
                // naming the "path" would print it.
                return self.err(
                    key,
                    "names no file, and looks like a secret itself (the value is not shown)",
                    "put the secret in a file (`openssl rand -hex 32 > clients/NAME.secret; chmod 600 clients/NAME.secret`) and give that file's path here",
                );
            }
            self.err(
                key,
                format!("cannot read {}: {}", path.display(), e),
                "create it with `openssl rand -hex 32 > FILE; chmod 600 FILE` (paths are relative to the config file's folder)",
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            self.err(
                key,
                format!("{} is not UTF-8 text", path.display()),
                "put the secret in as text, e.g. from `openssl rand -hex 32`",
            )
        })?;
        let secret = text.trim();
        if secret.len() < MIN_SECRET_LEN || secret.contains(char::is_whitespace) {
            return Err(self.err(
                key,
                format!(
                    "{} must hold one secret of at least {MIN_SECRET_LEN} characters without spaces",
                    path.display()
                ),
                "generate one with `openssl rand -hex 32`",
            ));
        }
        Ok(Secret::new(secret.to_owned()))
    }

    /// The cookie key: 64 hex digits (or 32 raw bytes) in `file`, created
    /// (0600, written whole) when missing.
    fn cookie_key(&self, key: &str, file: &Path) -> Result<([u8; 32], PathBuf), ConfigError> {
        let path = self.path(file);
        let fix = "delete it to have a new key generated at the next start (logins in progress fail once), \
            or put 64 hex digits in it (`openssl rand -hex 32`)";
        let bytes = match crate::keys::read_regular(&path, SECRET_FILE_LIMIT) {
            Ok(b) => b,
            Err(crate::keys::ReadError::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound && !self.create =>
            {
                self.notes.borrow_mut().push(format!(
                    "{key}: {} does not exist yet: serve creates it (0600) at its first start; every replica must share it",
                    path.display()
                ));
                return Ok(([0; 32], path));
            }
            Err(crate::keys::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                generate_cookie_key(&path).map_err(|e| {
                    self.err(
                        key,
                        format!("{} is missing and cannot be created: {e}", path.display()),
                        "make its folder writable by this user, or create the file with `openssl rand -hex 32`",
                    )
                })?;
                tracing::info!(path = %path.display(), "created the cookie key (mode 0600); share this file between replicas");
                crate::keys::read_regular(&path, SECRET_FILE_LIMIT).map_err(|e| {
                    self.err(key, format!("cannot read {}: {}", path.display(), e), fix)
                })?
            }
            Err(e) => {
                return Err(self.err(key, format!("cannot read {}: {}", path.display(), e), fix))
            }
        };
        let parsed = parse_cookie_key(&bytes).ok_or_else(|| {
            self.err(
                key,
                format!("{} holds no 32-byte key (64 hex digits)", path.display()),
                fix,
            )
        })?;
        Ok((parsed, path))
    }
}

/// A `*_file` value with no folder and no extension, 16 characters or
/// more: more likely a secret than the name of its file.
fn looks_like_a_secret(value: &Path) -> bool {
    let text = value.as_os_str().as_encoded_bytes();
    text.len() >= MIN_SECRET_LEN && !text.contains(&b'/') && !text.contains(&b'.')
}

fn parse_cookie_key(bytes: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if let Some(hexed) = text.filter(|t| t.len() == 64) {
        let mut key = [0u8; 32];
        if hex::decode_to_slice(hexed, &mut key).is_ok() {
            return Some(key);
        }
    }
    <[u8; 32]>::try_from(bytes).ok()
}

/// Writes a new random cookie key (64 hex digits, 0600, never clobbering:
/// a replica that lost the race reads the winner's key).
fn generate_cookie_key(path: &Path) -> std::io::Result<()> {
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| std::io::Error::other("no randomness"))?;
    let text = format!("{}\n", hex::encode(key));
    match crate::keys::write_new_file(path, text.as_bytes(), 0o600) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

impl ServiceConfig {
    /// Reads and checks `file` (and the secret files it names; a missing
    /// cookie key file is generated).
    pub fn load(file: &Path) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::read(file, true)
    }

    /// Reads and checks `file` like [`ServiceConfig::load`], but writes
    /// nothing: a missing cookie key file is only noted (`doctor`).
    pub fn check(file: &Path) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::read(file, false)
    }

    fn read(file: &Path, create: bool) -> Result<ServiceConfig, ConfigError> {
        let unreadable = |problem| ConfigError::Read {
            file: file.to_owned(),
            problem,
        };
        let bytes = crate::keys::read_regular(file, CONFIG_FILE_LIMIT).map_err(unreadable)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            unreadable(crate::keys::ReadError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            )))
        })?;
        ServiceConfig::parse_with(file, &text, create)
    }

    /// Checks `text`, read from `file` (paths are relative to its folder).
    #[cfg(test)]
    pub fn parse(file: &Path, text: &str) -> Result<ServiceConfig, ConfigError> {
        ServiceConfig::parse_with(file, text, true)
    }

    fn parse_with(file: &Path, text: &str, create: bool) -> Result<ServiceConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(file, text, e))?;
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_owned);
        let r = Reader {
            file,
            dir,
            create,
            notes: std::cell::RefCell::new(Vec::new()),
        };
        let min_key_age = r.duration(
            "min_key_age",
            raw.min_key_age.as_deref(),
            DEFAULT_MIN_KEY_AGE,
        )?;
        let oidc = raw.oidc.map(|o| oidc(&r, o)).transpose()?;
        let mint = raw.mint.map(|m| mint(&r, m)).transpose()?;
        if oidc.is_none() && mint.is_none() {
            return Err(r.err(
                "(top level)",
                "neither [oidc] nor [mint] is configured",
                "add a [mint] section with [[mint.clients]], an [oidc] section, or both (see deploy/asap-keyserver.toml)",
            ));
        }
        Ok(ServiceConfig {
            file: file.to_owned(),
            min_key_age,
            oidc,
            mint,
            notes: r.notes.into_inner(),
        })
    }
}

fn oidc(r: &Reader<'_>, o: RawOidc) -> Result<OidcConfig, ConfigError> {
    let issuer = r.url("oidc.issuer", &o.issuer)?;
    let public_url = r.url("oidc.public_url", &o.public_url)?;
    let jitsi_url = r.url("oidc.jitsi_url", &o.jitsi_url)?;
    r.name("oidc.client_id", &o.client_id, "client id")?;
    r.name(
        "oidc.token_issuer",
        &o.token_issuer,
        "issuer (a folder of the key directory)",
    )?;
    let audience = o.audience.unwrap_or_else(|| "jitsi".to_owned());
    r.name("oidc.audience", &audience, "audience")?;
    let scopes = o
        .scopes
        .unwrap_or_else(|| ["openid", "profile", "email"].map(String::from).to_vec());
    if !scopes.iter().any(|s| s == "openid") {
        return Err(r.err(
            "oidc.scopes",
            format!("{scopes:?} lacks \"openid\""),
            "add \"openid\": without it there is no id_token",
        ));
    }
    let ttl = r.duration("oidc.ttl", o.ttl.as_deref(), DEFAULT_OIDC_TTL)?;
    if ttl.is_zero() || ttl > crate::token::claims::MAX_TTL {
        return Err(r.err(
            "oidc.ttl",
            "must be more than 0s and at most 366 days",
            "write it like \"3h\"",
        ));
    }
    let client_secret = o
        .client_secret_file
        .as_deref()
        .map(|f| r.secret("oidc.client_secret_file", f))
        .transpose()?;
    let (cookie_key, cookie_key_file) = r.cookie_key("oidc.cookie_key_file", &o.cookie_key_file)?;
    let ca_file = o.ca_file.as_deref().map(|f| r.path(f));
    if let Some(ca) = &ca_file {
        if !ca.is_file() {
            return Err(r.err(
                "oidc.ca_file",
                format!("{} is not a file", ca.display()),
                "give the PEM file of the CA that signed the identity provider's certificate",
            ));
        }
    }
    let sso_client_id = o
        .sso_client_id
        .unwrap_or_else(|| DEFAULT_SSO_CLIENT_ID.to_owned());
    r.name("oidc.sso_client_id", &sso_client_id, "client id")?;
    let refresh_ttl = r.duration(
        "oidc.refresh_ttl",
        o.refresh_ttl.as_deref(),
        DEFAULT_REFRESH_TTL,
    )?;
    if refresh_ttl.is_zero() || refresh_ttl > crate::token::claims::MAX_TTL {
        return Err(r.err(
            "oidc.refresh_ttl",
            "must be more than 0s and at most 366 days",
            "write it like \"12h\" (how long after a login Jitsi may refresh its token without a new login)",
        ));
    }
    Ok(OidcConfig {
        issuer,
        client_id: o.client_id,
        client_secret,
        public_url,
        jitsi_url,
        scopes,
        token_issuer: o.token_issuer,
        audience,
        ttl,
        moderator: o.moderator,
        cookie_key,
        cookie_key_file,
        ca_file,
        sso_client_id,
        refresh_ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_keys_parse() {
        assert_eq!(
            parse_cookie_key(format!("{}\n", "ab".repeat(32)).as_bytes()),
            Some([0xab; 32])
        );
        assert_eq!(parse_cookie_key(b"short"), None);
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.secret"), "0123456789abcdef0123\n").unwrap();
        let file = dir.path().join("c.toml");
        let text = "[mint]\n[[mint.clients]]\nname = \"b\"\nsecret_file = \"b.secret\"\nissuers = [\"jitsi\"]\nrooms = [\"*\"]\n";
        let config = ServiceConfig::parse(&file, text).unwrap();
        assert_eq!(config.min_key_age, DEFAULT_MIN_KEY_AGE);
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("0123456789abcdef") && shown.contains("redacted"),
            "{shown}"
        );
        let err = ServiceConfig::parse(&file, &text.replace("rooms", "max_ttl = \"1x\"\nrooms"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("mint.clients[0].max_ttl: \"1x\" is not a duration"),
            "{err}"
        );
        let pasted = "0123456789abcdef0123";
        let err = ServiceConfig::parse(&file, &text.replace("b.secret", pasted))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mint.clients[0].secret_file: names no file, and looks like a secret")
                && !err.contains(pasted),
            "{err}"
        );
        let err = ServiceConfig::parse(&file, &format!("{text}colour = 1\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn parse_errors_say_where_never_the_text() {
        let file = Path::new("c.toml");
        let shown = |text: &str| ServiceConfig::parse(file, text).unwrap_err().to_string();
        let secret = "s3cr3t-Value-0123456789";
        assert_eq!(
            shown(&format!("{secret}\n")),
            "c.toml: this is not a config file (one line without '=' or '[', perhaps a secret file; \
             its text is not shown): give the TOML config to --config (see deploy/asap-keyserver.toml)"
        );
        let err = shown(&format!("min_key_age = \"9s\"\nsecret = \"{secret}\"\n"));
        assert!(
            err.starts_with("c.toml:2:1: unknown field `secret`"),
            "{err}"
        );
        let err = shown(&format!(
            "[mint]\n[[mint.clients]]\nname = \"b\"\nissuers = \"{secret}\"\n"
        ));
        assert!(
            err.starts_with(
                "c.toml:4:11: invalid type: string (value not shown), expected a sequence"
            ),
            "{err}"
        );
        let err = shown(&format!(
            "min_key_age = 9\nroot:{secret}:19000:0:99999:7:::\n"
        ));
        assert!(err.starts_with("c.toml:2:"), "{err}");
        let err = shown(&format!("min_key_age = \"{secret}\n"));
        assert!(err.starts_with("c.toml:1:"), "{err}");
        for err in [err, shown(&format!("min_key_age = {secret}\n"))] {
            assert!(!err.contains(secret) && !err.contains("s3cr3t"), "{err}");
        }
    }
}
