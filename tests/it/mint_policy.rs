//! The mint API's per-client policy: an avatar must be an https URL with
//! a host (or a data:image/ URL).

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
