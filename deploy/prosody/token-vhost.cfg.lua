-- Prosody (Debian jitsi-meet-tokens): the token VirtualHost, pointed at asap-keyserver.
-- Put these lines in /etc/prosody/conf.d/<your domain>.cfg.lua and restart Prosody.
-- Prosody fetches <asap_key_server>/<sha256(kid)>.pem once per kid and caches it until restart:
-- rotate keys by adding a new kid, never by replacing the key behind an existing one.
VirtualHost "meet.example.com"
    authentication = "token"
    app_id = "jitsi"                                  -- tokens' iss must be this (or be listed below)
    asap_key_server = "https://keys.example.com"      -- no trailing slash
    asap_accepted_issuers = { "jitsi" }
    asap_accepted_audiences = { "jitsi" }
    -- signature_algorithm = "RS256"                  -- the default with asap_key_server
    -- do not set app_secret here: with asap_key_server set it is ignored
