//! Inline login (`tokenAuthInline`) against the in-process fake IdP of
//! [`super::tests`]: `/oidc/auth` with a challenge, the callback's code for
//! `sso.html`, `POST /oidc/token` for the code and for refresh tokens, and
//! each refusal with its RFC 6749 code. The same protocol runs in a real
//! browser against real IdPs and Prosody in `tests/it/inline_login.rs`.

use super::tests::{set_cookies, text, world, World};
use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::sync::atomic::Ordering;

// RFC 7636 appendix B's example.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const JITSI: &str = "https://meet.example.com";
const SSO: &str = "https://meet.example.com/static/sso.html";
/// `{"room":"Stand Up","roomSafe":"stand%20up","tenant":"team"}` as Jitsi encodes it.
const STATE: &str = "%7B%22room%22%3A%22Stand%20Up%22%2C%22roomSafe%22%3A%22stand%2520up%22%2C%22tenant%22%3A%22team%22%7D";

fn location(a: &Answer) -> String {
    a.response.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn query_value(url: &str, name: &str) -> Option<String> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

impl World {
    /// An inline login through the fake IdP (its code `idp_code`): the code
    /// `sso.html` is sent with.
    fn inline_code(&self, idp_code: &str) -> String {
        let a = self.get(
            Route::OidcAuth,
            &format!("state={STATE}&code_challenge={CHALLENGE}&nonce=n-123"),
            None,
        );
        assert_eq!(a.response.status(), 302, "{}", text(&a));
        let cookie = set_cookies(&a)[0].split(';').next().unwrap().to_owned();
        let ours = query_value(&location(&a), "state").unwrap();
        let back = self.get(
            Route::OidcCallback,
            &format!("code={idp_code}&state={ours}"),
            Some(&cookie),
        );
        assert_eq!(back.response.status(), 302, "{}", text(&back));
        let url = location(&back);
        assert!(url.starts_with(&format!("{SSO}?code=")), "{url}");
        assert_eq!(query_value(&url, "state").as_deref(), Some(STATE));
        query_value(&url, "code").unwrap()
    }

    fn post(&self, form: &[(&str, &str)], origin: Option<&str>) -> (Answer, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = ::http::Request::builder()
            .method("POST")
            .uri("/oidc/token")
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=UTF-8",
            );
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let a = self.bridge.token(
            &req.body(()).unwrap(),
            Some(body.as_bytes()),
            &self.set,
            &self.signer,
            SystemTime::now(),
        );
        let json = serde_json::from_slice(a.response.body()).unwrap_or(Value::Null);
        (a, json)
    }

    fn redeem(&self, code: &str, verifier: &str) -> (Answer, Value) {
        self.post(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", SSO),
                ("client_id", "jitsi-meet"),
                ("code_verifier", verifier),
            ],
            Some(JITSI),
        )
    }

    fn refresh(&self, token: &str) -> (Answer, Value) {
        self.post(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", "jitsi-meet"),
            ],
            Some(JITSI),
        )
    }
}

fn status_and_error(a: &Answer, json: &Value) -> (u16, String) {
    (
        a.response.status().as_u16(),
        json["error"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn a_code_is_redeemed_once_with_its_verifier_for_jitsis_token_and_an_id_token() {
    let w = world(
        &Routes::default(),
        serde_json::json!({"groups": ["mods"], "name": "Ada"}),
    );
    let code = w.inline_code("good");
    // A wrong verifier is refused, and does not spend the code.
    let (a, json) = w.redeem(&code, &"x".repeat(43));
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
    assert!(
        json["error_description"].as_str().unwrap().contains("PKCE"),
        "{json}"
    );
    let (a, json) = w.redeem(&code, VERIFIER);
    assert_eq!(a.response.status(), 200, "{json}");
    let headers = a.response.headers();
    assert_eq!(headers["access-control-allow-origin"], JITSI);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        (json["token_type"].as_str(), json["expires_in"].as_u64()),
        (Some("Bearer"), Some(3600))
    );
    let access = payload(json["access_token"].as_str().unwrap());
    assert_eq!(
        (access["room"].as_str(), access["sub"].as_str()),
        (Some("stand%20up"), Some("team"))
    );
    assert_eq!(access["context"]["user"]["id"], "ada");
    assert_eq!(access["context"]["user"]["moderator"], "true");
    let id = payload(json["id_token"].as_str().unwrap());
    assert_eq!(
        (
            id["iss"].as_str(),
            id["aud"].as_str(),
            id["sub"].as_str(),
            id["nonce"].as_str()
        ),
        (
            Some("https://auth.example.com"),
            Some("jitsi-meet"),
            Some("ada"),
            Some("n-123")
        )
    );
    assert!(
        json["refresh_token"].as_str().is_some_and(|t| t.len() > 40),
        "{json}"
    );
    // Used once: used up.
    let (a, json) = w.redeem(&code, VERIFIER);
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
    assert!(
        json["error_description"]
            .as_str()
            .unwrap()
            .contains("used already"),
        "{json}"
    );
    // Another redirect_uri or client.
    let code = w.inline_code("good");
    let (a, json) = w.post(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://evil.example.com/static/sso.html"),
            ("client_id", "jitsi-meet"),
            ("code_verifier", VERIFIER),
        ],
        Some(JITSI),
    );
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
    let (a, json) = w.post(
        &[("grant_type", "authorization_code"), ("client_id", "other")],
        Some(JITSI),
    );
    assert_eq!(status_and_error(&a, &json), (401, "invalid_client".into()));
    let (a, json) = w.post(
        &[("grant_type", "password"), ("client_id", "jitsi-meet")],
        Some(JITSI),
    );
    assert_eq!(
        status_and_error(&a, &json),
        (400, "unsupported_grant_type".into())
    );
    let (a, json) = w.post(
        &[
            ("grant_type", "refresh_token"),
            ("grant_type", "x"),
            ("client_id", "jitsi-meet"),
        ],
        None,
    );
    assert_eq!(status_and_error(&a, &json), (400, "invalid_request".into()));
    assert!(a
        .response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[test]
fn a_refresh_token_is_rotated_asks_the_idp_and_a_replay_is_refused() {
    let w = world(&Routes::default(), serde_json::json!({}));
    let (_, first) = w.redeem(&w.inline_code("offline"), VERIFIER);
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (a, json) = w.refresh(&rt1);
    assert_eq!(a.response.status(), 200, "{json}");
    assert_eq!(w.idp.refreshes.load(Ordering::SeqCst), 1);
    let id = payload(json["id_token"].as_str().unwrap());
    assert!(
        id.get("nonce").is_none(),
        "a refreshed id_token carries no nonce: {id}"
    );
    let rt2 = json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    let (a, json) = w.refresh(&rt1);
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
    // The IdP cannot be reached: 502, and the same refresh token works once it can.
    *w.idp.refresh_answer.lock().unwrap() = "down";
    let (a, json) = w.refresh(&rt2);
    assert_eq!(
        status_and_error(&a, &json),
        (502, "temporarily_unavailable".into())
    );
    *w.idp.refresh_answer.lock().unwrap() = "ok";
    let (a, json) = w.refresh(&rt2);
    assert_eq!(a.response.status(), 200, "{json}");
    // The IdP disabled the user: refused for good.
    *w.idp.refresh_answer.lock().unwrap() = "disabled";
    let (a, json) = w.refresh(json["refresh_token"].as_str().unwrap());
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
    assert!(
        json["error_description"]
            .as_str()
            .unwrap()
            .contains("no longer accepts"),
        "{json}"
    );
    // A code is not a refresh token, nor the other way round.
    let code = w.inline_code("good");
    let (a, json) = w.refresh(&code);
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
    let (a, json) = w.redeem(&rt2, VERIFIER);
    assert_eq!(status_and_error(&a, &json), (400, "invalid_grant".into()));
}

#[test]
fn auth_refuses_another_redirect_or_client_and_a_refresh_skips_the_idp() {
    let w = world(&Routes::default(), serde_json::json!({}));
    for extra in [
        "redirect_uri=https%3A%2F%2Fevil.example.com%2Fstatic%2Fsso.html",
        "client_id=other",
        "code_challenge_method=plain",
    ] {
        let a = w.get(
            Route::OidcAuth,
            &format!("state={STATE}&code_challenge={CHALLENGE}&{extra}"),
            None,
        );
        assert_eq!(
            (a.response.status().as_u16(), a.outcome.label()),
            (400, "sso_request"),
            "{extra}"
        );
    }
    let a = w.get(
        Route::OidcAuth,
        &format!(
            "state={STATE}&code_challenge={CHALLENGE}&redirect_uri={}&client_id=jitsi-meet",
            urlencode(SSO)
        ),
        None,
    );
    assert_eq!(a.response.status(), 302, "{}", text(&a));
    let logins = w.idp.logins.load(Ordering::SeqCst);
    let state = "%7B%22room%22%3A%22r%22%2C%22refreshToken%22%3A%22rt%22%7D";
    let a = w.get(
        Route::OidcAuth,
        &format!("state={state}&code_challenge={CHALLENGE}"),
        None,
    );
    assert_eq!(location(&a), format!("{SSO}?state={state}"));
    assert!(set_cookies(&a).is_empty());
    assert_eq!(
        w.idp.logins.load(Ordering::SeqCst),
        logins,
        "no IdP login for a refresh"
    );
}

#[test]
fn only_jitsis_origin_gets_a_cors_grant() {
    let w = world(&Routes::default(), serde_json::json!({}));
    let preflight = |origin: &str| {
        let req = ::http::Request::builder()
            .method("OPTIONS")
            .uri("/oidc/token")
            .header("origin", origin)
            .body(())
            .unwrap();
        w.bridge
            .token(&req, Some(b""), &w.set, &w.signer, SystemTime::now())
    };
    let ok = preflight(JITSI);
    assert_eq!(ok.response.status(), 204);
    assert_eq!(ok.response.headers()["access-control-allow-origin"], JITSI);
    let other = preflight("https://evil.example.com");
    assert!(other
        .response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let (a, _) = w.redeem(&w.inline_code("good"), VERIFIER);
    assert_eq!(a.response.status(), 200);
    let (a, _) = w.post(
        &[("grant_type", "refresh_token")],
        Some("https://evil.example.com"),
    );
    assert!(a
        .response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_eq!(a.response.headers()["vary"], "origin");
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn only_a_refresh_that_asks_the_idp_may_block() {
    let w = world(&Routes::default(), serde_json::json!({}));
    let form = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let code = w.inline_code("offline");
    let code_form = form(&[("grant_type", "authorization_code"), ("code", &code)]);
    assert!(!w.bridge.token_may_block(Some(code_form.as_bytes())));
    let (_, with_idp) = w.redeem(&code, VERIFIER);
    let (_, without_idp) = w.redeem(&w.inline_code("good"), VERIFIER);
    let refresh = |json: &Value| {
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", json["refresh_token"].as_str().unwrap()),
        ])
    };
    assert!(w
        .bridge
        .token_may_block(Some(refresh(&with_idp).as_bytes())));
    assert!(!w
        .bridge
        .token_may_block(Some(refresh(&without_idp).as_bytes())));
    assert!(!w.bridge.token_may_block(None));
}
