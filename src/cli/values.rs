//! The parsers of flag values (durations, key sizes, features) and the
//! writing of a duration as a flag takes it.

use std::time::Duration;

/// Parses `--bits`: the sizes key generation offers (2048, 3072, 4096, 8192).
pub fn parse_bits(s: &str) -> Result<usize, String> {
    match s.trim() {
        "2048" => Ok(2048),
        "3072" => Ok(3072),
        "4096" => Ok(4096),
        "8192" => Ok(8192),
        _ => Err("choose 2048, 3072, 4096 or 8192".to_owned()),
    }
}

/// Parses `NAME` or `NAME=true|false` for `--feature`.
pub fn parse_feature(s: &str) -> Result<(String, bool), String> {
    let (name, value) = s.split_once('=').unwrap_or((s, "true"));
    let on = match value {
        "true" | "yes" | "1" => true,
        "false" | "no" | "0" => false,
        other => {
            return Err(format!(
                "{other:?} is not true or false (write NAME or NAME=false)"
            ))
        }
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{name:?} is not a feature name like recording or outbound-call"
        ));
    }
    Ok((name.to_owned(), on))
}

/// Parses a humane duration such as `500ms`, `2s`, `1m` or `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{e}: write a duration like 500ms, 2s, 5m or 1h"))
}

/// Writes a duration as a flag takes it: `24h`, `90s`, `1h 30m`, `0s`
/// (whole seconds).
pub fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    [(h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").unwrap_err().contains("like 500ms"));
        for (secs, text) in [(0, "0s"), (90, "1m 30s"), (86_400, "24h"), (3_605, "1h 5s")] {
            assert_eq!(show_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        }
    }
}
