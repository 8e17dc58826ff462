//! Why Prosody turns a token away, in words: one table of causes, read by
//! `verify` (the why and fix of its failing checks), `login` (Prosody's
//! answer at SASL or at the room join) and `explain` (Prosody's own log).
//!
//! Each cause lists the texts the Jitsi token plugin, luajwtjitsi, luaossl
//! and Prosody itself write or answer for it (from the plugin sources of
//! 2024-02 and 2026, and a real Prosody 0.12's log), the `verify` check it
//! belongs to, and the same two sentences everywhere: why, and the fix.
//!
//! The checks are a [`Check`] each, named once here: `verify` prints the
//! names, and `login` and `explain` match on the enum, never on the words.
//! It lives beside the causes rather than in `verify` so that the table
//! can name checks without `causes` and `verify` importing each other.

use std::fmt;

macro_rules! checks {
    ($($(#[doc = $doc:literal])+ $name:ident = $text:literal,)+) => {
        /// A check of `verify`'s (or a setting a cause points at), by the
        /// name `verify` prints, `--json` gives and the fixture of its
        /// token cases uses.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Check {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Check {
            /// Every check, in Prosody's order as far as `verify` has one.
            pub const ALL: &'static [Check] = &[$(Check::$name),+];

            /// The name printed for it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Check::$name => $text,)+
                }
            }
        }
    };
}

checks! {
    /// The token is three base64url parts with JSON header and payload.
    TokenShape = "token shape",
    /// The header names a kid (Prosody finds the key by it).
    Kid = "kid",
    /// With `asap_key_server`: an RSA (`RS*`) alg.
    Alg = "alg",
    /// Where the JWKS at `cache_keys_url` stands on the kid.
    CacheKeysUrl = "cache_keys_url",
    /// The key came from the JWKS at `cache_keys_url`.
    KeyJwks = "key JWKS",
    /// The URL Prosody fetches the key from (`asap_key_server`).
    KeyUrl = "key URL",
    /// The key file (`verify --keys` or `--key`).
    KeyFile = "key file",
    /// The public key for the kid, as luaossl reads it.
    Key = "key",
    /// The key server says the kid's key was replaced.
    KeyReplaced = "key replaced",
    /// The header's typ is exactly `JWT`.
    Typ = "typ",
    /// The header's alg is exactly `signature_algorithm`.
    AlgConfigured = "alg = configured",
    /// The signature verifies with the key.
    Signature = "signature",
    /// `exp` is a number and not past.
    Exp = "exp",
    /// `nbf` is a number and not in the future.
    Nbf = "nbf",
    /// `iss` is an accepted issuer.
    Iss = "iss",
    /// `aud` is an accepted audience.
    Aud = "aud",
    /// `room` is there (unless not required) and names the room joined.
    Room = "room",
    /// The room is found at the join (`muc_mapper_domain_base`).
    RoomJoin = "room join",
    /// `sub` is there and names the tenant or domain.
    Sub = "sub",
    /// `context.user`'s fields are strings.
    ContextUser = "context.user",
    /// The moderator flag is where and as Jitsi reads it.
    Moderator = "moderator",
    /// `context.features` come with a moderator.
    Features = "features",
    /// `context.group` is read only with tenants.
    Group = "group",
    /// `app_id` on the token VirtualHost (`doctor --prosody-config`).
    AppId = "app_id",
    /// `asap_key_server` on the token VirtualHost (`doctor --prosody-config`).
    AsapKeyServer = "asap_key_server",
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Check> for String {
    fn from(check: Check) -> String {
        check.as_str().to_owned()
    }
}

/// A printed check name (a [`Diagnostic`](super::Diagnostic)'s `check`) is
/// this check.
impl PartialEq<Check> for String {
    fn eq(&self, check: &Check) -> bool {
        self == check.as_str()
    }
}

/// No check has this name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCheck(String);

impl fmt::Display for UnknownCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Check::ALL
            .iter()
            .map(|c| format!("{:?}", c.as_str()))
            .collect();
        write!(
            f,
            "{:?} is not a check of verify's: write one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownCheck {}

impl std::str::FromStr for Check {
    type Err = UnknownCheck;

    fn from_str(name: &str) -> Result<Check, UnknownCheck> {
        Check::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == name)
            .ok_or_else(|| UnknownCheck(name.to_owned()))
    }
}

impl serde::Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Check {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Check, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a cause stops a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// The login (SASL): the client is refused, or gets no answer.
    Login,
    /// The room join (MUC): logged in, then refused at the door.
    Join,
    /// Prosody's set-up: the token plugin, or its key refresh.
    Setup,
}

/// One reason Prosody refuses a token.
#[derive(Debug, PartialEq, Eq)]
pub struct Cause {
    /// A stable name, for `--json`.
    pub id: &'static str,
    /// The `verify` check that fails for it.
    pub check: Check,
    /// Where it stops the person.
    pub stage: Stage,
    /// Texts that mean this cause in an answer or a log line (the first is
    /// what the token plugin answers); matched as substrings, in table order.
    pub says: &'static [&'static str],
    /// What it means.
    pub why: &'static str,
    /// What to do about it.
    pub fix: &'static str,
}

macro_rules! causes {
    ($($name:ident = $id:literal, $check:ident, $stage:ident, [$($says:literal),+], $why:literal, $fix:literal;)+) => {
        $(
            #[doc = concat!("`", $id, "`: ", $why)]
            pub const $name: Cause = Cause {
                id: $id,
                check: Check::$check,
                stage: Stage::$stage,
                says: &[$($says),+],
                why: $why,
                fix: $fix,
            };
        )+
        /// Every cause, most specific texts first (the order [`find`] tries).
        pub static CAUSES: &[&Cause] = &[$(&$name),+];
    };
}

causes! {
    KEY_NOT_PARSED = "key-not-parsed", Key, Login,
        ["DECODER routines::unsupported", "pkey.new:"],
        "the key server answered this kid with something that is not a public key (a certificate, HTML, an empty \
            body): luaossl's pkey.new raises, the login gets no answer, and Prosody caches that body for the kid until it restarts",
        "serve the SPKI public key (BEGIN PUBLIC KEY) at the kid's URL, then restart Prosody to drop the cached body";
    ROOM_MISSING_CRASH = "room-missing-no-answer", Room, Login,
        ["'room' claim is missing", "invalid tag name"],
        "the token has no room claim: the token plugin of 2024 refuses it with an error that breaks the SASL reply, \
            so the client gets no answer and disconnects",
        "mint with room set to the room name, or \"*\" for any room (or set asap_require_room_claim = false)";
    ROOM_MISSING = "room-missing", Room, Login,
        ["room claim is missing"],
        "the token has no room claim, which Prosody requires by default (asap_require_room_claim)",
        "mint with room set to the room name, or \"*\" for any room (or set asap_require_room_claim = false)";
    SUB_MISSING = "sub-missing", Sub, Login,
        ["sub claim is missing", "bad argument #1 to 'lower'"],
        "the token has no sub claim: the token plugin of 2026-05 and later refuses the login; the 2024 one crashes at the room join instead",
        "mint with sub set to the tenant or domain, or \"*\" (asap-keyserver mint always sets it)";
    NO_TOKEN = "no-token", TokenShape, Login,
        ["token required", "authentication-required", "Authentication required"],
        "the client sent no token (no ?token= on the BOSH or WebSocket URL)",
        "open the meeting with ?jwt=<token> in the URL, as the token's link does";
    BAD_FORMAT = "bad-format", TokenShape, Login,
        ["bad token format", "Invalid token", "Invalid header", "Invalid body"],
        "the token is not three base64url parts with JSON header and payload",
        "pass the whole token, unquoted, as a JWT library or asap-keyserver mint makes it";
    KID_MISSING = "kid-missing", Kid, Login,
        ["'kid' claim is missing"],
        "the token header has no kid, and Prosody finds the key by it",
        "sign with the kid of a key the key server publishes (asap-keyserver mint --issuer or --kid)";
    ALG_NOT_RS = "alg-not-rs", Alg, Login,
        ["'kid' claim only support with RS family", "'alg' claim is missing", "'alg' claim must not be empty"],
        "with asap_key_server Prosody verifies RSA signatures (RS256) only; this token is HMAC (an app_secret token) or names no alg",
        "sign RS256 with the private key whose public half the key server publishes";
    NO_KEY = "no-key", Key, Login,
        ["could not obtain public key", "Error on GET request", "Timeout retrieving", "making the external call to"],
        "Prosody could not fetch the public key for the token's kid from asap_key_server: the kid has no file there, \
            the URL is wrong or ends in '/', the server redirects or is down",
        "publish the kid at <asap_key_server>/<sha256(kid)>.pem (with asap-keyserver: add <keys>/<kid>.pem), and \
            check the URL with asap-keyserver verify --key-server";
    TYP = "typ", Typ, Login,
        ["Invalid typ"],
        "the token header's typ is not exactly \"JWT\"",
        "set the header typ to \"JWT\" (asap-keyserver mint always does)";
    ALG = "alg", AlgConfigured, Login,
        ["Invalid or incorrect alg"],
        "the token's alg is not exactly Prosody's signature_algorithm (RS256 by default)",
        "sign with RS256, or set signature_algorithm to the alg you sign with";
    SIGNATURE = "signature", Signature, Login,
        ["Invalid signature"],
        "the signature does not verify with the key Prosody holds for this kid: the token was signed with another \
            key, or the key was replaced under the same kid and Prosody keeps the one it fetched first until it restarts",
        "sign with the private key of this kid; after replacing a key restart Prosody, and rotate with a new kid next time (asap-keyserver rotate)";
    EXP = "exp", Exp, Login,
        ["Not acceptable by exp", "exp must be number"],
        "the token has expired (or exp is not a number): Prosody checks exp at every login with no clock skew, and a reconnect after exp is a new login",
        "mint a new token, with a ttl that covers the meeting and its reconnects, and keep clocks in sync";
    NBF = "nbf", Nbf, Login,
        ["Not acceptable by nbf", "nbf must be number"],
        "the token is not valid yet (nbf in the future, or not a number): Prosody allows no clock skew",
        "set nbf a little in the past (mint --nbf-skew 30s) and keep clocks in sync";
    ISS = "iss", Iss, Login,
        ["invalid 'iss' claim", "'iss' claim is missing", "Invalid issuer"],
        "the token's iss is missing or not one of the issuers Prosody accepts (asap_accepted_issuers; by default just app_id)",
        "mint with an accepted iss, or add the token's iss to asap_accepted_issuers on the VirtualHost";
    AUD = "aud", Aud, Login,
        ["invalid 'aud' claim", "'aud' claim is missing", "Invalid audience"],
        "the token's aud is missing, a list, or not one of asap_accepted_audiences (Prosody compares one string)",
        "mint aud as one string that asap_accepted_audiences lists (or that list holds \"*\")";
    ROOM_DOES_NOT_EXIST = "room-does-not-exist", RoomJoin, Join,
        ["room-does-not-exist", "Room does not exist", "Room does not exists"],
        "the room did not exist when the user joined: the focus (jicofo) did not create it, or muc_mapper_domain_base \
            is not set and the token plugin (2025-11 and later) finds no room at all",
        "check that jicofo is up and answers the conference request (asap-keyserver login shows it), and that muc_mapper_domain_base \
            is set (asap-keyserver doctor --prosody-config)";
    NO_MUC_BASE = "no-muc-base", Sub, Join,
        ["No 'muc_domain_base' option set", "server-missing-config", "Misconfiguration of server"],
        "muc_mapper_domain_base is not set, so the token plugin cannot match a token's sub against the room's domain and refuses the join",
        "set muc_mapper_domain_base = \"<your domain>\" in Prosody's global section (Jitsi's packages do)";
    ROOM_MISMATCH = "room-mismatch", Room, Join,
        ["Room and token mismatched", "not allowed to join", "room-mismatch", "Room does not match"],
        "the token does not allow this room: its room claim names another room, or its sub is not the meeting's \
            tenant or domain (the 2024 plugin also refuses sub \"*\" and tenants when muc_mapper_domain_base is not set)",
        "mint with room set to this room (or \"*\") and sub set to the tenant or domain (or \"*\"); check muc_mapper_domain_base \
            with asap-keyserver doctor --prosody-config";
    JWKS_REFRESH = "jwks-refresh", CacheKeysUrl, Setup,
        ["Failed to retrieve cached public keys", "attempt to call a nil value (method 'sub')"],
        "Prosody could not refresh the keys at cache_keys_url: the URL fails, or the token plugin is older than 2025-11 and cannot read a JWKS",
        "point cache_keys_url at a JWKS that answers 200 (asap-keyserver serve's /.well-known/jwks.json) on a token plugin of 2025-11 or later, or remove it";
    NO_APP_ID = "no-app-id", AppId, Setup,
        ["'app_id' must not be empty"],
        "the token plugin is not installed: app_id is not set on the VirtualHost, so no token login works",
        "set app_id on the token VirtualHost (the default accepted issuer)";
    NO_KEY_SERVER = "no-key-server", AsapKeyServer, Setup,
        ["'app_secret' or 'asap_key_server' must be specified", "'asap_key_server or 'cacheKeysUrl' must be specified"],
        "the token plugin is not installed: neither asap_key_server nor app_secret is set on the VirtualHost",
        "set asap_key_server = \"https://<your key server>\" on the token VirtualHost";
}

/// The cause a text of Prosody's (an answer, a log line) names, if any.
pub fn find(text: &str) -> Option<&'static Cause> {
    CAUSES
        .iter()
        .copied()
        .find(|c| c.says.iter().any(|s| text.contains(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_find_their_cause() {
        for (text, id) in [
            ("Error verifying token err:not-allowed, reason:invalid 'iss' claim", "iss"),
            ("Error verifying token err:'room' claim is missing, reason:(nil)", "room-missing-no-answer"),
            ("err:not-authorized, reason:room claim is missing tenant:", "room-missing"),
            ("Traceback[c2s]: pkey.new: decoder_lib.c:103:error:1E08010C:DECODER routines::unsupported", "key-not-parsed"),
            ("reason:Not acceptable by exp (12 sec since expired, valid for:3600 sec)", "exp"),
            ("Token x not allowed to join: room@conference.x/nick", "room-mismatch"),
            ("Room does not exists:room", "room-does-not-exist"),
            ("Error on GET request: Code 404, Content not found", "no-key"),
            ("Failed to retrieve cached public keys code:404", "jwks-refresh"),
            ("reason:Invalid audience ('aud' claim)", "aud"),
            ("err: server-missing-config reason: Misconfiguration of server", "no-muc-base"),
            ("err: authentication-required reason: Authentication required", "no-token"),
        ] {
            assert_eq!(find(text).map(|c| c.id), Some(id), "{text}");
        }
        assert_eq!(find("Client connected"), None);
        let ids: std::collections::BTreeSet<_> = CAUSES.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), CAUSES.len(), "one id per cause");
    }

    #[test]
    fn each_check_has_one_name_that_reads_back() {
        let names: std::collections::BTreeSet<_> = Check::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Check::ALL.len(), "one name per check");
        for &check in Check::ALL {
            assert_eq!(check.as_str().parse(), Ok(check));
            assert_eq!(serde_json::to_value(check).unwrap(), check.as_str());
            assert_eq!(
                serde_json::from_value::<Check>(check.as_str().into()).unwrap(),
                check
            );
            assert_eq!(check.to_string(), check.as_str());
            assert_eq!(String::from(check), check.as_str());
            assert!(
                check.as_str().to_owned() == check,
                "a printed name is its check"
            );
        }
        assert_eq!(Check::AlgConfigured.as_str(), "alg = configured");
        let err = "algo".parse::<Check>().unwrap_err().to_string();
        assert!(
            err.starts_with("\"algo\" is not a check of verify's: write one of \"token shape\""),
            "{err}"
        );
        assert!(
            serde_json::from_value::<Check>("Typ".into()).is_err(),
            "the printed name, not the variant's"
        );
    }
}
