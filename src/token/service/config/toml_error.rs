//! The config's TOML errors as they may be printed: the file, line,
//! column and key, and what is wrong, never the line's text (toml's
//! `Display` quotes it) nor a value (serde's messages do): a secret pasted
//! into the config, or a secret file given as the config, stays unshown.

use super::ConfigError;
use std::path::Path;

/// toml's error `e` as it may be printed: the file, line and column, the
/// key, and what is wrong, never the line (toml's `Display` quotes it) nor
/// a value (serde's "invalid type: string \"…\"" does).
pub(super) fn parse_error(file: &Path, text: &str, mut e: toml::de::Error) -> ConfigError {
    let trimmed = text.trim();
    if !trimmed.is_empty() && !trimmed.contains(['\n', '=', '[']) {
        return ConfigError::NotConfig {
            file: file.to_owned(),
        };
    }
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            (
                before.matches('\n').count() + 1,
                before[start..].chars().count() + 1,
            )
        }
        None => (0, 0),
    };
    // Without the input, toml shows its message and the key (`in `a.b``).
    e.set_input(None);
    let shown = e.to_string();
    let mut message = shown
        .lines()
        .map(without_values)
        .collect::<Vec<_>>()
        .join(", ");
    if !message.contains('`') && line > 0 {
        if let Some(key) = key_at(text, line) {
            message.push_str(&format!(", at key `{key}`"));
        }
    }
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

/// serde's message without the value it quotes: `invalid type: string
/// "…", expected a sequence` becomes `invalid type: a string (value not
/// shown), expected a sequence`; anything in double quotes goes.
fn without_values(message: &str) -> String {
    for lead in [
        "invalid type: ",
        "invalid value: ",
        "invalid length: ",
        "unknown variant ",
    ] {
        if let Some(rest) = message.strip_prefix(lead) {
            // serde's kind of value (`string`, `floating point`), before the value.
            let what = rest
                .split(['"', '`', ','])
                .next()
                .unwrap_or_default()
                .trim();
            let what = if lead == "unknown variant " { "" } else { what };
            let expected = rest.rfind(", expected").map_or("", |i| &rest[i..]);
            return format!("{lead}{what} (value not shown){expected}").replace("  (", " (");
        }
    }
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// The key that `line` (1-based) of `text` sets, when it is `key = …`
/// with a bare TOML key: a name, never a value.
fn key_at(text: &str, line: usize) -> Option<&str> {
    let (key, _) = text.lines().nth(line - 1)?.split_once('=')?;
    let key = key.trim();
    let bare = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    bare.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_values() {
        assert_eq!(
            without_values("invalid value: integer `1234`, expected a duration"),
            "invalid value: integer (value not shown), expected a duration"
        );
        assert_eq!(without_values("a \"b\" c"), "a \"…\" c");
    }
}
