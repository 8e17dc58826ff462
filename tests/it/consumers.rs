//! Consumers beyond Prosody, from the registries: Atlassian's ASAP library
//! over HTTPS, node jose's createRemoteJWKSet and PyJWT's PyJWKClient on the
//! JWKS, and prometheus-client's parser on /metrics.

use crate::common::*;

fn token_file(dir: &std::path::Path, token: &str) -> String {
    let p = dir.join(format!("token-{}", &token[token.len() - 8..]));
    std::fs::write(&p, token).unwrap();
    path_str(&p)
}

#[test]
fn atlassian_asap_verifies_a_minted_token_over_https() {
    let (t, dir) = keydir();
    write_private(dir.join("billing/key1.pem"), &key(0).pkcs8);
    write_private(dir.join("other/key1.pem"), &key(1).pkcs8);
    let pki = TestPki::new();
    let server = Server::start(
        &dir,
        &[
            "--tls-cert",
            &path_str(&pki.cert),
            "--tls-key",
            &path_str(&pki.key),
        ],
    );
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let ca = path_str(&pki.ca);
    let (token, _) = mint(
        &dir,
        &[
            "--profile",
            "asap",
            "--kid",
            "billing/key1",
            "--aud",
            "ledger",
        ],
    );
    let claims = peer(
        "python3",
        "asap_verify.py",
        &[&base, &token_file(t.path(), &token), "ledger", &ca],
        &[],
    )
    .unwrap_or_else(|e| panic!("atlassian-jwt-auth rejected: {e}"));
    assert_eq!(claims["claims"]["iss"], "billing");
    assert_eq!(claims["claims"]["sub"], "billing");
    // The library's own rules bite too: wrong audience, and an iss that is not the kid's prefix.
    let err = peer(
        "python3",
        "asap_verify.py",
        &[&base, &token_file(t.path(), &token), "other-aud", &ca],
        &[],
    )
    .unwrap_err();
    assert!(err.contains("REJECTED"), "{err}");
    let (bad, _) = mint(
        &dir,
        &[
            "--profile",
            "asap",
            "--kid",
            "other/key1",
            "--iss",
            "billing",
            "--aud",
            "ledger",
        ],
    );
    let err = peer(
        "python3",
        "asap_verify.py",
        &[&base, &token_file(t.path(), &bad), "ledger", &ca],
        &[],
    )
    .unwrap_err();
    assert!(err.contains("REJECTED"), "{err}");
    // Served under a base path too.
    drop(server);
    let server = Server::start(
        &dir,
        &[
            "--tls-cert",
            &path_str(&pki.cert),
            "--tls-key",
            &path_str(&pki.key),
            "--base-path",
            "/asap",
        ],
    );
    let base = format!("https://127.0.0.1:{}/asap", server.addr.port());
    peer(
        "python3",
        "asap_verify.py",
        &[&base, &token_file(t.path(), &token), "ledger", &ca],
        &[],
    )
    .unwrap();
}

#[test]
fn jose_and_pyjwk_verify_minted_tokens_from_the_jwks() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/a.pem"), &key(0).pkcs8);
    write_private(dir.join("jitsi/b.pem"), &key(1).pkcs8);
    let pki = TestPki::new();
    let server = Server::start(
        &dir,
        &[
            "--tls-cert",
            &path_str(&pki.cert),
            "--tls-key",
            &path_str(&pki.key),
        ],
    );
    let jwks = format!(
        "https://127.0.0.1:{}/.well-known/jwks.json",
        server.addr.port()
    );
    for kid in ["jitsi/a", "jitsi/b"] {
        let (token, _) = mint(&dir, &["--kid", kid, "--room", "r"]);
        let file = token_file(t.path(), &token);
        let env = [
            ("NODE_EXTRA_CA_CERTS", pki.ca.as_path()),
            ("SSL_CERT_FILE", pki.ca.as_path()),
        ];
        let c = peer(
            "node",
            "jose_jwks_verify.mjs",
            &[&jwks, &file, "jitsi", "jitsi"],
            &env,
        )
        .unwrap_or_else(|e| panic!("jose: {e}"));
        assert_eq!(c["claims"]["room"], "r");
        let c = peer(
            "python3",
            "pyjwk_verify.py",
            &[&jwks, &file, "jitsi", "jitsi"],
            &env,
        )
        .unwrap_or_else(|e| panic!("PyJWKClient: {e}"));
        assert_eq!(c["claims"]["room"], "r");
    }
    // A key that is not in the JWKS is refused by both.
    let (_t2, other) = keydir();
    write_private(other.join("jitsi/c.pem"), &key(2).pkcs8);
    let (token, _) = mint(&other, &["--kid", "jitsi/c"]);
    let file = token_file(t.path(), &token);
    let env = [
        ("NODE_EXTRA_CA_CERTS", pki.ca.as_path()),
        ("SSL_CERT_FILE", pki.ca.as_path()),
    ];
    assert!(peer(
        "node",
        "jose_jwks_verify.mjs",
        &[&jwks, &file, "jitsi", "jitsi"],
        &env
    )
    .is_err());
    assert!(peer(
        "python3",
        "pyjwk_verify.py",
        &[&jwks, &file, "jitsi", "jitsi"],
        &env
    )
    .is_err());
}

#[test]
fn metrics_parse_with_prometheus_client_and_count_what_happened() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    write(dir.join("bad.pem"), "garbage");
    write(dir.join("notes.txt"), "x");
    let server = Server::start(&dir, &[]);
    for _ in 0..3 {
        assert_eq!(server.get(&key_path("jitsi/k")).status, 200);
    }
    let etag = server.get("/jitsi/k").header("etag").unwrap().to_owned();
    assert_eq!(
        request(server.addr, "GET", "/jitsi/k", &[("If-None-Match", &etag)]).status,
        304
    );
    assert_eq!(server.get("/.well-known/jwks.json").status, 200);
    assert_eq!(server.get("/nope").status, 404);
    assert_eq!(
        request(server.addr, "POST", "/nope", &[("Content-Length", "0")]).status,
        405
    );
    write_private(dir.join("jitsi/k2.pem"), &key(1).pkcs8);
    // Wait on the gauge itself: polling a key route would change the counts.
    wait_until("two keys", || {
        server
            .get("/metrics")
            .text()
            .contains("asap_keyserver_keys 2")
    });

    let metrics = server.get("/metrics");
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let file = t.path().join("metrics.txt");
    std::fs::write(&file, &metrics.body).unwrap();
    let samples = peer("python3", "prom_parse.py", &[&path_str(&file)], &[]).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {samples}"))["value"]
            .as_f64()
            .unwrap()
    };
    for (route, status, expected) in [
        ("prosody_pem", "200", 3.0),
        ("asap", "200", 1.0),
        ("asap", "304", 1.0),
        ("jwks", "200", 1.0),
        ("unknown", "404", 1.0),
        ("unknown", "405", 1.0),
    ] {
        assert_eq!(
            value(
                "asap_keyserver_requests_total",
                &[("route", route), ("status", status)]
            ),
            expected,
            "{route} {status}"
        );
    }
    assert_eq!(value("asap_keyserver_keys", &[]), 2.0);
    assert_eq!(
        value("asap_keyserver_skipped_files", &[("reason", "bad_key")]),
        1.0
    );
    assert_eq!(
        value("asap_keyserver_skipped_files", &[("reason", "not_pem")]),
        1.0
    );
    assert!(value("asap_keyserver_reloads_total", &[]) >= 1.0);
    assert_eq!(value("asap_keyserver_reload_errors_total", &[]), 0.0);
    assert!(value("asap_keyserver_seconds_since_last_reload", &[]) < 3600.0);
    assert_eq!(
        value(
            "asap_keyserver_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}
