//! The two ways Jitsi's client talks XMPP to Prosody: WebSocket (RFC 7395,
//! tungstenite over our TCP/rustls stream) and BOSH (XEP-0124/0206, POSTs
//! with ureq). Both carry whole stanzas.
//!
//! Every operation takes the deadline of the login step it belongs to
//! (`--timeout` from the step's start), and no byte is waited for past it:
//! a server that answers one byte at a time, or announces a long frame and
//! trickles it, ends the step at its deadline as a silent one does. A
//! timeout per read would not: each byte would restart it.

use super::xml::{self, Elem};
use crate::check::fetch;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of one frame or BOSH response we accept.
const MAX_MESSAGE: usize = 1 << 20;

/// Why talking to the server failed (not Prosody refusing something).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No TCP connection (refused, unresolvable, unreachable).
    Unreachable(String),
    /// TLS handshake or certificate.
    Tls(String),
    /// An HTTP answer where the protocol should start (a redirect, 404, ...).
    Http {
        /// The status.
        status: u16,
        /// `Location`, for redirects.
        location: Option<String>,
    },
    /// Not XMPP (garbage, a closed connection).
    Protocol(String),
    /// No complete answer within the step's time (`--timeout`).
    Timeout(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(e) => write!(f, "cannot connect: {e}"),
            Failure::Tls(e) => write!(f, "TLS failed: {e}"),
            Failure::Http {
                status,
                location: Some(l),
            } => write!(f, "HTTP {status}, a redirect to {l}"),
            Failure::Http { status, .. } => write!(f, "HTTP {status} instead of XMPP"),
            Failure::Protocol(e) => write!(f, "not XMPP: {e}"),
            Failure::Timeout(d) => write!(
                f,
                "no complete answer within {} (--timeout, the limit of the whole step)",
                humantime::format_duration(*d)
            ),
        }
    }
}

/// A stanza stream to Prosody. `deadline`: the end of the step.
pub trait Transport {
    /// Opens (or restarts) the XMPP stream and returns what came with it
    /// (`features`).
    fn open(&mut self, domain: &str, deadline: Instant) -> Result<Vec<Elem>, Failure>;
    /// Sends stanzas (serialized XML).
    fn send(&mut self, stanzas: &str, deadline: Instant) -> Result<(), Failure>;
    /// What arrived, waiting at most until `deadline`; empty at the deadline.
    fn recv(&mut self, deadline: Instant) -> Result<Vec<Elem>, Failure>;
    /// Ends the stream politely, waiting a moment at most.
    fn close(&mut self);
}

/// Waits until `deadline` for a stanza that `want` accepts; others are dropped.
pub fn wait_for(
    t: &mut dyn Transport,
    deadline: Instant,
    want: impl Fn(&Elem) -> bool,
) -> Result<Option<Elem>, Failure> {
    loop {
        for elem in t.recv(deadline)? {
            if want(&elem) {
                return Ok(Some(elem));
            }
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
    }
}

/// The longest `close` waits for a server that does not read.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A TCP stream that waits for nothing past `deadline`: each read or write
/// may block only for what is left, and none starts after it.
struct Timed {
    tcp: TcpStream,
    deadline: Instant,
}

impl Timed {
    fn left(&self) -> std::io::Result<Duration> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the step's deadline passed",
            )),
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

enum Stream {
    Plain(Timed),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Timed>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    /// Bounds every read and write from now on by `deadline`.
    fn until(&mut self, deadline: Instant) {
        match self {
            Stream::Plain(s) => s.deadline = deadline,
            Stream::Tls(s) => s.get_mut().deadline = deadline,
        }
    }
}

/// XMPP over WebSocket.
pub struct WebSocket {
    socket: tungstenite::WebSocket<Stream>,
    timeout: Duration,
}

/// What tungstenite may buffer: Prosody's stanzas are small, and a message
/// is never read past this (its defaults are 16 MiB a frame, 64 MiB a
/// message).
fn websocket_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// A tungstenite error as a [`Failure`]; `timeout` for the message.
fn ws_failure(e: tungstenite::Error, timeout: Duration) -> Failure {
    match e {
        tungstenite::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Failure::Timeout(timeout)
        }
        tungstenite::Error::Capacity(c) => {
            Failure::Protocol(format!("{c} (the limit is {} MiB)", MAX_MESSAGE >> 20))
        }
        other => Failure::Protocol(other.to_string()),
    }
}

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

impl WebSocket {
    /// Connects to `url` (ws:// or wss://, with the `?token=` query) and
    /// completes the WebSocket handshake with the `xmpp` subprotocol, all
    /// by `deadline`.
    pub fn connect(
        url: &str,
        options: &fetch::Options,
        deadline: Instant,
    ) -> Result<WebSocket, Failure> {
        use tungstenite::client::IntoClientRequest as _;
        let mut request = url
            .into_client_request()
            .map_err(|e| Failure::Protocol(format!("{url:?} is no WebSocket URL: {e}")))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            tungstenite::http::HeaderValue::from_static("xmpp"),
        );
        let uri = request.uri().clone();
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(Failure::Protocol(format!("{url:?}: use ws:// or wss://"))),
        };
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = Timed {
            tcp: connect_tcp(&host, port, deadline, options.timeout)?,
            deadline,
        };
        let stream = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| Failure::Tls(format!("bad host name {host}: {e}")))?;
            let config =
                fetch::rustls_client_config(options).map_err(|e| Failure::Tls(e.to_string()))?;
            let conn = rustls::ClientConnection::new(Arc::new(config), name)
                .map_err(|e| Failure::Tls(e.to_string()))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let handshake =
            tungstenite::client::client_with_config(request, stream, Some(websocket_config()));
        let (socket, _) = handshake.map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(res)) => Failure::Http {
                status: res.status().as_u16(),
                location: res
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            },
            tungstenite::HandshakeError::Failure(tungstenite::Error::Io(io))
                if io.get_ref().is_some_and(|i| i.is::<rustls::Error>()) =>
            {
                Failure::Tls(io.to_string())
            }
            tungstenite::HandshakeError::Failure(tungstenite::Error::Io(io))
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Failure::Timeout(options.timeout)
            }
            // The socket's read timeout ran out mid-handshake.
            tungstenite::HandshakeError::Interrupted(_) => Failure::Timeout(options.timeout),
            other => Failure::Protocol(other.to_string()),
        })?;
        Ok(WebSocket {
            socket,
            timeout: options.timeout,
        })
    }
}

/// A TCP connection by `deadline` (`timeout` names it in a failure).
fn connect_tcp(
    host: &str,
    port: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream, Failure> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Failure::Unreachable(format!("{host}:{port}: {e}")))?
        .collect();
    let mut last = format!("{host}:{port}: no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Timeout(timeout));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(Failure::Unreachable(last))
}

impl Transport for WebSocket {
    fn open(&mut self, domain: &str, deadline: Instant) -> Result<Vec<Elem>, Failure> {
        self.send(
            &format!(
                "<open xmlns='{FRAMING}' to='{}' version='1.0'/>",
                xml::escape(domain)
            ),
            deadline,
        )?;
        let mut got = Vec::new();
        while Instant::now() < deadline {
            for elem in self.recv(deadline)? {
                let done = elem.name == "features";
                got.push(elem);
                if done {
                    return Ok(got);
                }
            }
        }
        Err(Failure::Timeout(self.timeout))
    }

    fn send(&mut self, stanzas: &str, deadline: Instant) -> Result<(), Failure> {
        self.socket.get_mut().until(deadline);
        self.socket
            .send(tungstenite::Message::text(stanzas))
            .map_err(|e| ws_failure(e, self.timeout))
    }

    fn recv(&mut self, deadline: Instant) -> Result<Vec<Elem>, Failure> {
        if Instant::now() >= deadline {
            return Ok(Vec::new());
        }
        self.socket.get_mut().until(deadline);
        match self.socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let elems = xml::parse(&text).map_err(Failure::Protocol)?;
                if elems.iter().any(|e| e.name == "close") {
                    return Err(Failure::Protocol("Prosody closed the stream".into()));
                }
                Ok(elems)
            }
            Ok(tungstenite::Message::Close(_)) => {
                Err(Failure::Protocol("Prosody closed the WebSocket".into()))
            }
            Ok(_) => Ok(Vec::new()),
            // The deadline: nothing (whole) arrived in time.
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(ws_failure(e, self.timeout)),
        }
    }

    fn close(&mut self) {
        let deadline = Instant::now() + self.timeout.min(CLOSE_WAIT);
        let _ = self.send(&format!("<close xmlns='{FRAMING}'/>"), deadline);
        let _ = self.socket.close(None);
    }
}

/// XMPP over BOSH.
pub struct Bosh {
    agent: ureq::Agent,
    url: String,
    rid: u64,
    sid: Option<String>,
    timeout: Duration,
    pending: Vec<Elem>,
}

const HTTPBIND: &str = "http://jabber.org/protocol/httpbind";

impl Bosh {
    /// A BOSH client for `url` (with the `?token=` query); nothing is sent yet.
    pub fn new(url: &str, options: &fetch::Options) -> Result<Bosh, Failure> {
        let agent = fetch::agent(options).map_err(|e| Failure::Tls(e.to_string()))?;
        let mut seed = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut seed);
        Ok(Bosh {
            agent,
            url: url.to_owned(),
            rid: 1_000_000 + u64::from(u32::from_le_bytes(seed) >> 4),
            sid: None,
            timeout: options.timeout,
            pending: Vec::new(),
        })
    }

    /// POSTs one `<body>` and returns its children, all by `deadline`
    /// (ureq's global timeout covers the request and reading the answer).
    fn post(
        &mut self,
        attrs: &str,
        children: &str,
        deadline: Instant,
    ) -> Result<Vec<Elem>, Failure> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Timeout(self.timeout));
        }
        self.rid += 1;
        let sid = self
            .sid
            .as_ref()
            .map(|s| format!(" sid='{}'", xml::escape(s)))
            .unwrap_or_default();
        let body = format!(
            "<body rid='{}'{sid} xmlns='{HTTPBIND}'{attrs}>{children}</body>",
            self.rid
        );
        let mut res = self
            .agent
            .post(&self.url)
            .config()
            .timeout_global(Some(left))
            .build()
            .header("Content-Type", "text/xml; charset=utf-8")
            .send(body.as_str())
            .map_err(|e| match fetch::classify(&self.url, self.timeout, e) {
                fetch::FetchError::Timeout(d) => Failure::Timeout(d),
                fetch::FetchError::Tls { reason, .. } => Failure::Tls(reason),
                fetch::FetchError::Connect { addr, reason } => {
                    Failure::Unreachable(format!("{addr}: {reason}"))
                }
                other => Failure::Protocol(other.to_string()),
            })?;
        let status = res.status().as_u16();
        if status != 200 {
            return Err(Failure::Http {
                status,
                location: res
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            });
        }
        let text = res
            .body_mut()
            .with_config()
            .limit(MAX_MESSAGE as u64)
            .read_to_string()
            .map_err(|e| match fetch::classify(&self.url, self.timeout, e) {
                fetch::FetchError::Timeout(d) => Failure::Timeout(d),
                other => Failure::Protocol(other.to_string()),
            })?;
        let mut elems = xml::parse(&text).map_err(Failure::Protocol)?;
        let Some(body) = elems.pop().filter(|b| b.name == "body") else {
            return Err(Failure::Protocol(format!(
                "no BOSH <body> in the answer: {}",
                text.chars().take(80).collect::<String>()
            )));
        };
        if body.attr("type") == Some("terminate") {
            return Err(Failure::Protocol(format!(
                "Prosody ended the BOSH session ({})",
                body.attr("condition").unwrap_or("no condition")
            )));
        }
        if let Some(sid) = body.attr("sid") {
            self.sid = Some(sid.to_owned());
        }
        Ok(body.children)
    }
}

impl Transport for Bosh {
    fn open(&mut self, domain: &str, deadline: Instant) -> Result<Vec<Elem>, Failure> {
        let domain = xml::escape(domain);
        // Prosody holds an empty poll up to `wait`: well inside our timeout.
        let wait = (self.timeout.as_secs() / 2).clamp(1, 60);
        let attrs = if self.sid.is_none() {
            format!(
                " to='{domain}' xml:lang='en' wait='{wait}' hold='1' content='text/xml; charset=utf-8' ver='1.6' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'"
            )
        } else {
            format!(" to='{domain}' xml:lang='en' xmpp:restart='true' xmlns:xmpp='urn:xmpp:xbosh'")
        };
        let mut got = self.post(&attrs, "", deadline)?;
        while !got.iter().any(|e| e.name == "features") {
            got.extend(self.post("", "", deadline)?);
        }
        Ok(got)
    }

    fn send(&mut self, stanzas: &str, deadline: Instant) -> Result<(), Failure> {
        let got = self.post("", stanzas, deadline)?;
        self.pending.extend(got);
        Ok(())
    }

    fn recv(&mut self, deadline: Instant) -> Result<Vec<Elem>, Failure> {
        if !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        if Instant::now() >= deadline {
            return Ok(Vec::new());
        }
        match self.post("", "", deadline) {
            // The deadline: nothing arrived in time.
            Err(Failure::Timeout(_)) => Ok(Vec::new()),
            other => other,
        }
    }

    fn close(&mut self) {
        let _ = self.post(
            " type='terminate'",
            "<presence type='unavailable' xmlns='jabber:client'/>",
            Instant::now() + self.timeout.min(CLOSE_WAIT),
        );
    }
}
