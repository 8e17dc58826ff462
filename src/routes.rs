//! The one route table: every path `serve` answers is a [`Route`], matched
//! once, base path included ([`Routes::find`]), and everything that depends
//! on a route's path is derived here and nowhere else: the kids the
//! server's own routes would shadow ([`Routes::reserved_kids`],
//! [`every_reserved_kid`]), the metric labels ([`Route::label`]), and the
//! login bridge's browser-facing addresses ([`Routes::bridge`]: its redirect
//! URI, the cookie path, and Jitsi's post-logout page).
//!
//! It imports nothing of the crate, so the kid rules (`kid`), the scanner
//! (`keydir`), the token service (`token`) and the server (`serve`) all
//! read the same table without importing each other.
//!
//! Behind a reverse proxy, a path has two spellings: the one the server
//! sees (under `serve --base-path`) and the one browsers see (under
//! `public_url`'s path). [`Routes::find`] reads the first; [`Routes::bridge`]
//! makes the second: `public_url`'s path when it has one (the proxy maps
//! it), else the base path (browsers reach the server's own paths).

use std::borrow::Cow;

/// Every route the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `/<sha256(kid)>.pem`: Prosody's `asap_key_server`.
    Prosody,
    /// `/<kid>`: ASAP.
    Asap,
    /// The JWKS of every key (`--jwks-path`).
    Jwks,
    /// `/<folder>/<jwks path>`: the JWKS of one folder's keys.
    FolderJwks,
    /// `/healthz`
    Health,
    /// `/readyz`
    Ready,
    /// `/metrics`
    Metrics,
    /// `POST /mint`: the token service's mint API.
    Mint,
    /// `/oidc/auth`: the login bridge starts a login.
    OidcAuth,
    /// `/oidc/callback`: the identity provider sends the browser back.
    OidcCallback,
    /// `/oidc/logout`: Jitsi's `tokenLogoutUrl`.
    OidcLogout,
    /// `POST /oidc/token`: Jitsi's `static/sso.html` redeems a code or a
    /// refresh token (inline login, `tokenAuthInline`).
    OidcToken,
    /// Anything else (a 404, a 405, a 503 over the connection limit).
    Unknown,
}

/// The routes at fixed paths (under the base path), in the order they are matched.
const FIXED: [(Route, &str); 8] = [
    (Route::Health, "healthz"),
    (Route::Ready, "readyz"),
    (Route::Metrics, "metrics"),
    (Route::Mint, "mint"),
    (Route::OidcAuth, "oidc/auth"),
    (Route::OidcCallback, "oidc/callback"),
    (Route::OidcLogout, "oidc/logout"),
    (Route::OidcToken, "oidc/token"),
];

/// The JWKS path when `--jwks-path` is not given (without its leading `/`).
pub const DEFAULT_JWKS_PATH: &str = ".well-known/jwks.json";

/// Where the login bridge's cookies are sent, under the bridge's prefix.
const OIDC_PREFIX: &str = "oidc/";

impl Route {
    /// Every route, in the order `/metrics` lists them.
    pub const ALL: [Route; 13] = [
        Route::Prosody,
        Route::Asap,
        Route::Jwks,
        Route::FolderJwks,
        Route::Health,
        Route::Ready,
        Route::Metrics,
        Route::Mint,
        Route::OidcAuth,
        Route::OidcCallback,
        Route::OidcLogout,
        Route::OidcToken,
        Route::Unknown,
    ];

    /// The label of `asap_keyserver_requests_total{route}` (the bridge's
    /// routes share `oidc`, as they always have).
    pub fn label(self) -> &'static str {
        match self {
            Route::Prosody => "prosody_pem",
            Route::Asap => "asap",
            Route::Jwks => "jwks",
            Route::FolderJwks => "folder_jwks",
            Route::Health => "healthz",
            Route::Ready => "readyz",
            Route::Metrics => "metrics",
            Route::Mint => "mint",
            Route::OidcAuth | Route::OidcCallback | Route::OidcLogout | Route::OidcToken => "oidc",
            Route::Unknown => "unknown",
        }
    }

    /// The path under the base path of a route at a fixed path (none for
    /// key routes, whose path is the kid's, and for the JWKS, whose path is
    /// `--jwks-path`).
    pub fn path(self) -> Option<&'static str> {
        FIXED.iter().find(|(r, _)| *r == self).map(|(_, p)| *p)
    }

    /// Whether the token service answers it (`serve --config`).
    pub fn is_service(self) -> bool {
        matches!(
            self,
            Route::Mint
                | Route::OidcAuth
                | Route::OidcCallback
                | Route::OidcLogout
                | Route::OidcToken
        )
    }

    /// Whether it is a health probe (answered over the connection limit).
    pub fn is_probe(self) -> bool {
        matches!(self, Route::Health | Route::Ready)
    }
}

/// What a request path is, once matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<'a> {
    /// A route at a fixed path, or the JWKS.
    Route(Route),
    /// Anything else under the base path: a kid, a Prosody path or a
    /// folder's JWKS, to look up in the key set (no leading slash, single
    /// slashes).
    Key(Cow<'a, str>),
    /// Outside the base path.
    Outside,
}

/// The routes of one server: its base path, its JWKS path, and which parts
/// of the token service are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// `--base-path` without slashes at either end (`""`: none).
    base: String,
    /// `--jwks-path` without slashes at either end.
    jwks: String,
    mint: bool,
    oidc: bool,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new("", DEFAULT_JWKS_PATH)
    }
}

/// `/a//b/` -> `a/b`: no slash at either end, single slashes.
fn trim(path: &str) -> String {
    normalize(path).trim_end_matches('/').to_owned()
}

/// Collapses runs of `/` (Prosody sends `//<hex>.pem` when `asap_key_server`
/// ends in a slash) and drops the leading one.
pub fn normalize(path: &str) -> Cow<'_, str> {
    let trimmed = path.trim_start_matches('/');
    if !trimmed.contains("//") {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

impl Routes {
    /// The key server's routes under `base_path` with the JWKS at
    /// `jwks_path`; the token service's are off until [`Routes::with_service`].
    pub fn new(base_path: &str, jwks_path: &str) -> Routes {
        Routes {
            base: trim(base_path),
            jwks: trim(jwks_path),
            mint: false,
            oidc: false,
        }
    }

    /// The same routes with the token service's parts that are on.
    pub fn with_service(mut self, mint: bool, oidc: bool) -> Routes {
        self.mint = mint;
        self.oidc = oidc;
        self
    }

    /// Whether `route` is answered by this server.
    pub fn is_on(&self, route: Route) -> bool {
        match route {
            Route::Mint => self.mint,
            Route::OidcAuth | Route::OidcCallback | Route::OidcLogout | Route::OidcToken => {
                self.oidc
            }
            _ => true,
        }
    }

    /// The JWKS path (no slash at either end).
    pub fn jwks_path(&self) -> &str {
        &self.jwks
    }

    /// Matches a request path (or a request target: a query is ignored)
    /// once: the base path, then the fixed routes that are on, then the
    /// JWKS; anything else under the base path is a key path.
    pub fn find<'a>(&self, target: &'a str) -> Found<'a> {
        let path = target.split('?').next().unwrap_or(target);
        let path = match normalize(path) {
            Cow::Borrowed(p) => match self.under_base(p) {
                Some(rest) => Cow::Borrowed(rest),
                None => return Found::Outside,
            },
            Cow::Owned(p) => match self.under_base(&p) {
                Some(rest) => Cow::Owned(rest.to_owned()),
                None => return Found::Outside,
            },
        };
        if let Some((route, _)) = FIXED.iter().find(|(r, p)| *p == path && self.is_on(*r)) {
            return Found::Route(*route);
        }
        if path == self.jwks {
            return Found::Route(Route::Jwks);
        }
        Found::Key(path)
    }

    /// What is left of `path` (normalized) under the base path.
    fn under_base<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.base.is_empty() {
            return Some(path);
        }
        let rest = path.strip_prefix(self.base.as_str())?;
        match rest.strip_prefix('/') {
            Some(rest) => Some(rest),
            None if rest.is_empty() => Some(""),
            None => None,
        }
    }

    /// The kids this server's routes would shadow at their ASAP route
    /// `/<kid>`: the fixed routes that are on and the JWKS path.
    pub fn reserved_kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = FIXED
            .iter()
            .filter(|(r, _)| self.is_on(*r))
            .map(|(_, p)| (*p).to_owned())
            .collect();
        if !kids.contains(&self.jwks) && !self.jwks.is_empty() {
            kids.push(self.jwks.clone());
        }
        kids
    }

    /// The paths served under every folder too (`/<folder>/<jwks path>`).
    pub fn documents(&self) -> Vec<String> {
        vec![self.jwks.clone()]
    }

    /// The login bridge's addresses as browsers reach them, for a bridge
    /// whose `public_url` is `public_url`.
    pub fn bridge(&self, public_url: &url::Url) -> BridgeUrls {
        let public_path = public_url.path().trim_matches('/');
        // public_url's path when it has one (a proxy maps it to the base
        // path); else the server's own base path.
        let prefix = if public_path.is_empty() {
            self.base.as_str()
        } else {
            public_path
        };
        let prefix = if prefix.is_empty() {
            String::from("/")
        } else {
            format!("/{prefix}/")
        };
        let origin = public_url.origin().ascii_serialization();
        let at = |route: Route| format!("{origin}{prefix}{}", route.path().unwrap_or_default());
        BridgeUrls {
            auth: at(Route::OidcAuth),
            redirect_uri: at(Route::OidcCallback),
            logout: at(Route::OidcLogout),
            token: at(Route::OidcToken),
            cookie_path: format!("{prefix}{OIDC_PREFIX}"),
        }
    }
}

/// [`Routes::reserved_kids`] of any `serve`, whatever its flags: every
/// fixed route (the token service's too) and the default JWKS path. The
/// rule `keygen`, `rotate` and `mint --kid` apply, so that a new key works
/// whatever flags `serve` runs with (a custom `--jwks-path` is the one path
/// this cannot know).
pub fn every_reserved_kid() -> Vec<String> {
    Routes::default().with_service(true, true).reserved_kids()
}

/// The login bridge's addresses as browsers reach them ([`Routes::bridge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeUrls {
    /// `/oidc/auth`: Jitsi's `tokenAuthUrl` (without its query).
    pub auth: String,
    /// `/oidc/callback`: the redirect URI registered at the identity provider.
    pub redirect_uri: String,
    /// `/oidc/logout`: Jitsi's `tokenLogoutUrl`.
    pub logout: String,
    /// `/oidc/token`: where Jitsi's `static/sso.html` posts (`sso.tokenService`
    /// is this without `https://` and `/token`).
    pub token: String,
    /// The `Path` of the bridge's cookies: where the callback and logout are.
    pub cookie_path: String,
}

/// Jitsi's own page answering the hidden-iframe logout contract: the
/// post-logout redirect URI registered at the identity provider.
pub fn post_logout_uri(jitsi_url: &url::Url) -> String {
    format!(
        "{}/static/logout.html",
        jitsi_url.as_str().trim_end_matches('/')
    )
}

/// Jitsi's own page finishing an inline login (`tokenAuthInline`): the
/// only redirect target of the inline protocol, and its `redirect_uri`.
pub fn sso_redirect_uri(jitsi_url: &url::Url) -> String {
    format!(
        "{}/static/sso.html",
        jitsi_url.as_str().trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> url::Url {
        url::Url::parse(u).unwrap()
    }

    #[test]
    fn a_path_is_matched_once_under_the_base_path() {
        let plain = Routes::default();
        assert_eq!(plain.find("/healthz"), Found::Route(Route::Health));
        assert_eq!(plain.find("/readyz?x=1"), Found::Route(Route::Ready));
        assert_eq!(
            plain.find("//.well-known//jwks.json"),
            Found::Route(Route::Jwks)
        );
        // The token service's routes only when it is on; else a kid like any.
        assert_eq!(plain.find("/oidc/auth"), Found::Key("oidc/auth".into()));
        let on = Routes::new("/keys/", "/keys.json").with_service(true, true);
        assert_eq!(
            on.find("/keys/oidc/callback"),
            Found::Route(Route::OidcCallback)
        );
        assert_eq!(on.find("/keys//mint"), Found::Route(Route::Mint));
        assert_eq!(on.find("/keys/keys.json"), Found::Route(Route::Jwks));
        assert_eq!(on.find("/keys/oidc/other"), Found::Key("oidc/other".into()));
        assert_eq!(on.find("/keys/a//b.pem"), Found::Key("a/b.pem".into()));
        assert_eq!(on.find("/oidc/callback"), Found::Outside);
        assert_eq!(on.find("/keysx/healthz"), Found::Outside);
        assert_eq!(
            Routes::new("", "x").with_service(false, true).find("/mint"),
            Found::Key("mint".into())
        );
    }

    #[test]
    fn reserved_kids_and_labels_come_from_the_table() {
        assert_eq!(
            Routes::default().reserved_kids(),
            ["healthz", "readyz", "metrics", ".well-known/jwks.json"]
        );
        let kids = every_reserved_kid();
        for kid in [
            "mint",
            "oidc/auth",
            "oidc/callback",
            "oidc/logout",
            "metrics",
        ] {
            assert!(kids.iter().any(|k| k == kid), "{kid}");
        }
        assert_eq!(
            Routes::new("", "/keys.json")
                .with_service(true, false)
                .reserved_kids()
                .last()
                .unwrap(),
            "keys.json"
        );
        let labels: Vec<_> = Route::ALL.iter().map(|r| r.label()).collect();
        assert!(
            labels.contains(&"prosody_pem")
                && labels.contains(&"oidc")
                && labels.ends_with(&["unknown"])
        );
        assert!(Route::ALL
            .iter()
            .filter(|r| r.is_service())
            .all(|r| r.path().is_some()));
    }

    #[test]
    fn the_bridge_is_where_browsers_reach_it() {
        let root = Routes::default();
        let b = root.bridge(&url("https://auth.example.com"));
        assert_eq!(b.redirect_uri, "https://auth.example.com/oidc/callback");
        assert_eq!(b.cookie_path, "/oidc/");
        // --base-path, browsers reaching the server directly.
        let keys = Routes::new("/keys", DEFAULT_JWKS_PATH);
        let b = keys.bridge(&url("http://127.0.0.1:8080/"));
        assert_eq!(b.redirect_uri, "http://127.0.0.1:8080/keys/oidc/callback");
        assert_eq!(
            (b.cookie_path.as_str(), b.auth.as_str()),
            ("/keys/oidc/", "http://127.0.0.1:8080/keys/oidc/auth")
        );
        // public_url with a path: that is where browsers are, with or without a base path.
        for routes in [&root, &keys] {
            let b = routes.bridge(&url("https://meet.example.com/keys/"));
            assert_eq!(
                b.redirect_uri,
                "https://meet.example.com/keys/oidc/callback"
            );
            assert_eq!(b.logout, "https://meet.example.com/keys/oidc/logout");
            assert_eq!(b.cookie_path, "/keys/oidc/");
        }
        assert_eq!(
            post_logout_uri(&url("https://meet.example.com/")),
            "https://meet.example.com/static/logout.html"
        );
    }
}
