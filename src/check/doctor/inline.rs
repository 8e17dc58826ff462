//! `doctor --config`: inline login (`tokenAuthInline`) as the `[oidc]`
//! table sets it up: the lines Jitsi's config.js needs (its `sso` block
//! names this service), and what would keep it from working: Jitsi's
//! `static/sso.html` posts to `https://<sso.tokenService>/token` (https is
//! fixed in the page), a `refresh_ttl` no longer than `ttl` makes every
//! refresh fail, and without `offline_access` a refresh is not checked at
//! the identity provider.

use super::super::Diagnostic;
use crate::routes::{sso_redirect_uri, Routes};
use crate::token::service::OidcConfig;

/// Findings about inline login for the bridge `oidc`.
pub fn check_inline(oidc: &OidcConfig) -> Vec<Diagnostic> {
    let urls = Routes::default().bridge(&oidc.public_url);
    let service = urls
        .token
        .split_once("://")
        .map_or(urls.token.as_str(), |(_, rest)| rest)
        .trim_end_matches("/token");
    let mut out = vec![Diagnostic::pass(
        "inline login (config.js)",
        format!(
            "tokenAuthUrl: '{}?room={{room}}&state={{state}}&code_challenge={{code_challenge}}', tokenAuthInline: true, \
             sso: {{ tokenService: '{service}', clientId: '{}' }}, tokenLogoutUrl: '{}'; Jitsi's sso.html ({}) redeems \
             at {}",
            urls.auth,
            oidc.sso_client_id,
            urls.logout,
            sso_redirect_uri(&oidc.jitsi_url),
            urls.token
        ),
    )];
    if oidc.public_url.scheme() != "https" {
        out.push(
            Diagnostic::warn(
                "oidc.public_url",
                format!("{} is plain http", oidc.public_url),
            )
            .why("Jitsi's sso.html posts to https://<sso.tokenService>/token (https is fixed in the page): inline login cannot reach this service")
            .fix("serve the token service over https (--tls-cert/--tls-key, or a TLS proxy) and give that URL as public_url"),
        );
    }
    if oidc.refresh_ttl <= oidc.ttl {
        out.push(
            Diagnostic::warn(
                "oidc.refresh_ttl",
                format!(
                    "{} is not longer than ttl {}",
                    humantime::format_duration(oidc.refresh_ttl),
                    humantime::format_duration(oidc.ttl)
                ),
            )
            .why("Jitsi refreshes once its token has expired (ttl after the login): by then the refresh token has too, so every refresh fails")
            .fix("make refresh_ttl longer than ttl (the default is 12h against a 3h ttl)"),
        );
    }
    let asks_idp = oidc.scopes.iter().any(|s| s == "offline_access");
    out.push(Diagnostic::pass(
        "inline login's refresh",
        if asks_idp {
            format!(
                "each refresh asks the identity provider first (offline_access), within {} of the login",
                humantime::format_duration(oidc.refresh_ttl)
            )
        } else {
            format!(
                "a refresh is honoured for {} after the login without asking the identity provider: add \
                 \"offline_access\" to scopes in [oidc] (and allow it for the client there) so that a user it disabled is \
                 refused at the next refresh",
                humantime::format_duration(oidc.refresh_ttl)
            )
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use std::time::Duration;

    fn oidc(public: &str, refresh: u64, scopes: &[&str]) -> OidcConfig {
        OidcConfig {
            issuer: url::Url::parse("https://idp.example.com").unwrap(),
            client_id: "jitsi".into(),
            client_secret: None,
            public_url: url::Url::parse(public).unwrap(),
            jitsi_url: url::Url::parse("https://meet.example.com").unwrap(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            token_issuer: "jitsi".into(),
            audience: "jitsi".into(),
            ttl: Duration::from_secs(3 * 3600),
            moderator: None,
            cookie_key: [0; 32],
            cookie_key_file: "cookie.key".into(),
            ca_file: None,
            sso_client_id: "jitsi-meet".into(),
            refresh_ttl: Duration::from_secs(refresh),
        }
    }

    #[test]
    fn config_js_lines_name_this_service_and_problems_are_warned() {
        let good = check_inline(&oidc(
            "https://auth.example.com/keys",
            12 * 3600,
            &["openid", "offline_access"],
        ));
        assert!(good.iter().all(|d| d.status == Status::Pass), "{good:?}");
        assert!(
            good[0].seen.contains(
                "sso: { tokenService: 'auth.example.com/keys/oidc', clientId: 'jitsi-meet' }"
            ) && good[0]
                .seen
                .contains("https://meet.example.com/static/sso.html"),
            "{}",
            good[0].seen
        );
        let bad = check_inline(&oidc("http://auth.example.com", 3600, &["openid"]));
        let warned: Vec<&str> = bad
            .iter()
            .filter(|d| d.status == Status::Warn)
            .map(|d| d.check.as_str())
            .collect();
        assert_eq!(warned, ["oidc.public_url", "oidc.refresh_ttl"]);
        assert!(bad.last().unwrap().seen.contains("add \"offline_access\""));
    }
}
