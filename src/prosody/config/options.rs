//! Options read as Prosody's `module:get_option_*` read them, and the token
//! plugin's options of one VirtualHost.

use super::{Config, ConfigError, Value};

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

/// A MUC component of the token VirtualHost, as the token plugin's room
/// checks (`token_verification`) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MucComponent {
    /// Its host, e.g. `conference.meet.example.com`.
    pub name: String,
    /// Whether its `modules_enabled` loads `token_verification`.
    pub token_verification: bool,
    /// Token options set in the Component block itself, which the plugin
    /// never reads there (it reads the VirtualHost's, or the global ones).
    pub ignored_options: Vec<String>,
}

/// Options the token plugin reads from the VirtualHost (or global section).
const VHOST_OPTIONS: [&str; 9] = [
    "app_id",
    "asap_key_server",
    "asap_accepted_issuers",
    "asap_accepted_audiences",
    "asap_require_room_claim",
    "enable_domain_verification",
    "muc_mapper_domain_base",
    "muc_mapper_domain_prefix",
    "cache_keys_url",
];

/// The MUC components whose parent host is `host`: the token plugin finds
/// a component's VirtualHost by dropping the first label of its name.
fn muc_components(config: &Config, host: &str) -> Vec<MucComponent> {
    let mut out: Vec<MucComponent> = Vec::new();
    for section in config.sections.iter().filter(|s| !s.virtual_host) {
        let is_muc = section
            .options
            .iter()
            .any(|(k, v)| k == "component_module" && *v == Value::Str("muc".into()));
        if !is_muc || section.name.split_once('.').map(|(_, parent)| parent) != Some(host) {
            continue;
        }
        let modules = match section
            .options
            .iter()
            .rev()
            .find(|(k, _)| k == "modules_enabled")
        {
            Some((_, v)) => as_list(Some(v)).value().cloned().unwrap_or_default(),
            None => Vec::new(),
        };
        let ignored: Vec<String> = section
            .options
            .iter()
            .map(|(k, _)| k)
            .filter(|k| VHOST_OPTIONS.contains(&k.as_str()))
            .cloned()
            .collect();
        let token_verification = modules.iter().any(|m| m == "token_verification");
        match out.iter_mut().find(|c| c.name == section.name) {
            // A Component block reopened in another file adds to it.
            Some(c) => {
                c.token_verification |= token_verification;
                c.ignored_options.extend(ignored);
            }
            None => out.push(MucComponent {
                name: section.name.clone(),
                token_verification,
                ignored_options: ignored,
            }),
        }
    }
    out
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
    /// `cache_keys_url`: a JWKS (plugin 2025-11 and later) looked up before `asap_key_server`.
    pub cache_keys_url: Read<String>,
    /// `plugin_paths` (global): where Prosody finds the token plugin.
    pub plugin_paths: Read<Vec<String>>,
    /// `muc_mapper_domain_base`: the token plugin's room checks (on the MUC
    /// component) read it from this VirtualHost or the global section.
    pub muc_mapper_domain_base: Read<String>,
    /// `muc_mapper_domain_prefix` (default `conference`).
    pub muc_mapper_domain_prefix: Read<String>,
    /// `muc_mapper_domain` (default `<prefix>.<base>`).
    pub muc_mapper_domain: Read<String>,
    /// The MUC components of this VirtualHost.
    pub muc_components: Vec<MucComponent>,
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
            cache_keys_url: as_string(opt("cache_keys_url")),
            plugin_paths: as_list(opt("plugin_paths")),
            muc_mapper_domain_base: as_string(opt("muc_mapper_domain_base")),
            muc_mapper_domain_prefix: as_string(opt("muc_mapper_domain_prefix")),
            muc_mapper_domain: as_string(opt("muc_mapper_domain")),
            muc_components: muc_components(config, &host),
            host,
        })
    }

    /// The MUC domain the token plugin matches rooms under:
    /// `muc_mapper_domain`, else `<muc_mapper_domain_prefix>.<muc_mapper_domain_base>`;
    /// `None` without a base (then it has none).
    pub fn muc_domain(&self) -> Option<String> {
        let base = self.muc_mapper_domain_base.value()?;
        Some(match self.muc_mapper_domain.value() {
            Some(d) => d.clone(),
            None => format!(
                "{}.{base}",
                self.muc_mapper_domain_prefix
                    .value()
                    .map_or("conference", String::as_str)
            ),
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
        add("cache_keys_url", s(&self.cache_keys_url));
        add("plugin_paths", l(&self.plugin_paths));
        out
    }
}
