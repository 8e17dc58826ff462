//! HTTPS: served with rustls, checked with curl against a test CA; the
//! certificate is swapped while a client keeps requesting.

use crate::common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn served_cn(addr: std::net::SocketAddr) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo | openssl s_client -connect {addr} 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn tls_server(dir: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Server {
    Server::start(
        dir,
        &["--tls-cert", &path_str(cert), "--tls-key", &path_str(key)],
    )
}

#[test]
fn keys_are_served_over_tls_12_and_13() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let pki = TestPki::new();
    let server = tls_server(&dir, &pki.cert, &pki.key);
    assert!(server.has_log(&format!("listening on https://{}", server.addr)));
    let url = format!(
        "https://127.0.0.1:{}{}",
        server.addr.port(),
        key_path("jitsi/k")
    );
    for version in [&["--tlsv1.2", "--tls-max", "1.2"][..], &["--tlsv1.3"]] {
        let (code, body) = curl_https(&url, &pki.ca, version);
        assert_eq!(
            (code, body.as_str()),
            (200, key(0).spki.as_str()),
            "{version:?}"
        );
    }
    let (code, _) = curl_https(
        &format!("https://127.0.0.1:{}/jitsi/k", server.addr.port()),
        &pki.ca,
        &[],
    );
    assert_eq!(code, 200, "ASAP layout over TLS");
    // Untrusted without the CA; plain HTTP on the TLS port gets no answer.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", &url])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "curl must not trust the test CA by default"
    );
    let raw = raw_exchange(server.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        !String::from_utf8_lossy(&raw).contains("200 OK"),
        "plain HTTP is not served on the TLS port"
    );
    // Our own verify, as Prosody would fetch over https.
    let token = token_with(
        &serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "jitsi/k"}),
        &good_claims(),
        &key(0).pkcs8,
    );
    let (code, out, _) = cli(&[
        "verify",
        &token,
        "--key-server",
        &format!("https://127.0.0.1:{}", server.addr.port()),
        "--ca-file",
        &path_str(&pki.ca),
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn bad_certificates_are_clear_errors_at_start_and_ignored_at_reload() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let pki = TestPki::new();
    let garbage = t.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let (_other_cert, other_key) = pki.issue("other", "other");
    for (cert, key_file, needle) in [
        (
            garbage.clone(),
            pki.key.clone(),
            "no BEGIN CERTIFICATE block",
        ),
        (pki.cert.clone(), garbage.clone(), "no usable private key"),
        (pki.cert.clone(), other_key.clone(), "--tls-cert"),
        (
            t.path().join("missing.pem"),
            pki.key.clone(),
            "missing.pem: cannot read certificates",
        ),
    ] {
        let (cert, key_file) = (path_str(&cert), path_str(&key_file));
        let tls = ["--tls-cert", &cert, "--tls-key", &key_file];
        let (code, _, err) = cli(&serve_args(&dir, &tls));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(needle), "no {needle:?} in {err}");
    }
    let (code, _, err) = cli(&[
        "serve",
        "--no-init",
        "--keys",
        &path_str(&dir),
        "--tls-cert",
        &path_str(&pki.cert),
    ]);
    assert_eq!(code, 2, "--tls-cert needs --tls-key: {err}");

    // At reload: a broken file keeps the old certificate in service.
    let live_cert = t.path().join("live.pem");
    let live_key = t.path().join("live.key");
    std::fs::copy(&pki.cert, &live_cert).unwrap();
    std::fs::copy(&pki.key, &live_key).unwrap();
    let server = tls_server(&dir, &live_cert, &live_key);
    std::fs::write(
        &live_cert,
        "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    server.wait_log("new TLS certificate does not load; still serving the previous one");
    let (code, _) = curl_https(
        &format!("https://127.0.0.1:{}/healthz", server.addr.port()),
        &pki.ca,
        &[],
    );
    assert_eq!(code, 200);
}

#[test]
fn a_certificate_swapped_under_load_fails_no_request() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let pki = TestPki::new();
    let live_cert = t.path().join("live.pem");
    let live_key = t.path().join("live.key");
    std::fs::copy(&pki.cert, &live_cert).unwrap();
    std::fs::copy(&pki.key, &live_key).unwrap();
    let server = tls_server(&dir, &live_cert, &live_key);
    assert!(
        served_cn(server.addr).contains("CN = first"),
        "{}",
        served_cn(server.addr)
    );
    let (new_cert, new_key) = pki.issue("renewed", "renewed");

    let stop = Arc::new(AtomicBool::new(false));
    let url = format!(
        "https://127.0.0.1:{}{}",
        server.addr.port(),
        key_path("jitsi/k")
    );
    let ca = pki.ca.clone();
    let client = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(curl_https(&url, &ca, &[]).0);
            }
            answers
        })
    };
    // Renew the way certbot does: new files renamed into place, key first.
    let stage = |from: &std::path::Path, to: &std::path::Path| {
        let tmp = to.with_extension("new");
        std::fs::copy(from, &tmp).unwrap();
        std::fs::rename(&tmp, to).unwrap();
    };
    stage(&new_key, &live_key);
    stage(&new_cert, &live_cert);
    server.wait_log("TLS certificate reloaded");
    wait_until("the renewed certificate is served", || {
        served_cn(server.addr).contains("CN = renewed")
    });
    stop.store(true, Ordering::Relaxed);
    let answers = client.join().unwrap();
    assert!(answers.len() >= 5, "only {} requests ran", answers.len());
    assert!(
        answers.iter().all(|c| *c == 200),
        "a request failed during the swap: {answers:?}"
    );
}
