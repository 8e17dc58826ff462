//! `mint`: every flag, default, warning and error, through the real binary.

use crate::common::*;

fn one_key() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    write(dir.join("jitsi/2026-11-28.pem"), &key(0).pkcs8);
    (t, dir)
}

#[test]
fn defaults_are_what_prosody_accepts() {
    let (_t, dir) = one_key();
    let before = now();
    let (token, stderr) = mint(&dir, &[]);
    let (header, c) = decode(&token);
    assert_eq!(
        header,
        serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "jitsi/2026-11-28"})
    );
    assert_eq!(
        (
            c["iss"].as_str(),
            c["aud"].as_str(),
            c["sub"].as_str(),
            c["room"].as_str()
        ),
        (Some("jitsi"), Some("jitsi"), Some("*"), Some("*"))
    );
    let iat = c["iat"].as_u64().unwrap();
    assert!(iat >= before && iat <= now());
    assert_eq!(c["exp"].as_u64().unwrap() - iat, 3600, "ttl 1h");
    assert_eq!(iat - c["nbf"].as_u64().unwrap(), 30, "nbf 30s in the past");
    let jti = c["jti"].as_str().unwrap();
    assert!(jti.len() == 32 && jti.chars().all(|ch| ch.is_ascii_hexdigit()));
    assert!(c.get("context").is_none());
    assert!(stderr.is_empty(), "no warnings for defaults: {stderr}");
    // Two tokens never share a jti.
    let (again, _) = mint(&dir, &[]);
    assert_ne!(decode(&again).1["jti"], c["jti"]);
}

#[test]
fn every_claim_flag_lands_where_jitsi_reads_it() {
    let (_t, dir) = one_key();
    let avatar = "data:image/png;base64,iVBORw0KGgo=";
    let (token, stderr) = mint(
        &dir,
        &[
            "--iss",
            "jitsi",
            "--aud",
            "meet",
            "--sub",
            "meet.example.com",
            "--room",
            "standup",
            "--ttl",
            "90m",
            "--nbf-skew",
            "2m",
            "--user-id",
            "u-42",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--avatar",
            avatar,
            "--moderator",
            "--affiliation",
            "owner",
            "--feature",
            "recording",
            "--feature",
            "livestreaming=false",
            "--feature",
            "outbound-call=true",
            "--group",
            "team-a",
        ],
    );
    let c = decode(&token).1;
    assert_eq!(c["aud"], "meet");
    assert_eq!(c["sub"], "meet.example.com");
    assert_eq!(c["room"], "standup");
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        5400
    );
    assert_eq!(c["iat"].as_u64().unwrap() - c["nbf"].as_u64().unwrap(), 120);
    let user = &c["context"]["user"];
    assert_eq!(user["id"], "u-42");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["avatar"], avatar);
    assert_eq!(
        user["moderator"], "true",
        "a string: Jitsi compares with \"true\""
    );
    assert_eq!(user["affiliation"], "owner");
    for (_, v) in user.as_object().unwrap() {
        assert!(v.is_string(), "context.user fields are strings: {user}");
    }
    let f = &c["context"]["features"];
    assert_eq!(
        (
            f["recording"].as_bool(),
            f["livestreaming"].as_bool(),
            f["outbound-call"].as_bool()
        ),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(c["context"]["group"], "team-a");
    assert!(stderr.contains("warning: context.group is set"), "{stderr}");
    assert!(c.get("moderator").is_none(), "never top-level");

    let (token, _) = mint(&dir, &["--moderator=false", "--ttl", "3600"]);
    let c = decode(&token).1;
    assert_eq!(c["context"]["user"]["moderator"], "false");
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        3600,
        "bare seconds"
    );
}

#[test]
fn claims_files_merge_under_the_flags() {
    let (t, dir) = one_key();
    let file = t.path().join("claims.json");
    std::fs::write(
        &file,
        r#"{"room": "from-file", "sub": "tenant1", "custom": {"x": 1},
        "context": {"user": {"name": "File", "id": "f1"}, "callee": {"id": "c"}}}"#,
    )
    .unwrap();
    let (token, _) = mint(
        &dir,
        &[
            "--claims",
            &path_str(&file),
            "--room",
            "from-flag",
            "--name",
            "Flag",
        ],
    );
    let c = decode(&token).1;
    assert_eq!(c["room"], "from-flag", "flags win");
    assert_eq!(c["sub"], "tenant1", "the file wins over defaults");
    assert_eq!(c["custom"]["x"], 1);
    assert_eq!(c["context"]["user"]["name"], "Flag");
    assert_eq!(c["context"]["user"]["id"], "f1", "merged, not replaced");
    assert_eq!(c["context"]["callee"]["id"], "c");
    assert_eq!(c["aud"], "jitsi");

    let (code, out, _) = cli_stdin(
        &["mint", "--keys", &path_str(&dir), "--claims", "-"],
        Some(r#"{"room": "stdin-room"}"#),
    );
    assert_eq!(code, 0);
    assert_eq!(decode(out.trim()).1["room"], "stdin-room");

    std::fs::write(&file, "{not json").unwrap();
    let (code, _, err) = cli(&[
        "mint",
        "--keys",
        &path_str(&dir),
        "--claims",
        &path_str(&file),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("--claims {}: not valid JSON", file.display())),
        "{err}"
    );
    let (code, _, err) = cli(&[
        "mint",
        "--keys",
        &path_str(&dir),
        "--claims",
        "/nonexistent.json",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--claims /nonexistent.json: cannot read it"),
        "{err}"
    );
    let (code, _, err) = cli_stdin(
        &["mint", "--keys", &path_str(&dir), "--claims", "-"],
        Some("[1, 2]"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("--claims must hold a JSON object"), "{err}");
    let (code, _, err) = cli_stdin(
        &["mint", "--keys", &path_str(&dir), "--claims", "-"],
        Some(r#"{"aud": ["a", "b"]}"#),
    );
    assert_eq!(code, 2);
    assert!(err.contains("an array never matches"), "{err}");
    let (code, _, err) = cli_stdin(
        &["mint", "--keys", &path_str(&dir), "--claims", "-"],
        Some(r#"{"room": 7}"#),
    );
    assert_eq!(code, 2);
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn key_choice_by_kid_issuer_or_the_only_issuer() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/2026-11-01.pem"), &key(0).pkcs8);
    write(dir.join("jitsi/2026-11-28.pem"), &key(1).pkcs8);
    write(dir.join("jitsi/2026-11-28.02.pem"), &key(2).pkcs1);
    write(dir.join("jitsi/public.pem"), &key(3).spki);
    let kid_of = |args: &[&str]| {
        decode(&mint(&dir, args).0).0["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        kid_of(&[]),
        "jitsi/2026-11-28.02",
        "newest private key of the only issuer"
    );
    assert_eq!(kid_of(&["--issuer", "jitsi"]), "jitsi/2026-11-28.02");
    assert_eq!(kid_of(&["--kid", "jitsi/2026-11-01"]), "jitsi/2026-11-01");

    let err = |args: &[&str]| {
        let mut all = vec!["mint", "--keys", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let (code, out, err) = cli(&all);
        assert!(out.is_empty(), "no token on failure");
        (code, err)
    };
    let (code, e) = err(&["--kid", "jitsi/public"]);
    assert_eq!(code, 2);
    assert!(
        e.contains("kid \"jitsi/public\" holds only a public key")
            && e.contains("jitsi/2026-11-01, jitsi/2026-11-28"),
        "{e}"
    );
    let (code, e) = err(&["--kid", "jitsi/nope"]);
    assert_eq!(code, 2);
    assert!(
        e.contains("no key with kid \"jitsi/nope\"; private keys: jitsi/2026-11-01"),
        "{e}"
    );
    let (code, e) = err(&["--issuer", "other"]);
    assert_eq!(code, 2);
    assert!(
        e.contains("no private key under issuer \"other\"; issuers: jitsi"),
        "{e}"
    );
    let (code, e) = err(&["--kid", "a", "--issuer", "b"]);
    assert_eq!(code, 2, "{e}");

    write(dir.join("second/k.pem"), &key(0).pkcs8);
    let (code, e) = err(&[]);
    assert_eq!(code, 2);
    assert!(
        e.contains("more than one issuer") && e.contains("--issuer (jitsi, second)"),
        "{e}"
    );

    let (_t2, empty) = keydir();
    let (code, _, e) = cli(&["mint", "--keys", &path_str(&empty)]);
    assert_eq!(code, 2);
    assert!(
        e.contains("no private key in") && e.contains("asap-keyserver keygen"),
        "{e}"
    );
    let (code, _, e) = cli(&["mint", "--keys", "/nonexistent-dir"]);
    assert_eq!(code, 2);
    assert!(e.contains("/nonexistent-dir does not exist"), "{e}");
}

#[test]
fn url_and_decode_output() {
    let (_t, dir) = one_key();
    let (out, _) = mint(
        &dir,
        &[
            "--url",
            "https://meet.example.com/",
            "--room",
            "Daily Standup",
        ],
    );
    let (prefix, token) = out.split_once("?jwt=").unwrap();
    assert_eq!(prefix, "https://meet.example.com/Daily%20Standup");
    assert_eq!(decode(token).1["room"], "Daily Standup");
    let (code, out, e) = cli(&[
        "mint",
        "--keys",
        &path_str(&dir),
        "--url",
        "https://meet.example.com",
    ]);
    assert_eq!(code, 2);
    assert!(
        out.is_empty() && e.contains("--url needs --room NAME"),
        "{e}"
    );

    let (token, stderr) = mint(&dir, &["--decode", "--room", "r"]);
    assert!(
        stderr.contains("\"typ\": \"JWT\"") && stderr.contains("\"room\": \"r\""),
        "{stderr}"
    );
    assert!(
        !stderr.contains(token.split('.').nth(2).unwrap()),
        "never the signature"
    );
}

#[test]
fn warnings_go_to_stderr_and_the_token_is_still_minted() {
    let (_t, dir) = one_key();
    for (args, needle) in [
        (&["--ttl", "5m"][..], "under 10 minutes"),
        (&["--ttl", "48h"], "over 24 hours"),
        (&["--aud", "[\"a\",\"b\"]"], "looks like a list"),
        (&["--aud", "a,b"], "looks like a list"),
        (&["--iss", "someone-else"], "not the kid's first segment"),
        (&["--group", "g"], "context.group"),
    ] {
        let (token, stderr) = mint(&dir, args);
        assert!(
            stderr.contains("warning: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        assert_eq!(token.split('.').count(), 3);
    }
    // Times from --claims that Prosody refuses at once (issue 17).
    let past = now() - 60;
    let future = now() + 600;
    for (claims, needle) in [
        (format!("{{\"exp\": {past}}}"), "is not in the future"),
        (
            format!("{{\"nbf\": {future}}}"),
            "in the future: Prosody allows no clock skew",
        ),
    ] {
        let (code, token, stderr) = cli_stdin(
            &["mint", "--keys", &path_str(&dir), "--claims", "-"],
            Some(&claims),
        );
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("warning: ") && stderr.contains(needle),
            "{claims}: {stderr}"
        );
        assert_eq!(token.trim().split('.').count(), 3);
    }
}

/// `--avatar` and `context.user.avatar` from --claims: an https or
/// data:image/ URL, as --help says; a script URL is refused (issue 17).
#[test]
fn avatars_must_be_https_or_data_image_urls() {
    let (_t, dir) = one_key();
    for ok in [
        "https://example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
    ] {
        let (token, _) = mint(&dir, &["--avatar", ok]);
        assert_eq!(decode(&token).1["context"]["user"]["avatar"], ok);
    }
    for bad in [
        "javascript:alert(1)",
        "http://example.com/a.png",
        "data:text/html,<b>x</b>",
    ] {
        let (code, out, err) = cli(&["mint", "--keys", &path_str(&dir), "--avatar", bad]);
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            out.is_empty() && err.contains("is not an https:// or data:image/ URL"),
            "{err}"
        );
    }
    let (code, _, err) = cli_stdin(
        &["mint", "--keys", &path_str(&dir), "--claims", "-"],
        Some(r#"{"context": {"user": {"avatar": "javascript:alert(1)"}}}"#),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("javascript:alert(1)"), "{err}");
}

#[test]
fn profiles_shape_the_claims() {
    let (_t, dir) = keydir();
    write(
        dir.join("vpaas-magic-cookie-0123abcd/4f4910.pem"),
        &key(0).pkcs8,
    );
    write(dir.join("svc/key1.pem"), &key(1).pkcs8);
    let (token, _) = mint(
        &dir,
        &[
            "--profile",
            "jaas",
            "--kid",
            "vpaas-magic-cookie-0123abcd/4f4910",
            "--moderator",
            "--feature",
            "recording",
            "--feature",
            "transcription=false",
            "--name",
            "Ada",
        ],
    );
    let c = decode(&token).1;
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str(), c["sub"].as_str()),
        (
            Some("chat"),
            Some("jitsi"),
            Some("vpaas-magic-cookie-0123abcd")
        )
    );
    assert_eq!(c["context"]["user"]["moderator"], "true");
    assert_eq!(c["context"]["features"]["recording"], "true");
    assert_eq!(c["context"]["features"]["transcription"], "false");

    let (code, _, e) = cli(&[
        "mint",
        "--keys",
        &path_str(&dir),
        "--profile",
        "jaas",
        "--kid",
        "svc/key1",
    ]);
    assert_eq!(code, 2);
    assert!(
        e.contains("--profile jaas needs a JaaS kid like vpaas-magic-cookie-<hex>/<keyid>"),
        "{e}"
    );

    let (token, _) = mint(
        &dir,
        &["--profile", "asap", "--kid", "svc/key1", "--ttl", "30m"],
    );
    let c = decode(&token).1;
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str()),
        (Some("svc"), Some("svc"))
    );
    assert!(c["jti"].is_string() && c["iat"].is_u64());
    let (code, _, e) = cli(&[
        "mint",
        "--keys",
        &path_str(&dir),
        "--profile",
        "asap",
        "--kid",
        "svc/key1",
        "--ttl",
        "2h",
    ]);
    assert_eq!(code, 2);
    assert!(
        e.contains("--profile asap allows a lifetime of at most 1h"),
        "{e}"
    );
    let (code, _, e) = cli(&["mint", "--keys", &path_str(&dir), "--profile", "nope"]);
    assert_eq!(code, 2);
    assert!(e.contains("possible values: jitsi, jaas, asap"), "{e}");
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let (_t, dir) = one_key();
    let d = path_str(&dir);
    for (args, code, needle) in [
        (vec!["--ttl", "soon"], 2, "like 500ms"),
        (vec!["--nbf-skew", "x"], 2, "like 500ms"),
        (
            vec!["--feature", "recording=maybe"],
            2,
            "is not true or false",
        ),
        (vec!["--feature", "bad name"], 2, "is not a feature name"),
        (vec!["--moderator=perhaps"], 2, "invalid value"),
        (vec!["--ttl", "0s"], 2, "--ttl must be more than 0s"),
    ] {
        let mut all = vec!["mint", "--keys", d.as_str()];
        all.extend(args.iter().copied());
        let (got, out, err) = cli(&all);
        assert_eq!(got, code, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.is_empty());
    }
}

#[test]
fn claims_files_that_drop_sub_or_room_are_refused_unless_allowed() {
    let (t, dir) = one_key();
    let d = path_str(&dir);
    for (claim, why) in [
        (
            "sub",
            "rejects a token without sub (\"sub claim is missing\")",
        ),
        (
            "room",
            "rejects a token without room unless asap_require_room_claim = false",
        ),
    ] {
        let file = t.path().join(format!("drop-{claim}.json"));
        std::fs::write(&file, format!("{{\"{claim}\": null}}")).unwrap();
        let f = path_str(&file);
        let (code, out, err) = cli(&["mint", "--keys", &d, "--claims", &f]);
        assert_eq!((code, out.as_str()), (2, ""), "{err}");
        assert!(
            err.contains(&format!("--claims sets {claim} to null")) && err.contains(why),
            "{err}"
        );
        assert!(err.contains("--allow-missing-claims"), "{err}");
        let (token, _) = mint(&dir, &["--claims", &f, "--allow-missing-claims"]);
        let (_, claims) = decode(&token);
        assert!(claims.get(claim).is_none(), "{claims}");
    }
    let (code, _, err) = cli(&["mint", "--keys", &d, "--allow-missing-claims"]);
    assert_eq!(code, 2);
    assert!(err.contains("--claims"), "{err}");
}
