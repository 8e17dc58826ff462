//! `login` against Debian's real Prosody (with the test-only modules of
//! tests/fixtures/prosody/login/): Prosody's own answers over WebSocket and
//! BOSH, every wait bounded, and bad endpoints named.

use crate::common::*;
use serde_json::json;
use std::io::{Read as _, Write as _};

fn token(changes: serde_json::Value) -> String {
    signed("jitsi/k", &key(0).pkcs8, changes)
}

fn login(args: &[&str]) -> (i32, String) {
    let mut all = vec!["login", "--timeout", "3s"];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    (code, format!("{out}{err}"))
}

fn expect(args: &[&str], code: i32, needles: &[&str]) -> String {
    let (got, out) = login(args);
    assert_eq!(got, code, "{args:?}:\n{out}");
    for n in needles {
        assert!(out.contains(n), "{args:?}: no {n:?} in\n{out}");
    }
    out
}

#[test]
fn prosodys_own_answers_over_websocket_and_bosh() {
    let prosody = Prosody::start(G3, None);
    let good = token(json!({"room": "standup"}));
    for (flag, url) in [
        ("--websocket", prosody.websocket()),
        ("--bosh", prosody.bosh()),
    ] {
        let base = [flag, url.as_str(), "--domain", "meet.test"];
        let with = |extra: &[&'static str]| -> Vec<&str> {
            base.iter().copied().chain(extra.iter().copied()).collect()
        };
        let mut args = with(&["--room", "standup"]);
        args.insert(0, &good);
        expect(
            &args,
            0,
            &[
                "✓ SASL      ANONYMOUS with the token: success",
                "✓ focus     focus.meet.test answered the conference request for standup@conference.meet.test",
                "✓ join      joined standup@conference.meet.test",
                "Prosody ACCEPTED the login and the join",
            ],
        );
        // Refused at the login for an iss no setting given here could
        // check: the answer is explained, and the iss check follows.
        let other_iss = token(json!({"room": "standup", "iss": "other"}));
        let mut args = with(&["--room", "standup"]);
        args.insert(0, &other_iss);
        expect(
            &args,
            1,
            &[
                "✗ SASL      not-allowed: invalid 'iss' claim",
                "What Prosody's answer means (iss):",
                "  the token's iss is missing or not one of the issuers Prosody accepts",
                "Offline checks of the token (asap-keyserver verify), checked as",
                "! iss               \"other\"",
                "accepted only if app_id or asap_accepted_issuers includes \"other\"",
            ],
        );
        let mut args = with(&["--room", "standup", "--app-id", "jitsi"]);
        args.insert(0, &other_iss);
        expect(
            &args,
            1,
            &[
                "✗ iss               \"other\"",
                "here: mint with iss \"jitsi\"",
            ],
        );
        // Refused at the login, in Prosody's words, explained offline.
        let no_sub = token(json!({"room": "standup", "sub": null}));
        let mut args = with(&["--room", "standup"]);
        args.insert(0, &no_sub);
        expect(
            &args,
            1,
            &[
                "✗ SASL      not-authorized: sub claim is missing",
                "Offline checks of the token",
                "✗ sub",
                "Prosody REFUSED at SASL: not-authorized (sub claim is missing)",
            ],
        );
        let expired = token(json!({"room": "standup", "exp": now() - 10}));
        let mut args = with(&["--room", "standup"]);
        args.insert(0, &expired);
        expect(
            &args,
            1,
            &["✗ SASL      not-allowed: Not acceptable by exp", "✗ exp"],
        );
        // Logged in, then refused at the join: "connects, then disconnects".
        let mut args = with(&["--room", "elsewhere"]);
        args.insert(0, &good);
        expect(
            &args,
            1,
            &[
                "✓ SASL",
                "✗ join      elsewhere@conference.meet.test: not-allowed (Room and token mismatched)",
                "What Prosody's answer means (room-mismatch):",
                "The token's claims against the room, checked as",
                "✗ room              \"standup\", joining \"elsewhere\"",
                "Prosody REFUSED at join: not-allowed",
            ],
        );
        // --no-join stops after bind.
        let mut args = with(&["--no-join"]);
        args.insert(0, &good);
        let out = expect(
            &args,
            0,
            &[
                "✓ bind      bound as ",
                "Prosody ACCEPTED the login (no room joined)",
            ],
        );
        assert!(!out.contains("join "), "{out}");
    }
    // The same as data.
    let (code, out) = login(&[
        &good,
        "--websocket",
        &prosody.websocket(),
        "--domain",
        "meet.test",
        "--room",
        "elsewhere",
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"], "refused");
    assert_eq!(v["steps"][4]["check"], "join");
    assert_eq!(v["explain"][0]["status"], "fail");
}

#[test]
fn without_the_focus_the_room_does_not_exist() {
    let prosody = Prosody::start(ProsodySetup { focus: false, ..G3 }, None);
    let good = token(json!({"room": "standup"}));
    expect(
        &[
            &good,
            "--websocket",
            &prosody.websocket(),
            "--domain",
            "meet.test",
            "--room",
            "standup",
        ],
        1,
        &[
            "! focus     focus.meet.test refused the conference request",
            "✗ join      standup@conference.meet.test: item-not-found (room does not exist",
        ],
    );
}

#[test]
fn the_2024_plugin_gives_no_sasl_answer_and_login_does_not_hang() {
    let prosody = Prosody::start(ProsodySetup { mode: "g1", ..G3 }, None);
    let no_room = token(json!({"room": null}));
    for (flag, url) in [
        ("--websocket", prosody.websocket()),
        ("--bosh", prosody.bosh()),
    ] {
        expect(
            &[
                &no_room,
                flag,
                &url,
                "--domain",
                "meet.test",
                "--room",
                "standup",
            ],
            1,
            &[
                "✗ SASL      no answer from Prosody within 3s",
                "crashes its SASL reply when the token has no room claim",
                "✗ room",
                "Prosody REFUSED at SASL: no answer within 3s",
            ],
        );
    }
    assert!(prosody
        .log()
        .contains("the token plugin's missing-room reply crashes here"));
}

#[test]
fn a_meeting_url_is_read_as_the_client_reads_it_with_config_js() {
    let prosody = Prosody::start(G3, None);
    let www = tempdir();
    std::fs::write(
        www.path().join("config.js"),
        format!(
            "var config = {{\n    hosts: {{\n        domain: 'meet.test',\n        muc: 'conference.meet.test'\n    }},\n    websocket: '{}',\n}};\n",
            prosody.websocket()
        ),
    )
    .unwrap();
    let web = StaticServer::start(www.path());
    let good = token(json!({"room": "standup"}));
    let url = format!("{}/Standup?jwt={good}", web.url);
    expect(
        &[&url],
        0,
        &[
            &format!("read {}/config.js", web.url),
            &format!("✓ connect   WebSocket {}", prosody.websocket()),
            "Prosody ACCEPTED the login and the join",
        ],
    );
}

#[test]
fn wss_with_a_test_ca() {
    let pki = TestPki::new();
    let (cert, key) = pki.issue("prosody", "127.0.0.1");
    let cert_name: &'static str = Box::leak(
        cert.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );
    let key_name: &'static str = Box::leak(
        key.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
            .into_boxed_str(),
    );
    let prosody = Prosody::start(
        ProsodySetup {
            tls: Some((cert_name, key_name)),
            ..G3
        },
        Some(pki.dir.path()),
    );
    let wss = format!(
        "{}/xmpp-websocket",
        prosody.https.as_ref().unwrap().replacen("https", "wss", 1)
    );
    let good = token(json!({"room": "standup"}));
    let ca = path_str(&pki.ca);
    expect(
        &[
            &good,
            "--websocket",
            &wss,
            "--domain",
            "meet.test",
            "--room",
            "standup",
            "--ca-file",
            &ca,
        ],
        0,
        &["Prosody ACCEPTED the login and the join"],
    );
    expect(
        &[
            &good,
            "--websocket",
            &wss,
            "--domain",
            "meet.test",
            "--room",
            "standup",
        ],
        2,
        &["✗ connect   TLS failed", "UnknownIssuer"],
    );
}

/// A TCP server on 127.0.0.1 that answers every connection with `reply`
/// (or, with `None`, says nothing and keeps it open).
fn fake_server(reply: Option<&'static [u8]>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            match reply {
                Some(r) => {
                    let _ = s.write_all(r);
                }
                None => held.push(s),
            }
        }
    });
    format!("127.0.0.1:{}", addr.port())
}

/// `login` to `addr` over WebSocket and BOSH: no verdict (exit 2), `needles` said.
fn both_transports(token: &str, addr: &str, needles: &[&str]) {
    for (flag, url) in [
        ("--websocket", format!("ws://{addr}/xmpp-websocket")),
        ("--bosh", format!("http://{addr}/http-bind")),
    ] {
        expect(
            &[token, flag, &url, "--domain", "meet.test", "--room", "r"],
            2,
            needles,
        );
    }
}

#[test]
fn unreachable_garbage_silent_and_redirecting_endpoints_are_errors() {
    let good = token(json!({"room": "standup"}));
    let closed = format!("ws://127.0.0.1:{}/xmpp-websocket", free_port());
    expect(
        &[
            &good,
            "--websocket",
            &closed,
            "--domain",
            "meet.test",
            "--room",
            "r",
        ],
        2,
        &["✗ connect   cannot connect"],
    );
    let garbage = fake_server(Some(b"garbage garbage\r\n\r\n"));
    both_transports(&good, &garbage, &["✗ connect   not XMPP"]);
    let silent = fake_server(None);
    expect(
        &[
            &good,
            "--websocket",
            &format!("ws://{silent}/xmpp-websocket"),
            "--domain",
            "meet.test",
            "--room",
            "r",
        ],
        2,
        &["✗ connect   no complete answer within 3s"],
    );
    let redirect = fake_server(Some(
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://meet.example.com/xmpp-websocket\r\nContent-Length: 0\r\n\r\n",
    ));
    both_transports(
        &good,
        &redirect,
        &[
            "HTTP 301, a redirect to https://meet.example.com/xmpp-websocket",
            "use the final URL",
        ],
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let good = token(json!({"room": "standup"}));
    expect(
        &[
            "not-a-jwt",
            "--websocket",
            "ws://127.0.0.1:1/x",
            "--domain",
            "d",
            "--room",
            "r",
        ],
        2,
        &["not a JWT"],
    );
    expect(
        &["https://meet.example.com/?jwt=a.b.c"],
        2,
        &["names no room"],
    );
    expect(
        &["https://meet.example.com/room"],
        2,
        &["has no ?jwt= token"],
    );
    expect(
        &[&good, "--websocket", "ws://127.0.0.1:1/x", "--domain", "d"],
        2,
        &["--room NAME"],
    );
    expect(
        &[&good, "--room", "r"],
        2,
        &["--websocket URL or --bosh URL"],
    );
}

/// Issue 17: every refusal at SASL is followed by the checks that show its
/// cause: a wrong aud, an unpublished kid, a signature by another key, and
/// a key replaced under its kid (the real serve says since when) — against
/// the real Prosody fetching keys from the real serve.
#[test]
fn refusals_at_login_are_followed_by_the_checks_that_show_them() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    let server = Server::start(&dir, &[]);
    let url = format!("http://{}", server.addr);
    let prosody = Prosody::start(
        ProsodySetup {
            key_server: Some(url.clone()),
            host_lines: "    asap_accepted_audiences = { \"jitsi\" }\n".into(),
            ..G3
        },
        None,
    );
    let ws = prosody.websocket();
    let run = |token: &str, needles: &[&str]| {
        expect(
            &[
                token,
                "--websocket",
                &ws,
                "--domain",
                "meet.test",
                "--room",
                "standup",
                "--key-server",
                &url,
                "--app-id",
                "jitsi",
                "--accepted-audiences",
                "jitsi",
            ],
            1,
            needles,
        )
    };
    let signed = |kid: &str, pem: &str, changes: serde_json::Value| {
        let mut claims = good_claims();
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        token_with(
            &json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            &claims,
            pem,
        )
    };
    run(
        &signed("jitsi/k", &key(0).pkcs8, json!({"aud": "other"})),
        &[
            "✗ SASL      not-allowed: invalid 'aud' claim",
            "What Prosody's answer means (aud):",
            "✗ aud               \"other\"",
        ],
    );
    run(
        &signed("jitsi/nowhere", &key(0).pkcs8, json!({})),
        &[
            "✗ SASL      not-allowed: could not obtain public key",
            "What Prosody's answer means (no-key):",
            "✗ key               HTTP 404",
        ],
    );
    run(
        &signed("jitsi/k", &key(1).pkcs8, json!({})),
        &[
            "✗ SASL      not-allowed: Invalid signature",
            "What Prosody's answer means (signature):",
            "✗ signature         invalid",
        ],
    );
    // Replaced under its kid after this Prosody fetched it: Prosody keeps
    // the old key, and login says why, with when.
    write_atomic(dir.join("jitsi/k.pem"), &key(2).spki);
    server.wait_key("jitsi/k", key(2));
    let out = run(
        &signed("jitsi/k", &key(2).pkcs8, json!({})),
        &[
            "✗ SASL      not-allowed: Invalid signature",
            "! key replaced      kid \"jitsi/k\" holds another key since ",
            "accepted only if Prosody has not fetched kid \"jitsi/k\" through asap_key_server before",
        ],
    );
    assert!(out.contains("✓ signature         valid"), "{out}");
}

/// Issue 17: with the 2024 plugin and no muc_mapper_domain_base, a token
/// with sub "*" logs in and is refused at the join; login must not tick
/// the sub claim the join refused.
#[test]
fn a_join_refused_for_sub_never_ticks_sub() {
    let prosody = Prosody::start(
        ProsodySetup {
            mode: "g1",
            muc_base: false,
            ..G3
        },
        None,
    );
    let out = expect(
        &[
            &token(json!({"room": "standup"})),
            "--websocket",
            &prosody.websocket(),
            "--domain",
            "meet.test",
            "--room",
            "standup",
        ],
        1,
        &[
            "✓ SASL",
            "✗ join      standup@conference.meet.test: not-allowed (Room and token mismatched)",
            "What Prosody's answer means (room-mismatch):",
            "! sub               \"*\"",
            "matches sub \"*\" and tenants under muc_mapper_domain_base",
        ],
    );
    assert!(!out.contains("✓ sub"), "{out}");
}

/// A hostile endpoint on 127.0.0.1: each connection's request head is read,
/// then `act` gets the connection and the head.
fn hostile_server(act: fn(std::net::TcpStream, String)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { break };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                act(s, String::from_utf8_lossy(&head).into_owned());
            });
        }
    });
    format!("127.0.0.1:{}", addr.port())
}

/// Writes `bytes` one at a time, `gap` apart, until the client goes.
fn trickle(s: &mut std::net::TcpStream, bytes: impl Iterator<Item = u8>, gap: std::time::Duration) {
    for b in bytes {
        if s.write_all(&[b]).is_err() {
            return;
        }
        std::thread::sleep(gap);
    }
}

/// The 101 answer to a WebSocket upgrade request, for the `xmpp` subprotocol.
fn upgrade(head: &str) -> String {
    use base64::Engine as _;
    let key = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Sec-WebSocket-Key: ")
                .or_else(|| l.strip_prefix("sec-websocket-key: "))
        })
        .unwrap_or_default()
        .trim();
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// Issue 18 (7): `--timeout` bounds each step as a whole, not each read: a
/// server that trickles a frame, the upgrade's headers or a BOSH body one
/// byte at a time ends the step at its deadline (exit 2, naming the step
/// and the limit); a frame announced over 1 MiB is refused before it is
/// read.
#[test]
fn a_server_that_trickles_ends_the_step_at_its_deadline() {
    let good = token(json!({"room": "standup"}));
    // A text frame header announcing 60,000 bytes, then one byte every 0.5 s.
    let frame = hostile_server(|mut s, head| {
        s.write_all(upgrade(&head).as_bytes()).unwrap();
        s.write_all(&[0x81, 126, 0xEA, 0x60]).unwrap();
        trickle(
            &mut s,
            std::iter::repeat(b'x'),
            std::time::Duration::from_millis(500),
        );
    });
    // The upgrade's answer one byte at a time, a header that never ends.
    let headers = hostile_server(|mut s, _| {
        let start = b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: "
            .iter()
            .copied();
        trickle(
            &mut s,
            start.chain(std::iter::repeat(b'a')),
            std::time::Duration::from_millis(50),
        );
    });
    // BOSH: a 200 announcing 60,000 bytes of body, sent one byte every 0.5 s.
    let bosh = hostile_server(|mut s, _| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 60000\r\n\r\n<body ",
        );
        trickle(
            &mut s,
            std::iter::repeat(b' '),
            std::time::Duration::from_millis(500),
        );
    });
    let timed_out =
        "✗ connect   no complete answer within 2s (--timeout, the limit of the whole step)";
    for (flag, url) in [
        ("--websocket", format!("ws://{frame}/xmpp-websocket")),
        ("--websocket", format!("ws://{headers}/xmpp-websocket")),
        ("--bosh", format!("http://{bosh}/http-bind")),
    ] {
        let (code, out, err) = cli_within(
            std::time::Duration::from_secs(30),
            &[
                "login",
                &good,
                "--timeout",
                "2s",
                flag,
                &url,
                "--domain",
                "meet.test",
                "--room",
                "r",
            ],
        );
        assert_eq!(code, 2, "{url}:\n{out}{err}");
        assert!(
            out.contains(timed_out),
            "{url}: no {timed_out:?} in\n{out}{err}"
        );
        assert!(
            out.contains("no answer from Prosody: no complete answer within 2s"),
            "{url}:\n{out}"
        );
    }
    // A frame announced over 1 MiB: refused at its header, nothing buffered.
    let huge = hostile_server(|mut s, head| {
        s.write_all(upgrade(&head).as_bytes()).unwrap();
        // 127: a 64-bit length follows, 2 MiB.
        s.write_all(&[0x81, 127, 0, 0, 0, 0, 0, 0x20, 0, 0])
            .unwrap();
        trickle(
            &mut s,
            std::iter::repeat(b'x'),
            std::time::Duration::from_millis(500),
        );
    });
    let (code, out, err) = cli_within(
        std::time::Duration::from_secs(30),
        &[
            "login",
            &good,
            "--timeout",
            "20s",
            "--websocket",
            &format!("ws://{huge}/xmpp-websocket"),
            "--domain",
            "meet.test",
            "--room",
            "r",
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("✗ connect   not XMPP: ") && out.contains("(the limit is 1 MiB)"),
        "{out}{err}"
    );
}
