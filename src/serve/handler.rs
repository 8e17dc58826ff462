//! The pure request handler: [`handle`] answers one request from a
//! [`KeySet`] and response parts made once ([`Prebuilt`]). It does no I/O
//! and reads no clock: a request is one hash lookup in the current key set
//! and a response built from prebuilt parts, so it is tested (and fuzzed)
//! without a socket. The accept loops around it are in
//! [`server`](super::server).

use super::body::Body;
use super::config::HttpConfig;
use super::metrics::Requests;
use super::parts::PartCache;
use super::store::Reloads;
use crate::keydir::{JwksInfo, KeySet, Newest, Scope, Selection};
use crate::routes::{Found, Route, Routes};
use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

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

/// Response parts that depend only on the configuration, built once.
#[derive(Debug, Clone)]
pub struct Prebuilt {
    /// Parts of recently served keys (a memo: answers do not depend on it).
    parts: Arc<PartCache>,
    /// Bounded JWKS chosen lately, by set version, scope and query (a memo).
    selections: Arc<std::sync::Mutex<Selections>>,
    cache_control: HeaderValue,
    jwks_cache_control: HeaderValue,
    /// The route table, base path included: requests are matched once, here.
    routes: Routes,
}

impl Prebuilt {
    /// Builds the shared parts for `config`.
    pub fn new(config: &HttpConfig) -> Self {
        let max_age = |secs: u64| {
            HeaderValue::try_from(format!("public, max-age={secs}"))
                .unwrap_or(HeaderValue::from_static("public, max-age=300"))
        };
        let (cache_control, jwks_cache_control) =
            (max_age(config.cache_max_age), max_age(config.jwks_max_age));
        Prebuilt {
            parts: Arc::default(),
            selections: Arc::default(),
            cache_control,
            jwks_cache_control,
            routes: Routes::new(&config.base_path, &config.jwks_path),
        }
    }

    /// The same parts with the token service's routes that are on.
    pub fn serving(mut self, mint: bool, oidc: bool) -> Self {
        self.routes = self.routes.with_service(mint, oidc);
        self
    }

    /// The route table.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::full(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, TEXT);
    res
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

impl Validators {
    /// Those of a JWKS document: its ETag from the digest and length of
    /// what is sent (`tag` first: `n` for a bounded JWKS, so the two never
    /// share one), its date that of the newest file in it.
    fn jwks(tag: &str, info: &JwksInfo) -> Self {
        let etag = HeaderValue::try_from(format!("\"{tag}{:032x}-{:x}\"", info.digest, info.len))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        Validators {
            etag,
            last_modified: super::headers::http_date(info.modified_secs),
            modified_secs: info.modified_secs,
        }
    }
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
    let validators = Validators::jwks("", &info);
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
    let validators = Validators::jwks("n", &info);
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
        .strip_suffix(pre.routes.jwks_path())?
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
    reloads: &Reloads,
) -> (Response<Body>, Route) {
    let found = pre.routes.find(req.uri().path());
    answer(req, found, keys, pre, requests, reloads)
}

/// [`handle`] for a request already matched by the route table.
pub fn answer<B>(
    req: &Request<B>,
    found: Found<'_>,
    keys: &Arc<KeySet>,
    pre: &Prebuilt,
    requests: &Requests,
    reloads: &Reloads,
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
    let path = match found {
        Found::Route(route) => return (fixed(req, route, keys, pre, requests, reloads), route),
        Found::Key(path) => path,
        Found::Outside => return (not_found(), Route::Unknown),
    };
    match keys.lookup(&path) {
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
        None => match jwks_folder(&path, pre) {
            Some(folder) => {
                let res = jwks_route(req, keys, Scope::Folder(folder.to_owned()), pre);
                (res, Route::FolderJwks)
            }
            None => (not_found(), Route::Unknown),
        },
    }
}

/// A route at a fixed path: probes, metrics, the JWKS.
fn fixed<B>(
    req: &Request<B>,
    route: Route,
    keys: &Arc<KeySet>,
    pre: &Prebuilt,
    requests: &Requests,
    reloads: &Reloads,
) -> Response<Body> {
    match route {
        Route::Health => text(StatusCode::OK, "ok\n"),
        Route::Ready if keys.is_ready() => text(StatusCode::OK, "ready\n"),
        Route::Ready => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: first key scan not finished\n",
        ),
        Route::Metrics => {
            let mut res = Response::new(Body::full(requests.render(keys, reloads)));
            res.headers_mut().insert(header::CONTENT_TYPE, PROMETHEUS);
            res
        }
        Route::Jwks => jwks_route(req, keys, Scope::All, pre),
        // The token service's routes are answered before the handler.
        _ => not_found(),
    }
}

/// Whether `target` (a request target) is `/healthz` or `/readyz`.
pub(super) fn is_health(target: &str, pre: &Prebuilt) -> bool {
    matches!(pre.routes.find(target), Found::Route(r) if r.is_probe())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_collapse() {
        use crate::routes::normalize;
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
        let pre = Prebuilt::new(&HttpConfig::default());
        let (requests, reloads) = (Requests::default(), Reloads::default());
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
