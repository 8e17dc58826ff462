//! PEM text: splitting it into blocks, finding the one key block, and
//! encoding DER back into PEM.

use super::KeyError;
use base64::Engine as _;

/// One `-----BEGIN X-----` ... `-----END X-----` block.
#[derive(Clone, Copy)]
pub(super) struct PemBlock<'a> {
    pub(super) label: &'a str,
    pub(super) headers: bool,
    pub(super) body: &'a str,
}

/// Splits PEM text into blocks. Text outside blocks is ignored, as OpenSSL does.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock<'_>>, KeyError> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            return Err(KeyError::Malformed("unterminated BEGIN line".into()));
        };
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            return Err(KeyError::Malformed(format!("no '{end_marker}' line")));
        };
        let body = &body_start[..end];
        blocks.push(PemBlock {
            label,
            headers: body.contains(':'),
            body,
        });
        rest = &body_start[end + end_marker.len()..];
    }
    Ok(blocks)
}

pub(super) fn decode_base64(body: &str) -> Result<Vec<u8>, KeyError> {
    let compact: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| KeyError::Malformed(format!("bad base64 in PEM body: {e}")))
}

/// The one key block of a PEM file, or why there is none.
pub(super) fn key_block(text: &str) -> Result<PemBlock<'_>, KeyError> {
    let blocks = pem_blocks(text)?;
    let mut keys = blocks.iter().filter(|b| {
        matches!(
            b.label,
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "PUBLIC KEY" | "RSA PUBLIC KEY"
        )
    });
    let Some(block) = keys.next() else {
        return Err(match blocks.first() {
            None => KeyError::NotPem { binary: false },
            Some(b) => match b.label {
                "CERTIFICATE" => KeyError::Certificate,
                "ENCRYPTED PRIVATE KEY" => KeyError::Encrypted,
                "OPENSSH PRIVATE KEY" => KeyError::OpenSsh,
                "EC PRIVATE KEY" => KeyError::NotRsa("EC".into()),
                other => KeyError::UnknownLabel(other.to_owned()),
            },
        });
    };
    if keys.next().is_some() {
        return Err(KeyError::SeveralKeys);
    }
    if block.headers {
        // Legacy `Proc-Type: 4,ENCRYPTED` PEM.
        return Err(KeyError::Encrypted);
    }
    Ok(*block)
}

/// Encodes DER as PEM with 64-column lines, in one buffer (it is the body
/// of every key response).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let (begin, end) = ("-----BEGIN ", "-----END ");
    let body = der.len().div_ceil(3) * 4;
    let mut out = Vec::with_capacity(2 * (begin.len() + label.len() + 6) + body + body / 64 + 2);
    out.extend_from_slice(begin.as_bytes());
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"-----\n");
    // 48 bytes make one 64-character line.
    for chunk in der.chunks(48) {
        let at = out.len();
        out.resize(at + chunk.len().div_ceil(3) * 4, 0);
        let _ = b64.encode_slice(chunk, &mut out[at..]);
        out.push(b'\n');
    }
    out.extend_from_slice(end.as_bytes());
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"-----\n");
    String::from_utf8(out).unwrap_or_default()
}
