//! `keygen`, `rotate` and `prune` through the real binary, checked with openssl.

use crate::common::*;
use std::os::unix::fs::PermissionsExt as _;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_writes_a_0600_pkcs8_key_of_the_asked_size() {
    let t = tempdir();
    let dir = t.path().join("keys");
    for bits in ["2048", "3072", "4096"] {
        let kid = format!("jitsi/k{bits}");
        let out = cli_ok(&["keygen", &kid, "--keys", &path_str(&dir), "--bits", bits]);
        let file = dir.join(format!("{kid}.pem"));
        assert_eq!(mode(&file), 0o600);
        let pem = std::fs::read_to_string(&file).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let text = String::from_utf8(openssl(&[
            "pkey",
            "-in",
            &path_str(&file),
            "-noout",
            "-text",
        ]))
        .unwrap();
        assert!(
            text.contains(&format!("Private-Key: ({bits} bit")),
            "{text}"
        );
        assert!(
            out.contains(&format!("created kid {kid} (RSA-{bits}")),
            "{out}"
        );
        assert!(
            out.contains(&key_path(&kid)),
            "prints the sha256 url path: {out}"
        );
        assert!(
            out.contains("asap_accepted_issuers = { \"jitsi\" }")
                && out.contains("asap_key_server"),
            "{out}"
        );
    }
    assert_eq!(
        mode(&dir.join("jitsi")),
        0o700,
        "created directories are private"
    );
    // Nothing else: no temp files left behind.
    assert_eq!(std::fs::read_dir(dir.join("jitsi")).unwrap().count(), 3);
}

#[test]
fn keygen_public_out_writes_the_spki_key() {
    let t = tempdir();
    let dir = t.path().join("keys");
    let public = t.path().join("public/jitsi-k.pem");
    cli_ok(&[
        "keygen",
        "jitsi/k",
        "--keys",
        &path_str(&dir),
        "--public-out",
        &path_str(&public),
    ]);
    let expected = openssl(&[
        "pkey",
        "-in",
        &path_str(&dir.join("jitsi/k.pem")),
        "-pubout",
    ]);
    assert_eq!(std::fs::read(&public).unwrap(), expected);
    assert_eq!(mode(&public), 0o644);
    // --public-out never clobbers either.
    let (code, _, err) = cli(&[
        "keygen",
        "jitsi/k2",
        "--keys",
        &path_str(&dir),
        "--public-out",
        &path_str(&public),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists: nothing was written"), "{err}");
    assert!(
        !dir.join("jitsi/k2.pem").exists(),
        "and no private key either"
    );
}

#[test]
fn keygen_refuses_reused_or_invalid_kids_and_sizes() {
    let t = tempdir();
    let dir = t.path().join("keys");
    cli_ok(&["keygen", "jitsi/k", "--keys", &path_str(&dir)]);
    let before = std::fs::read(dir.join("jitsi/k.pem")).unwrap();
    let (code, _, err) = cli(&["keygen", "jitsi/k", "--keys", &path_str(&dir)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("kid \"jitsi/k\" already exists") && err.contains("never reused"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.join("jitsi/k.pem")).unwrap(),
        before,
        "the old key is untouched"
    );
    for (kid, needle) in [
        ("jitsi/../x", "'..' segment"),
        ("/abs", "may not start with '/'"),
        ("a b", "character ' '"),
        ("a//b", "empty segment"),
    ] {
        let (code, _, err) = cli(&["keygen", kid, "--keys", &path_str(&dir)]);
        assert_eq!(code, 2, "{kid}");
        assert!(
            err.contains(&format!("invalid kid {kid:?}")) && err.contains(needle),
            "{kid}: {err}"
        );
    }
    let (code, _, err) = cli(&["keygen", "x/y", "--keys", &path_str(&dir), "--bits", "1024"]);
    assert_eq!(code, 2);
    assert!(err.contains("choose 2048, 3072, 4096 or 8192"), "{err}");
    assert!(!dir.join("x").exists());
}

#[test]
fn rotate_makes_dated_kids_that_sort_newest_last() {
    let t = tempdir();
    let dir = t.path().join("keys");
    let d = path_str(&dir);
    let date = today();
    let first = cli_ok(&["rotate", "jitsi", "--keys", &d]);
    assert!(
        first.contains(&format!("created kid jitsi/{date} ")),
        "{first}"
    );
    assert!(first.contains("first key of issuer \"jitsi\""), "{first}");
    let second = cli_ok(&["rotate", "jitsi", "--keys", &d]);
    assert!(
        second.contains(&format!("created kid jitsi/{date}.02 ")),
        "{second}"
    );
    assert!(
        second.contains(&format!(
            "Keep publishing the previous key(s) jitsi/{date} until every token"
        )),
        "{second}"
    );
    assert!(
        second.contains("prune jitsi --keep 1 --yes")
            && second.contains("With asap_key_server alone (any token plugin)")
            && second.contains(
                "With cache_keys_url at this server's JWKS (token plugin 2025-11 and later)"
            ),
        "{second}"
    );
    cli_ok(&["rotate", "jitsi", "--keys", &d]);
    assert_eq!(mode(&dir.join(format!("jitsi/{date}.03.pem"))), 0o600);
    // mint --issuer picks the newest.
    let (token, _) = mint(&dir, &["--issuer", "jitsi"]);
    assert_eq!(decode(&token).0["kid"], format!("jitsi/{date}.03"));
    let (code, _, err) = cli(&["rotate", "bad issuer", "--keys", &d]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid kid"), "{err}");
}

#[test]
fn prune_keeps_the_newest_and_is_a_dry_run_without_yes() {
    let (_t, dir) = keydir();
    let d = path_str(&dir);
    for (i, name) in ["2026-10-01", "2026-11-01", "2026-11-28"]
        .iter()
        .enumerate()
    {
        write(dir.join(format!("jitsi/{name}.pem")), &key(i).pkcs8);
    }
    write(dir.join("jitsi/public-only.pem"), &key(3).spki);
    write(dir.join("other/2026-01-01.pem"), &key(3).pkcs8);
    let out = cli_ok(&["prune", "jitsi", "--keep", "1", "--keys", &d]);
    assert!(
        out.contains("would remove  jitsi/2026-10-01")
            && out.contains("would remove  jitsi/2026-11-01"),
        "{out}"
    );
    assert!(
        out.contains("keep    jitsi/2026-11-28") && out.contains("Dry run"),
        "{out}"
    );
    assert!(
        out.contains("a removed key keeps working there until then")
            && out.contains("stops working about 90 minutes after Prosody's next JWKS refresh"),
        "{out}"
    );
    assert!(
        dir.join("jitsi/2026-10-01.pem").exists(),
        "dry run removes nothing"
    );

    let out = cli_ok(&["prune", "jitsi", "--keep", "2", "--keys", &d, "--yes"]);
    assert!(out.contains("removed  jitsi/2026-10-01"), "{out}");
    assert!(!dir.join("jitsi/2026-10-01.pem").exists());
    assert!(dir.join("jitsi/2026-11-01.pem").exists() && dir.join("jitsi/2026-11-28.pem").exists());
    assert!(
        dir.join("jitsi/public-only.pem").exists() && dir.join("other/2026-01-01.pem").exists(),
        "only private keys of the issuer"
    );

    let out = cli_ok(&["prune", "jitsi", "--keep", "5", "--keys", &d, "--yes"]);
    assert!(out.contains("nothing to remove"), "{out}");
    let (code, _, err) = cli(&["prune", "jitsi", "--keep", "0", "--keys", &d]);
    assert_eq!(code, 2);
    assert!(err.contains("never removes the newest"), "{err}");
    let (code, _, err) = cli(&["prune", "nobody", "--keep", "1", "--keys", &d]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no private key for issuer \"nobody\""),
        "{err}"
    );
}
