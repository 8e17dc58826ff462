//! Regression tests for what an adversarial pass found outside the watcher
//! (its part is in watch/hardening.rs): `../` in a token's kid, shadowed
//! routes, half-done outputs, absurd lifetimes and odd file names.

use crate::common::*;
use serde_json::json;

#[test]
fn a_kid_with_dot_dot_never_reaches_the_filesystem() {
    let t = tempdir();
    let dir = t.path().join("a/keys");
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    // The attacker's key, two levels up from the key directory.
    write(t.path().join("evilkey.pem"), &key(1).spki);
    let token = token_with(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "../../evilkey"}),
        &good_claims(),
        &key(1).pkcs8,
    );
    let (code, out, _) = cli(&["verify", &token, "--keys", &path_str(&dir)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("kid \"../../evilkey\" breaks the kid rules")
            && out.contains("Prosody would REJECT this token: key"),
        "{out}"
    );
    let d = path_str(&dir);
    for args in [
        vec!["prune", "../..", "--keep", "1", "--keys", &d],
        vec!["rotate", "../x", "--keys", &d],
        vec!["keygen", "../../evil2", "--keys", &d],
    ] {
        let (code, _, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("invalid kid"), "{args:?}: {err}");
    }
    assert!(!t.path().join("evil2.pem").exists());
}

#[test]
fn kids_that_routes_or_prosody_paths_would_shadow_are_refused() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/victim.pem"), &key(0).spki);
    // kid "<sha256(jitsi/victim)>.pem": its ASAP route is Prosody's URL for jitsi/victim.
    let hex = sha256_hex("jitsi/victim");
    write(dir.join(format!("{hex}.pem.pem")), &key(1).spki);
    for name in ["healthz", "readyz", "metrics", "jwks.json"] {
        write(dir.join(format!("{name}.pem")), &key(2).spki);
    }
    let server = Server::start(&dir, &["--jwks-path", "/jwks.json"]);
    assert_eq!(
        server.key("jitsi/victim").as_deref(),
        Some(key(0).spki.as_str())
    );
    assert_eq!(server.get(&format!("/{hex}.pem")).text(), key(0).spki);
    assert_eq!(server.get("/healthz").text(), "ok\n");
    assert!(server.get("/jwks.json").text().starts_with("{\"keys\":["));
    server.wait_log("reason=kid refused: /jwks.json is a route of the server itself");
    let list = cli_ok(&["list", "--keys", &path_str(&dir)]);
    assert!(
        list.contains(&format!(
            "is the path Prosody requests for the kid hashing to {hex}"
        )),
        "{list}"
    );
    for name in ["healthz", "readyz", "metrics"] {
        assert!(
            list.contains(&format!(
                "{name}.pem: kid refused: /{name} is a route of the server itself"
            )),
            "{list}"
        );
    }
    let state = path_str(&t.path().join("s.json"));
    let (code, out, _) = cli(&["doctor", "--keys", &path_str(&dir), "--state", &state]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("kid refused"), "{out}");
}

#[test]
fn keygen_checks_every_output_before_writing_any() {
    let (t, dir) = keydir();
    let public = t.path().join("public.pem");
    std::fs::write(&public, "someone else's file").unwrap();
    let (code, out, err) = cli(&[
        "keygen",
        "jitsi/k",
        "--keys",
        &path_str(&dir),
        "--public-out",
        &path_str(&public),
    ]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("already exists: nothing was written"), "{err}");
    assert!(
        !dir.join("jitsi/k.pem").exists(),
        "no private key left behind"
    );
    assert_eq!(
        std::fs::read_to_string(&public).unwrap(),
        "someone else's file"
    );
}

#[test]
fn an_absurd_ttl_is_refused() {
    let (_t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let d = path_str(&dir);
    for ttl in ["213503982334601d", "400d"] {
        let (code, out, err) = cli(&["mint", "--keys", &d, "--ttl", ttl]);
        assert_eq!((code, out.as_str()), (2, ""), "{ttl}: {err}");
        assert!(
            err.contains("longer than the 366-day maximum"),
            "{ttl}: {err}"
        );
    }
    let (token, _) = mint(&dir, &["--ttl", "365d"]);
    let (_, claims) = decode(&token);
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
}

#[test]
fn control_characters_in_file_names_stay_on_one_line() {
    let (_t, dir) = keydir();
    write(dir.join("bad\nname.pem"), &key(0).spki);
    write(dir.join("good.pem"), &key(1).spki);
    let list = cli_ok(&["list", "--keys", &path_str(&dir)]);
    let row = list
        .lines()
        .find(|l| l.starts_with("skipped"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("bad\\nname.pem: bad kid"), "{list}");
    assert_eq!(
        list.lines().count(),
        3,
        "header, good, one skipped row:\n{list}"
    );
    let server = Server::start(&dir, &[]);
    server.wait_log("bad\\nname.pem");
    assert!(
        server.logs().lines().all(|l| !l.starts_with("name.pem")),
        "a log line was split:\n{}",
        server.logs()
    );
}
