-- Two brands on one Prosody, each with its own token issuer.
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }
app_id = "shared"
asap_accepted_audiences = { "jitsi" }

VirtualHost "meet.alpha.example"
    authentication = "token"
    app_id = "alpha"
    asap_key_server = "https://keys.alpha.example"
    asap_accepted_issuers = { "alpha" }

VirtualHost "meet.beta.example"
    authentication = "token"
    -- app_id falls back to the global "shared"
    asap_key_server = os.getenv("BETA_KEY_SERVER") or "https://keys.beta.example"
    asap_accepted_issuers = { "beta", "shared" }
    asap_require_room_claim = false

Component "conference.meet.alpha.example" "muc"
    app_id = "not-a-host-option"
