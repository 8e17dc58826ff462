//! Fetching a key the way Prosody's token plugin does: `GET base + "/" +
//! sha256hex(kid) + ".pem"` (plain concatenation, so a trailing slash in the
//! base gives `//`), no redirects, and only status 200 or 204 counts; the
//! body is used as is, whatever its Content-Type. Plain blocking I/O: this
//! serves the one-shot `verify` and `doctor` commands.

use crate::kid;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Most of a response we read.
const MAX_RESPONSE: u64 = 1024 * 1024;

/// What a fetch returned.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL requested.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// `Location`, for redirects (which Prosody does not follow).
    pub location: Option<String>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// Why a fetch failed before any HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not an http(s) URL we can use.
    #[error("{0}")]
    BadUrl(String),
    /// Name resolution or TCP connect failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// host:port
        addr: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake or certificate check failed.
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// No complete answer within the timeout.
    #[error(
        "no answer within {0:?} (Prosody waits 30 s per attempt, 4 attempts, blocking that login)"
    )]
    Timeout(Duration),
    /// Not an HTTP response.
    #[error("not an HTTP response: {0}")]
    Protocol(String),
}

/// Fetch settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connect and read timeout.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM), beside the system store.
    pub ca_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// The URL Prosody requests for `kid` with `asap_key_server = base`.
pub fn key_url(base: &str, kid: &str) -> String {
    format!("{base}/{}", kid::prosody_path(kid))
}

struct Url<'a> {
    https: bool,
    host: &'a str,
    port: u16,
    authority: &'a str,
    path: &'a str,
}

fn parse_url(url: &str) -> Result<Url<'_>, FetchError> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(FetchError::BadUrl(format!(
            "{url:?} is not an http:// or https:// URL"
        )));
    };
    let split = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            let port = p
                .parse()
                .map_err(|_| FetchError::BadUrl(format!("bad port in {url:?}")))?;
            (h, port)
        }
        _ => (authority, if https { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(FetchError::BadUrl(format!("no host in {url:?}")));
    }
    Ok(Url {
        https,
        host,
        port,
        authority,
        path,
    })
}

fn tls_config(opts: &Options) -> Result<Arc<rustls::ClientConfig>, FetchError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &opts.ca_file {
        use rustls::pki_types::pem::PemObject as _;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| FetchError::BadUrl(format!("--ca-file {}: {e}", path.display())))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| FetchError::BadUrl(format!("--ca-file {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| FetchError::BadUrl(format!("--ca-file {}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::BadUrl(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn io_error(e: std::io::Error, timeout: Duration, host: &str, https: bool) -> FetchError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            FetchError::Timeout(timeout)
        }
        _ if https && e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            FetchError::Tls {
                host: host.to_owned(),
                reason: e.to_string(),
            }
        }
        _ => FetchError::Protocol(e.to_string()),
    }
}

/// `GET url` once, as Prosody would: no redirects followed.
pub fn get(url: &str, opts: &Options) -> Result<Fetched, FetchError> {
    let u = parse_url(url)?;
    let addr_text = format!("{}:{}", u.host, u.port);
    let addrs: Vec<_> = (u.host, u.port)
        .to_socket_addrs()
        .map_err(|e| FetchError::Connect {
            addr: addr_text.clone(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last = String::from("no address");
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, opts.timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let tcp = tcp.ok_or(FetchError::Connect {
        addr: addr_text,
        reason: last,
    })?;
    let _ = tcp.set_read_timeout(Some(opts.timeout));
    let _ = tcp.set_write_timeout(Some(opts.timeout));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: asap-keyserver (checking as Prosody would)\r\nConnection: close\r\n\r\n",
        u.path, u.authority
    );
    let mut raw = Vec::new();
    if u.https {
        let name = rustls::pki_types::ServerName::try_from(u.host.to_owned())
            .map_err(|e| FetchError::BadUrl(format!("bad host name {}: {e}", u.host)))?;
        let conn = rustls::ClientConnection::new(tls_config(opts)?, name).map_err(|e| {
            FetchError::Tls {
                host: u.host.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(request.as_bytes())
            .map_err(|e| io_error(e, opts.timeout, u.host, true))?;
        if let Err(e) = (&mut tls).take(MAX_RESPONSE).read_to_end(&mut raw) {
            // Servers that close without close_notify: keep what arrived.
            if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
                return Err(io_error(e, opts.timeout, u.host, true));
            }
        }
    } else {
        let mut tcp = tcp;
        tcp.write_all(request.as_bytes())
            .map_err(|e| io_error(e, opts.timeout, u.host, false))?;
        (&mut tcp)
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .map_err(|e| io_error(e, opts.timeout, u.host, false))?;
    }
    parse_response(url, &raw)
}

fn parse_response(url: &str, raw: &[u8]) -> Result<Fetched, FetchError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            FetchError::Protocol(format!(
                "{} bytes without a complete response head",
                raw.len()
            ))
        })?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| FetchError::Protocol(format!("status line {status_line:?}")))?;
    let mut location = None;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "location" => location = Some(value.to_owned()),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec()
    };
    Ok(Fetched {
        url: url.to_owned(),
        status,
        location,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| FetchError::Protocol("truncated chunked body".into()))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| FetchError::Protocol(format!("bad chunk size {size_text:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err(FetchError::Protocol("truncated chunk".into()));
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_like_prosody() {
        let hex = kid::sha256_hex("jitsi/k");
        assert_eq!(
            key_url("https://keys.example.com", "jitsi/k"),
            format!("https://keys.example.com/{hex}.pem")
        );
        assert_eq!(
            key_url("http://h/keys/", "jitsi/k"),
            format!("http://h/keys//{hex}.pem")
        );
        let u = parse_url("https://[::1]:8443/a/b.pem").unwrap();
        assert_eq!(
            (u.https, u.host, u.port, u.path),
            (true, "::1", 8443, "/a/b.pem")
        );
        let u = parse_url("http://keys").unwrap();
        assert_eq!((u.port, u.path), (80, "/"));
        assert!(parse_url("file:///etc/keys").is_err());
    }

    #[test]
    fn responses_parse() {
        let r = parse_response("u", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
        let r = parse_response("u", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
        let r = parse_response("u", b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n").unwrap();
        assert_eq!((r.status, r.location.as_deref()), (301, Some("https://x/")));
        assert!(parse_response("u", b"garbage").is_err());
    }
}
