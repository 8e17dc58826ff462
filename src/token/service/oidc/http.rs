//! The HTTP client the identity-provider calls go through: a ureq agent
//! with the program's trust ([`crate::keys::trust`]: the system's CAs and
//! the config's `ca_file`), implementing openidconnect's
//! [`SyncHttpClient`]. No redirects are followed (the token endpoint must
//! answer itself), every status is returned (OAuth errors come as 400
//! JSON), answers are capped, and the time spent waiting for the IdP is
//! counted per thread so the bridge can report what it adds on top.
//! The last answer's `Cache-Control: max-age` is kept per thread too, so
//! the JWKS's own lifetime can set when it is fetched again.

use openidconnect::{HttpRequest, HttpResponse, SyncHttpClient};
use std::io::Read;
use std::time::{Duration, Instant};

/// Most of an IdP answer read.
const MAX_ANSWER: u64 = 1024 * 1024;
/// One IdP call's deadline.
const IDP_TIMEOUT: Duration = Duration::from_secs(10);

/// The ureq agent openidconnect speaks through: no redirects followed
/// (the token endpoint must answer itself), every status returned (OAuth
/// errors come as 400 JSON), bodies capped.
#[derive(Debug, Clone)]
pub struct IdpHttp(ureq::Agent);

impl IdpHttp {
    /// An agent trusting the system's CAs and `ca_file`.
    pub fn new(
        ca_file: Option<&std::path::Path>,
    ) -> Result<IdpHttp, crate::keys::trust::TrustError> {
        let tls = crate::keys::trust::tls_config(ca_file)?;
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .timeout_global(Some(IDP_TIMEOUT))
            .tls_config(tls)
            .build();
        Ok(IdpHttp(config.new_agent()))
    }
}

/// An HTTP failure towards the IdP (no URL query, no body: they may carry codes).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl SyncHttpClient for IdpHttp {
    type Error = HttpError;

    fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let started = Instant::now();
        let answer = self.exchange(request);
        IDP_TIME.with(|t| t.set(t.get() + started.elapsed()));
        answer
    }
}

thread_local! {
    /// Time this thread spent waiting for the IdP since [`take_idp_time`].
    static IDP_TIME: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
    /// The `max-age` of this thread's last IdP answer (none: not given, or no answer).
    static LAST_MAX_AGE: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
    static LAST_STATUS: std::cell::Cell<Option<u16>> = const { std::cell::Cell::new(None) };
}

/// The HTTP status of the last answer the IdP gave on this thread (`None`
/// when the last request got no answer): what an error the protocol
/// crate reports without it (an empty or unreadable error body) was.
pub fn last_status() -> Option<u16> {
    LAST_STATUS.with(std::cell::Cell::get)
}

/// The `Cache-Control: max-age` of the last answer this thread had from
/// the IdP (after a JWKS fetch: how long the IdP says its keys hold).
pub fn last_max_age() -> Option<Duration> {
    LAST_MAX_AGE.with(std::cell::Cell::get)
}

/// `max-age` of `Cache-Control` values (RFC 9111 5.2: comma-separated
/// directives, names case-insensitive, the argument a token or a quoted
/// string); `no-store` or `no-cache` mean zero.
pub fn max_age<'a>(cache_control: impl Iterator<Item = &'a str>) -> Option<Duration> {
    let mut found = None;
    for directive in cache_control.flat_map(|v| v.split(',')) {
        let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-store" | "no-cache" => return Some(Duration::ZERO),
            "max-age" => {
                let secs = arg.trim().trim_matches('"').parse::<u64>().ok()?;
                found = Some(Duration::from_secs(secs));
            }
            _ => {}
        }
    }
    found
}

/// The time this thread spent in IdP requests since the last call (so the
/// bridge can report what it adds on top of the IdP).
pub fn take_idp_time() -> Duration {
    IDP_TIME.with(|t| t.replace(Duration::ZERO))
}

impl IdpHttp {
    fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let host = request.uri().host().unwrap_or("?").to_owned();
        LAST_MAX_AGE.with(|m| m.set(None));
        LAST_STATUS.with(|m| m.set(None));
        let answer = self
            .0
            .run(request)
            .map_err(|e| HttpError(format!("{host}: {e}")))?;
        let (parts, body) = answer.into_parts();
        LAST_STATUS.with(|m| m.set(Some(parts.status.as_u16())));
        let cache = parts
            .headers
            .get_all(openidconnect::http::header::CACHE_CONTROL);
        let age = max_age(cache.iter().filter_map(|v| v.to_str().ok()));
        LAST_MAX_AGE.with(|m| m.set(age));
        let mut bytes = Vec::new();
        body.into_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut bytes)
            .map_err(|e| HttpError(format!("{host}: {e}")))?;
        Ok(HttpResponse::from_parts(parts, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_every_cache_control_value() {
        let secs = |v: &[&str]| max_age(v.iter().copied()).map(|d| d.as_secs());
        assert_eq!(secs(&["public, max-age=300"]), Some(300));
        assert_eq!(secs(&["public", "Max-Age=\"60\""]), Some(60));
        assert_eq!(secs(&["max-age=300, no-cache"]), Some(0));
        assert_eq!(secs(&["no-store"]), Some(0));
        assert_eq!(secs(&["public"]), None);
        assert_eq!(secs(&["max-age=soon"]), None);
        assert_eq!(secs(&[]), None);
    }
}
