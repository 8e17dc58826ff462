//! `doctor` on key directories and running key servers.

use crate::common::*;
use std::os::unix::fs::PermissionsExt as _;

fn doctor(dir: &std::path::Path, state: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "doctor",
        "--keys",
        dir.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    assert!(err.is_empty(), "{err}");
    (code, out)
}

#[test]
fn a_clean_directory_passes_and_lists_every_kid() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/2026-11-28.pem"), &key(0).pkcs8);
    std::fs::set_permissions(
        dir.join("jitsi/2026-11-28.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    write(dir.join("partner/pub.pem"), &key(1).spki);
    let (code, out) = doctor(&dir, &t.path().join("s.json"), &[]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("jitsi/2026-11-28"))
        .unwrap();
    assert!(
        line.contains(&key_path("jitsi/2026-11-28"))
            && line.contains("private")
            && line.contains("RSA-2048")
            && line.contains("mode 0600"),
        "{line}"
    );
    assert!(
        out.contains("partner/pub") && out.contains("public"),
        "{out}"
    );
    assert!(
        out.ends_with("no problems: 0 problem(s), 0 warning(s)\n"),
        "{out}"
    );
}

#[test]
fn problems_in_the_directory_are_named_and_fail() {
    let (t, dir) = keydir();
    write(dir.join("open.pem"), &key(0).pkcs8);
    std::fs::set_permissions(dir.join("open.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    write(
        dir.join("jitsi/broken.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    write(dir.join("notes.txt"), "x");
    let (code, out) = doctor(&dir, &t.path().join("s.json"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ open  private key")
            && out.contains("readable by group or others (mode 0644)"),
        "{out}"
    );
    assert!(
        out.contains("! open  the kid has no issuer segment"),
        "{out}"
    );
    assert!(
        out.contains("✗ ") && out.contains("jitsi/broken.pem  skipped: malformed key"),
        "{out}"
    );
    assert!(
        out.contains("! ") && out.contains("notes.txt  skipped: not a .pem file"),
        "{out}"
    );
    assert!(
        out.contains("PROBLEMS FOUND: 2 problem(s), 2 warning(s)"),
        "{out}"
    );

    let (_t2, empty) = keydir();
    let (code, out) = doctor(&empty, &t.path().join("s2.json"), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("no keys"), "{out}");
    let (code, out) = doctor(&t.path().join("missing"), &t.path().join("s3.json"), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("does not exist"), "{out}");
}

#[test]
fn a_kid_reused_for_another_key_since_the_last_run_is_caught() {
    let (t, dir) = keydir();
    let state = t.path().join("state.json");
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    assert_eq!(doctor(&dir, &state, &[]).0, 0);
    assert_eq!(doctor(&dir, &state, &[]).0, 0, "same key, same verdict");
    write_private(dir.join("jitsi/k.pem"), &key(1).pkcs8);
    let (code, out) = doctor(&dir, &state, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIFFERENT key than at the last doctor run") && out.contains("new kid"),
        "{out}"
    );
    let (_, json, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&state),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], true, "the new key is remembered now");
}

#[test]
fn the_running_key_server_is_compared_kid_by_kid() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/same.pem"), &key(0).pkcs8);
    write_private(dir.join("jitsi/changed.pem"), &key(1).pkcs8);
    write_private(dir.join("jitsi/unpublished.pem"), &key(2).pkcs8);
    let (_t2, served) = keydir();
    write(served.join("jitsi/same.pem"), &key(0).spki);
    write(served.join("jitsi/changed.pem"), &key(3).spki);
    let server = Server::start(&served, &[]);
    let url = format!("http://{}", server.addr);
    let (code, out) = doctor(&dir, &t.path().join("s.json"), &["--url", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "✓ jitsi/same  served identically at {url}{}",
            key_path("jitsi/same")
        )),
        "{out}"
    );
    assert!(
        out.contains("✗ jitsi/changed") && out.contains("serves a DIFFERENT key"),
        "{out}"
    );
    assert!(
        out.contains("✗ jitsi/unpublished") && out.contains("HTTP 404"),
        "{out}"
    );
    let (_, json, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&t.path().join("s.json")),
        "--url",
        &url,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    // The .pem routes: one different key, one missing; the JWKS: the same
    // different key (the missing one is only a warning there).
    assert_eq!(
        (v["ok"].as_bool(), v["failures"].as_u64()),
        (Some(false), Some(3))
    );
    let jwks = &v["sections"][2];
    assert_eq!(jwks["title"], format!("JWKS {url}/.well-known/jwks.json"));
    let text = jwks["findings"].to_string();
    assert!(text.contains("the JWKS holds a DIFFERENT key"), "{text}");
    assert!(text.contains("Prosody reads it every 5m"), "{text}");
}

/// A key server on 127.0.0.1 that takes connections and runs `answer` on
/// each one (on its own thread).
fn key_server(answer: fn(std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(s) = stream else { break };
            std::thread::spawn(move || answer(s));
        }
    });
    url
}

/// Twenty public keys under jitsi/.
fn twenty_kids() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    for i in 0..20 {
        write(dir.join(format!("jitsi/k{i}.pem")), &key(0).spki);
    }
    (t, dir)
}

/// Issue 18 (8): against a key server that takes connections and never
/// answers, `doctor --url` stops after 3 timeouts in a row and says how many
/// kids it did not check, instead of waiting --timeout for each of them.
#[test]
fn a_key_server_that_never_answers_stops_the_audit_after_three_timeouts() {
    let (t, dir) = twenty_kids();
    let url = key_server(|s| {
        // Hold the connection open, unanswered, until the client goes.
        let mut s = s;
        let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
    });
    let state = path_str(&t.path().join("s.json"));
    let (code, out, err) = cli_within(
        std::time::Duration::from_secs(60),
        &[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &state,
            "--url",
            &url,
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let stopped = format!(
        "✗ {url}  stopped after 3 timeouts in a row: the key server at {url} does not answer; "
    );
    let line = out
        .lines()
        .find(|l| l.contains(&stopped))
        .unwrap_or_else(|| panic!("no {stopped:?} in\n{out}"));
    let unchecked: usize = line
        .rsplit_once("; ")
        .and_then(|(_, n)| n.strip_suffix(" kids not checked"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    let timed_out = out.matches("no answer within 1s").count();
    // The fetches in flight when the third timeout came end too; the rest wait.
    assert!(unchecked >= 10, "{out}");
    assert_eq!(
        unchecked + timed_out,
        20 + 1,
        "each kid once, and the JWKS:\n{out}"
    );
}

/// `--deadline` bounds the whole audit of a slow key server: what is not
/// fetched by then is counted in one finding.
#[test]
fn a_slow_key_server_is_audited_until_the_deadline() {
    let (t, dir) = twenty_kids();
    let url = key_server(|mut s| {
        use std::io::{BufRead as _, Write as _};
        let mut line = String::new();
        let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        // 0.6 s an answer: 20 kids, 4 at a time, take at least 3 s.
        std::thread::sleep(std::time::Duration::from_millis(600));
        let _ = s
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let state = path_str(&t.path().join("s.json"));
    let (code, out, err) = cli_within(
        std::time::Duration::from_secs(60),
        &[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &state,
            "--url",
            &url,
            "--deadline",
            "2s",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("✗ {url}  stopped at the --deadline of 2s: ")),
        "{out}"
    );
    assert!(
        out.contains("HTTP 404"),
        "kids answered before it are reported:\n{out}"
    );
    assert!(
        out.contains("not fetched: the --deadline of 2s ran out"),
        "the JWKS is not fetched after it:\n{out}"
    );
}

/// A Prosody config for one VirtualHost: `lines` under it.
fn prosody_config(dir: &std::path::Path, lines: &str) -> std::path::PathBuf {
    let path = dir.join("prosody.cfg.lua");
    write(
        &path,
        format!("VirtualHost \"meet.example.com\"\n    authentication = \"token\"\n{lines}\n"),
    );
    path
}

/// Issue 27 (9): a JWKS over 1 MiB (10,000 keys, 4.2 MB) used to be
/// "cannot fetch it: response body is larger than request limit", with
/// "make cache_keys_url reachable" as the fix, and no size warning: doctor
/// now counts every key, compares them, and warns of the stall with the
/// bounded JWKS as the fix.
#[test]
fn a_jwks_of_ten_thousand_keys_is_counted_and_weighed() {
    let (t, dir) = keydir();
    for i in 0..10_000 {
        write(dir.join(format!("jitsi/k{i}.pem")), &key(i % 4).spki);
    }
    let server = Server::start(&dir, &[]);
    let url = format!("http://{}", server.addr);
    let jwks = server.get("/.well-known/jwks.json");
    assert!(jwks.body.len() > 4_000_000, "{}", jwks.body.len());
    let (code, out, err) = cli_within(
        std::time::Duration::from_secs(300),
        &[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &path_str(&t.path().join("s.json")),
            "--url",
            &url,
            "--deadline",
            "4m",
        ],
    );
    let problems: Vec<&str> = out.lines().filter(|l| !l.contains("✓")).collect();
    assert_eq!(code, 0, "{}{err}", problems.join("\n"));
    assert!(
        out.contains("! size  10000 key(s), 4.2 MB")
            && out.contains("about 10000 x 2.5 ms = 25.0 s of Prosody's time every 5m")
            && out.contains(&format!(
                "fix: set cache_keys_url = \"{url}/.well-known/jwks.json?newest=2\""
            )),
        "{}",
        problems.join("\n")
    );
    assert!(!out.contains("reachable"), "{}", problems.join("\n"));
    assert_eq!(
        out.matches("in the JWKS with the same key as its .pem route")
            .count(),
        10_000,
        "every key compared"
    );
}

/// A stand-in for a hostile `cache_keys_url`: a 200 whose chunked JWKS
/// never ends, until the client hangs up.
fn endless_jwks() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            std::thread::spawn(move || {
                use std::io::{BufRead as _, Write as _};
                let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let entry = "{\"kid\":\"jitsi/x\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},";
                let chunk = entry.repeat(64 * 1024 / entry.len());
                let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
                let start =
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"keys\":[\r\n";
                if s.write_all(start).is_err() {
                    return;
                }
                while s.write_all(framed.as_bytes()).is_ok() {}
            });
        }
    });
    url
}

/// Issue 27 (9): a JWKS that never ends is read up to 64 MiB, then named as
/// too large for Prosody (with what it would cost and the bounded JWKS),
/// not as unreachable, and doctor ends.
#[test]
fn a_jwks_over_the_cap_is_its_own_finding_and_doctor_ends() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    let server = Server::start(&dir, &[]);
    let hostile = endless_jwks();
    let cfg = prosody_config(
        t.path(),
        &format!(
            "    app_id = \"jitsi\"\n    asap_key_server = \"http://{}\"\n    cache_keys_url = \"{hostile}\"",
            server.addr
        ),
    );
    // Reading 64 MiB of JSON in a debug build took over 60 s on a loaded
    // 2-core machine (a CI run beside two random walks): the timeout is
    // doctor's own, so it only needs to be far above the read.
    let (code, out, err) = cli_within(
        std::time::Duration::from_secs(420),
        &[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &path_str(&t.path().join("s.json")),
            "--prosody-config",
            &path_str(&cfg),
            "--timeout",
            "360s",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    let finding = format!("✗ size  the JWKS at {hostile} is larger than 64 MiB");
    assert!(out.contains(&finding), "no {finding:?} in\n{out}{err}");
    assert!(
        out.contains("Prosody's HTTP client takes at most 10 MiB, so this JWKS never reaches the token plugin")
            && out.contains("key(s) alone would cost about ")
            && out.contains(&format!("fix: set cache_keys_url = \"{hostile}?newest=2\"")),
        "{out}"
    );
    assert!(!out.contains("reachable"), "{out}");
}

/// Issue 27 (9): with a folder per tenant, doctor against tenant A's
/// Prosody used to call tenant B's issuer a problem (exit 1). Now B's
/// folder is a note, and it is a problem only when A has no key here.
#[test]
fn another_tenants_folder_is_a_note_unless_this_tenant_has_no_key() {
    let (t, dir) = keydir();
    write(dir.join("tenant-a/2026-12-01.pem"), &key(0).spki);
    write(dir.join("tenant-b/2026-12-01.pem"), &key(1).spki);
    let server = Server::start(&dir, &[]);
    let cfg = prosody_config(
        t.path(),
        &format!(
            "    app_id = \"tenant-a\"\n    asap_accepted_issuers = {{ \"tenant-a\" }}\n    asap_key_server = \"http://{}\"",
            server.addr
        ),
    );
    let doctor = || {
        cli(&[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &path_str(&t.path().join("s.json")),
            "--prosody-config",
            &path_str(&cfg),
        ])
    };
    let (code, out, err) = doctor();
    assert_eq!(code, 0, "{out}{err}");
    let note = format!(
        "· {}/  issuer \"tenant-b\" is not accepted by this Prosody",
        dir.join("tenant-b").display()
    );
    assert!(
        out.contains(&note) && out.contains("another tenant's keys?"),
        "no {note:?} in\n{out}"
    );
    assert!(
        out.contains("app_id = \"tenant-a\""),
        "the lines to paste name this tenant's issuer:\n{out}"
    );

    std::fs::remove_file(dir.join("tenant-a/2026-12-01.pem")).unwrap();
    let (code, out, err) = doctor();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("✗ asap_accepted_issuers  issuer \"tenant-b\" has keys in the key directory")
            && out.contains(
                "accepts issuer \"tenant-a\" (from asap_accepted_issuers), but the key directory has no key of it"
            ),
        "{out}"
    );
}

#[test]
fn a_secret_given_as_the_prosody_config_is_not_printed() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    // Hex from `openssl rand -hex 32`: Lua stops at it ("malformed number near '…'").
    let secret = "3f9a0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f";
    let file = t.path().join("backend.secret");
    write(&file, format!("{secret}\n"));
    let state = t.path().join("state.json");
    let (code, out, err) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&state),
        "--prosody-config",
        &path_str(&file),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    let out = format!("{out}{err}");
    assert!(
        out.contains("backend.secret: this is not a Prosody config"),
        "{out}"
    );
    assert!(!out.contains(&secret[..8]), "the secret was printed: {out}");
    // In a real config, Lua's syntax errors say the line, not the text there.
    let config = t.path().join("prosody.cfg.lua");
    write(
        &config,
        format!("app_id = \"jitsi\"\nasap_key_server = {secret}\n"),
    );
    let (code, out, err) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&state),
        "--prosody-config",
        &path_str(&config),
    ]);
    assert_eq!(code, 2, "{out}{err}");
    let out = format!("{out}{err}");
    assert!(
        out.contains("prosody.cfg.lua:2: malformed number (the text is not shown)"),
        "{out}"
    );
    assert!(!out.contains(&secret[..8]), "the secret was printed: {out}");
}

/// `doctor --config` for a login bridge with the README's sample scopes
/// (no `groups`) and a moderator rule on `groups`, against the real IdP:
/// a warning that names the missing scope (nobody would become moderator),
/// and the redirect URIs to register; with `groups` asked for, no warning.
#[test]
fn doctor_config_warns_of_a_moderator_claim_no_scope_releases_and_prints_the_redirect_uris() {
    let idp = crate::oidc::node(
        "idp.mjs",
        &[
            "http://127.0.0.1:9/oidc/callback",
            "http://meet.test/static/logout.html",
        ],
    );
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let run = |scopes: &str| {
        let (t, dir) = keydir();
        write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
        write(
            t.path().join("cookie.key"),
            format!("{}\n", "5a".repeat(32)),
        );
        let file = t.path().join("service.toml");
        write(
            &file,
            format!(
                "min_key_age = \"0s\"\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"jitsi\"\npublic_url = \"https://auth.example.com\"\n\
                 jitsi_url = \"https://meet.example.com/\"\nscopes = {scopes}\ntoken_issuer = \"jitsi\"\ncookie_key_file = \"cookie.key\"\n\
                 moderator = {{ claim = \"groups\", value = \"jitsi-moderators\" }}\n"
            ),
        );
        let (code, out, err) = cli(&[
            "doctor",
            "--keys",
            dir.to_str().unwrap(),
            "--state",
            t.path().join("s.json").to_str().unwrap(),
            "--config",
            file.to_str().unwrap(),
        ]);
        assert!(err.is_empty(), "{err}");
        (code, out)
    };
    let (code, out) = run("[\"openid\", \"profile\", \"email\"]");
    assert_eq!(code, 0, "a warning, not a problem: {out}");
    let warning = out
        .lines()
        .find(|l| l.contains("oidc.scopes"))
        .unwrap_or_else(|| panic!("no scopes warning in\n{out}"));
    assert!(
        warning.trim_start().starts_with('!') && warning.contains("\"groups\""),
        "{warning}"
    );
    assert!(out.contains("add \"groups\" to oidc.scopes"), "{out}");
    assert!(out.contains("1 warning(s)"), "{out}");
    for uri in [
        "redirect URI https://auth.example.com/oidc/callback",
        "post-logout redirect URI https://meet.example.com/static/logout.html",
        // Inline login: config.js's lines name this service.
        "sso: { tokenService: 'auth.example.com/oidc', clientId: 'jitsi-meet' }",
    ] {
        assert!(out.contains(uri), "no {uri:?} in\n{out}");
    }

    let (code, out) = run("[\"openid\", \"profile\", \"email\", \"groups\"]");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("oidc.scopes"), "{out}");
    assert!(
        out.ends_with("no problems: 0 problem(s), 0 warning(s)\n"),
        "{out}"
    );
    assert!(
        out.contains("redirect URI https://auth.example.com/oidc/callback"),
        "{out}"
    );
}
