//! The token service's answers as HTTP's own types: an
//! [`http::Response`] with its bytes, its headers typed
//! ([`http::HeaderValue`]), so a value that cannot be a header is an error
//! here, logged and answered 500, never silently dropped on the way out.

use bytes::Bytes;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use http::response::Builder;

/// An answer of the token service.
pub type Response = http::Response<Bytes>;

/// `builder` with `body` as `content_type`; a header that could not be
/// made is a 500 (and an error in the log naming the header).
pub fn finish(builder: Builder, content_type: &'static str, body: Vec<u8>) -> Response {
    match builder
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
        .body(Bytes::from(body))
    {
        Ok(res) => res,
        Err(e) => {
            tracing::error!(error = %e, "token service: an answer had a header value that is not one; answered 500");
            let mut res = http::Response::new(Bytes::from_static(
                b"{\"error\": \"the answer could not be made; see the server log\"}\n",
            ));
            *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
    }
}

/// A JSON answer (`value` and a newline).
pub fn json(builder: Builder, value: &serde_json::Value) -> Response {
    let mut body = value.to_string().into_bytes();
    body.push(b'\n');
    finish(builder, "application/json", body)
}

/// An HTML answer of the login bridge: `Cache-Control: no-store` (a code
/// or a token is in play), `Referrer-Policy: no-referrer` (the callback URL
/// carries the code, the return URL the token), no script, no outside content.
pub fn html(builder: Builder, body: String) -> Response {
    let builder = builder
        .header(CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .header(REFERRER_POLICY, HeaderValue::from_static("no-referrer"))
        .header(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *",
            ),
        )
        .header(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    finish(builder, "text/html; charset=utf-8", body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_cannot_be_a_header_is_a_500_not_a_dropped_header() {
        let res = finish(
            http::Response::builder().header("location", "a\nb"),
            "text/plain",
            vec![],
        );
        assert_eq!(res.status(), 500);
        assert!(res.headers().get("location").is_none());
    }
}
