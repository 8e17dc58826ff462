//! `verify` in process on every token case of
//! `tests/fixtures/verify/cases.toml`, under every plugin generation, with
//! the key from a directory and a fixed clock: a rule is tested in
//! milliseconds. `tests/it/verify.rs` runs the binary on the same cases.

use super::*;
use crate::check::generation::GENERATIONS;
use crate::check::{write_text, Columns};
use crate::keydir::keygen;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use std::sync::OnceLock;

#[path = "../../../tests/fixtures/verify/cases.rs"]
mod cases;

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

/// `header.claims` signed as the header's alg says, by `signer`.
fn sign(header: &Value, claims: &Value, signer: &cases::Signer) -> String {
    let f = fixture();
    let alg: Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let key = match signer {
        cases::Signer::Kid => EncodingKey::from_rsa_pem(f.pem.as_bytes()).unwrap(),
        cases::Signer::Other => EncodingKey::from_rsa_pem(f.other.as_bytes()).unwrap(),
        cases::Signer::Secret(secret) => EncodingKey::from_secret(secret.as_bytes()),
    };
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).unwrap();
    format!("{message}.{signature}")
}

/// A case's settings as verify takes them.
fn settings(case: &cases::Settings, generation: &'static Generation) -> Settings {
    let mut s = Settings {
        generation,
        ..Settings::default()
    };
    s.app_id.clone_from(&case.app_id);
    s.accepted_issuers.clone_from(&case.accepted_issuers);
    if let Some(v) = &case.accepted_audiences {
        s.accepted_audiences.clone_from(v);
    }
    if let Some(v) = &case.algorithm {
        s.algorithm.clone_from(v);
    }
    s.require_room = case.require_room.unwrap_or(s.require_room);
    s.domain_verification = case.domain_verification.unwrap_or(s.domain_verification);
    s.domain.clone_from(&case.domain);
    s.tenant.clone_from(&case.tenant);
    s.room.clone_from(&case.room);
    if case.muc_mapper_domain_base == Some(cases::MucBase::Unset) {
        s.muc_base = MucBase::Unset;
    }
    s
}

/// The report as `verify` prints it: the checks, then the verdict.
fn text(report: &Report) -> String {
    let mut out = Vec::new();
    let columns = Columns {
        indent: "",
        width: 16,
    };
    write_text(&mut out, &report.checks, columns).unwrap();
    let mut text = String::from_utf8(out).unwrap();
    text.push_str(&report.verdict());
    text.push('\n');
    text
}

#[test]
fn each_token_case_gets_its_verdict_and_words() {
    let source = KeySource::Dir(fixture().keys.clone());
    let all = cases::load();
    assert!(all.len() >= 38, "only {} token cases", all.len());
    for case in &all {
        let name = &case.name;
        let token = case.token(NOW, sign);
        for generation in &GENERATIONS {
            let expect = case.expect(generation.name, cases::Source::Dir);
            let want: Option<Check> = expect
                .fails
                .as_deref()
                .map(|n| n.parse().unwrap_or_else(|e| panic!("{name}: {e}")));
            let report = verify(&token, &settings(&case.settings, generation), &source, NOW);
            let all = text(&report);
            let name = format!("{name} ({})", generation.name);
            let failed = report.first_failure();
            assert_eq!(
                failed.map(|d| d.check.parse::<Check>().unwrap()),
                want,
                "{name}:\n{all}"
            );
            assert_eq!(report.accepted(), want.is_none(), "{name}");
            if let Some(failing) = failed {
                assert!(
                    failing.why.is_some() && failing.fix.is_some(),
                    "{name}: a why and a fix"
                );
                let verdict = format!("Prosody would REJECT this token: {}", failing.check);
                assert!(report.verdict().starts_with(&verdict), "{name}");
            }
            for needle in &expect.words {
                assert!(all.contains(needle), "{name}: no {needle:?} in\n{all}");
            }
            // Never the whole signature, never key material.
            if let Some(sig) = token.split('.').nth(2).filter(|s| s.len() > 20) {
                assert!(!all.contains(&sig[..20]), "{name} printed the signature");
            }
            assert!(!all.contains("BEGIN"), "{name} printed key material");
        }
    }
}

/// The clock is fixed here, so the seconds the plugin of 2026-05 counts
/// are exact (the integration tests' clock moves between mint and verify).
#[test]
fn the_newest_plugin_says_how_long_ago_a_token_expired() {
    let mut claims = Map::new();
    claims.insert("iat".into(), (NOW - 3700).into());
    let exp = NOW - 100;
    assert_eq!(
        claims::exp_text(&GENERATIONS[2], &claims, exp, NOW),
        "Not acceptable by exp (100 sec since expired, valid for:3600 sec)"
    );
    assert_eq!(
        claims::exp_text(&GENERATIONS[0], &claims, exp, NOW),
        "Not acceptable by exp"
    );
}
