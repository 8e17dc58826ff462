//! The mint API: `POST /mint` with `Authorization: Bearer <client secret>`
//! and a JSON body → `200 {"token", "kid", "exp"}`.
//!
//! In the order a request is checked: the secret names the client (401
//! when it names none; compared in constant time, as SHA-256 digests so
//! that not even a secret's length shows), its token bucket (429 with
//! `Retry-After`), the body (400 naming what is malformed: over 64 KiB, not
//! JSON, an unknown field), the client's policy (403 naming the rule:
//! issuers, rooms, tenants, moderator, features, max_ttl; see
//! [`super::policy`]), then the claims, built and signed as `mint` does
//! ([`crate::token::claims::TokenSpec`], [`super::Signer`]). No token
//! or secret ever leaves this module except the token in the 200 answer.

use super::config::{ClientPolicy, MintConfig, Rate};
use super::refusal::Refusal;
use super::signer::{SignError, Signer};
use super::{response, Answer, Outcome, Response, MAX_BODY};
use crate::keydir::KeySet;
use crate::token::claims::{TokenSpec, User, DEFAULT_TTL};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use subtle::ConstantTimeEq as _;

/// The outcome labels of `asap_keyserver_mint_requests_total`, per client.
const OUTCOMES: [&str; 6] = [
    "minted",
    "unauthorized",
    "rate_limited",
    "bad_request",
    "forbidden",
    "unavailable",
];

/// The mint API's label of `outcome` (no key, or signing failed: `unavailable`).
pub fn label(outcome: &Outcome) -> &'static str {
    match outcome.label() {
        "no_key" | "sign_failed" => "unavailable",
        other => other,
    }
}

fn index(outcome: &Outcome) -> usize {
    let label = label(outcome);
    OUTCOMES.iter().position(|l| *l == label).unwrap_or(0)
}

/// The body of `POST /mint`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// `room` (default `*`, which the policy must allow as `*`).
    pub room: Option<String>,
    /// `sub`: the tenant (default `*`).
    pub sub: Option<String>,
    /// `context.user`.
    pub user: Option<ApiUser>,
    /// `context.user.moderator`.
    pub moderator: Option<bool>,
    /// `context.features`.
    pub features: Option<BTreeMap<String, bool>>,
    /// Lifetime: seconds, or a duration like `"30m"` (default 1h, or the
    /// client's max_ttl if shorter).
    pub ttl: Option<Ttl>,
    /// The issuer to sign for (default: the client's only issuer).
    pub issuer: Option<String>,
    /// A key to sign with, instead of the issuer's newest.
    pub kid: Option<String>,
}

/// `context.user` as the API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiUser {
    /// Stable user id.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Avatar URL (https or `data:image/`).
    pub avatar: Option<String>,
}

/// A lifetime in a request.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Ttl {
    /// Seconds.
    Secs(u64),
    /// A duration like `"30m"`.
    Text(String),
}

/// A client as the API keeps it: policy, secret digest, bucket, counters.
#[derive(Debug)]
struct Client {
    policy: ClientPolicy,
    digest: [u8; 32],
    bucket: Mutex<Bucket>,
    counts: [AtomicU64; OUTCOMES.len()],
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Option<Instant>,
}

impl Bucket {
    /// Takes one request's token at `now`, or says how long until there is one.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let per_sec = rate.per_second();
        let cap = f64::from(rate.count);
        let elapsed = self
            .at
            .map_or(0.0, |at| now.saturating_duration_since(at).as_secs_f64());
        self.tokens = (self.tokens + elapsed * per_sec).min(cap);
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_sec))
        }
    }
}

/// The mint API of `[mint]`.
#[derive(Debug)]
pub struct MintApi {
    clients: Vec<Client>,
    /// Requests whose secret named no client (all refused: 401).
    unknown: AtomicU64,
}

fn digest(secret: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl MintApi {
    /// The API for `config`'s clients.
    pub fn new(config: MintConfig) -> MintApi {
        let clients = config
            .clients
            .into_iter()
            .map(|policy| Client {
                digest: digest(policy.secret.expose().as_bytes()),
                bucket: Mutex::new(Bucket {
                    tokens: f64::from(policy.rate.count),
                    at: None,
                }),
                counts: std::array::from_fn(|_| AtomicU64::new(0)),
                policy,
            })
            .collect();
        MintApi {
            clients,
            unknown: AtomicU64::new(0),
        }
    }

    /// The client whose secret `authorization` (`Bearer <secret>`) holds:
    /// every client's digest is compared, in constant time.
    fn client(&self, authorization: Option<&[u8]>) -> Result<&Client, &'static str> {
        let value = authorization.ok_or("missing Authorization: Bearer <client secret>")?;
        let secret = value
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case(b"bearer "))
            .map(|_| value[7..].trim_ascii())
            .ok_or("the Authorization header must be Bearer <client secret>")?;
        let presented = digest(secret);
        let mut found = None;
        for c in &self.clients {
            if bool::from(c.digest.ct_eq(&presented)) {
                found = Some(c);
            }
        }
        found.ok_or("this secret belongs to no client of [mint]")
    }

    /// The 401 answer when `authorization` names no client, from the
    /// headers alone: the server asks this before it reads a byte of the
    /// body, so a client without a secret cannot hold a connection by
    /// trickling one. `None`: the secret names a client; go on to
    /// [`MintApi::handle`].
    pub fn refuse_unknown(&self, authorization: Option<&[u8]>) -> Option<Answer> {
        let why = self.client(authorization).err()?;
        self.unknown.fetch_add(1, Ordering::Relaxed);
        Some(unauthorized(why))
    }

    /// Answers one `POST /mint`: `authorization` is the header's value,
    /// `body` the request body (`None`: it was over [`MAX_BODY`]).
    pub fn handle(
        &self,
        authorization: Option<&[u8]>,
        body: Option<&[u8]>,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
        clock: Instant,
    ) -> Answer {
        let client = match self.client(authorization) {
            Ok(c) => c,
            Err(why) => {
                self.unknown.fetch_add(1, Ordering::Relaxed);
                return unauthorized(why);
            }
        };
        let mut answer = match client.answer(body, set, signer, now, clock) {
            Ok((response, kid)) => Answer {
                response,
                outcome: Outcome::Minted,
                kid: Some(kid),
                client: None,
                idp_time: Duration::ZERO,
            },
            Err(refusal) => Answer::refused(refusal.json(), refusal),
        };
        client.counts[index(&answer.outcome)].fetch_add(1, Ordering::Relaxed);
        answer.client = Some(client.policy.name.clone());
        answer
    }

    /// `asap_keyserver_mint_requests_total{client, outcome}` in Prometheus text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str("# HELP asap_keyserver_mint_requests_total Mint API requests, by client (from its secret) and outcome.\n");
        out.push_str("# TYPE asap_keyserver_mint_requests_total counter\n");
        let unknown = self.unknown.load(Ordering::Relaxed);
        if unknown > 0 {
            let _ = writeln!(out, "asap_keyserver_mint_requests_total{{client=\"\",outcome=\"unauthorized\"}} {unknown}");
        }
        for c in &self.clients {
            for (i, label) in OUTCOMES.iter().enumerate() {
                let n = c.counts[i].load(Ordering::Relaxed);
                if n > 0 {
                    let name = &c.policy.name;
                    let _ = writeln!(out, "asap_keyserver_mint_requests_total{{client=\"{name}\",outcome=\"{label}\"}} {n}");
                }
            }
        }
    }
}

/// The 401 answer, saying `why`.
fn unauthorized(why: &str) -> Answer {
    let refusal = Refusal::Unauthorized(why.to_owned());
    Answer::refused(refusal.json(), refusal)
}

fn bad(message: String) -> Refusal {
    Refusal::Malformed(message)
}

impl Client {
    fn forbid(&self, rule: &str, message: String) -> Refusal {
        let message = format!(
            "client \"{}\": {message} (policy: {rule})",
            self.policy.name
        );
        Refusal::Forbidden(message)
    }

    fn answer(
        &self,
        body: Option<&[u8]>,
        set: &KeySet,
        signer: &Signer,
        now: SystemTime,
        clock: Instant,
    ) -> Result<(Response, String), Refusal> {
        let taken = self
            .bucket
            .lock()
            .map_or(Ok(()), |mut b| b.take(self.policy.rate, clock));
        if let Err(wait) = taken {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let message = format!(
                "client \"{}\" is over its rate of {}/{}: retry in {secs} s",
                self.policy.name,
                self.policy.rate.count,
                humantime::format_duration(self.policy.rate.per)
            );
            return Err(Refusal::RateLimited {
                message,
                retry_after: secs,
            });
        }
        let body = body.ok_or_else(|| {
            bad(format!(
                "the body is over {} KiB: send a smaller JSON object",
                MAX_BODY / 1024
            ))
        })?;
        let req: MintRequest = serde_json::from_slice(body).map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() {
                "the body is not JSON"
            } else {
                "the JSON body does not fit"
            };
            bad(format!(
                "{what}: {e}; fields: room, sub, user {{id, name, email, avatar}}, moderator, features, ttl, issuer, kid"
            ))
        })?;
        let (issuer, kid) = self.issuer(&req)?;
        let room = req.room.clone().unwrap_or_else(|| "*".to_owned());
        if room.is_empty() {
            return Err(bad(
                "room is empty: give a room name, or \"*\" for every room".into(),
            ));
        }
        if !self.policy.rooms.iter().any(|r| r.allows(&room)) {
            let rule = format!("rooms = [{}]", list(&self.policy.rooms));
            let what = if room == "*" {
                "every room (\"*\"; no room given)".into()
            } else {
                format!("room \"{room}\"")
            };
            return Err(self.forbid(&rule, format!("may not mint for {what}")));
        }
        let features = req.features.unwrap_or_default();
        self.policy
            .check_claims(req.sub.as_deref(), req.moderator, &features)
            .map_err(|r| self.forbid(&r.rule, r.message))?;
        let ttl = self.ttl(req.ttl.as_ref())?;
        let spec = TokenSpec {
            sub: req.sub,
            room: Some(room),
            ttl: Some(ttl),
            user: req.user.map_or_else(User::default, |u| User {
                id: u.id,
                name: u.name,
                email: u.email,
                avatar: u.avatar,
                ..User::default()
            }),
            moderator: req.moderator,
            features: features.into_iter().collect(),
            // Under the features asked for: a token without context.features
            // allows every feature.
            merge: self
                .policy
                .limits_features()
                .then(|| serde_json::json!({ "context": { "features": {} } })),
            ..TokenSpec::default()
        };
        let signed = match &kid {
            Some(kid) => signer.sign_kid(set, kid, &spec, now),
            None => signer.sign(set, &issuer, &spec, now),
        };
        match signed {
            Ok(s) => {
                let builder = http::Response::builder()
                    .status(200)
                    .header(http::header::CACHE_CONTROL, "no-store");
                let value = serde_json::json!({ "token": s.token, "kid": s.kid, "exp": s.exp });
                Ok((response::json(builder, &value), s.kid))
            }
            Err(e) => Err(sign_refusal(&e)),
        }
    }

    /// The issuer to sign for, and the kid asked for: within `issuers`.
    fn issuer(&self, req: &MintRequest) -> Result<(String, Option<String>), Refusal> {
        let issuers = &self.policy.issuers;
        let from_kid = req.kid.as_deref().map(crate::kid::issuer);
        let issuer = match (req.issuer.as_deref(), from_kid) {
            (Some(i), Some(k)) if i != k => {
                return Err(bad(format!(
                    "kid {:?} is not a key of issuer \"{i}\"",
                    req.kid.as_deref().unwrap_or("")
                )));
            }
            (Some(i), _) | (None, Some(i)) => i.to_owned(),
            (None, None) => match issuers.as_slice() {
                [only] => only.clone(),
                _ => {
                    return Err(bad(format!(
                        "say which issuer to sign for: this client may use {}",
                        list(issuers)
                    )))
                }
            },
        };
        if !issuers.contains(&issuer) {
            let rule = format!("issuers = [{}]", list(issuers));
            return Err(self.forbid(&rule, format!("may not sign for issuer \"{issuer}\"")));
        }
        Ok((issuer, req.kid.clone()))
    }

    /// The lifetime asked for, at most `max_ttl` (default 1h or `max_ttl`).
    fn ttl(&self, ttl: Option<&Ttl>) -> Result<Duration, Refusal> {
        let max = self.policy.max_ttl;
        let ttl = match ttl {
            None => return Ok(DEFAULT_TTL.min(max)),
            Some(Ttl::Secs(s)) => Duration::from_secs(*s),
            Some(Ttl::Text(t)) => humantime::parse_duration(t.trim()).map_err(|e| {
                bad(format!(
                    "ttl {t:?} is not a duration ({e}): give seconds or a duration like \"30m\""
                ))
            })?,
        };
        if ttl.is_zero() {
            return Err(bad("ttl must be more than 0s".into()));
        }
        if ttl > max {
            let rule = format!("max_ttl = \"{}\"", humantime::format_duration(max));
            return Err(self.forbid(
                &rule,
                format!(
                    "ttl {} is over its max_ttl",
                    humantime::format_duration(ttl)
                ),
            ));
        }
        Ok(ttl)
    }
}

/// A signing failure as an answer: the caller's mistake (400), no key
/// ready yet (503, with `Retry-After` when known), or ours (500).
fn sign_refusal(e: &SignError) -> Refusal {
    match e {
        SignError::Claims(c) => bad(c.to_string()),
        SignError::UnknownKid(_) | SignError::PublicOnly(_) => bad(e.to_string()),
        SignError::Choice(_) | SignError::TooYoung { .. } | SignError::Mismatch { .. } => {
            tracing::warn!(error = %e, "mint API: no key can sign");
            Refusal::NoKey {
                message: format!("no key can sign now: {e}"),
                retry_after: e.retry_after().map(|wait| wait.as_secs().max(1)),
            }
        }
        SignError::Unreadable { .. } | SignError::Sign(_) => {
            tracing::error!(error = %e, "mint API: signing failed");
            Refusal::SignFailed(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate() {
        let rate = Rate::parse("2/s").unwrap();
        let mut b = Bucket {
            tokens: 2.0,
            at: None,
        };
        let t0 = Instant::now();
        assert!(b.take(rate, t0).is_ok() && b.take(rate, t0).is_ok());
        let wait = b.take(rate, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.take(rate, t0 + Duration::from_millis(500)).is_ok());
    }
}
