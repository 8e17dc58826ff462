//! The process around the server: first-run key creation, flags and their
//! environment variables, clear start-up errors, the slow-client timeout,
//! the connection bound, and graceful shutdown.

use crate::common::*;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

#[test]
fn first_run_creates_the_key_directory_and_a_signing_key() {
    let t = tempdir();
    let server = Server::spawn(&["serve", "--listen", "127.0.0.1:0"], Some(t.path()));
    let kid = format!("jitsi/{}", today());
    let file = t.path().join(format!("keys/{kid}.pem"));
    let meta = std::fs::metadata(&file).expect("serve created keys/jitsi/<today>.pem");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pem = std::fs::read_to_string(&file).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8");
    // openssl agrees it is a 2048-bit RSA key, and its public half is what we serve.
    let text = String::from_utf8(openssl(&[
        "pkey",
        "-in",
        &path_str(&file),
        "-noout",
        "-text",
    ]))
    .unwrap();
    assert!(text.contains("2048 bit"), "{text}");
    let spki = String::from_utf8(openssl(&["pkey", "-in", &path_str(&file), "-pubout"])).unwrap();
    assert_eq!(server.key(&kid).as_deref(), Some(spki.as_str()));
    // It says what it did and how to configure Prosody.
    server.wait_log(&format!("kid={kid}"));
    server.wait_log(&key_path(&kid));
    server.wait_log(&format!("asap_key_server = \"http://{}\"", server.addr));
    server.wait_log("asap_accepted_issuers = { \"jitsi\" }");
    // No temp file is left behind.
    let names: Vec<_> = std::fs::read_dir(t.path().join("keys/jitsi"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(server.terminate().code(), Some(0));

    // A second start finds the key and creates nothing.
    let again = Server::spawn(&["serve", "--listen", "127.0.0.1:0"], Some(t.path()));
    assert_eq!(again.key(&kid).as_deref(), Some(spki.as_str()));
    assert!(!again.has_log("created"), "{}", again.logs());
    assert_eq!(
        std::fs::read_dir(t.path().join("keys/jitsi"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn no_init_refuses_a_missing_directory_and_serves_an_empty_one() {
    let t = tempdir();
    let missing = t.path().join("absent");
    let out = Command::new(bin())
        .args([
            "serve",
            "--no-init",
            "--listen",
            "127.0.0.1:0",
            "--keys",
            &path_str(&missing),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("absent does not exist") && err.contains("--no-init"),
        "{err}"
    );
    assert!(!missing.exists());

    let (_t2, empty) = keydir();
    let server = Server::start(&empty, &[]);
    assert_eq!(server.get("/readyz").status, 200);
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "--no-init created nothing"
    );
}

#[test]
fn bad_flags_and_paths_get_clear_errors() {
    let t = tempdir();
    let file = t.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["serve", "--listen", "nope"],
            2,
            "invalid value 'nope' for '--listen <ADDR>'",
        ),
        (&["serve", "--poll-interval", "soon"], 2, "like 500ms"),
        (
            &["serve", "--poll-interval", "1ms", "--keys", "/nonexistent"],
            2,
            "--poll-interval 1ms is too short",
        ),
        (
            &["serve", "--max-connections", "0"],
            2,
            "--max-connections must be at least 1",
        ),
        (
            &[
                "serve",
                "--no-init",
                "--listen",
                "127.0.0.1:0",
                "--keys",
                &path_str(&file),
            ],
            2,
            "is not a directory",
        ),
        (&["serve", "--bogus"], 2, "unexpected argument '--bogus'"),
        (&["nothing"], 2, "unrecognized subcommand"),
    ];
    for (args, code, needle) in cases {
        let out = Command::new(bin())
            .args(*args)
            .current_dir(t.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // A port already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (_t2, dir) = keydir();
    let out = Command::new(bin())
        .args([
            "serve",
            "--no-init",
            "--keys",
            &path_str(&dir),
            "--listen",
            &addr,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {addr}")));
}

#[test]
fn environment_variables_configure_serve() {
    let (_t, dir) = keydir();
    write(dir.join("env/k.pem"), &key(0).pkcs8);
    let mut cmd = Command::new(bin());
    cmd.args(["serve"])
        .env("ASAP_KEYS_DIR", &dir)
        .env("ASAP_LISTEN", "127.0.0.1:0")
        .env("ASAP_NO_INIT", "true")
        .env("ASAP_CACHE_MAX_AGE", "42")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "server exited"
        );
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    let r = get(addr, &key_path("env/k"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=42"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    // Two slots: the log line for a full house proves both connections were accepted.
    let server = Server::start(&dir, &["--max-connections", "2"]);
    let path = key_path("jitsi/k");
    // An idle keep-alive connection must not hold shutdown up.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(idle.read(&mut buf).unwrap() > 0);
    // A request in flight: head half sent when SIGTERM arrives.
    let mut busy = TcpStream::connect(server.addr).unwrap();
    busy.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n").as_bytes())
        .unwrap();
    server.wait_log("connection limit reached");
    signal(&server.child, "TERM");
    server.wait_log("shutting down");
    busy.write_all(b"\r\n").unwrap();
    busy.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut out = Vec::new();
    let _ = busy.read_to_end(&mut out);
    let reply = parse_reply(&out, false);
    assert_eq!(reply.status, 200, "in-flight request finished");
    assert_eq!(reply.text(), key(0).spki);
    // New connections are refused once the listener is closed.
    wait_until("listener closed", || {
        TcpStream::connect(server.addr).is_err()
    });
    let status = server.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn slow_clients_are_cut_off_by_the_header_timeout() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &["--header-timeout", "300ms"]);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut out = Vec::new();
    // The server closes the connection (EOF) rather than waiting forever.
    let n = slow
        .read_to_end(&mut out)
        .expect("server closed the slow connection");
    assert!(
        n == 0 || String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"),
        "{out:?}"
    );
    assert_eq!(server.get(&key_path("jitsi/k")).status, 200);
}

#[test]
fn the_connection_bound_queues_extra_clients_and_says_so() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &["--max-connections", "2", "--header-timeout", "60s"]);
    let first = TcpStream::connect(server.addr).unwrap();
    let _second = TcpStream::connect(server.addr).unwrap();
    server.wait_log("connection limit reached");
    // A third client is queued, not refused: it is served once a slot frees.
    let addr = server.addr;
    let path = key_path("jitsi/k");
    let third = std::thread::spawn(move || get(addr, &path));
    drop(first);
    let reply = third.join().unwrap();
    assert_eq!(reply.status, 200);
    assert!(!server.has_log("panicked"));
}
