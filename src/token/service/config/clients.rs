//! `[mint]`: each `[[mint.clients]]` checked into a [`ClientPolicy`], every
//! error naming its key (`mint.clients[0].tenants`).

use super::{ConfigError, MintConfig, Reader, DEFAULT_MAX_TTL, DEFAULT_RATE};
use crate::token::service::policy::{ClientPolicy, NameRule, Rate};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMint {
    #[serde(default)]
    clients: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    secret_file: PathBuf,
    issuers: Vec<String>,
    rooms: Vec<String>,
    /// Absent: any `sub`, as before the key existed.
    tenants: Option<Vec<String>>,
    /// Absent: moderator tokens allowed, as before the key existed.
    moderator: Option<bool>,
    /// Absent: any feature, as before the key existed.
    features: Option<Vec<String>>,
    max_ttl: Option<String>,
    rate: Option<String>,
}

/// `tenants` or `features`: `*`, names and `prefix*`, each of which can
/// match something (a `*` elsewhere than at the end never matches a real
/// tenant or feature, only itself).
fn rules(
    r: &Reader<'_>,
    key: &str,
    list: &[String],
    what: &str,
) -> Result<Vec<NameRule>, ConfigError> {
    for name in list {
        r.name(key, name, what)?;
        if name.trim_end_matches('*').contains('*') || name.ends_with("**") {
            return Err(r.err(
                key,
                format!("{name:?} has a '*' that is not its last character, and would match no {what}"),
                format!("give a {what}, a prefix ending in one '*' like \"team-*\", or \"*\" alone for any"),
            ));
        }
    }
    Ok(list.iter().map(|s| NameRule::parse(s)).collect())
}

pub(super) fn mint(r: &Reader<'_>, m: RawMint) -> Result<MintConfig, ConfigError> {
    if m.clients.is_empty() {
        return Err(r.err(
            "mint.clients",
            "no client",
            "add a [[mint.clients]] table with name, secret_file, issuers and rooms",
        ));
    }
    let mut clients: Vec<ClientPolicy> = Vec::with_capacity(m.clients.len());
    for (i, c) in m.clients.into_iter().enumerate() {
        let key = |k: &str| format!("mint.clients[{i}].{k}");
        if c.name.is_empty()
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            return Err(r.err(
                &key("name"),
                format!("{:?} is not a usable client name", c.name),
                "use letters, digits, '-', '_' and '.' (it appears in logs and metric labels)",
            ));
        }
        if clients.iter().any(|o| o.name == c.name) {
            return Err(r.err(
                &key("name"),
                format!("{:?} is used twice", c.name),
                "give every client its own name",
            ));
        }
        let secret = r.secret(&key("secret_file"), &c.secret_file)?;
        if let Some(other) = clients.iter().find(|o| o.secret == secret) {
            return Err(r.err(
                &key("secret_file"),
                format!("holds the same secret as client {:?}", other.name),
                "give every client its own secret: the secret says which client is asking",
            ));
        }
        if c.issuers.is_empty() {
            return Err(r.err(
                &key("issuers"),
                "is empty",
                "list the key folders this client may sign with, e.g. [\"jitsi\"]",
            ));
        }
        for issuer in &c.issuers {
            r.name(&key("issuers"), issuer, "issuer")?;
        }
        if c.rooms.is_empty() {
            return Err(r.err(
                &key("rooms"),
                "is empty",
                "list room names, prefixes like \"team-*\", or \"*\" for any room",
            ));
        }
        for room in &c.rooms {
            r.name(&key("rooms"), room, "room, prefix or \"*\"")?;
        }
        let tenants = match &c.tenants {
            None => vec![NameRule::Any],
            Some(t) if t.is_empty() => {
                return Err(r.err(
                    &key("tenants"),
                    "is empty, and would refuse every request",
                    "list the tenants (sub values) this client may mint for, prefixes like \"team-*\", or \"*\" for any; \
                     or leave the key out (any)",
                ))
            }
            Some(t) => rules(r, &key("tenants"), t, "tenant")?,
        };
        let features = match &c.features {
            None => vec![NameRule::Any],
            Some(f) => rules(r, &key("features"), f, "feature")?,
        };
        let max_ttl = r.duration(&key("max_ttl"), c.max_ttl.as_deref(), DEFAULT_MAX_TTL)?;
        if max_ttl.is_zero() || max_ttl > crate::token::claims::MAX_TTL {
            return Err(r.err(
                &key("max_ttl"),
                "must be more than 0s and at most 366 days",
                "write it like \"1h\"",
            ));
        }
        let rate_text = c.rate.as_deref().unwrap_or(DEFAULT_RATE);
        let rate = Rate::parse(rate_text).map_err(|e| {
            r.err(
                &key("rate"),
                format!("{rate_text:?}: {e}"),
                "write it like \"50/s\", \"600/min\" or \"1000/h\"",
            )
        })?;
        clients.push(ClientPolicy {
            name: c.name,
            secret,
            issuers: c.issuers,
            rooms: c.rooms.iter().map(|s| NameRule::parse(s)).collect(),
            tenants,
            moderator: c.moderator.unwrap_or(true),
            features,
            max_ttl,
            rate,
        });
    }
    Ok(MintConfig { clients })
}

#[cfg(test)]
mod tests {
    use super::super::ServiceConfig;
    use super::*;

    const CLIENT: &str = "[mint]\n[[mint.clients]]\nname = \"b\"\nsecret_file = \"b.secret\"\nissuers = [\"jitsi\"]\nrooms = [\"*\"]\n";

    fn parsed(extra: &str) -> Result<ClientPolicy, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.secret"), "0123456789abcdef0123\n").unwrap();
        let config = ServiceConfig::parse(&dir.path().join("c.toml"), &format!("{CLIENT}{extra}"));
        config
            .map(|c| c.mint.unwrap().clients.remove(0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tenants_moderator_and_features_default_to_what_every_client_could_do_before() {
        let p = parsed("").unwrap();
        assert_eq!(p.tenants, [NameRule::Any]);
        assert!(p.moderator);
        assert_eq!(p.features, [NameRule::Any]);
        assert!(!p.limits_features());
        let p =
            parsed("tenants = [\"acme\", \"team-*\"]\nmoderator = false\nfeatures = []\n").unwrap();
        assert_eq!(
            p.tenants,
            [
                NameRule::Name("acme".into()),
                NameRule::Prefix("team-".into())
            ]
        );
        assert!(!p.moderator && p.features.is_empty() && p.limits_features());
    }

    #[test]
    fn a_tenant_or_feature_that_can_never_match_is_an_error_naming_the_key() {
        for (extra, says) in [
            (
                "tenants = []",
                "mint.clients[0].tenants: is empty, and would refuse every request",
            ),
            (
                "tenants = [\"\"]",
                "mint.clients[0].tenants: \"\" is not a usable tenant",
            ),
            (
                "tenants = [\"a b\"]",
                "mint.clients[0].tenants: \"a b\" is not a usable tenant",
            ),
            (
                "tenants = [\"te*m\"]",
                "mint.clients[0].tenants: \"te*m\" has a '*' that is not its last",
            ),
            (
                "tenants = [\"**\"]",
                "mint.clients[0].tenants: \"**\" has a '*'",
            ),
            (
                "features = [\"\"]",
                "mint.clients[0].features: \"\" is not a usable feature",
            ),
            (
                "features = [\"*rec\"]",
                "mint.clients[0].features: \"*rec\" has a '*'",
            ),
            ("moderator = \"no\"", "invalid type"),
            ("tenant = [\"a\"]", "unknown field `tenant`"),
        ] {
            let err = parsed(&format!("{extra}\n")).unwrap_err();
            assert!(err.contains(says), "{extra}: {err}");
        }
    }
}
