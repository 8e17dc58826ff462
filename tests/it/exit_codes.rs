//! Exit status, as ripgrep's: 0 = accepted / no problems, 1 = rejected /
//! problems found, 2 = any error; a reader that closes stdout early is no
//! error and does not change the verdict.

use crate::common::*;
use serde_json::json;
use std::process::{Command, Stdio};

fn header(kid: &str) -> serde_json::Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

/// A key directory with one private key (mode 0600), and a token it signed.
fn signed() -> (tempfile::TempDir, String, String) {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let token = token_with(&header("jitsi/k"), &good_claims(), &key(0).pkcs8);
    (t, path_str(&dir), token)
}

fn expired() -> String {
    let mut claims = good_claims();
    claims["exp"] = json!(now() - 60);
    token_with(&header("jitsi/k"), &claims, &key(0).pkcs8)
}

fn expect(args: &[&str], code: i32, needle: &str) {
    let (got, out, err) = cli(args);
    assert_eq!(got, code, "{args:?}: {out}{err}");
    assert!(
        out.contains(needle) || err.contains(needle),
        "{args:?}: no {needle:?} in {out}{err}"
    );
}

#[test]
fn help_documents_the_exit_status() {
    for args in [
        &["--help"][..],
        &["verify", "--help"],
        &["doctor", "--help"],
    ] {
        let out = cli_ok(args);
        for line in [
            "Exit status:",
            "0  accepted / no problems",
            "1  rejected / problems found",
            "2  an error",
        ] {
            assert!(out.contains(line), "{args:?}: no {line:?} in {out}");
        }
    }
}

#[test]
fn verify_exits_0_on_accept_1_on_reject_2_on_errors() {
    let (_t, d, good) = signed();
    expect(&["verify", &good, "--keys", &d], 0, "Prosody would ACCEPT");
    expect(
        &["verify", &expired(), "--keys", &d],
        1,
        "Prosody would REJECT",
    );
    expect(
        &[
            "verify",
            &good,
            "--prosody-config",
            "/nonexistent.cfg.lua",
            "--keys",
            &d,
        ],
        2,
        "cannot read Prosody config /nonexistent.cfg.lua",
    );
    expect(&["verify", &good], 2, "say where the key comes from");
    expect(
        &["verify", &good, "--keys", &d, "--timeout", "soon"],
        2,
        "like 500ms",
    );
}

#[test]
fn doctor_exits_0_without_problems_1_with_problems_2_on_errors() {
    let (t, d, _) = signed();
    let state = path_str(&t.path().join("state.json"));
    expect(
        &["doctor", "--keys", &d, "--state", &state],
        0,
        "no problems",
    );
    let (_t2, empty) = keydir();
    expect(
        &["doctor", "--keys", &path_str(&empty), "--state", &state],
        1,
        "PROBLEMS FOUND",
    );
    let bad = t.path().join("bad.cfg.lua");
    std::fs::write(&bad, "VirtualHost \"m\"\n app_id = \"a\" ..\n").unwrap();
    for (config, needle) in [
        (
            "/nonexistent.cfg.lua".to_owned(),
            "cannot read Prosody config",
        ),
        (path_str(&bad), "bad.cfg.lua:3:"),
    ] {
        let args = [
            "doctor",
            "--keys",
            &d,
            "--state",
            &state,
            "--prosody-config",
            &config,
        ];
        expect(&args, 2, needle);
    }
}

#[test]
fn every_other_command_exits_2_on_errors() {
    let (t, d, _) = signed();
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let f = path_str(&file);
    expect(&["list", "--keys", &f], 2, "is not a directory");
    expect(&["keygen", "a b", "--keys", &d], 2, "invalid kid");
    expect(
        &["rotate", "jitsi", "--keys", &d, "--bits", "1000"],
        2,
        "choose 2048",
    );
    expect(
        &["prune", "nobody", "--keep", "1", "--keys", &d],
        2,
        "no private key for issuer",
    );
    expect(
        &["mint", "--keys", &d, "--kid", "jitsi/none"],
        2,
        "no key with kid",
    );
    expect(&["export", &f, "--keys", &d], 2, "is not a symlink");
    expect(
        &[
            "serve",
            "--keys",
            &f,
            "--no-init",
            "--listen",
            "127.0.0.1:0",
        ],
        2,
        "is not a directory",
    );
    expect(&["nothing"], 2, "unrecognized subcommand");
}

/// Runs the binary with its stdout a pipe whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(bin())
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_is_no_error_and_keeps_the_verdict() {
    let (t, d, good) = signed();
    let state = path_str(&t.path().join("state.json"));
    let (_t2, empty) = keydir();
    for (args, code) in [
        (vec!["list", "--keys", d.as_str()], 0),
        (vec!["list", "--keys", d.as_str(), "--json"], 0),
        (vec!["verify", good.as_str(), "--keys", d.as_str()], 0),
        (
            vec!["verify", good.as_str(), "--keys", d.as_str(), "--json"],
            0,
        ),
        (
            vec!["doctor", "--keys", &path_str(&empty), "--state", &state],
            1,
        ),
    ] {
        let (got, err) = with_closed_stdout(&args);
        assert_eq!((got, err.as_str()), (code, ""), "{args:?}");
    }
    let rejected = expired();
    let (got, err) = with_closed_stdout(&["verify", &rejected, "--keys", &d]);
    assert_eq!((got, err.as_str()), (1, ""), "a reject stays a reject");
}
