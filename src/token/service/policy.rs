//! Who may mint what: a mint API client's policy (`[[mint.clients]]`):
//! its secret, the issuers, rooms and tenants it may mint for, whether it
//! may make moderators, the features it may turn on, the longest lifetime,
//! and its rate.
//!
//! `tenants`, `moderator` and `features` were added after the first
//! release: absent, each allows what every client could do before (any
//! `sub`, moderators, any feature), so that an old config keeps working.

use std::collections::BTreeMap;
use std::time::Duration;

/// A secret read from a file: compared, used, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret as read from its file.
    pub(crate) fn new(secret: String) -> Secret {
        Secret(secret)
    }

    /// The secret itself (to send or compare; never to log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One `[[mint.clients]]`: who may mint what.
#[derive(Debug, Clone)]
pub struct ClientPolicy {
    /// The client's name (logs, metrics, error messages).
    pub name: String,
    /// The bearer secret (from `secret_file`).
    pub secret: Secret,
    /// The issuers (key folders) it may sign with.
    pub issuers: Vec<String>,
    /// The rooms it may mint for.
    pub rooms: Vec<NameRule>,
    /// The tenants (`sub` values) it may mint for (default `*`: any).
    pub tenants: Vec<NameRule>,
    /// Whether it may mint moderator tokens (default: it may).
    pub moderator: bool,
    /// The features it may turn on (default `*`: any).
    pub features: Vec<NameRule>,
    /// The longest lifetime it may ask for.
    pub max_ttl: Duration,
    /// Its rate limit.
    pub rate: Rate,
}

/// One entry of a client's `rooms`, `tenants` or `features`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameRule {
    /// `*`: any name, and `*` itself (a token for every room or tenant).
    Any,
    /// `team-*`: names starting with this (never `*` itself).
    Prefix(String),
    /// A name.
    Name(String),
}

impl NameRule {
    /// `*`, `prefix*` or a name.
    pub fn parse(s: &str) -> NameRule {
        match s.strip_suffix('*') {
            Some("") => NameRule::Any,
            Some(prefix) => NameRule::Prefix(prefix.to_owned()),
            None => NameRule::Name(s.to_owned()),
        }
    }

    /// Whether `name` (a token's `room` or `sub`, a feature) is allowed by this rule.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            NameRule::Any => true,
            NameRule::Prefix(p) => name != "*" && name.starts_with(p.as_str()),
            NameRule::Name(n) => name == n,
        }
    }
}

impl std::fmt::Display for NameRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameRule::Any => f.write_str("*"),
            NameRule::Prefix(p) => write!(f, "{p}*"),
            NameRule::Name(n) => f.write_str(n),
        }
    }
}

/// A request outside a client's policy, for a 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The rule that refused it, as the config writes it
    /// (`tenants = ["acme"]`): what would be allowed.
    pub rule: String,
    /// What was asked for that the rule does not allow.
    pub message: String,
}

/// `key = ["a", "b*"]`, as in the config file.
fn rule(key: &str, rules: &[NameRule]) -> String {
    let quoted: Vec<String> = rules.iter().map(|r| format!("\"{r}\"")).collect();
    format!("{key} = [{}]", quoted.join(", "))
}

impl ClientPolicy {
    /// Checks a request's `sub` (`None`: the default `*`), `moderator` and
    /// `features` against `tenants`, `moderator` and `features`.
    pub fn check_claims(
        &self,
        sub: Option<&str>,
        moderator: Option<bool>,
        features: &BTreeMap<String, bool>,
    ) -> Result<(), Refused> {
        let tenant = sub.unwrap_or("*");
        if !self.tenants.iter().any(|t| t.allows(tenant)) {
            let what = match sub {
                None => "every tenant (sub \"*\", the default: give a sub)".to_owned(),
                Some("*") => "every tenant (sub \"*\")".to_owned(),
                Some(s) => format!("tenant (sub) \"{s}\""),
            };
            return Err(Refused {
                rule: rule("tenants", &self.tenants),
                message: format!("may not mint for {what}"),
            });
        }
        if moderator == Some(true) && !self.moderator {
            return Err(Refused {
                rule: "moderator = false".into(),
                message: "may not mint moderator tokens: ask without \"moderator\" or with false"
                    .into(),
            });
        }
        // Turning a feature off never grants anything: only `true` is checked.
        let refused: Vec<String> = features
            .iter()
            .filter(|(name, on)| **on && !self.features.iter().any(|f| f.allows(name)))
            .map(|(name, _)| format!("\"{name}\""))
            .collect();
        if !refused.is_empty() {
            let s = if refused.len() == 1 { "" } else { "s" };
            return Err(Refused {
                rule: rule("features", &self.features),
                message: format!("may not turn on feature{s} {}", refused.join(", ")),
            });
        }
        Ok(())
    }

    /// Whether `features` limits this client: then its tokens always carry
    /// `context.features` (`{}` when none is asked for), since Jitsi reads
    /// a token without it as "every feature allowed".
    pub fn limits_features(&self) -> bool {
        !self.features.contains(&NameRule::Any)
    }
}

/// A token bucket's settings: `count` requests per `per`, in bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per `per`, and the burst.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// Parses `50/s`, `600/min`, `1000/h`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let (n, unit) = s.split_once('/').ok_or("expected COUNT/UNIT")?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a whole number"))?;
        if count == 0 {
            return Err("a rate of 0 refuses every request".into());
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("unknown unit {other:?}")),
        };
        Ok(Rate { count, per })
    }

    /// Tokens added to the bucket per second.
    pub fn per_second(&self) -> f64 {
        f64::from(self.count) / self.per.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_and_rates_parse() {
        assert!(NameRule::parse("*").allows("*"));
        assert!(NameRule::parse("team-*").allows("team-a"));
        assert!(!NameRule::parse("team-*").allows("*"));
        assert!(!NameRule::parse("standup").allows("standups"));
        assert_eq!(Rate::parse("600/min").unwrap().per_second(), 10.0);
        assert!(Rate::parse("0/s").is_err() && Rate::parse("5/day").is_err());
    }

    fn policy(tenants: &[&str], moderator: bool, features: &[&str]) -> ClientPolicy {
        let rules = |l: &[&str]| l.iter().map(|s| NameRule::parse(s)).collect();
        ClientPolicy {
            name: "b".into(),
            secret: Secret::new("0123456789abcdef".into()),
            issuers: vec!["jitsi".into()],
            rooms: rules(&["*"]),
            tenants: rules(tenants),
            moderator,
            features: rules(features),
            max_ttl: Duration::from_secs(3600),
            rate: Rate::parse("1/s").unwrap(),
        }
    }

    fn on(names: &[(&str, bool)]) -> BTreeMap<String, bool> {
        names.iter().map(|(n, b)| ((*n).to_owned(), *b)).collect()
    }

    #[test]
    fn tenants_limit_sub_and_the_default_sub_is_every_tenant() {
        let any = policy(&["*"], true, &["*"]);
        for sub in [None, Some("*"), Some("acme"), Some("")] {
            assert_eq!(any.check_claims(sub, None, &on(&[])), Ok(()), "{sub:?}");
        }
        let p = policy(&["acme", "team-*"], true, &["*"]);
        assert_eq!(p.check_claims(Some("acme"), None, &on(&[])), Ok(()));
        assert_eq!(p.check_claims(Some("team-a"), None, &on(&[])), Ok(()));
        let refused = p
            .check_claims(Some("othertenant"), None, &on(&[]))
            .unwrap_err();
        assert_eq!(refused.rule, "tenants = [\"acme\", \"team-*\"]");
        assert_eq!(
            refused.message,
            "may not mint for tenant (sub) \"othertenant\""
        );
        for (sub, says) in [
            (None, "the default: give a sub"),
            (Some("*"), "every tenant"),
        ] {
            let refused = p.check_claims(sub, None, &on(&[])).unwrap_err();
            assert!(refused.message.contains(says), "{refused:?}");
        }
        // A prefix never stands for every tenant, nor a name for a longer one.
        assert!(p.check_claims(Some("acme2"), None, &on(&[])).is_err());
        assert!(p.check_claims(Some("ACME"), None, &on(&[])).is_err());
    }

    #[test]
    fn moderator_false_refuses_only_moderator_tokens() {
        let p = policy(&["*"], false, &["*"]);
        assert_eq!(p.check_claims(None, None, &on(&[])), Ok(()));
        assert_eq!(p.check_claims(None, Some(false), &on(&[])), Ok(()));
        let refused = p.check_claims(None, Some(true), &on(&[])).unwrap_err();
        assert_eq!(refused.rule, "moderator = false");
        let allowed = policy(&["*"], true, &["*"]);
        assert_eq!(allowed.check_claims(None, Some(true), &on(&[])), Ok(()));
    }

    #[test]
    fn features_limit_what_is_turned_on_never_what_is_turned_off() {
        let any = policy(&["*"], true, &["*"]);
        assert!(!any.limits_features());
        assert_eq!(
            any.check_claims(None, None, &on(&[("livestreaming", true)])),
            Ok(())
        );
        let p = policy(&["*"], true, &["recording", "sip-*"]);
        assert!(p.limits_features());
        let asked = on(&[
            ("recording", true),
            ("sip-outbound-call", true),
            ("livestreaming", false),
        ]);
        assert_eq!(p.check_claims(None, None, &asked), Ok(()));
        let asked = on(&[
            ("recording", true),
            ("livestreaming", true),
            ("transcription", true),
        ]);
        let refused = p.check_claims(None, None, &asked).unwrap_err();
        assert_eq!(refused.rule, "features = [\"recording\", \"sip-*\"]");
        assert_eq!(
            refused.message,
            "may not turn on features \"livestreaming\", \"transcription\""
        );
        let none = policy(&["*"], true, &[]);
        assert!(none.limits_features());
        assert_eq!(
            none.check_claims(None, None, &on(&[("recording", false)])),
            Ok(())
        );
        let refused = none
            .check_claims(None, None, &on(&[("recording", true)]))
            .unwrap_err();
        assert_eq!(refused.rule, "features = []");
    }
}
