//! The header values `serve` makes from what a key knows: its strong ETag
//! from its fingerprint, HTTP dates from seconds since the epoch. The key
//! directory keeps bytes and times; turning them into headers is the
//! serving side's job.

use hyper::header::HeaderValue;
use std::time::{Duration, UNIX_EPOCH};

/// A key's strong ETag, from its material: the first 16 bytes of the SHA-256
/// of its SPKI DER, in hex and quotes.
pub(crate) fn key_etag(fingerprint: &[u8; 32]) -> HeaderValue {
    let mut tag = [0u8; 34];
    tag[0] = b'"';
    tag[33] = b'"';
    let _ = hex::encode_to_slice(&fingerprint[..16], &mut tag[1..33]);
    HeaderValue::from_bytes(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// `secs` since the epoch as an HTTP date (`Last-Modified`, `Asap-Key-Replaced`).
pub(crate) fn http_date(secs: u64) -> HeaderValue {
    let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}
