//! Inline login (`tokenAuthInline` + `sso`, Jitsi's web client since
//! 2026-02): the bridge as the token service Jitsi's `static/sso.html`
//! talks to.
//!
//! In a real browser (Debian's chromium through chromium-driver): a test
//! meeting page and test `static/sso.html` / `static/logout.html` on a test
//! "Jitsi origin" over HTTPS (`tests/peers/jitsi_page/`, doing what Jitsi's
//! client does: state, PKCE verifier and challenge, nonce, popup, the
//! posted message), the login at the real `oidc-provider`, and the access
//! token accepted by the real Prosody; a refresh in the browser shows no
//! IdP page and, after a new key is dropped, carries its kid.
//!
//! Over HTTP, against the same real IdP: every refusal of `/oidc/auth` and
//! `POST /oidc/token` with its status and RFC 6749 `error`; codes and
//! refresh tokens that are expired or bound to another client are sealed
//! with the test's cookie key, exactly as the server seals its own.

use crate::common::*;
use crate::oidc::{
    bridge_with, fetch, idp_login, node, BridgeSetup, Jar, Node, Setup, CLIENT_SECRET, COOKIE_KEY,
    JITSI, MODERATORS,
};
use asap_keyserver::token::{Code, Grant, Person, Refresh, Sealer};
use serde_json::{json, Value};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};

// RFC 7636 appendix B's example.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SCOPES: &str = "[\"openid\", \"profile\", \"email\", \"groups\", \"offline_access\"]";

/// A `POST` of `form` to `url` (http) with an `Origin`: status, headers, JSON body.
pub fn post_form(url: &str, form: &[(&str, &str)], origin: Option<&str>) -> (Reply, Value) {
    let u = url::Url::parse(url).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", u.port().unwrap()).parse().unwrap();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\n",
        u.path(),
        body.len()
    );
    if let Some(o) = origin {
        req.push_str(&format!("Origin: {o}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let reply = parse_reply(&raw, false);
    let json = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply, json)
}

fn status_error(r: &(Reply, Value)) -> (u16, String) {
    (r.0.status, r.1["error"].as_str().unwrap_or("").to_owned())
}

/// Asserts a refusal of `/oidc/token`: its status, `error`, and words of its `error_description`.
fn refused_with(r: &(Reply, Value), status: u16, error: &str, says: &str) {
    assert_eq!(status_error(r), (status, error.to_owned()), "{}", r.1);
    let description = r.1["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(says), "{says:?} not in {}", r.1);
}

/// The IdP (`--offline`: refresh tokens for every login) for a bridge at `public`.
fn offline_idp(public: &str, jitsi: &str) -> Node {
    let callback = format!("{public}/oidc/callback");
    let logout = format!("{jitsi}/static/logout.html");
    node("idp.mjs", &[&callback, &logout, CLIENT_SECRET, "--offline"])
}

/// `/oidc/auth` of an inline login for `state`, through the IdP as `user`
/// (over HTTP): the `sso.html` URL the callback sends the popup to.
fn inline_login(setup: &Setup, user: &str, state: &Value) -> String {
    let mut jar = Jar::default();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let url = format!(
        "{}/oidc/auth?state={}&code_challenge={CHALLENGE}&nonce={}",
        setup.public,
        enc(&state.to_string()),
        "ab".repeat(32)
    );
    let start = fetch(&mut jar, "GET", &url, None);
    assert_eq!(start.status, 302, "{}", start.text());
    let idp = start.header("location").unwrap().to_owned();
    let callback = idp_login(
        &mut jar,
        &idp,
        user,
        &format!("{}/oidc/callback", setup.public),
    );
    let back = fetch(&mut jar, "GET", &callback, None);
    assert_eq!(back.status, 302, "{}", back.text());
    back.header("location").unwrap().to_owned()
}

fn query(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn redeem(
    setup: &Setup,
    code: &str,
    verifier: &str,
    redirect: &str,
    client: &str,
) -> (Reply, Value) {
    post_form(
        &format!("{}/oidc/token", setup.public),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", client),
            ("code_verifier", verifier),
        ],
        Some(JITSI),
    )
}

fn refresh(setup: &Setup, token: &str) -> (Reply, Value) {
    post_form(
        &format!("{}/oidc/token", setup.public),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", "jitsi-meet"),
        ],
        Some(JITSI),
    )
}

fn grant(client: &str, login: u64) -> Grant {
    Grant {
        client: client.into(),
        person: Person {
            sub: "ada".into(),
            name: None,
            email: None,
            avatar: None,
            moderator: false,
        },
        room: Some("standup".into()),
        tenant: None,
        login,
        idp_refresh: None,
    }
}

#[test]
fn every_refusal_of_inline_login_has_its_status_and_error_and_nothing_leaks_to_the_log() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = offline_idp(&public, JITSI);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let setup = bridge_with(&BridgeSetup {
        port,
        issuer: &issuer,
        extra: &format!(
            "client_secret_file = \"client.secret\"\n{MODERATORS}\nrefresh_ttl = \"1h\""
        ),
        scopes: SCOPES,
        ..BridgeSetup::default()
    });
    let sso = format!("{JITSI}/static/sso.html");
    // /oidc/auth: another redirect_uri or client is a 400 page.
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for extra in [
        format!(
            "redirect_uri={}",
            enc("https://evil.example.com/static/sso.html")
        ),
        "client_id=someone-else".to_owned(),
    ] {
        let mut jar = Jar::default();
        let url = format!(
            "{}/oidc/auth?state={}&code_challenge={CHALLENGE}&{extra}",
            setup.public,
            enc(r#"{"room":"standup"}"#)
        );
        let r = fetch(&mut jar, "GET", &url, None);
        assert_eq!(r.status, 400, "{extra}: {}", r.text());
        assert!(
            r.text().contains("sso_client_id") || r.text().contains("static/sso.html"),
            "{}",
            r.text()
        );
    }

    let state =
        json!({"room": "Standup", "roomSafe": "standup", "config.startWithAudioMuted": true});
    let back = inline_login(&setup, "ada", &state);
    assert!(back.starts_with(&format!("{sso}?code=")), "{back}");
    assert_eq!(
        query(&back, "state").as_deref(),
        Some(state.to_string().as_str())
    );
    let code = query(&back, "code").unwrap();
    // A wrong verifier, another redirect_uri, another client: refused, and the code not spent.
    assert_eq!(
        status_error(&redeem(&setup, &code, &"x".repeat(43), &sso, "jitsi-meet")),
        (400, "invalid_grant".into())
    );
    assert_eq!(
        status_error(&redeem(
            &setup,
            &code,
            VERIFIER,
            "http://evil.test/static/sso.html",
            "jitsi-meet"
        )),
        (400, "invalid_grant".into())
    );
    assert_eq!(
        status_error(&redeem(&setup, &code, VERIFIER, &sso, "other-client")),
        (401, "invalid_client".into())
    );
    let good = redeem(&setup, &code, VERIFIER, &sso, "jitsi-meet");
    assert_eq!(good.0.status, 200, "{}", good.1);
    assert_eq!(good.0.header("cache-control"), Some("no-store"));
    assert_eq!(good.0.header("access-control-allow-origin"), Some(JITSI));
    let (_, access) = decode(good.1["access_token"].as_str().unwrap());
    assert_eq!(access["context"]["user"]["moderator"], "true");
    // A code used twice.
    assert_eq!(
        status_error(&redeem(&setup, &code, VERIFIER, &sso, "jitsi-meet")),
        (400, "invalid_grant".into())
    );
    // An expired code, sealed as the server seals them (60 s is its life).
    let sealer = Sealer::new(&COOKIE_KEY, false);
    let old = Code {
        id: "old-code".into(),
        grant: grant("jitsi-meet", now() - 120),
        challenge: CHALLENGE.into(),
        redirect: sso.clone(),
        nonce: None,
        created: now() - 120,
    };
    let expired = redeem(&setup, &old.seal(&sealer), VERIFIER, &sso, "jitsi-meet");
    refused_with(&expired, 400, "invalid_grant", "expired");

    // A code issued to another client (sealed as the server would for one).
    let theirs = Code {
        id: "their-code".into(),
        grant: grant("another-client", now()),
        challenge: CHALLENGE.into(),
        redirect: sso.clone(),
        nonce: None,
        created: now(),
    };
    let r = redeem(&setup, &theirs.seal(&sealer), VERIFIER, &sso, "jitsi-meet");
    refused_with(&r, 400, "invalid_grant", "another client");

    // Refresh: rotated; the used one replayed, a tampered one, one past
    // refresh_ttl, one bound to another client: all invalid_grant.
    let rt1 = good.1["refresh_token"].as_str().unwrap().to_owned();
    let fresh = refresh(&setup, &rt1);
    assert_eq!(fresh.0.status, 200, "{}", fresh.1);
    assert_eq!(
        status_error(&refresh(&setup, &rt1)),
        (400, "invalid_grant".into())
    );
    let mut tampered = rt1.clone().into_bytes();
    tampered[30] = if tampered[30] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        status_error(&refresh(&setup, &String::from_utf8(tampered).unwrap())),
        (400, "invalid_grant".into())
    );
    let late = Refresh {
        id: "late".into(),
        grant: grant("jitsi-meet", now() - 3601),
    };
    assert_eq!(
        status_error(&refresh(&setup, &late.seal(&sealer))),
        (400, "invalid_grant".into())
    );
    let other = Refresh {
        id: "other".into(),
        grant: grant("another-client", now()),
    };
    let r = refresh(&setup, &other.seal(&sealer));
    refused_with(&r, 400, "invalid_grant", "another client");
    // The IdP disables ada: her next refresh is refused.
    let rt2 = fresh.1["refresh_token"].as_str().unwrap().to_owned();
    let mut jar = Jar::default();
    let off = fetch(
        &mut jar,
        "GET",
        &format!("{issuer}/_test/disable?account=ada"),
        None,
    );
    assert_eq!(off.status, 200, "{}", off.text());
    let r = refresh(&setup, &rt2);
    refused_with(&r, 400, "invalid_grant", "identity provider");
    // Another origin gets no CORS grant; an unknown grant type, a repeated parameter.
    let r = post_form(
        &format!("{}/oidc/token", setup.public),
        &[("grant_type", "password"), ("client_id", "jitsi-meet")],
        Some("https://evil.example.com"),
    );
    assert_eq!(status_error(&r), (400, "unsupported_grant_type".into()));
    assert_eq!(r.0.header("access-control-allow-origin"), None);
    let r = post_form(
        &format!("{}/oidc/token", setup.public),
        &[("client_id", "jitsi-meet"), ("client_id", "jitsi-meet")],
        Some(JITSI),
    );
    assert_eq!(status_error(&r), (400, "invalid_request".into()));
    // No code, token or refresh token in any log line.
    let logs = setup.server.logs();
    for secret in [
        code.as_str(),
        &rt1,
        &rt2,
        good.1["access_token"].as_str().unwrap(),
        good.1["id_token"].as_str().unwrap(),
    ] {
        assert!(!logs.contains(secret), "a secret is in the log: {logs}");
    }
    assert!(logs.contains("route=\"token\""), "{logs}");
}

/// A static HTTPS server (tests/peers/https_static.py) of `root`, killed on drop.
struct Page {
    child: Child,
    port: u16,
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Page {
    fn serve(root: &std::path::Path, pki: &TestPki) -> Page {
        let mut child = Command::new("python3")
            .arg(peers_dir().join("https_static.py"))
            .args([root, &pki.cert, &pki.key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
        Page { child, port }
    }
}

/// `browser_inline.py ARGS`: its stdout, or a panic with what it saw.
fn browser(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(peers_dir().join("browser_inline.py"))
        .args(args)
        .output()
        .expect("python3 runs (scripts/test installs selenium, chromium and chromium-driver)");
    assert!(
        out.status.success(),
        "browser_inline.py {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn copy_page(to: &std::path::Path) {
    let from = peers_dir().join("jitsi_page");
    for file in ["index.html", "static/sso.html", "static/logout.html"] {
        let target = to.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(file), target).unwrap();
    }
}

/// Waits until the key at `path` has been in the directory for more than
/// the bridge's `min_key_age` (2 s): its ctime, as the signer reads it.
fn old_enough(path: &std::path::Path) {
    use std::os::unix::fs::MetadataExt as _;
    let appeared = std::fs::metadata(path).unwrap().ctime() as u64;
    wait_until("the key is older than min_key_age", || now() > appeared + 3);
}

#[test]
fn inline_login_and_refresh_in_a_real_browser_give_tokens_prosody_accepts() {
    let pki = TestPki::new();
    let site = tempdir();
    copy_page(site.path());
    let page = Page::serve(site.path(), &pki);
    let jitsi = format!("https://127.0.0.1:{}", page.port);
    let port = free_port();
    let public = format!("https://127.0.0.1:{port}");
    let idp = offline_idp(&public, &jitsi);
    let idp_origin = format!("http://127.0.0.1:{}", idp.port);
    let (cert, tls_key) = (path_str(&pki.cert), path_str(&pki.key));
    let setup = bridge_with(&BridgeSetup {
        port,
        issuer: &idp_origin,
        extra: &format!("client_secret_file = \"client.secret\"\n{MODERATORS}"),
        scopes: SCOPES,
        min_key_age: "2s",
        jitsi: &jitsi,
        tls: Some((&cert, &tls_key)),
        ..BridgeSetup::default()
    });
    write(
        site.path().join("config.js"),
        format!(
            "var config = {{\n  tokenAuthUrl: '{public}/oidc/auth?room={{room}}&state={{state}}&code_challenge={{code_challenge}}',\n  \
             tokenAuthInline: true,\n  sso: {{ tokenService: '127.0.0.1:{port}/oidc', clientId: 'jitsi-meet' }},\n  \
             tokenLogoutUrl: '{public}/oidc/logout'\n}};\n"
        ),
    );
    // Prosody reads keys from a key server of the same folder (plain HTTP).
    let keys = setup._keys.path().join("keys");
    let key_server = Server::start(&keys, &[]);
    let prosody = through_key_server(&format!("http://{}", key_server.addr));
    old_enough(&keys.join("jitsi/2026-01-01.pem"));

    let meeting = format!("{jitsi}/index.html?room=Inline%20Room#config.startWithAudioMuted=true");
    let ada: Value =
        serde_json::from_str(&browser(&["login", &meeting, "ada", &idp_origin])).unwrap();
    let (header, claims) = decode(ada["accessToken"].as_str().unwrap());
    assert_eq!(header["kid"], "jitsi/2026-01-01");
    assert_eq!(
        (claims["room"].as_str(), claims["sub"].as_str()),
        (Some("inline%20room"), Some("*"))
    );
    assert_eq!(claims["context"]["user"]["moderator"], "true");
    let (_, id) = decode(ada["idToken"].as_str().unwrap());
    assert_eq!(
        (id["aud"].as_str(), id["sub"].as_str()),
        (Some("jitsi-meet"), Some("ada"))
    );
    prosody_accepts(
        &prosody,
        ada["accessToken"].as_str().unwrap(),
        "inline%20room",
    )
    .unwrap_or_else(|e| panic!("Prosody refused ada's inline token: {e}"));
    // bob is not in the moderator group.
    let bob: Value =
        serde_json::from_str(&browser(&["login", &meeting, "bob", &idp_origin])).unwrap();
    let (_, claims) = decode(bob["accessToken"].as_str().unwrap());
    assert!(
        claims["context"]["user"].get("moderator").is_none(),
        "{claims}"
    );
    prosody_accepts(
        &prosody,
        bob["accessToken"].as_str().unwrap(),
        "inline%20room",
    )
    .unwrap();

    // A new key is dropped; once it is old enough, a refresh (no IdP page) signs with it.
    write_private(keys.join("jitsi/2026-02-01.pem"), &key(1).pkcs8);
    key_server.wait_key("jitsi/2026-02-01", key(1));
    old_enough(&keys.join("jitsi/2026-02-01.pem"));
    let refreshed: Value = serde_json::from_str(&browser(&[
        "refresh",
        &meeting,
        ada["refreshToken"].as_str().unwrap(),
        &idp_origin,
    ]))
    .unwrap();
    let (header, claims) = decode(refreshed["accessToken"].as_str().unwrap());
    assert_eq!(header["kid"], "jitsi/2026-02-01");
    assert_eq!(claims["context"]["user"]["id"], "ada");
    assert_ne!(refreshed["refreshToken"], ada["refreshToken"]);
    prosody_accepts(
        &prosody,
        refreshed["accessToken"].as_str().unwrap(),
        "inline%20room",
    )
    .unwrap_or_else(|e| panic!("Prosody refused the refreshed token: {e}"));

    // A fetch from another origin gets no CORS grant; Jitsi's own origin does.
    let other = Page::serve(site.path(), &pki);
    let probe = |origin: &str| {
        browser(&[
            "cors",
            &format!("{origin}/index.html?room=r&cors={public}/oidc/token"),
        ])
    };
    let blocked = probe(&format!("https://127.0.0.1:{}", other.port));
    assert!(blocked.starts_with("blocked"), "{blocked}");
    let granted = probe(&jitsi);
    assert!(granted.starts_with("status 400"), "{granted}");
    let logs = setup.server.logs();
    for secret in [
        &ada["accessToken"],
        &ada["refreshToken"],
        &refreshed["refreshToken"],
    ] {
        assert!(
            !logs.contains(secret.as_str().unwrap()),
            "a token is in the log"
        );
    }
}
