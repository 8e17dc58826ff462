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

/// A FIFO in a fresh folder (`mkfifo`): opening it for reading blocks
/// until a writer comes, which never does.
fn fifo(dir: &std::path::Path) -> String {
    let path = dir.join("fifo");
    run(Command::new("mkfifo").arg(&path));
    path_str(&path)
}

#[test]
fn every_input_is_read_bounded_a_fifo_a_device_or_endless_stdin_is_an_error_naming_it() {
    let (t, d, good) = signed();
    let fifo = fifo(t.path());
    let folder = path_str(t.path());
    let big = t.path().join("big.toml");
    write(&big, format!("# {}\n", "x".repeat(2 << 20)));
    let big = path_str(&big);
    let serve = |config: &str| serve_args_owned(&d, &["--config", config]);
    let tls = |file: &str| serve_args_owned(&d, &["--tls-cert", file, "--tls-key", file]);
    let cases: Vec<(Vec<String>, bool, i32, &str)> = vec![
        (
            serve("/dev/zero"),
            false,
            2,
            "/dev/zero: cannot read the token service config: not a regular file but a device",
        ),
        (
            serve(&fifo),
            false,
            2,
            "not a regular file but a FIFO (named pipe)",
        ),
        (serve(&folder), false, 2, "not a regular file but a folder"),
        (
            serve(&big),
            false,
            2,
            "big.toml: cannot read the token service config: larger than 1 MiB",
        ),
        (
            tls("/dev/zero"),
            false,
            2,
            "/dev/zero: cannot read certificates: not a regular file but a device",
        ),
        (
            tls(&fifo),
            false,
            2,
            "cannot read certificates: not a regular file but a FIFO",
        ),
        (
            strings(&["doctor", "--keys", &d, "--config", "/dev/zero"]),
            false,
            2,
            "not a regular file but a device",
        ),
        (
            strings(&["doctor", "--keys", &d, "--config", &fifo]),
            false,
            2,
            "not a regular file but a FIFO",
        ),
        (
            strings(&["mint", "--keys", &d, "--claims", "/dev/zero"]),
            false,
            2,
            "--claims /dev/zero: cannot read it: not a regular file but a device",
        ),
        (
            strings(&["mint", "--keys", &d, "--claims", &fifo]),
            false,
            2,
            "not a regular file but a FIFO",
        ),
        (
            strings(&["mint", "--keys", &d, "--claims", "-"]),
            true,
            2,
            "--claims stdin: cannot read it: larger than 1 MiB",
        ),
        (
            strings(&["verify", "--keys", &d, "-"]),
            true,
            2,
            "cannot read the token from stdin: larger than 1 MiB",
        ),
        (
            strings(&["verify", "--keys", &d]),
            true,
            2,
            "cannot read the token from stdin: larger than 1 MiB",
        ),
        (
            strings(&["verify", &good, "--app-secret-file", &fifo]),
            false,
            2,
            "not a regular file but a FIFO",
        ),
        // A key file that is a FIFO: a finding (Prosody would find no key), never a hang.
        (
            strings(&["verify", &good, "--key", &fifo]),
            false,
            1,
            "not a regular file but a FIFO",
        ),
    ];
    for (args, zeros, code, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stdin = if zeros {
            Stdio::from(std::fs::File::open("/dev/zero").unwrap())
        } else {
            Stdio::null()
        };
        // The deadline only ends a hang; the assertions are on what was said.
        let (got, out, err) = cli_within_stdin(DEADLINE, &args, stdin);
        assert_eq!(got, code, "{args:?}: {out}{err}");
        assert!(
            out.contains(needle) || err.contains(needle),
            "{args:?}: no {needle:?} in {out}{err}"
        );
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// `serve` on the key directory `dir` with `extra` flags.
fn serve_args_owned(dir: &str, extra: &[&str]) -> Vec<String> {
    strings(&serve_args(std::path::Path::new(dir), extra))
}
