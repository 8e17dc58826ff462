-- docker-jitsi-meet + docker-compose.jitsi.yml: Prosody also reads asap-keyserver's JWKS.
-- The override mounts this file into Prosody's conf.d, which the image's prosody.cfg.lua
-- includes at its end (Include "conf.d/*.cfg.lua"); everything .env sets stays.
-- Needs the token plugin of 2025-11 or later (docker-jitsi-meet's images of that date on);
-- `asap-keyserver doctor --prosody-config` says which one a Prosody runs.
-- The host name is your XMPP_DOMAIN ("meet.jitsi" is docker-jitsi-meet's default).
VirtualHost "meet.jitsi"
    -- Read every `max-age - 60` s (serve --jwks-max-age, default 360): a key replaced under its
    -- kid is live after the next read, a removed kid stops working 90 minutes after it.
    -- Above a few hundred keys, ask for the newest 2 of each issuer:
    -- cache_keys_url = "http://asap-keyserver:8085/.well-known/jwks.json?newest=2"
    cache_keys_url = "http://asap-keyserver:8085/.well-known/jwks.json"
