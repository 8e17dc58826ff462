//! Fetching a key the way Prosody's token plugin does: `GET base + "/" +
//! sha256hex(kid) + ".pem"` (plain concatenation, so a trailing slash in the
//! base gives `//`), no redirects, and only status 200 or 204 counts; the
//! body is used as is, whatever its Content-Type.
//!
//! The HTTP work is ureq's (blocking, which fits the one-shot `verify`,
//! `doctor` and `probe`), over rustls with the aws-lc provider and the
//! system's CA store plus `--ca-file` (built in `keys::trust`). What is
//! ours is only what Prosody does differently from a browser: the URL is
//! built by concatenation and sent as is, redirects are returned rather than followed, every status is
//! an answer rather than an error, and the body is neither decompressed nor
//! decoded.

use crate::keys::trust;
use crate::kid;
use std::path::PathBuf;
use std::time::Duration;
use ureq::tls::TlsConfig;

/// Most of a response body we read.
const MAX_RESPONSE: u64 = 1024 * 1024;

/// What a fetch returned.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// `Location`, for redirects (which Prosody does not follow).
    pub location: Option<String>,
    /// `Asap-Key-Replaced` from asap-keyserver: when the kid's key material
    /// last changed while that server ran.
    pub key_replaced: Option<String>,
    /// The body, as sent (de-chunked, never decompressed).
    pub body: Vec<u8>,
}

/// Why a fetch failed before any HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not an http(s) URL we can use, or a `--ca-file` we cannot use.
    #[error("{0}")]
    BadUrl(String),
    /// Name resolution or TCP connect failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// host:port
        addr: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake or certificate check failed.
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error(
        "no answer within {0:?} (Prosody waits 30 s per attempt, 4 attempts, blocking that login)"
    )]
    Timeout(Duration),
    /// Not an HTTP response, or one we do not read.
    #[error("not an HTTP response: {0}")]
    Protocol(String),
}

/// Fetch settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connect and read timeout.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM), beside the system store.
    pub ca_file: Option<PathBuf>,
}

impl Options {
    /// These options with the timeout cut to what is left before
    /// `deadline`; `None` once it has passed.
    pub fn within(&self, deadline: std::time::Instant) -> Option<Options> {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        (!left.is_zero()).then(|| Options {
            timeout: self.timeout.min(left),
            ca_file: self.ca_file.clone(),
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// `max-age` of a `Cache-Control` value, in seconds.
pub fn max_age(cache_control: &str) -> Option<u64> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().trim_matches('"').parse().ok())?
    })
}

/// How often Prosody refreshes `cache_keys_url`, in seconds, given the
/// response's `Cache-Control`: `max-age - 60` when `max-age` is over 60,
/// `max-age` itself otherwise, and 6 hours without one.
pub fn prosody_refresh_secs(cache_control: Option<&str>) -> u64 {
    match cache_control.and_then(max_age) {
        Some(age) if age > 60 => age - 60,
        Some(age) => age,
        None => 6 * 3600,
    }
}

/// The URL Prosody requests for `kid` with `asap_key_server = base`.
pub fn key_url(base: &str, kid: &str) -> String {
    format!("{base}/{}", kid::prosody_path(kid))
}

/// The system's CA certificates and `--ca-file` (one trust store for the
/// checks and the token service: [`crate::keys::trust`]).
fn tls_config(opts: &Options) -> Result<TlsConfig, FetchError> {
    trust::tls_config(opts.ca_file.as_deref())
        .map_err(|e| FetchError::BadUrl(format!("--ca-file {e}")))
}

/// A rustls client configuration with the same trust as [`get`]: the
/// system's CAs and `--ca-file` (for `login`'s `wss://`).
pub fn rustls_client_config(opts: &Options) -> Result<rustls::ClientConfig, FetchError> {
    trust::rustls_client_config(opts.ca_file.as_deref())
        .map_err(|e| FetchError::BadUrl(format!("--ca-file {e}")))
}

/// An agent that behaves like Prosody's `net.http`: one attempt, no
/// redirects, any status is an answer, the body untouched.
pub(crate) fn agent(opts: &Options) -> Result<ureq::Agent, FetchError> {
    let tls = tls_config(opts)?;
    let config = ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .timeout_global(Some(opts.timeout))
        .user_agent("asap-keyserver (checking as Prosody would)")
        .tls_config(tls)
        .build();
    Ok(config.into())
}

/// The agent [`open`] uses: one per `--ca-file` for the whole process,
/// with the timeout set per request. Loading the system's CAs costs
/// milliseconds, and `doctor --url` fetches every kid (10,000 of them, on
/// a large key directory); the agent also keeps connections to the key
/// server alive between fetches, as a browser would (Prosody's fetches are
/// one per kid, and what they get is the same).
fn shared_agent(opts: &Options) -> Result<ureq::Agent, FetchError> {
    static AGENTS: std::sync::Mutex<Vec<(Option<PathBuf>, ureq::Agent)>> =
        std::sync::Mutex::new(Vec::new());
    let mut agents = AGENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, agent)) = agents.iter().find(|(ca, _)| *ca == opts.ca_file) {
        return Ok(agent.clone());
    }
    let agent = agent(opts)?;
    agents.push((opts.ca_file.clone(), agent.clone()));
    Ok(agent)
}

/// `host:port` of `url`, for messages.
fn authority(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

fn host(url: &str) -> String {
    let a = authority(url);
    match a.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h.to_owned(),
        _ => a,
    }
}

/// Names what went wrong, in the terms of [`FetchError`].
pub(crate) fn classify(url: &str, timeout: Duration, e: ureq::Error) -> FetchError {
    use ureq::Error as U;
    match e {
        U::Timeout(_) => FetchError::Timeout(timeout),
        U::HostNotFound => FetchError::Connect {
            addr: authority(url),
            reason: "host not found".into(),
        },
        U::ConnectionFailed => FetchError::Connect {
            addr: authority(url),
            reason: "connection failed".into(),
        },
        U::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => FetchError::Timeout(timeout),
        // ureq hands rustls' verdicts on as I/O errors.
        U::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            FetchError::Tls {
                host: host(url),
                reason: io.to_string(),
            }
        }
        U::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            FetchError::Connect {
                addr: authority(url),
                reason: io.to_string(),
            }
        }
        U::Rustls(r) => FetchError::Tls {
            host: host(url),
            reason: r.to_string(),
        },
        U::Tls(r) => FetchError::Tls {
            host: host(url),
            reason: r.to_owned(),
        },
        U::BadUri(r) => FetchError::BadUrl(format!("{url:?}: {r}")),
        U::Http(r) => FetchError::BadUrl(format!("{url:?}: {r}")),
        other => FetchError::Protocol(other.to_string()),
    }
}

/// A response whose head is read and whose body is still on the wire,
/// for a caller that reads the body as a stream (the JWKS, which may be
/// many megabytes).
pub struct Streamed {
    /// The URL requested.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// `Location`, for redirects (which Prosody does not follow).
    pub location: Option<String>,
    /// `Cache-Control` (Prosody times its `cache_keys_url` refresh by it).
    pub cache_control: Option<String>,
    /// `Asap-Key-Replaced` from asap-keyserver.
    pub key_replaced: Option<String>,
    /// `Content-Length`, when the server sent one.
    pub content_length: Option<u64>,
    timeout: Duration,
    body: ureq::Body,
}

impl Streamed {
    /// The body as sent (de-chunked, never decompressed), unlimited: the
    /// caller caps what it reads.
    pub fn reader(&mut self) -> impl std::io::Read + '_ {
        self.body.as_reader()
    }

    /// Names an I/O error met while reading the body, in the terms of
    /// [`FetchError`] (a timeout, a connection reset, a broken chunk).
    pub fn error(&self, e: std::io::Error) -> FetchError {
        classify_io(&self.url, self.timeout, e)
    }
}

/// `GET url` once, as Prosody would (no redirects followed), up to the end
/// of the head; the body is left to read.
pub fn open(url: &str, opts: &Options) -> Result<Streamed, FetchError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(FetchError::BadUrl(format!(
            "{url:?} is not an http:// or https:// URL"
        )));
    }
    let res = shared_agent(opts)?
        .get(url)
        .config()
        .timeout_global(Some(opts.timeout))
        .build()
        .call()
        .map_err(|e| classify(url, opts.timeout, e))?;
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (location, cache_control) = (header("location"), header("cache-control"));
    let key_replaced = header(crate::serve::handler::KEY_REPLACED.as_str());
    let content_length = res.body().content_length();
    Ok(Streamed {
        url: url.to_owned(),
        status,
        location,
        cache_control,
        key_replaced,
        content_length,
        timeout: opts.timeout,
        body: res.into_body(),
    })
}

/// An I/O error from a body reader: ureq hands its own errors (a timeout
/// among them) on inside `std::io::Error`.
fn classify_io(url: &str, timeout: Duration, e: std::io::Error) -> FetchError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return FetchError::Timeout(timeout);
    }
    if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
        if let Some(Ok(inner)) = e.into_inner().map(|b| b.downcast::<ureq::Error>()) {
            return classify(url, timeout, *inner);
        }
        return FetchError::Protocol("unreadable body".into());
    }
    classify(url, timeout, ureq::Error::Io(e))
}

/// `GET url` once, as Prosody would: no redirects followed; a body over
/// 1 MiB is an error (a key is a few hundred bytes).
pub fn get(url: &str, opts: &Options) -> Result<Fetched, FetchError> {
    let mut r = open(url, opts)?;
    let body = r
        .body
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_vec()
        .map_err(|e| classify(url, opts.timeout, e))?;
    Ok(Fetched {
        status: r.status,
        location: r.location,
        key_replaced: r.key_replaced,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};

    #[test]
    fn urls_join_like_prosody() {
        let hex = kid::sha256_hex("jitsi/k");
        assert_eq!(
            key_url("https://keys.example.com", "jitsi/k"),
            format!("https://keys.example.com/{hex}.pem")
        );
        assert_eq!(
            key_url("http://h/keys/", "jitsi/k"),
            format!("http://h/keys//{hex}.pem")
        );
        assert!(get("file:///etc/keys", &Options::default()).is_err());
        assert_eq!(authority("https://[::1]:8443/a/b.pem"), "[::1]:8443");
        assert_eq!(host("http://keys:80/x"), "keys");
    }

    #[test]
    fn refresh_follows_max_age_as_prosody_does() {
        assert_eq!(max_age("public, max-age=360"), Some(360));
        assert_eq!(max_age("no-store"), None);
        assert_eq!(prosody_refresh_secs(Some("public, max-age=360")), 300);
        assert_eq!(prosody_refresh_secs(Some("max-age=5")), 5);
        assert_eq!(prosody_refresh_secs(None), 21_600);
    }

    /// A one-shot HTTP/1.1 server on 127.0.0.1 that records the request
    /// line and answers with `response`.
    fn answer_once(response: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            stream.write_all(response).unwrap();
            first
        });
        (base, handle)
    }

    #[test]
    fn the_path_is_sent_as_built_and_redirects_are_answers() {
        let (base, seen) =
            answer_once(b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nContent-Length: 0\r\n\r\n");
        let url = key_url(&format!("{base}/keys/"), "jitsi/k");
        let r = get(&url, &Options::default()).unwrap();
        assert_eq!((r.status, r.location.as_deref()), (301, Some("https://x/")));
        let line = seen.join().unwrap();
        assert_eq!(
            line.trim_end(),
            format!("GET /keys//{}.pem HTTP/1.1", kid::sha256_hex("jitsi/k"))
        );
    }

    #[test]
    fn chunked_bodies_arrive_whole_and_errors_have_status() {
        let (base, _seen) = answer_once(
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        let r = get(&format!("{base}/x.pem"), &Options::default()).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (500, &b"abcde"[..]));
    }

    #[test]
    fn a_server_that_keeps_the_connection_open_is_read_to_content_length() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap();
            // Keep the connection open until the client is done.
            let _ = held.recv();
        });
        let opts = Options {
            timeout: Duration::from_secs(5),
            ..Options::default()
        };
        let r = get(&format!("{base}/k.pem"), &opts).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        drop(hold);
        server.join().unwrap();
    }

    #[test]
    fn refused_connections_and_garbage_are_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = get(&format!("http://127.0.0.1:{port}/x"), &Options::default()).unwrap_err();
        assert!(matches!(e, FetchError::Connect { .. }), "{e:?}");
        let (base, _seen) = answer_once(b"garbage\r\n\r\n");
        let e = get(&format!("{base}/x"), &Options::default()).unwrap_err();
        assert!(matches!(e, FetchError::Protocol(_)), "{e:?}");
    }
}
