//! The HTTP side: a pure [`handle`] that answers from a [`KeySet`], and
//! [`run`], the accept loop around it.
//!
//! A request is one hash lookup in the current key set and a response built
//! from prebuilt parts; no request ever touches the filesystem. Connections
//! are bounded, headers must arrive within a timeout, and shutdown stops
//! accepting, lets in-flight requests finish, then returns.

use super::body::Body;
use super::conn::{self, Rewind, SendTimeout};
use super::metrics::{Requests, Route};
use super::store::KeyStore;
use super::tls::TlsState;
use crate::keydir::{KeySet, Newest, Scope, Selection};
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, error, info, warn};

/// The JWKS `max-age` by default: Prosody refreshes `cache_keys_url` every
/// `max-age - 60` s, so every 5 minutes.
pub const DEFAULT_JWKS_MAX_AGE: u64 = 360;

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct Config {
    /// `max-age` sent with keys, in seconds.
    pub cache_max_age: u64,
    /// `max-age` sent with the JWKS: Prosody's `cache_keys_url` refresh
    /// runs every `max-age - 60` seconds.
    pub jwks_max_age: u64,
    /// Time a client has to send a complete request head (also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// Open connections at most; further clients wait in the accept queue.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// A response that makes no progress this long is dropped (a client
    /// that stopped reading).
    pub send_timeout: Duration,
    /// Prefix under which every route is mounted (`/keys` -> `/keys/<hex>.pem`).
    pub base_path: String,
    /// Path of the JWKS document.
    pub jwks_path: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cache_max_age: 300,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            drain_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            base_path: String::new(),
            jwks_path: "/.well-known/jwks.json".into(),
        }
    }
}

/// Response parts that depend only on the configuration, built once.
#[derive(Debug, Clone)]
pub struct Prebuilt {
    /// Parts of recently served keys (a memo: answers do not depend on it).
    parts: Arc<super::parts::PartCache>,
    /// Bounded JWKS chosen lately, by set version, scope and query (a memo).
    selections: Arc<std::sync::Mutex<Selections>>,
    cache_control: HeaderValue,
    jwks_cache_control: HeaderValue,
    base_path: String,
    jwks_path: String,
}

/// `/a//b/` -> `a/b/`: no leading slash, single slashes.
fn trim_path(path: &str) -> String {
    normalize(path).trim_end_matches('/').to_owned()
}

impl Prebuilt {
    /// Builds the shared parts for `config`.
    pub fn new(config: &Config) -> Self {
        let max_age = |secs: u64| {
            HeaderValue::try_from(format!("public, max-age={secs}"))
                .unwrap_or(HeaderValue::from_static("public, max-age=300"))
        };
        let (cache_control, jwks_cache_control) =
            (max_age(config.cache_max_age), max_age(config.jwks_max_age));
        let base = trim_path(&config.base_path);
        Prebuilt {
            parts: Arc::default(),
            selections: Arc::default(),
            cache_control,
            jwks_cache_control,
            base_path: if base.is_empty() {
                base
            } else {
                format!("{base}/")
            },
            jwks_path: trim_path(&config.jwks_path),
        }
    }
}

const PEM: HeaderValue = HeaderValue::from_static("application/x-pem-file");
/// Sent with a key whose material changed under its kid while this server
/// ran: when (an HTTP date). A Prosody that fetched the kid through
/// `asap_key_server` before then still holds the old key; `verify`, `login`
/// and `doctor` read it to say so.
pub const KEY_REPLACED: header::HeaderName = header::HeaderName::from_static("asap-key-replaced");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const PROMETHEUS: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::full(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, TEXT);
    res
}

/// Collapses runs of `/` (Prosody sends `//<hex>.pem` when `asap_key_server`
/// ends in a slash) and drops the leading one.
fn normalize(path: &str) -> Cow<'_, str> {
    let trimmed = path.trim_start_matches('/');
    if !trimmed.contains("//") {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110 §13.1.2).
fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(list) = if_none_match.to_str() else {
        return false;
    };
    let ours = etag.as_bytes();
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
}

fn not_found() -> Response<Body> {
    text(
        StatusCode::NOT_FOUND,
        "not found: no key at this path (Prosody: /<sha256(kid) in lowercase hex>.pem, ASAP: /<kid>)\n",
    )
}

/// Whether the request's validators match (`If-None-Match` first, as RFC 9110 says).
fn not_modified<B>(req: &Request<B>, etag: &HeaderValue, modified_secs: u64) -> bool {
    let headers = req.headers();
    match headers.get(header::IF_NONE_MATCH) {
        Some(inm) => etag_matches(inm, etag),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .is_some_and(|since| modified_secs <= since.as_secs()),
    }
}

/// Validators of a cacheable response.
struct Validators {
    etag: HeaderValue,
    last_modified: HeaderValue,
    modified_secs: u64,
}

/// A cacheable response, or a 304 (then `body` is never made).
fn cacheable<B>(
    req: &Request<B>,
    validators: Validators,
    content_type: HeaderValue,
    cache_control: &HeaderValue,
    body: impl FnOnce() -> Body,
) -> Response<Body> {
    let Validators {
        etag,
        last_modified,
        modified_secs,
    } = validators;
    let mut res = if not_modified(req, &etag, modified_secs) {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let mut res = Response::new(body());
        res.headers_mut().insert(header::CONTENT_TYPE, content_type);
        res
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::LAST_MODIFIED, last_modified);
    h.insert(header::CACHE_CONTROL, cache_control.clone());
    res
}

/// The JWKS of `scope`, written from `keys` as it is sent.
fn jwks<B>(req: &Request<B>, keys: &Arc<KeySet>, scope: Scope, pre: &Prebuilt) -> Response<Body> {
    let info = keys.jwks_info(&scope);
    let etag = HeaderValue::try_from(format!("\"{:032x}-{:x}\"", info.digest, info.len))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    let validators = Validators {
        etag,
        last_modified: crate::keydir::http_date(info.modified_secs),
        modified_secs: info.modified_secs,
    };
    cacheable(req, validators, JSON, &pre.jwks_cache_control, || {
        Body::jwks(Arc::clone(keys), scope, info.len)
    })
}

/// Bounded JWKS chosen lately: choosing ranks every issuer's keys, so the
/// few variants Prosodys ask for are kept until the key set changes.
#[derive(Debug, Default)]
struct Selections(std::collections::VecDeque<(u64, Scope, Newest, Arc<Selection>)>);

/// How many bounded JWKS variants are kept.
const SELECTIONS: usize = 16;

impl Selections {
    fn get(&mut self, keys: &KeySet, scope: &Scope, newest: &Newest) -> Arc<Selection> {
        let version = keys.version();
        if let Some((_, _, _, s)) = self
            .0
            .iter()
            .find(|(v, sc, n, _)| *v == version && sc == scope && n == newest)
        {
            return Arc::clone(s);
        }
        let chosen = Arc::new(keys.newest_keys(scope, newest));
        self.0.retain(|(v, ..)| *v == version);
        if self.0.len() >= SELECTIONS {
            self.0.pop_front();
        }
        self.0
            .push_back((version, scope.clone(), newest.clone(), Arc::clone(&chosen)));
        chosen
    }
}

/// The JWKS of `scope` bounded as `newest` says, each variant with its own
/// validators, written from the chosen keys as it is sent.
fn bounded_jwks<B>(
    req: &Request<B>,
    keys: &Arc<KeySet>,
    scope: Scope,
    newest: &Newest,
    pre: &Prebuilt,
) -> Response<Body> {
    let chosen = match pre.selections.lock() {
        Ok(mut memo) => memo.get(keys, &scope, newest),
        Err(_) => Arc::new(keys.newest_keys(&scope, newest)),
    };
    let info = chosen.info;
    let etag = HeaderValue::try_from(format!("\"n{:032x}-{:x}\"", info.digest, info.len))
        .unwrap_or(HeaderValue::from_static("\"0\""));
    let validators = Validators {
        etag,
        last_modified: crate::keydir::http_date(info.modified_secs),
        modified_secs: info.modified_secs,
    };
    cacheable(req, validators, JSON, &pre.jwks_cache_control, || {
        Body::selection(chosen, info.len)
    })
}

/// A JWKS route: the whole JWKS, or the bounded one its query asks for.
fn jwks_route<B>(
    req: &Request<B>,
    keys: &Arc<KeySet>,
    scope: Scope,
    pre: &Prebuilt,
) -> Response<Body> {
    match Newest::from_query(req.uri().query()) {
        Ok(None) => jwks(req, keys, scope, pre),
        Ok(Some(newest)) => bounded_jwks(req, keys, scope, &newest, pre),
        Err(why) => {
            let mut res = Response::new(Body::full(Bytes::from(format!("bad query: {why}\n"))));
            *res.status_mut() = StatusCode::BAD_REQUEST;
            res.headers_mut().insert(header::CONTENT_TYPE, TEXT);
            res
        }
    }
}

/// The folder in `<folder>/<jwks path>`, if `path` is one.
fn jwks_folder<'a>(path: &'a str, pre: &Prebuilt) -> Option<&'a str> {
    let folder = path
        .strip_suffix(pre.jwks_path.as_str())?
        .strip_suffix('/')?;
    crate::kid::validate(folder).ok().map(|()| folder)
}

/// Answers one request from `keys`. Pure: no I/O, no clock. `/metrics`
/// renders `requests` and `reloads`. Returns the response and the route it
/// matched, for the request counters.
pub fn handle<B>(
    req: &Request<B>,
    keys: &Arc<KeySet>,
    pre: &Prebuilt,
    requests: &Requests,
    reloads: &super::store::Reloads,
) -> (Response<Body>, Route) {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        let mut res = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n",
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (res, Route::Unknown);
    }
    let full = normalize(req.uri().path());
    let Some(path) = full.strip_prefix(pre.base_path.as_str()) else {
        return (not_found(), Route::Unknown);
    };
    match path {
        "healthz" => return (text(StatusCode::OK, "ok\n"), Route::Health),
        "readyz" if keys.is_ready() => return (text(StatusCode::OK, "ready\n"), Route::Ready),
        "readyz" => {
            let res = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: first key scan not finished\n",
            );
            return (res, Route::Ready);
        }
        "metrics" => {
            let mut res = Response::new(Body::full(requests.render(keys, reloads)));
            res.headers_mut().insert(header::CONTENT_TYPE, PROMETHEUS);
            return (res, Route::Metrics);
        }
        p if p == pre.jwks_path => return (jwks_route(req, keys, Scope::All, pre), Route::Jwks),
        _ => {}
    }
    match keys.lookup(path) {
        Some((entry, asap)) => {
            let parts = pre.parts.get(entry);
            let validators = Validators {
                etag: parts.etag.clone(),
                last_modified: parts.last_modified.clone(),
                modified_secs: entry.times.modified_secs(),
            };
            let mut res = cacheable(req, validators, PEM, &pre.cache_control, || {
                Body::full(parts.pem.clone())
            });
            if let Some(when) = &parts.replaced {
                res.headers_mut().insert(KEY_REPLACED, when.clone());
            }
            (res, if asap { Route::Asap } else { Route::Prosody })
        }
        None => match jwks_folder(path, pre) {
            Some(folder) => {
                let res = jwks_route(req, keys, Scope::Folder(folder.to_owned()), pre);
                (res, Route::FolderJwks)
            }
            None => (not_found(), Route::Unknown),
        },
    }
}

/// Serves one accepted connection (plain or TLS) until it closes.
async fn serve_connection<I>(
    http: hyper::server::conn::http1::Builder,
    io: I,
    answer: Arc<Answer>,
    peer: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let s = &answer;
        let (res, route) = handle(
            &req,
            &s.store.load(),
            &s.pre,
            &s.requests,
            s.store.reloads(),
        );
        let status = res.status().as_u16();
        s.requests.record(route, status);
        debug!(peer = %peer, method = %req.method(), path = %req.uri().path(), status, route = ?route, "request");
        std::future::ready(Ok::<_, Infallible>(res))
    });
    if let Err(e) = watcher
        .watch(http.serve_connection(TokioIo::new(io), service))
        .await
    {
        debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

/// What answering a request needs, shared by every connection.
struct Answer {
    store: Arc<KeyStore>,
    requests: Requests,
    pre: Prebuilt,
}

/// What every accept loop shares.
struct Shared {
    answer: Arc<Answer>,
    http: hyper::server::conn::http1::Builder,
    /// For one request, then close: health checks answered over the limit.
    http_once: hyper::server::conn::http1::Builder,
    /// Taken out at shutdown; a connection starting after that is dropped.
    graceful: std::sync::Mutex<Option<hyper_util::server::graceful::GracefulShutdown>>,
    limit: Arc<Semaphore>,
    /// Connections accepted over the limit while their first request head
    /// is read (a health check is answered at once, without a slot).
    over: Arc<Semaphore>,
    /// Connections over the limit that asked for something else and wait
    /// for a slot.
    waiting: Arc<Semaphore>,
    tls: Option<Arc<TlsState>>,
    config: Config,
}

/// Connections read over the limit at once, at most. These and the
/// [`WAITING`] ones come out of the file descriptors `serve` keeps free of
/// connections (64), so that rescans can still open files.
pub const OVER_LIMIT: usize = 8;
/// Connections over the limit that asked for a key or a JWKS and wait for a
/// slot, at most; beyond, they are answered 503 with `Retry-After`.
pub const WAITING: usize = 8;
/// How long a connection over the limit has to send its request head.
const OVER_LIMIT_HEAD: Duration = Duration::from_secs(1);

/// Whether `path` (a request target) is `/healthz` or `/readyz`.
fn is_health(path: &str, pre: &Prebuilt) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let path = normalize(path);
    matches!(
        path.strip_prefix(pre.base_path.as_str()),
        Some("healthz" | "readyz")
    )
}

/// Binds `count` listeners on `addr` with `SO_REUSEPORT`, so the kernel
/// spreads new connections over one accept loop each (port 0: the first
/// listener picks the port, the others share it).
pub fn bind_reuseport(
    addr: std::net::SocketAddr,
    count: usize,
) -> std::io::Result<Vec<TcpListener>> {
    // A plain bind first: SO_REUSEPORT would otherwise let a second server
    // (same user) silently share the port and answer from other keys.
    let probe = std::net::TcpListener::bind(addr)?;
    let mut addr = probe.local_addr()?;
    drop(probe);
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(4096)?;
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves `store` on `listeners`, one accept loop each (see
/// [`bind_reuseport`]), until `shutdown` completes; then stops accepting,
/// waits up to `config.drain_timeout` for open requests, and returns. With
/// `tls`, every connection is HTTPS.
pub async fn run(
    listeners: Vec<TcpListener>,
    store: Arc<KeyStore>,
    config: Config,
    tls: Option<Arc<TlsState>>,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(16 * 1024);
    let mut http_once = http.clone();
    http_once
        .keep_alive(false)
        .header_read_timeout(OVER_LIMIT_HEAD);
    let shared = Arc::new(Shared {
        answer: Arc::new(Answer {
            store,
            requests: Requests::default(),
            pre: Prebuilt::new(&config),
        }),
        http,
        http_once,
        graceful: std::sync::Mutex::new(
            Some(hyper_util::server::graceful::GracefulShutdown::new()),
        ),
        limit: Arc::new(Semaphore::new(config.max_connections.max(1))),
        over: Arc::new(Semaphore::new(OVER_LIMIT)),
        waiting: Arc::new(Semaphore::new(WAITING)),
        tls,
        config,
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, Arc::clone(&shared), stopped.clone())))
        .collect();
    shutdown.await;
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    let Some(graceful) = shared.graceful.lock().ok().and_then(|mut g| g.take()) else {
        error!("shutdown ran twice");
        return;
    };
    info!(
        open_connections = graceful.count(),
        "shutting down: no longer accepting, finishing open requests"
    );
    tokio::select! {
        () = graceful.shutdown() => info!("all connections closed"),
        () = tokio::time::sleep(shared.config.drain_timeout) => warn!("drain timeout reached; closing remaining connections"),
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let config = &shared.config;
    let mut at_limit_logged = false;
    let mut backoff = Duration::from_millis(5);
    loop {
        // Accept first, then take a slot: with one listener per loop
        // (SO_REUSEPORT), a loop must not sit on a slot while clients queue
        // on another listener. A loop waiting for a slot accepts nothing more.
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => { backoff = Duration::from_millis(5); conn }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    error!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let lane = match Arc::clone(&shared.limit).try_acquire_owned() {
            Ok(p) => Lane::Slot(p),
            // Every slot taken: read what this client wants first (a
            // health check is answered without a slot) unless too many
            // are being read already; then wait for a slot, as before.
            Err(_) => tokio::select! {
                p = Arc::clone(&shared.limit).acquire_owned() => Lane::Slot(p.expect("semaphore never closed")),
                p = Arc::clone(&shared.over).acquire_owned() => Lane::OverLimit(p.expect("semaphore never closed")),
                _ = stopped.changed() => break,
            },
        };
        if shared.limit.available_permits() == 0 && !at_limit_logged {
            warn!(max_connections = config.max_connections,
                "connection limit reached; new clients wait until a connection closes (raise --max-connections); health checks are still answered");
            at_limit_logged = true;
        } else if shared.limit.available_permits() > config.max_connections / 2 {
            at_limit_logged = false;
        }
        let _ = stream.set_nodelay(true);
        let stream = SendTimeout::new(stream, config.send_timeout);
        tokio::spawn(connection(Arc::clone(&shared), stream, peer, lane));
    }
}

/// How a connection got in.
enum Lane {
    /// With a slot of `--max-connections`.
    Slot(tokio::sync::OwnedSemaphorePermit),
    /// Over the limit, while its first request head is read.
    OverLimit(tokio::sync::OwnedSemaphorePermit),
}

/// Serves one accepted connection: TLS if configured, then HTTP.
async fn connection(
    shared: Arc<Shared>,
    stream: SendTimeout<tokio::net::TcpStream>,
    peer: std::net::SocketAddr,
    lane: Lane,
) {
    let handshake_timeout = match lane {
        Lane::Slot(_) => shared.config.header_timeout,
        Lane::OverLimit(_) => OVER_LIMIT_HEAD,
    };
    match shared.tls.as_ref().map(|t| t.acceptor()) {
        None => over_http(shared, stream, peer, lane).await,
        Some(acceptor) => {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => over_http(shared, tls_stream, peer, lane).await,
                Ok(Err(e)) => debug!(peer = %peer, error = %e, "TLS handshake failed"),
                Err(_) => debug!(peer = %peer, "TLS handshake timed out"),
            }
        }
    }
}

/// HTTP on a connection: with a slot, as usual; over the limit, a health
/// check is answered (one request, then close) and anything else waits
/// for a slot, its head read already.
async fn over_http<I>(shared: Arc<Shared>, mut io: I, peer: std::net::SocketAddr, lane: Lane)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let answer = Arc::clone(&shared.answer);
    let watcher = || {
        shared
            .graceful
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|g| g.watcher()))
    };
    let over = match lane {
        Lane::Slot(permit) => {
            if let Some(w) = watcher() {
                serve_connection(shared.http.clone(), io, answer, peer, w).await;
            }
            drop(permit);
            return;
        }
        Lane::OverLimit(over) => over,
    };
    let head = match tokio::time::timeout(OVER_LIMIT_HEAD, conn::read_head(&mut io)).await {
        Ok(Ok(head)) => head,
        _ => return,
    };
    let mut io = Rewind::new(head, io);
    let health =
        conn::request_line(io.prefix()).is_some_and(|(_, path)| is_health(path, &answer.pre));
    if health {
        if let Some(w) = watcher() {
            serve_connection(shared.http_once.clone(), io, answer, peer, w).await;
        }
        drop(over);
        return;
    }
    let Ok(waiting) = Arc::clone(&shared.waiting).try_acquire_owned() else {
        debug!(peer = %peer, "over the connection limit with too many waiting: 503");
        let busy = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 39\r\nConnection: close\r\n\r\nbusy: every connection is taken; retry\n";
        let _ = tokio::time::timeout(
            OVER_LIMIT_HEAD,
            tokio::io::AsyncWriteExt::write_all(&mut io, busy),
        )
        .await;
        shared.answer.requests.record(Route::Unknown, 503);
        return;
    };
    drop(over);
    let Ok(slot) = Arc::clone(&shared.limit).acquire_owned().await else {
        return;
    };
    drop(waiting);
    if let Some(w) = watcher() {
        serve_connection(shared.http.clone(), io, answer, peer, w).await;
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_collapse() {
        assert_eq!(normalize("/abc.pem"), "abc.pem");
        assert_eq!(normalize("//abc.pem"), "abc.pem");
        assert_eq!(normalize("/keys//x///y.pem"), "keys/x/y.pem");
    }

    #[test]
    fn etags_compare_weakly_and_in_lists() {
        let ours = HeaderValue::from_static("\"abc\"");
        for hit in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(etag_matches(&HeaderValue::from_static(hit), &ours), "{hit}");
        }
        assert!(!etag_matches(&HeaderValue::from_static("\"abd\""), &ours));
    }

    #[test]
    fn empty_set_is_not_ready_and_methods_are_limited() {
        let set = Arc::new(KeySet::empty());
        let pre = Prebuilt::new(&Config::default());
        let (requests, reloads) = (Requests::default(), crate::serve::store::Reloads::default());
        let req = |m: Method, p: &str| Request::builder().method(m).uri(p).body(()).unwrap();
        let handle = |r: &Request<()>, set: &Arc<KeySet>, pre: &Prebuilt| {
            handle(r, set, pre, &requests, &reloads).0
        };
        assert_eq!(
            handle(&req(Method::GET, "/readyz"), &set, &pre).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            handle(&req(Method::GET, "/healthz"), &set, &pre).status(),
            StatusCode::OK
        );
        assert_eq!(
            handle(&req(Method::GET, "/x.pem"), &set, &pre).status(),
            StatusCode::NOT_FOUND
        );
        let res = handle(&req(Method::POST, "/x.pem"), &set, &pre);
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
    }
}
