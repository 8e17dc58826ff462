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
    #[error("cannot read Prosody config {path}: {source}")]
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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    Sym(String),
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self, off: usize) -> u8 {
        self.src.get(self.pos + off).copied().unwrap_or(0)
    }

    fn bump(&mut self) -> u8 {
        let c = self.peek(0);
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        c
    }

    /// `[[`, `[=[`, ...: returns the level if a long bracket starts here.
    fn long_bracket(&self) -> Option<usize> {
        if self.peek(0) != b'[' {
            return None;
        }
        let mut level = 0;
        while self.peek(1 + level) == b'=' {
            level += 1;
        }
        (self.peek(1 + level) == b'[').then_some(level)
    }

    fn read_long(&mut self, level: usize) -> Option<String> {
        self.pos += level + 2;
        let close = format!("]{}]", "=".repeat(level));
        let rest = &self.src[self.pos..];
        let end = rest
            .windows(close.len())
            .position(|w| w == close.as_bytes())?;
        let text = String::from_utf8_lossy(&rest[..end]).into_owned();
        for _ in 0..end + close.len() {
            self.bump();
        }
        Some(text.strip_prefix('\n').map(str::to_owned).unwrap_or(text))
    }

    fn read_quoted(&mut self, quote: u8) -> Option<String> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                0 | b'\n' => return None,
                c if c == quote => break,
                b'\\' => match self.bump() {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'z' => {
                        while self.peek(0).is_ascii_whitespace() {
                            self.bump();
                        }
                    }
                    b'x' => {
                        let hex = [self.bump(), self.bump()];
                        out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                    }
                    d if d.is_ascii_digit() => {
                        let mut n = u32::from(d - b'0');
                        for _ in 0..2 {
                            if self.peek(0).is_ascii_digit() {
                                n = n * 10 + u32::from(self.bump() - b'0');
                            }
                        }
                        out.push(u8::try_from(n).ok()?);
                    }
                    0 => return None,
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    fn next(&mut self) -> Result<Option<(Tok, usize)>, (usize, String)> {
        loop {
            while self.peek(0).is_ascii_whitespace() {
                self.bump();
            }
            if self.peek(0) == b'-' && self.peek(1) == b'-' {
                let line = self.line;
                self.pos += 2;
                if let Some(level) = self.long_bracket() {
                    self.read_long(level)
                        .ok_or((line, "unterminated --[[ comment".to_owned()))?;
                } else {
                    while !matches!(self.peek(0), b'\n' | 0) {
                        self.bump();
                    }
                }
                continue;
            }
            break;
        }
        let line = self.line;
        let c = self.peek(0);
        let tok = match c {
            0 => return Ok(None),
            b'"' | b'\'' => Tok::Str(
                self.read_quoted(c)
                    .ok_or((line, "unterminated string".to_owned()))?,
            ),
            b'[' if self.long_bracket().is_some() => {
                let level = self.long_bracket().unwrap_or(0);
                Tok::Str(
                    self.read_long(level)
                        .ok_or((line, "unterminated [[ string".to_owned()))?,
                )
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' {
                    self.bump();
                }
                Tok::Name(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
            }
            c if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'.' {
                    self.bump();
                }
                let text = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                Tok::Num(text.parse().unwrap_or(f64::NAN))
            }
            b'.' if self.peek(1) == b'.' => {
                self.pos += 2;
                Tok::Sym("..".into())
            }
            _ => {
                self.bump();
                Tok::Sym((c as char).to_string())
            }
        };
        Ok(Some((tok, line)))
    }
}

fn render(tokens: &[(Tok, usize)]) -> String {
    let parts: Vec<String> = tokens
        .iter()
        .map(|(t, _)| match t {
            Tok::Name(n) | Tok::Sym(n) => n.clone(),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Num(n) => n.to_string(),
        })
        .collect();
    parts.join(" ")
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
}

impl Parser {
    fn peek(&self, off: usize) -> Option<&Tok> {
        self.toks.get(self.i + off).map(|(t, _)| t)
    }

    fn line(&self) -> usize {
        self.toks.get(self.i).map_or(0, |(_, l)| *l)
    }

    fn is_sym(&self, off: usize, s: &str) -> bool {
        matches!(self.peek(off), Some(Tok::Sym(x)) if x == s)
    }

    /// A simple value, or `None` (without consuming) when it is an expression.
    fn simple(&mut self) -> Option<Value> {
        let v = match self.peek(0)? {
            Tok::Str(s) => Value::Str(s.clone()),
            Tok::Num(n) => Value::Num(*n),
            Tok::Name(n) if n == "true" => Value::Bool(true),
            Tok::Name(n) if n == "false" => Value::Bool(false),
            Tok::Name(n) if n == "nil" => Value::Nil,
            Tok::Sym(s) if s == "{" => return self.table(),
            _ => return None,
        };
        self.i += 1;
        Some(v)
    }

    fn table(&mut self) -> Option<Value> {
        let start = self.i;
        self.i += 1;
        let mut items = Vec::new();
        loop {
            if self.is_sym(0, "}") {
                self.i += 1;
                return Some(Value::List(items));
            }
            if self.is_sym(0, ",") || self.is_sym(0, ";") {
                self.i += 1;
                continue;
            }
            // `key = value` and `["key"] = value` items.
            if matches!(self.peek(0), Some(Tok::Name(_))) && self.is_sym(1, "=") {
                self.i += 2;
            } else if self.is_sym(0, "[") && self.is_sym(2, "]") && self.is_sym(3, "=") {
                self.i += 4;
            }
            match self.value_or_expression() {
                Some(v) => items.push(v),
                None => {
                    self.i = start;
                    return None;
                }
            }
        }
    }

    /// A value; an expression becomes `Unreadable` with its text.
    fn value_or_expression(&mut self) -> Option<Value> {
        let start = self.i;
        if let Some(v) = self.simple() {
            let continues = matches!(self.peek(0), Some(Tok::Sym(s)) if matches!(s.as_str(), ".." | "(" | "." | "+" | "-" | "*" | "/" | "[" | ":"))
                || matches!(self.peek(0), Some(Tok::Name(n)) if n == "or" || n == "and");
            if !continues {
                return Some(v);
            }
        }
        self.i = start;
        // Consume one expression: to the end of its line, with brackets balanced.
        let line = self.line();
        let mut depth = 0i32;
        while let Some(t) = self.peek(0) {
            if depth == 0 && self.line() != line && self.i > start {
                break;
            }
            if depth == 0 && (self.is_sym(0, ",") || self.is_sym(0, "}")) && self.i > start {
                break;
            }
            match t {
                Tok::Sym(s) if matches!(s.as_str(), "(" | "{" | "[") => depth += 1,
                Tok::Sym(s) if matches!(s.as_str(), ")" | "}" | "]") => depth -= 1,
                _ => {}
            }
            self.i += 1;
            if depth < 0 {
                return None;
            }
        }
        Some(Value::Unreadable(render(&self.toks[start..self.i])))
    }
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
        let mut lexer = Lexer {
            src: text.as_bytes(),
            pos: 0,
            line: 1,
        };
        let mut toks = Vec::new();
        loop {
            match lexer.next() {
                Ok(Some(t)) => toks.push(t),
                Ok(None) => break,
                Err((line, what)) => {
                    return Err(ConfigError::Syntax {
                        path: path.to_owned(),
                        line,
                        what,
                    })
                }
            }
        }
        let mut p = Parser { toks, i: 0 };
        let mut config = Config {
            path: path.to_owned(),
            ..Config::default()
        };
        while let Some(tok) = p.peek(0).cloned() {
            match tok {
                Tok::Name(kw) if (kw == "VirtualHost" || kw == "Component") => {
                    p.i += 1;
                    let paren = p.is_sym(0, "(");
                    if paren {
                        p.i += 1;
                    }
                    let Some(Tok::Str(name)) = p.peek(0).cloned() else {
                        continue;
                    };
                    p.i += 1;
                    if paren && p.is_sym(0, ")") {
                        p.i += 1;
                    }
                    if kw == "Component" && matches!(p.peek(0), Some(Tok::Str(_))) {
                        p.i += 1;
                    }
                    config.sections.push(Section {
                        virtual_host: kw == "VirtualHost",
                        name,
                        options: Vec::new(),
                    });
                }
                Tok::Name(name) if p.is_sym(1, "=") && !p.is_sym(2, "=") => {
                    p.i += 2;
                    let value = p
                        .value_or_expression()
                        .unwrap_or(Value::Unreadable(String::new()));
                    match config.sections.last_mut() {
                        Some(section) => section.options.push((name, value)),
                        None => config.global.push((name, value)),
                    }
                }
                _ => p.i += 1,
            }
        }
        Ok(config)
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

/// An option read as Prosody's `get_option_*` would, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum Read<T> {
    /// Not set (Prosody uses its default).
    Unset,
    /// Set to this.
    Set(T),
    /// Set, but not to something we can read; the text as written.
    Unreadable(String),
}

impl<T> Read<T> {
    /// The value, if set and readable.
    pub fn value(&self) -> Option<&T> {
        match self {
            Read::Set(v) => Some(v),
            _ => None,
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Unreadable(t) => t.clone(),
        other => format!("{other:?}"),
    }
}

/// `get_option_string`: a string or number; the first item of a table.
pub fn as_string(v: Option<&Value>) -> Read<String> {
    match v {
        None | Some(Value::Nil) => Read::Unset,
        Some(Value::Str(s)) => Read::Set(s.clone()),
        Some(Value::Num(n)) => Read::Set(n.to_string()),
        Some(Value::List(items)) => match items.first() {
            Some(first) => as_string(Some(first)),
            None => Read::Unset,
        },
        Some(other) => Read::Unreadable(describe(other)),
    }
}

/// `get_option_array`: a table of strings; a lone string becomes a list of one.
pub fn as_list(v: Option<&Value>) -> Read<Vec<String>> {
    match v {
        None | Some(Value::Nil) => Read::Unset,
        Some(Value::Str(s)) => Read::Set(vec![s.clone()]),
        Some(Value::List(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Str(s) => out.push(s.clone()),
                    other => return Read::Unreadable(describe(other)),
                }
            }
            Read::Set(out)
        }
        Some(other) => Read::Unreadable(describe(other)),
    }
}

/// `get_option_boolean`: booleans, and the strings Prosody accepts for them.
pub fn as_bool(v: Option<&Value>) -> Read<bool> {
    match v {
        None | Some(Value::Nil) => Read::Unset,
        Some(Value::Bool(b)) => Read::Set(*b),
        Some(Value::Str(s)) if matches!(s.as_str(), "true" | "yes" | "on" | "1") => Read::Set(true),
        Some(Value::Str(s)) if matches!(s.as_str(), "false" | "no" | "off" | "0") => {
            Read::Set(false)
        }
        Some(Value::Num(n)) => Read::Set(*n != 0.0),
        Some(other) => Read::Unreadable(describe(other)),
    }
}

/// The token plugin's options on one host.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// The VirtualHost.
    pub host: String,
    /// `app_id`.
    pub app_id: Read<String>,
    /// `app_secret` (only whether it is set matters; its value is never kept).
    pub app_secret_set: bool,
    /// `asap_key_server`.
    pub asap_key_server: Read<String>,
    /// `asap_accepted_issuers`.
    pub accepted_issuers: Read<Vec<String>>,
    /// `asap_accepted_audiences`.
    pub accepted_audiences: Read<Vec<String>>,
    /// `asap_require_room_claim`.
    pub require_room_claim: Read<bool>,
    /// `enable_domain_verification`.
    pub enable_domain_verification: Read<bool>,
    /// `signature_algorithm`.
    pub signature_algorithm: Read<String>,
}

impl TokenOptions {
    /// Reads the options of `host` (or the only token host) from `config`.
    pub fn read(config: &Config, host: Option<&str>) -> Result<TokenOptions, ConfigError> {
        let host = config.token_host(host)?;
        let opt = |name| config.option(&host, name);
        Ok(TokenOptions {
            app_id: as_string(opt("app_id")),
            app_secret_set: !matches!(as_string(opt("app_secret")), Read::Unset),
            asap_key_server: as_string(opt("asap_key_server")),
            accepted_issuers: as_list(opt("asap_accepted_issuers")),
            accepted_audiences: as_list(opt("asap_accepted_audiences")),
            require_room_claim: as_bool(opt("asap_require_room_claim")),
            enable_domain_verification: as_bool(opt("enable_domain_verification")),
            signature_algorithm: as_string(opt("signature_algorithm")),
            host,
        })
    }

    /// Options that are set but could not be read, as `(name, text)`.
    pub fn unreadable(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut add = |name, text: Option<String>| {
            if let Some(t) = text {
                out.push((name, t));
            }
        };
        let s = |r: &Read<String>| {
            if let Read::Unreadable(t) = r {
                Some(t.clone())
            } else {
                None
            }
        };
        let l = |r: &Read<Vec<String>>| {
            if let Read::Unreadable(t) = r {
                Some(t.clone())
            } else {
                None
            }
        };
        let b = |r: &Read<bool>| {
            if let Read::Unreadable(t) = r {
                Some(t.clone())
            } else {
                None
            }
        };
        add("app_id", s(&self.app_id));
        add("asap_key_server", s(&self.asap_key_server));
        add("asap_accepted_issuers", l(&self.accepted_issuers));
        add("asap_accepted_audiences", l(&self.accepted_audiences));
        add("asap_require_room_claim", b(&self.require_room_claim));
        add(
            "enable_domain_verification",
            b(&self.enable_domain_verification),
        );
        add("signature_algorithm", s(&self.signature_algorithm));
        out
    }
}

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
