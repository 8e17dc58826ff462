//! The accept loops around the pure [`handle`](super::handle): [`bind_reuseport`] binds
//! one listener per loop, [`run`] serves a [`KeyStore`] on them until
//! shutdown.
//!
//! Connections are bounded, headers must arrive within a timeout, and
//! shutdown stops accepting, lets in-flight requests finish, then returns.
//!
//! Over the connection limit, a loop never stops accepting: a client is
//! read in a lane of its own ([`OVER_LIMIT`] at a time, 1 s to send its
//! request head; when the lane is full, one there is closed to let the
//! newcomer in: the oldest of the listener with the most there, see
//! `lane`), so no number of silent connections, stalled TLS
//! handshakes or half-sent heads can keep a health check from being read
//! and answered at once, without a slot. Other requests read there wait
//! for a slot ([`WAITING`] at most) or get 503.

use super::config::HttpConfig;
use super::conn::{self, Rewind, SendTimeout};
use super::handler::{self, is_health, Prebuilt};
use super::lane::{OverLane, Ticket};
use super::metrics::{Requests, Route};
use super::service;
use super::store::KeyStore;
use super::tls::TlsState;
use crate::routes::Found;
use crate::token::service::Service;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, error, info, warn};

/// Connections read over the limit at once, at most (a newcomer closes the
/// oldest of them when they are this many). These and the
/// [`WAITING`] ones come out of the file descriptors `serve` keeps free of
/// connections (64), so that rescans can still open files.
pub const OVER_LIMIT: usize = 8;
/// Connections over the limit that asked for a key or a JWKS and wait for a
/// slot, at most; beyond, they are answered 503 with `Retry-After`.
pub const WAITING: usize = 8;
/// Connections over the limit open at once, at most, whatever they are
/// doing: in the lane, [`WAITING`], answered, or closed for a newcomer and
/// not yet gone. More than the lane holds, so a newcomer rarely waits
/// (only until a closed one is gone, or a second at most); few enough to
/// stay inside the file descriptors `serve` keeps free of connections (64).
const OVER_FDS: usize = OVER_LIMIT + WAITING + 8;
/// Connections on the health listener (`--health-listen`) read at once, at
/// most (a newcomer closes the oldest still silent).
const HEALTH_LANE: usize = 4;
/// Connections on the health listener open at once, at most (as
/// [`OVER_FDS`]).
const HEALTH_FDS: usize = 8;
/// The answer on the health listener to anything but a health check.
const NOT_HERE: &[u8] = b"HTTP/1.1 404 Not Found\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 55\r\nConnection: close\r\n\r\n\
    only /healthz and /readyz are answered on this address\n";
/// How long a connection over the limit has to finish its TLS handshake
/// and send its request head.
const OVER_LIMIT_HEAD: Duration = Duration::from_secs(1);
/// The answer to a connection over the limit when [`WAITING`] others
/// wait already, written as is.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 39\r\nConnection: close\r\n\r\n\
    busy: every connection is taken; retry\n";

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
/// `bind_reuseport`), until `shutdown` completes; then stops accepting,
/// waits up to `config.drain_timeout` for open requests, and returns. With
/// `tls`, every connection is HTTPS. On `health` (`--health-listen`), plain
/// HTTP, only `/healthz` and `/readyz` are answered, in a lane of their own.
pub async fn run(
    listeners: Vec<TcpListener>,
    health: Option<TcpListener>,
    store: Arc<KeyStore>,
    config: HttpConfig,
    tls: Option<Arc<TlsState>>,
    service: Option<Arc<Service>>,
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
    let pre = Prebuilt::new(&config).serving(
        service.as_ref().is_some_and(|s| s.mint.is_some()),
        service.as_ref().is_some_and(|s| s.oidc.is_some()),
    );
    let shared = Arc::new(Shared {
        answer: Arc::new(Answer {
            store,
            requests: Requests::with_service(service.clone()),
            pre,
            service,
            body_timeout: config.body_timeout,
        }),
        http,
        http_once,
        graceful: std::sync::Mutex::new(
            Some(hyper_util::server::graceful::GracefulShutdown::new()),
        ),
        limit: Arc::new(Semaphore::new(config.max_connections.max(1))),
        over: Arc::new(OverLane::new(OVER_LIMIT)),
        over_fds: Arc::new(Semaphore::new(OVER_FDS)),
        waiting: Arc::new(Semaphore::new(WAITING)),
        tls,
        config,
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut loops: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|l| tokio::spawn(accept_loop(l, Arc::clone(&shared), stopped.clone())))
        .collect();
    if let Some(h) = health {
        loops.push(tokio::spawn(health_loop(
            h,
            Arc::clone(&shared),
            stopped.clone(),
        )));
    }
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
    over: Arc<OverLane>,
    /// Connections over the limit open at once ([`OVER_FDS`]).
    over_fds: Arc<Semaphore>,
    /// Connections over the limit that asked for something else and wait
    /// for a slot.
    waiting: Arc<Semaphore>,
    tls: Option<Arc<TlsState>>,
    config: HttpConfig,
}

/// What answering a request needs, shared by every connection.
struct Answer {
    store: Arc<KeyStore>,
    requests: Requests,
    pre: Prebuilt,
    /// The token service (`serve --config`), asked before the handler.
    service: Option<Arc<Service>>,
    /// Time a request body has to arrive whole (`--body-timeout`).
    body_timeout: Duration,
}

async fn accept_loop(
    (which, listener): (usize, TcpListener),
    shared: Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let config = &shared.config;
    let mut at_limit_logged = false;
    let mut backoff = Duration::from_millis(5);
    loop {
        // Accept first, then take a slot: with one listener per loop
        // (SO_REUSEPORT), a loop must not sit on a slot while clients queue
        // on another listener. A loop never waits: a client behind silent
        // ones in the accept queue (a health check) must be read at once.
        let (stream, peer) = tokio::select! {
            c = next_client(&listener, &mut backoff, "") => c,
            _ = stopped.changed() => break,
        };
        let lane = match Arc::clone(&shared.limit).try_acquire_owned() {
            Ok(p) => Lane::Slot(p),
            // Every slot taken: read what this client wants first (a
            // health check is answered without a slot), in the lane over
            // the limit, closing its oldest if it is full.
            // Never more than OVER_FDS open over the limit: a newcomer
            // waits until one closed for it is gone (at once) or a slot frees.
            Err(_) => tokio::select! {
                p = Arc::clone(&shared.limit).acquire_owned() => Lane::Slot(p.expect("semaphore never closed")),
                p = Arc::clone(&shared.over_fds).acquire_owned() => {
                    Lane::OverLimit(shared.over.enter(which), p.expect("semaphore never closed"))
                }
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

/// The next client of `listener`. Accept errors (EMFILE and friends) are
/// logged and retried after a pause that doubles up to 1 s, instead of
/// spinning; `which` names the listener in the log line.
async fn next_client(
    listener: &TcpListener,
    backoff: &mut Duration,
    which: &str,
) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(conn) => {
                *backoff = Duration::from_millis(5);
                return conn;
            }
            Err(e) => {
                error!(error = %e, "accept failed{which}; retrying");
                tokio::time::sleep(*backoff).await;
                *backoff = (*backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The loop of the health listener: every connection is read in a lane of
/// its own ([`HEALTH_LANE`], the oldest silent one closed for a newcomer);
/// a health check is answered (then close), anything else gets 404.
async fn health_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let lane = Arc::new(OverLane::new(HEALTH_LANE));
    let fds = Arc::new(Semaphore::new(HEALTH_FDS));
    let mut backoff = Duration::from_millis(5);
    loop {
        let (stream, peer) = tokio::select! {
            c = next_client(&listener, &mut backoff, " on --health-listen") => c,
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let fd = tokio::select! {
            p = Arc::clone(&fds).acquire_owned() => p.expect("semaphore never closed"),
            _ = stopped.changed() => break,
        };
        let ticket = lane.enter(0);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _fd = fd;
            let stream = SendTimeout::new(stream, OVER_LIMIT_HEAD);
            let deadline = tokio::time::Instant::now() + OVER_LIMIT_HEAD;
            health_only(shared, stream, peer, ticket, deadline).await;
        });
    }
}

/// A connection on the health listener: its head read by `deadline`
/// (unless a newcomer closes it first), then a health check answered or
/// a 404.
async fn health_only(
    shared: Arc<Shared>,
    mut io: SendTimeout<tokio::net::TcpStream>,
    peer: std::net::SocketAddr,
    mut ticket: Ticket,
    deadline: tokio::time::Instant,
) {
    let Some(head) = head_in_lane(&mut io, &mut ticket, deadline, peer).await else {
        return;
    };
    drop(ticket);
    let mut io = Rewind::new(head, io);
    let answer = Arc::clone(&shared.answer);
    let health =
        conn::request_line(io.prefix()).is_some_and(|(_, path)| is_health(path, &answer.pre));
    if !health {
        let _ = tokio::time::timeout(
            OVER_LIMIT_HEAD,
            tokio::io::AsyncWriteExt::write_all(&mut io, NOT_HERE),
        )
        .await;
        return;
    }
    if let Some(w) = shared.watcher() {
        serve_connection(shared.http_once.clone(), io, answer, peer, w).await;
    }
}

/// How a connection got in.
enum Lane {
    /// With a slot of `--max-connections`.
    Slot(tokio::sync::OwnedSemaphorePermit),
    /// Over the limit, while its first request head is read.
    OverLimit(Ticket, tokio::sync::OwnedSemaphorePermit),
}

/// Serves one accepted connection: TLS if configured, then HTTP.
async fn connection(
    shared: Arc<Shared>,
    stream: SendTimeout<tokio::net::TcpStream>,
    peer: std::net::SocketAddr,
    lane: Lane,
) {
    let acceptor = shared.tls.as_ref().map(|t| t.acceptor());
    match lane {
        Lane::Slot(permit) => {
            match acceptor {
                None => with_slot(&shared, stream, peer).await,
                Some(acceptor) => {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(shared.config.header_timeout, handshake).await {
                        Ok(Ok(tls_stream)) => with_slot(&shared, tls_stream, peer).await,
                        Ok(Err(e)) => debug!(peer = %peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(peer = %peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        }
        Lane::OverLimit(mut ticket, fd) => {
            // The handshake and the head share one deadline, and a
            // newcomer to a full lane ends either.
            let deadline = tokio::time::Instant::now() + OVER_LIMIT_HEAD;
            match acceptor {
                None => over_limit(shared, stream, peer, (ticket, fd), deadline).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
                    let done = tokio::select! {
                        biased;
                        r = handshake => r,
                        () = ticket.evicted() => {
                            debug!(peer = %peer, "over the connection limit: closed for a newer client (no TLS handshake yet)");
                            return;
                        }
                    };
                    match done {
                        Ok(Ok(tls_stream)) => {
                            over_limit(shared, tls_stream, peer, (ticket, fd), deadline).await;
                        }
                        Ok(Err(e)) => debug!(peer = %peer, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(peer = %peer, "TLS handshake timed out"),
                    }
                }
            }
        }
    }
}

/// HTTP on a connection with a slot, until it closes.
async fn with_slot<I>(shared: &Shared, io: I, peer: std::net::SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if let Some(w) = shared.watcher() {
        serve_connection(shared.http.clone(), io, Arc::clone(&shared.answer), peer, w).await;
    }
}

impl Shared {
    /// A watcher of the graceful shutdown; `None` once shutdown began.
    fn watcher(&self) -> Option<hyper_util::server::graceful::Watcher> {
        self.graceful
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|g| g.watcher()))
    }
}

/// The first request head of a connection in a lane over the limit, read
/// by `deadline`; `None` when the connection is to be closed. A newcomer
/// that takes its place closes it, unless its whole head had come already
/// (unread: under load, its task can be slower than the newcomers): such a
/// client was never silent, and its head is read.
async fn head_in_lane<I>(
    io: &mut I,
    ticket: &mut Ticket,
    deadline: tokio::time::Instant,
    peer: std::net::SocketAddr,
) -> Option<Vec<u8>>
where
    I: tokio::io::AsyncRead + Unpin + conn::HeadArrived,
{
    let mut head = Vec::with_capacity(1024);
    let evicted = tokio::select! {
        // A head read in the same instant wins.
        biased;
        r = tokio::time::timeout_at(deadline, conn::read_head(io, &mut head)) => match r {
            Ok(Ok(())) => false,
            _ => return None,
        },
        () = ticket.evicted() => true,
    };
    if evicted {
        if !io.head_arrived(&head) {
            debug!(peer = %peer, "over the connection limit: closed for a newer client (no request head yet)");
            return None;
        }
        debug!(peer = %peer, "over the connection limit: a newer client took its place, but its whole request head had come");
        let rest = tokio::time::timeout_at(deadline, conn::read_head(io, &mut head)).await;
        if !matches!(rest, Ok(Ok(()))) {
            return None;
        }
    }
    Some(head)
}

/// HTTP on a connection over the limit: its head is read by `deadline`
/// (unless a newcomer closes it first); a health check is answered (one
/// request, then close) and anything else waits for a slot, its head read
/// already.
async fn over_limit<I>(
    shared: Arc<Shared>,
    mut io: I,
    peer: std::net::SocketAddr,
    (mut ticket, fd): (Ticket, tokio::sync::OwnedSemaphorePermit),
    deadline: tokio::time::Instant,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + conn::HeadArrived + 'static,
{
    let Some(head) = head_in_lane(&mut io, &mut ticket, deadline, peer).await else {
        return;
    };
    // A whole head is in: out of the lane, no longer to be closed for another.
    drop(ticket);
    let answer = Arc::clone(&shared.answer);
    let mut io = Rewind::new(head, io);
    let health =
        conn::request_line(io.prefix()).is_some_and(|(_, path)| is_health(path, &answer.pre));
    if health {
        if let Some(w) = shared.watcher() {
            serve_connection(shared.http_once.clone(), io, answer, peer, w).await;
        }
        return;
    }
    let Ok(waiting) = Arc::clone(&shared.waiting).try_acquire_owned() else {
        debug!(peer = %peer, "over the connection limit with too many waiting: 503");
        let _ = tokio::time::timeout(
            OVER_LIMIT_HEAD,
            tokio::io::AsyncWriteExt::write_all(&mut io, BUSY),
        )
        .await;
        shared.answer.requests.record(Route::Unknown, 503);
        return;
    };
    let Ok(slot) = Arc::clone(&shared.limit).acquire_owned().await else {
        return;
    };
    // Counted with the slots from now on.
    drop((waiting, fd));
    with_slot(&shared, io, peer).await;
    drop(slot);
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
        // Matched once, base path included. The token service's routes
        // (`serve --config`) read a body and sign: a future of their own.
        // Every other request is answered now.
        let found = s.pre.routes().find(req.uri().path());
        let service_route = match &found {
            Found::Route(route) if route.is_service() => Some(*route),
            _ => None,
        };
        if let (Some(route), Some(svc)) = (service_route, &s.service) {
            {
                let (svc, s) = (Arc::clone(svc), Arc::clone(s));
                return service::Routed::later(async move {
                    let res =
                        service::answer(svc, Arc::clone(&s.store), route, req, s.body_timeout)
                            .await;
                    let status = res.status().as_u16();
                    s.requests.record(route, status);
                    debug!(peer = %peer, status, route = route.label(), "request");
                    res
                });
            }
        }
        let (res, route) = handler::answer(
            &req,
            found,
            &s.store.load(),
            &s.pre,
            &s.requests,
            s.store.reloads(),
        );
        let status = res.status().as_u16();
        s.requests.record(route, status);
        debug!(peer = %peer, method = %req.method(), path = %req.uri().path(), status, route = route.label(), "request");
        service::Routed::now(res)
    });
    if let Err(e) = watcher
        .watch(http.serve_connection(TokioIo::new(io), service))
        .await
    {
        debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}
