//! Tokens and secrets out of every text `explain` prints.
//!
//! The token plugin of 2024 logs the whole JWT of a refused room join
//! (`Token eyJ… not allowed to join`), the 2026 one too, and URLs carry
//! `?token=`: whatever the log holds, a token is a password for the meeting
//! until it expires, so an example shown to a person or put in JSON never
//! holds one.

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// Longest example kept, in characters.
const MAX_CHARS: usize = 400;

static SECRETS: LazyLock<[(Regex, &'static str); 4]> = LazyLock::new(|| {
    let re = |p: &str| Regex::new(p).expect("a valid pattern");
    [
        // Query parameters and headers that carry one (first: their whole
        // value goes, whatever its shape).
        (
            re(r#"(?i)\b(token|jwt|access_token|id_token|app_secret)=[^&\s"'<>]*"#),
            "${1}=[REDACTED]",
        ),
        (re(r"(?i)\b(bearer)\s+[^\s,;]+"), "${1} [REDACTED]"),
        // A private key in an HTTP body: the rest of the line.
        (
            re(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*"),
            "[REDACTED PRIVATE KEY]",
        ),
        // A JWT: its header is JSON, so base64url `ey…`, then the payload
        // and (unless stripped) the signature; or any three long
        // base64url parts.
        (
            re(
                r"ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*)?|[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
            ),
            "[REDACTED TOKEN]",
        ),
    ]
});

/// `text` with tokens, token parameters and private keys replaced, control
/// characters escaped (a log line reaching a terminal), and at most 400
/// characters long.
pub fn redact(text: &str) -> String {
    let mut out = Cow::Borrowed(text);
    for (pattern, with) in SECRETS.iter() {
        let replaced = match pattern.replace_all(&out, *with) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        if let Some(s) = replaced {
            out = Cow::Owned(s);
        }
    }
    let shown = crate::error::escape_controls(&out);
    match shown.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &shown[..cut]),
        None => shown.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_secrets_are_gone_and_the_rest_stays() {
        let jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImppdHNpL2siLCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJqaXRzaSJ9.c2lnbmF0dXJl-_x";
        for (text, shown) in [
            (
                format!("Token {jwt} not allowed to join: room@conference.meet.example.com/nick"),
                "Token [REDACTED TOKEN] not allowed to join: room@conference.meet.example.com/nick".to_owned(),
            ),
            (
                "User a@b not allowed to join: r@c/n token: eyJhbGciOiJSUzI1NiJ9.eyJyb29tIjoiciJ9 token room: r err: (nil)".to_owned(),
                "User a@b not allowed to join: r@c/n token: [REDACTED TOKEN] token room: r err: (nil)".to_owned(),
            ),
            (
                format!("GET /http-bind?room=r&token={jwt}&x=1"),
                "GET /http-bind?room=r&token=[REDACTED]&x=1".to_owned(),
            ),
            (
                "Authorization: Bearer abc.def".to_owned(),
                "Authorization: Bearer [REDACTED]".to_owned(),
            ),
            (
                "Error on GET request: Code 500, Content -----BEGIN PRIVATE KEY-----".to_owned(),
                "Error on GET request: Code 500, Content [REDACTED PRIVATE KEY]".to_owned(),
            ),
            (
                "a\x1b[31mred\x1b[0m".to_owned(),
                "a\\u{1b}[31mred\\u{1b}[0m".to_owned(),
            ),
        ] {
            assert_eq!(redact(&text), shown);
        }
        // Domains, JIDs, URLs and kids are not tokens.
        for text in [
            "Room does not exists:standup",
            "Timeout retrieving jitsi/2026-12-01 from https://keys.example.com/4f2a.pem",
            "Token nil not allowed to join: [acme]room@conference.meet.example.com/5a792dc6",
        ] {
            assert_eq!(redact(text), text);
        }
        let long = "x".repeat(10_000);
        assert_eq!(redact(&long).chars().count(), MAX_CHARS + 1);
    }
}
