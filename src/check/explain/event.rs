//! Token failures in Prosody's messages: which messages mean one and of
//! which cause ([`recognise`]), and which messages belong to the same
//! failure ([`Pairing`]).
//!
//! Prosody often logs one failure in more than one record: the key fetch's
//! `Error on GET request: Code 404` before the plugin's `could not obtain
//! public key`; `Room does not exists:room` before the refused join; the
//! 2024 plugin's `err:'room' claim is missing` before the `invalid tag name`
//! traceback it causes; a runner's `Encountered error` before `Error in
//! 'error' watcher`. Each failure counts once; the other records only add
//! to what Prosody said about it.

use super::line::Record;
use crate::check::causes::{self, Cause, Stage};
use regex::{Regex, RegexSet};
use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;

/// How a recognised message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One failure (`echo`: Prosody logs one more record for it right
    /// after, an [`Role::After`] of the same cause).
    Failure {
        /// A record of the same cause follows.
        echo: bool,
    },
    /// Logged just before a failure, by the same module: part of the next
    /// failure from the same source whose cause is one of `joins`, which
    /// then takes the cause `becomes` (a more precise one) if set.
    Before {
        /// The causes of the failures it is logged before.
        joins: &'static [&'static Cause],
        /// The cause the failure turns out to have.
        becomes: Option<&'static Cause>,
    },
    /// Logged right after a failure that announced it; a failure of its own
    /// only where no such failure came first (a log of errors only).
    After,
}

/// A message recognised as (part of) a token failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its cause in the table; `None` for a token failure whose reason the
    /// table does not know.
    pub cause: Option<&'static Cause>,
    /// Where it stopped the person.
    pub stage: Stage,
    /// How it counts.
    pub role: Role,
    /// The room concerned, where the message names it.
    pub room: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Verify,
    JoinWithReason,
    Join,
    RoomNotFound,
    NoBase,
    KeyFetch,
    KeyTimeout,
    Jwks,
    Traceback,
    Runner,
    Watcher,
    ModuleLoad,
    Setup,
}

/// Every message shape that can mean a token failure, most specific first.
/// The texts are the token plugin's format strings (2024 and 2026, and the
/// older ones logged under `general`) and Prosody's own.
const SHAPES: &[(Kind, &str)] = &[
    (
        Kind::Verify,
        r"^Error verifying token err:(?P<err>.*?), reason:(?P<reason>.*?)(?: tenant:(?P<tenant>.*?) room:(?P<room>.*?) user_agent:.*)?$",
    ),
    (
        Kind::Verify,
        r"^Error verifying token on (?:pre|post) authentication stage ?:(?P<err>.*?), reason:(?P<reason>.*)$",
    ),
    (
        Kind::JoinWithReason,
        r"^(?:Token .*?|User .*?) not allowed to join: (?P<to>.*) err: (?P<err>\S*) reason: (?P<reason>.*)$",
    ),
    (Kind::Join, r"^Token .*? not allowed to join: (?P<to>.*)$"),
    (Kind::RoomNotFound, r"^Room does not exists?:(?P<room>.*)$"),
    (
        Kind::NoBase,
        r"^No 'muc_domain_base' option set, denying access!",
    ),
    (Kind::KeyFetch, r"^Error on GET request: Code \S*, Content"),
    (
        Kind::KeyFetch,
        r"^Timeout \S+ seconds making the external call to: ",
    ),
    (Kind::KeyTimeout, r"^Timeout retrieving .* from "),
    (Kind::Jwks, r"^Failed to retrieve cached public keys code:"),
    (Kind::Traceback, r"^Traceback\[[\w-]+\]: (?P<error>.*)$"),
    (Kind::Runner, r"^Encountered error: (?P<error>.*)$"),
    (Kind::Watcher, r"^Error in '[\w-]+' watcher: (?P<error>.*)$"),
    (
        Kind::ModuleLoad,
        r"^Error initializing module '[^']*' on '[^']*': (?P<error>.*)$",
    ),
    (
        Kind::Setup,
        r"^'app_id' must not be empty|must be specified$",
    ),
];

static SET: LazyLock<RegexSet> =
    LazyLock::new(|| RegexSet::new(SHAPES.iter().map(|(_, p)| p)).expect("valid patterns"));
static EACH: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    SHAPES
        .iter()
        .map(|(_, p)| Regex::new(p).expect("a valid pattern"))
        .collect()
});

/// The cause of `Error verifying token err:<err>, reason:<reason>`.
fn verify_cause(err: &str, reason: &str) -> Option<&'static Cause> {
    // An XMPP condition (not-allowed, not-authorized) in the err slot: the
    // reason says why, and Prosody answered it.
    let condition = !err.is_empty() && err.chars().all(|c| c.is_ascii_lowercase() || c == '-');
    if !condition {
        // The 2024 plugin's missing room puts its message there, and no
        // answer reaches the client.
        return causes::find(err).or_else(|| causes::find(reason));
    }
    match causes::find(reason) {
        // Older plugins answered "'room' claim is missing" cleanly.
        Some(c) if c.id == causes::ROOM_MISSING_CRASH.id => Some(&causes::ROOM_MISSING),
        other => other,
    }
}

/// The room node of a room JID (`room@conference.example.com/nick`).
fn room_of(to: &str) -> Option<String> {
    let node = to.split('@').next().filter(|n| !n.is_empty() && *n != to)?;
    Some(node.to_owned())
}

/// What `message` says about tokens, if anything.
pub fn recognise(message: &str) -> Option<Seen> {
    let index = SET.matches(message).iter().next()?;
    let c = EACH[index].captures(message)?;
    let text = |name| c.name(name).map_or("", |m| m.as_str());
    let failure = |cause: Option<&'static Cause>, stage| Seen {
        cause,
        stage,
        role: Role::Failure { echo: false },
        room: None,
    };
    let seen = match SHAPES[index].0 {
        Kind::Verify => {
            let cause = verify_cause(text("err"), text("reason"));
            let echo = cause.is_some_and(|c| c.id == causes::ROOM_MISSING_CRASH.id);
            Seen {
                cause,
                stage: Stage::Login,
                role: Role::Failure { echo },
                room: Some(text("room"))
                    .filter(|r| !r.is_empty() && *r != "(nil)")
                    .map(str::to_owned),
            }
        }
        Kind::JoinWithReason => {
            let said = format!("{} {}", text("err"), text("reason"));
            let cause = causes::find(&said).unwrap_or(&causes::ROOM_MISMATCH);
            Seen {
                room: room_of(text("to")),
                ..failure(Some(cause), Stage::Join)
            }
        }
        Kind::Join => Seen {
            room: room_of(text("to")),
            ..failure(Some(&causes::ROOM_MISMATCH), Stage::Join)
        },
        Kind::RoomNotFound => Seen {
            cause: Some(&causes::ROOM_DOES_NOT_EXIST),
            stage: Stage::Join,
            role: Role::Before {
                joins: &[&causes::ROOM_DOES_NOT_EXIST],
                becomes: None,
            },
            room: Some(text("room").to_owned()),
        },
        Kind::NoBase => Seen {
            cause: Some(&causes::NO_MUC_BASE),
            stage: Stage::Join,
            role: Role::Before {
                joins: &[&causes::NO_MUC_BASE, &causes::ROOM_MISMATCH],
                becomes: Some(&causes::NO_MUC_BASE),
            },
            room: None,
        },
        Kind::KeyFetch | Kind::KeyTimeout => {
            let joins: &'static [&'static Cause] = match SHAPES[index].0 {
                Kind::KeyFetch => &[&causes::NO_KEY, &causes::JWKS_REFRESH],
                _ => &[&causes::NO_KEY],
            };
            Seen {
                cause: Some(&causes::NO_KEY),
                stage: Stage::Login,
                role: Role::Before {
                    joins,
                    becomes: None,
                },
                room: None,
            }
        }
        Kind::Jwks => failure(Some(&causes::JWKS_REFRESH), Stage::Setup),
        Kind::Traceback => {
            let cause = causes::find(text("error"))?;
            let role = if cause.id == causes::ROOM_MISSING_CRASH.id {
                Role::After
            } else {
                Role::Failure { echo: false }
            };
            // The 2024 plugin's room check is where a missing sub raises.
            let stage = if cause.id == causes::SUB_MISSING.id {
                Stage::Join
            } else {
                cause.stage
            };
            Seen {
                role,
                ..failure(Some(cause), stage)
            }
        }
        Kind::Runner => {
            let cause = causes::find(text("error"))?;
            Seen {
                role: Role::Failure { echo: true },
                ..failure(Some(cause), cause.stage)
            }
        }
        Kind::Watcher => {
            let cause = causes::find(text("error"))?;
            Seen {
                role: Role::After,
                ..failure(Some(cause), cause.stage)
            }
        }
        Kind::ModuleLoad => {
            let cause = causes::find(text("error"))?;
            failure(Some(cause), cause.stage)
        }
        Kind::Setup => failure(causes::find(message), Stage::Setup),
    };
    Some(seen)
}

/// One recognised record, owned (it may wait for its failure).
#[derive(Debug, Clone)]
pub struct Event {
    /// What it means.
    pub seen: Seen,
    /// The time as written.
    pub time: Option<String>,
    /// Who logged it.
    pub source: String,
    /// What Prosody said.
    pub message: String,
}

impl Event {
    /// The event of `record`, if it is about tokens.
    pub fn of(record: &Record<'_>) -> Option<Event> {
        Some(Event {
            seen: recognise(record.message)?,
            time: record.time.map(str::to_owned),
            source: record.source.to_owned(),
            message: record.message.to_owned(),
        })
    }
}

/// One token failure, with everything Prosody logged about it.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its cause; `None` when the table has none for it.
    pub cause: Option<&'static Cause>,
    /// Where it stopped the person.
    pub stage: Stage,
    /// Whether it counts as a failure (`false`: one more record about a
    /// failure already counted).
    pub counts: bool,
    /// When, as written.
    pub time: Option<String>,
    /// The source of the record that counts (`<host>:auth_token`).
    pub source: String,
    /// What Prosody said, the record that counts last.
    pub messages: Vec<String>,
    /// The room concerned, where Prosody named it.
    pub room: Option<String>,
}

/// Preludes kept waiting at most; the oldest then counts on its own.
const MAX_WAITING: usize = 256;

/// Folds events into failures: preludes join the failure they come
/// before, echoes the failure they come after.
#[derive(Debug, Default)]
pub struct Pairing {
    waiting: VecDeque<Event>,
    echoes: HashMap<&'static str, u64>,
}

fn id(cause: Option<&'static Cause>) -> &'static str {
    cause.map_or("", |c| c.id)
}

impl Pairing {
    /// Takes the next event; calls `out` for each failure it completes.
    pub fn add(&mut self, event: Event, out: &mut impl FnMut(Found)) {
        match event.seen.role {
            Role::Before { .. } => {
                self.waiting.push_back(event);
                if self.waiting.len() > MAX_WAITING {
                    if let Some(old) = self.waiting.pop_front() {
                        out(alone(old));
                    }
                }
            }
            Role::Failure { echo } => {
                let mut cause = event.seen.cause;
                let mut room = event.seen.room.clone();
                let mut messages = Vec::new();
                let mut kept = VecDeque::with_capacity(self.waiting.len());
                for before in self.waiting.drain(..) {
                    let joins = match before.seen.role {
                        Role::Before { joins, becomes } if before.source == event.source => joins
                            .iter()
                            .any(|c| c.id == id(event.seen.cause))
                            .then_some(becomes),
                        _ => None,
                    };
                    match joins {
                        Some(becomes) => {
                            cause = becomes.or(cause);
                            room = room.or(before.seen.room);
                            messages.push(before.message);
                        }
                        None => kept.push_back(before),
                    }
                }
                self.waiting = kept;
                if echo {
                    *self.echoes.entry(id(cause)).or_default() += 1;
                }
                messages.push(event.message);
                out(Found {
                    cause,
                    stage: event.seen.stage,
                    counts: true,
                    time: event.time,
                    source: event.source,
                    messages,
                    room,
                });
            }
            Role::After => {
                let announced = self
                    .echoes
                    .get_mut(id(event.seen.cause))
                    .filter(|n| **n > 0);
                let counts = match announced {
                    Some(n) => {
                        *n -= 1;
                        false
                    }
                    None => true,
                };
                out(Found {
                    counts,
                    ..alone(event)
                });
            }
        }
    }

    /// Ends the log: preludes whose failure was not logged count on their own.
    pub fn finish(self, out: &mut impl FnMut(Found)) {
        for event in self.waiting {
            out(alone(event));
        }
    }
}

/// `event` as a failure of its own.
fn alone(event: Event) -> Found {
    Found {
        cause: event.seen.cause,
        stage: event.seen.stage,
        counts: true,
        time: event.time,
        source: event.source,
        messages: vec![event.message],
        room: event.seen.room,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cause(message: &str) -> Option<(&'static str, Stage, Role)> {
        recognise(message).map(|s| (id(s.cause), s.stage, s.role))
    }

    const FAILS: Role = Role::Failure { echo: false };

    #[test]
    fn messages_name_their_cause() {
        for (message, want) in [
            ("Error verifying token err:not-allowed, reason:Invalid signature", ("signature", Stage::Login, FAILS)),
            ("Error verifying token err:not-allowed, reason:invalid 'iss' claim tenant: room:standup user_agent:Mozilla/5.0 \
                tenant:x room:y", ("iss", Stage::Login, FAILS)),
            ("Error verifying token err:'room' claim is missing, reason:(nil)", ("room-missing-no-answer", Stage::Login, Role::Failure { echo: true })),
            ("Error verifying token err:not-allowed, reason:'room' claim is missing", ("room-missing", Stage::Login, FAILS)),
            ("Error verifying token err:not-authorized, reason:sub claim is missing tenant: room:r user_agent:(nil)", ("sub-missing", Stage::Login, FAILS)),
            ("Error verifying token err:not-allowed, reason:Invalid issuer ('iss' claim)", ("iss", Stage::Login, FAILS)),
            ("Error verifying token on pre authentication stage:not-allowed, reason:Not acceptable by nbf", ("nbf", Stage::Login, FAILS)),
            ("Error verifying token err:not-allowed, reason:jwt missing required context claim", ("", Stage::Login, FAILS)),
            ("Token eyJx.eyJy.z not allowed to join: room@conference.meet.example.com/nick", ("room-mismatch", Stage::Join, FAILS)),
            ("Token nil not allowed to join: r@c/nick err: room-does-not-exist reason: Room does not exist", ("room-does-not-exist", Stage::Join, FAILS)),
            ("Token x not allowed to join: r@c/nick err: (nil) reason: Room and token mismatched", ("room-mismatch", Stage::Join, FAILS)),
            ("Token x not allowed to join: [t]r@c/n err: server-missing-config reason: Misconfiguration of server", ("no-muc-base", Stage::Join, FAILS)),
            ("User a@b/c not allowed to join: r@c/n token: x token room: r token sub: s err: authentication-required \
                reason: Authentication required", ("no-token", Stage::Join, FAILS)),
            ("Traceback[c2s]: pkey.new: decoder_lib.c:103:error:1E08010C:DECODER routines::unsupported", ("key-not-parsed", Stage::Login, FAILS)),
            (
                "Traceback[bosh]: /usr/lib/prosody/util/stanza.lua:51: invalid tag name: contains invalid characters",
                ("room-missing-no-answer", Stage::Login, Role::After),
            ),
            ("Traceback[c2s]: /usr/share/jitsi-meet/prosody-plugins/token/util.lib.lua:343: bad argument #1 to \
                'lower' (string expected, got nil)", ("sub-missing", Stage::Join, FAILS)),
            (
                "Encountered error: /x/util.lib.lua:281: attempt to call a nil value (method 'sub')",
                ("jwks-refresh", Stage::Setup, Role::Failure { echo: true }),
            ),
            ("Error in 'error' watcher: /usr/lib/prosody/util/async.lua:154: /x/util.lib.lua:281: attempt to call \
                a nil value (method 'sub')", ("jwks-refresh", Stage::Setup, Role::After)),
            ("Failed to retrieve cached public keys code:404", ("jwks-refresh", Stage::Setup, FAILS)),
            ("'app_id' must not be empty", ("no-app-id", Stage::Setup, FAILS)),
            ("'app_secret' or 'asap_key_server' must be specified", ("no-key-server", Stage::Setup, FAILS)),
        ] {
            assert_eq!(cause(message), Some(want), "{message}");
        }
        for message in [
            "Client connected",
            "Traceback[c2s]: /usr/lib/prosody/modules/mod_x.lua:1: attempt to index a nil value",
            "Encountered error: something else",
            "Authenticated as a@meet.example.com",
            "sasl reply: <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-allowed/><text>Invalid signature</text></failure>",
        ] {
            assert_eq!(cause(message), None, "{message}");
        }
        assert!(matches!(
            recognise("Error on GET request: Code 404, Content not found").map(|s| s.role),
            Some(Role::Before { .. })
        ));
    }

    fn event(source: &str, message: &str) -> Event {
        Event {
            seen: recognise(message).unwrap(),
            time: None,
            source: source.to_owned(),
            message: message.to_owned(),
        }
    }

    fn fold(events: Vec<Event>) -> Vec<(&'static str, bool, usize)> {
        let mut found = Vec::new();
        let mut pairing = Pairing::default();
        let mut out = |f: Found| found.push((id(f.cause), f.counts, f.messages.len()));
        for e in events {
            pairing.add(e, &mut out);
        }
        pairing.finish(&mut out);
        found
    }

    #[test]
    fn one_failure_counts_once() {
        let auth = "meet.example.com:auth_token";
        let muc = "conference.meet.example.com:token_verification";
        assert_eq!(
            fold(vec![
                event(auth, "Timeout 30 seconds making the external call to: http://k/a.pem"),
                event(auth, "Error on GET request: Code 404, Content not found"),
                event(auth, "Error verifying token err:not-allowed, reason:could not obtain public key"),
                event(muc, "No 'muc_domain_base' option set, denying access!"),
                event(muc, "Token x not allowed to join: [t]r@c/n"),
                event(auth, "Error verifying token err:'room' claim is missing, reason:(nil)"),
                event("c2s1", "Traceback[c2s]: /u/util/stanza.lua:51: invalid tag name: contains invalid characters"),
                event("c2s2", "Traceback[c2s]: /u/util/stanza.lua:51: invalid tag name: contains invalid characters"),
                event(muc, "Room does not exists:r"),
            ]),
            [
                ("no-key", true, 3),
                ("no-muc-base", true, 2),
                ("room-missing-no-answer", true, 1),
                ("room-missing-no-answer", false, 1),
                ("room-missing-no-answer", true, 1),
                ("room-does-not-exist", true, 1),
            ]
        );
    }
}
