//! The bridge's flow (auth, callback, logout) against an in-process fake
//! identity provider ([`IdentityProvider`]): what each answer is, which
//! cookies it sets or leaves, where its page links back to. The same flow
//! runs against real IdPs end to end in `tests/it/oidc.rs`.

use super::provider::{Described, Identity, ProviderError, Start};
use super::*;
use crate::token::service::config::ModeratorRule;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// An IdP in memory: each login gets state `state-<n>`; the code says what
/// the token endpoint answers (`good`, `used`, `bad-client`).
pub(super) struct FakeIdp {
    pub(super) logins: AtomicUsize,
    exchanges: AtomicUsize,
    pub(super) refreshes: AtomicUsize,
    /// What a refresh at the IdP answers: `ok`, `disabled` or `down`.
    pub(super) refresh_answer: std::sync::Mutex<&'static str>,
    claims: serde_json::Map<String, Value>,
}

impl IdentityProvider for FakeIdp {
    fn issuer(&self) -> &str {
        "https://idp.test"
    }
    fn prepare(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    fn describe(&self) -> Result<Described, ProviderError> {
        Err(ProviderError::Unreachable("a fake".into()))
    }
    fn start(&self) -> Result<Start, ProviderError> {
        let n = self.logins.fetch_add(1, Ordering::SeqCst);
        Ok(Start {
            url: format!("https://idp.test/auth?state=state-{n}"),
            state: format!("state-{n}"),
            verifier: "v".repeat(43),
            nonce: format!("nonce-{n}"),
        })
    }
    fn check_iss_parameter(&self, _iss: Option<&str>) -> Result<(), ProviderError> {
        Ok(())
    }
    fn finish(&self, code: &str, _verifier: &str, _nonce: &str) -> Result<Identity, ProviderError> {
        self.exchanges.fetch_add(1, Ordering::SeqCst);
        match code {
            "bad-client" => Err(ProviderError::ClientCredentials("invalid_client".into())),
            "used" => Err(ProviderError::CodeRefused("invalid_grant".into())),
            _ => Ok(Identity {
                sub: "ada".into(),
                claims: self.claims.clone(),
                id_token: "h.p.s".into(),
                // `offline`: the IdP gives a refresh token.
                refresh_token: (code == "offline").then(|| "idp-rt-1".into()),
            }),
        }
    }
    fn end_session_url(&self, _hint: Option<&str>, post_logout: &str) -> Option<String> {
        Some(format!(
            "https://idp.test/logout?post_logout_redirect_uri={post_logout}"
        ))
    }
    fn refresh(&self, refresh_token: &str) -> Result<Option<String>, ProviderError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        match *self.refresh_answer.lock().unwrap() {
            "disabled" => Err(ProviderError::CodeRefused(
                "invalid_grant: account disabled".into(),
            )),
            "down" => Err(ProviderError::Unreachable("connection refused".into())),
            _ => Ok(Some(format!("{refresh_token}+"))),
        }
    }
}

pub(super) struct World {
    pub(super) bridge: Bridge,
    pub(super) idp: Arc<FakeIdp>,
    pub(super) set: KeySet,
    pub(super) signer: Signer,
    _dir: tempfile::TempDir,
}

pub(super) fn config(moderator: bool) -> OidcConfig {
    OidcConfig {
        issuer: url::Url::parse("https://idp.test").unwrap(),
        client_id: "jitsi".into(),
        client_secret: None,
        public_url: url::Url::parse("https://auth.example.com").unwrap(),
        jitsi_url: url::Url::parse("https://meet.example.com").unwrap(),
        scopes: vec!["openid".into()],
        token_issuer: "jitsi".into(),
        audience: "jitsi".into(),
        ttl: Duration::from_secs(3600),
        moderator: moderator.then(|| ModeratorRule {
            claim: "groups".into(),
            value: "mods".into(),
        }),
        cookie_key: [9; 32],
        cookie_key_file: "cookie.key".into(),
        ca_file: None,
        sso_client_id: "jitsi-meet".into(),
        refresh_ttl: Duration::from_secs(12 * 3600),
    }
}

pub(super) fn world(routes: &Routes, claims: Value) -> World {
    let dir = tempfile::tempdir().unwrap();
    crate::keydir::keygen::create(dir.path(), "jitsi/2026-01-01", 2048).unwrap();
    let set = KeySet::load(dir.path()).unwrap();
    let config = config(true);
    let urls = routes.bridge(&config.public_url);
    let idp = Arc::new(FakeIdp {
        logins: AtomicUsize::new(0),
        exchanges: AtomicUsize::new(0),
        refreshes: AtomicUsize::new(0),
        refresh_answer: std::sync::Mutex::new("ok"),
        claims: claims.as_object().cloned().unwrap_or_default(),
    });
    let provider: Arc<dyn IdentityProvider> = idp.clone();
    World {
        bridge: Bridge::with_provider(config, urls, Ok(provider)),
        idp,
        set,
        signer: Signer::new(Duration::ZERO),
        _dir: dir,
    }
}

impl World {
    pub(super) fn get(&self, route: Route, query: &str, cookie: Option<&str>) -> Answer {
        let mut req = ::http::Request::builder().uri(format!("/x?{query}"));
        if let Some(c) = cookie {
            req = req.header(::http::header::COOKIE, c);
        }
        self.bridge.handle(
            route,
            &req.body(()).unwrap(),
            &self.set,
            &self.signer,
            SystemTime::now(),
        )
    }

    /// A login started for room `standup`: the login cookie (`name=value`) and our state.
    fn start(&self) -> (String, String) {
        let a = self.get(
            Route::OidcAuth,
            "room=standup&state=%7B%22room%22%3A%22standup%22%7D",
            None,
        );
        assert_eq!(a.response.status(), 302, "{}", text(&a));
        let cookie = set_cookies(&a)[0].split(';').next().unwrap().to_owned();
        let state = a.response.headers()["location"]
            .to_str()
            .unwrap()
            .rsplit('=')
            .next()
            .unwrap()
            .to_owned();
        (cookie, state)
    }
}

pub(super) fn text(a: &Answer) -> String {
    String::from_utf8(a.response.body().to_vec()).unwrap()
}

pub(super) fn set_cookies(a: &Answer) -> Vec<String> {
    a.response
        .headers()
        .get_all(::http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_login_is_finished_once_and_a_replay_is_refused_without_asking_the_idp() {
    let w = world(
        &Routes::default(),
        serde_json::json!({"groups": ["mods"], "name": "Ada"}),
    );
    let (cookie, state) = w.start();
    let done = w.get(
        Route::OidcCallback,
        &format!("code=good&state={state}"),
        Some(&cookie),
    );
    assert_eq!(
        (done.response.status().as_u16(), done.outcome.label()),
        (302, "minted"),
        "{}",
        text(&done)
    );
    let location = done.response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://meet.example.com/standup?jwt="),
        "{location}"
    );
    // The same callback again (the browser's cookie and all): refused before the IdP is asked.
    let again = w.get(
        Route::OidcCallback,
        &format!("code=good&state={state}"),
        Some(&cookie),
    );
    assert_eq!(
        (again.response.status().as_u16(), again.outcome.label()),
        (400, "replayed")
    );
    assert_eq!(w.idp.exchanges.load(Ordering::SeqCst), 1);
    assert!(
        text(&again).contains("href=\"https://meet.example.com/standup\""),
        "{}",
        text(&again)
    );
}

#[test]
fn an_error_without_our_state_leaves_the_login_in_progress_alone() {
    let w = world(&Routes::default(), serde_json::json!({}));
    let (cookie, state) = w.start();
    let forged = w.get(
        Route::OidcCallback,
        "error=access_denied&state=someone-elses",
        Some(&cookie),
    );
    assert_eq!(
        (forged.response.status().as_u16(), forged.outcome.label()),
        (400, "error_state_mismatch")
    );
    assert!(
        set_cookies(&forged).is_empty(),
        "the login cookie is not cleared: {:?}",
        set_cookies(&forged)
    );
    let no_state = w.get(Route::OidcCallback, "error=access_denied", Some(&cookie));
    assert_eq!(no_state.outcome.label(), "error_state_mismatch");
    // The login in progress still finishes.
    let done = w.get(
        Route::OidcCallback,
        &format!("code=good&state={state}"),
        Some(&cookie),
    );
    assert_eq!(done.response.status(), 302, "{}", text(&done));
    // With our state, the IdP's error is honoured and the login cookie cleared.
    let (cookie, state) = w.start();
    let denied = w.get(
        Route::OidcCallback,
        &format!("error=access_denied&state={state}"),
        Some(&cookie),
    );
    assert_eq!(
        (denied.response.status().as_u16(), denied.outcome.label()),
        (403, "idp_error")
    );
    assert!(set_cookies(&denied)[0].contains("Max-Age=0"));
}

#[test]
fn each_failure_is_labelled_for_what_it_is_and_links_back_to_the_meeting() {
    let w = world(&Routes::default(), serde_json::json!({}));
    let (cookie, state) = w.start();
    let bad = w.get(
        Route::OidcCallback,
        &format!("code=bad-client&state={state}"),
        Some(&cookie),
    );
    assert_eq!(
        (bad.response.status().as_u16(), bad.outcome.label()),
        (502, "client_credentials")
    );
    let page = text(&bad);
    assert!(
        page.contains("administrator") && page.contains("client_secret_file"),
        "{page}"
    );
    assert!(
        page.contains("href=\"https://meet.example.com/standup\""),
        "{page}"
    );
    let (cookie, state) = w.start();
    let used = w.get(
        Route::OidcCallback,
        &format!("code=used&state={state}"),
        Some(&cookie),
    );
    assert_eq!(
        (used.response.status().as_u16(), used.outcome.label()),
        (400, "code_refused")
    );
    // Without a login cookie the meeting is unknown: the link goes to Jitsi.
    let lost = w.get(Route::OidcCallback, "code=good&state=x", None);
    assert_eq!(lost.outcome.label(), "cookie_missing");
    assert!(
        text(&lost).contains("href=\"https://meet.example.com/\""),
        "{}",
        text(&lost)
    );
    let head = ::http::Request::builder()
        .method("HEAD")
        .uri("/x")
        .body(())
        .unwrap();
    let a = w.bridge.handle(
        Route::OidcCallback,
        &head,
        &w.set,
        &w.signer,
        SystemTime::now(),
    );
    assert_eq!(
        (
            a.response.status().as_u16(),
            a.response.headers()["allow"].to_str().unwrap()
        ),
        (405, "GET")
    );
}

#[test]
fn a_moderator_claim_the_idp_never_sent_makes_no_moderator() {
    let w = world(&Routes::default(), serde_json::json!({"name": "Ada"}));
    let nobody = Identity {
        sub: "ada".into(),
        claims: serde_json::Map::new(),
        id_token: String::new(),
        refresh_token: None,
    };
    let spec = w.bridge.spec(
        &w.bridge.person(&nobody),
        &Target::from_request(None, Some("r")).unwrap(),
    );
    assert_eq!(spec.moderator, None);
    let mods = Identity {
        sub: "ada".into(),
        claims: serde_json::json!({"groups": "mods"})
            .as_object()
            .cloned()
            .unwrap(),
        id_token: String::new(),
        refresh_token: None,
    };
    assert_eq!(
        w.bridge
            .spec(
                &w.bridge.person(&mods),
                &Target::from_request(None, Some("r")).unwrap()
            )
            .moderator,
        Some(true)
    );
}

#[test]
fn under_a_base_path_the_cookies_and_the_redirect_uri_follow_the_route_table() {
    let routes = Routes::new("/keys", crate::routes::DEFAULT_JWKS_PATH).with_service(false, true);
    let w = world(&routes, serde_json::json!({}));
    assert_eq!(
        w.bridge.urls().redirect_uri,
        "https://auth.example.com/keys/oidc/callback"
    );
    let a = w.get(Route::OidcAuth, "room=r", None);
    assert!(
        set_cookies(&a)[0].contains("Path=/keys/oidc/"),
        "{:?}",
        set_cookies(&a)
    );
    let out = w.get(Route::OidcLogout, "", None);
    assert_eq!(out.outcome.label(), "logged_out");
    assert!(set_cookies(&out)
        .iter()
        .all(|c| c.contains("Path=/keys/oidc/") && c.contains("Max-Age=0")));
    assert_eq!(
        out.response.headers()["location"],
        "https://idp.test/logout?post_logout_redirect_uri=https://meet.example.com/static/logout.html"
    );
}
