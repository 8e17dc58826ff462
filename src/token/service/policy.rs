//! Who may mint what: a mint API client's policy (`[[mint.clients]]`):
//! its secret, the issuers and rooms it may mint for, the longest lifetime,
//! and its rate.

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
    pub rooms: Vec<RoomRule>,
    /// The longest lifetime it may ask for.
    pub max_ttl: Duration,
    /// Its rate limit.
    pub rate: Rate,
}

/// One entry of a client's `rooms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRule {
    /// `*`: any room, and tokens for every room (`room: "*"`).
    Any,
    /// `team-*`: rooms starting with this.
    Prefix(String),
    /// A room name.
    Name(String),
}

impl RoomRule {
    /// `*`, `prefix*` or a name.
    pub fn parse(s: &str) -> RoomRule {
        match s.strip_suffix('*') {
            Some("") => RoomRule::Any,
            Some(prefix) => RoomRule::Prefix(prefix.to_owned()),
            None => RoomRule::Name(s.to_owned()),
        }
    }

    /// Whether `room` (a token's `room` claim) is allowed by this rule.
    pub fn allows(&self, room: &str) -> bool {
        match self {
            RoomRule::Any => true,
            RoomRule::Prefix(p) => room != "*" && room.starts_with(p.as_str()),
            RoomRule::Name(n) => room == n,
        }
    }
}

impl std::fmt::Display for RoomRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomRule::Any => f.write_str("*"),
            RoomRule::Prefix(p) => write!(f, "{p}*"),
            RoomRule::Name(n) => f.write_str(n),
        }
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
        assert!(RoomRule::parse("*").allows("*"));
        assert!(RoomRule::parse("team-*").allows("team-a"));
        assert!(!RoomRule::parse("team-*").allows("*"));
        assert!(!RoomRule::parse("standup").allows("standups"));
        assert_eq!(Rate::parse("600/min").unwrap().per_second(), 10.0);
        assert!(Rate::parse("0/s").is_err() && Rate::parse("5/day").is_err());
    }
}
