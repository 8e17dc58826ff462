//! Telling a person, in words, whether things will work and why not:
//! [`verify`](fn@verify) (a token, check by check, as Prosody's token plugin does it),
//! `doctor` (a key directory, a running key server, a Prosody config),
//! `login` (the real Prosody's own answer, step by step) and `explain`
//! (the token failures in Prosody's own log, by cause).
//!
//! They speak in [`Diagnostic`]s, printed by one text and one JSON renderer
//! (`write_text`, `to_json`); a failing check takes its why and fix
//! from [`causes`], the one table of what Prosody's refusals mean, which
//! `explain` reads too. `generation` is the table of Jitsi token
//! plugin generations the checks read their differences from. `keysource`
//! ([`KeySource`]) gets a token's key (the JWKS at `cache_keys_url` first, then
//! `asap_key_server`) and judges the bytes as Prosody's luaossl would;
//! `fetch` GETs as Prosody does.

pub mod causes;
pub(crate) mod doctor;
pub(crate) mod explain;
pub(crate) mod fetch;
pub(crate) mod generation;
pub(crate) mod keysource;
pub(crate) mod login;
pub(crate) mod verify;

pub use keysource::KeySource;
pub use verify::{verify, Settings};

use crate::error::escape_controls;
use serde::Serialize;
use std::io::Write;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// A problem: Prosody rejects the login (or the room join) here, or the
    /// set-up is broken.
    Fail,
    /// Works, but probably not what was meant.
    Warn,
    /// Not checked: an earlier failure or missing information.
    Skip,
}

impl Status {
    /// `✓`, `✗`, `!` or `·`.
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Fail => "✗",
            Status::Warn => "!",
            Status::Skip => "·",
        }
    }
}

/// One finding: what was checked, what was seen, and for a problem why it
/// matters, the fix, and what Prosody says about it.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    /// The outcome.
    pub status: Status,
    /// What was checked: a check name (`typ`, `aud`), a kid, a file, an option.
    pub check: String,
    /// What was seen.
    pub seen: String,
    /// Why it fails or warns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The fix, in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// What Prosody logs for this failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prosody_says: Option<String>,
    /// For a check that depends on what could not be seen (a setting not
    /// given, Prosody's key cache): what must hold for Prosody to accept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_if: Option<String>,
}

impl Diagnostic {
    fn new(status: Status, check: impl Into<String>, seen: impl Into<String>) -> Self {
        Diagnostic {
            status,
            check: check.into(),
            seen: seen.into(),
            why: None,
            fix: None,
            prosody_says: None,
            only_if: None,
        }
    }

    /// A check that passed.
    pub fn pass(check: impl Into<String>, seen: impl Into<String>) -> Self {
        Diagnostic::new(Status::Pass, check, seen)
    }

    /// A problem.
    pub fn fail(check: impl Into<String>, seen: impl Into<String>) -> Self {
        Diagnostic::new(Status::Fail, check, seen)
    }

    /// A warning.
    pub fn warn(check: impl Into<String>, seen: impl Into<String>) -> Self {
        Diagnostic::new(Status::Warn, check, seen)
    }

    /// A check not made, and why.
    pub fn skip(check: impl Into<String>, why_not: impl Into<String>) -> Self {
        Diagnostic::new(Status::Skip, check, why_not)
    }

    /// Says why it matters.
    pub fn why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    /// Takes what a Prosody config read from files out of every text (see
    /// `prosody::config::Redactions`).
    pub fn redact(&mut self, redactions: &crate::prosody::config::Redactions) {
        redactions.scrub_in(&mut self.check);
        redactions.scrub_in(&mut self.seen);
        for text in [
            &mut self.why,
            &mut self.fix,
            &mut self.prosody_says,
            &mut self.only_if,
        ]
        .into_iter()
        .flatten()
        {
            redactions.scrub_in(text);
        }
    }

    /// Says what to do.
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// Says what Prosody logs (the error it rejects the login with).
    pub fn prosody_says(mut self, text: impl Into<String>) -> Self {
        self.prosody_says = Some(text.into());
        self
    }

    /// Takes `cause`'s words from the one table of causes: why, the fix,
    /// and (unless already said) what Prosody says.
    pub fn because(mut self, cause: &causes::Cause) -> Self {
        self.prosody_says
            .get_or_insert_with(|| cause.says[0].to_owned());
        self.why = Some(cause.why.to_owned());
        self.fix = Some(cause.fix.to_owned());
        self
    }

    /// Adds what applies here to the why.
    pub fn here(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        self.why = Some(match self.why.take() {
            Some(why) => format!("{why}; here: {detail}"),
            None => detail,
        });
        self
    }

    /// Adds the fix that applies here to the general one.
    pub fn fix_here(mut self, fix: impl Into<String>) -> Self {
        let fix = fix.into();
        self.fix = Some(match self.fix.take() {
            Some(general) => format!("{general}; here: {fix}"),
            None => fix,
        });
        self
    }

    /// Says what must hold for Prosody to accept, where it could not be seen.
    pub fn only_if(mut self, condition: impl Into<String>) -> Self {
        self.only_if = Some(condition.into());
        self
    }
}

/// Counts of problems and warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    /// Diagnostics with [`Status::Fail`].
    pub failures: usize,
    /// Diagnostics with [`Status::Warn`].
    pub warnings: usize,
}

impl Tally {
    /// Counts `items`.
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Diagnostic>) -> Tally {
        let mut t = Tally::default();
        for d in items {
            match d.status {
                Status::Fail => t.failures += 1,
                Status::Warn => t.warnings += 1,
                Status::Pass | Status::Skip => {}
            }
        }
        t
    }
}

/// The columns [`write_text`] lines a list up in: an indent before each
/// line and the width of the check column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns {
    /// Put before every line.
    pub indent: &'static str,
    /// The check column is padded to this width.
    pub width: usize,
}

/// Writes `items` as text, one line per diagnostic
/// (`✗ check  seen`), then its why, fix and what Prosody says, indented.
pub(crate) fn write_text(
    out: &mut impl Write,
    items: &[Diagnostic],
    columns: Columns,
) -> std::io::Result<()> {
    let Columns { indent, width } = columns;
    for d in items {
        let (check, seen) = (escape_controls(&d.check), escape_controls(&d.seen));
        writeln!(out, "{indent}{} {check:<width$}  {seen}", d.status.symbol())?;
        let mut detail = |text: &str| writeln!(out, "{indent}  {:<width$}  {text}", "");
        if let Some(why) = &d.why {
            detail(why)?;
        }
        if let (Some(fix), false) = (&d.fix, d.status == Status::Pass) {
            detail(&format!("fix: {fix}"))?;
        }
        if let (Some(p), Status::Fail) = (&d.prosody_says, d.status) {
            detail(&format!("Prosody says: {p}"))?;
        }
        if let Some(condition) = &d.only_if {
            detail(&format!("accepted only if {condition}"))?;
        }
    }
    Ok(())
}

/// `items` as a JSON array of objects (`status`, `check`, `seen`, and
/// `why`, `fix`, `prosody_says` where set).
pub(crate) fn to_json(items: &[Diagnostic]) -> serde_json::Value {
    serde_json::to_value(items).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_layout_puts_details_under_the_seen_column() {
        let items = [
            Diagnostic::pass("typ", "\"JWT\""),
            Diagnostic::fail("aud", "[\"jitsi\"]")
                .why("an array never matches")
                .fix("mint aud as a string")
                .prosody_says("invalid 'aud' claim"),
        ];
        let mut out = Vec::new();
        write_text(
            &mut out,
            &items,
            Columns {
                indent: "",
                width: 16,
            },
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "✓ typ               \"JWT\"\n\
             ✗ aud               [\"jitsi\"]\n\
             \x20                   an array never matches\n\
             \x20                   fix: mint aud as a string\n\
             \x20                   Prosody says: invalid 'aud' claim\n"
        );
        let mut out = Vec::new();
        write_text(
            &mut out,
            &items[1..],
            Columns {
                indent: "  ",
                width: 0,
            },
        )
        .unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("  ✗ aud  [\"jitsi\"]\n      an array"));
        assert_eq!(
            Tally::of(&items),
            Tally {
                failures: 1,
                warnings: 0
            }
        );
        assert_eq!(to_json(&items)[1]["prosody_says"], "invalid 'aud' claim");
        assert!(to_json(&items)[0].get("why").is_none());
    }
}
