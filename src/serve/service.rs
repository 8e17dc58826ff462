//! The token service's routes (`serve --config`): `/mint` and
//! `/oidc/auth`, `/oidc/callback`, `/oidc/logout` ([`Service::routes`]),
//! answered before the key routes of [`super::handler`]; every other path
//! is a key route, and a kid at one of these paths is skipped at scan
//! time with the reason (`Scanner::reserving_route`).
//!
//! This is the async glue around [`crate::token::service`], which is pure:
//! here a request body is read (at most [`MAX_BODY`] bytes, so a client
//! cannot make the server hold more, and within `--body-timeout`, so a
//! client that trickles it cannot hold a connection; `POST /mint` is
//! authenticated from its headers before a byte of it is read), the
//! service is asked, and its
//! [`Reply`] becomes a hyper response. Signing (one RSA-2048 signature,
//! about 0.3 ms) runs inline on the connection's task: a `spawn_blocking`
//! hop costs more than it frees on a 2-core machine. Log lines name the
//! client, the outcome and the kid, never a token or a secret.

use super::body::Body;
use super::metrics::Route;
use super::store::KeyStore;
use crate::token::service::oidc::{BridgeRequest, Outcome};
use crate::token::service::{Reply, Service, MAX_BODY, MINT_ROUTE, OIDC_ROUTES};
use http_body_util::BodyExt as _;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tracing::{debug, info, warn};

/// The future of a response: ready now (the key routes, as without
/// `--config`), or the token service's answer (boxed: only its routes pay
/// for the allocation).
pub enum Routed {
    /// Answered already.
    Now(Option<Response<Body>>),
    /// The token service's answer, on its way.
    Later(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
}

impl Routed {
    /// A response that is ready.
    pub fn now(res: Response<Body>) -> Routed {
        Routed::Now(Some(res))
    }

    /// A response `fut` will give.
    pub fn later(fut: impl Future<Output = Response<Body>> + Send + 'static) -> Routed {
        Routed::Later(Box::pin(fut))
    }
}

impl Future for Routed {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Routed::Now(res) => Poll::Ready(Ok(res
                .take()
                .unwrap_or_else(|| response(Reply::error(500, "a response was asked for twice"))))),
            Routed::Later(fut) => fut.as_mut().poll(cx).map(Ok),
        }
    }
}

/// Which part of the token service a path belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `<base>/mint`
    Mint,
    /// `<base>/oidc/<rest>`: the login bridge.
    Oidc(String),
}

/// The token service's part for `path` (with `base_path`, as the key
/// routes are mounted), if it is one of its routes and that part is on.
pub fn target(service: &Service, path: &str, base_path: &str) -> Option<Target> {
    let path = path.trim_start_matches('/');
    let base = base_path.trim_matches('/');
    let path = if base.is_empty() {
        path
    } else {
        path.strip_prefix(base)?.strip_prefix('/')?
    };
    if path == MINT_ROUTE && service.mint.is_some() {
        return Some(Target::Mint);
    }
    let (_, rest) = OIDC_ROUTES.iter().find(|(route, _)| *route == path)?;
    service
        .oidc
        .as_ref()
        .map(|_| Target::Oidc((*rest).to_owned()))
}

/// Answers a request for `target`; a body must arrive within `body_timeout`.
pub async fn answer(
    service: Arc<Service>,
    store: Arc<KeyStore>,
    target: Target,
    req: Request<hyper::body::Incoming>,
    body_timeout: Duration,
) -> (Response<Body>, Route) {
    match target {
        Target::Mint => (mint(&service, &store, req, body_timeout).await, Route::Mint),
        Target::Oidc(rest) => (oidc_route(&service, &store, &rest, req).await, Route::Oidc),
    }
}

/// `/oidc/<rest>`: the OpenID Connect login bridge. It calls the
/// identity provider (discovery, token endpoint, userinfo), so it runs in
/// `spawn_blocking`; the log line names the outcome and the kid, never the
/// code, the token or a cookie.
pub async fn oidc_route(
    service: &Arc<Service>,
    store: &Arc<KeyStore>,
    rest: &str,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request = BridgeRequest {
        method: req.method().as_str().to_owned(),
        route: rest.to_owned(),
        query: req.uri().query().map(str::to_owned),
        cookie: header_text(header::COOKIE),
    };
    let (service, store) = (service.clone(), store.clone());
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let bridge = service.oidc.as_ref()?;
        let set = store.load();
        Some(bridge.handle(&request, &set, &service.signer, SystemTime::now()))
    })
    .await;
    let answer = match answer {
        Ok(Some(a)) => a,
        Ok(None) => {
            return response(Reply::error(
                404,
                "the login bridge is not configured ([oidc] in --config)",
            ))
        }
        Err(e) => {
            warn!(error = %e, "login bridge: the request's task failed");
            return response(Reply::error(
                500,
                "the login bridge failed; see the server log",
            ));
        }
    };
    let status = answer.reply.status;
    let outcome = answer.outcome.label();
    // What the bridge itself adds: the whole answer minus the IdP's calls.
    let idp_ms = answer.idp_time.as_secs_f64() * 1000.0;
    let bridge_ms = started.elapsed().as_secs_f64() * 1000.0 - idp_ms;
    // A refusal says why (no token, code or secret is in `detail`); a
    // token minted says its kid.
    let (detail, kid) = match answer.outcome {
        Outcome::Refused(_) => (answer.detail.as_deref().unwrap_or(""), ""),
        _ => ("", answer.kid.as_deref().unwrap_or("")),
    };
    info!(
        route = rest,
        status, outcome, kid, detail, idp_ms, bridge_ms, "login bridge"
    );
    response(answer.reply)
}

/// `POST /mint`.
async fn mint(
    service: &Service,
    store: &KeyStore,
    req: Request<hyper::body::Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    let Some(api) = &service.mint else {
        return response(Reply::error(
            404,
            "the mint API is not configured ([mint] in --config)",
        ));
    };
    if req.method() != Method::POST {
        let mut res = response(Reply::error(405, "use POST with a JSON body"));
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return res;
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().to_vec());
    // The secret first, from the headers: a request that names no client
    // is refused before a byte of its body is read, and its connection
    // closed, so no one without a secret can hold it.
    if let Some(refused) = api.refuse_unknown(authorization.as_deref()) {
        info!(
            status = refused.reply.status,
            outcome = refused.outcome.label(),
            "mint API: refused before reading the body"
        );
        return closing(response(refused.reply));
    }
    let body = match read_body(req, body_timeout).await {
        Ok(b) => b,
        Err(reply) => return closing(response(reply)),
    };
    let set = store.load();
    let answer = api.handle(
        authorization.as_deref(),
        body.as_deref(),
        &set,
        &service.signer,
        SystemTime::now(),
        Instant::now(),
    );
    let status = answer.reply.status;
    let client = answer.client.as_deref().unwrap_or("");
    let kid = answer.kid.as_deref().unwrap_or("");
    if answer.outcome == crate::token::service::api::Outcome::Minted {
        debug!(client, kid, status, "mint API: token minted");
    } else {
        info!(
            client,
            status,
            outcome = answer.outcome.label(),
            "mint API: refused"
        );
    }
    response(answer.reply)
}

/// The request body, or `None` when it is over [`MAX_BODY`] (not read
/// further); a body that breaks off is a 400, one that has not arrived
/// whole within `timeout` a 408.
pub async fn read_body<B>(req: Request<B>, timeout: Duration) -> Result<Option<bytes::Bytes>, Reply>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Ok(None);
    }
    let collect = http_body_util::Limited::new(req.into_body(), MAX_BODY).collect();
    let Ok(collected) = tokio::time::timeout(timeout, collect).await else {
        let secs = timeout.as_secs_f64();
        return Err(Reply::error(
            408,
            &format!("the request body did not arrive within {secs} s (--body-timeout): send the whole body at once"),
        ));
    };
    match collected {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Ok(None)
        }
        Err(e) => Err(Reply::error(
            400,
            &format!("the request body could not be read: {e}"),
        )),
    }
}

/// `res` with `Connection: close`: hyper closes the connection once it is
/// sent, without reading what is left of the body.
fn closing(mut res: Response<Body>) -> Response<Body> {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// A [`Reply`] as a hyper response.
pub fn response(reply: Reply) -> Response<Body> {
    let mut res = Response::new(Body::full(reply.body));
    *res.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            headers.append(n, v);
        }
    }
    res
}
