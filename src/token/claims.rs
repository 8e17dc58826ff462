//! The claims of a Jitsi token, typed, and a builder with the defaults that
//! Prosody's token plugin accepts the first time.
//!
//! Why each default: Prosody compares `iss` and `aud` as strings (an array
//! never matches), requires `room` unless told otherwise, checks `exp` and
//! `nbf` with zero leeway (so `nbf` is set a little in the past), and stores
//! `context.user` as given, where Jitsi's plugins compare `moderator` with
//! `"true"`: the string form works with every version.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A boolean claim that some consumers want as a string (`"true"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    /// JSON `true` / `false`.
    Bool(bool),
    /// JSON `"true"` / `"false"` (what JaaS and older Jitsi code compare with).
    Text(String),
}

impl Flag {
    /// The flag as a string, `"true"` or `"false"`.
    pub fn text(on: bool) -> Flag {
        Flag::Text(on.to_string())
    }
}

/// `context.user`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Stable user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Avatar URL (a `data:` URL works too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
    /// Moderator rights, read by Jitsi at `context.user.moderator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator: Option<Flag>,
    /// MUC affiliation (`owner`, `member`, ...), read by token_affiliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    /// Any other user fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl User {
    fn is_empty(&self) -> bool {
        *self == User::default()
    }
}

/// `context.features`: feature name -> allowed.
pub type Features = BTreeMap<String, Flag>;

/// `context`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// Feature switches (missing = everything allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Features>,
    /// Group (multi-tenant setups only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Any other context fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The payload of a Jitsi / ASAP token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: must be in Prosody's `asap_accepted_issuers` (default `app_id`).
    pub iss: String,
    /// Audience, a string: must be in `asap_accepted_audiences`.
    pub aud: String,
    /// Tenant or domain, or `*` (absent only with `--allow-missing-claims`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Room name, or `*` for any room (absent only with `--allow-missing-claims`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Issued at (seconds).
    pub iat: u64,
    /// Not before (seconds).
    pub nbf: u64,
    /// Expires (seconds).
    pub exp: u64,
    /// Unique token id.
    pub jti: String,
    /// User, features, group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
    /// Claims from `--claims` that have no typed field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which consumer's shape to mint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Self-hosted Jitsi (Prosody asap_key_server): iss = the kid's issuer.
    #[default]
    Jitsi,
    /// 8x8 JaaS: iss "chat", sub = the AppID from a `vpaas-magic-cookie-…/keyid` kid, string flags.
    Jaas,
    /// Atlassian ASAP: sub = iss, lifetime at most 1 h.
    Asap,
}

/// Why claims could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// A claim of the wrong JSON type (e.g. from `--claims`).
    #[error("{0}")]
    Shape(String),
    /// `--profile jaas` with a kid that is not a JaaS key id.
    #[error("--profile jaas needs a JaaS kid like vpaas-magic-cookie-<hex>/<keyid>, not {0:?}")]
    NotJaasKid(String),
    /// `--profile asap` with a lifetime over an hour.
    #[error(
        "--profile asap allows a lifetime of at most 1h (ASAP verifiers reject longer), not {0}"
    )]
    AsapTtl(String),
    /// `--claims` is not a JSON object.
    #[error("--claims must hold a JSON object, e.g. {{\"room\": \"standup\"}}")]
    NotObject,
    /// A zero lifetime.
    #[error("--ttl must be more than 0s")]
    ZeroTtl,
    /// A lifetime past [`MAX_TTL`].
    #[error("--ttl {0} is longer than the 366-day maximum: a token cannot be revoked, so keep it short (1h by default)")]
    TtlTooLong(String),
    /// An avatar that is not an https or `data:image/` URL.
    #[error("avatar {0:?} is not an https:// or data:image/ URL: Jitsi shows it to everyone in the meeting; give the picture's https address")]
    Avatar(String),
    /// `--claims` drops `sub` or `room`.
    #[error("--claims sets {0} to null: {why}; keep it, or pass --allow-missing-claims to mint such a token anyway", why = missing_why(.0))]
    Missing(&'static str),
}

/// What to mint: every field optional, defaults filled in by [`TokenSpec::build`].
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    /// Consumer shape.
    pub profile: Profile,
    /// `iss` (default: the kid's first segment; `chat` for JaaS).
    pub iss: Option<String>,
    /// `aud` (default `jitsi`).
    pub aud: Option<String>,
    /// `sub` (default `*`; the AppID for JaaS; `iss` for ASAP).
    pub sub: Option<String>,
    /// `room` (default `*`).
    pub room: Option<String>,
    /// Lifetime (default 1 h).
    pub ttl: Option<Duration>,
    /// How far `nbf` lies before now (default 30 s).
    pub nbf_skew: Option<Duration>,
    /// `context.user`.
    pub user: User,
    /// Moderator flag given on its own (stored at `context.user.moderator`).
    pub moderator: Option<bool>,
    /// `context.features`.
    pub features: Vec<(String, bool)>,
    /// `context.group`.
    pub group: Option<String>,
    /// A JSON object merged under the explicit fields (over the defaults).
    pub merge: Option<Value>,
    /// Let `merge` drop `sub` or `room` (by setting them to null).
    pub allow_missing: bool,
}

/// Default lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The longest lifetime minted (and the most `nbf` may lie in the past).
pub const MAX_TTL: Duration = Duration::from_secs(366 * 86_400);
/// Default `nbf` offset into the past.
pub const DEFAULT_NBF_SKEW: Duration = Duration::from_secs(30);

/// Built claims and the warnings a person should read before using them.
#[derive(Debug, Clone)]
pub struct Built {
    /// The claims.
    pub claims: Claims,
    /// Things that will probably not do what was meant.
    pub warnings: Vec<String>,
}

fn missing_why(claim: &str) -> &'static str {
    match claim {
        "sub" => "the Jitsi token plugin of 2026-05 and later rejects a token without sub (\"sub claim is missing\")",
        _ => "Prosody rejects a token without room unless asap_require_room_claim = false (before 2026-05 its reply even crashes)",
    }
}

/// Recursively overlays `top` onto `base` (objects merge, anything else replaces).
pub fn merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Whether `avatar` may go in a token: Jitsi shows it to everyone in the
/// meeting, so only an https URL with a host (parsed, not just its prefix:
/// `https://` alone is no picture) or a `data:image/` URL.
pub fn avatar_allowed(avatar: &str) -> bool {
    let avatar = avatar.trim();
    if avatar
        .get(..11)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:image/"))
    {
        return true;
    }
    url::Url::parse(avatar)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty()))
}

fn jaas_app_id(kid: &str) -> Option<&str> {
    let (app, key) = kid.split_once('/')?;
    (app.starts_with("vpaas-magic-cookie-") && !key.is_empty() && !key.contains('/')).then_some(app)
}

fn shape_error(e: serde_json::Error) -> ClaimsError {
    let msg = e.to_string();
    let hint = if msg.contains("aud") || msg.contains("sequence") {
        " (Prosody compares aud as a string: an array never matches)"
    } else {
        ""
    };
    ClaimsError::Shape(format!("claims: {msg}{hint}"))
}

impl TokenSpec {
    /// Builds the claims for a token signed with `kid`, issued at `now` (seconds).
    pub fn build(&self, kid: &str, now: u64, jti: String) -> Result<Built, ClaimsError> {
        let ttl = self.ttl.unwrap_or(DEFAULT_TTL);
        if ttl.is_zero() {
            return Err(ClaimsError::ZeroTtl);
        }
        if ttl > MAX_TTL {
            return Err(ClaimsError::TtlTooLong(
                humantime::format_duration(ttl).to_string(),
            ));
        }
        let skew = self.nbf_skew.unwrap_or(DEFAULT_NBF_SKEW).min(MAX_TTL);
        let issuer = crate::kid::issuer(kid).to_owned();
        let (default_iss, default_sub) = match self.profile {
            Profile::Jitsi => (issuer.clone(), "*".to_owned()),
            Profile::Jaas => {
                let app =
                    jaas_app_id(kid).ok_or_else(|| ClaimsError::NotJaasKid(kid.to_owned()))?;
                ("chat".to_owned(), app.to_owned())
            }
            Profile::Asap => {
                if ttl > Duration::from_secs(3600) {
                    return Err(ClaimsError::AsapTtl(
                        humantime::format_duration(ttl).to_string(),
                    ));
                }
                let iss = self.iss.clone().unwrap_or(issuer.clone());
                (iss.clone(), iss)
            }
        };
        let mut doc = serde_json::json!({
            "iss": default_iss,
            "aud": "jitsi",
            "sub": default_sub,
            "room": "*",
            "iat": now,
            "nbf": now.saturating_sub(skew.as_secs()),
            "exp": now + ttl.as_secs(),
            "jti": jti,
        });
        if let Some(extra) = &self.merge {
            if !extra.is_object() {
                return Err(ClaimsError::NotObject);
            }
            merge(&mut doc, extra.clone());
        }
        merge(&mut doc, self.explicit(ttl, now)?);
        for claim in ["sub", "room"] {
            if doc[claim].is_null() {
                if !self.allow_missing {
                    return Err(ClaimsError::Missing(claim));
                }
                if let Some(map) = doc.as_object_mut() {
                    map.remove(claim);
                }
            }
        }
        let mut claims: Claims = serde_json::from_value(doc).map_err(shape_error)?;
        if let Some(avatar) = claims
            .context
            .as_ref()
            .and_then(|c| c.user.as_ref())
            .and_then(|u| u.avatar.as_deref())
        {
            if !avatar_allowed(avatar) {
                return Err(ClaimsError::Avatar(avatar.to_owned()));
            }
        }
        if self.profile == Profile::Asap && self.sub.is_none() && claims.sub.is_some() {
            claims.sub = Some(claims.iss.clone());
        }
        self.normalise_flags(&mut claims);
        let warnings = self.warnings(kid, &claims, ttl, now);
        Ok(Built { claims, warnings })
    }

    /// The fields set explicitly, as a JSON object (these win over `merge`).
    fn explicit(&self, ttl: Duration, now: u64) -> Result<Value, ClaimsError> {
        let mut top = Map::new();
        for (name, value) in [
            ("iss", &self.iss),
            ("aud", &self.aud),
            ("sub", &self.sub),
            ("room", &self.room),
        ] {
            if let Some(v) = value {
                top.insert(name.into(), Value::String(v.clone()));
            }
        }
        if self.ttl.is_some() {
            top.insert("exp".into(), Value::from(now + ttl.as_secs()));
        }
        if let Some(skew) = self.nbf_skew {
            top.insert(
                "nbf".into(),
                Value::from(now.saturating_sub(skew.as_secs())),
            );
        }
        let mut user = serde_json::to_value(&self.user).map_err(shape_error)?;
        if let Some(m) = self.moderator {
            user["moderator"] = Value::Bool(m);
        }
        let mut context = Map::new();
        if user.as_object().is_some_and(|u| !u.is_empty()) {
            context.insert("user".into(), user);
        }
        if !self.features.is_empty() {
            let features: Map<String, Value> = self
                .features
                .iter()
                .map(|(k, v)| (k.clone(), Value::Bool(*v)))
                .collect();
            context.insert("features".into(), Value::Object(features));
        }
        if let Some(g) = &self.group {
            context.insert("group".into(), Value::String(g.clone()));
        }
        if !context.is_empty() {
            top.insert("context".into(), Value::Object(context));
        }
        Ok(Value::Object(top))
    }

    /// Moderator always as a string (Jitsi compares with `"true"`); features
    /// as strings for JaaS, booleans otherwise.
    fn normalise_flags(&self, claims: &mut Claims) {
        let Some(ctx) = claims.context.as_mut() else {
            return;
        };
        if let Some(user) = ctx.user.as_mut() {
            if let Some(Flag::Bool(b)) = user.moderator {
                user.moderator = Some(Flag::text(b));
            }
            if user.is_empty() {
                ctx.user = None;
            }
        }
        if let Some(features) = ctx.features.as_mut() {
            for flag in features.values_mut() {
                *flag = match (&*flag, self.profile) {
                    (Flag::Bool(b), Profile::Jaas) => Flag::text(*b),
                    (Flag::Text(t), p) if p != Profile::Jaas && (t == "true" || t == "false") => {
                        Flag::Bool(t == "true")
                    }
                    (f, _) => f.clone(),
                };
            }
        }
    }

    fn warnings(&self, kid: &str, c: &Claims, ttl: Duration, now: u64) -> Vec<String> {
        let mut w = Vec::new();
        if c.exp <= now {
            w.push(format!(
                "exp {} is not in the future ({}s ago): Prosody rejects this token at once (\"Not acceptable by exp\")",
                c.exp,
                now - c.exp
            ));
        } else if ttl < Duration::from_secs(600) {
            w.push(format!(
                "ttl {} is under 10 minutes: Prosody checks exp at every login, and Jitsi logs in again on every \
                    reconnect (network change, page reload, XMPP resume); after exp that reconnect is refused",
                humantime::format_duration(ttl)
            ));
        }
        if c.nbf > now {
            w.push(format!(
                "nbf {} is {}s in the future: Prosody allows no clock skew and rejects the token until then (\"Not acceptable by nbf\")",
                c.nbf,
                c.nbf - now
            ));
        }
        if ttl > Duration::from_secs(86_400) {
            w.push(format!(
                "ttl {} is over 24 hours: a leaked token stays valid that long, and Prosody cannot revoke it",
                humantime::format_duration(ttl)
            ));
        }
        let aud = c.aud.trim();
        if aud.starts_with('[') || aud.contains(',') {
            w.push(format!(
                "aud {aud:?} looks like a list: Prosody compares aud as one string; give the single audience it accepts"
            ));
        }
        let issuer = crate::kid::issuer(kid);
        if self.profile != Profile::Jaas && c.iss != issuer {
            w.push(format!(
                "iss {:?} is not the kid's first segment {issuer:?}: ASAP verifiers reject that; Prosody accepts it only if it is in asap_accepted_issuers",
                c.iss
            ));
        }
        if c.context.as_ref().is_some_and(|ctx| ctx.group.is_some()) {
            w.push(
                "context.group is set: only multi-tenant (JaaS-style) deployments read it"
                    .to_owned(),
            );
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(spec: &TokenSpec, kid: &str) -> Result<Built, ClaimsError> {
        spec.build(kid, 1_000_000, "j".into())
    }

    #[test]
    fn avatars_are_https_urls_with_a_host_or_data_images() {
        for ok in [
            "https://cdn.example.com/a.png",
            "HTTPS://cdn.example.com",
            " https://[::1]/a.png ",
            "data:image/png;base64,iVBORw0KGgo=",
            "DATA:image/svg+xml,<svg/>",
        ] {
            assert!(avatar_allowed(ok), "{ok}");
        }
        for bad in [
            "https://",
            "https://exa mple.com/",
            "http://cdn.example.com/a.png",
            "javascript:alert(1)",
            "data:text/html,<b>",
            "//cdn.example.com/a.png",
            "",
        ] {
            assert!(!avatar_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_fit_prosody() {
        let b = build(&TokenSpec::default(), "jitsi/2026-11-28").unwrap();
        let c = &b.claims;
        assert_eq!(
            (
                c.iss.as_str(),
                c.aud.as_str(),
                c.sub.as_deref().unwrap_or_default(),
                c.room.as_deref().unwrap_or_default()
            ),
            ("jitsi", "jitsi", "*", "*")
        );
        assert_eq!(
            (c.iat, c.nbf, c.exp),
            (1_000_000, 1_000_000 - 30, 1_000_000 + 3600)
        );
        assert!(c.context.is_none());
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    }

    #[test]
    fn explicit_fields_win_over_the_claims_file_which_wins_over_defaults() {
        let spec = TokenSpec {
            room: Some("flag-room".into()),
            moderator: Some(true),
            merge: Some(
                serde_json::json!({"room": "file-room", "sub": "file-sub", "x": 1,
                "context": {"user": {"name": "File Name", "moderator": false}}}),
            ),
            ..TokenSpec::default()
        };
        let c = build(&spec, "jitsi/k").unwrap().claims;
        assert_eq!(c.room.as_deref(), Some("flag-room"));
        assert_eq!(c.sub.as_deref(), Some("file-sub"));
        assert_eq!(c.extra["x"], 1);
        let user = c.context.unwrap().user.unwrap();
        assert_eq!(user.name.as_deref(), Some("File Name"));
        assert_eq!(user.moderator, Some(Flag::Text("true".into())));
    }

    #[test]
    fn aud_arrays_and_bad_shapes_are_refused() {
        let spec = TokenSpec {
            merge: Some(serde_json::json!({"aud": ["a", "b"]})),
            ..TokenSpec::default()
        };
        let err = build(&spec, "jitsi/k").unwrap_err().to_string();
        assert!(err.contains("aud as a string"), "{err}");
        let spec = TokenSpec {
            merge: Some(serde_json::json!([1])),
            ..TokenSpec::default()
        };
        assert_eq!(build(&spec, "jitsi/k").unwrap_err(), ClaimsError::NotObject);
    }

    #[test]
    fn profiles() {
        let jaas = TokenSpec {
            profile: Profile::Jaas,
            moderator: Some(false),
            features: vec![("recording".into(), true)],
            ..TokenSpec::default()
        };
        let c = build(&jaas, "vpaas-magic-cookie-abc123/4f4910")
            .unwrap()
            .claims;
        assert_eq!(
            (
                c.iss.as_str(),
                c.aud.as_str(),
                c.sub.as_deref().unwrap_or_default()
            ),
            ("chat", "jitsi", "vpaas-magic-cookie-abc123")
        );
        let ctx = c.context.unwrap();
        assert_eq!(
            ctx.user.unwrap().moderator,
            Some(Flag::Text("false".into()))
        );
        assert_eq!(
            ctx.features.unwrap()["recording"],
            Flag::Text("true".into())
        );
        assert!(matches!(
            build(&jaas, "jitsi/k"),
            Err(ClaimsError::NotJaasKid(_))
        ));

        let asap = TokenSpec {
            profile: Profile::Asap,
            ..TokenSpec::default()
        };
        let c = build(&asap, "svc/key1").unwrap().claims;
        assert_eq!(c.sub.as_deref(), Some("svc"));
        let long = TokenSpec {
            profile: Profile::Asap,
            ttl: Some(Duration::from_secs(7200)),
            ..TokenSpec::default()
        };
        assert!(matches!(
            build(&long, "svc/key1"),
            Err(ClaimsError::AsapTtl(_))
        ));
    }

    #[test]
    fn warnings_name_the_risk() {
        let spec = TokenSpec {
            iss: Some("other".into()),
            aud: Some("a,b".into()),
            ttl: Some(Duration::from_secs(60)),
            group: Some("g".into()),
            ..TokenSpec::default()
        };
        let w = build(&spec, "jitsi/k").unwrap().warnings.join("\n");
        for needle in [
            "under 10 minutes",
            "looks like a list",
            "not the kid's first segment",
            "context.group",
        ] {
            assert!(w.contains(needle), "{needle}: {w}");
        }
        let long = TokenSpec {
            ttl: Some(Duration::from_secs(2 * 86_400)),
            ..TokenSpec::default()
        };
        assert!(build(&long, "jitsi/k").unwrap().warnings[0].contains("over 24 hours"));
    }

    #[test]
    fn claims_files_may_not_drop_sub_or_room_unless_allowed() {
        for claim in ["sub", "room"] {
            let mut spec = TokenSpec {
                merge: Some(serde_json::json!({ claim: null })),
                ..TokenSpec::default()
            };
            let err = build(&spec, "jitsi/k").unwrap_err();
            assert_eq!(err, ClaimsError::Missing(claim));
            assert!(err.to_string().contains("--allow-missing-claims"), "{err}");
            spec.allow_missing = true;
            let doc = serde_json::to_value(build(&spec, "jitsi/k").unwrap().claims).unwrap();
            assert!(doc.get(claim).is_none(), "{doc}");
        }
    }
}
