//! Where `verify` gets a token's key, and what it makes of the bytes:
//! from a key server exactly as Prosody fetches it, from the JWKS at
//! `cache_keys_url` as the current token plugin reads it, from a key
//! directory, or from a file. Whatever the source, the bytes are judged as Prosody's
//! luaossl would take them: SPKI and PKCS#1 public keys parse; a private
//! key parses too (and is a leak); a certificate, JSON or garbage raises.
//! The JWKS is read as a stream (`jwks`), counted whatever its size.

use super::fetch;
use crate::keys::{self, KeyError, KeyForm};
use std::path::PathBuf;

mod jwks;
pub use jwks::{read_jwks, Jwks, JwksProblem, TooLarge, PROSODY_MAX_BODY};

/// Where the key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `asap_key_server`: GET `<base>/<sha256(kid)>.pem`.
    Server {
        /// The base URL, exactly as configured.
        base: String,
        /// Timeout and extra CA.
        options: fetch::Options,
    },
    /// A key directory: `<dir>/<kid>.pem`.
    Dir(PathBuf),
    /// One key file.
    File(PathBuf),
    /// No `asap_key_server` (only `cache_keys_url`, if anything).
    Unset,
}

/// An RSA public key found for the kid, enough to verify a signature.
#[derive(Debug, Clone)]
pub struct FoundKey {
    /// How the bytes encoded it.
    pub form: KeyForm,
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Exponent, big-endian.
    pub e: Vec<u8>,
    /// Modulus size.
    pub bits: usize,
}

/// The outcome of obtaining the key: where from, and the key or why not.
#[derive(Debug, Clone)]
pub struct Obtained {
    /// The URL or file used.
    pub location: String,
    /// What came back, in words (`200, SPKI public key, RSA-2048`).
    pub summary: String,
    /// The key, if the bytes hold one.
    pub key: Option<FoundKey>,
    /// Why Prosody could not use it, and the fix; `None` when fine.
    pub problem: Option<(String, String)>,
    /// A concern that does not stop Prosody (a short key, private material served).
    pub warning: Option<String>,
    /// When the key server says this kid's material last changed
    /// (asap-keyserver's `Asap-Key-Replaced`, an HTTP date).
    pub replaced: Option<String>,
    /// The key server gave no complete answer in time.
    pub timed_out: bool,
}

impl Obtained {
    fn failed(location: String, summary: String, why: String, fix: String) -> Self {
        Obtained {
            location,
            summary,
            key: None,
            problem: Some((why, fix)),
            warning: None,
            replaced: None,
            timed_out: false,
        }
    }
}

/// Judges key bytes as Prosody would; `served` says whether they came over HTTP.
pub fn judge(location: String, prefix: &str, body: &[u8], served: bool) -> Obtained {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return Obtained::failed(
            location,
            format!("{prefix}empty body"),
            "an empty key: Prosody caches it and every token with this kid fails until Prosody restarts".into(),
            "serve the SPKI PEM (BEGIN PUBLIC KEY) of the key at this path, then restart Prosody".into(),
        );
    }
    if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        return Obtained::failed(
            location,
            format!("{prefix}JSON, not a PEM"),
            "JSON (a JWKS?) where a PEM belongs: asap_key_server needs <sha256(kid)>.pem files".into(),
            "point asap_key_server at a server with the <sha256(kid)>.pem layout, e.g. asap-keyserver serve".into(),
        );
    }
    match keys::rsa_components(body) {
        Ok((form, n, e, bits)) => {
            let mut warning = None;
            if bits < keys::MIN_BITS {
                warning = Some(format!("RSA-{bits} is weak: use 2048 bits or more (asap-keyserver refuses to serve it)"));
            }
            if served && form.is_private() {
                warning = Some(
                    "DANGER: the key server publishes a PRIVATE key: anyone can sign tokens for this kid. \
                     Serve only the public half (asap-keyserver serve does), rotate to a new kid, restart Prosody"
                        .into(),
                );
            }
            Obtained {
                location,
                summary: format!("{prefix}{form}, RSA-{bits}"),
                key: Some(FoundKey { form, n, e, bits }),
                problem: None,
                warning,
                replaced: None,
                timed_out: false,
            }
        }
        Err(KeyError::Certificate) => Obtained::failed(
            location,
            format!("{prefix}a certificate"),
            "a certificate where a key belongs: luaossl's pkey.new raises on it, Prosody's SASL handler crashes and the client gets no answer".into(),
            "serve the public key: openssl x509 -pubkey -noout -in cert.pem".into(),
        ),
        Err(e) => Obtained::failed(
            location,
            format!("{prefix}not a usable key"),
            format!("{e}: luaossl's pkey.new raises on it and the login fails"),
            "serve the SPKI PEM (BEGIN PUBLIC KEY) of the signing key".into(),
        ),
    }
}

/// Gets the key for `kid` from `source`.
pub fn obtain(source: &KeySource, kid: &str) -> Obtained {
    match source {
        KeySource::Server { base, options } => from_server(base, options, kid),
        KeySource::Dir(dir) => {
            let path = match crate::kid::file_path(dir, kid) {
                Ok(path) => path,
                Err(e) => {
                    return Obtained::failed(
                        format!("{} (not looked up)", dir.display()),
                        format!("kid {kid:?} breaks the kid rules: {e}"),
                        "no key server built on this key directory serves such a kid, so Prosody finds no key".into(),
                        "sign with a kid like issuer/2026-11-27 that names a key in the directory".into(),
                    )
                }
            };
            match crate::keys::read_regular(&path, crate::keydir::MAX_FILE_SIZE) {
                Ok(bytes) => judge(path.display().to_string(), "", &bytes, false),
                Err(e) => Obtained::failed(
                    path.display().to_string(),
                    format!("no key file ({e})"),
                    format!("no key for kid {kid:?} in {}", dir.display()),
                    format!(
                        "add {} (asap-keyserver keygen {kid}) or sign with a kid that exists",
                        path.display()
                    ),
                ),
            }
        }
        KeySource::Unset => Obtained::failed(
            "asap_key_server".into(),
            "not set".into(),
            "no asap_key_server to fetch the key from".into(),
            "set asap_key_server (a kid not in cache_keys_url's JWKS is fetched from it)".into(),
        ),
        KeySource::File(path) => {
            match crate::keys::read_regular(path, crate::keydir::MAX_FILE_SIZE) {
                Ok(bytes) => judge(path.display().to_string(), "", &bytes, false),
                Err(e) => Obtained::failed(
                    path.display().to_string(),
                    format!("cannot read: {e}"),
                    format!("cannot read --key {}", path.display()),
                    "pass a readable PEM key file".into(),
                ),
            }
        }
    }
}

fn from_server(base: &str, options: &fetch::Options, kid: &str) -> Obtained {
    let url = fetch::key_url(base, kid);
    if base.starts_with("file:") {
        return Obtained::failed(
            url,
            "file:// URL".into(),
            "Prosody fetches keys over HTTP(S) only".into(),
            "serve the keys (asap-keyserver serve) and use its http(s) URL".into(),
        );
    }
    match fetch::get(&url, options) {
        Err(e) => {
            let fix = match &e {
                fetch::FetchError::Tls { .. } => {
                    "give the key server a certificate for this host name from a CA the Prosody host trusts (test a private CA with --ca-file)"
                }
                fetch::FetchError::Timeout(_) => "make the key server answer quickly: Prosody blocks the login while it waits",
                fetch::FetchError::BadUrl(_) => "fix asap_key_server: a full http:// or https:// URL",
                _ => "start the key server, or fix asap_key_server's host and port",
            };
            Obtained {
                timed_out: matches!(e, fetch::FetchError::Timeout(_)),
                ..Obtained::failed(
                    url,
                    format!("no answer: {e}"),
                    "Prosody cannot fetch the key and logs \"could not obtain public key\"".into(),
                    fix.into(),
                )
            }
        }
        Ok(r) if (300..400).contains(&r.status) => Obtained::failed(
            url,
            format!("{} redirect to {}", r.status, r.location.as_deref().unwrap_or("?")),
            "Prosody does not follow redirects: only 200 and 204 count".into(),
            "set asap_key_server to the final URL (often https:// instead of http://, or without a trailing slash)".into(),
        ),
        Ok(r) if r.status != 200 && r.status != 204 => {
            let fix = if r.status == 404 {
                format!(
                    "publish the key for kid {kid:?} at /{}: with asap-keyserver, add <keys>/{kid}.pem",
                    crate::kid::prosody_path(kid)
                )
            } else {
                "make the key server answer 200 with the PEM".into()
            };
            Obtained::failed(url, format!("HTTP {}", r.status), format!("HTTP {}: Prosody accepts only 200 or 204", r.status), fix)
        }
        Ok(r) => Obtained {
            replaced: r.key_replaced.clone(),
            ..judge(url, &format!("HTTP {}, ", r.status), &r.body, true)
        },
    }
}

/// The key for `kid` from a JWKS entry, judged as [`judge`] judges bytes.
pub fn from_jwks(jwks: &Jwks, kid: &str) -> Option<Obtained> {
    let location = format!("{} (kid {kid:?})", jwks.url);
    Some(match jwks.get(kid)? {
        Ok(key) => Obtained {
            location,
            summary: format!("JWKS entry, RSA-{}", key.bits),
            warning: (key.bits < keys::MIN_BITS)
                .then(|| format!("RSA-{} is weak: use 2048 bits or more", key.bits)),
            key: Some(key.clone()),
            problem: None,
            replaced: None,
            timed_out: false,
        },
        Err(why) => Obtained::failed(
            location,
            "JWKS entry, not usable".into(),
            format!(
                "the JWKS entry for this kid is {why}: the token plugin cannot make a key of it"
            ),
            "publish the kid's RSA public key as n and e (asap-keyserver serve does)".into(),
        ),
    })
}
