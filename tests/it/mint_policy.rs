//! The mint API's per-client policy beyond issuers, rooms and max_ttl:
//! `tenants` (the `sub` it may mint for), `moderator` (whether it may make
//! moderators) and `features` (which it may turn on), each refused with a
//! 403 that names the rule; a client without them mints what every client
//! could before; an avatar must be an https URL with a host; a `tenants`
//! entry that can never match stops `serve` and `doctor --config`.

use crate::common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const TEAM_SECRET: &str = "team-client-secret-0123456789abcdef";
const LEGACY_SECRET: &str = "legacy-client-secret-0123456789abc";

const CONFIG: &str = r#"
min_key_age = "0s"

[mint]
[[mint.clients]]
name = "team"
secret_file = "team.secret"
issuers = ["jitsi"]
rooms = ["team-*"]
tenants = ["team-a", "team-b*"]
moderator = false
features = ["recording", "sip-*"]

# No tenants, moderator or features: what every client could do before.
[[mint.clients]]
name = "legacy"
secret_file = "legacy.secret"
issuers = ["jitsi"]
rooms = ["*"]
"#;

/// A key directory with `jitsi/k`, and `toml` as the config beside both secrets.
fn setup(toml: &str) -> (tempfile::TempDir, PathBuf, tempfile::TempDir, PathBuf) {
    let (k, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let t = tempdir();
    write(t.path().join("team.secret"), format!("{TEAM_SECRET}\n"));
    write(t.path().join("legacy.secret"), format!("{LEGACY_SECRET}\n"));
    let file = t.path().join("service.toml");
    write(&file, toml);
    (k, dir, t, file)
}

fn serve(dir: &Path, file: &Path) -> Server {
    Server::start(dir, &["--config", file.to_str().unwrap()])
}

/// `POST /mint` with the bearer `secret` and a JSON `body`.
fn mint_api(addr: SocketAddr, secret: &str, body: Value) -> Reply {
    let body = body.to_string();
    let head = format!(
        "POST /mint HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse_reply(&raw_exchange(addr, head.as_bytes()), false)
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// The claims of a 200's token.
fn minted(r: &Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    decode(json_of(r)["token"].as_str().unwrap()).1
}

/// A 403 whose error names `rule` and says `what`, and holds no token.
fn forbidden(r: &Reply, rule: &str, what: &str) {
    assert_eq!(r.status, 403, "{}", r.text());
    let body = json_of(r);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("(policy: {rule})")),
        "no {rule:?} in {error:?}"
    );
    assert!(error.contains(what), "no {what:?} in {error:?}");
    assert!(body.get("token").is_none(), "{body}");
}

#[test]
fn a_client_limited_to_tenants_mints_no_other_sub() {
    let (_k, dir, _t, file) = setup(CONFIG);
    let server = serve(&dir, &file);
    let addr = server.addr;
    let rule = "tenants = [\"team-a\", \"team-b*\"]";
    let r = mint_api(
        addr,
        TEAM_SECRET,
        json!({"room": "team-x", "sub": "othertenant"}),
    );
    forbidden(&r, rule, "tenant (sub) \"othertenant\"");
    // No sub is `*`, every tenant; so is `*` itself, even for a prefix.
    forbidden(
        &mint_api(addr, TEAM_SECRET, json!({"room": "team-x"})),
        rule,
        "give a sub",
    );
    forbidden(
        &mint_api(addr, TEAM_SECRET, json!({"room": "team-x", "sub": "*"})),
        rule,
        "every tenant",
    );
    for sub in ["team-a", "team-b2"] {
        let claims = minted(&mint_api(
            addr,
            TEAM_SECRET,
            json!({"room": "team-x", "sub": sub}),
        ));
        assert_eq!(claims["sub"], sub, "{claims}");
    }
    // Without `tenants`: any sub, as before.
    let claims = minted(&mint_api(
        addr,
        LEGACY_SECRET,
        json!({"room": "r", "sub": "othertenant"}),
    ));
    assert_eq!(claims["sub"], "othertenant");
    assert_eq!(
        minted(&mint_api(addr, LEGACY_SECRET, json!({"room": "r"})))["sub"],
        "*"
    );
    let metrics = server.get("/metrics").text();
    let line = "asap_keyserver_mint_requests_total{client=\"team\",outcome=\"forbidden\"} 3";
    assert!(metrics.contains(line), "{metrics}");
}

#[test]
fn a_client_with_moderator_false_mints_no_moderator_token() {
    let (_k, dir, _t, file) = setup(CONFIG);
    let server = serve(&dir, &file);
    let addr = server.addr;
    let body = json!({"room": "team-x", "sub": "team-a", "moderator": true});
    forbidden(
        &mint_api(addr, TEAM_SECRET, body),
        "moderator = false",
        "may not mint moderator tokens",
    );
    let claims = minted(&mint_api(
        addr,
        TEAM_SECRET,
        json!({"room": "team-x", "sub": "team-a", "moderator": false}),
    ));
    assert_eq!(claims["context"]["user"]["moderator"], "false", "{claims}");
    let claims = minted(&mint_api(
        addr,
        TEAM_SECRET,
        json!({"room": "team-x", "sub": "team-a"}),
    ));
    assert!(
        claims.pointer("/context/user/moderator").is_none(),
        "{claims}"
    );
    // Without `moderator`: moderator tokens, as before.
    let claims = minted(&mint_api(
        addr,
        LEGACY_SECRET,
        json!({"room": "r", "moderator": true}),
    ));
    assert_eq!(claims["context"]["user"]["moderator"], "true", "{claims}");
}

#[test]
fn a_client_limited_to_features_turns_on_no_other_and_its_tokens_always_say_so() {
    let (_k, dir, _t, file) = setup(CONFIG);
    let server = serve(&dir, &file);
    let addr = server.addr;
    let rule = "features = [\"recording\", \"sip-*\"]";
    let asked = json!({"room": "team-x", "sub": "team-a",
        "features": {"recording": true, "livestreaming": true, "transcription": true}});
    forbidden(
        &mint_api(addr, TEAM_SECRET, asked),
        rule,
        "features \"livestreaming\", \"transcription\"",
    );
    let asked = json!({"room": "team-x", "sub": "team-a", "features": {"outbound-call": true}});
    forbidden(
        &mint_api(addr, TEAM_SECRET, asked),
        rule,
        "feature \"outbound-call\"",
    );
    // Allowed ones on, any off.
    let asked = json!({"room": "team-x", "sub": "team-a",
        "features": {"recording": true, "sip-outbound-call": true, "livestreaming": false}});
    let claims = minted(&mint_api(addr, TEAM_SECRET, asked));
    assert_eq!(
        claims["context"]["features"],
        json!({"recording": true, "sip-outbound-call": true, "livestreaming": false})
    );
    // None asked: still an (empty) features object, since Jitsi reads a token
    // without one as "every feature allowed".
    let claims = minted(&mint_api(
        addr,
        TEAM_SECRET,
        json!({"room": "team-x", "sub": "team-a"}),
    ));
    assert_eq!(claims["context"]["features"], json!({}), "{claims}");
    // Without `features`: any feature, and no features object unless asked.
    let asked = json!({"room": "r", "features": {"livestreaming": true}});
    assert_eq!(
        minted(&mint_api(addr, LEGACY_SECRET, asked))["context"]["features"],
        json!({"livestreaming": true})
    );
    let claims = minted(&mint_api(addr, LEGACY_SECRET, json!({"room": "r"})));
    assert!(claims.pointer("/context/features").is_none(), "{claims}");
}

#[test]
fn an_avatar_must_be_an_https_url_with_a_host() {
    let (_k, dir, _t, file) = setup(CONFIG);
    let server = serve(&dir, &file);
    let addr = server.addr;
    for avatar in [
        "https://",
        "https://exa mple.com/a.png",
        "https:",
        "http://cdn.example.com/a.png",
    ] {
        let r = mint_api(
            addr,
            LEGACY_SECRET,
            json!({"room": "r", "user": {"avatar": avatar}}),
        );
        assert_eq!(r.status, 400, "{avatar}: {}", r.text());
        let error = json_of(&r)["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.contains("is not an https:// or data:image/ URL"),
            "{error}"
        );
    }
    for avatar in [
        "https://cdn.example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ] {
        let claims = minted(&mint_api(
            addr,
            LEGACY_SECRET,
            json!({"room": "r", "user": {"avatar": avatar}}),
        ));
        assert_eq!(claims["context"]["user"]["avatar"], avatar);
    }
}

#[test]
fn a_tenant_that_can_never_match_stops_serve_and_doctor_naming_the_key() {
    for (from, to, says) in [
        (
            "tenants = [\"team-a\", \"team-b*\"]",
            "tenants = [\"team-a\", \"\"]",
            "\"\" is not a usable tenant",
        ),
        (
            "tenants = [\"team-a\", \"team-b*\"]",
            "tenants = []",
            "is empty, and would refuse every request",
        ),
        (
            "\"team-b*\"]",
            "\"team*b\"]",
            "has a '*' that is not its last character",
        ),
    ] {
        let (_k, dir, _t, file) = setup(&CONFIG.replace(from, to));
        let config = file.to_str().unwrap();
        let key = format!("{config}: mint.clients[0].tenants: ");
        let (code, _, err) = cli_within(DEADLINE, &serve_args(&dir, &["--config", config]));
        assert_eq!(code, 2, "{to}: {err}");
        assert!(err.contains(&key) && err.contains(says), "{to}: {err}");
        let (code, out, err) = cli_within(
            DEADLINE,
            &[
                "doctor",
                "--keys",
                dir.to_str().unwrap(),
                "--config",
                config,
            ],
        );
        assert_ne!(code, 0, "{to}: {out}{err}");
        let all = format!("{out}{err}");
        assert!(
            all.contains("mint.clients[0].tenants") && all.contains(says),
            "{to}: {all}"
        );
    }
}
