//! Prosody's log line formats: one line in, the record it starts (time,
//! source, level, message), a continuation of the record before, or
//! something else.
//!
//! The formats, as Prosody 0.12 and 13 write them (`core/loggingmanager.lua`
//! and `util-src/pposix.c`, the same in both):
//!
//! - **file**: `Dec 01 15:32:18 <source>\t<level>\t<message>` (the default
//!   `log` of Debian's packages, `/var/log/prosody/prosody.log`);
//! - **console** (`docker logs`, the stdout sink): `2026-12-01 15:33:42
//!   <source padded with spaces><level>\t<message>`, the time only where
//!   `timestamps` is set (docker-jitsi-meet sets `%Y-%m-%d %X`); `docker
//!   compose` puts `prosody-1  | ` in front, `docker logs -t` an RFC 3339
//!   time;
//! - **journal** (the syslog sink through journald or rsyslog):
//!   `Dec 01 15:32:18 <host> prosody[123]: <source>: <message>`, with no level
//!   in the text (Debian sends only errors there).
//!
//! A message with newlines (a traceback, an HTTP body) goes on in lines that
//! start with a TAB (Prosody's `util.format` writes `\n\t`), indented by
//! journalctl; they belong to the record before, which stays one event.

use regex::Regex;
use std::sync::LazyLock;

/// Which format a record was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Prosody's file sink.
    File,
    /// Prosody's console sink (docker logs).
    Console,
    /// The syslog sink, as journalctl or a syslog file shows it.
    Journal,
}

impl Format {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Format::File => "file",
            Format::Console => "console",
            Format::Journal => "journal",
        }
    }
}

/// The start of one log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The time as written, if the line has one.
    pub time: Option<&'a str>,
    /// Who logged it: `meet.example.com:auth_token`, `c2s55c4…`, `mod_bosh`.
    pub source: &'a str,
    /// `debug`, `info`, `warn` or `error`; not written by the syslog sink.
    pub level: Option<&'a str>,
    /// What was said (its first line).
    pub message: &'a str,
    /// The format it was read in.
    pub format: Format,
}

/// What one line of a log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A record starts here.
    Record(Record<'a>),
    /// More of the record before (a traceback's frames).
    Continuation,
    /// Not a Prosody record: a blank line, a banner, another program's line.
    Other,
}

/// A log time: `Dec 01 15:32:18` (file, syslog; `Dec  1` in raw syslog,
/// fractions from `journalctl -o short-precise`) or ISO 8601
/// (`2026-12-01 15:33:42`, `journalctl -o short-iso`, rsyslog).
const TIME: &str = r"(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)";

/// `docker compose logs` (`prosody-1  | `, `prosody_1  | `) and `docker
/// logs -t` (`2026-12-01T15:33:42.123456789Z `) put these in front.
static DOCKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Za-z0-9][\w.-]*\s+\| ?)?(?:(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) )?",
    )
    .expect("a valid pattern")
});

/// The file and console sinks: whatever comes before the source is the time
/// (`timestamps` may be any strftime format); the level and the TAB after
/// it anchor the line.
static SINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?P<time>.*?) )?(?P<source>\S+)(?P<sep>\t| +)(?P<level>debug|info|warn|error)\t(?P<message>.*)$")
        .expect("a valid pattern")
});

/// The syslog sink through journald or a syslog daemon (with the `<26>`
/// priority when read raw).
static JOURNAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(?:<\d{{1,3}}>)?(?P<time>{TIME}) (?:\S+ )?[\w.@/-]+\[\d+\]: (?P<rest>.*)$"
    ))
    .expect("a valid pattern")
});

/// A syslog message: `<source>: <message>`.
static SYSLOG_MESSAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<source>\S+?): (?P<message>.*)$").expect("a valid pattern"));

/// Reads one line (no line break; ANSI colours already removed).
pub fn parse(line: &str) -> Line<'_> {
    let prefix = DOCKER.captures(line);
    let docker_time = prefix
        .as_ref()
        .and_then(|c| c.name("time"))
        .map(|m| m.as_str());
    let start = prefix.and_then(|c| c.get(0)).map_or(0, |m| m.end());
    let line = &line[start..];
    if line.starts_with(['\t', ' ']) {
        return Line::Continuation;
    }
    if let Some(c) = JOURNAL.captures(line) {
        let time = c.name("time").map(|m| m.as_str());
        let rest = c.name("rest").map_or("", |m| m.as_str());
        // A console sink captured by journald (prosody -F under systemd).
        if let Some(Line::Record(r)) = sink(rest) {
            return Line::Record(Record {
                time: r.time.or(time),
                format: Format::Journal,
                ..r
            });
        }
        if let Some(m) = SYSLOG_MESSAGE.captures(rest) {
            return Line::Record(Record {
                time,
                source: m.name("source").map_or("", |m| m.as_str()),
                level: None,
                message: m.name("message").map_or("", |m| m.as_str()),
                format: Format::Journal,
            });
        }
        return Line::Other;
    }
    match sink(line) {
        Some(Line::Record(r)) => Line::Record(Record {
            time: r.time.or(docker_time),
            ..r
        }),
        _ => Line::Other,
    }
}

/// A file or console sink line.
fn sink(line: &str) -> Option<Line<'_>> {
    let c = SINK.captures(line)?;
    let text = |name| c.name(name).map(|m| m.as_str());
    let format = if text("sep") == Some("\t") {
        Format::File
    } else {
        Format::Console
    };
    Some(Line::Record(Record {
        time: text("time").map(str::trim).filter(|t| !t.is_empty()),
        source: text("source").unwrap_or_default(),
        level: text("level"),
        message: text("message").unwrap_or_default(),
        format,
    }))
}

/// `line` without ANSI colour sequences (a console sink on a terminal,
/// `docker compose` colouring its prefixes).
pub fn strip_colours(line: &str) -> std::borrow::Cow<'_, str> {
    static ANSI: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").expect("a valid pattern"));
    if line.contains('\x1b') {
        ANSI.replace_all(line, "")
    } else {
        line.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: &str) -> Record<'_> {
        match parse(line) {
            Line::Record(r) => r,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    #[test]
    fn every_format_gives_the_same_record() {
        let message = "Error verifying token err:not-allowed, reason:Invalid signature";
        for (line, time, level, format) in [
            (
                format!("Dec 01 15:32:18 meet.example.com:auth_token\twarn\t{message}"),
                Some("Dec 01 15:32:18"),
                Some("warn"),
                Format::File,
            ),
            (
                format!("2026-12-01 15:33:42 meet.example.com:auth_token  warn\t{message}"),
                Some("2026-12-01 15:33:42"),
                Some("warn"),
                Format::Console,
            ),
            (
                format!("meet.example.com:auth_token         warn\t{message}"),
                None,
                Some("warn"),
                Format::Console,
            ),
            (
                format!("prosody-1  | 2026-12-01 15:33:42 meet.example.com:auth_token  warn\t{message}"),
                Some("2026-12-01 15:33:42"),
                Some("warn"),
                Format::Console,
            ),
            (
                format!("prosody_1  | 2026-12-01T15:33:42.123456789Z meet.example.com:auth_token  warn\t{message}"),
                Some("2026-12-01T15:33:42.123456789Z"),
                Some("warn"),
                Format::Console,
            ),
            (
                format!("Dec 01 15:32:18 meet prosody[29609]: meet.example.com:auth_token: {message}"),
                Some("Dec 01 15:32:18"),
                None,
                Format::Journal,
            ),
            (
                format!("<26>Dec  1 15:32:18 prosody[29609]: meet.example.com:auth_token: {message}"),
                Some("Dec  1 15:32:18"),
                None,
                Format::Journal,
            ),
            (
                format!("2026-12-01T15:32:18+0000 meet prosody[29609]: meet.example.com:auth_token: {message}"),
                Some("2026-12-01T15:32:18+0000"),
                None,
                Format::Journal,
            ),
        ] {
            let r = record(&line);
            assert_eq!(
                (r.time, r.source, r.level, r.message, r.format),
                (time, "meet.example.com:auth_token", level, message, format),
                "{line:?}"
            );
        }
    }

    #[test]
    fn continuations_and_other_lines() {
        for line in [
            "\tstack traceback:",
            "\t",
            "                                              \t[C]: in function 'error'",
            "prosody-1  | \t/usr/lib/prosody/util/stanza.lua:51: in upvalue 'check_name'",
        ] {
            assert_eq!(parse(line), Line::Continuation, "{line:?}");
        }
        for line in [
            "",
            "Prosody was unable to find lua-unbound",
            "Dec 01 15:32:18 meet sshd[12]: Accepted publickey for root from 10.0.0.1",
            "-- Boot 1a2b --",
        ] {
            assert!(
                !matches!(parse(line), Line::Record(r) if r.message.contains("token")),
                "{line:?}"
            );
        }
        assert_eq!(
            strip_colours("\x1b[1mmeet.test:auth_token\x1b[0m  \x1b[33mwarn\x1b[0m\tx"),
            "meet.test:auth_token  warn\tx"
        );
    }
}
