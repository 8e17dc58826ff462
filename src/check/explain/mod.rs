//! `explain`: what Prosody's own log says about tokens. A Jitsi admin's
//! evidence is the log, not the token: this reads it (the file sink,
//! `journalctl -u prosody`, `docker logs`; Prosody 0.12 and 13), finds
//! every token failure, and groups them by cause, in the words of the one
//! table of causes ([`crate::check::causes`]) that `verify` uses.
//!
//! One child per seam, all private: `line` (the log formats), `event`
//! (which messages are token failures, and which belong together),
//! `redact` (no token ever leaves) and `summary` (grouping and output:
//! the [`Summary`] [`explain`] returns).

mod event;
mod line;
mod redact;
mod summary;

pub use summary::Summary;

use std::io::{BufRead, IsTerminal as _};
use std::path::{Path, PathBuf};

/// Bytes of one line kept; the rest of a longer line is skipped (a token
/// failure's message is far shorter; memory stays bounded on any input).
const MAX_LINE: usize = 64 * 1024;

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such file.
    #[error("{path}: no such file: give Prosody's log (e.g. /var/log/prosody/prosody.log), or - and pipe journalctl -u prosody or docker logs into it")]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// A directory.
    #[error("{path} is a directory: give a log file in it (e.g. {path}/prosody.log)")]
    Directory {
        /// The path given.
        path: PathBuf,
    },
    /// Nothing given, and stdin is a terminal.
    #[error("give Prosody's log: a file (e.g. /var/log/prosody/prosody.log), or pipe it in (journalctl -u prosody | asap-keyserver explain -)")]
    NoInput,
    /// Reading failed.
    #[error("cannot read {what}")]
    Unreadable {
        /// The file, or stdin.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Reads the log at `path` (`None` or `-`: stdin) and explains it. With
/// no path and a terminal on stdin there is nothing to read: an error
/// saying what to give (`-` reads the terminal anyway).
pub fn read(path: Option<&Path>) -> Result<Summary, Error> {
    let Some(path) = path.filter(|p| *p != Path::new("-")) else {
        let stdin = std::io::stdin();
        if path.is_none() && stdin.is_terminal() {
            return Err(Error::NoInput);
        }
        return explain(stdin.lock()).map_err(|source| Error::Unreadable {
            what: "stdin".into(),
            source,
        });
    };
    let unreadable = |source| Error::Unreadable {
        what: crate::error::shown(path),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Missing { path: path.into() },
        _ => unreadable(e),
    })?;
    if file.metadata().map_err(unreadable)?.is_dir() {
        return Err(Error::Directory { path: path.into() });
    }
    explain(std::io::BufReader::new(file)).map_err(unreadable)
}

/// Reads a log and explains it. Bytes that are not UTF-8 are read lossily;
/// lines past 64 KiB are cut there.
pub fn explain(mut input: impl BufRead) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    let mut pairing = event::Pairing::default();
    let mut buf = Vec::with_capacity(1024);
    let mut out = |found| summary.add(found);
    let mut lines = 0;
    let mut records = 0;
    let mut formats = std::collections::BTreeSet::new();
    while next_line(&mut input, &mut buf)? {
        lines += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = line::strip_colours(text.trim_end_matches(['\n', '\r']));
        if let line::Line::Record(record) = line::parse(&text) {
            records += 1;
            formats.insert(record.format);
            if let Some(e) = event::Event::of(&record) {
                pairing.add(e, &mut out);
            }
        }
    }
    pairing.finish(&mut out);
    summary.lines = lines;
    summary.records = records;
    summary.formats = formats;
    Ok(summary)
}

/// Reads the next line into `buf` (with its line break), keeping at most
/// [`MAX_LINE`] bytes of it; `false` at the end.
fn next_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any);
        }
        any = true;
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        input.consume(take);
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explained(text: &[u8]) -> Summary {
        explain(text).unwrap()
    }

    #[test]
    fn hostile_input_is_read_without_panic() {
        let huge = format!(
            "Dec 01 15:32:18 meet.example.com:auth_token\twarn\tError verifying token err:not-allowed, reason:Invalid signature{}\n",
            "x".repeat(3 * MAX_LINE)
        );
        let traceback_at_eof = "Dec 01 15:32:22 c2s55c4\terror\tTraceback[c2s]: pkey.new: decoder_lib.c:103:error:1E08010C:DECODER \
            routines::unsupported\n\tstack traceback:\n\t[C]: in function '_openssl.pkey.new'";
        let mut binary: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        binary.extend_from_slice(b"\n\xff\xfe\x00\tinfo\t\x1b[31m\r\n");
        for input in [
            huge.as_bytes(),
            traceback_at_eof.as_bytes(),
            &binary,
            b"",
            b"\n\n\r\n",
            b"Dec 01 15:32:18 meet.example.com:auth_token\twarn\tError verifying token err:not-allowed, reason:Invalid signature\r\n",
            b"Traceback[c2s]: \n\t\n",
            "\u{feff}Dec 01 15:32:18 a\twarn\tError verifying token err:, reason:".as_bytes(),
        ] {
            let r = explained(input);
            let mut text = Vec::new();
            r.write_text(&mut text).unwrap();
            let _ = r.to_json();
        }
        assert_eq!(explained(huge.as_bytes()).failures(), 1);
        let r = explained(traceback_at_eof.as_bytes());
        assert_eq!((r.failures(), r.groups()[0].id()), (1, "key-not-parsed"));
        // CRLF: the reason is read without the \r.
        let r = explained(b"Dec 01 15:32:18 meet.example.com:auth_token\twarn\tError verifying token err:not-allowed, reason:Invalid signature\r\n");
        assert_eq!(
            r.groups()[0].examples[0],
            "Error verifying token err:not-allowed, reason:Invalid signature"
        );
    }

    #[test]
    fn a_traceback_is_one_event_and_a_line_without_time_counts() {
        let log = "\
Dec 01 15:32:17 c2s55c421634010\tinfo\tClient connected
Dec 01 15:32:18 meet.example.com:auth_token\twarn\tError verifying token err:'room' claim is missing, reason:(nil)
Dec 01 15:32:18 c2s55c421634010\terror\tTraceback[c2s]: /usr/lib/prosody/util/stanza.lua:51: invalid tag name: contains invalid characters
\tstack traceback:
\t[C]: in function 'error'
\t/usr/lib/prosody/modules/mod_saslauth.lua:33: in upvalue 'build_reply'
conference.meet.example.com:token_verification  error\tToken eyJhbGciOiJSUzI1NiJ9.eyJyb29tIjoiYSJ9.c2ln not allowed to join: b@conference.meet.example.com/n
";
        let r = explained(log.as_bytes());
        assert_eq!((r.lines, r.records), (7, 4));
        let g = r.groups();
        assert_eq!(
            g.iter().map(|g| (g.id(), g.count)).collect::<Vec<_>>(),
            [("room-missing-no-answer", 1), ("room-mismatch", 1)]
        );
        assert_eq!(g[1].first, None);
        assert!(!r.to_json().to_string().contains("eyJ"));
    }
}
