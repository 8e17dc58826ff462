//! Regression tests for what an adversarial pass found: the key directory
//! replaced under the server, a FIFO in a key's place, running out of file
//! descriptors, `../` in a token's kid, shadowed routes, the depth limit,
//! half-done outputs, absurd lifetimes, SIGHUP and odd file names.

use crate::common::*;
use serde_json::json;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// After a swap: the new directory's key is served, the old one's is gone,
/// and the new directory is watched (a file added and removed after the
/// swap is seen).
fn assert_watches_new_dir(server: &Server, dir: &Path, i: usize) {
    server.wait_key(&format!("jitsi/r{i}"), key(i % 4));
    if i > 0 {
        server.wait_gone(&format!("jitsi/r{}", i - 1));
    }
    let extra = dir.join(format!("jitsi/extra{i}.pem"));
    write(&extra, &key((i + 1) % 4).spki);
    server.wait_key(&format!("jitsi/extra{i}"), key((i + 1) % 4));
    std::fs::remove_file(&extra).unwrap();
    server.wait_gone(&format!("jitsi/extra{i}"));
}

#[test]
fn a_key_directory_replaced_at_its_path_is_watched_again() {
    const SWAPS: usize = 20;
    // 1. rm -rf keys && mkdir -p keys/jitsi && cp ...
    let t = tempdir();
    let dir = t.path().join("keys");
    write(dir.join("jitsi/r0.pem"), &key(0).spki);
    let server = Server::start(&dir, &[]);
    assert_watches_new_dir(&server, &dir, 0);
    for i in 1..SWAPS {
        std::fs::remove_dir_all(&dir).unwrap();
        write(dir.join(format!("jitsi/r{i}.pem")), &key(i % 4).spki);
        assert_watches_new_dir(&server, &dir, i);
    }
    server.wait_log("the key directory was replaced at its path; watching the new one");
    drop(server);

    // 2. mv keys keys.old && mkdir keys
    let t = tempdir();
    let dir = t.path().join("keys");
    write(dir.join("jitsi/r0.pem"), &key(0).spki);
    let server = Server::start(&dir, &[]);
    assert_watches_new_dir(&server, &dir, 0);
    for i in 1..SWAPS {
        std::fs::rename(&dir, t.path().join(format!("keys.old{i}"))).unwrap();
        write(dir.join(format!("jitsi/r{i}.pem")), &key(i % 4).spki);
        assert_watches_new_dir(&server, &dir, i);
    }
    drop(server);

    // 3. keys -> releases/<n>, retargeted atomically (ln -sfn, by rename).
    let t = tempdir();
    let link = t.path().join("keys");
    let release = |i: usize| t.path().join(format!("releases/{i}"));
    write(release(0).join("jitsi/r0.pem"), &key(0).spki);
    symlink(release(0), &link).unwrap();
    let server = Server::start(&link, &[]);
    assert_watches_new_dir(&server, &link, 0);
    for i in 1..SWAPS {
        write(release(i).join(format!("jitsi/r{i}.pem")), &key(i % 4).spki);
        let tmp = t.path().join("keys.tmp");
        symlink(release(i), &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
        assert_watches_new_dir(&server, &link, i);
    }
}

#[test]
fn a_fifo_in_a_keys_place_never_hangs_rescans_or_shutdown() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/flip.pem"), &key(0).spki);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/flip", key(0));
    for i in 0..5 {
        // Swap a FIFO in (by rename, as fast as a key file would be)...
        let fifo = t.path().join("fifo");
        run(Command::new("mkfifo").arg(&fifo));
        std::fs::rename(&fifo, dir.join("jitsi/flip.pem")).unwrap();
        // ... and later keys still arrive: no rescan is stuck in open().
        write(dir.join(format!("jitsi/later{i}.pem")), &key(1).spki);
        server.wait_key(&format!("jitsi/later{i}"), key(1));
        server.wait_log("flip.pem reason=not a regular file");
        // The key comes back when the file does.
        write_atomic(dir.join("jitsi/flip.pem"), &key(2).spki);
        server.wait_key("jitsi/flip", key(2));
    }
    let fifo = t.path().join("fifo");
    run(Command::new("mkfifo").arg(&fifo));
    std::fs::rename(&fifo, dir.join("jitsi/flip.pem")).unwrap();
    assert_eq!(server.terminate().code(), Some(0), "SIGTERM stops it");
}

#[test]
fn a_low_open_file_limit_bounds_connections_and_rescans_keep_working() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/a.pem"), &key(0).spki);
    // `ulimit -n 96` sets the hard limit too: the server cannot raise it.
    let args = serve_args(&dir, &["--header-timeout", "2s", "--accept-loops", "1"]);
    let server = Server::spawn_wrapped(
        &["sh", "-c", "ulimit -n 96 && exec \"$0\" \"$@\""],
        &args,
        None,
    );
    server.wait_log("the open-file limit is low: at most 32 connections");
    server.wait_log("watching the key directory for changes");
    // More idle clients than descriptors.
    let flood: Vec<_> = (0..150)
        .filter_map(|_| std::net::TcpStream::connect(server.addr).ok())
        .collect();
    assert!(flood.len() > 96, "only {} connections", flood.len());
    write(dir.join("jitsi/during.pem"), &key(1).spki);
    // Idle connections time out (2 s) and free their slots; the key added
    // during the flood is served, and no rescan failed for lack of descriptors.
    server.wait_key("jitsi/during", key(1));
    assert_eq!(server.status("/healthz"), 200);
    drop(flood);
    assert!(!server.has_log("rescan failed"), "{}", server.logs());
    assert!(!server.has_log("Too many open files"), "{}", server.logs());
}

#[test]
fn a_kid_with_dot_dot_never_reaches_the_filesystem() {
    let t = tempdir();
    let dir = t.path().join("a/keys");
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    // The attacker's key, two levels up from the key directory.
    write(t.path().join("evilkey.pem"), &key(1).spki);
    let token = token_with(
        &json!({"alg": "RS256", "typ": "JWT", "kid": "../../evilkey"}),
        &good_claims(),
        &key(1).pkcs8,
    );
    let (code, out, _) = cli(&["verify", &token, "--keys", &path_str(&dir)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("kid \"../../evilkey\" breaks the kid rules")
            && out.contains("Prosody would REJECT this token: key"),
        "{out}"
    );
    let d = path_str(&dir);
    for args in [
        vec!["prune", "../..", "--keep", "1", "--keys", &d],
        vec!["rotate", "../x", "--keys", &d],
        vec!["keygen", "../../evil2", "--keys", &d],
    ] {
        let (code, _, err) = cli(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains("invalid kid"), "{args:?}: {err}");
    }
    assert!(!t.path().join("evil2.pem").exists());
}

#[test]
fn kids_that_routes_or_prosody_paths_would_shadow_are_refused() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/victim.pem"), &key(0).spki);
    // kid "<sha256(jitsi/victim)>.pem": its ASAP route is Prosody's URL for jitsi/victim.
    let hex = sha256_hex("jitsi/victim");
    write(dir.join(format!("{hex}.pem.pem")), &key(1).spki);
    for name in ["healthz", "readyz", "metrics", "jwks.json"] {
        write(dir.join(format!("{name}.pem")), &key(2).spki);
    }
    let server = Server::start(&dir, &["--jwks-path", "/jwks.json"]);
    assert_eq!(
        server.key("jitsi/victim").as_deref(),
        Some(key(0).spki.as_str())
    );
    assert_eq!(server.get(&format!("/{hex}.pem")).text(), key(0).spki);
    assert_eq!(server.get("/healthz").text(), "ok\n");
    assert!(server.get("/jwks.json").text().starts_with("{\"keys\":["));
    server.wait_log("reason=kid refused: /jwks.json is a route of the server itself");
    let list = cli_ok(&["list", "--keys", &path_str(&dir)]);
    assert!(
        list.contains(&format!(
            "is the path Prosody requests for the kid hashing to {hex}"
        )),
        "{list}"
    );
    for name in ["healthz", "readyz", "metrics"] {
        assert!(
            list.contains(&format!(
                "{name}.pem: kid refused: /{name} is a route of the server itself"
            )),
            "{list}"
        );
    }
    let state = path_str(&t.path().join("s.json"));
    let (code, out, _) = cli(&["doctor", "--keys", &path_str(&dir), "--state", &state]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("kid refused"), "{out}");
}

#[test]
fn keys_beyond_the_depth_limit_are_named_not_dropped_silently() {
    let (t, dir) = keydir();
    let deep = |levels: usize| {
        (0..levels)
            .map(|i| format!("d{i}"))
            .collect::<Vec<_>>()
            .join("/")
    };
    write(dir.join(format!("{}/ok.pem", deep(31))), &key(0).spki);
    write(dir.join(format!("{}/lost.pem", deep(33))), &key(1).spki);
    let list = cli_ok(&["list", "--keys", &path_str(&dir)]);
    assert!(list.contains(&format!("{}/ok", deep(31))), "{list}");
    assert!(
        list.contains("folder 32 or more levels below the key directory: its keys are not read"),
        "{list}"
    );
    let state = path_str(&t.path().join("s.json"));
    let (code, out, _) = cli(&["doctor", "--keys", &path_str(&dir), "--state", &state]);
    assert_eq!(code, 1, "not \"no problems\": {out}");
}

#[test]
fn keygen_checks_every_output_before_writing_any() {
    let (t, dir) = keydir();
    let public = t.path().join("public.pem");
    std::fs::write(&public, "someone else's file").unwrap();
    let (code, out, err) = cli(&[
        "keygen",
        "jitsi/k",
        "--keys",
        &path_str(&dir),
        "--public-out",
        &path_str(&public),
    ]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("already exists: nothing was written"), "{err}");
    assert!(
        !dir.join("jitsi/k.pem").exists(),
        "no private key left behind"
    );
    assert_eq!(
        std::fs::read_to_string(&public).unwrap(),
        "someone else's file"
    );
}

#[test]
fn an_absurd_ttl_is_refused() {
    let (_t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let d = path_str(&dir);
    for ttl in ["213503982334601d", "400d"] {
        let (code, out, err) = cli(&["mint", "--keys", &d, "--ttl", ttl]);
        assert_eq!((code, out.as_str()), (2, ""), "{ttl}: {err}");
        assert!(
            err.contains("longer than the 366-day maximum"),
            "{ttl}: {err}"
        );
    }
    let (token, _) = mint(&dir, &["--ttl", "365d"]);
    let (_, claims) = decode(&token);
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
}

#[test]
fn sighup_rereads_every_file_and_keeps_serving() {
    let (_t, dir) = keydir();
    let file = dir.join("jitsi/k.pem");
    write(&file, &key(0).spki);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/k", key(0));
    server.wait_log("watching the key directory for changes");
    // Rewritten in place with the same size and mtime: nothing a stat
    // cache notices (SPKI PEMs of two 2048-bit keys have the same length).
    assert_eq!(key(0).spki.len(), key(1).spki.len());
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, key(1).spki.as_bytes()))
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    signal(&server.child, "HUP");
    server.wait_log("received SIGHUP: rescanning the key directory and reloading TLS");
    server.wait_key("jitsi/k", key(1));
    assert_eq!(server.status("/healthz"), 200, "still running");
}

#[test]
fn an_unreadable_folder_keeps_its_last_good_keys() {
    let (t, dir) = keydir();
    chmod(t.path(), 0o755);
    chmod(&dir, 0o755);
    write(dir.join("team/k.pem"), &key(0).spki);
    chmod(&dir.join("team"), 0o755);
    chmod(&dir.join("team/k.pem"), 0o644);
    let server = Server::spawn_wrapped(&["unshare", "-U"], &serve_args(&dir, &[]), None);
    server.wait_key("team/k", key(0));
    chmod(&dir.join("team"), 0o000);
    write(dir.join("other.pem"), &key(1).spki);
    chmod(&dir.join("other.pem"), 0o644);
    server.wait_key("other", key(1));
    server.wait_log("folder no longer readable; still serving the keys last read in it");
    assert_eq!(server.key("team/k").as_deref(), Some(key(0).spki.as_str()));
    chmod(&dir.join("team"), 0o755);
}

#[test]
fn control_characters_in_file_names_stay_on_one_line() {
    let (_t, dir) = keydir();
    write(dir.join("bad\nname.pem"), &key(0).spki);
    write(dir.join("good.pem"), &key(1).spki);
    let list = cli_ok(&["list", "--keys", &path_str(&dir)]);
    let row = list
        .lines()
        .find(|l| l.starts_with("skipped"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("bad\\nname.pem: bad kid"), "{list}");
    assert_eq!(
        list.lines().count(),
        3,
        "header, good, one skipped row:\n{list}"
    );
    let server = Server::start(&dir, &[]);
    server.wait_log("bad\\nname.pem");
    assert!(
        server.logs().lines().all(|l| !l.starts_with("name.pem")),
        "a log line was split:\n{}",
        server.logs()
    );
}
