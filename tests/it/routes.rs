//! The other layouts from the same key set: ASAP's `/<kid>`, the JWKS, a
//! base path for reverse proxies, and JSON logs.

use crate::common::*;
use base64::Engine as _;

fn modulus_hex(spki: &str) -> String {
    let out = String::from_utf8(openssl_stdin(
        &["rsa", "-pubin", "-noout", "-modulus"],
        spki.as_bytes(),
    ))
    .unwrap();
    out.trim().trim_start_matches("Modulus=").to_lowercase()
}

#[test]
fn asap_layout_serves_the_same_key_at_slash_kid() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/2026-11-27.pem"), &key(0).pkcs8);
    write(dir.join("svc/deep/k1.pem"), &key(1).spki);
    // A kid that looks like another kid's Prosody path: the sha256 route wins.
    write(
        dir.join(format!("{}.pem.pem", sha256_hex("svc/deep/k1"))),
        &key(2).pkcs8,
    );
    let server = Server::start(&dir, &[]);
    let asap = server.get("/jitsi/2026-11-27");
    assert_eq!(asap.status, 200);
    assert_eq!(asap.header("content-type"), Some("application/x-pem-file"));
    assert_eq!(asap.text(), key(0).spki);
    let prosody = server.get(&key_path("jitsi/2026-11-27"));
    assert_eq!(
        asap.header("etag"),
        prosody.header("etag"),
        "one key, one ETag"
    );
    let r = request(
        server.addr,
        "GET",
        "/jitsi/2026-11-27",
        &[("If-None-Match", asap.header("etag").unwrap())],
    );
    assert_eq!(r.status, 304);
    assert_eq!(server.get("/svc/deep/k1").text(), key(1).spki);
    assert_eq!(server.get("//svc//deep/k1").text(), key(1).spki);
    assert_eq!(
        server.get(&key_path("svc/deep/k1")).text(),
        key(1).spki,
        "the sha256 route keeps priority"
    );
    assert_eq!(server.get("/jitsi/2026-11-28").status, 404);
    assert_eq!(server.get("/jitsi").status, 404);
}

#[test]
fn jwks_lists_every_key_with_the_right_modulus_and_follows_reloads() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/a.pem"), &key(0).pkcs8);
    write(dir.join("jitsi/b.pem"), &key(1).pkcs1_public);
    let server = Server::start(&dir, &[]);
    let r = server.get("/.well-known/jwks.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    // The JWKS has its own max-age: Prosody's cache_keys_url refresh runs
    // every max-age - 60 s, so every 5 minutes by default.
    assert_eq!(r.header("cache-control"), Some("public, max-age=360"));
    let jwks: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for (jwk, (kid, k)) in keys.iter().zip([("jitsi/a", key(0)), ("jitsi/b", key(1))]) {
        assert_eq!(jwk["kid"], kid);
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["alg"].as_str(),
                jwk["use"].as_str()
            ),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
        assert_eq!(jwk["e"], "AQAB");
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            hex::encode(n).trim_start_matches('0'),
            modulus_hex(&k.spki).trim_start_matches('0'),
            "{kid}"
        );
        assert!(
            jwk.get("d").is_none() && jwk.get("p").is_none(),
            "never private members"
        );
    }
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(
        request(
            server.addr,
            "GET",
            "/.well-known/jwks.json",
            &[("If-None-Match", &etag)]
        )
        .status,
        304
    );
    write(dir.join("jitsi/c.pem"), &key(2).pkcs8);
    wait_until("the JWKS has three keys", || {
        let v: serde_json::Value =
            serde_json::from_slice(&server.get("/.well-known/jwks.json").body).unwrap();
        v["keys"].as_array().unwrap().len() == 3
    });
    let r = request(
        server.addr,
        "GET",
        "/.well-known/jwks.json",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 200, "a new key set is a new ETag");
}

#[test]
fn jwks_path_and_base_path_move_the_routes() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(
        &dir,
        &["--jwks-path", "/keys.json", "--base-path", "/asap/"],
    );
    assert_eq!(
        server.get(&format!("/asap{}", key_path("jitsi/k"))).text(),
        key(0).spki
    );
    assert_eq!(
        server
            .get(&format!("//asap/{}", key_path("jitsi/k")))
            .status,
        200,
        "Prosody's double slash under a prefix"
    );
    assert_eq!(server.get("/asap/jitsi/k").status, 200);
    assert_eq!(server.get("/asap/keys.json").status, 200);
    assert_eq!(server.get("/asap/healthz").status, 200);
    assert_eq!(server.get("/asap/readyz").status, 200);
    assert_eq!(server.get("/asap/metrics").status, 200);
    for outside in [
        key_path("jitsi/k"),
        "/jitsi/k".into(),
        "/keys.json".into(),
        "/healthz".into(),
        "/asap/.well-known/jwks.json".into(),
        "/asapx/jitsi/k".into(),
    ] {
        assert_eq!(server.get(&outside).status, 404, "{outside}");
    }
    let (code, _, err) = cli(&serve_args(&dir, &["--base-path", "/a b"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("--base-path \"/a b\": use a plain URL path like /keys"),
        "{err}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &["--log-format", "json"]);
    write(dir.join("jitsi/k2.pem"), &key(1).pkcs8);
    server.wait_log("key set reloaded");
    let logs = server.logs();
    let mut kids = Vec::new();
    for line in logs.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["message"] == "key loaded" {
            kids.push(v["kid"].as_str().unwrap().to_owned());
        }
    }
    kids.sort();
    assert_eq!(kids, ["jitsi/k", "jitsi/k2"], "{logs}");
    assert!(
        !logs.contains("BEGIN") && !logs.contains(key(0).pkcs8.lines().nth(2).unwrap()),
        "never key material in logs"
    );
}
