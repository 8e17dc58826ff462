//! The watcher under adversity (from an adversarial pass and the fault
//! tests): the key directory replaced at its path, a FIFO in a key's place,
//! a low open-file limit, the depth limit, SIGHUP, and files or folders that
//! turn unreadable.

use crate::common::*;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

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
fn a_file_turned_unreadable_keeps_its_last_good_key() {
    // Root reads everything, so the server runs as nobody in a user namespace
    // (`unshare -U`), where permission bits apply to our files.
    let (t, dir) = keydir();
    chmod(t.path(), 0o755);
    chmod(&dir, 0o755);
    write(dir.join("k.pem"), &key(0).spki);
    write(dir.join("later.pem"), &key(1).spki);
    chmod(&dir.join("later.pem"), 0o000);
    let server = Server::spawn_wrapped(&["unshare", "-U"], &serve_args(&dir, &[]), None);
    assert_eq!(server.key("k").as_deref(), Some(key(0).spki.as_str()));
    server.wait_log("later.pem reason=unreadable: Permission denied");
    assert_eq!(server.status(&key_path("later")), 404);
    chmod(&dir.join("k.pem"), 0o000);
    server.wait_log("key file no longer parses; still serving its last good key");
    assert_eq!(server.key("k").as_deref(), Some(key(0).spki.as_str()));
    chmod(&dir.join("later.pem"), 0o644);
    server.wait_key("later", key(1));
    chmod(&dir.join("k.pem"), 0o644);
    assert_eq!(server.key("k").as_deref(), Some(key(0).spki.as_str()));
}
