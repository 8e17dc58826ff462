//! What a connection's bytes go through before hyper: a deadline on a
//! response that makes no progress ([`SendTimeout`]), and the first request
//! head read ahead of hyper and handed back to it ([`Rewind`]), so that a
//! health check arriving while every slot is taken can be answered without
//! one (see `server::accept_loop`).

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, ReadBuf};

/// Longest request head read ahead of hyper (hyper's own limit is 16 KiB).
pub const MAX_HEAD: usize = 16 * 1024;

/// Ends a connection whose writes make no progress for `timeout`: a client
/// that stops reading its answer (nginx's `send_timeout`). The header
/// timeout covers reading the request; this covers writing the response.
#[derive(Debug)]
pub struct SendTimeout<I> {
    io: I,
    timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> SendTimeout<I> {
    /// Wraps `io`.
    pub fn new(io: I, timeout: Duration) -> Self {
        SendTimeout {
            io,
            timeout,
            stalled: None,
        }
    }

    /// A write that could not proceed: pending until `timeout` has passed
    /// since the last progress, then an error that ends the connection.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response within --send-timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => self.waiting(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for SendTimeout<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for SendTimeout<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progress(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progress(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.progress(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_shutdown(cx);
        this.progress(r, cx)
    }
}

/// A connection whose first bytes were already read: they are read again
/// first, then the rest from `io`.
#[derive(Debug)]
pub struct Rewind<I> {
    prefix: bytes::Bytes,
    io: I,
}

impl<I> Rewind<I> {
    /// `prefix` comes before what `io` still holds.
    pub fn new(prefix: Vec<u8>, io: I) -> Self {
        Rewind {
            prefix: prefix.into(),
            io,
        }
    }

    /// What will be read again first.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Reads until the end of the first request head (`\r\n\r\n`), at most
/// [`MAX_HEAD`] bytes, into `buf` (the head, and whatever followed it in the
/// same reads). Cancel safe: `buf` keeps what was read if the future is
/// dropped before the head is whole, and reading can go on where it stopped.
pub async fn read_head<I: AsyncRead + Unpin>(io: &mut I, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 2048];
    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
        return Ok(());
    }
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if buf[from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(());
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
    }
}

/// Whether a client has sent the end of its request head though the
/// server has not read it yet: under load, a task can be slow to look at a
/// health probe that came whole, and such a client is not silent.
pub trait HeadArrived {
    /// Whether `read` (what was read of the head so far) and the bytes
    /// waiting unread in the socket hold `\r\n\r\n`. A peek, never a read.
    fn head_arrived(&self, read: &[u8]) -> bool;
}

impl HeadArrived for SendTimeout<tokio::net::TcpStream> {
    fn head_arrived(&self, read: &[u8]) -> bool {
        let mut buf = [0u8; MAX_HEAD];
        let tail = read.len().saturating_sub(3);
        let kept = read.len() - tail;
        buf[..kept].copy_from_slice(&read[tail..]);
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        match rustix::net::recv(&self.io, &mut buf[kept..], flags) {
            Ok((n, _)) => buf[..kept + n].windows(4).any(|w| w == b"\r\n\r\n"),
            Err(_) => false,
        }
    }
}

impl<I> HeadArrived for tokio_rustls::server::TlsStream<I> {
    /// Inside TLS records a head cannot be seen without decrypting: no.
    fn head_arrived(&self, _read: &[u8]) -> bool {
        false
    }
}

/// The method and path of the request head at the start of `bytes`
/// (httparse, the parser hyper itself uses), if it parses.
pub fn request_line(bytes: &[u8]) -> Option<(&str, &str)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => Some((req.method?, req.path?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test]
    async fn a_head_is_read_then_read_again() {
        let (mut client, server) = tokio::io::duplex(64);
        client
            .write_all(b"GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\nextra")
            .await
            .unwrap();
        let mut server = server;
        let mut head = Vec::new();
        read_head(&mut server, &mut head).await.unwrap();
        assert_eq!(request_line(&head), Some(("GET", "/healthz?x=1")));
        let mut again = Rewind::new(head, server);
        let mut out = vec![0u8; 43];
        again.read_exact(&mut out).await.unwrap();
        assert!(out.starts_with(b"GET /healthz?x=1 HTTP/1.1\r\n") && out.ends_with(b"extra"));
        assert_eq!(request_line(b"GET / HTTP/1.1\r\nHost"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_times_out() {
        let (client, server) = tokio::io::duplex(16);
        let mut io = SendTimeout::new(server, Duration::from_secs(30));
        io.write_all(&[0u8; 16]).await.unwrap();
        // The other end reads nothing: the buffer stays full.
        let err = io.write_all(&[0u8; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }

    #[tokio::test]
    async fn a_head_read_in_two_goes_keeps_what_the_first_read() {
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET /readyz HTTP/1.1\r\n").await.unwrap();
        let mut head = Vec::new();
        let first =
            tokio::time::timeout(Duration::from_millis(50), read_head(&mut server, &mut head));
        assert!(first.await.is_err(), "no whole head yet");
        client.write_all(b"Host: a\r\n\r\n").await.unwrap();
        read_head(&mut server, &mut head).await.unwrap();
        assert_eq!(request_line(&head), Some(("GET", "/readyz")));
    }

    #[tokio::test]
    async fn a_head_that_came_whole_is_seen_before_it_is_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = SendTimeout::new(server, Duration::from_secs(1));
        client
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        client.flush().await.unwrap();
        let seen = |s: &SendTimeout<tokio::net::TcpStream>, read: &[u8]| s.head_arrived(read);
        // Half a head, arrived (tokio's own peek waits for it), is not a head.
        server.io.peek(&mut [0u8; 1]).await.unwrap();
        assert!(!seen(&server, b""));
        client.write_all(b"Host: a\r\n").await.unwrap();
        let mut head = Vec::new();
        let mut chunk = [0u8; 256];
        while !head.ends_with(b"Host: a\r\n") {
            let n = server.read(&mut chunk).await.unwrap();
            head.extend_from_slice(&chunk[..n]);
        }
        // The last "\r\n" read already, the closing one still in the socket.
        client.write_all(b"\r\n").await.unwrap();
        let mut waited = 0;
        while !seen(&server, &head) && waited < 1000 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            waited += 1;
        }
        assert!(
            seen(&server, &head),
            "the head's end, unread, across what was read"
        );
        assert!(
            !seen(&server, b""),
            "alone, the unread bytes hold no head's end"
        );
        // A peek consumed nothing.
        read_head(&mut server, &mut head).await.unwrap();
        assert_eq!(request_line(&head), Some(("GET", "/healthz")));
    }
}
