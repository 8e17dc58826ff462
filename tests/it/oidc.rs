//! The OpenID Connect login bridge (`serve --config` with `[oidc]`)
//! against a real identity provider: npm `oidc-provider` (OpenID
//! Certified) started on 127.0.0.1 with a client that must use PKCE and
//! accounts whose userinfo carries groups. The whole login runs over real
//! HTTP (auth → the IdP's login form → consent → callback → the Jitsi URL),
//! and its token is accepted by the real Prosody through `asap_key_server`
//! and through `cache_keys_url`; moderator comes from the groups claim.
//! Attacks on the login state, replays and a return outside `jitsi_url`
//! are refused with the right status and mint nothing; forged id_tokens
//! come from a second, hostile IdP (a real HTTP server serving discovery,
//! a JWKS and a token endpoint that answers crafted id_tokens).
//! Rotation: a newer key dropped while logins run signs them only once it
//! has been in the directory for `min_key_age`, and Prosody accepts both sides.

use crate::common::*;
use asap_keyserver::token::{LoginState, Sealer, LOGIN_COOKIE};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const CLIENT_SECRET: &str = "oidc-client-secret-0123456789abcdef";
pub const COOKIE_KEY: [u8; 32] = [0x5a; 32];
pub const JITSI: &str = "http://meet.test";

/// A node script of tests/peers on 127.0.0.1, killed on drop.
pub struct Node {
    child: Child,
    pub port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `node tests/peers/<script> ARGS` and waits for its `PORT n` line.
pub fn node(script: &str, args: &[&str]) -> Node {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(peers_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node is installed (scripts/test installs it and oidc-provider)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line.strip_prefix("PORT ") {
                let _ = tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{script} did not print its port (is oidc-provider installed? npm ci --prefix tests/peers)"));
    Node { child, port }
}

/// Cookies by name (every server here is 127.0.0.1; the names differ),
/// with their `Path`: as a browser, a cookie is sent only under its path.
#[derive(Debug, Clone, Default)]
pub struct Jar(BTreeMap<String, String>, BTreeMap<String, String>);

/// Whether a cookie of `path` goes with a request for `request` (RFC 6265 5.1.4).
fn path_matches(request: &str, path: &str) -> bool {
    request == path
        || request.starts_with(path)
            && (path.ends_with('/') || request[path.len()..].starts_with('/'))
}

impl Jar {
    fn header(&self, request: &str) -> String {
        self.0
            .iter()
            .filter(|(k, _)| path_matches(request, self.1.get(*k).map_or("/", String::as_str)))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, reply: &Reply) {
        for (name, value) in &reply.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap_or("");
            let Some((n, v)) = pair.split_once('=') else {
                continue;
            };
            let gone = value.to_ascii_lowercase().contains("max-age=0")
                || value
                    .to_ascii_lowercase()
                    .contains("expires=thu, 01 jan 1970");
            let path = value
                .split(';')
                .filter_map(|a| a.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                .map_or("/", |(_, p)| p);
            if gone || v.is_empty() {
                self.0.remove(n.trim());
                self.1.remove(n.trim());
            } else {
                self.0.insert(n.trim().to_owned(), v.trim().to_owned());
                self.1.insert(n.trim().to_owned(), path.to_owned());
            }
        }
    }
}

fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            std::str::from_utf8(&rest[..end])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    out
}

/// `method url` with the jar's cookies (and a form body); the jar takes
/// the answer's cookies.
pub fn fetch(jar: &mut Jar, method: &str, url: &str, form: Option<&str>) -> Reply {
    let u = url::Url::parse(url).unwrap();
    let addr: SocketAddr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
        .parse()
        .unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: it-browser\r\n",
        addr
    );
    let cookies = jar.header(u.path());
    if !cookies.is_empty() {
        req.push_str(&format!("Cookie: {cookies}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let mut reply = parse_reply(&raw, method == "HEAD");
    if reply
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        reply.body = dechunk(&reply.body);
    }
    jar.take(&reply);
    reply
}

pub fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// Follows the IdP's pages from `start` (the IdP URL our `/oidc/auth` sent
/// us to) as `user`: the login form, then the consent form; returns the
/// callback URL the IdP sends the browser to.
pub fn idp_login(jar: &mut Jar, start: &str, user: &str, callback_prefix: &str) -> String {
    let mut url = start.to_owned();
    for _ in 0..20 {
        let r = fetch(jar, "GET", &url, None);
        if (300..400).contains(&r.status) {
            let next = absolute(&url, r.header("location").unwrap());
            if next.starts_with(callback_prefix) {
                return next;
            }
            url = next;
            continue;
        }
        let page = r.text();
        assert_eq!(r.status, 200, "IdP page {url}: {page}");
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|a| a.split('"').next())
            .unwrap_or_else(|| panic!("no form at {url}: {page}"));
        let form = if page.contains("name=\"prompt\" value=\"login\"") {
            format!("prompt=login&login={user}&password=anything")
        } else {
            "prompt=consent".to_owned()
        };
        let posted = fetch(jar, "POST", &absolute(&url, action), Some(&form));
        assert!(
            (300..400).contains(&posted.status),
            "IdP form {action}: {} {}",
            posted.status,
            posted.text()
        );
        url = absolute(&url, posted.header("location").unwrap());
        if url.starts_with(callback_prefix) {
            return url;
        }
    }
    panic!("the IdP did not send the browser back within 20 steps");
}

/// A key directory with `jitsi/2026-01-01.pem`, a config folder with the
/// client secret and cookie key, and `serve --config` on a port chosen
/// beforehand (the IdP must know the redirect URI before the server starts).
pub struct Setup {
    pub _keys: tempfile::TempDir,
    pub _conf: tempfile::TempDir,
    pub server: Server,
    pub public: String,
}

/// The query of Jitsi's `tokenAuthUrl` for `state`.
/// `/oidc/auth` for the room `standup` as Jitsi opens it, in `jar`'s
/// browser: the IdP's authorization URL the bridge redirects to.
pub fn start_standup(jar: &mut Jar, public: &str) -> String {
    let r = fetch(
        jar,
        "GET",
        &format!(
            "{public}{}",
            auth_path("standup", &json!({"room": "standup"}))
        ),
        None,
    );
    assert_eq!(r.status, 302, "{}", r.text());
    r.header("location").unwrap().to_owned()
}

pub fn auth_path(room: &str, state: &serde_json::Value) -> String {
    let state = state.to_string();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("/oidc/auth?room={}&state={}", enc(room), enc(&state))
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn token_of(location: &str) -> String {
    let u = url::Url::parse(location).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == "jwt")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no jwt in {location}"))
}

/// Asserts a refusal: `status`, an HTML page that says what to do, no
/// redirect with a token, and the log naming `outcome`.
fn refused(setup: &Setup, reply: &Reply, status: u16, outcome: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(reply.text().contains("What to do"), "{}", reply.text());
    assert!(
        reply.header("location").is_none_or(|l| !l.contains("jwt=")),
        "{:?}",
        reply.header("location")
    );
    let needle = format!("outcome=\"{outcome}\"");
    wait_until(&format!("a log line with {needle}"), || {
        setup.server.has_log(&needle)
    });
}

/// Waits for the log to show `n` minted logins (the log is read by another thread).
fn wait_minted(setup: &Setup, n: usize) {
    wait_until(&format!("{n} minted logins in the log"), || {
        minted(setup) == n
    });
}

fn minted(setup: &Setup) -> usize {
    setup
        .server
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("outcome=\"minted\""))
        .count()
}

struct Login {
    /// The jar as it was just before the callback (to replay it).
    before_callback: Jar,
    callback: String,
    reply: Reply,
    jar: Jar,
}

fn full_login(setup: &Setup, user: &str, state: &serde_json::Value, room: &str) -> Login {
    let mut jar = Jar::default();
    let start = fetch(
        &mut jar,
        "GET",
        &format!("{}{}", setup.public, auth_path(room, state)),
        None,
    );
    assert_eq!(start.status, 302, "{}", start.text());
    let set_cookie = start.header("set-cookie").unwrap().to_owned();
    // The cookie goes where the bridge is, as browsers reach it.
    let path = format!(
        "Path={}/oidc/",
        url::Url::parse(&setup.public)
            .unwrap()
            .path()
            .trim_end_matches('/')
    );
    for attr in ["HttpOnly", "SameSite=Lax", &path, "Max-Age=600"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "public_url is http: {set_cookie}"
    );
    let idp = start.header("location").unwrap().to_owned();
    assert_eq!(
        query_param(&idp, "code_challenge_method").as_deref(),
        Some("S256"),
        "{idp}"
    );
    assert!(
        query_param(&idp, "nonce").is_some() && query_param(&idp, "state").is_some(),
        "{idp}"
    );
    assert!(
        !idp.contains("roomSafe"),
        "Jitsi's state stays in the cookie: {idp}"
    );
    let callback = idp_login(
        &mut jar,
        &idp,
        user,
        &format!("{}/oidc/callback", setup.public),
    );
    let before_callback = jar.clone();
    let reply = fetch(&mut jar, "GET", &callback, None);
    Login {
        before_callback,
        callback,
        reply,
        jar,
    }
}

fn idp_for(public: &str, secret: bool) -> Node {
    let callback = format!("{public}/oidc/callback");
    let logout = format!("{JITSI}/static/logout.html");
    let mut args = vec![callback.as_str(), logout.as_str()];
    if secret {
        args.push(CLIENT_SECRET);
    }
    node("idp.mjs", &args)
}

/// A free port for the bridge and the IdP that registers it.
fn bridge_with_idp(extra: &str) -> (Setup, Node) {
    bridge_with_idp_client(extra, true)
}

/// The bridge and a real IdP; `secret`: a confidential client, else a public one (PKCE only).
fn bridge_with_idp_client(extra: &str, secret: bool) -> (Setup, Node) {
    // The IdP must know the redirect URI, which names the bridge's port.
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = idp_for(&public, secret);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let extra = if secret {
        format!("client_secret_file = \"client.secret\"\n{extra}")
    } else {
        extra.to_owned()
    };
    let setup = bridge_on(port, &issuer, &extra);
    (setup, idp)
}

fn bridge_on(port: u16, issuer: &str, extra: &str) -> Setup {
    bridge_aged(port, issuer, extra, "0s")
}

/// [`bridge_on`] with a `min_key_age`.
fn bridge_aged(port: u16, issuer: &str, extra: &str, min_key_age: &str) -> Setup {
    bridge_with(&BridgeSetup {
        port,
        issuer,
        extra,
        min_key_age,
        ..BridgeSetup::default()
    })
}

/// How a bridge under test is set up.
pub struct BridgeSetup<'a> {
    pub port: u16,
    pub issuer: &'a str,
    /// More of `[oidc]`.
    pub extra: &'a str,
    pub min_key_age: &'a str,
    /// `public_url`'s path (`""`: the origin alone).
    pub public_path: &'a str,
    /// `serve --base-path` (`""`: none).
    pub base_path: &'a str,
    /// The secret in `client.secret`.
    pub secret: &'a str,
    pub scopes: &'a str,
    /// `jitsi_url`.
    pub jitsi: &'a str,
    /// HTTPS with this certificate and key (public_url `https://`).
    pub tls: Option<(&'a str, &'a str)>,
}

impl Default for BridgeSetup<'_> {
    fn default() -> Self {
        BridgeSetup {
            port: 0,
            issuer: "",
            extra: "",
            min_key_age: "0s",
            public_path: "",
            base_path: "",
            secret: CLIENT_SECRET,
            scopes: "[\"openid\", \"profile\", \"email\", \"groups\"]",
            jitsi: JITSI,
            tls: None,
        }
    }
}

/// The bridge as `b` says; `Setup::public` is where browsers reach it
/// (`public_url`, or the origin and the base path when public_url has no path).
pub fn bridge_with(b: &BridgeSetup) -> Setup {
    let (keys, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    let conf = tempdir();
    write(conf.path().join("client.secret"), format!("{}\n", b.secret));
    write(
        conf.path().join("cookie.key"),
        format!("{}\n", hex::encode(COOKIE_KEY)),
    );
    let port = b.port;
    let scheme = if b.tls.is_some() { "https" } else { "http" };
    let public_url = format!("{scheme}://127.0.0.1:{port}{}", b.public_path);
    let public = if b.public_path.is_empty() {
        format!("{scheme}://127.0.0.1:{port}{}", b.base_path)
    } else {
        public_url.clone()
    };
    let file = conf.path().join("service.toml");
    write(
        &file,
        format!(
            "min_key_age = \"{}\"\n\n[oidc]\nissuer = \"{}\"\nclient_id = \"jitsi\"\n\
             public_url = \"{public_url}\"\njitsi_url = \"{}\"\nscopes = {}\n\
             token_issuer = \"jitsi\"\naudience = \"jitsi\"\nttl = \"1h\"\ncookie_key_file = \"cookie.key\"\n{}\n",
            b.min_key_age, b.issuer, b.jitsi, b.scopes, b.extra
        ),
    );
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "serve",
        "--keys",
        dir.to_str().unwrap(),
        "--listen",
        &listen,
        "--no-init",
        "--config",
        file.to_str().unwrap(),
    ];
    if !b.base_path.is_empty() {
        args.extend(["--base-path", b.base_path]);
    }
    if let Some((cert, key)) = b.tls {
        args.extend(["--tls-cert", cert, "--tls-key", key]);
    }
    let server = Server::spawn(&args, None);
    Setup {
        _keys: keys,
        _conf: conf,
        server,
        public,
    }
}

pub const MODERATORS: &str = "moderator = { claim = \"groups\", value = \"jitsi-moderators\" }";

#[test]
fn a_whole_login_mints_a_token_prosody_accepts_through_the_key_server_and_the_jwks() {
    let (setup, idp) = bridge_with_idp(MODERATORS);
    let state = json!({"room": "Standup", "roomSafe": "standup", "config.startWithAudioMuted": true, "refreshToken": "not-copied"});
    // Discovery runs at start, so a wrong issuer shows in the log before anyone logs in.
    wait_until("discovery at start", || {
        setup
            .server
            .has_log("login bridge: identity provider discovered")
    });
    let login = full_login(&setup, "ada", &state, "Standup");
    assert_eq!(login.reply.status, 302, "{}", login.reply.text());
    let location = login.reply.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{JITSI}/standup?jwt=")),
        "{location}"
    );
    assert!(
        location.ends_with("#config.startWithAudioMuted=true"),
        "{location}"
    );
    assert!(!location.contains("not-copied"), "{location}");
    assert_eq!(login.reply.header("referrer-policy"), Some("no-referrer"));
    assert!(
        !login.jar.0.contains_key(LOGIN_COOKIE),
        "the login cookie is cleared"
    );
    let token = token_of(&location);
    let (header, claims) = decode(&token);
    assert_eq!(header["kid"], "jitsi/2026-01-01");
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some("jitsi"), Some("jitsi"))
    );
    assert_eq!(
        (claims["sub"].as_str(), claims["room"].as_str()),
        (Some("*"), Some("standup"))
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    let user = &claims["context"]["user"];
    assert_eq!(user["id"], "ada");
    assert_eq!(user["name"], "Ada Lovelace", "from userinfo: {claims}");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["avatar"], "https://example.com/ada.png");
    assert_eq!(
        (user["moderator"].clone(), user["affiliation"].clone()),
        (json!("true"), json!("owner"))
    );
    // No log line carries the token, the code or the client secret.
    wait_minted(&setup, 1);
    let code = query_param(&login.callback, "code").unwrap();
    let logs = setup.server.logs.lock().unwrap().join("\n");
    let cookie = login.before_callback.0.get(LOGIN_COOKIE).unwrap().clone();
    let session = login.jar.0.get("asap_oidc_session").unwrap().clone();
    for secret in [
        token.as_str(),
        code.as_str(),
        CLIENT_SECRET,
        cookie.as_str(),
        session.as_str(),
    ] {
        assert!(!logs.contains(secret), "logged: {logs}");
    }
    assert!(
        logs.contains("outcome=\"minted\" kid=\"jitsi/2026-01-01\""),
        "{logs}"
    );

    // Prosody fetching the key from asap_key_server...
    let through_pem = through_key_server(&setup.public);
    prosody_accepts(&through_pem, &token, "standup").unwrap();
    // ... and reading the JWKS at cache_keys_url (its asap_key_server 404s).
    let through_jwks = through_jwks(&setup.public, 1);
    prosody_accepts(&through_jwks, &token, "standup").unwrap();

    // Bob is not in jitsi-moderators: no moderator, no owner.
    let bob = full_login(&setup, "bob", &json!({"room": "standup"}), "standup");
    assert_eq!(bob.reply.status, 302, "{}", bob.reply.text());
    let (_, claims) = decode(&token_of(bob.reply.header("location").unwrap()));
    assert_eq!(claims["context"]["user"]["name"], "Bob");
    assert!(
        claims["context"]["user"].get("moderator").is_none()
            && claims["context"]["user"].get("affiliation").is_none(),
        "{claims}"
    );
    prosody_accepts(
        &through_pem,
        &token_of(bob.reply.header("location").unwrap()),
        "standup",
    )
    .unwrap();

    // The same callback again (cookie and all): this replica finished it already, nothing is minted.
    wait_minted(&setup, 2);
    let before = 2;
    let mut replay_jar = login.before_callback.clone();
    let replay = fetch(&mut replay_jar, "GET", &login.callback, None);
    refused(&setup, &replay, 400, "replayed");
    assert_eq!(minted(&setup), before);

    // Logout: cookies cleared, on to the IdP's end_session with the id_token and Jitsi's logout page.
    let mut jar = login.jar.clone();
    assert!(jar.0.contains_key("asap_oidc_session"), "{jar:?}");
    let out = fetch(
        &mut jar,
        "GET",
        &format!("{}/oidc/logout", setup.public),
        None,
    );
    assert_eq!(out.status, 302, "{}", out.text());
    let next = out.header("location").unwrap();
    assert!(
        next.starts_with(&format!("http://127.0.0.1:{}/session/end?", idp.port)),
        "{next}"
    );
    assert_eq!(
        query_param(next, "post_logout_redirect_uri").as_deref(),
        Some("http://meet.test/static/logout.html")
    );
    assert!(query_param(next, "id_token_hint").is_some(), "{next}");
    assert!(!jar.0.contains_key("asap_oidc_session"), "{jar:?}");
    let ended = fetch(&mut jar, "GET", next, None);
    assert!(
        ended.status < 500,
        "the IdP takes our logout: {} {}",
        ended.status,
        ended.text()
    );
}

#[test]
fn attacks_on_the_login_state_and_the_return_are_refused_and_mint_nothing() {
    let (setup, _idp) = bridge_with_idp("");
    let callback_prefix = format!("{}/oidc/callback", setup.public);
    let start = |jar: &mut Jar| start_standup(jar, &setup.public);

    // Missing cookie: the callback comes in a browser that never started the login.
    let mut jar = Jar::default();
    let idp = start(&mut jar);
    let callback = idp_login(&mut jar, &idp, "ada", &callback_prefix);
    let mut no_cookie = jar.clone();
    no_cookie.0.remove(LOGIN_COOKIE);
    refused(
        &setup,
        &fetch(&mut no_cookie, "GET", &callback, None),
        400,
        "cookie_missing",
    );

    // Tampered cookie: one character changed.
    let mut tampered = jar.clone();
    let value = tampered.0.get_mut(LOGIN_COOKIE).unwrap();
    let flipped = if value.ends_with('A') { 'B' } else { 'A' };
    value.pop();
    value.push(flipped);
    refused(
        &setup,
        &fetch(&mut tampered, "GET", &callback, None),
        400,
        "cookie_tampered",
    );

    // State mismatch: the right cookie, another login's state.
    let mut mismatch = jar.clone();
    let wrong = callback.replace("state=", "state=x");
    refused(
        &setup,
        &fetch(&mut mismatch, "GET", &wrong, None),
        400,
        "state_mismatch",
    );

    // Expired: a cookie sealed with the right key 11 minutes ago.
    let sealer = Sealer::new(&COOKIE_KEY, false);
    let old = LoginState {
        state: query_param(&callback, "state").unwrap(),
        verifier: "v".repeat(43),
        nonce: "n".into(),
        jitsi: json!({"room": "standup"}),
        room: None,
        created: now() - 660,
        inline: None,
    };
    let mut expired = Jar::default();
    expired
        .0
        .insert(LOGIN_COOKIE.into(), sealer.seal(LOGIN_COOKIE, &old));
    refused(
        &setup,
        &fetch(&mut expired, "GET", &callback, None),
        400,
        "cookie_expired",
    );

    // RFC 9207: this IdP announces the `iss` parameter; a callback without it is a mix-up.
    let mut u = url::Url::parse(&callback).unwrap();
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    u.query_pairs_mut().clear().extend_pairs(kept);
    let mut no_iss = jar.clone();
    refused(
        &setup,
        &fetch(&mut no_iss, "GET", u.as_str(), None),
        400,
        "issuer_mismatch",
    );

    // The IdP says the person may not log in.
    let state = query_param(&callback, "state").unwrap();
    let denied = format!(
        "{}/oidc/callback?error=access_denied&state={state}",
        setup.public
    );
    refused(
        &setup,
        &fetch(&mut jar.clone(), "GET", &denied, None),
        403,
        "idp_error",
    );

    // The untouched login still works (the refusals above were not luck).
    let ok = fetch(&mut jar, "GET", &callback, None);
    assert_eq!(ok.status, 302, "{}", ok.text());
    wait_minted(&setup, 1);
    assert!(ok
        .header("location")
        .unwrap()
        .starts_with(&format!("{JITSI}/standup?jwt=")));

    // Returns outside jitsi_url: rooms and tenants that would leave the path.
    for (room, state) in [
        ("x", json!({"room": "../../evil.example"})),
        ("x", json!({"roomSafe": "%2F%2Fevil.example"})),
        ("x", json!({"room": "r", "tenant": "evil.example@x"})),
        ("x", json!({"room": "r", "tenant": "a/../../b"})),
        ("//evil.example", json!(null)),
        ("r?x=1#y", json!(null)),
        // Not an escape, but a state too large for a cookie the browser would keep.
        (
            "r",
            json!({"room": "r", "config.subject": "x".repeat(5000)}),
        ),
    ] {
        let mut jar = Jar::default();
        let r = fetch(
            &mut jar,
            "GET",
            &format!("{}{}", setup.public, auth_path(room, &state)),
            None,
        );
        refused(&setup, &r, 400, "bad_request");
        assert!(
            !jar.0.contains_key(LOGIN_COOKIE),
            "no login started for {state}"
        );
    }
    assert_eq!(minted(&setup), 1);
}

#[test]
fn forged_id_tokens_from_a_hostile_idp_are_refused() {
    let hostile = node("hostile_idp.mjs", &["jitsi"]);
    let issuer = format!("http://127.0.0.1:{}", hostile.port);
    let setup = bridge_on(
        free_port(),
        &issuer,
        &format!("client_secret_file = \"client.secret\"\n{MODERATORS}"),
    );
    let attempt_with = |mode: &str, extra: &str, state: serde_json::Value| {
        let mut jar = Jar::default();
        let r = fetch(
            &mut jar,
            "GET",
            &format!("{}{}", setup.public, auth_path("standup", &state)),
            None,
        );
        assert_eq!(r.status, 302, "{}", r.text());
        let idp = r.header("location").unwrap().to_owned();
        assert!(idp.starts_with(&format!("{issuer}/auth?")), "{idp}");
        let (state, nonce) = (
            query_param(&idp, "state").unwrap(),
            query_param(&idp, "nonce").unwrap(),
        );
        let callback = format!(
            "{}/oidc/callback?code={mode}~{nonce}&state={state}{extra}",
            setup.public
        );
        fetch(&mut jar, "GET", &callback, None)
    };
    let attempt = |mode: &str, extra: &str| attempt_with(mode, extra, json!({"room": "standup"}));
    // The control: a well-formed id_token from this IdP is accepted.
    let good = attempt("good", "");
    assert_eq!(good.status, 302, "{}", good.text());
    let (_, claims) = decode(&token_of(good.header("location").unwrap()));
    assert_eq!(
        (
            claims["context"]["user"]["id"].as_str(),
            claims["context"]["user"]["moderator"].as_str()
        ),
        (Some("mallory"), Some("true"))
    );
    wait_minted(&setup, 1);
    for mode in [
        "wrong_aud",
        "wrong_iss",
        "wrong_nonce",
        "expired",
        "alg_none",
        "hs256_pubkey",
        "two_aud",
        "future_iat",
    ] {
        let r = attempt(mode, "");
        assert_eq!(r.status, 502, "{mode}: {}", r.text());
        refused(&setup, &r, 502, "id_token_invalid");
        assert_eq!(minted(&setup), 1, "{mode} minted a token");
    }
    // Several audiences are fine with azp = our client_id.
    let azp = attempt("two_aud_azp", "");
    assert_eq!(azp.status, 302, "{}", azp.text());
    wait_minted(&setup, 2);
    // RFC 9207: an `iss` on the callback that is not the issuer (a mix-up).
    let mixup = attempt("good", "&iss=http%3A%2F%2F127.0.0.1%3A1");
    refused(&setup, &mixup, 400, "issuer_mismatch");
    assert_eq!(minted(&setup), 2);
    // The IdP rotates: an id_token signed with a key its JWKS lists only
    // now is accepted after one refetch; a kid it never lists is refused.
    let rotated = attempt("new_kid", "");
    assert_eq!(rotated.status, 302, "{}", rotated.text());
    wait_minted(&setup, 3);
    refused(&setup, &attempt("unknown_kid", ""), 502, "id_token_invalid");
    assert_eq!(minted(&setup), 3);

    // The apps come back through their URL schemes, to jitsi_url's host only.
    for (flag, expected) in [
        ("electron", "jitsi-meet://meet.test/standup?jwt="),
        ("ios", "org.jitsi.meet://meet.test/standup?jwt="),
        ("android", "intent://meet.test/standup?jwt="),
    ] {
        let r = attempt_with("good", "", json!({"room": "standup", flag: true}));
        assert_eq!(r.status, 200, "{flag}: {}", r.text());
        let refresh = r.header("refresh").unwrap();
        let url = refresh.strip_prefix("0; url=").unwrap();
        assert!(url.starts_with(expected), "{flag}: {url}");
        if flag == "android" {
            assert!(
                url.ends_with("#Intent;scheme=org.jitsi.meet;package=org.jitsi.meet;end"),
                "{url}"
            );
        }
        assert!(
            r.text().contains("Open the meeting in the Jitsi app"),
            "{}",
            r.text()
        );
        decode(&token_of(
            &url.replace("intent://", "http://")
                .replace("jitsi-meet://", "http://")
                .replace("org.jitsi.meet://", "http://"),
        ));
    }
}

#[test]
fn a_login_in_a_real_headless_browser_ends_at_jitsi_with_a_token() {
    let (setup, _idp) = bridge_with_idp(MODERATORS);
    let state = json!({"room": "Browser Room", "roomSafe": "browser%20room", "tenant": "team"});
    let auth = format!("{}{}", setup.public, auth_path("Browser Room", &state));
    let out = Command::new("python3")
        .arg(peers_dir().join("browser_login.py"))
        .args([auth.as_str(), "ada", JITSI])
        .output()
        .expect("python3 runs (scripts/test installs selenium, chromium and chromium-driver)");
    assert!(
        out.status.success(),
        "the browser did not come back to Jitsi: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let location = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        location.starts_with(&format!("{JITSI}/team/browser%20room?jwt=")),
        "{location}"
    );
    let token = token_of(&location);
    let (_, claims) = decode(&token);
    assert_eq!(
        (claims["sub"].as_str(), claims["room"].as_str()),
        (Some("team"), Some("browser%20room"))
    );
    assert_eq!(claims["context"]["user"]["moderator"], "true");
    let pem = setup.server.key("jitsi/2026-01-01").unwrap();
    verify_with(Verifier::PyJwt, &token, &pem, "jitsi", "jitsi").unwrap();
}

#[test]
fn a_public_client_logs_in_with_pkce_alone() {
    let (setup, _idp) = bridge_with_idp_client("", false);
    let login = full_login(&setup, "bob", &json!({"room": "standup"}), "standup");
    assert_eq!(login.reply.status, 302, "{}", login.reply.text());
    let (_, claims) = decode(&token_of(login.reply.header("location").unwrap()));
    assert_eq!(
        (
            claims["room"].as_str(),
            claims["context"]["user"]["id"].as_str()
        ),
        (Some("standup"), Some("bob"))
    );
}

#[test]
fn an_unreachable_idp_is_a_502_page_and_serve_keeps_serving_keys() {
    let closed = free_port();
    let setup = bridge_on(free_port(), &format!("http://127.0.0.1:{closed}"), "");
    wait_until("the start-up discovery's warning", || {
        setup
            .server
            .has_log("login bridge: identity provider not usable yet")
    });
    let mut jar = Jar::default();
    let r = fetch(
        &mut jar,
        "GET",
        &format!("{}{}", setup.public, auth_path("standup", &json!(null))),
        None,
    );
    refused(&setup, &r, 502, "idp_unreachable");
    assert!(r.text().contains("cannot be reached"), "{}", r.text());
    assert!(!jar.0.contains_key(LOGIN_COOKIE));
    let keys = fetch(
        &mut jar,
        "GET",
        &format!("{}/.well-known/jwks.json", setup.public),
        None,
    );
    assert_eq!(keys.status, 200, "{}", keys.text());
}

#[test]
fn no_key_old_enough_is_a_503_with_retry_after_and_nothing_minted() {
    let hostile = node("hostile_idp.mjs", &["jitsi"]);
    let issuer = format!("http://127.0.0.1:{}", hostile.port);
    let setup = bridge_aged(
        free_port(),
        &issuer,
        "client_secret_file = \"client.secret\"",
        "1h",
    );
    let mut jar = Jar::default();
    let r = fetch(
        &mut jar,
        "GET",
        &format!("{}{}", setup.public, auth_path("standup", &json!(null))),
        None,
    );
    assert_eq!(r.status, 302, "{}", r.text());
    let idp = r.header("location").unwrap().to_owned();
    let (state, nonce) = (
        query_param(&idp, "state").unwrap(),
        query_param(&idp, "nonce").unwrap(),
    );
    let callback = format!(
        "{}/oidc/callback?code=good~{nonce}&state={state}",
        setup.public
    );
    let r = fetch(&mut jar, "GET", &callback, None);
    refused(&setup, &r, 503, "no_key");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 3600, "{wait}");
    assert_eq!(minted(&setup), 0);
}

/// A token the bridge minted in the rotation loop.
struct Minted {
    kid: String,
    iat: u64,
    token: String,
    /// The login began after the server served the new key (so its key set held it).
    after_served: bool,
}

/// Rotation through the login bridge, as
/// `token_service::a_new_key_signs_only_once_it_has_been_in_the_directory_for_min_key_age`
/// does it through the mint API: a newer key dropped while logins keep
/// running signs only once it has been in the directory for `min_key_age`,
/// and every token on either side of the switch is accepted by Prosody.
#[test]
fn a_new_key_signs_logins_only_once_it_has_been_in_the_directory_for_min_key_age() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Mutex;
    let (old_kid, new_kid) = ("jitsi/2026-01-01", "jitsi/2026-06-01");
    let port = free_port();
    let idp = idp_for(&format!("http://127.0.0.1:{port}"), true);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let setup = bridge_aged(
        port,
        &issuer,
        "client_secret_file = \"client.secret\"",
        "2s",
    );
    let state = json!({"room": "standup"});
    // A whole login's token, or None while no key is old enough (503).
    let login = |after_served: bool| -> Option<Minted> {
        let l = full_login(&setup, "ada", &state, "standup");
        if l.reply.status == 503 {
            return None;
        }
        assert_eq!(l.reply.status, 302, "{}", l.reply.text());
        let token = token_of(l.reply.header("location").unwrap());
        let (header, claims) = decode(&token);
        Some(Minted {
            kid: header["kid"].as_str().unwrap().to_owned(),
            iat: claims["iat"].as_u64().unwrap(),
            token,
            after_served,
        })
    };
    // The first key is itself too young at first.
    let mut first = None;
    wait_until("the first key signs a login", || {
        first = login(false);
        first.is_some()
    });
    let first = first.unwrap();
    assert_eq!(first.kid, old_kid);

    // Logins in a loop; meanwhile a newer key is dropped into the directory.
    let keys = setup._keys.path().join("keys");
    let new = keys.join("jitsi/2026-06-01.pem");
    let served = AtomicBool::new(false);
    let tokens: Mutex<Vec<Minted>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let looping = s.spawn(|| {
            let mut by_new = 0;
            wait_until("the new key signs three logins", || {
                let after_served = served.load(SeqCst);
                let minted = login(after_served).expect("a key old enough signs every login");
                by_new += usize::from(minted.kid == new_kid);
                tokens.lock().unwrap().push(minted);
                std::thread::sleep(Duration::from_millis(200));
                by_new == 3
            });
        });
        wait_until("a login of the loop before the drop", || {
            !tokens.lock().unwrap().is_empty()
        });
        write_private(&new, &key(1).pkcs8);
        setup.server.wait_key(new_kid, key(1));
        served.store(true, SeqCst);
        looping.join().expect("the login loop");
    });
    let tokens = tokens.into_inner().unwrap();
    let new_appeared = appeared_secs(&new);
    assert!(appeared_secs(&keys.join("jitsi/2026-01-01.pem")) <= new_appeared);
    let switched = tokens.iter().position(|t| t.kid == new_kid).unwrap();
    assert!(
        tokens[..switched].iter().any(|t| t.after_served),
        "the old key signed while the new one was served but younger than min_key_age"
    );
    for (i, t) in tokens.iter().enumerate() {
        let at = format!(
            "token {i}: {} signed at {}, the new key appeared at {new_appeared}",
            t.kid, t.iat
        );
        // iat is the server's clock at signing, in whole seconds, as the
        // ctime here: iat == appeared + 2 may be either side of the 2 s.
        if t.iat < new_appeared + 2 {
            assert_eq!(t.kid, old_kid, "{at}");
        }
        if t.after_served && t.iat > new_appeared + 2 {
            assert_eq!(t.kid, new_kid, "{at}");
        }
        if i >= switched {
            assert_eq!(t.kid, new_kid, "{at}: back to the old key after the switch");
        }
    }

    // Every token is accepted by the real Prosody: through asap_key_server
    // and through cache_keys_url (its asap_key_server 404s), taking turns.
    let through_pem = through_key_server(&setup.public);
    let through_jwks = through_jwks(&setup.public, 2);
    for (i, t) in std::iter::once(&first).chain(&tokens).enumerate() {
        let (prosody, via) = if i % 2 == 0 {
            (&through_pem, "asap_key_server")
        } else {
            (&through_jwks, "cache_keys_url")
        };
        prosody_accepts(prosody, &t.token, "standup")
            .unwrap_or_else(|e| panic!("login {i} ({}) through {via}: {e}", t.kid));
    }
}

/// `doctor --config` against the real IdP: what it says, and the exit code.
fn doctor_config(issuer: &str, prosody: Option<&str>) -> (i32, String) {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    write(
        t.path().join("cookie.key"),
        format!("{}\n", hex::encode(COOKIE_KEY)),
    );
    let file = t.path().join("service.toml");
    write(
        &file,
        format!(
            "min_key_age = \"0s\"\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"jitsi\"\npublic_url = \"http://127.0.0.1:9\"\n\
             jitsi_url = \"{JITSI}\"\ntoken_issuer = \"jitsi\"\naudience = \"jitsi\"\ncookie_key_file = \"cookie.key\"\n"
        ),
    );
    let state = t.path().join("state.json");
    let mut args = vec![
        "doctor".to_owned(),
        "--keys".into(),
        dir.to_str().unwrap().into(),
        "--state".into(),
        state.to_str().unwrap().into(),
        "--config".into(),
        file.to_str().unwrap().into(),
    ];
    if let Some(lua) = prosody {
        let cfg = t.path().join("prosody.cfg.lua");
        write(&cfg, lua);
        args.extend(["--prosody-config".into(), cfg.to_str().unwrap().into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = cli(&args);
    (code, out)
}

#[test]
fn doctor_config_discovers_the_identity_provider_as_the_bridge_does() {
    let idp = idp_for("http://127.0.0.1:9", false);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let (code, out) = doctor_config(&issuer, None);
    assert_eq!(code, 0, "{out}");
    for needle in [
        &format!("{issuer}: discovered, 1 signing key(s) at {issuer}/") as &str,
        "code_challenge_methods_supported [\"S256\"]",
        &format!("end_session_endpoint {issuer}/"),
        "jitsi/2026-01-01 (in the key directory for",
        "pass --prosody-config",
    ] {
        assert!(out.contains(needle), "no {needle:?} in\n{out}");
    }

    // Prosody's own iss and aud checks (verify's), with its config.
    let accepting =
        "VirtualHost \"meet.example.com\"\n authentication = \"token\"\n app_id = \"jitsi\"\n";
    let (_, out) = doctor_config(&issuer, Some(accepting));
    assert!(
        out.contains(
            "\"jitsi\" in asap_accepted_issuers { \"jitsi\" } (the default: app_id alone)"
        ),
        "{out}"
    );
    let refusing =
        "VirtualHost \"meet.example.com\"\n authentication = \"token\"\n app_id = \"other\"\n \
                    asap_accepted_audiences = { \"meet\" }\n";
    let (code, out) = doctor_config(&issuer, Some(refusing));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("or add \"jitsi\" to asap_accepted_issuers")
            && out.contains("asap_accepted_audiences"),
        "{out}"
    );

    // An issuer the IdP does not answer for: the bridge could log no one in.
    let wrong = format!("{issuer}/realms/main");
    let (code, out) = doctor_config(&wrong, None);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("identity provider")
            && out.contains(&format!(
                "{wrong}/.well-known/openid-configuration answers from this host"
            )),
        "{out}"
    );
    // Nothing listens: refused at once, named.
    drop(idp);
    let (code, out) = doctor_config(&issuer, None);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("identity provider unreachable"), "{out}");
}

/// A whole login through the real IdP at `setup.public` (where browsers
/// reach the bridge): a token, the login cookie scoped there, logout too.
fn login_where_browsers_reach_it(setup: &Setup, idp: &Node) {
    let login = full_login(setup, "ada", &json!({"room": "standup"}), "standup");
    assert_eq!(login.reply.status, 302, "{}", login.reply.text());
    let token = token_of(login.reply.header("location").unwrap());
    // The key is served under the same prefix.
    let prefix = url::Url::parse(&setup.public)
        .unwrap()
        .path()
        .trim_end_matches('/')
        .to_owned();
    let pem = get(
        setup.server.addr,
        &format!("{prefix}{}", key_path("jitsi/2026-01-01")),
    )
    .text();
    verify_with(Verifier::PyJwt, &token, &pem, "jitsi", "jitsi").unwrap();
    let mut jar = login.jar.clone();
    let out = fetch(
        &mut jar,
        "GET",
        &format!("{}/oidc/logout", setup.public),
        None,
    );
    assert_eq!(out.status, 302, "{}", out.text());
    assert!(
        out.header("location")
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{}/session/end?", idp.port)),
        "{:?}",
        out.header("location")
    );
    assert!(!jar.0.contains_key("asap_oidc_session"), "{jar:?}");
}

#[test]
fn a_login_under_a_base_path_finishes_there() {
    let port = free_port();
    // Browsers reach the server itself at http://127.0.0.1:<port>/keys/…
    let idp = idp_for(&format!("http://127.0.0.1:{port}/keys"), true);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let setup = bridge_with(&BridgeSetup {
        port,
        issuer: &issuer,
        extra: "client_secret_file = \"client.secret\"",
        base_path: "/keys",
        ..BridgeSetup::default()
    });
    assert_eq!(setup.public, format!("http://127.0.0.1:{port}/keys"));
    login_where_browsers_reach_it(&setup, &idp);
    // The bridge's paths are under the base path only.
    let mut jar = Jar::default();
    let outside = fetch(
        &mut jar,
        "GET",
        &format!("http://127.0.0.1:{port}/oidc/auth?room=r"),
        None,
    );
    assert_eq!(outside.status, 404, "{}", outside.text());
}

#[test]
fn a_public_url_with_a_path_finishes_its_login() {
    let port = free_port();
    let idp = idp_for(&format!("http://127.0.0.1:{port}/keys"), true);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    // A reverse proxy passing https://meet.example.com/keys/… on as is.
    let setup = bridge_with(&BridgeSetup {
        port,
        issuer: &issuer,
        extra: "client_secret_file = \"client.secret\"",
        public_path: "/keys",
        base_path: "/keys",
        ..BridgeSetup::default()
    });
    login_where_browsers_reach_it(&setup, &idp);
}

#[test]
fn a_wrong_client_secret_is_a_set_up_error_for_the_administrator() {
    let (setup, _idp) = {
        let port = free_port();
        let idp = idp_for(&format!("http://127.0.0.1:{port}"), true);
        let issuer = format!("http://127.0.0.1:{}", idp.port);
        let setup = bridge_with(&BridgeSetup {
            port,
            issuer: &issuer,
            extra: "client_secret_file = \"client.secret\"",
            secret: "not-the-secret-the-idp-has-0123456789",
            ..BridgeSetup::default()
        });
        (setup, idp)
    };
    let login = full_login(&setup, "ada", &json!({"room": "standup"}), "standup");
    refused(&setup, &login.reply, 502, "client_credentials");
    let page = login.reply.text();
    assert!(
        page.contains("administrator")
            && page.contains("client_secret_file")
            && !page.contains("log in again"),
        "{page}"
    );
    setup
        .server
        .wait_log("refused the bridge's client credentials");
    assert!(
        setup.server.logs().contains("ERROR"),
        "{}",
        setup.server.logs()
    );
    assert_eq!(minted(&setup), 0);
}

#[test]
fn a_replayed_callback_is_refused_even_when_the_idp_would_take_its_code_again() {
    // The hostile IdP takes any code any number of times; the bridge must not.
    let hostile = node("hostile_idp.mjs", &["jitsi"]);
    let issuer = format!("http://127.0.0.1:{}", hostile.port);
    let setup = bridge_on(
        free_port(),
        &issuer,
        "client_secret_file = \"client.secret\"",
    );
    let mut jar = Jar::default();
    let idp = start_standup(&mut jar, &setup.public);
    let (state, nonce) = (
        query_param(&idp, "state").unwrap(),
        query_param(&idp, "nonce").unwrap(),
    );
    let before = jar.clone();
    let callback = format!(
        "{}/oidc/callback?code=good~{nonce}&state={state}",
        setup.public
    );
    let first = fetch(&mut jar, "GET", &callback, None);
    assert_eq!(first.status, 302, "{}", first.text());
    wait_minted(&setup, 1);
    let replay = fetch(&mut before.clone(), "GET", &callback, None);
    refused(&setup, &replay, 400, "replayed");
    // The refusal links back to the meeting it came from.
    assert!(
        replay.text().contains(&format!("href=\"{JITSI}/standup\"")),
        "{}",
        replay.text()
    );
    assert_eq!(minted(&setup), 1);
}

#[test]
fn an_error_without_the_browsers_state_does_not_abort_its_login() {
    let hostile = node("hostile_idp.mjs", &["jitsi"]);
    let issuer = format!("http://127.0.0.1:{}", hostile.port);
    let setup = bridge_on(
        free_port(),
        &issuer,
        "client_secret_file = \"client.secret\"",
    );
    let mut jar = Jar::default();
    let idp = start_standup(&mut jar, &setup.public);
    let (state, nonce) = (
        query_param(&idp, "state").unwrap(),
        query_param(&idp, "nonce").unwrap(),
    );
    // Someone sends this browser an error= of their own making.
    let forged = fetch(
        &mut jar,
        "GET",
        &format!(
            "{}/oidc/callback?error=access_denied&state=forged",
            setup.public
        ),
        None,
    );
    refused(&setup, &forged, 400, "error_state_mismatch");
    assert!(
        jar.0.contains_key(LOGIN_COOKIE),
        "the login in progress is kept: {jar:?}"
    );
    let done = fetch(
        &mut jar,
        "GET",
        &format!(
            "{}/oidc/callback?code=good~{nonce}&state={state}",
            setup.public
        ),
        None,
    );
    assert_eq!(done.status, 302, "{}", done.text());
    wait_minted(&setup, 1);
}

#[test]
fn a_moderator_claim_the_idp_does_not_release_is_logged_once_per_login() {
    // The README's sample: `groups` not in scopes, a moderator rule on groups.
    let port = free_port();
    let idp = idp_for(&format!("http://127.0.0.1:{port}"), true);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let extra = format!("client_secret_file = \"client.secret\"\n{MODERATORS}");
    let setup = bridge_with(&BridgeSetup {
        port,
        issuer: &issuer,
        extra: &extra,
        scopes: "[\"openid\", \"profile\", \"email\"]",
        ..BridgeSetup::default()
    });
    let login = full_login(&setup, "ada", &json!({"room": "standup"}), "standup");
    assert_eq!(login.reply.status, 302, "{}", login.reply.text());
    let (_, claims) = decode(&token_of(login.reply.header("location").unwrap()));
    assert!(
        claims["context"]["user"].get("moderator").is_none(),
        "{claims}"
    );
    let needle = "the moderator rule's claim is in neither the id_token nor userinfo";
    setup.server.wait_log(needle);
    wait_minted(&setup, 1);
    let lines: Vec<String> = setup
        .server
        .logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("claim=\"groups\"") && lines[0].contains("INFO"),
        "{lines:?}"
    );
}
