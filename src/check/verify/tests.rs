//! `verify` in process, as a table: the token built to trip each check,
//! under every plugin generation, with the key from a directory and a
//! fixed clock. The same cases as `tests/it/verify.rs` (which runs the
//! binary against a key server and the Lua plugin check); here a rule is
//! tested in milliseconds.

use super::*;
use crate::check::generation::GENERATIONS;
use crate::keydir::keygen;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::OnceLock;

/// The clock of every case.
const NOW: u64 = 1_800_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    keys: std::path::PathBuf,
    /// The private key of kid `jitsi/k`.
    pem: String,
    /// Another key, served under no kid.
    other: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let made = keygen::create(&keys, "jitsi/k", 2048).unwrap();
        let pem = std::fs::read_to_string(&made.path).unwrap();
        let other = crate::keys::generate_pkcs8_pem(2048).unwrap();
        Fixture {
            _dir: dir,
            keys,
            pem,
            other,
        }
    })
}

fn good() -> Value {
    json!({"iss": "jitsi", "aud": "jitsi", "sub": "*", "room": "standup",
        "iat": NOW, "nbf": NOW - 30, "exp": NOW + 3600, "jti": "t1"})
}

/// `base` with `changes` (null removes a claim).
fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// A token with header fields `kid`, `typ` and `alg`, signed by `pem`
/// (an RSA key) or, for HS*, by the secret `pem`.
fn token(
    alg: Algorithm,
    kid: Option<&str>,
    typ: Option<&str>,
    claims: &Value,
    pem: &str,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    header.typ = typ.map(str::to_owned);
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    };
    encode(&header, claims, &key).unwrap()
}

fn rs256(claims: &Value) -> String {
    token(
        Algorithm::RS256,
        Some("jitsi/k"),
        Some("JWT"),
        claims,
        &fixture().pem,
    )
}

/// Every check's words, and the verdict, as one text.
fn text(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.checks {
        for part in [
            Some(&c.check),
            Some(&c.seen),
            c.why.as_ref(),
            c.fix.as_ref(),
            c.prosody_says.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            out.push_str(part);
            out.push('\n');
        }
    }
    out.push_str(&report.verdict());
    out
}

type Tweak = fn(&mut Settings);
/// name, token, settings, the first failing check, words that must appear.
type Case<'a> = (&'a str, String, Tweak, Option<&'a str>, &'a [&'a str]);
/// name, token, and per generation: the first failing check and words.
type Row<'a> = (&'a str, &'a String, [(Option<&'a str>, &'a [&'a str]); 3]);

#[test]
fn each_check_fails_on_the_token_built_to_trip_it() {
    let f = fixture();
    let tampered = {
        let t = rs256(&good());
        let forged = rs256(&with(good(), json!({"room": "*"})));
        let (a, b): (Vec<_>, Vec<_>) = (t.split('.').collect(), forged.split('.').collect());
        format!("{}.{}.{}", a[0], b[1], a[2])
    };
    let none: Tweak = |_| {};
    let cases: Vec<Case> = vec![
        (
            "valid",
            rs256(&good()),
            none,
            None,
            &["Prosody would ACCEPT this token"],
        ),
        (
            "not a JWT",
            "hello".into(),
            none,
            Some("token shape"),
            &["1 part(s)", "Invalid token"],
        ),
        (
            "wrong kid",
            token(
                Algorithm::RS256,
                Some("jitsi/nope"),
                Some("JWT"),
                &good(),
                &f.pem,
            ),
            none,
            Some("key"),
            &["no key file", "could not obtain public key"],
        ),
        (
            "missing kid",
            token(Algorithm::RS256, None, Some("JWT"), &good(), &f.pem),
            none,
            Some("kid"),
            &["'kid' claim is missing"],
        ),
        (
            "missing typ",
            token(Algorithm::RS256, Some("jitsi/k"), None, &good(), &f.pem),
            none,
            Some("typ"),
            &["Invalid typ", "exactly \"JWT\""],
        ),
        (
            "RS384 vs RS256",
            token(
                Algorithm::RS384,
                Some("jitsi/k"),
                Some("JWT"),
                &good(),
                &f.pem,
            ),
            none,
            Some("alg = configured"),
            &["Invalid or incorrect alg", "signature_algorithm"],
        ),
        (
            "RS384 configured",
            token(
                Algorithm::RS384,
                Some("jitsi/k"),
                Some("JWT"),
                &good(),
                &f.pem,
            ),
            |s| s.algorithm = "RS384".into(),
            None,
            &["ACCEPT"],
        ),
        (
            "HS256",
            token(
                Algorithm::HS256,
                Some("jitsi/k"),
                Some("JWT"),
                &good(),
                "s3cret",
            ),
            none,
            Some("alg"),
            &[
                "'kid' claim only support with RS family",
                "HMAC (app_secret)",
            ],
        ),
        (
            "wrong aud",
            rs256(&with(good(), json!({"aud": "other"}))),
            |s| s.accepted_audiences = vec!["jitsi".into()],
            Some("aud"),
            &[
                "invalid 'aud' claim",
                "not in asap_accepted_audiences { \"jitsi\" }",
            ],
        ),
        (
            "aud array",
            rs256(&with(good(), json!({"aud": ["jitsi"]}))),
            |s| s.accepted_audiences = vec!["jitsi".into()],
            Some("aud"),
            &["compares aud as a string, so it never matches"],
        ),
        (
            "aud array, any audience",
            rs256(&with(good(), json!({"aud": ["jitsi"]}))),
            none,
            None,
            &["passes only because asap_accepted_audiences contains \"*\""],
        ),
        (
            "wrong iss",
            rs256(&with(good(), json!({"iss": "evil"}))),
            |s| s.accepted_issuers = Some(vec!["jitsi".into(), "partner".into()]),
            Some("iss"),
            &["invalid 'iss' claim", "{ \"jitsi\", \"partner\" }"],
        ),
        (
            "default issuers",
            rs256(&good()),
            |s| s.app_id = Some("myapp".into()),
            Some("iss"),
            &["(the default: app_id alone)", "mint with iss \"myapp\""],
        ),
        (
            "iss not checked",
            rs256(&with(good(), json!({"iss": "other"}))),
            none,
            None,
            &["ACCEPT this token only if app_id or asap_accepted_issuers includes \"other\""],
        ),
        (
            "expired",
            rs256(&with(good(), json!({"exp": NOW - 120}))),
            none,
            Some("exp"),
            &["Not acceptable by exp", "ago"],
        ),
        (
            "exp not a number",
            rs256(&with(good(), json!({"exp": "tomorrow"}))),
            none,
            Some("exp"),
            &["exp must be number"],
        ),
        (
            "no exp",
            rs256(&with(good(), json!({"exp": null}))),
            none,
            None,
            &["never expires"],
        ),
        (
            "nbf in the future",
            rs256(&with(good(), json!({"nbf": NOW + 600}))),
            none,
            Some("nbf"),
            &["Not acceptable by nbf", "no clock skew"],
        ),
        (
            "exp in ms",
            rs256(&with(good(), json!({"exp": (NOW + 3600) * 1000}))),
            none,
            None,
            &["exp looks like milliseconds"],
        ),
        (
            "nbf in ms",
            rs256(&with(good(), json!({"nbf": (NOW - 30) * 1000}))),
            none,
            Some("nbf"),
            &["nbf looks like milliseconds"],
        ),
        (
            "missing room",
            rs256(&with(good(), json!({"room": null}))),
            none,
            Some("room"),
            &["claim is missing"],
        ),
        (
            "room not required",
            rs256(&with(good(), json!({"room": null}))),
            |s| s.require_room = false,
            None,
            &["not required"],
        ),
        (
            "room of another meeting",
            rs256(&good()),
            |s| s.room = Some("retro".into()),
            Some("room"),
            &[
                "the room claim names another room",
                "Room and token mismatched",
            ],
        ),
        (
            "room in capitals",
            rs256(&with(good(), json!({"room": "StandUp"}))),
            |s| s.room = Some("standup".into()),
            None,
            &["ACCEPT"],
        ),
        (
            "room as a JID",
            rs256(&with(
                good(),
                json!({"room": "standup@conference.meet.example.com"}),
            )),
            none,
            None,
            &["bare room name"],
        ),
        (
            "tampered payload",
            tampered,
            none,
            Some("signature"),
            &["Invalid signature"],
        ),
        (
            "other key",
            token(
                Algorithm::RS256,
                Some("jitsi/k"),
                Some("JWT"),
                &good(),
                &f.other,
            ),
            none,
            Some("signature"),
            &["Invalid signature", "new kid"],
        ),
        (
            "sub vs domain",
            rs256(&with(good(), json!({"sub": "other.example.com"}))),
            |s| s.domain = Some("meet.example.com".into()),
            Some("sub"),
            &["must be the domain \"meet.example.com\""],
        ),
        (
            "sub = tenant",
            rs256(&with(good(), json!({"sub": "acme"}))),
            |s| {
                s.domain = Some("meet.example.com".into());
                s.tenant = Some("acme".into());
            },
            None,
            &["matches the tenant"],
        ),
        (
            "sub unchecked",
            rs256(&with(good(), json!({"sub": "x"}))),
            |s| {
                s.domain_verification = false;
                s.domain = Some("d".into());
            },
            None,
            &["not checked"],
        ),
        (
            "non-string user field",
            rs256(&with(
                good(),
                json!({"context": {"user": {"id": 42, "name": "Ada", "moderator": "true"}}}),
            )),
            none,
            None,
            &["id=42", "should be strings"],
        ),
        (
            "top-level moderator",
            rs256(&with(good(), json!({"moderator": true}))),
            none,
            None,
            &["Jitsi ignores a top-level moderator claim"],
        ),
        (
            "boolean moderator",
            rs256(&with(
                good(),
                json!({"context": {"user": {"moderator": true}}}),
            )),
            none,
            None,
            &["a non-string moderator"],
        ),
        (
            "features without moderator",
            rs256(&with(
                good(),
                json!({"context": {"features": {"recording": true}}}),
            )),
            none,
            None,
            &["not a moderator"],
        ),
        (
            "group without tenant",
            rs256(&with(good(), json!({"context": {"group": "g1"}}))),
            none,
            None,
            &["multi-tenant"],
        ),
        (
            "muc_mapper_domain_base unset, 2026 plugin",
            rs256(&good()),
            |s| {
                s.muc_base = MucBase::Unset;
                s.generation = &GENERATIONS[2];
            },
            Some("room join"),
            &["Room does not exist"],
        ),
    ];
    let source = KeySource::Dir(f.keys.clone());
    let mut names = std::collections::HashSet::new();
    for (name, token, tweak, first_failure, needles) in cases {
        assert!(names.insert(name), "duplicate case {name}");
        for generation in &GENERATIONS {
            let mut settings = Settings {
                generation,
                ..Settings::default()
            };
            tweak(&mut settings);
            let report = verify(&token, &settings, &source, NOW);
            let all = text(&report);
            assert_eq!(
                report.first_failure().map(|c| c.check.as_str()),
                first_failure,
                "{name} ({}):\n{all}",
                generation.name
            );
            if let Some(failing) = report.first_failure() {
                assert!(
                    failing.why.is_some() && failing.fix.is_some(),
                    "{name}: a why and a fix"
                );
            }
            for needle in needles {
                assert!(
                    all.contains(needle),
                    "{name} ({}): no {needle:?} in\n{all}",
                    generation.name
                );
            }
            // Never the whole signature, never key material.
            if let Some(sig) = token.split('.').nth(2).filter(|s| s.len() > 20) {
                assert!(!all.contains(&sig[..20]), "{name} printed the signature");
            }
            assert!(!all.contains("BEGIN"), "{name} printed key material");
        }
    }
}

#[test]
fn generations_disagree_where_upstream_changed() {
    let source = KeySource::Dir(fixture().keys.clone());
    let no_sub = rs256(&with(good(), json!({"sub": null})));
    let no_room = rs256(&with(good(), json!({"room": null})));
    let expired = rs256(&with(good(), json!({"exp": NOW - 100, "iat": NOW - 3700})));
    let rows: [Row; 3] = [
        (
            "no sub",
            &no_sub,
            [
                (
                    Some("sub"),
                    &[
                        "logs the user in, then its room check",
                        "bad argument #1 to 'lower'",
                    ],
                ),
                (Some("sub"), &["(G2) logs the user in"]),
                (
                    Some("sub"),
                    &[
                        "sub claim is missing",
                        "answers not-authorized",
                        "rejected since 2026-05; accepted before",
                    ],
                ),
            ],
        ),
        (
            "no room",
            &no_room,
            [
                (
                    Some("room"),
                    &[
                        "'room' claim is missing",
                        "the client gets no answer and disconnects",
                        "gives a clean error",
                    ],
                ),
                (Some("room"), &["'room' claim is missing"]),
                (
                    Some("room"),
                    &[
                        "room claim is missing",
                        "answers not-authorized",
                        "gives no answer to the client",
                    ],
                ),
            ],
        ),
        (
            "expired",
            &expired,
            [
                (Some("exp"), &["Not acceptable by exp\n"]),
                (Some("exp"), &["Not acceptable by exp\n"]),
                (
                    Some("exp"),
                    &["(100 sec since expired, valid for:3600 sec)"],
                ),
            ],
        ),
    ];
    for (name, token, expected) in rows {
        for (generation, (first_failure, needles)) in GENERATIONS.iter().zip(expected) {
            let settings = Settings {
                generation,
                ..Settings::default()
            };
            let report = verify(token, &settings, &source, NOW);
            let all = text(&report);
            assert_eq!(
                report.first_failure().map(|c| c.check.as_str()),
                first_failure,
                "{name} ({}):\n{all}",
                generation.name
            );
            for needle in needles {
                assert!(
                    all.contains(needle),
                    "{name} ({}): no {needle:?} in\n{all}",
                    generation.name
                );
            }
        }
    }
}
