//! What Jitsi's client hands the bridge and how the user goes back.
//!
//! `tokenAuthUrl`'s `{state}` is URL-encoded JSON: `room` (as typed),
//! `roomSafe` (Jitsi's `getBackendSafeRoomName`: decoded, NFKC,
//! lower-cased, `encodeURIComponent`-encoded and lower-cased again),
//! `tenant`, `config.*` / `interfaceConfig.*` / `iceServers.*` overrides,
//! and `electron` / `ios` / `android` on the apps. The state carries no
//! anti-forgery value, so it is only ever data here: the room and tenant
//! are checked against the characters Jitsi itself strips from names,
//! re-encoded for the path, and the return goes to `jitsi_url` and nowhere
//! else.
//!
//! The return is `<jitsi_url>/<tenant>/<room>?jwt=<token>` (read by every
//! client version) with the overrides in the hash as
//! `key=encodeURIComponent(JSON)` (how jitsi-meet's `parseURLParams` reads
//! them). The apps come back through their URL schemes: Electron
//! `jitsi-meet://`, iOS `org.jitsi.meet://`, Android an `intent://` URL for
//! the `org.jitsi.meet` scheme and package.

use openidconnect::url::Url;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

/// Everything but RFC 3986's unreserved characters is encoded in a path
/// segment, a query value or a hash value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Characters jitsi-meet strips from room and tenant names (`uri.ts`
/// `_ROOM_EXCLUDE_PATTERN`), plus `/` and `\`: never part of a name here.
const EXCLUDED: &[char] = &[
    ':', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '>', '<',
    '/', '"', '\\', '%',
];

/// Hash keys carried back to Jitsi.
const HASH_PREFIXES: [&str; 3] = ["config.", "interfaceConfig.", "iceServers."];

/// Longest room or tenant name accepted.
const MAX_NAME: usize = 256;

/// Which client asked, so the user is sent back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// The web client: a redirect.
    Web,
    /// jitsi-meet-electron (`state.electron`).
    Electron,
    /// The iOS app (`state.ios`).
    Ios,
    /// The Android app (`state.android`).
    Android,
}

/// Where the user goes after login, and what their token is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The tenant: one path segment in canonical form (`sub`), or none.
    pub tenant: Option<String>,
    /// The room in Jitsi's `roomSafe` form (the `room` claim), or none.
    pub room: Option<String>,
    /// `config.*` and friends, in the order Jitsi sent them.
    pub overrides: Vec<(String, Value)>,
    /// The client to return to.
    pub app: App,
}

/// Why Jitsi's request cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitsiError {
    /// `state` is not a JSON object.
    #[error("the state parameter is not the JSON object Jitsi sends ({0})")]
    State(String),
    /// A room or tenant that is not a plain name.
    #[error("{what} {shown:?} is not a meeting name Jitsi would use: {why}")]
    Name {
        /// `room` or `tenant`.
        what: &'static str,
        /// The name, escaped for display.
        shown: String,
        /// What is wrong.
        why: &'static str,
    },
}

impl Target {
    /// Reads Jitsi's `state` JSON (already URL-decoded from the query) and
    /// the `room` query parameter of `/oidc/auth`.
    pub fn from_request(
        state: Option<&Value>,
        room_param: Option<&str>,
    ) -> Result<Target, JitsiError> {
        let empty = Map::new();
        let fields = match state {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(JitsiError::State("not an object".into())),
        };
        let text = |k: &str| {
            fields
                .get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let room = match (
            text("roomSafe"),
            text("room"),
            room_param.filter(|r| !r.is_empty()),
        ) {
            (Some(safe), _, _) => Some(canonical("room", safe)?),
            (None, Some(room), _) | (None, None, Some(room)) => Some(canonical("room", room)?),
            (None, None, None) => None,
        };
        let tenant = text("tenant").map(|t| canonical("tenant", t)).transpose()?;
        let overrides = fields
            .iter()
            .filter(|(k, _)| {
                HASH_PREFIXES.iter().any(|p| k.starts_with(p))
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let flag = |k: &str| fields.get(k).and_then(Value::as_bool) == Some(true);
        let app = if flag("electron") {
            App::Electron
        } else if flag("ios") {
            App::Ios
        } else if flag("android") {
            App::Android
        } else {
            App::Web
        };
        Ok(Target {
            tenant,
            room,
            overrides,
            app,
        })
    }

    /// The URL the user is sent to with `token`; only ever under `jitsi_url`.
    pub fn return_url(&self, jitsi_url: &Url, token: &str) -> String {
        let base = jitsi_url.as_str().trim_end_matches('/');
        let mut tail = self.path();
        tail.push_str("?jwt=");
        tail.extend(utf8_percent_encode(token, COMPONENT));
        let hash: Vec<String> = self
            .overrides
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(&v.to_string(), COMPONENT)))
            .collect();
        if !hash.is_empty() {
            tail.push('#');
            tail.push_str(&hash.join("&"));
        }
        let web = format!("{base}{tail}");
        let after_scheme = web.split_once("://").map_or(web.as_str(), |(_, rest)| rest);
        match self.app {
            App::Web => web,
            App::Electron => format!("jitsi-meet://{after_scheme}"),
            App::Ios => format!("org.jitsi.meet://{after_scheme}"),
            App::Android => format!(
                "intent://{after_scheme}#Intent;scheme=org.jitsi.meet;package=org.jitsi.meet;end"
            ),
        }
    }

    /// `/<tenant>/<room>` (either may be absent), or `/`.
    fn path(&self) -> String {
        let mut tail = String::new();
        for segment in [&self.tenant, &self.room].into_iter().flatten() {
            tail.push('/');
            tail.push_str(segment);
        }
        if tail.is_empty() {
            tail.push('/');
        }
        tail
    }

    /// The meeting in Jitsi's web client, without a token: where a failed
    /// login's page links back to (only ever under `jitsi_url`).
    pub fn meeting_url(&self, jitsi_url: &Url) -> String {
        format!(
            "{}{}",
            jitsi_url.as_str().trim_end_matches('/'),
            self.path()
        )
    }

    /// `sub`: the tenant, or `*`.
    pub fn sub(&self) -> String {
        self.tenant.clone().unwrap_or_else(|| "*".into())
    }

    /// `room`: the room in `roomSafe` form, or `*`.
    pub fn room_claim(&self) -> String {
        self.room.clone().unwrap_or_else(|| "*".into())
    }
}

/// A room or tenant in the form Jitsi's backend uses: decoded once,
/// lower-cased, every non-unreserved byte percent-encoded, lower-case hex.
pub fn canonical(what: &'static str, raw: &str) -> Result<String, JitsiError> {
    let bad = |why| JitsiError::Name {
        what,
        shown: crate::error::escape_controls(&raw.chars().take(80).collect::<String>())
            .into_owned(),
        why,
    };
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("it is not UTF-8 once decoded"))?;
    let name = decoded.trim().to_lowercase();
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name == "." || name == ".." {
        return Err(bad("it is a dot path segment"));
    }
    if name.len() > MAX_NAME {
        return Err(bad("it is too long"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    if name.contains(EXCLUDED) {
        return Err(bad("it contains a character Jitsi strips from names (: ? # [ ] @ ! $ & ' ( ) * + , ; = > < / \" \\ %)"));
    }
    Ok(utf8_percent_encode(&name, COMPONENT)
        .to_string()
        .to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url() -> Url {
        Url::parse("https://meet.example.com/").unwrap()
    }

    #[test]
    fn room_safe_is_preferred_and_kept_in_jitsi_form() {
        let state = json!({"room": "My Room", "roomSafe": "my%20room", "tenant": "Team", "config.startWithAudioMuted": true});
        let t = Target::from_request(Some(&state), Some("ignored")).unwrap();
        assert_eq!(t.room.as_deref(), Some("my%20room"));
        assert_eq!(t.sub(), "team");
        assert_eq!(
            t.return_url(&url(), "a.b.c"),
            "https://meet.example.com/team/my%20room?jwt=a.b.c#config.startWithAudioMuted=true"
        );
        let t = Target::from_request(Some(&json!({"room": "Café"})), None).unwrap();
        assert_eq!(t.room_claim(), "caf%c3%a9");
        let t = Target::from_request(None, Some("plain")).unwrap();
        assert_eq!((t.room_claim(), t.sub()), ("plain".into(), "*".into()));
        let t = Target::from_request(None, None).unwrap();
        assert_eq!(t.return_url(&url(), "t"), "https://meet.example.com/?jwt=t");
        assert_eq!(t.meeting_url(&url()), "https://meet.example.com/");
        let t = Target::from_request(Some(&json!({"room": "r", "tenant": "t"})), None).unwrap();
        assert_eq!(t.meeting_url(&url()), "https://meet.example.com/t/r");
    }

    #[test]
    fn names_that_would_leave_the_path_are_refused() {
        for bad in [
            "../x",
            "a/b",
            "a%2Fb",
            "..",
            "%2e%2e",
            "x?y",
            "x#y",
            "a%0Ab",
            "",
            "%ff",
            "evil.com@x",
            "a\\b",
        ] {
            let state = json!({ "room": bad });
            let r = Target::from_request(Some(&state), None);
            if bad.is_empty() {
                assert_eq!(r.unwrap().room, None);
            } else {
                assert!(
                    matches!(r, Err(JitsiError::Name { what: "room", .. })),
                    "{bad}: {r:?}"
                );
            }
        }
        assert!(matches!(
            Target::from_request(Some(&json!({"room": "r", "tenant": "a/b"})), None),
            Err(JitsiError::Name { what: "tenant", .. })
        ));
        assert!(matches!(
            Target::from_request(Some(&json!([1])), None),
            Err(JitsiError::State(_))
        ));
    }

    #[test]
    fn overrides_go_back_as_json_in_the_hash_and_nothing_else_does() {
        let state = json!({
            "room": "r", "refreshToken": "secret", "config.subject": "a b&c=d",
            "interfaceConfig.X": 1, "other": 2, "config.bad key": 3
        });
        let t = Target::from_request(Some(&state), None).unwrap();
        let u = t.return_url(&url(), "t");
        assert!(u.contains("config.subject=%22a%20b%26c%3Dd%22"), "{u}");
        assert!(u.contains("interfaceConfig.X=1"), "{u}");
        assert!(
            !u.contains("secret") && !u.contains("other") && !u.contains("bad"),
            "{u}"
        );
    }

    #[test]
    fn apps_come_back_through_their_schemes_to_jitsi_url_host() {
        let base = Url::parse("https://meet.example.com:8443/prefix").unwrap();
        let url_for = |flag: &str| {
            let state = json!({"room": "r", flag: true});
            Target::from_request(Some(&state), None)
                .unwrap()
                .return_url(&base, "t")
        };
        assert_eq!(
            url_for("electron"),
            "jitsi-meet://meet.example.com:8443/prefix/r?jwt=t"
        );
        assert_eq!(
            url_for("ios"),
            "org.jitsi.meet://meet.example.com:8443/prefix/r?jwt=t"
        );
        assert_eq!(url_for("android"), "intent://meet.example.com:8443/prefix/r?jwt=t#Intent;scheme=org.jitsi.meet;package=org.jitsi.meet;end");
        assert_eq!(
            url_for("web"),
            "https://meet.example.com:8443/prefix/r?jwt=t"
        );
    }
}
