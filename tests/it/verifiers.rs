//! Tokens minted by the binary, verified by real verifiers from the package
//! registries (PyJWT, node jose, luaossl as Prosody uses it, openssl dgst),
//! each with the public key fetched from the running key server.

use crate::common::*;

/// keygen while serve runs -> served within a second -> mint -> every verifier accepts.
#[test]
fn keygen_while_serving_then_mint_verifies_everywhere() {
    let (_t, dir) = keydir();
    let server = Server::start(&dir, &[]);
    for (kid, bits) in [("jitsi/2026-11-28", "2048"), ("big/2026-11-28", "4096")] {
        cli_ok(&["keygen", kid, "--keys", &path_str(&dir), "--bits", bits]);
        wait_until(&format!("{kid} served"), || server.key(kid).is_some());
        let pem = server.key(kid).unwrap();
        let issuer = kid.split('/').next().unwrap();
        let (token, _) = mint(
            &dir,
            &[
                "--kid",
                kid,
                "--room",
                "standup",
                "--name",
                "Ada Lovelace",
                "--moderator",
                "--feature",
                "recording",
            ],
        );
        for v in VERIFIERS {
            let claims = verify_with(v, &token, &pem, "jitsi", issuer)
                .unwrap_or_else(|e| panic!("{v:?} rejected {kid}: {e}"));
            assert_eq!(claims["room"], "standup", "{v:?}");
            assert_eq!(claims["iss"], issuer);
            assert_eq!(claims["context"]["user"]["moderator"], "true");
            assert_eq!(claims["context"]["user"]["name"], "Ada Lovelace");
        }
    }
}

#[test]
fn pkcs1_private_keys_from_openssl_mint_tokens_that_verify() {
    let (_t, dir) = keydir();
    write(dir.join("legacy/k1.pem"), &key(0).pkcs1);
    let server = Server::start(&dir, &[]);
    let (token, _) = mint(&dir, &["--issuer", "legacy", "--room", "r"]);
    assert_eq!(decode(&token).0["kid"], "legacy/k1");
    let pem = server.key("legacy/k1").unwrap();
    for v in VERIFIERS {
        verify_with(v, &token, &pem, "jitsi", "legacy").unwrap_or_else(|e| panic!("{v:?}: {e}"));
    }
}

#[test]
fn verifiers_reject_wrong_keys_and_tampering() {
    let (_t, dir) = keydir();
    write(dir.join("a/k.pem"), &key(0).pkcs8);
    write(dir.join("b/k.pem"), &key(1).pkcs8);
    let server = Server::start(&dir, &[]);
    let (token, _) = mint(&dir, &["--kid", "a/k", "--room", "r"]);
    let other = server.key("b/k").unwrap();
    let (h, p, s) = {
        let parts: Vec<_> = token.split('.').collect();
        (
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        )
    };
    use base64::Engine as _;
    let mut claims = decode(&token).1;
    claims["room"] = "*".into();
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{h}.{forged}.{s}");
    for v in VERIFIERS {
        assert!(
            verify_with(v, &token, &other, "jitsi", "a").is_err(),
            "{v:?} accepted a token with another key"
        );
        let own = server.key("a/k").unwrap();
        assert!(
            verify_with(v, &tampered, &own, "jitsi", "a").is_err(),
            "{v:?} accepted a tampered payload"
        );
        if v != Verifier::OpensslDgst && v != Verifier::Luaossl {
            assert!(
                verify_with(v, &token, &own, "other-aud", "a").is_err(),
                "{v:?} ignored aud"
            );
        }
    }
    assert!(p.len() > 10);
}

#[test]
fn expired_and_future_tokens_are_rejected_as_prosody_would() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let pem = server.key("jitsi/k").unwrap();
    let keys = path_str(&dir);
    let mint_with = |claims: &str| {
        let (code, token, _) = cli_stdin(
            &["mint", "--keys", &keys, "--room", "r", "--claims", "-"],
            Some(claims),
        );
        assert_eq!(code, 0);
        token
    };
    let expired = mint_with(r#"{"exp": 1000, "nbf": 900}"#);
    let err = verify_with(Verifier::Luaossl, expired.trim(), &pem, "jitsi", "jitsi").unwrap_err();
    assert!(err.contains("Not acceptable by exp"), "{err}");
    assert!(
        verify_with(Verifier::PyJwt, expired.trim(), &pem, "jitsi", "jitsi")
            .unwrap_err()
            .contains("ExpiredSignature")
    );
    let future = mint_with(r#"{"nbf": 99999999999, "exp": 99999999999}"#);
    let err = verify_with(Verifier::Luaossl, future.trim(), &pem, "jitsi", "jitsi").unwrap_err();
    assert!(err.contains("Not acceptable by nbf"), "{err}");
    assert!(verify_with(Verifier::Jose, future.trim(), &pem, "jitsi", "jitsi").is_err());
}

#[test]
fn jaas_and_asap_profiles_verify() {
    let (_t, dir) = keydir();
    write(
        dir.join("vpaas-magic-cookie-1a2b3c/4f4910.pem"),
        &key(0).pkcs8,
    );
    write(dir.join("svc/key1.pem"), &key(1).pkcs8);
    let server = Server::start(&dir, &[]);
    let (token, _) = mint(
        &dir,
        &[
            "--profile",
            "jaas",
            "--kid",
            "vpaas-magic-cookie-1a2b3c/4f4910",
            "--room",
            "*",
            "--moderator",
            "--feature",
            "livestreaming",
        ],
    );
    let pem = server.key("vpaas-magic-cookie-1a2b3c/4f4910").unwrap();
    for v in VERIFIERS {
        let c =
            verify_with(v, &token, &pem, "jitsi", "chat").unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(c["sub"], "vpaas-magic-cookie-1a2b3c");
        assert_eq!(c["context"]["features"]["livestreaming"], "true");
    }
    let (token, _) = mint(
        &dir,
        &["--profile", "asap", "--kid", "svc/key1", "--aud", "billing"],
    );
    let pem = server.key("svc/key1").unwrap();
    for v in VERIFIERS {
        let c =
            verify_with(v, &token, &pem, "billing", "svc").unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(c["sub"], "svc");
        assert!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap() <= 3600);
    }
}
