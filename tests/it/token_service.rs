//! `serve --config`: the token service. A bad config stops `serve` before
//! it binds (exit 2, naming the file, the key and the fix); the cookie key
//! is generated 0600; the mint API refuses every request outside a
//! client's secret and policy with the right status and mints nothing; its
//! tokens are accepted by the real Prosody through `asap_key_server` and
//! through `cache_keys_url`, and by PyJWT and jose; and a new key signs
//! only once it has been in the directory for `min_key_age`.

use crate::common::*;
use serde_json::json;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SECRET: &str = "s3cr3t-for-the-backend-0123456789";
const OTHER_SECRET: &str = "another-client-secret-9876543210";

/// `POST path` with `body` and headers; reads the answer while writing,
/// so an early answer to a large body is still read.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut writer = s.try_clone().unwrap();
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let _ = sender.join();
    parse_reply(&out, false)
}

/// `POST /mint` with the bearer `secret` and a JSON `body`.
fn mint_api(addr: SocketAddr, secret: &str, body: serde_json::Value) -> Reply {
    let auth = format!("Bearer {secret}");
    post(
        addr,
        "/mint",
        &[("Authorization", &auth)],
        body.to_string().as_bytes(),
    )
}

fn json_of(r: &Reply) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// A config folder with the backend's secret (and another client's), and
/// `toml` as `service.toml`.
fn config(toml: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    std::fs::create_dir(t.path().join("clients")).unwrap();
    write(
        t.path().join("clients/backend.secret"),
        format!("{SECRET}\n"),
    );
    write(t.path().join("clients/other.secret"), OTHER_SECRET);
    let file = t.path().join("service.toml");
    write(&file, toml);
    (t, file)
}

const MINT: &str = r#"
min_key_age = "0s"

[mint]
[[mint.clients]]
name = "backend"
secret_file = "clients/backend.secret"
issuers = ["jitsi"]
rooms = ["standup", "team-*"]
max_ttl = "1h"

[[mint.clients]]
name = "slow"
secret_file = "clients/other.secret"
issuers = ["jitsi", "other"]
rooms = ["*"]
rate = "2/min"
"#;

fn serve_with(dir: &Path, file: &Path) -> Server {
    Server::start(dir, &["--config", file.to_str().unwrap()])
}

#[test]
fn a_bad_config_stops_serve_before_it_binds_naming_file_key_and_fix() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let cases: [(String, &[&str]); 6] = [
        (
            format!("{MINT}colour = \"blue\"\n"),
            &["unknown field `colour`"],
        ),
        (
            MINT.replace("clients/backend.secret", "clients/missing.secret"),
            &[
                "mint.clients[0].secret_file",
                "missing.secret",
                "openssl rand -hex 32",
            ],
        ),
        (
            MINT.replace("min_key_age = \"0s\"", "min_key_age = \"soon\""),
            &["min_key_age: \"soon\" is not a duration", "\"90s\""],
        ),
        (
            MINT.replace("max_ttl = \"1h\"", "max_ttl = \"1 fortnight\""),
            &["mint.clients[0].max_ttl", "is not a duration"],
        ),
        (
            MINT.replace("rate = \"2/min\"", "rate = \"fast\""),
            &["mint.clients[1].rate", "50/s"],
        ),
        (
            "min_key_age = \"1s\"\n".to_owned(),
            &["neither [oidc] nor [mint]"],
        ),
    ];
    for (toml, needles) in cases {
        let (_t, file) = config(&toml);
        let args = serve_args(&dir, &["--config", file.to_str().unwrap()]);
        let (code, _, err) = cli_within(DEADLINE, &args);
        assert_eq!(code, 2, "{toml}\n{err}");
        assert!(
            err.contains(file.to_str().unwrap()),
            "the file is named: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "no {n:?} in {err}");
        }
        assert!(!err.contains("listening"), "{err}");
    }
    // The same through ASAP_CONFIG, and a config that does not exist.
    let out = std::process::Command::new(bin())
        .args(serve_args(&dir, &[]))
        .env("ASAP_CONFIG", "/nonexistent/asap.toml")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent/asap.toml: cannot read the token service config"),
        "{err}"
    );
}

#[test]
fn the_cookie_key_is_generated_0600_once_and_kept() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let oidc = r#"
[oidc]
issuer = "https://idp.example.com/realms/main"
client_id = "jitsi"
client_secret_file = "clients/backend.secret"
public_url = "https://auth.example.com"
jitsi_url = "https://meet.example.com"
scopes = ["openid", "profile", "email"]
token_issuer = "jitsi"
audience = "jitsi"
ttl = "3h"
moderator = { claim = "groups", value = "jitsi-moderators" }
cookie_key_file = "state/cookie.key"
"#;
    let (t, file) = config(oidc);
    let cookie = t.path().join("state/cookie.key");
    let server = serve_with(&dir, &file);
    let meta = std::fs::metadata(&cookie).expect("the cookie key was created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let first = std::fs::read_to_string(&cookie).unwrap();
    assert_eq!(first.trim().len(), 64, "{first:?}");
    assert!(first.trim().chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        !server.logs().contains(first.trim()),
        "the key is never logged"
    );
    assert!(
        !server.logs().contains(SECRET),
        "the client secret is never logged"
    );
    drop(server);
    // A second start (another replica) reads the same key.
    let again = serve_with(&dir, &file);
    assert_eq!(std::fs::read_to_string(&cookie).unwrap(), first);
    drop(again);
    // A cookie key file that holds no key is an error naming it.
    write(&cookie, "not a key");
    let args = serve_args(&dir, &["--config", file.to_str().unwrap()]);
    let (code, _, err) = cli_within(DEADLINE, &args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("oidc.cookie_key_file") && err.contains("64 hex digits"),
        "{err}"
    );
}

#[test]
fn the_mint_api_refuses_what_the_secret_and_policy_do_not_allow() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    write_private(dir.join("other/k.pem"), &key(1).pkcs8);
    let (_t, file) = config(MINT);
    let server = serve_with(&dir, &file);
    let addr = server.addr;
    let expect = |r: Reply, status: u16, needle: &str| {
        assert_eq!(r.status, status, "{}", r.text());
        let error = json_of(&r)["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(needle), "no {needle:?} in {error:?}");
        assert!(json_of(&r).get("token").is_none());
        r
    };
    let good = json!({"room": "standup"});
    // No secret, a wrong one, another scheme.
    let r = post(addr, "/mint", &[], good.to_string().as_bytes());
    let r = expect(r, 401, "missing Authorization");
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"mint\""));
    expect(
        mint_api(addr, "wrong-secret-0123456789", good.clone()),
        401,
        "belongs to no client",
    );
    let basic = [("Authorization", "Basic YmFja2VuZDpzZWNyZXQ=")];
    expect(post(addr, "/mint", &basic, b"{}"), 401, "Bearer");
    // Outside the policy: 403 naming the rule.
    expect(
        mint_api(addr, SECRET, json!({"room": "boardroom"})),
        403,
        "rooms = [\"standup\", \"team-*\"]",
    );
    expect(mint_api(addr, SECRET, json!({})), 403, "every room");
    expect(
        mint_api(addr, SECRET, json!({"room": "standup", "issuer": "other"})),
        403,
        "issuers = [\"jitsi\"]",
    );
    expect(
        mint_api(addr, SECRET, json!({"room": "standup", "kid": "other/k"})),
        403,
        "issuer \"other\"",
    );
    expect(
        mint_api(addr, SECRET, json!({"room": "standup", "ttl": "2h"})),
        403,
        "max_ttl = \"1h\"",
    );
    expect(
        mint_api(addr, SECRET, json!({"room": "team-a", "ttl": 3601})),
        403,
        "max_ttl",
    );
    // Malformed: 400 naming what.
    let auth = format!("Bearer {SECRET}");
    let h = [("Authorization", auth.as_str())];
    let big = format!(
        "{{\"room\": \"standup\", \"sub\": \"{}\"}}",
        "x".repeat(70 * 1024)
    );
    expect(post(addr, "/mint", &h, big.as_bytes()), 400, "over 64 KiB");
    expect(post(addr, "/mint", &h, b"{\"room\": "), 400, "not JSON");
    expect(post(addr, "/mint", &h, b"room=standup"), 400, "not JSON");
    expect(
        mint_api(addr, SECRET, json!({"room": "standup", "admin": true})),
        400,
        "unknown field `admin`",
    );
    expect(
        mint_api(
            addr,
            SECRET,
            json!({"room": "standup", "user": {"role": "x"}}),
        ),
        400,
        "unknown field `role`",
    );
    expect(
        mint_api(addr, SECRET, json!({"room": "standup", "ttl": "soon"})),
        400,
        "not a duration",
    );
    expect(
        mint_api(
            addr,
            SECRET,
            json!({"room": "standup", "user": {"avatar": "http://x/a.png"}}),
        ),
        400,
        "avatar",
    );
    // Only POST.
    let r = request(addr, "GET", "/mint", &[]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // The rate limit: 2 a minute for "slow", then 429 with Retry-After.
    let slow = json!({"room": "any", "issuer": "other"});
    for _ in 0..2 {
        assert_eq!(mint_api(addr, OTHER_SECRET, slow.clone()).status, 200);
    }
    let r = expect(
        mint_api(addr, OTHER_SECRET, slow.clone()),
        429,
        "over its rate of 2/1m",
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // The backend's own bucket is not touched by the slow client's.
    let r = mint_api(addr, SECRET, json!({"room": "team-a", "moderator": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Nothing was minted by a refused request: the counters say so.
    let metrics = server.get("/metrics").text();
    for line in [
        "asap_keyserver_mint_requests_total{client=\"\",outcome=\"unauthorized\"} 3",
        "asap_keyserver_mint_requests_total{client=\"backend\",outcome=\"unauthorized\"}",
        "asap_keyserver_mint_requests_total{client=\"backend\",outcome=\"minted\"} 1",
        "asap_keyserver_mint_requests_total{client=\"backend\",outcome=\"forbidden\"} 6",
        "asap_keyserver_mint_requests_total{client=\"slow\",outcome=\"minted\"} 2",
        "asap_keyserver_mint_requests_total{client=\"slow\",outcome=\"rate_limited\"} 1",
    ] {
        let present = metrics.contains(line);
        let want = !line.contains("backend\",outcome=\"unauthorized");
        assert_eq!(present, want, "{line} in\n{metrics}");
    }
    // No secret and no token in any log line.
    let logs = server.logs();
    let token = json_of(&r)["token"].as_str().unwrap().to_owned();
    for secret in [SECRET, OTHER_SECRET, "wrong-secret", token.as_str(), "eyJ"] {
        assert!(!logs.contains(secret), "{secret:?} logged:\n{logs}");
    }
    assert!(
        logs.contains("mint API: refused client=\"backend\" status=403 outcome=\"forbidden\""),
        "{logs}"
    );
}

#[test]
fn mint_api_tokens_are_accepted_by_prosody_through_the_key_server_and_the_jwks() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    let (_t, file) = config(MINT);
    let server = serve_with(&dir, &file);
    let url = format!("http://{}", server.addr);
    let body = json!({
        "room": "standup",
        "sub": "meet.test",
        "user": {"id": "u1", "name": "Ada", "email": "ada@example.com", "avatar": "https://example.com/a.png"},
        "moderator": true,
        "features": {"recording": true},
        "ttl": "30m",
    });
    let r = mint_api(server.addr, SECRET, body);
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = json_of(&r);
    let token = answer["token"].as_str().unwrap();
    assert_eq!(answer["kid"], "jitsi/2026-01-01");
    let (header, claims) = decode(token);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "jitsi/2026-01-01"})
    );
    assert_eq!(claims["exp"], answer["exp"]);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        1800
    );
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some("jitsi"), Some("jitsi"))
    );
    assert_eq!(claims["context"]["user"]["name"], "Ada");
    assert_eq!(
        claims["context"]["user"]["moderator"], "true",
        "the string form, as mint writes it"
    );
    // The same claim rules as `mint`: PyJWT and jose verify it against the served key.
    let pem = server.key("jitsi/2026-01-01").unwrap();
    for v in [Verifier::PyJwt, Verifier::Jose] {
        let checked =
            verify_with(v, token, &pem, "jitsi", "jitsi").unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(checked["room"], "standup", "{v:?}");
    }
    // Prosody fetching the key from asap_key_server.
    let through_pem = through_key_server(&url);
    prosody_accepts(&through_pem, token, "standup").unwrap();
    // Prosody reading the JWKS at cache_keys_url; its asap_key_server
    // answers 404 for every key, so only the JWKS can have given the key.
    let through_jwks = through_jwks(&url, 1);
    prosody_accepts(&through_jwks, token, "standup").unwrap();
    let elsewhere = mint_api(server.addr, SECRET, json!({"room": "team-x"}));
    let elsewhere = json_of(&elsewhere)["token"].as_str().unwrap().to_owned();
    assert!(
        prosody_accepts(&through_jwks, &elsewhere, "standup").is_err(),
        "a token for another room is refused"
    );
}

#[test]
fn a_new_key_signs_only_once_it_has_been_in_the_directory_for_min_key_age() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    let (_t, file) = config(&MINT.replace("min_key_age = \"0s\"", "min_key_age = \"2s\""));
    let server = serve_with(&dir, &file);
    let url = format!("http://{}", server.addr);
    let old = dir.join("jitsi/2026-01-01.pem");
    // The first key itself is too young at first: 503 with Retry-After.
    let first = mint_api(server.addr, SECRET, json!({"room": "standup"}));
    if first.status == 503 {
        assert!(first.header("retry-after").is_some(), "{}", first.text());
        assert!(
            json_of(&first)["error"]
                .as_str()
                .unwrap()
                .contains("min-key-age"),
            "{}",
            first.text()
        );
    }
    wait_until("the first key signs", || {
        mint_api(server.addr, SECRET, json!({"room": "standup"})).status == 200
    });
    // Drop a newer key, then mint in a loop until it signs.
    let new = dir.join("jitsi/2026-06-01.pem");
    write_private(&new, &key(1).pkcs8);
    server.wait_key("jitsi/2026-06-01", key(1));
    let new_appeared = appeared_secs(&new);
    let mut tokens: Vec<(String, u64, String)> = Vec::new();
    wait_until("the new key signs", || {
        let r = mint_api(server.addr, SECRET, json!({"room": "standup"}));
        assert_eq!(r.status, 200, "{}", r.text());
        let token = json_of(&r)["token"].as_str().unwrap().to_owned();
        let (header, claims) = decode(&token);
        let kid = header["kid"].as_str().unwrap().to_owned();
        tokens.push((kid.clone(), claims["iat"].as_u64().unwrap(), token));
        std::thread::sleep(Duration::from_millis(200));
        kid == "jitsi/2026-06-01"
    });
    assert!(appeared_secs(&old) <= new_appeared);
    let switched = tokens
        .iter()
        .position(|(kid, _, _)| kid == "jitsi/2026-06-01")
        .unwrap();
    assert!(
        switched > 0,
        "the old key signed while the new one was younger than min_key_age"
    );
    for (i, (kid, iat, _)) in tokens.iter().enumerate() {
        // Never the new key before it was 2 s in the directory (as the
        // server saw its age: iat is the server's clock at signing).
        if kid == "jitsi/2026-06-01" {
            assert!(
                *iat >= new_appeared + 2,
                "token {i}: signed at {iat}, key appeared at {new_appeared}"
            );
        } else {
            assert_eq!(kid, "jitsi/2026-01-01");
            assert!(
                i < switched,
                "token {i}: back to the old key after the switch"
            );
        }
    }
    // Every token in between is accepted by Prosody.
    let prosody = Prosody::start(
        ProsodySetup {
            key_server: Some(url),
            ..G3
        },
        None,
    );
    let last_old = &tokens[switched - 1].2;
    let first_new = &tokens[switched].2;
    for token in [&tokens[0].2, last_old, first_new] {
        prosody_accepts(&prosody, token, "standup").unwrap();
    }
    for (kid, _, token) in &tokens {
        let pem = server.key(kid).unwrap();
        verify_with(Verifier::PyJwt, token, &pem, "jitsi", "jitsi").unwrap();
    }
}

#[test]
fn the_example_config_in_deploy_starts_serve_and_its_90s_wait_is_a_503_with_retry_after() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let t = tempdir();
    let etc = format!("{}/", t.path().display());
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/asap-keyserver.toml"),
    )
    .unwrap();
    let file = t.path().join("asap-keyserver.toml");
    write(&file, example.replace("/etc/asap-keyserver/", &etc));
    std::fs::create_dir(t.path().join("clients")).unwrap();
    write(t.path().join("clients/backend.secret"), SECRET);
    write(t.path().join("oidc-client-secret"), OTHER_SECRET);
    let server = serve_with(&dir, &file);
    assert!(t.path().join("cookie.key").exists());
    let r = mint_api(server.addr, SECRET, json!({"room": "standup"}));
    assert_eq!(r.status, 503, "{}", r.text());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=90).contains(&wait), "{wait}");
    assert!(
        json_of(&r)["error"]
            .as_str()
            .unwrap()
            .contains("no key of jitsi has been in the key directory for 1m 30s"),
        "{}",
        r.text()
    );
}

#[test]
fn doctor_config_names_issuers_without_an_old_enough_key_and_what_prosody_refuses() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    // The slow client may sign for "other", which has no key; jitsi's key is
    // younger than the default min_key_age of 90 s.
    let (c, file) = config(&MINT.replace("min_key_age = \"0s\"\n", ""));
    let cfg = t.path().join("prosody.cfg.lua");
    write(
        &cfg,
        "VirtualHost \"meet.example.com\"\n    authentication = \"token\"\n    app_id = \"jitsi\"\n    asap_key_server = \"http://127.0.0.1:1\"\n    asap_accepted_audiences = { \"meet\" }\n",
    );
    let state = t.path().join("state.json");
    let args = [
        "doctor",
        "--keys",
        dir.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
        "--prosody-config",
        cfg.to_str().unwrap(),
        "--timeout",
        "1s",
    ];
    let (code, out, _) = cli(&args);
    assert_eq!(code, 1, "{out}");
    for needle in [
        &format!("Token service {}", file.display()) as &str,
        "2 client(s): backend, slow",
        "no key of jitsi has been in the key directory for 1m 30s",
        "no private key under issuer \"other\"",
        "asap-keyserver rotate other",
        "invalid 'iss' claim",
        "add \"other\" to asap_accepted_issuers",
        "add \"jitsi\" to asap_accepted_audiences",
    ] {
        assert!(out.contains(needle), "no {needle:?} in\n{out}");
    }
    // doctor writes nothing: a missing cookie key is only noted.
    let oidc = "[oidc]\nissuer = \"http://127.0.0.1:1\"\nclient_id = \"jitsi\"\npublic_url = \"https://auth.example.com\"\n\
        jitsi_url = \"https://meet.example.com\"\ntoken_issuer = \"jitsi\"\ncookie_key_file = \"cookie.key\"\nmin_key_age = \"0s\"\n";
    let file = c.path().join("oidc.toml");
    write(
        &file,
        format!(
            "min_key_age = \"0s\"\n{}",
            oidc.replace("min_key_age = \"0s\"\n", "")
        ),
    );
    let (_, out, _) = cli(&[
        "doctor",
        "--keys",
        dir.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.contains("does not exist yet: serve creates it"),
        "{out}"
    );
    assert!(
        out.contains("signing key of jitsi") && out.contains("jitsi/k (in the key directory for"),
        "{out}"
    );
    assert!(!c.path().join("cookie.key").exists());
}

#[test]
fn kids_at_the_token_services_paths_are_refused_with_the_reason_and_other_oidc_kids_are_served() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    write(dir.join("mint.pem"), &key(1).spki);
    write(dir.join("oidc/auth.pem"), &key(2).spki);
    write(dir.join("oidc/2026-01-01.pem"), &key(3).spki);
    let oidc = "\n[oidc]\nissuer = \"http://127.0.0.1:1\"\nclient_id = \"jitsi\"\npublic_url = \"http://127.0.0.1:9\"\n\
                jitsi_url = \"http://meet.test\"\ntoken_issuer = \"jitsi\"\ncookie_key_file = \"cookie.key\"\n";
    let (_t, file) = config(&format!("{MINT}{oidc}"));
    let server = serve_with(&dir, &file);
    // The service's own paths: refused as kids, with the reason, as /healthz is.
    server.wait_log("reason=kid refused: /mint is a route of the server itself");
    server.wait_log("reason=kid refused: /oidc/auth is a route of the server itself");
    assert_eq!(get(server.addr, &key_path("mint")).status, 404);
    assert_eq!(get(server.addr, &key_path("oidc/auth")).status, 404);
    // /oidc/auth is the bridge's (no IdP here: its error page, no key).
    let bridge = get(server.addr, "/oidc/auth?room=standup");
    assert!(
        !bridge.text().contains("BEGIN PUBLIC KEY"),
        "{}",
        bridge.text()
    );
    // Any other kid under oidc/ is a key like any other, at both its routes.
    for path in ["/oidc/2026-01-01".to_owned(), key_path("oidc/2026-01-01")] {
        let r = get(server.addr, &path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.text(), key(3).spki, "{path}");
    }
    // And the mint API still answers at /mint.
    let minted = mint_api(server.addr, SECRET, json!({"room": "standup"}));
    assert_eq!(minted.status, 200, "{}", minted.text());
    // doctor --config says so before serve does.
    let state = _t.path().join("state.json");
    let (code, out, _) = cli(&[
        "doctor",
        "--keys",
        dir.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    for route in ["mint", "oidc/auth"] {
        assert!(
            out.contains(&format!("a kid at /{route}, a path of the token service")),
            "{out}"
        );
    }
    assert!(!out.contains("a kid at /oidc/2026-01-01"), "{out}");
}

/// The kid of a `POST /mint` that must succeed: a key added never stops the service.
fn minted_kid(addr: SocketAddr) -> String {
    let r = mint_api(addr, SECRET, json!({"room": "standup"}));
    assert_eq!(r.status, 200, "{}", r.text());
    json_of(&r)["kid"].as_str().unwrap().to_owned()
}

/// Writes a private key with its mtime set to `mtime` before it appears
/// at `path` in the key directory `dir` (by a rename from beside it, as
/// `cp -a` or a restore would leave it), so that the server never sees
/// another file time.
fn drop_key_written_at(dir: &Path, path: &Path, pem: &str, mtime: std::time::SystemTime) {
    let staging = dir.parent().unwrap().join("staging.pem");
    write_private(&staging, pem);
    set_mtime(&staging, mtime);
    std::fs::rename(&staging, path).unwrap();
}

/// Issue 27, finding 3: `jitsi/k1.pem` made a day ago, then `k2.pem`
/// dropped in. On cb90f7d every mint answered 503 "cannot tell which key
/// of jitsi is the newest" once k2 was min_key_age old; now k1 signs until
/// then and k2 after, and `mint --issuer` picks k2 too.
#[test]
fn a_key_dropped_a_day_after_another_signs_once_old_enough_and_the_service_never_stops() {
    let (_k, dir) = keydir();
    let k1 = dir.join("jitsi/k1.pem");
    let day_ago = std::time::SystemTime::now() - Duration::from_secs(86_400);
    std::fs::create_dir_all(dir.join("jitsi")).unwrap();
    drop_key_written_at(&dir, &k1, &key(0).pkcs8, day_ago);
    let (_t, file) = config(&MINT.replace("min_key_age = \"0s\"", "min_key_age = \"2s\""));
    let server = serve_with(&dir, &file);
    wait_until("k1 signs", || {
        mint_api(server.addr, SECRET, json!({"room": "standup"})).status == 200
    });
    assert_eq!(minted_kid(server.addr), "jitsi/k1");
    // k2 dropped now: k1 signs while k2 is younger than 2 s, then k2.
    write_private(dir.join("jitsi/k2.pem"), &key(1).pkcs8);
    server.wait_key("jitsi/k2", key(1));
    let mut kids = Vec::new();
    wait_until("k2 signs", || {
        kids.push(minted_kid(server.addr));
        std::thread::sleep(Duration::from_millis(100));
        kids.last().unwrap() == "jitsi/k2"
    });
    let switched = kids.iter().position(|k| k == "jitsi/k2").unwrap();
    assert!(
        kids[..switched].iter().all(|k| k == "jitsi/k1") && switched > 0,
        "k1 until k2 was 2 s old: {kids:?}"
    );
    assert_eq!(minted_kid(server.addr), "jitsi/k2", "and k2 stays");
    // The same rule at the terminal.
    let (token, _) = mint(&dir, &["--issuer", "jitsi"]);
    assert_eq!(decode(&token).0["kid"], "jitsi/k2");
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("asap_keyserver_newest_unordered_total 0"),
        "{metrics}"
    );
    assert!(
        !server.has_log("cannot tell which key"),
        "{}",
        server.logs()
    );
}

/// Keys whose order cannot be told (a copy stamps files within a second,
/// no date in the kids): the running service keeps the key it signed
/// with, warns once and counts it; `mint --issuer` refuses naming both and
/// doctor names both with the fix. A fresh start takes the file written last.
#[test]
fn keys_a_copy_stamped_together_keep_the_signing_key_warn_once_and_doctor_names_them() {
    let (t, dir) = keydir();
    let written = std::time::SystemTime::now() - Duration::from_secs(86_400);
    std::fs::create_dir_all(dir.join("jitsi")).unwrap();
    drop_key_written_at(&dir, &dir.join("jitsi/k1.pem"), &key(0).pkcs8, written);
    // Both clients sign for jitsi only: doctor has nothing else to say.
    let (_c, file) = config(&MINT.replace("[\"jitsi\", \"other\"]", "[\"jitsi\"]"));
    let server = serve_with(&dir, &file);
    assert_eq!(minted_kid(server.addr), "jitsi/k1");
    // k2 written 10 s after k1 (within the 60 s margin), dropped now.
    drop_key_written_at(
        &dir,
        &dir.join("jitsi/k2.pem"),
        &key(1).pkcs8,
        written + Duration::from_secs(10),
    );
    server.wait_key("jitsi/k2", key(1));
    for _ in 0..5 {
        assert_eq!(minted_kid(server.addr), "jitsi/k1", "{}", server.logs());
    }
    server.wait_log("cannot tell which key of the issuer is the newest");
    let logs = server.logs();
    let warned: Vec<_> = logs
        .lines()
        .filter(|l| l.contains("cannot tell which key"))
        .collect();
    assert_eq!(warned.len(), 1, "once, not per request:\n{logs}");
    for needle in [
        "jitsi/k1, jitsi/k2",
        "signing with the key it signed with before",
        "asap-keyserver rotate jitsi",
    ] {
        assert!(warned[0].contains(needle), "no {needle:?} in {}", warned[0]);
    }
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("# TYPE asap_keyserver_newest_unordered_total counter")
            && metrics.contains("asap_keyserver_newest_unordered_total 1"),
        "{metrics}"
    );
    // A person at a terminal is not given a guess.
    let d = path_str(&dir);
    let (code, _, err) = cli(&["mint", "--keys", &d, "--issuer", "jitsi"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot tell which key of jitsi is the newest: jitsi/k1, jitsi/k2")
            && err.contains("more than 1m after the other's")
            && err.contains("rotate jitsi"),
        "{err}"
    );
    // doctor --config names both and the fix; a warning, not a problem.
    let state = t.path().join("state.json");
    let (code, out, _) = cli(&[
        "doctor",
        "--keys",
        &d,
        "--state",
        state.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    for needle in [
        "cannot tell which key of jitsi is the newest: jitsi/k1, jitsi/k2",
        "keeps signing with the key it signed with before",
        "asap-keyserver rotate jitsi",
    ] {
        assert!(out.contains(needle), "no {needle:?} in\n{out}");
    }
    assert_eq!(code, 0, "{out}");
    drop(server);
    // Another replica starting now takes the file written last.
    let fresh = serve_with(&dir, &file);
    assert_eq!(minted_kid(fresh.addr), "jitsi/k2");
    let says = |s: &Server| s.logs().matches("cannot tell which key").count();
    fresh.wait_log("signing with the one whose file was written last");
    assert_eq!(says(&fresh), 1, "{}", fresh.logs());
    // A rotated key is known newer than both: it signs, with no warning.
    let out = cli_ok(&["rotate", "--keys", &d, "jitsi"]);
    let new = out
        .lines()
        .find_map(|l| l.strip_prefix("created kid "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no created kid in {out}"))
        .to_owned();
    wait_until("the rotated key signs", || minted_kid(fresh.addr) == new);
    assert_eq!(says(&fresh), 1, "{}", fresh.logs());
}

/// The words of /etc/shadow that must never be printed: every line, and
/// every field but the user's name of 8 characters or more (hashes). Names
/// are not secrets, and may be words of any output: the package test adds
/// the user `asap-keyserver` while this test runs.
fn shadow_words() -> Vec<String> {
    let text = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let mut words: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for line in text.lines() {
        words.extend(
            line.split(':')
                .skip(1)
                .filter(|f| f.len() >= 8)
                .map(str::to_owned),
        );
    }
    words
}

#[test]
fn a_config_error_names_file_line_and_key_never_a_secret_or_the_line() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let (t, file) = config(MINT);
    let secret_file = path_str(&t.path().join("clients/backend.secret"));
    let inline = t.path().join("inline.toml");
    write(&inline, format!("{MINT}secret = \"{SECRET}\"\n"));
    let mistyped = t.path().join("mistyped.toml");
    write(
        &mistyped,
        MINT.replace("[\"standup\", \"team-*\"]", &format!("\"{SECRET}\"")),
    );
    let pasted = t.path().join("pasted.toml");
    write(&pasted, MINT.replace("clients/backend.secret", SECRET));
    let (inline, mistyped, pasted) = (path_str(&inline), path_str(&mistyped), path_str(&pasted));
    let line = |path: &str, needle: &str| {
        let text = std::fs::read_to_string(path).unwrap();
        let n = text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        format!("{path}:{n}:")
    };
    let cases = [
        (
            secret_file.clone(),
            vec![format!("{secret_file}: this is not a config file")],
        ),
        (
            inline.clone(),
            vec![line(&inline, "secret ="), "unknown field `secret`".into()],
        ),
        (
            mistyped.clone(),
            vec![
                line(&mistyped, "rooms ="),
                "invalid type: string (value not shown), expected a sequence".into(),
                "rooms".into(),
            ],
        ),
        // The secret pasted where its file's path belongs.
        (
            pasted.clone(),
            vec!["mint.clients[0].secret_file: names no file, and looks like a secret".into()],
        ),
        // Readable by root (the CI runs as root): root's line is never shown.
        ("/etc/shadow".into(), vec!["/etc/shadow".into()]),
    ];
    let mut forbidden = shadow_words();
    forbidden.push(SECRET.into());
    forbidden.push(SECRET[..12].into());
    let keys = path_str(&dir);
    let state = t.path().join("state.json");
    for (config, needles) in cases {
        let serve = serve_args(&dir, &["--config", &config]);
        let doctor = [
            "doctor",
            "--keys",
            &keys,
            "--state",
            state.to_str().unwrap(),
            "--config",
            &config,
        ];
        for args in [&serve[..], &doctor[..]] {
            let (code, out, err) = cli_within(DEADLINE, args);
            let said = format!("{out}{err}");
            assert!(code == 1 || code == 2, "{args:?}: {said}");
            for n in &needles {
                assert!(said.contains(n.as_str()), "{args:?}: no {n:?} in {said}");
            }
            for word in &forbidden {
                assert!(
                    !said.contains(word.as_str()),
                    "{args:?} printed a secret: {said}"
                );
            }
        }
    }
    // The config itself still starts serve.
    drop(serve_with(&dir, &file));
}

/// Sends `head` then writes one byte of body every `every` from a thread
/// until the server closes the connection; returns what the server said.
/// The trickle never ends on its own: only the server can end it.
fn trickle(addr: SocketAddr, head: String, every: Duration) -> std::thread::JoinHandle<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut writer = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let dribble = std::thread::spawn(move || {
            while writer.write_all(b" ").is_ok() {
                std::thread::sleep(every);
            }
        });
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        // Unblocks the dribbler if the read timed out instead.
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = dribble.join();
        out
    })
}

fn mint_head(authorization: Option<&str>, length: usize) -> String {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!("POST /mint HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {length}\r\n\r\n")
}

/// Issue 27, finding 4: 60 clients trickling a `POST /mint` body with no
/// secret against --max-connections 50 held 58 slots for good and every
/// key request got 503. The secret is checked from the headers first: each
/// gets its 401 and is closed, and keys are served meanwhile.
#[test]
fn tricklers_without_a_secret_hold_no_slot() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let (_t, file) = config(MINT);
    let server = Server::start(
        &dir,
        &[
            "--config",
            file.to_str().unwrap(),
            "--max-connections",
            "50",
            "--header-timeout",
            "60s",
        ],
    );
    let tricklers: Vec<_> = (0..60)
        .map(|i| {
            let auth = (i % 2 == 0).then_some("Bearer not-a-client-secret");
            trickle(
                server.addr,
                mint_head(auth, 4096),
                Duration::from_millis(500),
            )
        })
        .collect();
    let reply = server.get(&key_path("jitsi/k"));
    assert_eq!(
        (reply.status, reply.text()),
        (200, key(0).spki.clone()),
        "a key request while 60 clients trickle a body"
    );
    for t in tricklers {
        let out = t.join().unwrap();
        assert!(
            !out.is_empty(),
            "a trickler without a secret was answered and closed"
        );
        let reply = parse_reply(&out, false);
        assert_eq!(reply.status, 401, "{}", reply.text());
        assert_eq!(reply.header("connection"), Some("close"));
    }
    assert_eq!(server.get("/healthz").status, 200);
}

/// Issue 27, finding 4: a wrong secret is refused from the headers, without
/// the body being read: no byte of it is ever sent, yet the 401 comes and
/// the connection is closed.
#[test]
fn a_wrong_secret_is_refused_before_the_body_is_read() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let (_t, file) = config(MINT);
    let server = serve_with(&dir, &file);
    for auth in [Some("Bearer wrong-secret"), None] {
        let raw = raw_exchange(server.addr, mint_head(auth, 1000).as_bytes());
        assert!(
            !raw.is_empty(),
            "{auth:?}: answered without the body being sent"
        );
        let reply = parse_reply(&raw, false);
        assert_eq!(reply.status, 401, "{auth:?}: {}", reply.text());
        assert!(reply.header("www-authenticate").is_some());
        assert_eq!(reply.header("connection"), Some("close"));
    }
    server.wait_log("mint API: refused before reading the body");
    assert!(
        server
            .get("/metrics")
            .text()
            .contains("asap_keyserver_mint_requests_total{client=\"\",outcome=\"unauthorized\"} 2"),
        "counted as unauthorized"
    );
}

/// Issue 27, finding 4: a client with the secret that trickles its body is
/// answered 408 once --body-timeout has passed, and closed, however
/// steadily it trickles.
#[test]
fn a_body_that_trickles_past_the_body_timeout_gets_408() {
    let (_k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let (_t, file) = config(MINT);
    let server = Server::start(
        &dir,
        &["--config", file.to_str().unwrap(), "--body-timeout", "2s"],
    );
    let auth = format!("Bearer {SECRET}");
    let out = trickle(
        server.addr,
        mint_head(Some(&auth), 4096),
        Duration::from_millis(200),
    )
    .join()
    .unwrap();
    assert!(!out.is_empty(), "the trickler was answered and closed");
    let reply = parse_reply(&out, false);
    assert_eq!(reply.status, 408, "{}", reply.text());
    assert!(reply.text().contains("--body-timeout"), "{}", reply.text());
    assert_eq!(reply.header("connection"), Some("close"));
    // A body sent at once is still minted.
    let ok = mint_api(server.addr, SECRET, json!({"room": "standup"}));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let (code, _, err) = cli(&serve_args(&dir, &["--body-timeout", "0s"]));
    assert_eq!(code, 2);
    assert!(err.contains("--body-timeout must be more than 0s"), "{err}");
}
