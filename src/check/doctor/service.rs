//! `doctor --config FILE`: the token service's config as `serve --config`
//! would use it, checked without writing anything: the identity provider
//! discovered by the login bridge's own code (issuer exact, PKCE S256, the
//! JWKS), every issuer it signs for has a key old enough for `min_key_age`
//! (the signer's own choice), and the Prosody config, when given, accepts
//! its tokens' `iss` and `aud` (verify's own checks). For the login bridge
//! it also prints the redirect URIs to register at the IdP, and warns when
//! `scopes` lack the scope that usually releases the moderator rule's claim;
//! inline login's config.js lines and checks are `super::inline`'s.

use super::super::verify::{self, Settings};
use super::super::Diagnostic;
use crate::keydir::age::epoch_secs;
use crate::keydir::KeySet;
use crate::prosody::config::TokenOptions;
use crate::token::service::oidc::Bridge;
use crate::token::service::{OidcConfig, ServiceConfig, SignError, Signer};
use std::collections::BTreeSet;
use std::time::SystemTime;

/// The `aud` of the mint API's tokens (the `mint` default).
const MINT_AUDIENCE: &str = "jitsi";

/// Findings about `config` against the key set `set` at `now`, and
/// Prosody's token options `prosody` when known.
pub fn check_service(
    config: &ServiceConfig,
    set: &KeySet,
    prosody: Option<&TokenOptions>,
    now: SystemTime,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for note in &config.notes {
        out.push(
            Diagnostic::warn("cookie key", note.clone())
                .fix("start serve --config once, or create it with `openssl rand -hex 32`"),
        );
    }
    let mut issuers = BTreeSet::new();
    let mut audiences = BTreeSet::new();
    if let Some(mint) = &config.mint {
        for c in &mint.clients {
            issuers.extend(c.issuers.iter().cloned());
        }
        audiences.insert(MINT_AUDIENCE.to_owned());
        out.push(Diagnostic::pass(
            "[mint]",
            format!(
                "{} client(s): {}",
                mint.clients.len(),
                mint.clients
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Some(oidc) = &config.oidc {
        issuers.insert(oidc.token_issuer.clone());
        audiences.insert(oidc.audience.clone());
        out.push(register_at_idp(oidc));
        out.extend(check_moderator_scope(oidc));
        out.extend(check_idp(oidc));
        out.extend(super::inline::check_inline(oidc));
    }
    // A kid at one of the service's own paths is refused by serve --config.
    let table =
        crate::routes::Routes::default().with_service(config.mint.is_some(), config.oidc.is_some());
    let routes = crate::routes::Route::ALL
        .into_iter()
        .filter(|r| r.is_service() && table.is_on(*r))
        .filter_map(crate::routes::Route::path);
    for route in routes.filter(|r| set.get(r).is_some()) {
        out.push(
            Diagnostic::fail(route, format!("a kid at /{route}, a path of the token service"))
                .why("serve --config refuses it (skipped, with the reason in its log): it is not served at /<kid> nor at its .pem path")
                .fix(format!("rename the file {route}.pem (its kid changes: tokens signed with it need the new kid)")),
        );
    }
    let signer = Signer::new(config.min_key_age);
    let min = humantime::format_duration(config.min_key_age);
    for issuer in &issuers {
        let check = format!("signing key of {issuer}");
        out.push(match signer.choose(set, issuer, now) {
            Ok(picked) if !picked.unordered.is_empty() => Diagnostic::warn(
                &check,
                format!(
                    "cannot tell which key of {issuer} is the newest: {} (their kids' dates do not settle it, and a \
                     kid without a date is newer only when its file was written more than {} after the other's)",
                    picked.unordered.join(", "),
                    humantime::format_duration(crate::keydir::age::MTIME_MARGIN)
                ),
            )
            .why(format!(
                "serve --config keeps signing with the key it signed with before, or from its start with {} (the \
                 file written last): adding one of these keys moves nothing; `mint --issuer {issuer}` refuses",
                picked.key.kid
            ))
            .fix(format!(
                "asap-keyserver rotate {issuer} (a key dated newer than all of them), or name the new key by its date \
                 ({issuer}/YYYY-MM-DD) before it is used"
            )),
            Ok(picked) => {
                let entry = picked.key;
                let age = epoch_secs(now)
                    .unwrap_or(0)
                    .saturating_sub(entry.times.changed_ns / 1_000_000_000);
                Diagnostic::pass(
                    &check,
                    format!(
                        "{} (in the key directory for {age} s; min_key_age {min})",
                        entry.kid
                    ),
                )
            }
            Err(e @ SignError::TooYoung { .. }) => Diagnostic::fail(&check, e.to_string())
                .why("until then every login and mint request is refused (503 with Retry-After)")
                .fix("wait, or lower min_key_age (the README's \"Mint from your backend\" says how low is safe)"),
            Err(e) => Diagnostic::fail(&check, e.to_string())
                .fix(format!("asap-keyserver rotate {issuer}")),
        });
    }
    match prosody {
        Some(o) => out.extend(check_prosody_accepts(o, &issuers, &audiences)),
        None => out.push(Diagnostic::skip(
            "Prosody accepts iss and aud",
            "not checked: pass --prosody-config to check the tokens' iss and aud against asap_accepted_issuers and \
             asap_accepted_audiences",
        )),
    }
    out
}

/// Whether Prosody (its token options `o`) accepts tokens of each issuer
/// with each audience: `verify`'s own `iss` and `aud` checks.
fn check_prosody_accepts(
    o: &TokenOptions,
    issuers: &BTreeSet<String>,
    audiences: &BTreeSet<String>,
) -> Vec<Diagnostic> {
    let mut settings = Settings::default();
    settings.overlay(o);
    let mut out: Vec<Diagnostic> = Vec::new();
    for iss in issuers {
        for aud in audiences {
            for d in verify::issuer_audience(iss, aud, &settings) {
                if !out
                    .iter()
                    .any(|seen| seen.check == d.check && seen.seen == d.seen)
                {
                    out.push(d);
                }
            }
        }
    }
    out
}

/// The redirect URIs the bridge sends to the IdP, as the bridge computes
/// them: the callback (`<public_url>/oidc/callback`) and the post-logout
/// page (Jitsi's `<jitsi_url>/static/logout.html`).
fn redirect_uris(oidc: &OidcConfig) -> (String, String) {
    // The route table's own URLs (doctor has no --base-path: a public_url
    // with a path says where a proxy puts the bridge).
    let urls = crate::routes::Routes::default().bridge(&oidc.public_url);
    (
        urls.redirect_uri,
        crate::routes::post_logout_uri(&oidc.jitsi_url),
    )
}

/// What to register at the IdP for this client.
fn register_at_idp(oidc: &OidcConfig) -> Diagnostic {
    let (callback, post_logout) = redirect_uris(oidc);
    Diagnostic::pass(
        "register at the IdP",
        format!(
            "client {:?}: redirect URI {callback} (exactly); post-logout redirect URI {post_logout}",
            oidc.client_id
        ),
    )
}

/// The scope that usually makes an IdP release `claim` (OpenID Connect
/// Core 5.4 for the standard ones; `groups` for `groups`, as Keycloak's
/// mappers, Okta, Dex and oidc-provider do); `None` when no scope is known.
fn scope_for_claim(claim: &str) -> Option<&'static str> {
    Some(match claim {
        "groups" => "groups",
        "roles" => "roles",
        "email" | "email_verified" => "email",
        "phone_number" | "phone_number_verified" => "phone",
        "address" => "address",
        "name" | "family_name" | "given_name" | "middle_name" | "nickname"
        | "preferred_username" | "profile" | "picture" | "website" | "gender" | "birthdate"
        | "zoneinfo" | "locale" | "updated_at" => "profile",
        _ => return None,
    })
}

/// A moderator rule whose claim the scopes asked for usually do not
/// release: nobody would become moderator, and nothing else would say so.
fn check_moderator_scope(oidc: &OidcConfig) -> Option<Diagnostic> {
    let rule = oidc.moderator.as_ref()?;
    let scope = scope_for_claim(&rule.claim)?;
    if oidc.scopes.iter().any(|s| s == scope) {
        return None;
    }
    Some(
        Diagnostic::warn(
            "oidc.scopes",
            format!(
                "the moderator rule reads the claim {:?}, but scopes {:?} lack {scope:?}, the scope that usually releases it",
                rule.claim, oidc.scopes
            ),
        )
        .why("most IdPs then send no such claim: nobody becomes moderator, and logins still work, so nothing else shows it")
        .fix(format!(
            "add \"{scope}\" to oidc.scopes (and allow that scope for the client at the IdP); an IdP that puts {:?} in \
             another scope (Authentik: profile) can keep its scopes",
            rule.claim
        )),
    )
}

/// The identity provider as the login bridge discovers it (its own code):
/// reachable, its `issuer` exactly ours, S256 PKCE, a JWKS with keys; and
/// what is missing for logout.
fn check_idp(oidc: &OidcConfig) -> Vec<Diagnostic> {
    const CHECK: &str = "identity provider";
    let issuer = oidc.issuer.as_str();
    let mut out = Vec::new();
    if oidc.issuer.scheme() == "http"
        && !matches!(
            oidc.issuer.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]")
        )
    {
        out.push(
            Diagnostic::warn("oidc.issuer", format!("{issuer} is plain http"))
                .why("the code, the id_token and the IdP's keys can be read or swapped on the way")
                .fix("use the provider's https:// issuer"),
        );
    }
    let found = match Bridge::new(oidc.clone()).describe() {
        Ok(found) => found,
        Err(e) => {
            out.push(
                Diagnostic::fail(CHECK, e)
                    .why("no one can log in: the bridge discovers the IdP the same way at its first login")
                    .fix(format!(
                        "check that {}/.well-known/openid-configuration answers from this host and that oidc.issuer is \
                         the provider's issuer exactly (Keycloak: https://HOST/realms/REALM); a private CA goes in oidc.ca_file",
                        issuer.trim_end_matches('/')
                    )),
            );
            return out;
        }
    };
    out.push(if found.keys > 0 {
        Diagnostic::pass(
            CHECK,
            format!(
                "{}: discovered, {} signing key(s) at {}",
                found.issuer, found.keys, found.jwks_uri
            ),
        )
    } else {
        Diagnostic::fail(
            CHECK,
            format!(
                "{}: no key the bridge can use at {}",
                found.issuer, found.jwks_uri
            ),
        )
        .why("every id_token would be refused")
        .fix("give the realm or provider an RS256 or ES256 signing key")
    });
    out.push(match &found.pkce_methods {
        Some(m) => Diagnostic::pass("PKCE", format!("code_challenge_methods_supported {m:?}")),
        None => Diagnostic::warn("PKCE", "the IdP does not list code_challenge_methods_supported")
            .why("the bridge always sends S256; an IdP that ignores it still works, without PKCE's protection of the code")
            .fix("require PKCE (S256) for this client at the IdP"),
    });
    out.push(match &found.end_session {
        Some(url) => Diagnostic::pass("logout", format!("end_session_endpoint {url}")),
        None => Diagnostic::warn("logout", "the IdP lists no end_session_endpoint")
            .why("/oidc/logout (Jitsi's tokenLogoutUrl) then ends only the meeting's session; the IdP logs the user in again silently")
            .fix("enable RP-initiated logout at the IdP, or accept this"),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::scope_for_claim;

    #[test]
    fn the_scope_that_releases_a_claim_is_known_for_the_usual_claims_only() {
        assert_eq!(scope_for_claim("groups"), Some("groups"));
        assert_eq!(scope_for_claim("email"), Some("email"));
        assert_eq!(scope_for_claim("preferred_username"), Some("profile"));
        assert_eq!(scope_for_claim("https://example.com/jitsi-role"), None);
    }
}
