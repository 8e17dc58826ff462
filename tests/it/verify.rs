//! `verify`: the token cases of `tests/fixtures/verify/cases.toml` (one
//! token per check, built to trip exactly that check) run through the
//! binary: the first failure, the exit code and the words are asserted.
//! Beside them what is not a token case: what key servers answer, key
//! sources, flags, app_secret tokens, and tokens made by PyJWT and by our
//! `mint`, which get the same verdict from PyJWT and from `verify`.

use crate::common::*;
use serde_json::{json, Value};

#[path = "../fixtures/verify/cases.rs"]
mod cases;

fn hdr(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

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

struct Outcome {
    code: i32,
    first_failure: Option<String>,
    text: String,
    json: Value,
}

fn verify(token: &str, args: &[&str]) -> Outcome {
    let mut all = vec!["verify", token];
    all.extend_from_slice(args);
    let (code, text, err) = cli(&all);
    assert!(err.is_empty(), "stderr: {err}");
    all.push("--json");
    let (jcode, json, _) = cli(&all);
    assert_eq!(code, jcode);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["accepted"], code == 0);
    Outcome {
        code,
        first_failure: json["first_failure"].as_str().map(str::to_owned),
        text,
        json,
    }
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, Server) {
    let (t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    write(dir.join("other/k.pem"), &key(1).pkcs8);
    let server = Server::start(&dir, &[]);
    (t, dir, server)
}

/// Every token case of `tests/fixtures/verify/cases.toml` (the unit tests
/// run the same cases in process), under each plugin generation: the binary
/// against a key server gives the first failure, the exit code and the
/// words the case names, the Lua plugin check agrees where it can judge, and
/// the token as an Authorization header value gets the same verdict.
#[test]
fn each_token_case_gets_its_verdict_from_the_binary() {
    let (t, _dir, server) = setup();
    let base = format!("http://{}", server.addr);
    // muc_mapper_domain_base unset: a config whose MUC component loads
    // token_verification, without it.
    let config = t.path().join("no-muc-base.cfg.lua");
    std::fs::write(
        &config,
        "VirtualHost \"meet.example.com\"\n    authentication = \"token\"\n\
         Component \"conference.meet.example.com\" \"muc\"\n    modules_enabled = { \"token_verification\" }\n",
    )
    .unwrap();
    let config = path_str(&config);
    let all = cases::load();
    assert!(all.len() >= 38, "only {} token cases", all.len());
    let mut compared = 0;
    for case in &all {
        let name = case.name.as_str();
        let token = case.token(now(), sign);
        let extra = flags(&case.settings, &config);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        for (month, generation) in GENERATIONS {
            let expect = case.expect(generation, cases::Source::Server);
            let mut args = vec!["--key-server", base.as_str(), "--jitsi", month];
            args.extend(extra.iter().copied());
            let out = verify(&token, &args);
            let words: Vec<&str> = expect.words.iter().map(String::as_str).collect();
            assert_case(
                name,
                generation,
                &token,
                &out,
                expect.fails.as_deref(),
                &words,
            );
            compared += usize::from(assert_plugin_agrees(
                name,
                generation,
                &token,
                &case.settings,
                &out,
            ));
            if generation == "G3" {
                let bearer = verify(&format!("Bearer {token}"), &args);
                assert_eq!(
                    bearer.first_failure, out.first_failure,
                    "{name}: as a header value"
                );
            }
        }
    }
    assert!(
        compared >= 60,
        "the Lua plugin check judged only {compared} cases"
    );
}

/// Without --jitsi, the newest known plugin, and the output says so; a month
/// that is not one is an error.
#[test]
fn the_newest_plugin_is_the_default_and_a_bad_month_is_an_error() {
    let (_t, _dir, server) = setup();
    let base = format!("http://{}", server.addr);
    let no_sub = token_with(
        &hdr("jitsi/k"),
        &with(good_claims(), json!({"sub": null})),
        &key(0).pkcs8,
    );
    let out = verify(&no_sub, &["--key-server", &base]);
    assert!(
        out.text.starts_with(
            "checked as the Jitsi token plugin of 2026-05 and later (G3) (the newest known"
        ),
        "{}",
        out.text
    );
    assert_eq!(out.first_failure.as_deref(), Some("sub"));
    let (code, _, err) = cli(&[
        "verify",
        &no_sub,
        "--key-server",
        &base,
        "--jitsi",
        "2026-13",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("write YYYY-MM"), "{err}");
}

/// A case's token, signed by openssl (not our code): the kid's key is
/// key(0), served as jitsi/k; the other key is key(1), served as other/k.
fn sign(header: &Value, claims: &Value, signer: &cases::Signer) -> String {
    match signer {
        cases::Signer::Kid => token_with(header, claims, &key(0).pkcs8),
        cases::Signer::Other => token_with(header, claims, &key(1).pkcs8),
        cases::Signer::Secret(secret) => token_with(header, claims, secret),
    }
}

/// A case's settings as verify's flags; `config` is the Prosody config
/// without muc_mapper_domain_base.
fn flags(s: &cases::Settings, config: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: &str| out.extend([name.to_owned(), value.to_owned()]);
    if let Some(v) = &s.app_id {
        flag("--app-id", v);
    }
    if let Some(v) = &s.accepted_issuers {
        flag("--accepted-issuers", &v.join(","));
    }
    if let Some(v) = &s.accepted_audiences {
        flag("--accepted-audiences", &v.join(","));
    }
    if let Some(v) = &s.algorithm {
        flag("--algorithm", v);
    }
    if let Some(v) = &s.domain {
        flag("--domain", v);
    }
    if let Some(v) = &s.tenant {
        flag("--tenant", v);
    }
    if let Some(v) = &s.room {
        flag("--room", v);
    }
    if s.muc_mapper_domain_base == Some(cases::MucBase::Unset) {
        flag("--prosody-config", config);
    }
    if s.require_room == Some(false) {
        out.push("--no-room-claim".into());
    }
    if s.domain_verification == Some(false) {
        out.push("--no-domain-verification".into());
    }
    out
}

/// The months that select each generation of the token plugin.
const GENERATIONS: [(&str, &str); 3] = [("2025-10", "G1"), ("2026-01", "G2"), ("2026-07", "G3")];

/// What Prosody's login path (luajwtjitsi order, then iss, aud, room and,
/// from G3, sub) says, as the Lua peer on luaossl checks it; `None` when the
/// case turns on something that peer does not model (key fetch, MUC join).
fn plugin_says(generation: &str, token: &str, s: &cases::Settings, out: &Outcome) -> Option<bool> {
    let login_checks = [
        "typ",
        "alg = configured",
        "signature",
        "exp",
        "nbf",
        "iss",
        "aud",
        "room",
        "sub",
    ];
    if let Some(f) = &out.first_failure {
        // Before G3 a missing sub fails at the room join, not at login.
        if !login_checks.contains(&f.as_str()) || (f == "sub" && generation != "G3") {
            return None;
        }
    }
    let join = s.room.is_some() || s.domain.is_some() || s.tenant.is_some();
    if join || s.muc_mapper_domain_base.is_some() {
        return None;
    }
    let issuers = s
        .accepted_issuers
        .as_ref()
        .map(|v| v.join(","))
        .or_else(|| s.app_id.clone())
        .unwrap_or("*".into());
    let audiences = s
        .accepted_audiences
        .as_ref()
        .map(|v| v.join(","))
        .unwrap_or("*".into());
    let alg = s.algorithm.clone().unwrap_or("RS256".into());
    let mut args = vec![
        "--plugin",
        generation,
        "--issuers",
        &issuers,
        "--audiences",
        &audiences,
        "--alg",
        &alg,
    ];
    if s.require_room == Some(false) {
        args.push("--no-room");
    }
    Some(lua_plugin_check(token, &key(0).spki, &args).is_ok())
}

/// Whether the Lua plugin check could judge this case (and then agreed).
fn assert_plugin_agrees(
    name: &str,
    generation: &str,
    token: &str,
    settings: &cases::Settings,
    out: &Outcome,
) -> bool {
    let Some(accepted) = plugin_says(generation, token, settings, out) else {
        return false;
    };
    assert_eq!(
        accepted,
        out.code == 0,
        "{name} ({generation}): the Lua plugin check and verify disagree:\n{}",
        out.text
    );
    true
}

fn assert_case(
    name: &str,
    generation: &str,
    token: &str,
    out: &Outcome,
    first_failure: Option<&str>,
    needles: &[&str],
) {
    let name = format!("{name} ({generation})");
    {
        assert!(
            out.text
                .lines()
                .next()
                .unwrap_or_default()
                .contains(&format!("({generation})")),
            "{name}: says which plugin it checked as:\n{}",
            out.text
        );
        assert_eq!(out.json["plugin"]["generation"], generation, "{name}");
        assert_eq!(
            out.first_failure.as_deref(),
            first_failure,
            "{name}:\n{}",
            out.text
        );
        assert_eq!(
            out.code,
            if first_failure.is_some() { 1 } else { 0 },
            "{name}"
        );
        for needle in needles.iter().copied() {
            assert!(
                out.text.contains(needle),
                "{name}: no {needle:?} in\n{}",
                out.text
            );
        }
        if let Some(check) = first_failure {
            assert!(
                out.text
                    .lines()
                    .last()
                    .unwrap()
                    .starts_with(&format!("Prosody would REJECT this token: {check}")),
                "{name}:\n{}",
                out.text
            );
            let failing = out.json["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["status"] == "fail")
                .unwrap();
            assert!(
                failing["fix"].is_string() && failing["why"].is_string(),
                "{name}: every failure has a why and a fix"
            );
        }
        // Never the whole signature, never key material.
        if let Some(sig) = token.split('.').nth(2) {
            if sig.len() > 20 {
                assert!(
                    !out.text.contains(sig) && !out.text.contains(&sig[..20]),
                    "{name} printed the signature"
                );
            }
        }
        assert!(!out.text.contains("BEGIN"), "{name} printed key material");
    }
}

#[test]
fn what_the_key_server_answers_is_judged_as_prosody_would() {
    let t = tempdir();
    let root = t.path().join("www");
    std::fs::create_dir(&root).unwrap();
    let kid_path = |kid: &str| root.join(format!("{}.pem", sha256_hex(kid)));
    std::fs::write(t.path().join("k.pem"), &key(0).pkcs8).unwrap();
    let cert = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &path_str(&t.path().join("k.pem")),
        "-subj",
        "/CN=k",
        "-days",
        "1",
    ]);
    std::fs::write(kid_path("jitsi/cert"), cert).unwrap();
    std::fs::write(kid_path("jitsi/json"), r#"{"keys": []}"#).unwrap();
    std::fs::write(kid_path("jitsi/private"), &key(0).pkcs8).unwrap();
    std::fs::write(kid_path("jitsi/rsa-public"), &key(0).pkcs1_public).unwrap();
    std::fs::write(kid_path("jitsi/empty"), "").unwrap();
    std::fs::create_dir(kid_path("jitsi/redirect")).unwrap();
    let stat = StaticServer::start(&root);
    let token = |kid: &str| token_with(&hdr(kid), &good_claims(), &key(0).pkcs8);
    for (kid, failure, needle) in [
        (
            "jitsi/cert",
            Some("key"),
            "a certificate where a key belongs",
        ),
        (
            "jitsi/json",
            Some("key"),
            "JSON (a JWKS?) where a PEM belongs",
        ),
        ("jitsi/empty", Some("key"), "an empty key"),
        (
            "jitsi/redirect",
            Some("key"),
            "Prosody does not follow redirects",
        ),
        (
            "jitsi/private",
            None,
            "DANGER: the key server publishes a PRIVATE key",
        ),
        ("jitsi/rsa-public", None, "PKCS#1 public key, RSA-2048"),
    ] {
        let out = verify(&token(kid), &["--key-server", &stat.url]);
        assert_eq!(
            out.first_failure.as_deref(),
            failure,
            "{kid}:\n{}",
            out.text
        );
        assert!(
            out.text.contains(needle),
            "{kid}: no {needle:?} in\n{}",
            out.text
        );
    }
    // A key server that is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = verify(
        &token("jitsi/k"),
        &[
            "--key-server",
            &format!("http://{closed}"),
            "--timeout",
            "2s",
        ],
    );
    assert_eq!(out.first_failure.as_deref(), Some("key"));
    assert!(
        out.text.contains("cannot connect") && out.text.contains("could not obtain public key"),
        "{}",
        out.text
    );
    // A file:// key server.
    let out = verify(&token("jitsi/k"), &["--key-server", "file:///etc/keys"]);
    assert!(
        out.text.contains("Prosody fetches keys over HTTP(S) only"),
        "{}",
        out.text
    );
}

#[test]
fn keys_can_come_from_a_directory_or_a_file_and_tokens_from_stdin_or_urls() {
    let (t, dir, _server) = setup();
    let token = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    assert_eq!(verify(&token, &["--keys", &path_str(&dir)]).code, 0);
    std::fs::write(t.path().join("pub.pem"), &key(0).spki).unwrap();
    assert_eq!(
        verify(&token, &["--key", &path_str(&t.path().join("pub.pem"))]).code,
        0
    );
    let out = verify(&token, &["--key", &path_str(&t.path().join("missing.pem"))]);
    assert_eq!(out.first_failure.as_deref(), Some("key"));
    let out = verify(
        &token_with(&hdr("jitsi/absent"), &good_claims(), &key(0).pkcs8),
        &["--keys", &path_str(&dir)],
    );
    assert!(
        out.text.contains("asap-keyserver keygen jitsi/absent"),
        "{}",
        out.text
    );

    let url = format!("https://meet.example.com/standup?jwt={token}");
    assert_eq!(verify(&url, &["--keys", &path_str(&dir)]).code, 0);
    let (code, out, _) = cli_stdin(
        &["verify", "--keys", &path_str(&dir)],
        Some(&format!("{token}\n")),
    );
    assert_eq!(code, 0, "{out}");

    let (code, _, err) = cli(&["verify", &token]);
    assert_eq!(code, 2);
    assert!(err.contains("say where the key comes from"), "{err}");
    let (code, _, _) = cli(&["verify", &token, "--keys", "a", "--key", "b"]);
    assert_eq!(code, 2, "one key source at a time");
}

#[test]
fn verify_agrees_with_pyjwt_on_tokens_pyjwt_made() {
    let (t, _dir, server) = setup();
    let base = format!("http://{}", server.addr);
    let pem = server.key("jitsi/k").unwrap();
    std::fs::write(t.path().join("k0.pem"), &key(0).pkcs8).unwrap();
    std::fs::write(t.path().join("k1.pem"), &key(1).pkcs8).unwrap();
    let n = now();
    let script = peers_dir().join("pyjwt_mint.py");
    for (signer, alg, claims) in [
        ("k0.pem", "RS256", good_claims()),
        (
            "k0.pem",
            "RS256",
            with(good_claims(), json!({"exp": n - 10})),
        ),
        (
            "k0.pem",
            "RS256",
            with(good_claims(), json!({"nbf": n + 900})),
        ),
        (
            "k0.pem",
            "RS256",
            with(good_claims(), json!({"aud": "elsewhere"})),
        ),
        (
            "k0.pem",
            "RS256",
            with(good_claims(), json!({"iss": "stranger"})),
        ),
        ("k1.pem", "RS256", good_claims()),
        ("k0.pem", "RS512", good_claims()),
    ] {
        let token = String::from_utf8(run(std::process::Command::new("python3")
            .arg(&script)
            .arg(t.path().join(signer))
            .args(["jitsi/k", alg, &claims.to_string()])))
        .unwrap();
        let token = token.trim();
        let ours = verify(
            token,
            &[
                "--key-server",
                &base,
                "--accepted-audiences",
                "jitsi",
                "--accepted-issuers",
                "jitsi",
            ],
        );
        let theirs = verify_with(Verifier::PyJwt, token, &pem, "jitsi", "jitsi");
        assert_eq!(
            ours.code == 0,
            theirs.is_ok(),
            "{signer} {alg} {claims}: ours\n{}\nPyJWT: {theirs:?}",
            ours.text
        );
    }
}

#[test]
fn verify_agrees_with_pyjwt_on_tokens_mint_made() {
    let (_t, dir, server) = setup();
    let base = format!("http://{}", server.addr);
    let pem = server.key("jitsi/k").unwrap();
    for args in [
        vec!["--kid", "jitsi/k", "--room", "r"],
        vec!["--kid", "jitsi/k", "--aud", "other"],
        vec!["--kid", "jitsi/k", "--iss", "x"],
    ] {
        let (token, _) = mint(&dir, &args);
        let ours = verify(
            &token,
            &[
                "--key-server",
                &base,
                "--accepted-audiences",
                "jitsi",
                "--accepted-issuers",
                "jitsi",
            ],
        );
        let theirs = verify_with(Verifier::PyJwt, &token, &pem, "jitsi", "jitsi");
        assert_eq!(ours.code == 0, theirs.is_ok(), "{args:?}: {}", ours.text);
    }
}

#[test]
fn https_key_servers_are_checked_with_the_system_store_or_a_given_ca() {
    let t = tempdir();
    let root = t.path().join("www");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(
        root.join(format!("{}.pem", sha256_hex("jitsi/k"))),
        &key(0).spki,
    )
    .unwrap();
    let token = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    let pki = TestPki::new();
    for (san, trusted, expect_ok, needle) in [
        ("IP:127.0.0.1", true, true, "HTTP 200, SPKI public key"),
        ("IP:127.0.0.1", false, false, "TLS with 127.0.0.1 failed"),
        (
            "DNS:keys.example.com",
            true,
            false,
            "TLS with 127.0.0.1 failed",
        ),
    ] {
        let (cert, key_file) = pki.issue_for(&san.replace([':', '.'], "_"), "test server", san);
        let (cert, key_file, ca) = (path_str(&cert), path_str(&key_file), path_str(&pki.ca));
        let mut child = std::process::Command::new("python3")
            .arg(peers_dir().join("https_static.py"))
            .args([path_str(&root), cert, key_file])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            line.trim().trim_start_matches("port ")
        );
        let mut args = vec!["--key-server", url.as_str(), "--timeout", "5s"];
        if trusted {
            args.extend(["--ca-file", ca.as_str()]);
        }
        let out = verify(&token, &args);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            out.code == 0,
            expect_ok,
            "{san} trusted={trusted}:\n{}",
            out.text
        );
        assert!(
            out.text.contains(needle),
            "{san}: no {needle:?} in\n{}",
            out.text
        );
    }
}

#[test]
fn app_secret_tokens_are_checked_as_the_plugin_does_without_a_key_server() {
    let t = tempdir();
    let secret = "s3cret-shared";
    let hs = |alg: &str, secret: &str| {
        token_with(&json!({"alg": alg, "typ": "JWT"}), &good_claims(), secret)
    };
    let file = t.path().join("secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let f = path_str(&file);
    let cases: Vec<(String, Vec<&str>, Option<&str>, &str)> = vec![
        (
            hs("HS256", secret),
            vec!["--app-secret", secret],
            None,
            "valid: ",
        ),
        (
            hs("HS256", secret),
            vec!["--app-secret-file", &f],
            None,
            "no kid needed",
        ),
        (
            hs("HS256", "other"),
            vec!["--app-secret", secret],
            Some("signature"),
            "not signed with this app_secret",
        ),
        (
            hs("HS512", secret),
            vec!["--app-secret", secret],
            Some("alg = configured"),
            "signature_algorithm = \"HS256\"",
        ),
        (
            hs("HS512", secret),
            vec!["--app-secret", secret, "--algorithm", "HS512"],
            None,
            "HS512 (signature_algorithm HS512)",
        ),
        (
            token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8),
            vec!["--app-secret", secret],
            Some("alg = configured"),
            "an RSA token, but without asap_key_server",
        ),
    ];
    for (token, args, first_failure, needle) in cases {
        let out = verify(&token, &args);
        assert_eq!(
            out.first_failure.as_deref(),
            first_failure,
            "{args:?}:\n{}",
            out.text
        );
        assert!(
            out.text.contains(needle),
            "{args:?}: no {needle:?} in\n{}",
            out.text
        );
        assert!(!out.text.contains(secret), "the secret is never printed");
    }
}

/// Issue 17: a verdict that rests on settings verify could not see says so
/// in its headline and lists the conditions in --json.
#[test]
fn a_verdict_that_depends_on_unseen_settings_names_its_conditions() {
    let (_t, _dir, server) = setup();
    let base = format!("http://{}", server.addr);
    let claims = with(
        good_claims(),
        json!({"iss": "other", "sub": "meet.example.com"}),
    );
    let token = token_with(&hdr("other/k"), &claims, &key(1).pkcs8);
    let out = verify(&token, &["--key-server", &base]);
    assert_eq!(out.code, 0, "{}", out.text);
    let headline = out.text.lines().last().unwrap();
    assert_eq!(
        headline,
        "Prosody would ACCEPT this token only if app_id or asap_accepted_issuers includes \"other\", \
         and if the meeting's tenant or domain is \"meet.example.com\" (sub, checked at the room join)"
    );
    assert_eq!(
        out.json["conditions"],
        json!([
            "app_id or asap_accepted_issuers includes \"other\"",
            "the meeting's tenant or domain is \"meet.example.com\" (sub, checked at the room join)"
        ])
    );
    // With the settings given, no condition is left.
    let out = verify(
        &token,
        &[
            "--key-server",
            &base,
            "--app-id",
            "other",
            "--domain",
            "meet.example.com",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(
        out.text.ends_with("Prosody would ACCEPT this token\n"),
        "{}",
        out.text
    );
    assert_eq!(out.json["conditions"], json!([]));
    let out = verify(&token, &["--key-server", &base, "--app-id", "jitsi"]);
    assert_eq!((out.code, out.first_failure.as_deref()), (1, Some("iss")));
}
