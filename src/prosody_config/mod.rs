//! Reads the options of Prosody's token plugin from a real `*.cfg.lua`.
//!
//! Not a Lua interpreter: a tokenizer that understands comments, both quote
//! styles and long strings, and a statement reader for `name = value`,
//! `VirtualHost "x"` and `Component "x" "type"`. Values that are plain
//! strings, numbers, booleans or `{ "a", "b" }` lists are read; anything
//! else (`os.getenv(...)`, concatenation) is reported as unreadable instead
//! of guessed. Options set before the first section are global and apply to
//! every host that does not set them itself, as in Prosody.

use std::path::{Path, PathBuf};

/// A configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A table, its array items and `k = v` items' values in order.
    List(Vec<Value>),
    /// `nil`.
    Nil,
    /// An expression we do not evaluate, as written.
    Unreadable(String),
}

/// A `VirtualHost` or `Component` block.
#[derive(Debug, Clone)]
pub struct Section {
    /// `true` for `VirtualHost`, `false` for `Component`.
    pub virtual_host: bool,
    /// The host name.
    pub name: String,
    /// Options set in the block, in order.
    pub options: Vec<(String, Value)>,
}

/// A parsed configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it came from.
    pub path: PathBuf,
    /// Options before the first section.
    pub global: Vec<(String, Value)>,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read Prosody config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A string or comment that never ends.
    #[error("{path}:{line}: {what}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// `--host` names no VirtualHost.
    #[error("no VirtualHost {host:?} in {path}; VirtualHosts: {}", .hosts.join(", "))]
    NoSuchHost {
        /// The host asked for.
        host: String,
        /// The file.
        path: PathBuf,
        /// The hosts there are.
        hosts: Vec<String>,
    },
    /// Zero or several token hosts and no `--host`.
    #[error("{path}: {} VirtualHosts use authentication = \"token\" ({}); choose one with --host", .found.len(), if .found.is_empty() { "none".to_owned() } else { .found.join(", ") })]
    AmbiguousHost {
        /// The file.
        path: PathBuf,
        /// The token hosts found.
        found: Vec<String>,
    },
}

impl Config {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parses config text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        syntax::parse(path, text)
    }

    /// The VirtualHost names.
    pub fn hosts(&self) -> Vec<String> {
        self.sections
            .iter()
            .filter(|s| s.virtual_host)
            .map(|s| s.name.clone())
            .collect()
    }

    fn section(&self, host: &str) -> Option<&Section> {
        self.sections
            .iter()
            .rev()
            .find(|s| s.virtual_host && s.name == host)
    }

    /// An option as Prosody sees it on `host`: the host's own, else the global one.
    pub fn option(&self, host: &str, name: &str) -> Option<&Value> {
        fn last<'a>(opts: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
            opts.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
        }
        self.section(host)
            .and_then(|s| last(&s.options, name))
            .or_else(|| last(&self.global, name))
    }

    /// `--host`, or the only VirtualHost with `authentication = "token"`.
    pub fn token_host(&self, host: Option<&str>) -> Result<String, ConfigError> {
        if let Some(h) = host {
            return match self.section(h) {
                Some(_) => Ok(h.to_owned()),
                None => Err(ConfigError::NoSuchHost {
                    host: h.to_owned(),
                    path: self.path.clone(),
                    hosts: self.hosts(),
                }),
            };
        }
        let mut found: Vec<String> = self
            .hosts()
            .into_iter()
            .filter(
                |h| matches!(self.option(h, "authentication"), Some(Value::Str(a)) if a == "token"),
            )
            .collect();
        found.dedup();
        match found.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(ConfigError::AmbiguousHost {
                path: self.path.clone(),
                found,
            }),
        }
    }
}

mod options;
mod syntax;
pub use options::{as_bool, as_list, as_string, Read, TokenOptions};

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(Path::new("test.cfg.lua"), text).unwrap()
    }

    #[test]
    fn comments_quotes_lists_and_sections() {
        let c = parse(
            r#"
-- global
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }
app_id = 'global-app' -- trailing comment
--[[ block
asap_key_server = "commented out"
]]
VirtualHost "meet.example.com"
    authentication = "token" ;
    asap_key_server = [[https://keys.example.com]]
    asap_accepted_issuers = { "jitsi", 'other', }
    asap_require_room_claim = false
    modules_enabled = { "bosh"; "pubsub"; }
    c2s_require_encryption = false
Component "conference.meet.example.com" "muc"
    app_id = "component-app"
VirtualHost("guest.meet.example.com")
    authentication = "anonymous"
"#,
        );
        assert_eq!(c.hosts(), ["meet.example.com", "guest.meet.example.com"]);
        assert_eq!(c.token_host(None).unwrap(), "meet.example.com");
        let o = TokenOptions::read(&c, None).unwrap();
        assert_eq!(
            o.app_id,
            Read::Set("global-app".into()),
            "global fallback, not the component's"
        );
        assert_eq!(
            o.asap_key_server,
            Read::Set("https://keys.example.com".into())
        );
        assert_eq!(
            o.accepted_issuers,
            Read::Set(vec!["jitsi".into(), "other".into()])
        );
        assert_eq!(o.require_room_claim, Read::Set(false));
        assert_eq!(o.accepted_audiences, Read::Unset);
        assert!(!o.app_secret_set);
    }

    #[test]
    fn expressions_are_reported_not_guessed() {
        let c = parse(
            "VirtualHost \"m\"\n authentication = \"token\"\n asap_key_server = os.getenv(\"KEYS\")\n app_id = \"a\" .. suffix\n asap_accepted_issuers = { \"x\", os.getenv(\"Y\") }\n app_secret = \"s3cret\"\n",
        );
        let o = TokenOptions::read(&c, None).unwrap();
        let bad: Vec<_> = o.unreadable().into_iter().map(|(n, _)| n).collect();
        assert_eq!(bad, ["app_id", "asap_key_server", "asap_accepted_issuers"]);
        assert!(matches!(&o.asap_key_server, Read::Unreadable(t) if t.contains("getenv")));
        assert!(o.app_secret_set);
    }

    #[test]
    fn unterminated_tables_end_the_parse() {
        // Found by `scripts/fuzz prosody_config` (an endless loop filling memory).
        let text = "VirtualHost(\"a\")\n authentication = [==[token]==]\n app_id = \"\\x41\\065\" .. x\n asap_aacepted_issuers = {lHost(\"a\")\n authentication = [==[token]==]\n";
        let c = parse(text);
        assert_eq!(c.hosts(), ["a"]);
        for text in ["x = {", "x = { \"a\",", "x = {{{", "x = ", "x = { y = "] {
            let _ = Config::parse(Path::new("t"), text);
        }
    }

    #[test]
    fn host_choice_errors() {
        let c = parse("VirtualHost \"a\"\n authentication = \"token\"\nVirtualHost \"b\"\n authentication = \"token\"\n");
        assert!(c
            .token_host(None)
            .unwrap_err()
            .to_string()
            .contains("2 VirtualHosts use authentication = \"token\" (a, b)"));
        assert_eq!(c.token_host(Some("b")).unwrap(), "b");
        assert!(c
            .token_host(Some("zz"))
            .unwrap_err()
            .to_string()
            .contains("VirtualHosts: a, b"));
        let err = Config::parse(Path::new("x"), "a = \"open")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x:1: unterminated string"), "{err}");
    }
}
