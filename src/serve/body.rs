//! The response body: prebuilt bytes, or a JWKS written from the key set
//! as it is sent, so no document of every key is ever held in memory.

use crate::keydir::{JwksCursor, KeySet, Scope, Selection};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Bytes of JWKS written per frame.
const JWKS_FRAME: usize = 64 * 1024;

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// One buffer (taken when sent).
    Full(Option<Bytes>),
    /// A JWKS, written from a snapshot of the key set frame by frame.
    Jwks(Box<JwksBody>),
    /// A bounded JWKS, written from its chosen keys frame by frame: the
    /// next key to write (`None` when done), and the bytes left.
    Selection(Arc<Selection>, Option<usize>, u64),
}

/// The state of a JWKS being sent.
#[derive(Debug)]
pub struct JwksBody {
    set: Arc<KeySet>,
    scope: Scope,
    cursor: JwksCursor,
    len: u64,
}

impl Body {
    /// A body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Body::Full(Some(bytes.into()))
    }

    /// No body.
    pub fn empty() -> Self {
        Body::Full(None)
    }

    /// A bounded JWKS, `len` bytes long (from `Selection::info`).
    pub fn selection(chosen: Arc<Selection>, len: u64) -> Self {
        Body::Selection(chosen, Some(0), len)
    }

    /// The JWKS of `scope` in `set`, `len` bytes long (from
    /// [`KeySet::jwks_info`]).
    pub fn jwks(set: Arc<KeySet>, scope: Scope, len: u64) -> Self {
        Body::Jwks(Box::new(JwksBody {
            set,
            scope,
            cursor: JwksCursor::default(),
            len,
        }))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Jwks(j) => {
                if j.cursor.is_done() {
                    return Poll::Ready(None);
                }
                let mut out = Vec::with_capacity(JWKS_FRAME + 1024);
                j.set
                    .write_jwks(&j.scope, &mut j.cursor, &mut out, JWKS_FRAME);
                j.len = j.len.saturating_sub(out.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
            }
            Body::Selection(chosen, next, len) => {
                if next.is_none() {
                    return Poll::Ready(None);
                }
                let mut out = Vec::with_capacity(JWKS_FRAME + 1024);
                chosen.write(next, &mut out, JWKS_FRAME);
                *len = len.saturating_sub(out.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Body::Jwks(j) => j.cursor.is_done(),
            Body::Selection(_, next, _) => next.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Jwks(j) => SizeHint::with_exact(j.len),
            Body::Selection(_, _, len) => SizeHint::with_exact(*len),
        }
    }
}
