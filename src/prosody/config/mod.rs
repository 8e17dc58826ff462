//! Reads the options of Prosody's token plugin from a real `*.cfg.lua`.
//!
//! The file is run as Prosody runs it, as Lua in a sandbox (see `lua.rs`),
//! so expressions, `os.getenv(...)` and `Include` give what Prosody sees.
//! Options set before the first section are global and apply to every host
//! that does not set them itself, as in Prosody.

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
    /// A value that is no option value (a function, say), described.
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
    /// What the config read from files (`FileContents`, `FileLine(s)`):
    /// to be kept out of everything printed.
    pub redactions: Redactions,
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
    /// Lua refused the file, or running it failed at a line.
    #[error("{path}:{line}: {what} (Prosody would refuse this config too)")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// Running the config failed without a line to blame (memory, ...).
    #[error("{path}: {message}")]
    Lua {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
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
    #[error(
        "{path}: {} VirtualHosts use authentication = \"token\" ({}); choose one with --host",
        .found.len(),
        if .found.is_empty() { "none".to_owned() } else { .found.join(", ") }
    )]
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
        let text = file::read_text(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // A secret given by mistake (`--prosody-config client.secret`): Lua
        // would name a piece of it ("global 'q2Xy'"), so it is not run. A
        // one-line config still has an `=`, a string or a call (`Include "…"`).
        let trimmed = text.trim();
        if !trimmed.is_empty() && !trimmed.contains(['\n', '=', '"', '\'', '(', '[', ' ']) {
            return Err(ConfigError::Lua {
                path: path.to_owned(),
                message:
                    "this is not a Prosody config (one word on one line, perhaps a secret file; \
                    its text is not shown): give the *.cfg.lua file Prosody loads"
                        .into(),
            });
        }
        Config::parse(path, &text)
    }

    /// Parses config text (`path` is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        lua::parse(path, text)
    }

    /// The VirtualHost names, each once, in the order they first appear.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for s in self.sections.iter().filter(|s| s.virtual_host) {
            if !hosts.contains(&s.name) {
                hosts.push(s.name.clone());
            }
        }
        hosts
    }

    fn section(&self, host: &str) -> Option<&Section> {
        self.sections
            .iter()
            .rev()
            .find(|s| s.virtual_host && s.name == host)
    }

    /// An option as Prosody sees it on `host`: the host's own (the last one
    /// set, in any of the `VirtualHost` blocks of that name, as a
    /// `conf.d` file may reopen a host), else the global one.
    pub fn option(&self, host: &str, name: &str) -> Option<&Value> {
        fn last<'a>(opts: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
            opts.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
        }
        self.sections
            .iter()
            .rev()
            .filter(|s| s.virtual_host && s.name == host)
            .find_map(|s| last(&s.options, name))
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
                    hosts: self.shown_hosts(),
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
                found: found.iter().map(|h| self.redactions.scrub(h)).collect(),
            }),
        }
    }

    /// The VirtualHost names as an error may show them.
    fn shown_hosts(&self) -> Vec<String> {
        self.hosts()
            .iter()
            .map(|h| self.redactions.scrub(h))
            .collect()
    }
}

pub(crate) mod file;
mod lua;
mod options;
mod redact;
pub use options::{Read, TokenOptions};
pub use redact::Redactions;

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
    fn expressions_run_as_prosody_runs_them() {
        let path = std::env::var("PATH").unwrap_or_default();
        let c = parse(
            concat!(
                "suffix = \"-b\"\nVirtualHost \"m\"\n authentication = \"token\"\n",
                " asap_key_server = os.getenv(\"PATH\")\n app_id = \"a\" .. suffix\n",
                " asap_accepted_issuers = { \"x\", app_id .. \"2\", ENV_PATH }\n app_secret = \"s3cret\"\n",
                " asap_accepted_audiences = { string.format(\"%s\", \"jitsi\") }\n",
            ),
        );
        let o = TokenOptions::read(&c, None).unwrap();
        assert!(o.unreadable().is_empty(), "{:?}", o.unreadable());
        assert_eq!(o.asap_key_server, Read::Set(path.clone()));
        assert_eq!(o.app_id, Read::Set("a-b".into()));
        assert_eq!(
            o.accepted_issuers,
            Read::Set(vec!["x".into(), "a-b2".into(), path])
        );
        assert_eq!(o.accepted_audiences, Read::Set(vec!["jitsi".into()]));
        assert!(o.app_secret_set);
        // A name that is no option and no Lua global is nil, as in Prosody,
        // and concatenating nil stops the config, naming the line.
        let err = Config::parse(Path::new("p.cfg.lua"), "x = 1\napp_id = \"a\" .. nothing\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("p.cfg.lua:2: attempt to concatenate a nil value (global 'nothing')"),
            "{err}"
        );
    }

    #[test]
    fn functions_are_unreadable_values_not_errors() {
        let c = parse("VirtualHost \"m\"\n authentication = \"token\"\n app_id = function() end\n");
        let o = TokenOptions::read(&c, None).unwrap();
        assert!(matches!(&o.app_id, Read::Unreadable(t) if t.contains("function")));
    }

    #[test]
    fn the_sandbox_has_no_io_and_limits_time_and_memory() {
        for (text, needle) in [
            ("x = io.open(\"/etc/passwd\")", "global 'io'"),
            ("x = require(\"socket\")", "global 'require'"),
            ("os.execute(\"true\")", "field 'execute'"),
            ("x = dofile(\"/etc/passwd\")", "global 'dofile'"),
            ("while true do end", "ran longer than its budget"),
            ("x = string.rep(\"a\", 1e9)", "memory"),
        ] {
            let err = Config::parse(Path::new("s.cfg.lua"), text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    /// Issue 18 (5): the budget's error cannot be caught, so a loop
    /// around a `pcall` ends as a loop does; finalizers, which run with
    /// hooks off, cannot be set.
    #[test]
    fn pcall_and_xpcall_cannot_swallow_the_budget() {
        for text in [
            "while true do pcall(function() while true do end end) end",
            "while true do xpcall(function() while true do end end, function(e) return e end) end",
            "while true do xpcall(function() while true do end end, function() while true do end end) end",
            "while true do Lua.pcall(pcall, pcall, function() while true do end end) end",
        ] {
            let err = Config::parse(Path::new("p.cfg.lua"), text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("p.cfg.lua: ran longer than its budget of 50 million Lua instructions"),
                "{text}: {err}"
            );
        }
        // What a config raises itself is still caught.
        let c = parse("p = { pcall(error, \"no\") }\nx = { xpcall(error, function(e) return e .. \"!\" end, \"no\") }\n");
        let no = |s: &str| Value::List(vec![Value::Bool(false), Value::Str(s.into())]);
        assert_eq!(
            c.global,
            [("p".to_owned(), no("no")), ("x".to_owned(), no("no!"))]
        );
        let err = Config::parse(
            Path::new("g.cfg.lua"),
            "x = setmetatable({}, { __gc = function() while true do end end })",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("__gc metamethods are not allowed"), "{err}");
    }

    /// Issue 18 (5): files that block or never end are refused by what they
    /// are, naming the file, instead of being opened and read.
    #[test]
    fn fifos_and_devices_named_by_a_config_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let main = dir.path().join("prosody.cfg.lua");
        for (text, needle) in [
            ("Include \"fifo\"", "Error loading included"),
            ("x = FileContents(\"fifo\")", "cannot read"),
            ("x = FileLine(\"fifo\")", "cannot read"),
            ("x = FileLines(\"fifo\")", "cannot read"),
        ] {
            std::fs::write(&main, text).unwrap();
            let err = Config::load(&main).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "{needle} {}: not a regular file but a FIFO",
                    fifo.display()
                )),
                "{text}: {err}"
            );
        }
        std::fs::write(&main, "x = FileContents(\"/dev/zero\")").unwrap();
        let err = Config::load(&main).unwrap_err().to_string();
        assert!(
            err.contains("/dev/zero: not a regular file but a device"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            anyhow::Error::from(Config::load(&fifo).unwrap_err())
        );
        assert!(
            err.ends_with("fifo: not a regular file but a FIFO (named pipe)"),
            "{err}"
        );
    }

    #[test]
    fn include_reads_files_and_wildcards_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/meet.cfg.lua"),
            "app_id = \"from-include\"\nVirtualHost \"meet\"\n authentication = \"token\"\n asap_key_server = \"https://keys\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/.hidden.cfg.lua"), "error(\"read\")").unwrap();
        std::fs::write(dir.path().join("conf.d/other.txt"), "error(\"read\")").unwrap();
        std::fs::write(dir.path().join("self.cfg.lua"), "Include \"self.cfg.lua\"").unwrap();
        let main = dir.path().join("prosody.cfg.lua");
        std::fs::write(&main, "Include \"conf.d/*.cfg.lua\"\nx = 1\n").unwrap();
        let c = Config::load(&main).unwrap();
        assert_eq!(c.hosts(), ["meet"]);
        let o = TokenOptions::read(&c, None).unwrap();
        assert_eq!(o.app_id, Read::Set("from-include".into()));
        assert_eq!(o.asap_key_server, Read::Set("https://keys".into()));
        // Options after the Include land in the including file's section.
        assert_eq!(c.global.last().map(|(n, _)| n.as_str()), Some("x"));
        let err = Config::load(&dir.path().join("self.cfg.lua"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nest more than"), "{err}");
        std::fs::write(&main, "Include \"missing.cfg.lua\"").unwrap();
        let err = Config::load(&main).unwrap_err().to_string();
        assert!(err.contains("missing.cfg.lua"), "{err}");
    }

    #[test]
    fn unterminated_tables_end_the_parse() {
        // Found by `scripts/fuzz prosody_config` in the old hand-written
        // reader (an endless loop filling memory): now a Lua syntax error.
        let text = concat!(
            "VirtualHost(\"a\")\n authentication = [==[token]==]\n app_id = \"\\x41\\065\" .. x\n",
            " asap_aacepted_issuers = {lHost(\"a\")\n authentication = [==[token]==]\n",
        );
        let err = Config::parse(Path::new("t.cfg.lua"), text)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("t.cfg.lua:5: '}' expected (to close '{' at line 4)"),
            "{err}"
        );
        for text in ["x = {", "x = { \"a\",", "x = {{{", "x = ", "x = { y = "] {
            assert!(Config::parse(Path::new("t"), text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_reopened_virtual_host_keeps_its_options() {
        let c = parse("VirtualHost \"m\"\n authentication = \"token\"\n app_id = \"a\"\nVirtualHost \"m\"\n cache_keys_url = \"https://k/jwks.json\"\n");
        let o = TokenOptions::read(&c, None).unwrap();
        assert_eq!(o.app_id, Read::Set("a".into()));
        assert_eq!(o.cache_keys_url, Read::Set("https://k/jwks.json".into()));
    }

    #[test]
    fn deep_nesting_and_long_garbage_end_quickly_with_an_error() {
        // Found by an adversarial pass on the old hand-written reader: a
        // stack overflow at 100,000 nested '{', 34 s for 40,000 unclosed.
        let nested = format!("x = {}{}", "{".repeat(100_000), "}".repeat(100_000));
        let err = Config::parse(Path::new("n.cfg.lua"), &nested)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("n.cfg.lua") && err.contains("stack overflow"),
            "{err}"
        );
        let unclosed = format!("x = {}", "{".repeat(40_000));
        assert!(Config::parse(Path::new("u"), &unclosed).is_err());
        let calls = format!("x = {}1{}", "f(".repeat(50_000), ")".repeat(50_000));
        assert!(Config::parse(Path::new("c"), &calls).is_err());
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
        assert!(err.contains("x:1: unfinished string"), "{err}");
    }
}
