//! The login itself, one function per step of the protocol in the order
//! Jitsi's client takes them: [`connect`](Session::connect),
//! [`sasl`](Session::sasl), [`bind`](Session::bind),
//! [`focus`](Session::focus), [`join`](Session::join),
//! [`leave`](Session::leave). Each step's deadline is `--timeout` from its
//! start; each adds its [`Diagnostic`], and one that ends the login early
//! returns Prosody's [`Answer`] as its error.

use super::meeting::with_query;
use super::transport::{wait_for, Bosh, Failure, Transport, WebSocket};
use super::xml::{escape, Elem};
use super::{Answer, Endpoint, Options, Target};
use crate::check::Diagnostic;
use std::time::{Duration, Instant};

/// Why a SASL step that gets no answer matters.
const SASL_SILENT_WHY: &str = "the token plugin before 2026-05 crashes its SASL reply when the token has no room claim \
    (and Prosody logs a traceback); a plugin that hangs fetching the key (asap_key_server unreachable: 30 s per attempt) \
    looks the same";
/// What to do about it.
const SASL_SILENT_FIX: &str =
    "add a room claim (asap-keyserver mint always sets one), and check Prosody's log for the traceback or the key fetch";

/// SASL ANONYMOUS: the token went with the URL.
const AUTH: &str = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>";
/// Resource bind after the stream restart.
const BIND: &str =
    "<iq type='set' id='bind_1' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";

/// A login under way: what it goes to, and what the steps so far found.
pub(super) struct Session<'a> {
    target: &'a Target,
    options: &'a Options,
    /// One diagnostic per step so far.
    pub(super) steps: Vec<Diagnostic>,
    /// Prosody's text with a refusal (at SASL or at the join).
    pub(super) said: Option<String>,
}

impl<'a> Session<'a> {
    /// A login to `target`, no step taken yet.
    pub(super) fn new(target: &'a Target, options: &'a Options) -> Self {
        Session {
            target,
            options,
            steps: Vec::new(),
            said: None,
        }
    }

    /// Takes the steps in order, to the end or to the first that ends the
    /// login, and returns Prosody's answer.
    pub(super) fn run(&mut self) -> Answer {
        match self.steps_in_order() {
            Ok(answer) | Err(answer) => answer,
        }
    }

    fn steps_in_order(&mut self) -> Result<Answer, Answer> {
        let (mut t, features) = self.connect()?;
        self.sasl(t.as_mut(), &features)?;
        self.bind(t.as_mut())?;
        let Some(room) = self.target.room.as_deref() else {
            t.close();
            return Ok(Answer::Accepted);
        };
        let room_jid = format!("{room}@{}", self.target.muc_domain);
        self.focus(t.as_mut(), &room_jid)?;
        let answer = self.join(t.as_mut(), &room_jid)?;
        self.leave(t.as_mut(), &room_jid, answer == Answer::Accepted);
        Ok(answer)
    }

    /// `--timeout`: the limit of each step.
    fn timeout(&self) -> Duration {
        self.options.fetch.timeout
    }

    /// The deadline of a step starting now.
    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout()
    }

    /// A step that could not talk to the server: its diagnostic, and no
    /// answer from Prosody.
    fn failed(&mut self, step: &'static str, f: Failure) -> Answer {
        self.steps.push(failure_step(step, &f));
        Answer::Error(f.to_string())
    }

    /// Connects (WebSocket or BOSH, the token and room in the query) and
    /// opens the stream; returns it and the stream features Prosody offers.
    fn connect(&mut self) -> Result<(Box<dyn Transport>, Vec<Elem>), Answer> {
        let (target, fetch) = (self.target, &self.options.fetch);
        let room = target.room.as_deref();
        let deadline = self.deadline();
        let connected: Result<Box<dyn Transport>, Failure> = match &target.endpoint {
            Endpoint::WebSocket(url) => {
                WebSocket::connect(&with_query(url, &target.token, room), fetch, deadline)
                    .map(|t| Box::new(t) as Box<dyn Transport>)
            }
            Endpoint::Bosh(url) => Bosh::new(&with_query(url, &target.token, room), fetch)
                .map(|t| Box::new(t) as Box<dyn Transport>),
        };
        let opened = connected.and_then(|mut t| {
            let features = t.open(&target.domain, deadline)?;
            Ok((t, features))
        });
        let (shown, kind) = match &target.endpoint {
            Endpoint::WebSocket(u) => (u, "WebSocket"),
            Endpoint::Bosh(u) => (u, "BOSH"),
        };
        match opened {
            Ok(opened) => {
                let seen = format!("{kind} {shown}, stream to {}", target.domain);
                self.steps.push(Diagnostic::pass("connect", seen));
                Ok(opened)
            }
            Err(f) => Err(self.failed("connect", f)),
        }
    }

    /// SASL ANONYMOUS, the mechanism of Jitsi's token login: the token went
    /// with the URL, so this is where the token plugin judges it.
    fn sasl(&mut self, t: &mut dyn Transport, features: &[Elem]) -> Result<(), Answer> {
        let anonymous = features
            .iter()
            .filter_map(|f| f.find("mechanisms"))
            .flat_map(|m| m.children.iter())
            .any(|m| m.text == "ANONYMOUS");
        if !anonymous {
            self.steps.push(
                Diagnostic::fail("SASL", "Prosody offers no ANONYMOUS mechanism on this host")
                    .why("Jitsi's token login is SASL ANONYMOUS with the token on the URL")
                    .fix("set authentication = \"token\" on this VirtualHost (and check --domain)"),
            );
            return Err(refused(t, "SASL", "no ANONYMOUS mechanism".into()));
        }
        let deadline = self.deadline();
        let answer = t
            .send(AUTH, deadline)
            .and_then(|()| wait_for(t, deadline, |e| e.name == "success" || e.name == "failure"));
        match answer {
            Err(f) => Err(self.failed("SASL", f)),
            Ok(None) => {
                let secs = self.timeout().as_secs();
                self.steps.push(
                    Diagnostic::fail("SASL", format!("no answer from Prosody within {secs}s"))
                        .why(SASL_SILENT_WHY)
                        .fix(SASL_SILENT_FIX),
                );
                Err(refused(t, "SASL", format!("no answer within {secs}s")))
            }
            Ok(Some(f)) if f.name == "failure" => {
                let (cond, text) = condition(&f).unwrap_or(("failure".into(), None));
                let seen = format!(
                    "{cond}{}",
                    text.as_ref().map(|t| format!(": {t}")).unwrap_or_default()
                );
                self.steps.push(
                    Diagnostic::fail("SASL", seen)
                        .prosody_says(text.clone().unwrap_or_else(|| cond.clone()))
                        .why("Prosody's token plugin refused the token at login")
                        .fix("what Prosody's answer means, and the offline checks of the token, follow below"),
                );
                let condition = match &text {
                    Some(text) => format!("{cond} ({text})"),
                    None => cond,
                };
                self.said = text;
                Err(refused(t, "SASL", condition))
            }
            Ok(Some(_)) => {
                let seen = "ANONYMOUS with the token: success";
                self.steps.push(Diagnostic::pass("SASL", seen));
                Ok(())
            }
        }
    }

    /// Stream restart and resource bind: the login is complete.
    fn bind(&mut self, t: &mut dyn Transport) -> Result<(), Answer> {
        let deadline = self.deadline();
        if let Err(f) = t.open(&self.target.domain, deadline) {
            return Err(self.failed("bind", f));
        }
        let bound = t.send(BIND, deadline).and_then(|()| {
            wait_for(t, deadline, |e| {
                e.name == "iq" && e.attr("id") == Some("bind_1")
            })
        });
        let jid = match bound {
            Ok(Some(iq)) if iq.attr("type") == Some("result") => {
                iq.find("jid").map(|j| j.text.clone()).unwrap_or_default()
            }
            Ok(Some(iq)) => {
                let (cond, _) = condition(&iq).unwrap_or(("error".into(), None));
                self.steps
                    .push(Diagnostic::fail("bind", format!("refused: {cond}")));
                return Err(refused(t, "bind", cond));
            }
            Ok(None) => return Err(self.failed("bind", Failure::Timeout(self.timeout()))),
            Err(f) => return Err(self.failed("bind", f)),
        };
        self.steps
            .push(Diagnostic::pass("bind", format!("bound as {jid}")));
        Ok(())
    }

    /// Current Jitsi: the room must exist; the client asks the focus
    /// (jicofo) to create it first. Its refusal or silence is a warning:
    /// the join shows whether it matters.
    fn focus(&mut self, t: &mut dyn Transport, room_jid: &str) -> Result<(), Answer> {
        let target = self.target;
        let focus = &target.focus;
        let conference = format!(
            "<iq type='set' id='focus_1' to='{}' xmlns='jabber:client'>\
             <conference xmlns='http://jitsi.org/protocol/focus' room='{}' machine-uid='asap-keyserver-login'/>\
             </iq>",
            escape(focus),
            escape(room_jid)
        );
        let deadline = self.deadline();
        let answered = t.send(&conference, deadline).and_then(|()| {
            wait_for(t, deadline, |e| {
                e.name == "iq" && e.attr("id") == Some("focus_1")
            })
        });
        let step = match answered {
            Ok(Some(iq)) if iq.attr("type") == Some("result") => Diagnostic::pass(
                "focus",
                format!("{focus} answered the conference request for {room_jid}"),
            ),
            Ok(Some(iq)) => {
                let (cond, text) = condition(&iq).unwrap_or(("error".into(), None));
                let text = text.map(|t| format!(" ({t})")).unwrap_or_default();
                Diagnostic::warn(
                    "focus",
                    format!("{focus} refused the conference request: {cond}{text}"),
                )
                .why("without the focus the room may not exist; the join shows whether it matters")
                .fix("check jicofo (focus.<domain>) and --focus")
            }
            Ok(None) => {
                let secs = self.timeout().as_secs();
                Diagnostic::warn("focus", format!("no answer from {focus} within {secs}s"))
                    .why("jicofo is not running or not at this address; the join shows whether the room exists")
                    .fix("check jicofo, or --focus")
            }
            Err(f) => return Err(self.failed("focus", f)),
        };
        self.steps.push(step);
        Ok(())
    }

    /// The join: presence to `room@muc/nick`. Prosody answers with the
    /// room's presence of us (status 110) or an error, where the room's
    /// token checks refuse. A refusal is Prosody's answer, not an end:
    /// the login still leaves.
    fn join(&mut self, t: &mut dyn Transport, room_jid: &str) -> Result<Answer, Answer> {
        let nick = escape(&self.options.nick);
        let presence = format!(
            "<presence to='{}/{nick}' xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
            escape(room_jid)
        );
        let deadline = self.deadline();
        let from_room = format!("{room_jid}/");
        let joined = t.send(&presence, deadline).and_then(|()| {
            wait_for(t, deadline, |e| {
                e.name == "presence"
                    && e.attr("from").is_some_and(|f| f.starts_with(&from_room))
                    && (e.attr("type") == Some("error") || e.has("status", "code", "110"))
            })
        });
        match joined {
            Ok(Some(p)) if p.attr("type") == Some("error") => {
                let (cond, text) = condition(&p).unwrap_or(("error".into(), None));
                let shown = text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default();
                self.steps.push(
                    Diagnostic::fail("join", format!("{room_jid}: {cond}{shown}"))
                        .prosody_says(text.clone().unwrap_or_else(|| cond.clone()))
                        .why("the login succeeded, but the room refused the token: the client connects, then disconnects")
                        .fix("what Prosody's answer means, and the token's claims against the room, follow below"),
                );
                self.said = text;
                Ok(Answer::Refused {
                    step: "join",
                    condition: cond,
                })
            }
            Ok(Some(_)) => {
                let seen = format!("joined {room_jid} as {}", self.options.nick);
                self.steps.push(Diagnostic::pass("join", seen));
                Ok(Answer::Accepted)
            }
            Ok(None) => {
                let (muc, secs) = (&self.target.muc_domain, self.timeout().as_secs());
                self.steps.push(
                    Diagnostic::fail("join", format!("no answer from {muc} within {secs}s"))
                        .fix("check --muc-domain (config.js hosts.muc)"),
                );
                Ok(Answer::Refused {
                    step: "join",
                    condition: format!("no answer within {secs}s"),
                })
            }
            Err(f) => Err(self.failed("join", f)),
        }
    }

    /// Leaves the room (if `joined`) with unavailable presence, and closes
    /// the stream.
    fn leave(&mut self, t: &mut dyn Transport, room_jid: &str, joined: bool) {
        if joined {
            let nick = escape(&self.options.nick);
            let unavailable = format!(
                "<presence to='{}/{nick}' type='unavailable' xmlns='jabber:client'/>",
                escape(room_jid)
            );
            let _ = t.send(&unavailable, self.deadline());
        }
        t.close();
        self.steps.push(Diagnostic::pass(
            "leave",
            "unavailable presence, stream closed",
        ));
    }
}

/// Prosody refused at `step`: the stream is closed, and that is its answer.
fn refused(t: &mut dyn Transport, step: &'static str, condition: String) -> Answer {
    t.close();
    Answer::Refused { step, condition }
}

/// The diagnostic of a step that could not talk to the server, with the fix.
fn failure_step(what: &'static str, f: &Failure) -> Diagnostic {
    let fix = match f {
        Failure::Unreachable(_) => {
            "check the host and port, and that Prosody (or the web server in front) listens there"
        }
        Failure::Tls(_) => "give the endpoint a certificate the client trusts (a private CA: --ca-file)",
        Failure::Http {
            location: Some(_), ..
        } => "use the final URL: Jitsi's client does not follow redirects here",
        Failure::Http { .. } => {
            "point --websocket / --bosh at Prosody's xmpp-websocket / http-bind (mod_websocket / mod_bosh enabled?)"
        }
        Failure::Protocol(_) => "make sure the URL reaches Prosody's XMPP endpoint, not another service",
        Failure::Timeout(_) => {
            "the server took the connection but did not answer in time: check that it is Prosody, or raise --timeout"
        }
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
