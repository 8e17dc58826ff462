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
        "--parents",
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

/// Issue 18 (10): `--public-out` into a folder that is not there is refused,
/// as `cp` refuses it, before any key is made; `--parents` creates it. The
/// key directory itself is still created (documented).
#[test]
fn keygen_public_out_refuses_a_missing_folder_unless_parents() {
    let t = tempdir();
    let dir = t.path().join("keys");
    let public = t.path().join("missing/deeper/k.pub");
    let (code, out, err) = cli(&[
        "keygen",
        "jitsi/k",
        "--keys",
        &path_str(&dir),
        "--public-out",
        &path_str(&public),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{}: no such folder {}: create it first, or pass --parents; nothing was written",
            public.display(),
            t.path().join("missing/deeper").display()
        )),
        "{err}"
    );
    assert!(!t.path().join("missing").exists(), "no folder was made");
    assert!(!dir.join("jitsi/k.pem").exists(), "no private key either");
    cli_ok(&[
        "keygen",
        "jitsi/k",
        "--keys",
        &path_str(&dir),
        "--public-out",
        &path_str(&public),
        "--parents",
    ]);
    assert!(public.is_file() && dir.join("jitsi/k.pem").is_file());
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

/// The kid a `rotate` output says it created.
fn created(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("created kid "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no created kid in {out}"))
        .to_owned()
}

#[test]
fn rotate_makes_kids_known_newer_than_every_key_before_them() {
    let t = tempdir();
    let dir = t.path().join("keys");
    let d = path_str(&dir);
    let date = today();
    let first = cli_ok(&["rotate", "jitsi", "--keys", &d]);
    assert_eq!(created(&first), format!("jitsi/{date}"), "{first}");
    assert!(first.contains("first key of issuer \"jitsi\""), "{first}");
    // A key of the issuer was written today: the day's name could be older
    // than it, so the second names the new key.
    let second = cli_ok(&["rotate", "jitsi", "--keys", &d]);
    let second_kid = created(&second);
    assert!(
        second_kid.starts_with(&format!("jitsi/{date}T")) && second_kid.ends_with('Z'),
        "{second}"
    );
    assert!(
        second.contains(&format!(
            "Keep publishing the previous key(s) jitsi/{date} until every token"
        )) && second.contains("`mint --issuer jitsi`\n     picks it"),
        "{second}"
    );
    assert!(
        second.contains("prune jitsi --yes")
            && second.contains("--min-key-age")
            && second.contains("With asap_key_server alone (any token plugin)")
            && second.contains(
                "With cache_keys_url at this server's JWKS (token plugin 2025-11 and later)"
            ),
        "{second}"
    );
    let third = created(&cli_ok(&["rotate", "jitsi", "--keys", &d]));
    assert!(third > second_kid, "{third} after {second_kid}");
    assert_eq!(mode(&dir.join(format!("{third}.pem"))), 0o600);
    let (token, _) = mint(&dir, &["--issuer", "jitsi"]);
    assert_eq!(decode(&token).0["kid"], third);
    let (code, _, err) = cli(&["rotate", "bad issuer", "--keys", &d]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid kid"), "{err}");
}

/// Issue 17's case, as reported: a hand-named key, then two rotations.
#[test]
fn rotation_follows_creation_order_not_kid_spelling() {
    let t = tempdir();
    let dir = t.path().join("k");
    let d = path_str(&dir);
    cli_ok(&["keygen", "--keys", &d, "acme/k1"]);
    let first = created(&cli_ok(&["rotate", "--keys", &d, "acme"]));
    let second = created(&cli_ok(&["rotate", "--keys", &d, "acme"]));
    assert!(first.starts_with(&format!("acme/{}", today())), "{first}");
    // mint --issuer picks the newest key, not the one that sorts last (acme/k1).
    let (token, err) = mint(&dir, &["--issuer", "acme", "--decode"]);
    assert_eq!(decode(&token).0["kid"], second);
    assert!(err.contains(&format!("\"kid\": \"{second}\"")), "{err}");

    // prune --keep 1 keeps that key; the others are younger than --min-age.
    let out = cli_ok(&["prune", "--keys", &d, "acme", "--keep", "1", "--yes"]);
    assert!(
        out.contains(&format!("keep          {second}")) && out.contains("no key is known newer"),
        "{out}"
    );
    assert!(out.contains("nothing to remove"), "{out}");
    for kid in ["acme/k1", &first, &second] {
        assert!(dir.join(format!("{kid}.pem")).exists(), "{kid} kept: {out}");
    }
    // Without the age guard, the two older keys go; never the newest.
    let out = cli_ok(&[
        "prune",
        "--keys",
        &d,
        "acme",
        "--keep",
        "1",
        "--min-age",
        "0",
        "--yes",
    ]);
    assert!(
        out.contains("removed       acme/k1") && out.contains(&format!("removed       {first}")),
        "{out}"
    );
    assert!(dir.join(format!("{second}.pem")).exists(), "{out}");
    assert!(!dir.join("acme/k1.pem").exists() && !dir.join(format!("{first}.pem")).exists());
    let (token, _) = mint(&dir, &["--issuer", "acme"]);
    assert_eq!(decode(&token).0["kid"], second);
    // The README's bare `prune ISSUER` works (--keep defaults to 1).
    let out = cli_ok(&["prune", "--keys", &d, "acme"]);
    assert!(out.contains("nothing to remove"), "{out}");
}

#[test]
fn mint_refuses_to_guess_between_undated_keys_and_rotate_settles_it() {
    let (_t, dir) = keydir();
    let d = path_str(&dir);
    write_private(dir.join("acme/a.pem"), &key(0).pkcs8);
    write_private(dir.join("acme/b.pem"), &key(1).pkcs8);
    // A name dated after its file was written is no evidence either.
    write_private(dir.join("acme/2099-01-01.pem"), &key(2).pkcs8);
    let (code, _, err) = cli(&["mint", "--keys", &d, "--issuer", "acme"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "cannot tell which key of acme is the newest: acme/2099-01-01, acme/a, acme/b"
        ) && err.contains("--kid"),
        "{err}"
    );
    let (code, _, err) = cli(&["mint", "--keys", &d]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--kid"), "{err}");
    // A rotated key is newer than all of them, whatever their names.
    let new = created(&cli_ok(&["rotate", "--keys", &d, "acme"]));
    let (token, _) = mint(&dir, &["--issuer", "acme"]);
    assert_eq!(decode(&token).0["kid"], new);
}

#[test]
fn mint_min_key_age_signs_with_a_key_that_has_been_published_long_enough() {
    let (_t, dir) = keydir();
    let d = path_str(&dir);
    let old = created(&cli_ok(&["rotate", "--keys", &d, "acme"]));
    let (code, _, err) = cli(&[
        "mint",
        "--keys",
        &d,
        "--issuer",
        "acme",
        "--min-key-age",
        "1h",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no key of acme has been in the key directory for 1h (--min-key-age) yet")
            && err.contains(&old),
        "{err}"
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let new = created(&cli_ok(&["rotate", "--keys", &d, "acme"]));
    // The new key is the newest but younger than 2 s: the old one signs.
    let (token, _) = mint(&dir, &["--issuer", "acme", "--min-key-age", "2s"]);
    assert_eq!(decode(&token).0["kid"], old);
    let (token, _) = mint(&dir, &["--issuer", "acme"]);
    assert_eq!(decode(&token).0["kid"], new);
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
    // Copied in just now: the older keys were the newest here until now.
    let out = cli_ok(&["prune", "jitsi", "--keep", "1", "--keys", &d]);
    assert!(
        out.contains("keep          jitsi/2026-10-01")
            && out.contains("tokens it signed may still be alive (--min-age 24h)")
            && out.contains("nothing to remove"),
        "{out}"
    );
    let out = cli_ok(&[
        "prune",
        "jitsi",
        "--keep",
        "1",
        "--min-age",
        "0",
        "--keys",
        &d,
    ]);
    assert!(
        out.contains("would remove  jitsi/2026-10-01")
            && out.contains("would remove  jitsi/2026-11-01"),
        "{out}"
    );
    assert!(
        out.contains("keep          jitsi/2026-11-28") && out.contains("Dry run"),
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

    let out = cli_ok(&[
        "prune",
        "jitsi",
        "--keep",
        "2",
        "--min-age",
        "0",
        "--keys",
        &d,
        "--yes",
    ]);
    assert!(out.contains("removed       jitsi/2026-10-01"), "{out}");
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

/// Issue 27: `prune`, `?newest=N` and `mint --issuer` follow one rule for
/// kids without a date: a file written more than a minute after another
/// is newer; files written together (a copy) are not ordered, and then
/// nothing is dropped. On cb90f7d undated kids were never ordered: prune
/// kept all of them and `?newest=1` listed all of them.
#[test]
fn prune_and_the_bounded_jwks_order_undated_kids_by_file_time_beyond_the_margin() {
    let (_t, dir) = keydir();
    let d = path_str(&dir);
    let now = std::time::SystemTime::now();
    let days = |n: u64| now - std::time::Duration::from_secs(n * 86_400);
    // acme: three keys written days apart; copy: two written together.
    for (i, (kid, written)) in [
        ("acme/k1", days(3)),
        ("acme/k2", days(2)),
        ("acme/k3", days(1)),
        ("copy/a", days(2)),
        ("copy/b", days(2) + std::time::Duration::from_secs(5)),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.join(format!("{kid}.pem"));
        write_private(&path, &key(i % 4).pkcs8);
        set_mtime(&path, written);
    }
    let server = Server::start(&dir, &[]);
    let kids = |query: &str| -> Vec<String> {
        let reply = server.get(&format!("/.well-known/jwks.json?{query}"));
        assert_eq!(reply.status, 200, "{query}: {}", reply.text());
        let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kids("newest=1"), ["acme/k3", "copy/a", "copy/b"]);
    assert_eq!(kids("newest=2&issuer=acme"), ["acme/k2", "acme/k3"]);
    let (token, _) = mint(&dir, &["--issuer", "acme"]);
    assert_eq!(decode(&token).0["kid"], "acme/k3");
    let (code, _, err) = cli(&["mint", "--keys", &d, "--issuer", "copy"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cannot tell which key of copy is the newest: copy/a, copy/b"),
        "{err}"
    );
    // prune keeps the newest by the same rule, and both keys of the copy.
    let prune = |issuer: &str| {
        cli_ok(&[
            "prune",
            issuer,
            "--keep",
            "1",
            "--min-age",
            "0",
            "--keys",
            &d,
            "--yes",
        ])
    };
    let out = prune("acme");
    assert!(
        out.contains("removed       acme/k1")
            && out.contains("removed       acme/k2")
            && out.contains("keep          acme/k3"),
        "{out}"
    );
    assert!(!dir.join("acme/k1.pem").exists() && dir.join("acme/k3.pem").exists());
    let out = prune("copy");
    assert!(out.contains("nothing to remove"), "{out}");
    assert!(dir.join("copy/a.pem").exists() && dir.join("copy/b.pem").exists());
}

/// What `list --json` says of the files under `dir`: kids served, and the
/// reason of each skipped file, by file name.
fn listed(dir: &std::path::Path) -> (Vec<String>, Vec<(String, String)>) {
    let out = cli_ok(&["list", "--keys", &path_str(dir), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kids = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let skipped = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["file"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (kids, skipped)
}

#[test]
fn keygen_rotate_and_mint_refuse_a_kid_serve_would_not_serve_with_its_reason() {
    let (_t, dir) = keydir();
    let d = path_str(&dir);
    let deepest = vec!["d"; 32].join("/");
    let too_deep = format!("{deepest}/d");
    let hash = format!("{}.pem", sha256_hex("jitsi/k"));
    // The same file put there by hand: what serve says of it.
    let (_h, by_hand) = keydir();
    for kid in [
        "healthz",
        "metrics",
        hash.as_str(),
        "mint",
        "oidc/callback",
        "jitsi/.k",
        &too_deep,
    ] {
        write_private(by_hand.join(format!("{kid}.pem")), &key(0).pkcs8);
        let (code, out, err) = cli(&["keygen", kid, "--keys", &d]);
        assert_eq!(code, 2, "keygen {kid}: {out}{err}");
        assert!(err.contains(&format!("invalid kid {kid:?}")), "{err}");
        assert!(
            !dir.join(format!("{kid}.pem")).exists(),
            "keygen {kid} wrote nothing"
        );
        let (code, _, mint_err) = cli(&["mint", "--kid", kid, "--keys", &d]);
        assert_eq!(code, 2, "mint --kid {kid}: {mint_err}");
        assert!(
            mint_err.contains(&format!("invalid kid {kid:?}")),
            "{mint_err}"
        );
    }
    // The reasons are serve's: a kid at a route or a Prosody path is
    // skipped with the words keygen printed; hidden and too deep files
    // are never read.
    let (kids, skipped) = listed(&by_hand);
    assert!(
        kids.iter().all(|k| k == "mint" || k == "oidc/callback"),
        "{kids:?}"
    );
    for kid in ["healthz", "metrics", hash.as_str()] {
        let (_, reason) = skipped
            .iter()
            .find(|(f, _)| f.ends_with(&format!("/{kid}.pem")))
            .unwrap_or_else(|| panic!("{kid} not skipped: {skipped:?}"));
        let why = reason
            .strip_prefix("kid refused: ")
            .and_then(|r| r.strip_suffix("; rename the file"))
            .unwrap();
        let (_, _, err) = cli(&["keygen", kid, "--keys", &d]);
        assert!(err.contains(why), "keygen {kid} says {err}, serve {reason}");
    }
    // `mint` and `oidc/…` are refused by serve --config (its token service).
    let (code, out, err) = cli(&["rotate", ".hidden", "--keys", &d]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("starts with '.'"), "{err}");
    // The deepest kid serve reads is made, and served.
    cli_ok(&["keygen", &deepest, "--keys", &d]);
    assert_eq!(listed(&dir).0, vec![deepest]);
}
