//! `login`: ask the real Prosody. A small XMPP client does what Jitsi's web
//! client does with a token, step by step: connect (WebSocket or BOSH, the
//! token as `?token=`), SASL ANONYMOUS, stream restart and bind, ask the
//! focus component to create the room, join it, leave. Each step is a
//! [`Diagnostic`] with Prosody's own words; each step, however the server
//! answers, ends by `--timeout` from its start.

pub mod diagnose;
mod transport;
pub mod xml;

use super::Diagnostic;
use crate::check::fetch;
use std::time::Instant;
use transport::{wait_for, Bosh, Failure, Transport, WebSocket};
use xml::{escape, Elem};

/// How to reach Prosody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `wss://host/xmpp-websocket` (Jitsi's default).
    WebSocket(String),
    /// `https://host/http-bind`.
    Bosh(String),
}

/// What to log in to, as Jitsi's client would derive it from a meeting URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// The endpoint, without the token.
    pub endpoint: Endpoint,
    /// The XMPP domain (`hosts.domain`).
    pub domain: String,
    /// The MUC domain (`hosts.muc`, `conference.<domain>`).
    pub muc_domain: String,
    /// The focus component (`focus.<domain>`).
    pub focus: String,
    /// The room to join; `None` stops after bind.
    pub room: Option<String>,
    /// The token.
    pub token: String,
}

/// How `login` behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Limit of each step, and the fetch settings (`--ca-file`).
    pub fetch: fetch::Options,
    /// The nickname in the room.
    pub nick: String,
}

/// Prosody's verdict, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Login (and join, when asked) accepted.
    Accepted,
    /// Refused at a step: the step, and Prosody's condition.
    Refused {
        /// `SASL`, `join`, ...
        step: &'static str,
        /// The condition (or what happened instead of one).
        condition: String,
    },
    /// No verdict: the server could not be talked to.
    Error(String),
}

/// The steps and the outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// One diagnostic per step.
    pub steps: Vec<Diagnostic>,
    /// The verdict.
    pub outcome: Outcome,
    /// Prosody's text with a refusal (at SASL or at the join), which names
    /// its cause (see [`diagnose`]).
    pub said: Option<String>,
}

impl Report {
    /// The last line.
    pub fn verdict(&self) -> String {
        match &self.outcome {
            Outcome::Accepted if self.steps.iter().any(|s| s.check == "join") => {
                "Prosody ACCEPTED the login and the join".into()
            }
            Outcome::Accepted => "Prosody ACCEPTED the login (no room joined)".into(),
            Outcome::Refused { step, condition } => {
                format!("Prosody REFUSED at {step}: {condition}")
            }
            Outcome::Error(e) => format!("no answer from Prosody: {e}"),
        }
    }
}

/// The URL with the token and room in the query, as the client sends it.
fn with_query(url: &str, token: &str, room: Option<&str>) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut out = format!("{url}{sep}");
    if let Some(room) = room {
        out.push_str(&format!("room={}&", encode(room)));
    }
    out.push_str(&format!("token={}", encode(token)));
    out
}

/// Percent-encodes what is not unreserved.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn failure_step(what: &'static str, f: &Failure) -> Diagnostic {
    let fix = match f {
        Failure::Unreachable(_) => "check the host and port, and that Prosody (or the web server in front) listens there",
        Failure::Tls(_) => "give the endpoint a certificate the client trusts (a private CA: --ca-file)",
        Failure::Http { location: Some(_), .. } => "use the final URL: Jitsi's client does not follow redirects here",
        Failure::Http { .. } => "point --websocket / --bosh at Prosody's xmpp-websocket / http-bind (mod_websocket / mod_bosh enabled?)",
        Failure::Protocol(_) => "make sure the URL reaches Prosody's XMPP endpoint, not another service",
        Failure::Timeout(_) => "the server took the connection but did not answer in time: check that it is Prosody, or raise --timeout",
    };
    Diagnostic::fail(what, f.to_string()).fix(fix)
}

/// The first child that names a condition (not `text`).
fn condition(elem: &Elem) -> Option<(String, Option<String>)> {
    let holder = if elem.name == "failure" {
        elem
    } else {
        elem.child("error")?
    };
    let cond = holder
        .children
        .iter()
        .find(|c| c.name != "text")
        .map(|c| c.name.clone())?;
    let text = holder.child("text").map(|t| t.text.clone());
    Some((cond, text))
}

/// Logs in as Jitsi's client would and reports each step.
pub fn login(target: &Target, options: &Options) -> Report {
    let mut steps = Vec::new();
    let timeout = options.fetch.timeout;
    let room = target.room.as_deref();
    // Each step's deadline: `--timeout` from its start.
    let step = || Instant::now() + timeout;
    let deadline = step();
    let connected: Result<Box<dyn Transport>, Failure> = match &target.endpoint {
        Endpoint::WebSocket(url) => WebSocket::connect(
            &with_query(url, &target.token, room),
            &options.fetch,
            deadline,
        )
        .map(|t| Box::new(t) as Box<dyn Transport>),
        Endpoint::Bosh(url) => Bosh::new(&with_query(url, &target.token, room), &options.fetch)
            .map(|t| Box::new(t) as Box<dyn Transport>),
    };
    let (shown, kind) = match &target.endpoint {
        Endpoint::WebSocket(u) => (u, "WebSocket"),
        Endpoint::Bosh(u) => (u, "BOSH"),
    };
    let error = |mut steps: Vec<Diagnostic>, what: &'static str, f: Failure| {
        steps.push(failure_step(what, &f));
        Report {
            steps,
            outcome: Outcome::Error(f.to_string()),
            said: None,
        }
    };
    let mut t = match connected {
        Ok(t) => t,
        Err(f) => return error(steps, "connect", f),
    };
    let features = match t.open(&target.domain, deadline) {
        Ok(f) => f,
        Err(f) => return error(steps, "connect", f),
    };
    steps.push(Diagnostic::pass(
        "connect",
        format!("{kind} {shown}, stream to {}", target.domain),
    ));
    let anonymous = features
        .iter()
        .filter_map(|f| f.find("mechanisms"))
        .flat_map(|m| m.children.iter())
        .any(|m| m.text == "ANONYMOUS");
    if !anonymous {
        steps.push(
            Diagnostic::fail("SASL", "Prosody offers no ANONYMOUS mechanism on this host")
                .why("Jitsi's token login is SASL ANONYMOUS with the token on the URL")
                .fix("set authentication = \"token\" on this VirtualHost (and check --domain)"),
        );
        t.close();
        return Report {
            steps,
            outcome: Outcome::Refused {
                step: "SASL",
                condition: "no ANONYMOUS mechanism".into(),
            },
            said: None,
        };
    }

    // SASL ANONYMOUS: the token went with the URL.
    let deadline = step();
    if let Err(f) = t.send(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>",
        deadline,
    ) {
        return error(steps, "SASL", f);
    }
    let answer = match wait_for(t.as_mut(), deadline, |e| {
        e.name == "success" || e.name == "failure"
    }) {
        Ok(a) => a,
        Err(f) => return error(steps, "SASL", f),
    };
    match answer {
        None => {
            steps.push(
                Diagnostic::fail("SASL", format!("no answer from Prosody within {}s", timeout.as_secs()))
                    .why("the token plugin before 2026-05 crashes its SASL reply when the token has no room claim (and Prosody logs a traceback); a plugin that hangs fetching the key (asap_key_server unreachable: 30 s per attempt) looks the same")
                    .fix("add a room claim (asap-keyserver mint always sets one), and check Prosody's log for the traceback or the key fetch"),
            );
            t.close();
            return Report {
                steps,
                outcome: Outcome::Refused {
                    step: "SASL",
                    condition: format!("no answer within {}s", timeout.as_secs()),
                },
                said: None,
            };
        }
        Some(f) if f.name == "failure" => {
            let (cond, text) = condition(&f).unwrap_or(("failure".into(), None));
            steps.push(
                Diagnostic::fail("SASL", format!("{cond}{}", text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()))
                    .prosody_says(text.clone().unwrap_or_else(|| cond.clone()))
                    .why("Prosody's token plugin refused the token at login")
                    .fix("what Prosody's answer means, and the offline checks of the token, follow below"),
            );
            t.close();
            return Report {
                steps,
                outcome: Outcome::Refused {
                    step: "SASL",
                    condition: match &text {
                        Some(text) => format!("{cond} ({text})"),
                        None => cond,
                    },
                },
                said: text,
            };
        }
        Some(_) => steps.push(Diagnostic::pass(
            "SASL",
            "ANONYMOUS with the token: success",
        )),
    }

    // Stream restart and resource bind.
    let deadline = step();
    if let Err(f) = t.open(&target.domain, deadline) {
        return error(steps, "bind", f);
    }
    let bind = "<iq type='set' id='bind_1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
    let bound = t.send(bind, deadline).and_then(|()| {
        wait_for(t.as_mut(), deadline, |e| {
            e.name == "iq" && e.attr("id") == Some("bind_1")
        })
    });
    let jid = match bound {
        Ok(Some(iq)) if iq.attr("type") == Some("result") => {
            iq.find("jid").map(|j| j.text.clone()).unwrap_or_default()
        }
        Ok(Some(iq)) => {
            let (cond, _) = condition(&iq).unwrap_or(("error".into(), None));
            steps.push(Diagnostic::fail("bind", format!("refused: {cond}")));
            t.close();
            return Report {
                steps,
                outcome: Outcome::Refused {
                    step: "bind",
                    condition: cond,
                },
                said: None,
            };
        }
        Ok(None) => return error(steps, "bind", Failure::Timeout(timeout)),
        Err(f) => return error(steps, "bind", f),
    };
    steps.push(Diagnostic::pass("bind", format!("bound as {jid}")));

    let Some(room) = room else {
        t.close();
        return Report {
            steps,
            outcome: Outcome::Accepted,
            said: None,
        };
    };
    let room_jid = format!("{room}@{}", target.muc_domain);

    // Current Jitsi: the room must exist; the client asks the focus first.
    let conference = format!(
        "<iq type='set' id='focus_1' to='{}' xmlns='jabber:client'><conference xmlns='http://jitsi.org/protocol/focus' room='{}' machine-uid='asap-keyserver-login'/></iq>",
        escape(&target.focus),
        escape(&room_jid)
    );
    let deadline = step();
    match t
        .send(&conference, deadline)
        .and_then(|()| wait_for(t.as_mut(), deadline, |e| e.name == "iq" && e.attr("id") == Some("focus_1")))
    {
        Ok(Some(iq)) if iq.attr("type") == Some("result") => steps.push(Diagnostic::pass(
            "focus",
            format!("{} answered the conference request for {room_jid}", target.focus),
        )),
        Ok(Some(iq)) => {
            let (cond, text) = condition(&iq).unwrap_or(("error".into(), None));
            steps.push(
                Diagnostic::warn(
                    "focus",
                    format!("{} refused the conference request: {cond}{}", target.focus, text.map(|t| format!(" ({t})")).unwrap_or_default()),
                )
                .why("without the focus the room may not exist; the join shows whether it matters")
                .fix("check jicofo (focus.<domain>) and --focus"),
            );
        }
        Ok(None) => steps.push(
            Diagnostic::warn("focus", format!("no answer from {} within {}s", target.focus, timeout.as_secs()))
                .why("jicofo is not running or not at this address; the join shows whether the room exists")
                .fix("check jicofo, or --focus"),
        ),
        Err(f) => return error(steps, "focus", f),
    }

    // The join: presence to room@muc/nick.
    let nick = escape(&options.nick);
    let presence = format!(
        "<presence to='{}/{nick}' xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
        escape(&room_jid)
    );
    let mut said = None;
    let deadline = step();
    let joined = t.send(&presence, deadline).and_then(|()| {
        wait_for(t.as_mut(), deadline, |e| {
            e.name == "presence"
                && e.attr("from")
                    .is_some_and(|f| f.starts_with(&format!("{room_jid}/")))
                && (e.attr("type") == Some("error") || e.has("status", "code", "110"))
        })
    });
    let outcome = match joined {
        Ok(Some(p)) if p.attr("type") == Some("error") => {
            let (cond, text) = condition(&p).unwrap_or(("error".into(), None));
            steps.push(
                Diagnostic::fail("join", format!("{room_jid}: {cond}{}", text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()))
                    .prosody_says(text.clone().unwrap_or_else(|| cond.clone()))
                    .why("the login succeeded, but the room refused the token: the client connects, then disconnects")
                    .fix("what Prosody's answer means, and the token's claims against the room, follow below"),
            );
            said = text;
            Outcome::Refused {
                step: "join",
                condition: cond,
            }
        }
        Ok(Some(_)) => {
            steps.push(Diagnostic::pass(
                "join",
                format!("joined {room_jid} as {}", options.nick),
            ));
            let _ = t.send(
                &format!(
                    "<presence to='{}/{nick}' type='unavailable' xmlns='jabber:client'/>",
                    escape(&room_jid)
                ),
                step(),
            );
            Outcome::Accepted
        }
        Ok(None) => {
            steps.push(
                Diagnostic::fail(
                    "join",
                    format!(
                        "no answer from {} within {}s",
                        target.muc_domain,
                        timeout.as_secs()
                    ),
                )
                .fix("check --muc-domain (config.js hosts.muc)"),
            );
            Outcome::Refused {
                step: "join",
                condition: format!("no answer within {}s", timeout.as_secs()),
            }
        }
        Err(f) => return error(steps, "join", f),
    };
    t.close();
    steps.push(Diagnostic::pass(
        "leave",
        "unavailable presence, stream closed",
    ));
    Report {
        steps,
        outcome,
        said,
    }
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

    /// `https://<host>/[<tenant>/]http-bind`.
    pub fn bosh(&self) -> String {
        format!("{}://{}{}/http-bind", self.scheme, self.host, self.prefix())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_urls_give_endpoints_like_the_client() {
        let m = Meeting::parse("https://meet.example.com/Standup?jwt=a.b.c").unwrap();
        assert_eq!(m.room, "standup");
        assert_eq!(m.token.as_deref(), Some("a.b.c"));
        assert_eq!(m.websocket(), "wss://meet.example.com/xmpp-websocket");
        assert_eq!(m.bosh(), "https://meet.example.com/http-bind");
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
}
