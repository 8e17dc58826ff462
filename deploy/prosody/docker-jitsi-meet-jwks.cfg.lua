-- docker-jitsi-meet: cache_keys_url has no environment variable, so add it in a
-- Prosody config file of your own. The Prosody image's prosody.cfg.lua ends with
--     Include "conf.d/*.cfg.lua"
-- so copy this file into the prosody config volume's conf.d, e.g.
--     ~/.jitsi-meet-cfg/prosody/config/conf.d/asap-jwks.cfg.lua
-- and restart the prosody container. Reopening the VirtualHost only adds this
-- option; everything the .env sets (JWT_ASAP_KEYSERVER, JWT_APP_ID, ...) stays.
-- Needs the token plugin of 2025-11 or later (an older one fails to read a JWKS
-- here on every refresh); `asap-keyserver doctor --prosody-config` says which you run.
-- Use your XMPP_DOMAIN as the host name ("meet.jitsi" is docker-jitsi-meet's default).
VirtualHost "meet.jitsi"
    -- Read every `max-age - 60` s (asap-keyserver serve --jwks-max-age, default 360):
    -- a key replaced under its kid is live after the next read, a removed kid stops
    -- working 90 minutes after it. Keep JWT_ASAP_KEYSERVER set too.
    -- Prosody converts every key of it at every read (about 2.5 ms each, nobody logs in
    -- meanwhile): above a few hundred keys, ask only for the newest 2 of each issuer;
    -- older kids then log in through JWT_ASAP_KEYSERVER while their files exist.
    -- cache_keys_url = "https://keys.example.com/.well-known/jwks.json?newest=2"
    cache_keys_url = "https://keys.example.com/.well-known/jwks.json"
