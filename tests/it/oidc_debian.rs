//! The login bridge against a Debian-packaged identity provider: Glewlwyd
//! (`apt-get install glewlwyd`, a C daemon on libulfius), beside npm's
//! `oidc-provider` of `oidc.rs`. The test builds the IdP's own world in a
//! temporary folder: a SQLite database made from the schema the package
//! ships (`/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3`), a
//! config file that binds 127.0.0.1 on a free port, and then, through
//! Glewlwyd's admin API as its administrator would, a `groups` property for
//! users, a `groups` scope, the OpenID Connect plugin (RS256, PKCE S256, a
//! `groups` claim released with the `groups` scope), the users `ada`
//! (groups `jitsi-moderators`, `staff`) and `bob` (`staff`) with passwords,
//! and the confidential client `jitsi` whose redirect URI is the bridge's
//! callback and whose post-logout URI is Jitsi's logout page.
//!
//! The login then runs as a browser runs Glewlwyd's login page
//! (`login.html`, a script app): our `/oidc/auth` sends it to the IdP, the
//! IdP to its login page, the page posts the password to `/api/auth/`,
//! grants the scopes (`PUT /api/auth/grant/jitsi`, the consent button) and
//! returns to the authorization URL with `g_continue`; the IdP sends the
//! code to our callback, which answers the Jitsi URL with `jwt=`. The real
//! Prosody accepts both tokens; only Ada's makes a moderator. Logout goes
//! on to Glewlwyd's `end_session`, which takes our id_token hint. The
//! package missing is a failure that names the install step, never a skip.

use crate::common::*;
use crate::oidc::{absolute, query_param};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The SQLite schema and first data (the `admin` user, password
/// `password`) that Debian's postinst loads through dbconfig-common.
const SCHEMA: &str = "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3";
const MODULES: &str = "/usr/lib/glewlwyd";
const WEBAPP: &str = "/usr/share/glewlwyd/webapp/";
const INSTALL: &str = "run scripts/test, which installs Debian's glewlwyd \
     (apt-get install glewlwyd dbconfig-sqlite3)";

const CLIENT_SECRET: &str = "glewlwyd-client-secret-0123456789abcdef";
const ADA_PASSWORD: &str = "ada-password-0123456789";
const BOB_PASSWORD: &str = "bob-password-0123456789";
const JITSI: &str = "http://meet.test";

/// Cookies by name (every server here is 127.0.0.1; their names differ).
#[derive(Debug, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, reply: &Reply) {
        for (name, value) in &reply.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap_or("");
            let Some((n, v)) = pair.split_once('=') else {
                continue;
            };
            let lower = value.to_ascii_lowercase();
            if v.is_empty() || lower.contains("max-age=0") || lower.contains("01 jan 1970") {
                self.0.remove(n.trim());
            } else {
                self.0.insert(n.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
}

/// `method url` over HTTP/1.1 with the jar's cookies and an optional JSON
/// body; the jar takes the answer's cookies.
fn send(jar: &mut Jar, method: &str, url: &str, body: Option<&Value>) -> Reply {
    let u = url::Url::parse(url).unwrap();
    let addr: SocketAddr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())
        .parse()
        .unwrap();
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: it-browser\r\n"
    );
    if !jar.0.is_empty() {
        let cookies: Vec<String> = jar.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req.push_str(&format!("Cookie: {}\r\n", cookies.join("; ")));
    }
    let body = body.map(Value::to_string).unwrap_or_default();
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let reply = parse_reply(&raw, method == "HEAD");
    assert!(
        reply.header("transfer-encoding").is_none(),
        "{method} {url}: a chunked answer this client does not read"
    );
    jar.take(&reply);
    reply
}

/// Glewlwyd on 127.0.0.1 with a database and config of its own; killed on drop.
struct Glewlwyd {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`
    base: String,
    /// The OpenID Connect plugin's issuer, `<base>/api/oidc`.
    issuer: String,
}

impl Drop for Glewlwyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Glewlwyd {
    /// What Glewlwyd logged so far (its console log, as it wrote it).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("glewlwyd.log")).unwrap_or_default()
    }

    /// Starts Glewlwyd on a free port of 127.0.0.1 over a database made
    /// from the package's schema, and waits until it answers.
    fn start() -> Glewlwyd {
        for path in ["/usr/bin/glewlwyd", SCHEMA, MODULES, WEBAPP] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: Glewlwyd is not installed; {INSTALL}"
            );
        }
        let dir = tempdir();
        let db = dir.path().join("glewlwyd.db");
        let schema = std::fs::File::open(SCHEMA).unwrap();
        let out = Command::new("sqlite3")
            .arg(&db)
            .stdin(schema)
            .output()
            .unwrap_or_else(|e| panic!("sqlite3 ({e}) is missing; {INSTALL}"));
        assert!(
            out.status.success(),
            "sqlite3 {db:?} < {SCHEMA}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("glewlwyd.conf");
        // Glewlwyd reads `secure_connection_*` whenever `use_secure_connection`
        // is present, even `false`: plain HTTP means leaving it out.
        write(
            &config,
            format!(
                "port = {port}\nbind_address = \"127.0.0.1\"\nexternal_url = \"{base}\"\n\
                 login_url = \"login.html\"\nstatic_files_path = \"{WEBAPP}\"\napi_prefix = \"api\"\n\
                 log_mode = \"console\"\nlog_level = \"INFO\"\ncookie_secure = 0\n\
                 session_key = \"GLEWLWYD2_SESSION_ID\"\nadmin_scope = \"g_admin\"\nprofile_scope = \"g_profile\"\n\
                 user_module_path = \"{MODULES}/user\"\nclient_module_path = \"{MODULES}/client\"\n\
                 user_auth_scheme_module_path = \"{MODULES}/scheme\"\nplugin_module_path = \"{MODULES}/plugin\"\n\
                 hash_algorithm = \"SHA512\"\n\
                 database = {{ type = \"sqlite3\"; path = \"{db}\"; }};\n\
                 static_files_mime_types = (\n\
                 \x20 {{ extension = \".html\"; mime_type = \"text/html\"; }},\n\
                 \x20 {{ extension = \".js\"; mime_type = \"application/javascript\"; }},\n\
                 \x20 {{ extension = \".json\"; mime_type = \"application/json\"; }},\n\
                 \x20 {{ extension = \".css\"; mime_type = \"text/css\"; }}\n);\n",
                db = path_str(&db),
            ),
        );
        let log = std::fs::File::create(dir.path().join("glewlwyd.log")).unwrap();
        let child = Command::new("glewlwyd")
            .arg(format!("--config-file={}", path_str(&config)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("glewlwyd ({e}) is missing; {INSTALL}"));
        let mut idp = Glewlwyd {
            child,
            dir,
            issuer: format!("{base}/api/oidc"),
            base,
        };
        wait_until("Glewlwyd answers GET /config", || {
            if let Ok(Some(status)) = idp.child.try_wait() {
                panic!("glewlwyd ended ({status}):\n{}", idp.log());
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && send(
                    &mut Jar::default(),
                    "GET",
                    &format!("{}/config", idp.base),
                    None,
                )
                .status
                    == 200
        });
        idp
    }

    /// `method /api/<path>` with `body` as the administrator (`jar` holds
    /// the admin session); the answer must be 200.
    fn admin(&self, jar: &mut Jar, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let url = format!("{}/api/{path}", self.base);
        let reply = send(jar, method, &url, body);
        assert_eq!(
            reply.status,
            200,
            "Glewlwyd {method} /api/{path}: {}\n{}",
            reply.text(),
            self.log()
        );
        reply
    }

    /// Sets the IdP up as its administrator would in the admin app: users
    /// carry `groups`, a `groups` scope, the OpenID Connect plugin signing
    /// RS256 with `idp_key`, the user `ada`, and the client `jitsi` with
    /// `redirect_uri` and `post_logout`.
    fn configure(&self, idp_key: &TestKey, redirect_uri: &str, post_logout: &str) {
        let mut jar = Jar::default();
        // The package's schema makes the administrator `admin` / `password`.
        self.admin(
            &mut jar,
            "POST",
            "auth/",
            Some(&json!({"username": "admin", "password": "password"})),
        );
        // The database modules store only the properties their data-format
        // names: users get `groups`; clients `post_logout_redirect_uris`,
        // which end_session reads (the shipped format names only a singular
        // `post_logout_redirect_uri`, which nothing reads).
        self.add_property(&mut jar, "user", "groups");
        self.add_property(&mut jar, "client", "post_logout_redirect_uris");
        self.admin(
            &mut jar,
            "POST",
            "scope/",
            Some(
                &json!({"name": "groups", "display_name": "Groups", "description": "Your groups",
                "password_required": false, "scheme": {}}),
            ),
        );
        // A plugin whose parameters fail validation is stored all the same
        // (and then answers 400 "already exist"): these must pass at once.
        self.admin(
            &mut jar,
            "POST",
            "mod/plugin/",
            Some(&json!({
                "module": "oidc", "name": "oidc", "display_name": "OpenID Connect", "enabled": true,
                "parameters": {
                    "iss": self.issuer, "jwt-type": "rsa", "jwt-key-size": "256",
                    "key": idp_key.pkcs8, "cert": idp_key.spki,
                    "access-token-duration": 3600, "refresh-token-duration": 1_209_600, "code-duration": 600,
                    "auth-type-code-enabled": true, "auth-type-token-enabled": false,
                    "auth-type-password-enabled": false, "auth-type-client-enabled": false,
                    // Refresh: inline login's refresh asks Glewlwyd with its refresh token.
                    "auth-type-refresh-enabled": true,
                    "pkce-allowed": true, "pkce-method-plain-allowed": false,
                    "subject-type": "public", "allowed-scope": ["openid", "groups"],
                    "name-claim": "mandatory", "email-claim": "mandatory",
                    "claims": [{"name": "groups", "user-property": "groups", "type": "string", "scope": ["groups"]}],
                    "session-cookie-name": "GLEWLWYD2_OIDC_SID", "session-cookie-expiration": 2_419_200,
                    "session-management-allowed": true,
                }
            })),
        );
        for (name, password, full, groups) in [
            (
                "ada",
                ADA_PASSWORD,
                "Ada Lovelace",
                json!(["jitsi-moderators", "staff"]),
            ),
            ("bob", BOB_PASSWORD, "Bob", json!(["staff"])),
        ] {
            self.admin(
                &mut jar,
                "POST",
                "user/",
                Some(
                    &json!({"username": name, "password": password, "name": full,
                    "email": format!("{name}@example.com"), "scope": ["openid", "groups"],
                    "groups": groups, "enabled": true}),
                ),
            );
        }
        // A confidential client without `token_endpoint_auth_method` is
        // refused at the token endpoint (`unauthorized_client`): name the
        // method the bridge uses (HTTP Basic, as openidconnect sends it).
        self.admin(
            &mut jar,
            "POST",
            "client/",
            Some(
                &json!({"client_id": "jitsi", "name": "Jitsi login bridge", "confidential": true,
                "password": CLIENT_SECRET, "redirect_uri": [redirect_uri],
                "post_logout_redirect_uris": [post_logout], "authorization_type": ["code", "refresh_token"],
                "token_endpoint_auth_method": ["client_secret_basic"],
                "scope": [], "enabled": true}),
            ),
        );
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer);
        wait_until("Glewlwyd's discovery document", || {
            send(&mut Jar::default(), "GET", &discovery, None).status == 200
        });
    }

    /// Adds `property` (several values) to the data-format of the database
    /// `kind` module (`user` or `client`), then reloads the module.
    fn add_property(&self, jar: &mut Jar, kind: &str, property: &str) {
        let path = format!("mod/{kind}/database");
        let mut module: Value =
            serde_json::from_slice(&self.admin(jar, "GET", &path, None).body).unwrap();
        module["parameters"]["data-format"][property] = json!({"multiple": true, "read": true,
            "write": true, "profile-read": true, "profile-write": false});
        self.admin(jar, "PUT", &path, Some(&module));
        self.admin(jar, "PUT", &format!("{path}/reset"), None);
    }

    /// What Glewlwyd's login page (`login.html`, a script app) does for a
    /// person who types `user`'s password and presses "grant": from
    /// `start` (where our `/oidc/auth` sent the browser) to the URL the IdP
    /// sends the browser back to (our callback).
    fn login(&self, jar: &mut Jar, start: &str, user: &str, password: &str) -> String {
        let first = send(jar, "GET", start, None);
        assert_eq!(
            first.status,
            302,
            "{start}: {}\n{}",
            first.text(),
            self.log()
        );
        let page = absolute(start, first.header("location").unwrap());
        assert!(
            page.starts_with(&format!("{}/login.html?", self.base)),
            "{page}"
        );
        let html = send(jar, "GET", &page, None);
        assert_eq!(html.status, 200, "{page}: {}", html.text());
        let client = query_param(&page, "client_id").unwrap();
        let scope = query_param(&page, "scope").unwrap();
        let back = query_param(&page, "callback_url").unwrap();
        // The password form.
        let auth = send(
            jar,
            "POST",
            &format!("{}/api/auth/", self.base),
            Some(&json!({"username": user, "password": password})),
        );
        assert_eq!(
            auth.status,
            200,
            "login as {user}: {}\n{}",
            auth.text(),
            self.log()
        );
        // The consent screen lists the scopes asked for; grant them all.
        let grants = send(
            jar,
            "GET",
            &format!(
                "{}/api/auth/grant/{client}/{}",
                self.base,
                scope.replace(' ', "%20")
            ),
            None,
        );
        assert_eq!(grants.status, 200, "{}", grants.text());
        let grants: Value = serde_json::from_slice(&grants.body).unwrap();
        let names: Vec<&str> = grants["scope"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        let granted = send(
            jar,
            "PUT",
            &format!("{}/api/auth/grant/{client}", self.base),
            Some(&json!({"scope": names.join(" ")})),
        );
        assert_eq!(granted.status, 200, "grant {names:?}: {}", granted.text());
        // "Continue": back to the authorization URL, which now answers the code.
        let sep = if back.contains('?') { '&' } else { '?' };
        let again = format!("{back}{sep}g_continue");
        let done = send(jar, "GET", &again, None);
        assert_eq!(done.status, 302, "{again}: {}\n{}", done.text(), self.log());
        absolute(&again, done.header("location").unwrap())
    }
}

/// `serve --config` with the bridge pointed at `issuer`, listening on
/// `port` (chosen beforehand: the IdP registers its redirect URI).
fn bridge(port: u16, issuer: &str) -> (tempfile::TempDir, tempfile::TempDir, Server) {
    let (keys, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    let conf = tempdir();
    write(
        conf.path().join("client.secret"),
        format!("{CLIENT_SECRET}\n"),
    );
    write(
        conf.path().join("cookie.key"),
        format!("{}\n", "5a".repeat(32)),
    );
    let file = conf.path().join("service.toml");
    write(
        &file,
        format!(
            "min_key_age = \"0s\"\n\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"jitsi\"\n\
             client_secret_file = \"client.secret\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             jitsi_url = \"{JITSI}\"\nscopes = [\"openid\", \"groups\"]\n\
             token_issuer = \"jitsi\"\naudience = \"jitsi\"\nttl = \"1h\"\ncookie_key_file = \"cookie.key\"\n\
             moderator = {{ claim = \"groups\", value = \"jitsi-moderators\" }}\n"
        ),
    );
    let listen = format!("127.0.0.1:{port}");
    let args = [
        "serve",
        "--keys",
        dir.to_str().unwrap(),
        "--listen",
        &listen,
        "--no-init",
        "--config",
        file.to_str().unwrap(),
    ];
    let server = Server::spawn(&args, None);
    (keys, conf, server)
}

fn jwt_of(location: &str) -> String {
    query_param(location, "jwt").unwrap_or_else(|| panic!("no jwt in {location}"))
}

/// Jitsi's `tokenAuthUrl` for the room `Standup`: room and state (the
/// client's JSON) in the query.
fn auth_url(public: &str) -> String {
    let state =
        json!({"room": "Standup", "roomSafe": "standup", "config.startWithAudioMuted": true});
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "{public}/oidc/auth?room=Standup&state={}",
        enc(&state.to_string())
    )
}

/// One login as `user` through the bridge at `public`, from Jitsi's
/// `tokenAuthUrl` to the Jitsi URL; returns the browser's jar and that URL.
fn login_as(idp: &Glewlwyd, public: &str, user: &str, password: &str) -> (Jar, String) {
    let mut jar = Jar::default();
    let start = send(&mut jar, "GET", &auth_url(public), None);
    assert_eq!(start.status, 302, "{}", start.text());
    let to_idp = start.header("location").unwrap().to_owned();
    assert!(
        to_idp.starts_with(&format!("{}/auth?", idp.issuer)),
        "{to_idp}"
    );
    assert_eq!(
        query_param(&to_idp, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let back = idp.login(&mut jar, &to_idp, user, password);
    assert!(
        back.starts_with(&format!("{public}/oidc/callback?")),
        "{back}"
    );
    let done = send(&mut jar, "GET", &back, None);
    assert_eq!(done.status, 302, "{}", done.text());
    let location = done.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{JITSI}/standup?jwt=")),
        "{location}"
    );
    assert!(
        location.ends_with("#config.startWithAudioMuted=true"),
        "{location}"
    );
    (jar, location)
}

#[test]
fn a_login_through_debians_glewlwyd_mints_a_token_prosody_accepts() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let logout_page = format!("{JITSI}/static/logout.html");
    let idp = Glewlwyd::start();
    idp.configure(key(1), &format!("{public}/oidc/callback"), &logout_page);
    let (_keys, _conf, server) = bridge(port, &idp.issuer);
    wait_until("the bridge discovered Glewlwyd", || {
        server.has_log("login bridge: identity provider discovered")
    });

    let (mut jar, location) = login_as(&idp, &public, "ada", ADA_PASSWORD);
    let token = jwt_of(&location);
    let (header, claims) = decode(&token);
    assert_eq!(header["kid"], "jitsi/2026-01-01");
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some("jitsi"), Some("jitsi"))
    );
    assert_eq!(claims["room"], "standup");
    let user = &claims["context"]["user"];
    // Glewlwyd's public `sub` is an opaque identifier it keeps per user, not the username.
    let id = user["id"].as_str().unwrap_or_default();
    assert!(!id.is_empty() && id != "ada", "{claims}");
    assert_eq!(user["name"], "Ada Lovelace", "{claims}");
    assert_eq!(user["email"], "ada@example.com", "{claims}");
    assert_eq!(
        (user["moderator"].clone(), user["affiliation"].clone()),
        (json!("true"), json!("owner")),
        "from Glewlwyd's groups claim: {claims}"
    );
    let logs = server.logs();
    assert!(
        !logs.contains(&token) && !logs.contains(CLIENT_SECRET),
        "{logs}"
    );

    // The real Prosody, fetching the key from the key server, lets Ada in.
    let prosody = through_key_server(&public);
    prosody_accepts(&prosody, &token, "standup").unwrap();

    // Bob is in `staff` only: in, but no moderator.
    let (_, bob) = login_as(&idp, &public, "bob", BOB_PASSWORD);
    let (_, claims) = decode(&jwt_of(&bob));
    let user = &claims["context"]["user"];
    assert_eq!(user["name"], "Bob", "{claims}");
    assert!(
        user.get("moderator").is_none() && user.get("affiliation").is_none(),
        "{claims}"
    );
    prosody_accepts(&prosody, &jwt_of(&bob), "standup").unwrap();

    // Logout: on to Glewlwyd's end_session with the id_token as hint, which
    // Glewlwyd takes (`prompt=end_session`, not `single_logout`) with
    // Jitsi's logout page as where to go after.
    let out = send(&mut jar, "GET", &format!("{public}/oidc/logout"), None);
    assert_eq!(out.status, 302, "{}", out.text());
    let end = out.header("location").unwrap().to_owned();
    assert!(
        end.starts_with(&format!("{}/end_session?", idp.issuer)),
        "{end}"
    );
    let ended = send(&mut jar, "GET", &end, None);
    assert_eq!(ended.status, 302, "{}\n{}", ended.text(), idp.log());
    let page = absolute(&end, ended.header("location").unwrap());
    assert_eq!(
        query_param(&page, "prompt").as_deref(),
        Some("end_session"),
        "{page}"
    );
    assert_eq!(
        query_param(&page, "callback_url").as_deref(),
        Some(logout_page.as_str()),
        "{page}"
    );
    // The page's "log out" button: the IdP session ends (then the page
    // sends the browser to `callback_url`).
    let sid = query_param(&page, "sid").unwrap();
    let api = format!("{}/api", idp.base);
    let gone = send(
        &mut jar,
        "DELETE",
        &format!("{api}/oidc/session/{sid}"),
        None,
    );
    assert_eq!(gone.status, 200, "{}", gone.text());
    let gone = send(&mut jar, "DELETE", &format!("{api}/auth/"), None);
    assert_eq!(gone.status, 200, "{}", gone.text());
    // Ada's next login needs her password again: the IdP sends her to its
    // login page even with `g_continue`, which skips it while her session lives.
    let again = send(&mut jar, "GET", &auth_url(&public), None);
    let to_idp = format!("{}&g_continue", again.header("location").unwrap());
    let idp_answer = send(&mut jar, "GET", &to_idp, None);
    let next = idp_answer.header("location").unwrap_or_default();
    assert!(
        next.starts_with(&format!("{}/login.html?", idp.base)),
        "Glewlwyd's session outlived the logout: it answered {}",
        next.split('?').next().unwrap_or_default()
    );
}

/// Inline login (`tokenAuthInline`) through Glewlwyd: `/oidc/auth` with a
/// PKCE challenge, Glewlwyd's login and consent, the callback's one-time
/// code for Jitsi's `sso.html`, redeemed at `POST /oidc/token` with the
/// verifier for a token the real Prosody accepts; then a refresh.
#[test]
fn an_inline_login_through_debians_glewlwyd_redeems_a_code_for_a_token_prosody_accepts() {
    // RFC 7636 appendix B's example.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = Glewlwyd::start();
    idp.configure(
        key(1),
        &format!("{public}/oidc/callback"),
        &format!("{JITSI}/static/logout.html"),
    );
    let (_keys, _conf, server) = bridge(port, &idp.issuer);
    let mut jar = Jar::default();
    let start = send(
        &mut jar,
        "GET",
        &format!(
            "{}&code_challenge={CHALLENGE}&nonce={}",
            auth_url(&public),
            "cd".repeat(32)
        ),
        None,
    );
    assert_eq!(start.status, 302, "{}", start.text());
    let back = idp.login(
        &mut jar,
        start.header("location").unwrap(),
        "ada",
        ADA_PASSWORD,
    );
    let done = send(&mut jar, "GET", &back, None);
    assert_eq!(done.status, 302, "{}", done.text());
    let sso = done.header("location").unwrap().to_owned();
    assert!(
        sso.starts_with(&format!("{JITSI}/static/sso.html?code=")),
        "{sso}"
    );
    let code = query_param(&sso, "code").unwrap();
    let token_url = format!("{public}/oidc/token");
    let (reply, tokens) = crate::inline_login::post_form(
        &token_url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{JITSI}/static/sso.html")),
            ("client_id", "jitsi-meet"),
            ("code_verifier", VERIFIER),
        ],
        Some(JITSI),
    );
    assert_eq!(reply.status, 200, "{tokens}");
    let (_, id) = decode(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "cd".repeat(32));
    let (_, claims) = decode(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["room"], "standup");
    assert_eq!(claims["context"]["user"]["moderator"], "true", "{claims}");
    let prosody = through_key_server(&public);
    prosody_accepts(
        &prosody,
        tokens["access_token"].as_str().unwrap(),
        "standup",
    )
    .unwrap();
    let (reply, refreshed) = crate::inline_login::post_form(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "jitsi-meet"),
        ],
        Some(JITSI),
    );
    assert_eq!(reply.status, 200, "{refreshed}\n{}", server.logs());
    prosody_accepts(
        &prosody,
        refreshed["access_token"].as_str().unwrap(),
        "standup",
    )
    .unwrap();
    let logs = server.logs();
    // The refresh asked Glewlwyd first (with the refresh token it gave at the login).
    let refresh_line = logs
        .lines()
        .rfind(|l| l.contains("route=\"token\""))
        .unwrap();
    assert!(!refresh_line.contains("idp_ms=0.0 "), "{refresh_line}");
    assert!(
        !logs.contains(&code) && !logs.contains(tokens["refresh_token"].as_str().unwrap()),
        "{logs}"
    );
}
