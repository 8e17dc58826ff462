//! Rotation by dropping files: what the server serves follows the key
//! directory at once, without restart and without a failed or torn response.

use crate::common::*;
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn dropped_file_is_served_and_deleted_file_is_gone() {
    let (_t, dir) = keydir();
    let server = Server::start(&dir, &[]);
    assert_eq!(server.status(&key_path("jitsi/new")), 404);
    write_atomic(dir.join("jitsi/new.pem"), &key(0).pkcs8);
    server.wait_key("jitsi/new", key(0));
    // A file written in place (open, write, close) too.
    write(dir.join("jitsi/plain.pem"), &key(1).spki);
    server.wait_key("jitsi/plain", key(1));
    std::fs::remove_file(dir.join("jitsi/new.pem")).unwrap();
    server.wait_gone("jitsi/new");
    server
        .wait_log("key removed; a Prosody that already fetched it keeps trusting it until restart");
    assert_eq!(
        server.key("jitsi/plain").as_deref(),
        Some(key(1).spki.as_str())
    );
}

#[test]
fn replacing_a_key_under_its_kid_is_served_and_warns_about_prosodys_cache() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/k", key(0));
    // In place.
    write(dir.join("jitsi/k.pem"), &key(1).pkcs8);
    server.wait_key("jitsi/k", key(1));
    server.wait_log("keeps the old key until it restarts (one with cache_keys_url at our JWKS");
    // By rename over the old file.
    write_atomic(dir.join("jitsi/k.pem"), &key(2).pkcs1);
    server.wait_key("jitsi/k", key(2));
}

/// A kid that holds other key material than before says so, when: on its
/// key routes, in /metrics, and through verify and doctor, which name the
/// Prosody that still holds the old key (issue 17).
#[test]
fn a_key_replaced_under_its_kid_is_reported_with_when() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    write(dir.join("jitsi/steady.pem"), &key(3).pkcs8);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/k", key(0));
    let url = format!("http://{}", server.addr);
    let unchanged = |kid: &str| {
        server
            .get(&key_path(kid))
            .header("asap-key-replaced")
            .is_none()
    };
    assert!(unchanged("jitsi/k") && unchanged("jitsi/steady"));
    write_atomic(dir.join("jitsi/k.pem"), &key(1).pkcs8);
    server.wait_key("jitsi/k", key(1));
    let reply = server.get(&key_path("jitsi/k"));
    let when = reply
        .header("asap-key-replaced")
        .expect("Asap-Key-Replaced")
        .to_owned();
    assert!(when.ends_with(" GMT"), "{when}");
    assert_eq!(
        server.get("/jitsi/k").header("asap-key-replaced"),
        Some(when.as_str())
    );
    assert!(unchanged("jitsi/steady"));
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("asap_keyserver_key_replaced_timestamp_seconds{kid=\"jitsi/k\"} ")
            && !metrics.contains("{kid=\"jitsi/steady\"}"),
        "{metrics}"
    );
    // A token of the new key is valid, but only for a Prosody that did not
    // fetch the kid before the change.
    let token = mint(&dir, &["--kid", "jitsi/k"]).0;
    let (code, out, _) = cli(&["verify", &token, "--key-server", &url, "--app-id", "jitsi"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("! key replaced      kid \"jitsi/k\" holds another key since {when}"))
            && out.contains("still holds the old key")
            && out.contains(&format!(
                "Prosody would ACCEPT this token only if Prosody has not fetched kid \"jitsi/k\" through asap_key_server before {when}"
            )),
        "{out}"
    );
    let (code, out, _) = cli(&[
        "verify",
        &token,
        "--key-server",
        &url,
        "--app-id",
        "jitsi",
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((code, doc["accepted"].as_bool()), (0, Some(true)));
    assert!(
        doc["conditions"][0].as_str().unwrap().contains("jitsi/k"),
        "{out}"
    );
    let state = dir.with_extension("state");
    let (code, out, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--url",
        &url,
        "--state",
        &path_str(&state),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "✗ jitsi/k  its key changed at {when} while the server ran"
        )) && out.contains("restart Prosody, or add cache_keys_url"),
        "{out}"
    );
    // Removed, then back with other material: still a replacement.
    std::fs::remove_file(dir.join("jitsi/steady.pem")).unwrap();
    server.wait_gone("jitsi/steady");
    write_atomic(dir.join("jitsi/steady.pem"), &key(2).pkcs8);
    server.wait_key("jitsi/steady", key(2));
    assert!(!unchanged("jitsi/steady"));
}

#[test]
fn renaming_a_file_moves_its_kid() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/old.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/old", key(0));
    std::fs::create_dir_all(dir.join("other")).unwrap();
    std::fs::rename(dir.join("jitsi/old.pem"), dir.join("other/moved.pem")).unwrap();
    server.wait_key("other/moved", key(0));
    server.wait_gone("jitsi/old");
    // A whole directory renamed.
    std::fs::rename(dir.join("other"), dir.join("third")).unwrap();
    server.wait_key("third/moved", key(0));
    server.wait_gone("other/moved");
}

#[test]
fn a_half_written_file_keeps_serving_the_last_good_key() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/k", key(0));
    let half = &key(1).pkcs8[..key(1).pkcs8.len() / 2];
    write(dir.join("jitsi/k.pem"), half);
    server.wait_log("key file no longer parses; still serving its last good key");
    assert_eq!(server.key("jitsi/k").as_deref(), Some(key(0).spki.as_str()));
    // Then garbage, still the last good key.
    write(dir.join("jitsi/k.pem"), "garbage");
    wait_until("garbage seen", || {
        server.logs().matches("no longer parses").count() >= 2
    });
    assert_eq!(server.key("jitsi/k").as_deref(), Some(key(0).spki.as_str()));
    // The write completes: the new key is served.
    write(dir.join("jitsi/k.pem"), &key(1).pkcs8);
    server.wait_key("jitsi/k", key(1));
    // A new file that never parsed is not served at all.
    write(dir.join("jitsi/fresh.pem"), half);
    server.wait_log("jitsi/fresh.pem");
    assert_eq!(server.status(&key_path("jitsi/fresh")), 404);
}

/// Lays out a Kubernetes Secret volume version the way the kubelet's
/// AtomicWriter does: a timestamped dir, `..data` -> it, files -> `..data/x`.
fn k8s_publish(dir: &std::path::Path, version: &str, files: &[(&str, &str)]) {
    let ts = dir.join(version);
    std::fs::create_dir(&ts).unwrap();
    for (name, pem) in files {
        std::fs::write(ts.join(name), pem).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(format!("..data/{name}"), &link).unwrap();
        }
    }
}

#[test]
fn kubernetes_secret_volume_data_swaps_are_seen() {
    let (_t, dir) = keydir();
    k8s_publish(
        &dir,
        "..2026_11_27_10_00_00.1",
        &[("jitsi-a.pem", &key(0).pkcs8)],
    );
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi-a", key(0));

    // Update: a replaces its key, b is added, in one atomic swap.
    k8s_publish(
        &dir,
        "..2026_11_27_11_00_00.2",
        &[
            ("jitsi-a.pem", &key(1).pkcs8),
            ("jitsi-b.pem", &key(2).pkcs8),
        ],
    );
    std::fs::remove_dir_all(dir.join("..2026_11_27_10_00_00.1")).unwrap();
    server.wait_key("jitsi-a", key(1));
    server.wait_key("jitsi-b", key(2));

    // Removal: a leaves the Secret.
    k8s_publish(
        &dir,
        "..2026_11_27_12_00_00.3",
        &[("jitsi-b.pem", &key(2).pkcs8)],
    );
    std::fs::remove_file(dir.join("jitsi-a.pem")).unwrap();
    std::fs::remove_dir_all(dir.join("..2026_11_27_11_00_00.2")).unwrap();
    server.wait_gone("jitsi-a");
    assert_eq!(server.key("jitsi-b").as_deref(), Some(key(2).spki.as_str()));

    // The `..` entries are neither keys nor complaints.
    let out = String::from_utf8(run(std::process::Command::new(bin()).args([
        "list",
        "--keys",
        &path_str(&dir),
    ])))
    .unwrap();
    assert!(out.contains("jitsi-b"), "{out}");
    assert!(!out.contains("..data") && !out.contains("..2026"), "{out}");
    assert!(!out.contains("skipped"), "{out}");
}

#[test]
fn polling_mode_follows_changes_without_notifications() {
    let (_t, dir) = keydir();
    let server = Server::start(&dir, &["--poll-interval", "100ms"]);
    write(dir.join("nfs/k.pem"), &key(0).pkcs8);
    server.wait_key("nfs/k", key(0));
    write(dir.join("nfs/k.pem"), &key(1).pkcs8);
    server.wait_key("nfs/k", key(1));
    std::fs::remove_file(dir.join("nfs/k.pem")).unwrap();
    server.wait_gone("nfs/k");
}

#[test]
fn a_deleted_key_directory_keeps_the_last_set_until_it_returns() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    server.wait_key("jitsi/k", key(0));
    // Gone as a whole (renamed away, as an unmounted volume): no key file
    // was deleted, so the last set stays. (`rm -rf` deletes the files
    // first, and a deleted key must go: see revocation.rs.)
    std::fs::rename(&dir, dir.with_extension("gone")).unwrap();
    server.wait_log("key directory is gone; still serving the last good key set");
    assert_eq!(server.key("jitsi/k").as_deref(), Some(key(0).spki.as_str()));
    std::fs::create_dir(&dir).unwrap();
    write(dir.join("jitsi/back.pem"), &key(1).pkcs8);
    server.wait_key("jitsi/back", key(1));
    server.wait_gone("jitsi/k");
    // And the watch works again after the comeback.
    write(dir.join("jitsi/later.pem"), &key(2).pkcs8);
    server.wait_key("jitsi/later", key(2));
}

#[test]
fn stable_keys_never_fail_or_tear_while_others_churn() {
    let (_t, dir) = keydir();
    write(dir.join("stable/a.pem"), &key(0).pkcs8);
    write(dir.join("stable/b.pem"), &key(1).spki);
    let server = Server::start(&dir, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let readers: Vec<_> = [
        ("stable/a", key(0).spki.clone()),
        ("stable/b", key(1).spki.clone()),
    ]
    .into_iter()
    .map(|(kid, expected)| {
        let stop = Arc::clone(&stop);
        let path = key_path(kid);
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = get(addr, &path);
                assert_eq!(r.status, 200, "{kid} failed during churn");
                assert_eq!(r.text(), expected, "{kid} torn or wrong during churn");
                n += 1;
            }
            n
        })
    })
    .collect();
    for i in 0..60 {
        let k = key(2 + i % 2);
        match i % 3 {
            0 => write_atomic(dir.join(format!("churn/k{}.pem", i % 7)), &k.pkcs8),
            1 => write(dir.join(format!("churn/k{}.pem", i % 7)), &k.pkcs1),
            _ => {
                let _ = std::fs::remove_file(dir.join(format!("churn/k{}.pem", (i + 3) % 7)));
            }
        }
        if i % 10 == 0 {
            server.wait_log("key set reloaded");
        }
    }
    write(dir.join("churn/last.pem"), &key(2).pkcs8);
    server.wait_key("churn/last", key(2));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader saw a failure") > 0);
    }
}

#[test]
fn an_idle_server_does_not_rescan() {
    // A rescan reads every directory; those reads must not trigger the next rescan.
    let (_t, dir) = keydir();
    for i in 0..20 {
        write(dir.join(format!("d{}/k{i}.pem", i % 4)), &key(i % 4).spki);
    }
    let server = Server::start(&dir, &[]);
    server.wait_log("watching the key directory for changes");
    let reloads = |s: &Server| -> u64 {
        s.get("/metrics")
            .text()
            .lines()
            .find(|l| l.starts_with("asap_keyserver_reloads_total "))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap()
    };
    // Let the start-up rescan settle, then nothing may happen while nothing changes.
    wait_until("start-up rescans settle", || {
        let before = reloads(&server);
        std::thread::sleep(std::time::Duration::from_millis(300));
        reloads(&server) == before
    });
    let before = reloads(&server);
    for _ in 0..20 {
        assert_eq!(server.status(&key_path("d1/k1")), 200);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        reloads(&server),
        before,
        "the server rescanned with nothing changed"
    );
    // A real change still counts.
    write(dir.join("d0/new.pem"), &key(0).spki);
    server.wait_key("d0/new", key(0));
    assert!(reloads(&server) > before);
}
