//! What the server answers over real HTTP: every key form served as SPKI,
//! nested kids, Prosody's double slash, caching headers, 304s, HEAD, the
//! error statuses, health, and a served key that verifies a signature made
//! by openssl, checked by openssl and by luaossl (what Prosody uses).

use crate::common::*;
use std::process::Command;

fn four_forms() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    write(dir.join("a/pkcs8.pem"), &key(0).pkcs8);
    write(dir.join("a/pkcs1.pem"), &key(1).pkcs1);
    write(dir.join("pub/spki.pem"), &key(2).spki);
    write(dir.join("pub/rsa-public.pem"), &key(3).pkcs1_public);
    (t, dir)
}

#[test]
fn every_key_form_is_served_as_the_spki_public_key() {
    let (_t, dir) = four_forms();
    let server = Server::start(&dir, &[]);
    for (kid, k) in [
        ("a/pkcs8", key(0)),
        ("a/pkcs1", key(1)),
        ("pub/spki", key(2)),
        ("pub/rsa-public", key(3)),
    ] {
        let r = server.get(&key_path(kid));
        assert_eq!(r.status, 200, "{kid}");
        assert_eq!(r.header("content-type"), Some("application/x-pem-file"));
        // Byte-identical to `openssl pkey -pubout`: the public key, never the file.
        assert_eq!(r.text(), k.spki, "{kid}");
        assert!(
            !r.text().contains("PRIVATE"),
            "{kid} leaked private material"
        );
        assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
        let etag = r.header("etag").unwrap();
        assert!(
            etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
            "strong etag: {etag}"
        );
        assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    }
}

#[test]
fn nested_kids_and_prosodys_double_slash_are_served() {
    let (_t, dir) = keydir();
    write(dir.join("tenant/app/2026-11-27/k+1_x.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let path = key_path("tenant/app/2026-11-27/k+1_x");
    assert_eq!(server.get(&path).text(), key(0).spki);
    // asap_key_server = "http://host/" makes Prosody request //<hex>.pem.
    assert_eq!(server.get(&format!("/{path}")).text(), key(0).spki);
    assert_eq!(server.get(&format!("///{path}")).status, 200);
    assert_eq!(server.get(&format!("{path}?cachebust=1")).status, 200);
    // Uppercase hex is not what Prosody asks for.
    assert_eq!(
        server
            .get(&path.to_uppercase().replace(".PEM", ".pem"))
            .status,
        404
    );
}

#[test]
fn conditional_requests_and_head() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let path = key_path("jitsi/k");
    let first = server.get(&path);
    let etag = first.header("etag").unwrap().to_owned();
    let modified = first.header("last-modified").unwrap().to_owned();

    let r = request(server.addr, "GET", &path, &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = request(
        server.addr,
        "GET",
        &path,
        &[("If-None-Match", &format!("\"other\", W/{etag}"))],
    );
    assert_eq!(r.status, 304);
    let r = request(server.addr, "GET", &path, &[("If-None-Match", "\"other\"")]);
    assert_eq!(r.status, 200);
    let r = request(
        server.addr,
        "GET",
        &path,
        &[("If-Modified-Since", &modified)],
    );
    assert_eq!(r.status, 304);
    let r = request(
        server.addr,
        "GET",
        &path,
        &[("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), key(0).spki);

    // HEAD: same headers, no body on the wire.
    let raw = raw_exchange(
        server.addr,
        format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let head = parse_reply(&raw, false);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD sent a body");
    assert_eq!(
        head.header("content-length"),
        Some(key(0).spki.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), Some(etag.as_str()));
}

#[test]
fn unknown_paths_methods_and_bad_requests() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &["--cache-max-age", "60"]);
    assert_eq!(
        server.get(&key_path("jitsi/k")).header("cache-control"),
        Some("public, max-age=60")
    );

    let r = server.get(&key_path("jitsi/unknown"));
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("sha256"),
        "404 explains the layout: {}",
        r.text()
    );
    assert!(r.body.len() < 200);
    for path in [
        "/",
        "/jitsi/k.pem",
        "/jitsi/k/",
        "/../keys/jitsi/k.pem",
        "/%2e%2e/etc/passwd",
        "/keys/jitsi/k.pem",
    ] {
        assert_eq!(server.status(path), 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let r = request(
            server.addr,
            method,
            &key_path("jitsi/k"),
            &[("Content-Length", "0")],
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let r = parse_reply(&raw_exchange(server.addr, b"NOT A REQUEST\r\n\r\n"), false);
    assert_eq!(r.status, 400);
    let r = parse_reply(
        &raw_exchange(server.addr, b"GET /\x01\x02 HTTP/1.1\r\n\r\n"),
        false,
    );
    assert_eq!(r.status, 400);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let r = parse_reply(&raw_exchange(server.addr, huge.as_bytes()), false);
    assert_eq!(r.status, 431);
    // Still healthy after all that.
    assert_eq!(server.get(&key_path("jitsi/k")).text(), key(0).spki);
}

#[test]
fn health_and_readiness() {
    let (_t, dir) = keydir();
    let server = Server::start(&dir, &[]);
    assert_eq!(server.get("/healthz").status, 200);
    // Ready once the first scan is done, even with no key at all.
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(server.get("/readyz").text(), "ready\n");
}

const LUA_VERIFY: &str = r#"
local pkey = require "openssl.pkey"
local digest = require "openssl.digest"
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
local key = pkey.new(slurp(arg[1]))         -- what luajwtjitsi does with the fetched body
local d = digest.new("sha256"); d:update(slurp(arg[3]))
if key:verify(slurp(arg[2]), d) then print("verified") else print("BAD SIGNATURE"); os.exit(1) end
"#;

#[test]
fn served_key_verifies_an_openssl_signature_in_openssl_and_luaossl() {
    let (t, dir) = four_forms();
    let server = Server::start(&dir, &[]);
    let work = t.path();
    std::fs::write(work.join("data"), b"header.payload").unwrap();
    std::fs::write(work.join("verify.lua"), LUA_VERIFY).unwrap();
    for (kid, k) in [("a/pkcs8", key(0)), ("a/pkcs1", key(1))] {
        std::fs::write(work.join("priv.pem"), &k.pkcs8).unwrap();
        let sig = openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            &path_str(&work.join("priv.pem")),
            &path_str(&work.join("data")),
        ]);
        std::fs::write(work.join("sig"), sig).unwrap();
        std::fs::write(work.join("served.pem"), server.get(&key_path(kid)).body).unwrap();
        let out = openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            &path_str(&work.join("served.pem")),
            "-signature",
            &path_str(&work.join("sig")),
            &path_str(&work.join("data")),
        ]);
        assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK", "{kid}");
        let lua = Command::new("lua5.4")
            .arg(work.join("verify.lua"))
            .args([work.join("served.pem"), work.join("sig"), work.join("data")])
            .output()
            .expect("lua5.4 with lua-luaossl is installed (scripts/test installs it)");
        assert!(
            lua.status.success(),
            "luaossl: {}{}",
            String::from_utf8_lossy(&lua.stdout),
            String::from_utf8_lossy(&lua.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&lua.stdout).trim(), "verified");
        // A different key's served PEM must not verify it.
        std::fs::write(
            work.join("other.pem"),
            server.get(&key_path("pub/spki")).body,
        )
        .unwrap();
        let lua = Command::new("lua5.4")
            .arg(work.join("verify.lua"))
            .args([work.join("other.pem"), work.join("sig"), work.join("data")])
            .output()
            .unwrap();
        assert!(!lua.status.success(), "wrong key verified a signature");
    }
}
