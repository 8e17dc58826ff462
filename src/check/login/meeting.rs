//! The meeting URL as Jitsi's web client reads it:
//! `https://meet.example.com[/<tenant>]/<room>?jwt=<token>` gives the
//! endpoints, domains and room ([`Meeting`]), and its `config.js` may name
//! others ([`config_js_value`]). A token pasted inside such a URL (or a
//! header) is found by [`token_in`]; [`encode`] writes a room for one.
//!
//! Parsed by hand rather than with the `url` crate: the client derives its
//! endpoints from the URL as written, and `url` would normalise it (a
//! default port dropped, `HTTPS://` and `https:host/room` accepted,
//! `..` resolved), and its query pairs decode `+` and `%`, while a token is
//! taken as it stands.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a meeting URL percent-encodes, in a path segment or a query value:
/// every byte but the unreserved characters (RFC 3986 §2.3).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `part` percent-encoded for a meeting URL (a room, a tenant, a token in
/// the query): only unreserved characters are kept, so nothing in it can
/// end the segment or the value, or run in a shell.
pub fn encode(part: &str) -> String {
    utf8_percent_encode(part, ENCODED).to_string()
}

/// The URL with the token and room in the query, as the client sends it.
pub(super) fn with_query(url: &str, token: &str, room: Option<&str>) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut out = format!("{url}{sep}");
    if let Some(room) = room {
        out.push_str(&format!("room={}&", encode(room)));
    }
    out.push_str(&format!("token={}", encode(token)));
    out
}

/// The token in what was pasted: trimmed of whitespace and quotes and of
/// `Bearer `; in a meeting URL (or any text with `jwt=`), what follows
/// `jwt=` up to the next `&`. Never decoded: a token is base64url and dots.
pub fn token_in(pasted: &str) -> &str {
    let mut t = pasted.trim().trim_matches('"').trim_matches('\'').trim();
    t = t.strip_prefix("Bearer ").unwrap_or(t);
    if let Some(pos) = t.find("jwt=") {
        t = t[pos + 4..].split('&').next().unwrap_or_default();
    }
    t
}

/// Endpoints, domains and room from a meeting URL
/// (`https://meet.example.com[/<tenant>]/<room>?jwt=...`), as Jitsi's
/// client derives them: WebSocket at `wss://<host>/[<tenant>/]xmpp-websocket`,
/// BOSH at `https://<host>/[<tenant>/]http-bind`, MUC
/// `conference.[<tenant>.]<host>`, focus `focus.<host>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    /// `https` or `http`.
    pub scheme: String,
    /// Host (and port).
    pub host: String,
    /// Tenant, if the path has two segments.
    pub tenant: Option<String>,
    /// The room (lower case, as the client joins it).
    pub room: String,
    /// `?jwt=`.
    pub token: Option<String>,
}

impl Meeting {
    /// Parses a meeting URL.
    pub fn parse(url: &str) -> Result<Meeting, String> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == "https" || *s == "http")
            .ok_or_else(|| format!("{url:?} is not an https:// meeting URL"))?;
        let (path_part, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut segments = path_part.split('/').filter(|s| !s.is_empty());
        let host = segments
            .next()
            .ok_or_else(|| format!("{url:?} has no host"))?
            .to_owned();
        let segments: Vec<&str> = segments.collect();
        let (tenant, room) = match segments.as_slice() {
            [room] => (None, *room),
            [tenant, room] => (Some((*tenant).to_owned()), *room),
            [] => {
                return Err(format!(
                    "{url:?} names no room: a meeting URL is https://<host>/<room>"
                ))
            }
            _ => {
                return Err(format!(
                    "{url:?}: expected https://<host>/[<tenant>/]<room>"
                ))
            }
        };
        let token = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("jwt="))
            .map(str::to_owned);
        Ok(Meeting {
            scheme: scheme.to_owned(),
            host,
            tenant,
            room: room.to_lowercase(),
            token,
        })
    }

    /// The path prefix of a tenant (`/<tenant>`), or empty.
    fn prefix(&self) -> String {
        self.tenant
            .as_ref()
            .map(|t| format!("/{t}"))
            .unwrap_or_default()
    }

    /// `wss://<host>/[<tenant>/]xmpp-websocket`.
    pub fn websocket(&self) -> String {
        let ws = if self.scheme == "https" { "wss" } else { "ws" };
        format!("{ws}://{}{}/xmpp-websocket", self.host, self.prefix())
    }

    /// `https://<host>/[<tenant>/]config.js`: the deployment's settings,
    /// as the client loads them.
    pub fn config_js(&self) -> String {
        format!("{}://{}{}/config.js", self.scheme, self.host, self.prefix())
    }

    /// The XMPP domain: the host without a port.
    pub fn domain(&self) -> String {
        self.host.split(':').next().unwrap_or(&self.host).to_owned()
    }

    /// `conference.[<tenant>.]<domain>`.
    pub fn muc_domain(&self) -> String {
        match &self.tenant {
            Some(t) => format!("conference.{t}.{}", self.domain()),
            None => format!("conference.{}", self.domain()),
        }
    }
}

/// `hosts` values from a deployment's `config.js`: `domain`, `muc`,
/// `focus`, and the `websocket` / `bosh` URLs, where written as string
/// literals (the usual, generated form).
pub fn config_js_value(text: &str, key: &str) -> Option<String> {
    for quote in ['\'', '"'] {
        for sep in [": ", ":"] {
            let needle = format!("{key}{sep}{quote}");
            if let Some(pos) = text.find(&needle) {
                let rest = &text[pos + needle.len()..];
                let value = rest.split(quote).next()?;
                if !value.is_empty() && !value.contains('\n') {
                    return Some(value.to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_urls_give_endpoints_like_the_client() {
        let m = Meeting::parse("https://meet.example.com/Standup?jwt=a.b.c").unwrap();
        assert_eq!(m.room, "standup");
        assert_eq!(m.token.as_deref(), Some("a.b.c"));
        assert_eq!(m.websocket(), "wss://meet.example.com/xmpp-websocket");
        assert_eq!(m.muc_domain(), "conference.meet.example.com");
        let t = Meeting::parse("https://meet.example.com:8443/acme/retro").unwrap();
        assert_eq!(t.tenant.as_deref(), Some("acme"));
        assert_eq!(
            t.websocket(),
            "wss://meet.example.com:8443/acme/xmpp-websocket"
        );
        assert_eq!(t.muc_domain(), "conference.acme.meet.example.com");
        assert!(Meeting::parse("https://meet.example.com/")
            .unwrap_err()
            .contains("names no room"));
        assert!(Meeting::parse("ftp://x/y").is_err());
        assert_eq!(
            with_query("wss://h/xmpp-websocket", "a.b+c", Some("r 1")),
            "wss://h/xmpp-websocket?room=r%201&token=a.b%2Bc"
        );
    }

    #[test]
    fn tokens_come_from_urls_and_headers_too() {
        assert_eq!(
            token_in("https://meet.example.com/room?jwt=a.b.c&x=1"),
            "a.b.c"
        );
        assert_eq!(token_in("Bearer a.b.c\n"), "a.b.c");
        assert_eq!(token_in("\"a.b.c\""), "a.b.c");
    }

    #[test]
    fn room_names_are_encoded() {
        assert_eq!(encode("daily standup/2"), "daily%20standup%2F2");
        assert_eq!(encode("abc-1"), "abc-1");
        assert_eq!(encode("a~b_c.d"), "a~b_c.d");
        assert_eq!(encode("ä;$(x)"), "%C3%A4%3B%24%28x%29");
    }
}
