//! Prosody's side: reading its configuration (`config`: [`Config`],
//! [`TokenOptions`]) and the lines to paste into it (`config_lines`).

pub(crate) mod config;

pub use config::{Config, Read, TokenOptions};

/// The VirtualHost lines that make Prosody verify tokens of `issuer` with
/// keys from `key_server` (no trailing slash: Prosody would request `//`).
pub(crate) fn config_lines(issuer: &str, key_server: &str) -> String {
    let key_server = key_server.trim_end_matches('/');
    format!(
        "    authentication = \"token\"\n\
         \x20   app_id = \"{issuer}\"\n\
         \x20   asap_key_server = \"{key_server}\"\n\
         \x20   asap_accepted_issuers = {{ \"{issuer}\" }}\n\
         \x20   asap_accepted_audiences = {{ \"jitsi\" }}\n"
    )
}

/// From this many keys on, `cache_keys_url` should point at the bounded
/// JWKS (`?newest=2`): Prosody turns every JWKS key into a PEM at every
/// refresh, about 2.5 ms each, and logs nobody in meanwhile.
pub(crate) const BOUNDED_JWKS_FROM: usize = 200;

/// Milliseconds of Prosody's time one JWKS key costs at every refresh
/// (measured with the token plugin of 2026-07 on Prosody 0.12.3).
pub(crate) const MS_PER_JWKS_KEY: f64 = 2.5;

/// The `cache_keys_url` to give a Prosody: the JWKS at `jwks_url`, bounded
/// to the newest 2 keys of each issuer from [`BOUNDED_JWKS_FROM`] keys on.
pub(crate) fn cache_keys_url(jwks_url: &str, keys: usize) -> String {
    if keys >= BOUNDED_JWKS_FROM {
        format!("{jwks_url}?newest=2")
    } else {
        jwks_url.to_owned()
    }
}

/// Like [`config_lines`], plus `cache_keys_url` at the server's JWKS (see
/// [`cache_keys_url`] for `keys`), for the token plugin of 2025-11 and
/// later: keys are looked up there first and refreshed by its
/// Cache-Control, so a key replaced under the same kid is picked up
/// without restarting Prosody.
pub(crate) fn config_lines_with_jwks(issuer: &str, key_server: &str, keys: usize) -> String {
    let jwks = format!("{}/.well-known/jwks.json", key_server.trim_end_matches('/'));
    config_lines_with_jwks_at(issuer, key_server, &cache_keys_url(&jwks, keys))
}

/// Like [`config_lines_with_jwks`], with `cache_keys_url` at `jwks_url`.
pub(crate) fn config_lines_with_jwks_at(issuer: &str, key_server: &str, jwks_url: &str) -> String {
    format!(
        "{}\x20   cache_keys_url = \"{jwks_url}\"\n",
        config_lines(issuer, key_server)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_trailing_slash() {
        let lines = super::config_lines("jitsi", "https://keys.example.com/");
        assert!(
            lines.contains("asap_key_server = \"https://keys.example.com\"\n"),
            "{lines}"
        );
        assert!(lines.contains("asap_accepted_issuers = { \"jitsi\" }"));
        let jwks = super::config_lines_with_jwks("jitsi", "https://keys.example.com/", 10);
        assert!(
            jwks.ends_with(
                "    cache_keys_url = \"https://keys.example.com/.well-known/jwks.json\"\n"
            ),
            "{jwks}"
        );
        let many = super::config_lines_with_jwks("jitsi", "https://keys.example.com", 5000);
        assert!(
            many.ends_with("/.well-known/jwks.json?newest=2\"\n"),
            "{many}"
        );
    }
}
