//! Token failures grouped by cause: how often, first and last time, where
//! they stop people, what Prosody said (tokens redacted), and the why and
//! fix of the one table of causes, as text and as JSON.

use super::event::Found;
use super::line::Format;
use super::redact::redact;
use crate::check::causes::{Cause, Stage};
use crate::check::login::meeting::encode;
use crate::check::{self, Columns, Diagnostic};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;

/// Examples kept per cause.
const EXAMPLES: usize = 3;

/// The failures of one cause.
#[derive(Debug, Clone)]
pub struct Group {
    /// The cause; `None` for failures the table has no cause for.
    pub cause: Option<&'static Cause>,
    /// Where they stop people (the first failure's stage).
    pub stage: Stage,
    /// How many.
    pub count: u64,
    /// The first time written, if any failure had one.
    pub first: Option<String>,
    /// The last time written.
    pub last: Option<String>,
    /// What Prosody said, tokens redacted, up to three different texts.
    pub examples: Vec<String>,
    /// The VirtualHost the log names for them, if any.
    pub host: Option<String>,
    /// A room they concern, if Prosody named one.
    pub room: Option<String>,
}

/// Why and fix for failures whose reason the table does not know.
const UNKNOWN_WHY: &str =
    "Prosody refused a token for a reason asap-keyserver does not know (a newer plugin, or \
    another module's check): Prosody's words are below";
const UNKNOWN_FIX: &str =
    "check the token with asap-keyserver verify, and read the reason in the token plugin's sources";

impl Group {
    /// The stable name of its cause.
    pub fn id(&self) -> &'static str {
        self.cause.map_or("unrecognised", |c| c.id)
    }

    /// The cause's why, from the table.
    pub fn why(&self) -> &'static str {
        self.cause.map_or(UNKNOWN_WHY, |c| c.why)
    }

    /// The cause's fix, from the table.
    pub fn fix(&self) -> &'static str {
        self.cause.map_or(UNKNOWN_FIX, |c| c.fix)
    }

    /// The asap-keyserver commands to run next (with a token that failed
    /// as `$TOKEN`): `verify` for what the token carries, `login` for a room
    /// join, `doctor` for the set-up.
    pub fn next(&self) -> Vec<String> {
        let config = match &self.host {
            Some(h) => format!("/etc/prosody/conf.d/{h}.cfg.lua"),
            None => "/etc/prosody/prosody.cfg.lua".to_owned(),
        };
        let host = self.host.as_deref().unwrap_or("meet.example.com");
        // Room names come from the log: percent-encoded, so that a
        // pasted command runs nothing a room name says.
        let path = match self.room.as_deref() {
            Some(r) => match r.strip_prefix('[').and_then(|t| t.split_once(']')) {
                Some((tenant, room)) => format!("{}/{}", encode(tenant), encode(room)),
                None => encode(r),
            },
            None => "ROOM".to_owned(),
        };
        let doctor = format!("asap-keyserver doctor --prosody-config {config}");
        let login = format!("asap-keyserver login \"https://{host}/{path}?jwt=$TOKEN\"");
        let verify = format!("asap-keyserver verify --prosody-config {config} \"$TOKEN\"");
        match (self.id(), self.stage) {
            ("no-muc-base", _) | (_, Stage::Setup) => vec![doctor],
            ("room-does-not-exist", _) => vec![login, doctor],
            ("no-token", _) | (_, Stage::Join) => vec![login],
            _ => vec![verify],
        }
    }

    /// `3 times, Dec 01 15:32:18 to Dec 01 16:02:11, at the login`.
    fn seen(&self) -> String {
        let times = match self.count {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        let when = match (&self.first, &self.last) {
            (Some(f), Some(l)) if f != l => format!("{f} to {l}"),
            (Some(f), _) => f.clone(),
            _ => "time unknown".to_owned(),
        };
        format!("{times}, {when}, {}", stage_words(self.stage))
    }
}

fn stage_words(stage: Stage) -> &'static str {
    match stage {
        Stage::Login => "at the login",
        Stage::Join => "at the room join",
        Stage::Setup => "in Prosody's set-up",
    }
}

/// What `explain` found in one log.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Lines read.
    pub lines: u64,
    /// Lines that were Prosody log records.
    pub records: u64,
    /// The formats the records were in.
    pub formats: BTreeSet<Format>,
    groups: Vec<Group>,
}

/// The VirtualHost a source names: `meet.example.com:auth_token`, or the
/// parent of `conference.meet.example.com:token_verification` (where the
/// token plugin reads its options).
/// Only host names made of letters, digits, dots and hyphens are taken
/// (they end up in a command line).
fn host_of(source: &str) -> Option<String> {
    let (host, module) = source.split_once(':')?;
    let host = match module {
        "auth_token" => host,
        "token_verification" => host.split_once('.')?.1,
        _ => return None,
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    (!host.is_empty() && host.chars().all(plain)).then(|| host.to_owned())
}

impl Summary {
    /// Adds one failure (or one more record about a failure).
    pub fn add(&mut self, found: Found) {
        let id = found.cause.map(|c| c.id);
        let index = match self.groups.iter().position(|g| g.cause.map(|c| c.id) == id) {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    cause: found.cause,
                    stage: found.stage,
                    count: 0,
                    first: None,
                    last: None,
                    examples: Vec::new(),
                    host: None,
                    room: None,
                });
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[index];
        if found.counts {
            group.count += 1;
            if let Some(t) = &found.time {
                group.first.get_or_insert_with(|| t.clone());
                group.last = Some(t.clone());
            }
        }
        group.host = group.host.take().or_else(|| host_of(&found.source));
        group.room = group.room.take().or(found.room);
        // The record that counts (the last) first: it names the failure.
        for message in found.messages.iter().rev() {
            if group.examples.len() >= EXAMPLES {
                break;
            }
            let shown = redact(message);
            if !group.examples.contains(&shown) {
                group.examples.push(shown);
            }
        }
    }

    /// Token failures found.
    pub fn failures(&self) -> u64 {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// The causes found, most failures first (then the first seen first).
    pub fn groups(&self) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self.groups.iter().filter(|g| g.count > 0).collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        groups
    }

    fn formats_read(&self) -> String {
        if self.formats.is_empty() {
            return "no Prosody log line".to_owned();
        }
        let names: Vec<_> = self.formats.iter().map(|f| f.name()).collect();
        format!("{} format", names.join(" and "))
    }

    /// The summary as text: a headline, one block per cause as `verify`
    /// writes its checks, and the verdict.
    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let groups = self.groups();
        writeln!(
            out,
            "Prosody's log: {} line(s), {} record(s) ({})",
            self.lines,
            self.records,
            self.formats_read()
        )?;
        let detail = "    ";
        for g in &groups {
            let mut d = Diagnostic::fail(g.id(), g.seen());
            if let Some(example) = g.examples.first() {
                d = d.prosody_says(example.clone());
            }
            d = match g.cause {
                Some(cause) => d.because(cause),
                None => d.why(UNKNOWN_WHY).fix(UNKNOWN_FIX),
            };
            check::write_text(
                out,
                std::slice::from_ref(&d),
                Columns {
                    indent: "",
                    width: 0,
                },
            )?;
            for more in g.examples.iter().skip(1) {
                writeln!(out, "{detail}and: {more}")?;
            }
            for command in g.next() {
                writeln!(out, "{detail}next: {command}")?;
            }
        }
        if groups.is_empty() {
            let why = if self.records == 0 {
                ": no line of a Prosody log (file, console/docker or journal format) was found"
            } else {
                ""
            };
            writeln!(out, "no token failure in {} line(s){why}", self.lines)?;
        } else {
            writeln!(
                out,
                "TOKEN FAILURES: {} failure(s) of {} cause(s)",
                self.failures(),
                groups.len()
            )?;
        }
        Ok(())
    }

    /// The summary as JSON: `failures`, `lines`, `records`, `formats`, and
    /// `causes[]` with `id`, `check`, `stage`, `count`, `first`, `last`,
    /// `says`, `why`, `fix`, `examples` and `next`.
    pub fn to_json(&self) -> serde_json::Value {
        let causes: Vec<_> = self
            .groups()
            .iter()
            .map(|g| {
                json!({
                    "id": g.id(),
                    "check": g.cause.map(|c| c.check),
                    "stage": g.stage,
                    "count": g.count,
                    "first": g.first,
                    "last": g.last,
                    "says": g.cause.map(|c| c.says[0]),
                    "why": g.why(),
                    "fix": g.fix(),
                    "examples": g.examples,
                    "next": g.next(),
                })
            })
            .collect();
        json!({
            "failures": self.failures(),
            "lines": self.lines,
            "records": self.records,
            "formats": self.formats,
            "causes": causes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::causes;

    fn found(cause: &'static Cause, time: &str, message: &str) -> Found {
        Found {
            cause: Some(cause),
            stage: cause.stage,
            counts: true,
            time: Some(time.to_owned()),
            source: "meet.example.com:auth_token".to_owned(),
            messages: vec![message.to_owned()],
            room: None,
        }
    }

    #[test]
    fn groups_count_and_keep_the_tables_words() {
        let mut r = Summary::default();
        let said = "Error verifying token err:not-allowed, reason:Invalid signature";
        r.add(found(&causes::SIGNATURE, "Dec 01 10:00:00", said));
        r.add(found(
            &causes::EXP,
            "Dec 01 10:00:01",
            "reason:Not acceptable by exp",
        ));
        r.add(found(&causes::SIGNATURE, "Dec 01 10:00:02", said));
        assert_eq!(r.failures(), 3);
        let g = r.groups();
        assert_eq!((g[0].id(), g[0].count), ("signature", 2));
        assert_eq!(
            (g[0].first.as_deref(), g[0].last.as_deref()),
            (Some("Dec 01 10:00:00"), Some("Dec 01 10:00:02"))
        );
        assert_eq!(g[0].examples, [said]);
        assert_eq!(
            g[0].next(),
            ["asap-keyserver verify --prosody-config /etc/prosody/conf.d/meet.example.com.cfg.lua \"$TOKEN\""]
        );
        let mut text = Vec::new();
        r.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(
                "✗ signature  2 times, Dec 01 10:00:00 to Dec 01 10:00:02, at the login\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!("    fix: {}\n", causes::SIGNATURE.fix)),
            "{text}"
        );
        assert!(
            text.contains(&format!("    Prosody says: {said}\n")),
            "{text}"
        );
        assert!(
            text.ends_with("TOKEN FAILURES: 3 failure(s) of 2 cause(s)\n"),
            "{text}"
        );
        let v = r.to_json();
        assert_eq!(v["causes"][1]["id"], "exp");
        assert_eq!(v["causes"][1]["why"], causes::EXP.why);
        assert_eq!(v["causes"][1]["stage"], "login");
    }

    #[test]
    fn join_failures_point_at_login_with_the_room() {
        let mut r = Summary::default();
        let mut f = found(
            &causes::ROOM_MISMATCH,
            "t",
            "Token x not allowed to join: [acme]r@c/n",
        );
        f.source = "conference.meet.example.com:token_verification".into();
        f.room = Some("[acme]r".into());
        r.add(f);
        assert_eq!(
            r.groups()[0].next(),
            ["asap-keyserver login \"https://meet.example.com/acme/r?jwt=$TOKEN\""]
        );
        // Whatever the log says, the suggested command runs nothing else.
        let mut r = Summary::default();
        let mut f = found(&causes::ROOM_MISMATCH, "t", "Token x not allowed to join");
        f.source = "conf.evil\"; rm -rf ~; \".host:token_verification".into();
        f.room = Some("a\"$(reboot)\"b".into());
        r.add(f);
        assert_eq!(
            r.groups()[0].next(),
            ["asap-keyserver login \"https://meet.example.com/a%22%24%28reboot%29%22b?jwt=$TOKEN\""]
        );
    }
}
