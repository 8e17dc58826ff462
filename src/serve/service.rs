//! The token service's routes (`serve --config`): `/mint` and
//! `/oidc/auth`, `/oidc/callback`, `/oidc/logout`, `/oidc/token`, matched by the route
//! table ([`crate::routes`]) and answered before the key routes of
//! [`super::handler`]; a kid at one of these paths is skipped at scan
//! time with the reason (`Scanner::reserving_route`).
//!
//! `POST /oidc/token` (inline login) reads its form body the same way
//! before the bridge answers.
//!
//! This is the async glue around [`crate::token::service`], which is pure:
//! here a request body is read (at most [`MAX_BODY`] bytes, so a client
//! cannot make the server hold more, and within `--body-timeout`, so a
//! client that trickles it cannot hold a connection; `POST /mint` is
//! authenticated from its headers before a byte of it is read), the
//! service is asked with an [`http::Request`], and its [`http::Response`]
//! is sent as it is. Signing (one RSA-2048 signature,
//! about 0.3 ms) runs inline on the connection's task: a `spawn_blocking`
//! hop costs more than it frees on a 2-core machine. Log lines name the
//! client, the outcome and the kid, never a token or a secret.

use super::body::Body;
use super::store::KeyStore;
use crate::routes::Route;
use crate::token::service::api;
use crate::token::service::{Outcome, Refusal, Service, MAX_BODY};
use http_body_util::BodyExt as _;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};
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
            Routed::Now(res) => Poll::Ready(Ok(res.take().unwrap_or_else(|| {
                let refusal = Refusal::Internal("a response was asked for twice".into());
                to_hyper(refusal.json())
            }))),
            Routed::Later(fut) => fut.as_mut().poll(cx).map(Ok),
        }
    }
}

/// Answers a request for the token service's `route` (matched by the route
/// table); a body must arrive within `body_timeout`.
pub async fn answer(
    service: Arc<Service>,
    store: Arc<KeyStore>,
    route: Route,
    req: Request<hyper::body::Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    match route {
        Route::Mint => mint(&service, &store, req, body_timeout).await,
        Route::OidcToken => oidc_token(&service, &store, req, body_timeout).await,
        _ => oidc_route(&service, &store, route, req).await,
    }
}

/// `/oidc/<step>`: the OpenID Connect login bridge. It calls the
/// identity provider (discovery, token endpoint, userinfo), so it runs in
/// `spawn_blocking`; the log line names the outcome and the kid, never the
/// code, the token or a cookie.
pub async fn oidc_route(
    service: &Arc<Service>,
    store: &Arc<KeyStore>,
    route: Route,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    // The head only: the bridge reads no body.
    let (parts, _body) = req.into_parts();
    let request = http::Request::from_parts(parts, ());
    let (service, store) = (service.clone(), store.clone());
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let bridge = service.oidc.as_ref()?;
        let set = store.load();
        Some(bridge.handle(route, &request, &set, &service.signer, SystemTime::now()))
    })
    .await;
    bridge_answer(route, answer, started)
}

/// `POST /oidc/token` (and `OPTIONS`): inline login's token endpoint. The
/// form body is read first (at most [`MAX_BODY`] bytes, within
/// `body_timeout`: the endpoint takes no secret to check before), then the
/// bridge answers: inline (signing, as `/mint` does), or in `spawn_blocking`
/// for a refresh that asks the IdP.
async fn oidc_token(
    service: &Arc<Service>,
    store: &Arc<KeyStore>,
    req: Request<hyper::body::Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let declared = content_length(&parts.headers);
    let head = http::Request::from_parts(parts, ());
    let body = if head.method() == Method::POST {
        match read_body_of(body, declared, body_timeout).await {
            Ok(b) => b,
            Err(refusal) => {
                let answer = service
                    .oidc
                    .as_ref()
                    .map(|b| b.token_refused(&head, refusal));
                return closing(bridge_answer(Route::OidcToken, Ok(answer), started));
            }
        }
    } else {
        Some(bytes::Bytes::new())
    };
    let Some(bridge) = service.oidc.as_ref() else {
        return bridge_answer(Route::OidcToken, Ok(None), started);
    };
    if !bridge.token_may_block(body.as_deref()) {
        // A code, or a refresh the IdP is not asked about: signed inline, as /mint.
        let set = store.load();
        let answer = bridge.token(
            &head,
            body.as_deref(),
            &set,
            &service.signer,
            SystemTime::now(),
        );
        return bridge_answer(Route::OidcToken, Ok(Some(answer)), started);
    }
    let (service, store) = (service.clone(), store.clone());
    let answer = tokio::task::spawn_blocking(move || {
        let bridge = service.oidc.as_ref()?;
        let set = store.load();
        Some(bridge.token(
            &head,
            body.as_deref(),
            &set,
            &service.signer,
            SystemTime::now(),
        ))
    })
    .await;
    bridge_answer(Route::OidcToken, answer, started)
}

/// The bridge's answer to a request of `route` begun at `started`, logged
/// (the outcome and the kid, never a code, a token or a cookie).
fn bridge_answer(
    route: Route,
    answer: Result<Option<crate::token::service::Answer>, tokio::task::JoinError>,
    started: Instant,
) -> Response<Body> {
    let answer = match answer {
        Ok(Some(a)) => a,
        Ok(None) => {
            let refusal = Refusal::Misconfigured(
                "the login bridge is not configured ([oidc] in --config)".into(),
            );
            return to_hyper(refusal.json());
        }
        Err(e) => {
            warn!(error = %e, "login bridge: the request's task failed");
            return to_hyper(Refusal::Internal("the login bridge's task failed".into()).json());
        }
    };
    let status = answer.response.status().as_u16();
    let outcome = answer.outcome.label();
    // What the bridge itself adds: the whole answer minus the IdP's calls.
    let idp_ms = answer.idp_time.as_secs_f64() * 1000.0;
    let bridge_ms = started.elapsed().as_secs_f64() * 1000.0 - idp_ms;
    // A refusal says why (no token, code or secret is in its detail); a
    // token minted says its kid.
    let (detail, kid) = match &answer.outcome {
        Outcome::Refused(r) => (r.detail(), String::new()),
        _ => (String::new(), answer.kid.clone().unwrap_or_default()),
    };
    let step = route.path().unwrap_or_default().trim_start_matches("oidc/");
    info!(
        route = step,
        status, outcome, kid, detail, idp_ms, bridge_ms, "login bridge"
    );
    to_hyper(answer.response)
}

/// `POST /mint`.
async fn mint(
    service: &Service,
    store: &KeyStore,
    req: Request<hyper::body::Incoming>,
    body_timeout: Duration,
) -> Response<Body> {
    let Some(api) = &service.mint else {
        let refusal =
            Refusal::Misconfigured("the mint API is not configured ([mint] in --config)".into());
        return to_hyper(refusal.json());
    };
    if req.method() != Method::POST {
        return to_hyper(Refusal::Method { allow: "POST" }.json());
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
            status = refused.response.status().as_u16(),
            outcome = api::label(&refused.outcome),
            "mint API: refused before reading the body"
        );
        return closing(to_hyper(refused.response));
    }
    let body = match read_body(req, body_timeout).await {
        Ok(b) => b,
        Err(refusal) => return closing(to_hyper(refusal.json())),
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
    let status = answer.response.status().as_u16();
    let client = answer.client.as_deref().unwrap_or("");
    let kid = answer.kid.as_deref().unwrap_or("");
    if answer.outcome == Outcome::Minted {
        debug!(client, kid, status, "mint API: token minted");
    } else {
        info!(
            client,
            status,
            outcome = api::label(&answer.outcome),
            "mint API: refused"
        );
    }
    to_hyper(answer.response)
}

/// The request body, or `None` when it is over [`MAX_BODY`] (not read
/// further); a body that breaks off is a 400, one that has not arrived
/// whole within `timeout` a 408.
pub async fn read_body<B>(
    req: Request<B>,
    timeout: Duration,
) -> Result<Option<bytes::Bytes>, Refusal>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let declared = content_length(req.headers());
    read_body_of(req.into_body(), declared, timeout).await
}

/// A request's `Content-Length`, when it has a usable one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// [`read_body`] of a body whose head declared `declared` bytes.
async fn read_body_of<B>(
    body: B,
    declared: Option<u64>,
    timeout: Duration,
) -> Result<Option<bytes::Bytes>, Refusal>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Ok(None);
    }
    let collect = http_body_util::Limited::new(body, MAX_BODY).collect();
    let Ok(collected) = tokio::time::timeout(timeout, collect).await else {
        let secs = timeout.as_secs_f64();
        return Err(Refusal::BodyTimeout(format!(
            "the request body did not arrive within {secs} s (--body-timeout): send the whole body at once"
        )));
    };
    match collected {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Ok(None)
        }
        Err(e) => Err(Refusal::Malformed(format!(
            "the request body could not be read: {e}"
        ))),
    }
}

/// `res` with `Connection: close`: hyper closes the connection once it is
/// sent, without reading what is left of the body.
fn closing(mut res: Response<Body>) -> Response<Body> {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The token service's response, its body as the server's [`Body`]
/// (headers were typed when it was made: none is dropped here).
pub fn to_hyper(res: crate::token::service::Response) -> Response<Body> {
    res.map(Body::full)
}
