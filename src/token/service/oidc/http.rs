//! The HTTP client the identity-provider calls go through: a ureq agent
//! with the program's trust ([`crate::keys::trust`]: the system's CAs and
//! the config's `ca_file`), implementing openidconnect's
//! [`SyncHttpClient`]. No redirects are followed (the token endpoint must
//! answer itself), every status is returned (OAuth errors come as 400
//! JSON), answers are capped, and the time spent waiting for the IdP is
//! counted per thread so the bridge can report what it adds on top.

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
}

/// The time this thread spent in IdP requests since the last call (so the
/// bridge can report what it adds on top of the IdP).
pub fn take_idp_time() -> Duration {
    IDP_TIME.with(|t| t.replace(Duration::ZERO))
}

impl IdpHttp {
    fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let host = request.uri().host().unwrap_or("?").to_owned();
        let answer = self
            .0
            .run(request)
            .map_err(|e| HttpError(format!("{host}: {e}")))?;
        let (parts, body) = answer.into_parts();
        let mut bytes = Vec::new();
        body.into_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut bytes)
            .map_err(|e| HttpError(format!("{host}: {e}")))?;
        Ok(HttpResponse::from_parts(parts, bytes))
    }
}
