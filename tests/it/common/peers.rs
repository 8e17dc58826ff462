//! The real verifiers and peers from the registries (PyJWT, jose, luaossl,
//! openssl, atlassian-jwt-auth ...), and tokens built without our code.

use super::keys::{path_str, tempdir};
use super::process::{cli, openssl};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `mint --keys DIR ARGS...`, expecting success; returns (token, stderr).
pub fn mint(dir: &Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["mint", "--keys", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!(code, 0, "mint {args:?} failed: {err}");
    (out.trim().to_owned(), err)
}

/// Decodes a compact JWT's header and claims without verifying it.
pub fn decode(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine as _;
    let parts: Vec<_> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWT: {token}");
    let part = |s: &str| {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    (part(parts[0]), part(parts[1]))
}

pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// The real verifiers, each given the token and the served PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier {
    PyJwt,
    Jose,
    Luaossl,
    OpensslDgst,
}

pub const VERIFIERS: [Verifier; 4] = [
    Verifier::PyJwt,
    Verifier::Jose,
    Verifier::Luaossl,
    Verifier::OpensslDgst,
];

/// Verifies `token` against `pem` with `verifier`; Ok(claims JSON) or Err(reason).
pub fn verify_with(
    verifier: Verifier,
    token: &str,
    pem: &str,
    aud: &str,
    iss: &str,
) -> Result<serde_json::Value, String> {
    use base64::Engine as _;
    let work = tempdir();
    let token_file = work.path().join("token");
    let key_file = work.path().join("key.pem");
    std::fs::write(&token_file, token).unwrap();
    std::fs::write(&key_file, pem).unwrap();
    let peers = peers_dir();
    let mut cmd = match verifier {
        Verifier::PyJwt => {
            let mut c = Command::new("python3");
            c.arg(peers.join("pyjwt_verify.py"))
                .arg(&token_file)
                .arg(&key_file)
                .args([aud, iss]);
            c
        }
        Verifier::Jose => {
            let mut c = Command::new("node");
            c.arg(peers.join("jose_verify.mjs"))
                .arg(&token_file)
                .arg(&key_file)
                .args([aud, iss]);
            c
        }
        Verifier::Luaossl => {
            let mut c = Command::new("lua5.4");
            c.arg(peers.join("luaossl_verify.lua"))
                .arg(&token_file)
                .arg(&key_file);
            c
        }
        Verifier::OpensslDgst => {
            let (signed, sig) = token.rsplit_once('.').unwrap();
            std::fs::write(work.path().join("msg"), signed).unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .map_err(|e| e.to_string())?;
            std::fs::write(work.path().join("sig"), sig).unwrap();
            let mut c = Command::new("openssl");
            c.args(["dgst", "-sha256", "-verify"])
                .arg(&key_file)
                .arg("-signature")
                .arg(work.path().join("sig"))
                .arg(work.path().join("msg"));
            c
        }
    };
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{verifier:?} is not installed ({e}); run scripts/test, which installs it")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError")
            && !stderr.contains("ERR_MODULE_NOT_FOUND")
            && !stderr.contains("module 'openssl"),
        "{verifier:?} is missing a module ({stderr}); run scripts/test, which installs it"
    );
    if !out.status.success() {
        return Err(format!("{stdout} {stderr}"));
    }
    match verifier {
        Verifier::OpensslDgst => {
            assert_eq!(stdout, "Verified OK");
            Ok(decode(token).1)
        }
        _ => {
            let v: serde_json::Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{verifier:?} printed {stdout:?}: {e}"));
            Ok(v["claims"].clone())
        }
    }
}

/// Builds a compact JWT with exactly this header and payload, signed by
/// openssl with `pem` (RS256/384/512) or by HMAC-SHA256 (`HS256`, pem = secret).
pub fn token_with(header: &serde_json::Value, payload: &serde_json::Value, pem: &str) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let alg = header["alg"].as_str().unwrap_or("RS256");
    let work = tempdir();
    std::fs::write(work.path().join("msg"), &message).unwrap();
    std::fs::write(work.path().join("key.pem"), pem).unwrap();
    let digest = format!("-sha{}", &alg[2..]);
    let sig = if alg.starts_with("HS") {
        let mac = openssl(&[
            "dgst",
            &digest,
            "-mac",
            "HMAC",
            "-macopt",
            &format!("key:{pem}"),
            "-binary",
            &path_str(&work.path().join("msg")),
        ]);
        mac
    } else {
        openssl(&[
            "dgst",
            &digest,
            "-sign",
            &path_str(&work.path().join("key.pem")),
            &path_str(&work.path().join("msg")),
        ])
    };
    format!("{message}.{}", b64(&sig))
}

/// Claims Prosody accepts, valid for an hour.
/// A token for `kid` signed with `pem` (RS256, typ JWT): good claims with
/// `changes` (null removes a claim).
pub fn signed(kid: &str, pem: &str, changes: serde_json::Value) -> String {
    let mut claims = good_claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    token_with(
        &serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
        &claims,
        pem,
    )
}

pub fn good_claims() -> serde_json::Value {
    let now = super::process::now();
    serde_json::json!({"iss": "jitsi", "aud": "jitsi", "sub": "*", "room": "standup",
        "iat": now, "nbf": now - 30, "exp": now + 3600, "jti": "t1"})
}

/// Runs a peer script (python3 or node) with env vars; Ok(stdout JSON) or Err(output).
pub fn peer(
    program: &str,
    script: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(program);
    cmd.arg(peers_dir().join(script)).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{program} missing ({e}); run scripts/test, which installs it"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("ModuleNotFoundError") && !stderr.contains("ERR_MODULE_NOT_FOUND"),
        "{script}: missing module ({stderr}); run scripts/test"
    );
    if out.status.success() {
        Ok(serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{script} printed {stdout:?}: {e}")))
    } else {
        Err(format!("{stdout} {stderr}"))
    }
}

/// The Lua peer on luaossl checking `token` against `pem` in the token
/// plugin's login order, with `args` (`--plugin G3 --issuers ...`):
/// Ok(()) when it accepts, Err(reason) when it rejects.
pub fn lua_plugin_check(token: &str, pem: &str, args: &[&str]) -> Result<(), String> {
    let work = tempdir();
    let (token_file, key_file) = (work.path().join("token"), work.path().join("key.pem"));
    std::fs::write(&token_file, token).unwrap();
    std::fs::write(&key_file, pem).unwrap();
    let out = Command::new("lua5.4")
        .arg(peers_dir().join("luaossl_verify.lua"))
        .arg(&token_file)
        .arg(&key_file)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("lua5.4 is not installed ({e}); run scripts/test"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("module 'openssl") && !stderr.contains("unknown option"),
        "the Lua peer failed: {stderr}"
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{stdout} {stderr}"))
    }
}
