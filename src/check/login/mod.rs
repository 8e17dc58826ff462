//! `login`: ask the real Prosody. A small XMPP client does what Jitsi's web
//! client does with a token, step by step: connect (WebSocket or BOSH, the
//! token as `?token=`), SASL ANONYMOUS, stream restart and bind, ask the
//! focus component to create the room, join it, leave. Each step is a
//! [`Diagnostic`] with Prosody's own words; each step, however the server
//! answers, ends by `--timeout` from its start.
//!
//! One child per seam: [`meeting`] (the meeting URL and `config.js`, as the
//! client reads them), [`target`] (what to log in to, derived from them),
//! `session` (the protocol, one function per step), `transport` (WebSocket
//! and BOSH), `xml` (stanzas) and [`diagnose`] (what a refusal means).

pub(crate) mod diagnose;
pub(crate) mod meeting;
mod session;
pub(crate) mod target;
mod transport;
mod xml;

pub use target::{Endpoint, Given, Target};

use super::Diagnostic;
use crate::check::fetch;

/// How `login` behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Limit of each step, and the fetch settings (`--ca-file`).
    pub fetch: fetch::Options,
    /// The nickname in the room.
    pub nick: String,
}

/// Prosody's answer to the login, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Login (and join, when asked) accepted.
    Accepted,
    /// Refused at a step: the step, and Prosody's condition.
    Refused {
        /// `SASL`, `join`, ...
        step: &'static str,
        /// The condition (or what happened instead of one).
        condition: String,
    },
    /// No answer: the server could not be talked to.
    Error(String),
}

/// The login as it went: each step, and Prosody's answer.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// One diagnostic per step.
    pub steps: Vec<Diagnostic>,
    /// Prosody's answer.
    pub answer: Answer,
    /// Prosody's text with a refusal (at SASL or at the join), which names
    /// its cause (see [`diagnose`]).
    pub said: Option<String>,
}

impl Transcript {
    /// The last line: what Prosody answered, in a sentence.
    pub fn verdict(&self) -> String {
        match &self.answer {
            Answer::Accepted if self.steps.iter().any(|s| s.check == "join") => {
                "Prosody ACCEPTED the login and the join".into()
            }
            Answer::Accepted => "Prosody ACCEPTED the login (no room joined)".into(),
            Answer::Refused { step, condition } => {
                format!("Prosody REFUSED at {step}: {condition}")
            }
            Answer::Error(e) => format!("no answer from Prosody: {e}"),
        }
    }
}

/// Logs in as Jitsi's client would and says how each step went.
pub fn login(target: &Target, options: &Options) -> Transcript {
    let mut session = session::Session::new(target, options);
    let answer = session.run();
    Transcript {
        steps: session.steps,
        answer,
        said: session.said,
    }
}
