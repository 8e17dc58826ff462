//! RSA key material: decode a PEM file into its public half, generate new
//! private keys, and write them safely; and the safe read (non-blocking,
//! regular files only, size-capped) that key files and Prosody's configs
//! are read with.
//!
//! Whatever a key file holds, what leaves this module for serving is the
//! public key re-encoded as SPKI (`BEGIN PUBLIC KEY`): the form every
//! Prosody/luaossl version parses, and one that can never carry private
//! material. Parsing uses the `rsa` crate's ASN.1 types; keys are generated
//! with aws-lc-rs, which is several times faster than the `rsa` crate at it.

use rsa::pkcs1::der::Decode as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::fmt;

mod pem;
mod read;
pub(crate) mod trust;
mod write;
pub(crate) use pem::pem_encode;
use pem::{decode_base64, key_block};
pub(crate) use read::{open_nonblocking, read_opened, read_regular, read_stdin, ReadError};
pub(crate) use write::{write_new_file, write_new_private_key};

/// Smallest modulus we serve or generate, in bits.
pub const MIN_BITS: usize = 2048;
/// Largest modulus we accept, in bits.
pub(crate) const MAX_BITS: usize = 16384;

/// Why the bytes of a key file are not a usable RSA key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No PEM block at all.
    #[error("not a PEM key{}", if *.binary {
        " (binary data; for DER run `openssl pkey -inform DER -in FILE -out FILE.pem`)"
    } else {
        " (expected BEGIN PRIVATE KEY / BEGIN PUBLIC KEY)"
    })]
    NotPem {
        /// The file is not text at all.
        binary: bool,
    },
    /// An X.509 certificate where a key belongs.
    #[error("a certificate, not a key (Prosody cannot use it here): extract the key with `openssl x509 -pubkey -noout -in FILE`")]
    Certificate,
    /// A passphrase-protected key.
    #[error("an encrypted private key: decrypt it with `openssl pkey -in FILE -out FILE.pem`")]
    Encrypted,
    /// An OpenSSH-format key.
    #[error("an OpenSSH key: convert it with `ssh-keygen -p -m PKCS8 -f FILE`")]
    OpenSsh,
    /// A key of another algorithm.
    #[error("not an RSA key ({0}): Prosody's asap_key_server verifies RS256, which needs RSA")]
    NotRsa(String),
    /// A PEM block of a type we do not know.
    #[error("PEM block '{0}' is not a key (expected BEGIN PRIVATE KEY / BEGIN PUBLIC KEY)")]
    UnknownLabel(String),
    /// More than one key block in one file.
    #[error("more than one key in one file: keep one key per file, one file per kid")]
    SeveralKeys,
    /// A key block that does not decode.
    #[error("malformed key: {0}")]
    Malformed(String),
    /// An RSA modulus under [`MIN_BITS`].
    #[error("RSA key of {bits} bits is too short: use 2048 bits or more")]
    TooShort {
        /// The modulus size found.
        bits: usize,
    },
    /// A public key where a private key is needed.
    #[error("holds only a public key; signing needs the private key")]
    PublicOnly,
    /// A key size we do not generate.
    #[error("cannot generate a {0}-bit key: choose 2048, 3072, 4096 or 8192")]
    UnsupportedSize(usize),
    /// The crypto library failed to generate a key.
    #[error("key generation failed in aws-lc")]
    Generate,
}

/// The encoding a key file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyForm {
    /// `BEGIN PRIVATE KEY` (PKCS#8).
    Pkcs8Private,
    /// `BEGIN RSA PRIVATE KEY` (PKCS#1).
    Pkcs1Private,
    /// `BEGIN PUBLIC KEY` (SPKI).
    SpkiPublic,
    /// `BEGIN RSA PUBLIC KEY` (PKCS#1).
    Pkcs1Public,
    /// An RSA JWK (`n`, `e`), as in a JWKS.
    Jwk,
}

impl KeyForm {
    /// Whether the file holds private material.
    pub fn is_private(self) -> bool {
        matches!(self, KeyForm::Pkcs8Private | KeyForm::Pkcs1Private)
    }

    /// `private` or `public`.
    pub fn kind(self) -> &'static str {
        if self.is_private() {
            "private"
        } else {
            "public"
        }
    }
}

impl fmt::Display for KeyForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyForm::Pkcs8Private => "PKCS#8 private key",
            KeyForm::Pkcs1Private => "PKCS#1 private key",
            KeyForm::SpkiPublic => "SPKI public key",
            KeyForm::Pkcs1Public => "PKCS#1 public key",
            KeyForm::Jwk => "RSA JWK",
        })
    }
}

/// The public half of a key file, ready to serve.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// How the source file encoded the key.
    pub form: KeyForm,
    /// Modulus size in bits.
    pub bits: usize,
    /// SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// SHA-256 of the SPKI DER: identifies the key material.
    pub fingerprint: [u8; 32],
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Public exponent, big-endian.
    pub e: Vec<u8>,
}

impl PublicKey {
    /// SubjectPublicKeyInfo, PEM (`BEGIN PUBLIC KEY`, LF line endings).
    pub fn spki_pem(&self) -> String {
        pem::pem_encode("PUBLIC KEY", &self.spki_der)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("form", &self.form)
            .field("bits", &self.bits)
            .field("fingerprint", &hex::encode(&self.fingerprint[..8]))
            .finish()
    }
}

/// Decodes a PEM key file and returns its public half.
///
/// Accepts PKCS#8 and PKCS#1 RSA private keys and SPKI and PKCS#1 RSA public
/// keys of [`MIN_BITS`] or more. Private keys are checked for consistency
/// (`p·q = n`, `d·e ≡ 1`) so a corrupted file is refused rather than served.
pub fn decode_public(data: &[u8]) -> Result<PublicKey, KeyError> {
    let (form, public, c) = decode_any_size(data)?;
    let bits = public.n().bits();
    if bits < MIN_BITS {
        return Err(KeyError::TooShort { bits });
    }
    let spki_der = spki_der(&c.n_bytes, &c.e_bytes)?;
    let fingerprint = Sha256::digest(&spki_der).into();
    Ok(PublicKey {
        form,
        bits,
        spki_der,
        fingerprint,
        n: c.n_bytes,
        e: c.e_bytes,
    })
}

/// The RSA public key in a PEM key file, whatever its size: for diagnosing
/// keys that [`decode_public`] refuses to serve. Returns the form, the
/// big-endian modulus and exponent, and the modulus size in bits.
pub fn rsa_components(data: &[u8]) -> Result<(KeyForm, Vec<u8>, Vec<u8>, usize), KeyError> {
    let (form, public, c) = decode_any_size(data)?;
    Ok((form, c.n_bytes, c.e_bytes, public.n().bits()))
}

fn decode_any_size(data: &[u8]) -> Result<(KeyForm, RsaPublicKey, Components), KeyError> {
    let text = std::str::from_utf8(data).map_err(|_| KeyError::NotPem { binary: true })?;
    let block = key_block(text)?;
    let der = decode_base64(block.body)?;
    let (form, mut c) = match block.label {
        "PRIVATE KEY" => {
            let info = rsa::pkcs8::PrivateKeyInfo::try_from(der.as_slice())
                .map_err(|e| KeyError::Malformed(format!("PKCS#8: {e}")))?;
            check_rsa_oid(&info.algorithm.oid)?;
            (KeyForm::Pkcs8Private, private_components(info.private_key)?)
        }
        "RSA PRIVATE KEY" => (KeyForm::Pkcs1Private, private_components(&der)?),
        "PUBLIC KEY" => {
            let spki = rsa::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der.as_slice())
                .map_err(|e| KeyError::Malformed(format!("SPKI: {e}")))?;
            check_rsa_oid(&spki.algorithm.oid)?;
            let bits = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| KeyError::Malformed("SPKI: unaligned bit string".into()))?;
            (KeyForm::SpkiPublic, public_components(bits)?)
        }
        _ => (KeyForm::Pkcs1Public, public_components(&der)?),
    };
    let (n, e) = (std::mem::take(&mut c.n), std::mem::take(&mut c.e));
    let public = RsaPublicKey::new_with_max_size(n, e, MAX_BITS)
        .map_err(|err| KeyError::Malformed(format!("RSA public key: {err}")))?;
    Ok((form, public, c))
}

/// The RSA public key of a JWK's base64url `n` and `e`: the big-endian
/// modulus and exponent, and the modulus size in bits.
pub(crate) fn jwk_components(n: &str, e: &str) -> Result<(Vec<u8>, Vec<u8>, usize), KeyError> {
    use base64::Engine as _;
    let decode = |name: &str, v: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.trim_end_matches('='))
            .map_err(|err| KeyError::Malformed(format!("JWK {name} is not base64url: {err}")))
    };
    let public =
        RsaPublicKey::new_with_max_size(uint(&decode("n", n)?), uint(&decode("e", e)?), MAX_BITS)
            .map_err(|err| KeyError::Malformed(format!("JWK RSA key: {err}")))?;
    Ok((
        public.n().to_bytes_be(),
        public.e().to_bytes_be(),
        public.n().bits(),
    ))
}

/// The DER of a private key file, for signing: PKCS#8 or PKCS#1.
///
/// Fails with [`KeyError::PublicOnly`] for a public key file.
pub fn private_key_der(data: &[u8]) -> Result<(KeyForm, Vec<u8>), KeyError> {
    let text = std::str::from_utf8(data).map_err(|_| KeyError::NotPem { binary: true })?;
    let block = key_block(text)?;
    let form = match block.label {
        "PRIVATE KEY" => KeyForm::Pkcs8Private,
        "RSA PRIVATE KEY" => KeyForm::Pkcs1Private,
        _ => return Err(KeyError::PublicOnly),
    };
    Ok((form, decode_base64(block.body)?))
}

fn check_rsa_oid(oid: &rsa::pkcs8::ObjectIdentifier) -> Result<(), KeyError> {
    const EC: &str = "1.2.840.10045.2.1";
    const ED25519: &str = "1.3.101.112";
    const RSA_PSS: &str = "1.2.840.113549.1.1.10";
    if *oid == rsa::pkcs1::ALGORITHM_OID {
        return Ok(());
    }
    let name = match oid.to_string().as_str() {
        EC => "EC".to_owned(),
        ED25519 => "Ed25519".to_owned(),
        RSA_PSS => {
            "RSA-PSS (restricted to PSS; Prosody needs a plain rsaEncryption key)".to_owned()
        }
        other => format!("algorithm {other}"),
    };
    Err(KeyError::NotRsa(name))
}

fn uint(bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes)
}

/// n and e from a PKCS#1 RSAPrivateKey, after checking the key is consistent.
fn private_components(der: &[u8]) -> Result<Components, KeyError> {
    let key = rsa::pkcs1::RsaPrivateKey::from_der(der)
        .map_err(|e| KeyError::Malformed(format!("PKCS#1 private key: {e}")))?;
    if key.other_prime_infos.is_some() {
        return Err(KeyError::Malformed(
            "multi-prime RSA keys are not supported".into(),
        ));
    }
    let n = uint(key.modulus.as_bytes());
    let e = uint(key.public_exponent.as_bytes());
    let d = uint(key.private_exponent.as_bytes());
    let p = uint(key.prime1.as_bytes());
    let q = uint(key.prime2.as_bytes());
    let one = BigUint::from(1u8);
    let consistent = p > one
        && q > one
        && &p * &q == n
        && (&d * &e) % (&p - &one) == one
        && (&d * &e) % (&q - &one) == one;
    if !consistent {
        return Err(KeyError::Malformed(
            "private key is inconsistent (p·q ≠ n or d·e ≢ 1): the file is corrupted".into(),
        ));
    }
    Ok(Components {
        n,
        e,
        n_bytes: key.modulus.as_bytes().to_vec(),
        e_bytes: key.public_exponent.as_bytes().to_vec(),
    })
}

fn public_components(der: &[u8]) -> Result<Components, KeyError> {
    let key = rsa::pkcs1::RsaPublicKey::from_der(der)
        .map_err(|e| KeyError::Malformed(format!("PKCS#1 public key: {e}")))?;
    Ok(Components {
        n: uint(key.modulus.as_bytes()),
        e: uint(key.public_exponent.as_bytes()),
        n_bytes: key.modulus.as_bytes().to_vec(),
        e_bytes: key.public_exponent.as_bytes().to_vec(),
    })
}

/// n and e as numbers, and as the big-endian bytes the file holds them in
/// (without leading zeros): re-encoding them from the numbers would cost
/// more than the rest of the parse.
struct Components {
    n: BigUint,
    e: BigUint,
    n_bytes: Vec<u8>,
    e_bytes: Vec<u8>,
}

/// The SubjectPublicKeyInfo DER of an RSA key (what `rsa` encodes, from
/// bytes instead of numbers).
fn spki_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, KeyError> {
    use rsa::pkcs1::der::Encode as _;
    let bad = |e: rsa::pkcs1::der::Error| KeyError::Malformed(format!("SPKI encoding: {e}"));
    let pkcs1 = rsa::pkcs1::RsaPublicKey {
        modulus: rsa::pkcs1::UintRef::new(n).map_err(bad)?,
        public_exponent: rsa::pkcs1::UintRef::new(e).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)?;
    rsa::pkcs8::SubjectPublicKeyInfoRef {
        algorithm: rsa::pkcs1::ALGORITHM_ID,
        subject_public_key: rsa::pkcs8::der::asn1::BitStringRef::new(0, &pkcs1).map_err(bad)?,
    }
    .to_der()
    .map_err(bad)
}

/// Generates a new RSA private key of `bits` (2048, 3072, 4096 or 8192) and
/// returns it as PKCS#8 PEM.
pub fn generate_pkcs8_pem(bits: usize) -> Result<String, KeyError> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        8192 => KeySize::Rsa8192,
        other => return Err(KeyError::UnsupportedSize(other)),
    };
    let pair = KeyPair::generate(size).map_err(|_| KeyError::Generate)?;
    let der = pair.as_der().map_err(|_| KeyError::Generate)?;
    Ok(pem_encode("PRIVATE KEY", der.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_to_spki() {
        let pem = generate_pkcs8_pem(2048).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let public = decode_public(pem.as_bytes()).unwrap();
        assert_eq!(public.form, KeyForm::Pkcs8Private);
        assert_eq!(public.bits, 2048);
        assert!(public
            .spki_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(!public.spki_pem().contains("PRIVATE"));
        // Decoding the served form gives the same key back.
        let again = decode_public(public.spki_pem().as_bytes()).unwrap();
        assert_eq!(again.form, KeyForm::SpkiPublic);
        assert_eq!(again.fingerprint, public.fingerprint);
    }

    #[test]
    fn crlf_and_surrounding_text_are_tolerated() {
        let pem = generate_pkcs8_pem(2048).unwrap();
        let messy = format!("comment line\r\n{}\r\n", pem.replace('\n', "\r\n"));
        assert!(decode_public(messy.as_bytes()).is_ok());
    }

    #[test]
    fn refusals_name_the_problem() {
        assert_eq!(
            decode_public(b"hello").unwrap_err(),
            KeyError::NotPem { binary: false }
        );
        assert_eq!(
            decode_public(&[0xff, 0xfe, 0]).unwrap_err(),
            KeyError::NotPem { binary: true }
        );
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            decode_public(cert.as_bytes()).unwrap_err(),
            KeyError::Certificate
        );
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            decode_public(enc.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let trunc = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n";
        assert!(matches!(
            decode_public(trunc.as_bytes()),
            Err(KeyError::Malformed(_))
        ));
        let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(
            decode_public(garbage.as_bytes()),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn two_keys_in_one_file_are_ambiguous() {
        let a = generate_pkcs8_pem(2048).unwrap();
        let both = format!("{a}{a}");
        assert_eq!(
            decode_public(both.as_bytes()).unwrap_err(),
            KeyError::SeveralKeys
        );
    }

    #[test]
    fn unsupported_sizes_are_refused() {
        assert_eq!(
            generate_pkcs8_pem(1024).unwrap_err(),
            KeyError::UnsupportedSize(1024)
        );
    }
}
