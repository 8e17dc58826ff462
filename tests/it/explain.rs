//! `explain` on logs that Debian's real Prosody wrote during the test:
//! the real `serve` as its asap_key_server (or a static server for bodies
//! `serve` never sends), logins with `asap-keyserver login` and tokens
//! that fail for one cause each, then Prosody's own log, untouched, fed to
//! `explain`. The console sink's output (what `docker logs` shows) is real
//! too; the journal format is made from the real lines (there is no
//! journald here), as journalctl prints the syslog sink's records.

use crate::common::*;
use asap_keyserver::check::causes::{self, Cause};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// A token for `kid` signed with `pem`: good claims with `changes`.
fn token(kid: &str, pem: &str, changes: Value) -> String {
    signed(kid, pem, changes)
}

/// Logs in with `token` over WebSocket (`ws`) or BOSH and joins `room`;
/// `login`'s exit status must be `code` (0 accepted, 1 refused).
fn login(prosody: &Prosody, transport: &str, token: &str, room: &str, code: i32) {
    let (flag, url) = match transport {
        "ws" => ("--websocket", prosody.websocket()),
        _ => ("--bosh", prosody.bosh()),
    };
    let (got, out, err) = cli(&[
        "login",
        token,
        flag,
        &url,
        "--domain",
        "meet.test",
        "--room",
        room,
        "--timeout",
        "3s",
    ]);
    assert_eq!(got, code, "login to {room} over {transport}:\n{out}{err}");
}

/// `explain -` on `log`: (exit status, stdout).
fn explain(log: &str, json: bool) -> (i32, String) {
    let mut args = vec!["explain", "-"];
    if json {
        args.push("--json");
    }
    let (code, out, err) = cli_stdin(&args, Some(log));
    assert!(err.is_empty(), "explain said on stderr: {err}");
    (code, out)
}

/// Cause id -> count, from `explain --json` on `log` (which must exit 1).
fn counts(log: &str) -> BTreeMap<String, u64> {
    let (code, out) = explain(log, true);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn expected(pairs: &[(&Cause, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(c, n)| (c.id.to_owned(), *n)).collect()
}

/// The file sink's lines as `journalctl -u prosody` prints the syslog
/// sink's records: `Mon DD HH:MM:SS host prosody[pid]: source: message`,
/// no level, the continuation lines indented to the message.
fn as_journal(file_log: &str) -> String {
    let mut out = String::new();
    for line in file_log.lines() {
        match line.splitn(3, '\t').collect::<Vec<_>>()[..] {
            [head, _level, message] if !line.starts_with('\t') => {
                let (time, source) = head.split_at(15);
                out.push_str(&format!(
                    "{time} testhost prosody[4242]:{source}: {message}\n"
                ));
            }
            _ => out.push_str(&format!("{:38}{line}\n", "")),
        }
    }
    out
}

/// The console sink's lines as `docker compose logs` prints them.
fn as_compose(console_log: &str) -> String {
    console_log
        .lines()
        .map(|l| format!("prosody-1  | {l}\n"))
        .collect()
}

/// `n` records of Prosody's log that contain `needle`.
fn logged(prosody: &Prosody, needle: &str) -> usize {
    prosody.log().matches(needle).count()
}

#[test]
fn a_2026_prosody_on_serve_every_login_cause_counted_once() {
    let (_t, keys) = keydir();
    write_private(keys.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&keys, &[]);
    server.wait_key("jitsi/k", key(0));
    let prosody = Prosody::start(
        ProsodySetup {
            mode: "g3",
            focus: true,
            tls: None,
            key_server: Some(format!("http://{}", server.addr)),
            muc_base: true,
            host_lines: "    asap_accepted_audiences = { \"jitsi\" }\n".to_owned(),
        },
        None,
    );
    let signed = |changes: Value| token("jitsi/k", &key(0).pkcs8, changes);

    // Only successful logins: nothing to explain.
    let good = signed(json!({}));
    login(&prosody, "ws", &good, "standup", 0);
    login(&prosody, "bosh", &good, "standup", 0);
    wait_until("two logins logged", || {
        logged(&prosody, "Authenticated as") == 2
    });
    let (code, out) = explain(&prosody.log(), false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.ends_with(" line(s)\n") && out.contains("no token failure in "),
        "{out}"
    );

    let tokens = [
        ("ws", signed(json!({"exp": now() - 100})), "standup"),
        ("bosh", signed(json!({"iss": "other"})), "standup"),
        ("ws", signed(json!({"aud": "other"})), "standup"),
        (
            "ws",
            token("jitsi/unpublished", &key(1).pkcs8, json!({})),
            "standup",
        ),
        (
            "bosh",
            token("jitsi/k", &key(1).pkcs8, json!({})),
            "standup",
        ),
        ("ws", signed(json!({"sub": null})), "standup"),
        ("ws", signed(json!({"room": null})), "standup"),
        ("ws", good.clone(), "elsewhere"),
    ];
    for (transport, t, room) in &tokens {
        login(&prosody, transport, t, room, 1);
    }
    wait_until("every refusal logged", || {
        logged(&prosody, "Error verifying token") == 7
            && logged(&prosody, "not allowed to join") == 1
    });
    let want = expected(&[
        (&causes::EXP, 1),
        (&causes::ISS, 1),
        (&causes::AUD, 1),
        (&causes::NO_KEY, 1),
        (&causes::SIGNATURE, 1),
        (&causes::SUB_MISSING, 1),
        (&causes::ROOM_MISSING, 1),
        (&causes::ROOM_MISMATCH, 1),
    ]);

    // The real file, untouched, by path.
    let path = path_str(&prosody.log_path());
    let (code, out, err) = cli(&["explain", &path, "--json"]);
    assert_eq!((code, err.as_str()), (1, ""), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failures"], 8);
    assert_eq!(v["formats"], json!(["file"]));
    for c in v["causes"].as_array().unwrap() {
        let cause = causes::CAUSES
            .iter()
            .find(|k| k.id == c["id"])
            .unwrap_or_else(|| panic!("not a cause of the table: {c}"));
        assert_eq!(c["fix"], cause.fix, "{c}");
        assert_eq!(c["why"], cause.why, "{c}");
        assert_eq!(c["check"], cause.check.as_str(), "{c}");
        assert_eq!(c["says"], cause.says[0], "{c}");
        assert!(c["first"].as_str().is_some_and(|t| t.len() == 15), "{c}");
        assert!(!c["examples"].as_array().unwrap().is_empty(), "{c}");
    }
    assert_eq!(counts(&prosody.log()), want);
    let by_id = |id: &str| -> Value {
        v["causes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    let no_key = by_id("no-key");
    assert_eq!(no_key["stage"], "login");
    assert!(
        no_key["examples"]
            .to_string()
            .contains("Error on GET request: Code 404"),
        "{no_key}"
    );
    let mismatch = by_id("room-mismatch");
    assert_eq!(mismatch["stage"], "join");
    assert_eq!(
        mismatch["next"],
        json!(["asap-keyserver login \"https://meet.test/elsewhere?jwt=$TOKEN\""])
    );
    // The 2026 plugin logs the whole token of a refused join: never shown.
    assert!(prosody.log().contains(&good), "the refusal logs the token");
    assert!(mismatch["examples"][0].as_str().unwrap().starts_with(
        "Token [REDACTED TOKEN] not allowed to join: elsewhere@conference.meet.test/"
    ));

    // As text: the table's words, Prosody's, and no token.
    let (code, text) = explain(&prosody.log(), false);
    assert_eq!(code, 1);
    for needle in [
        "(file format)",
        "✗ no-key  once, ",
        "Prosody says: Error verifying token err:not-allowed, reason:could not obtain public key",
        "and: Error on GET request: Code 404",
        &format!("    fix: {}\n", causes::NO_KEY.fix),
        &format!("    {}\n", causes::SIGNATURE.why),
        "next: asap-keyserver verify --prosody-config /etc/prosody/conf.d/meet.test.cfg.lua \"$TOKEN\"",
        "✗ room-mismatch  once, ",
        "at the room join",
        "TOKEN FAILURES: 8 failure(s) of 8 cause(s)",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    for output in [&out, &text] {
        assert!(!output.contains("eyJ"), "a token in\n{output}");
        for (_, t, _) in &tokens {
            assert!(!output.contains(t.as_str()));
        }
    }

    // The same failures in the other formats.
    assert_eq!(
        counts(&prosody.console_log()),
        want,
        "console (docker logs)"
    );
    assert_eq!(
        counts(&as_compose(&prosody.console_log())),
        want,
        "docker compose"
    );
    let journal = as_journal(&prosody.log());
    let (_, out) = explain(&journal, true);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["formats"],
        json!(["journal"])
    );
    assert_eq!(counts(&journal), want, "journal");
}

#[test]
fn a_2024_prosodys_crashes_and_missing_base_explained() {
    // A static key server: serve never answers with a certificate.
    let www = tempdir();
    let pki = TestPki::new();
    write(www.path().join(&key_path("jitsi/k")[1..]), &key(0).spki);
    write(
        www.path().join(&key_path("jitsi/cert")[1..]),
        std::fs::read(&pki.ca).unwrap(),
    );
    write(
        www.path().join("jwks.json"),
        r#"{"keys":[{"kty":"RSA","kid":"jitsi/k","n":"AQAB","e":"AQAB"}]}"#,
    );
    let web = StaticServer::start(www.path());
    let prosody = Prosody::start(
        ProsodySetup {
            mode: "g1",
            focus: true,
            tls: None,
            key_server: Some(web.url.clone()),
            muc_base: false,
            host_lines: format!("    cache_keys_url = \"{}/jwks.json\"\n", web.url),
        },
        None,
    );
    // The 2024 plugin reads a JWKS at cache_keys_url as something else.
    wait_until("the cache_keys_url runner failed", || {
        logged(&prosody, "Error in 'error' watcher") == 1
    });
    let signed = |changes: Value| token("jitsi/k", &key(0).pkcs8, changes);
    let no_room = signed(json!({"room": null}));
    let cert = token("jitsi/cert", &key(0).pkcs8, json!({}));
    let any_sub = signed(json!({}));
    login(&prosody, "ws", &no_room, "standup", 1);
    login(&prosody, "bosh", &no_room, "standup", 1);
    login(&prosody, "ws", &cert, "standup", 1);
    // The body stays cached for the kid: the same crash again.
    login(&prosody, "bosh", &cert, "standup", 1);
    login(&prosody, "ws", &signed(json!({"sub": null})), "standup", 1);
    login(&prosody, "ws", &any_sub, "standup", 1);
    login(&prosody, "ws", &any_sub, "[acme]standup", 1);
    wait_until("every crash and refusal logged", || {
        logged(&prosody, "Traceback[") == 5 && logged(&prosody, "not allowed to join") == 2
    });
    let log = prosody.log();
    for real in [
        "Traceback[c2s]: /usr/lib/prosody/util/stanza.lua:51: invalid tag name",
        "Traceback[bosh]: /usr/lib/prosody/util/stanza.lua:51: invalid tag name",
        "Traceback[c2s]: pkey.new:",
        "Traceback[bosh]: pkey.new:",
        "bad argument #1 to 'lower' (string expected, got nil)",
        "Encountered error: ",
        "No 'muc_domain_base' option set, denying access!",
    ] {
        assert!(log.contains(real), "Prosody did not log {real:?}:\n{log}");
    }
    let want = expected(&[
        (&causes::ROOM_MISSING_CRASH, 2),
        (&causes::KEY_NOT_PARSED, 2),
        (&causes::SUB_MISSING, 1),
        (&causes::ROOM_MISMATCH, 1),
        (&causes::NO_MUC_BASE, 1),
        (&causes::JWKS_REFRESH, 1),
    ]);
    assert_eq!(counts(&log), want, "file");
    assert_eq!(counts(&prosody.console_log()), want, "console");
    assert_eq!(counts(&as_journal(&log)), want, "journal");

    let (_, out) = explain(&log, true);
    let v: Value = serde_json::from_str(&out).unwrap();
    let by_id = |id: &str| {
        v["causes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("sub-missing")["stage"], "join");
    assert_eq!(by_id("jwks-refresh")["stage"], "setup");
    assert!(by_id("room-missing-no-answer")["examples"]
        .to_string()
        .contains("invalid tag name"));
    assert!(by_id("room-mismatch")["examples"][0]
        .as_str()
        .unwrap()
        .starts_with("Token [REDACTED TOKEN] not allowed to join: standup@conference.meet.test/"));
    for t in [&no_room, &cert, &any_sub] {
        assert!(!out.contains(t.as_str()));
    }
    assert!(!out.contains("eyJ"));
}

#[test]
fn a_key_server_that_never_answers_is_one_failure() {
    // Accepts and keeps every connection, says nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(held);
    });
    let prosody = Prosody::start(
        ProsodySetup {
            mode: "g3",
            focus: true,
            tls: None,
            key_server: Some(format!("http://{addr}")),
            muc_base: true,
            // The plugin waits 30 s per attempt and retries 3 times.
            host_lines: "    test_http_timeout = 1\n    test_http_retries = 1\n".to_owned(),
        },
        None,
    );
    let t = token("jitsi/k", &key(0).pkcs8, json!({}));
    let ws = prosody.websocket();
    let (code, out, _) = cli(&[
        "login",
        &t,
        "--websocket",
        &ws,
        "--domain",
        "meet.test",
        "--room",
        "standup",
        "--timeout",
        "15s",
    ]);
    assert!(
        code == 1 && out.contains("could not obtain public key"),
        "{out}"
    );
    wait_until("the refusal logged", || {
        logged(&prosody, "could not obtain public key") == 1
    });
    let log = prosody.log();
    assert_eq!(
        log.matches("Timeout 1 seconds making the external call to: ")
            .count(),
        2
    );
    assert_eq!(log.matches("Timeout retrieving jitsi/k from ").count(), 1);
    assert_eq!(counts(&log), expected(&[(&causes::NO_KEY, 1)]));
    let (_, out) = explain(&log, true);
    let v: Value = serde_json::from_str(&out).unwrap();
    let examples = v["causes"][0]["examples"].to_string();
    assert!(
        examples.contains("Timeout retrieving jitsi/k from "),
        "{examples}"
    );
}

#[test]
fn set_up_errors_are_causes_too() {
    let prosody = Prosody::start(
        ProsodySetup {
            mode: "g3",
            focus: true,
            tls: None,
            key_server: None,
            muc_base: true,
            host_lines: "    app_id = \"\"\n".to_owned(),
        },
        None,
    );
    wait_until("both modules said so", || {
        logged(&prosody, "'app_id' must not be empty") == 2
    });
    assert_eq!(counts(&prosody.log()), expected(&[(&causes::NO_APP_ID, 2)]));
    let (_, text) = explain(&prosody.log(), false);
    assert!(
        text.contains("in Prosody's set-up") && text.contains(causes::NO_APP_ID.fix),
        "{text}"
    );
}

#[test]
fn unreadable_input_is_an_error_and_odd_input_is_read() {
    let t = tempdir();
    let missing = path_str(&t.path().join("prosody.log"));
    let (code, _, err) = cli(&["explain", &missing]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no such file") && err.contains("journalctl"),
        "{err}"
    );
    let (code, _, err) = cli(&["explain", &path_str(t.path())]);
    assert_eq!(code, 2);
    assert!(err.contains("is a directory"), "{err}");

    // Not UTF-8, CRLF, a docker prefix, a traceback cut at the end.
    let odd = t.path().join("odd.log");
    let mut bytes = b"\xff\xfe garbage\r\n".to_vec();
    bytes.extend_from_slice(
        b"prosody-1  | 2026-12-01 15:33:42 meet.test:auth_token  warn\tError verifying token err:not-allowed, reason:Invalid typ\r\n\
          Dec 01 15:32:22 c2s55c4\terror\tTraceback[c2s]: pkey.new: decoder_lib.c:103:error:1E08010C:DECODER routines::unsupported\n\
          \tstack traceback:",
    );
    std::fs::write(&odd, bytes).unwrap();
    let (code, out, _) = cli(&["explain", &path_str(&odd), "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failures"], 2);
    assert_eq!(v["formats"], json!(["file", "console"]));

    // Nothing on stdin: no failure, and the reason why.
    let (code, out) = explain("", false);
    assert_eq!(code, 0);
    assert!(
        out.contains("no token failure in 0 line(s): no line of a Prosody log"),
        "{out}"
    );

    // --help documents the formats and the exit status.
    let help = cli_ok(&["explain", "--help"]);
    for needle in [
        "journalctl -u prosody",
        "docker logs",
        "Exit status:",
        "explain: token failures in the log",
    ] {
        assert!(help.contains(needle), "no {needle:?} in\n{help}");
    }

    // A reader that stops early changes nothing.
    let log = format!(
        "{}Dec 01 15:32:18 meet.test:auth_token\twarn\tError verifying token err:not-allowed, reason:Invalid signature\n",
        "Dec 01 15:32:17 c2s1\tinfo\tClient connected\n".repeat(1000)
    );
    std::fs::write(t.path().join("big.log"), log).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(bin())
        .args(["explain", &path_str(&t.path().join("big.log"))])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
}
