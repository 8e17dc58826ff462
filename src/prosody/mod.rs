//! Prosody's side: reading its configuration ([`config`]) and the lines to
//! paste into it ([`config_lines`]).

pub mod config;

/// The VirtualHost lines that make Prosody verify tokens of `issuer` with
/// keys from `key_server` (no trailing slash: Prosody would request `//`).
pub fn config_lines(issuer: &str, key_server: &str) -> String {
    let key_server = key_server.trim_end_matches('/');
    format!(
        "    authentication = \"token\"\n\
         \x20   app_id = \"{issuer}\"\n\
         \x20   asap_key_server = \"{key_server}\"\n\
         \x20   asap_accepted_issuers = {{ \"{issuer}\" }}\n\
         \x20   asap_accepted_audiences = {{ \"jitsi\" }}\n"
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
    }
}
