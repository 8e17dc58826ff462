//! Rescans of only the paths the watcher names: after each kind of change
//! the running server serves exactly what a full scan of the directory
//! builds (the JWKS of `export`, the skipped files of `list`), and
//! `asap_keyserver_full_walks_total` says whether it walked everything.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What a full scan of `dir` serves (the exported JWKS) and skips (by reason).
fn full_scan(dir: &Path) -> (Vec<u8>, BTreeMap<String, u64>) {
    let out = tempdir();
    let site = out.path().join("site");
    run(Command::new(bin())
        .args(["export", "--layout", "jwks", "--keys"])
        .arg(dir)
        .arg(&site));
    let jwks = std::fs::read(site.join(".well-known/jwks.json")).unwrap();
    let list: serde_json::Value = serde_json::from_slice(&run(Command::new(bin())
        .args(["list", "--json", "--keys"])
        .arg(dir)))
    .unwrap();
    let mut skipped = BTreeMap::new();
    for s in list["skipped"].as_array().unwrap() {
        *skipped
            .entry(s["code"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    (jwks, skipped)
}

/// A counter or gauge from `/metrics`, summed over its labels.
fn metric(server: &Server, name: &str) -> BTreeMap<String, u64> {
    let text = server.get("/metrics").text();
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let (key, value) = line.rsplit_once(' ').unwrap();
        let label = key
            .split_once("reason=\"")
            .map_or("", |(_, rest)| rest.trim_end_matches("\"}"));
        out.insert(label.to_owned(), value.parse().unwrap());
    }
    out
}

pub fn full_walks(server: &Server) -> u64 {
    metric(server, "asap_keyserver_full_walks_total ")[""]
}

/// Waits until the server serves exactly what a full scan of `dir` builds.
pub fn wait_same_as_full_scan(server: &Server, dir: &Path, what: &str) {
    let (jwks, skipped) = full_scan(dir);
    wait_until(what, || {
        server.get("/.well-known/jwks.json").body == jwks
            && metric(server, "asap_keyserver_skipped_files{") == skipped
    });
}

/// A server on `dir` whose start-up walks (the first scan, and the one
/// once the watch is in place) are done.
fn settled(dir: &Path) -> Server {
    let server = Server::start(dir, &[]);
    server.wait_log("watching the key directory for changes");
    wait_until("the walk after the watch is placed", || {
        full_walks(&server) >= 2
    });
    server
}

#[test]
fn changes_named_by_the_watcher_end_as_a_full_scan_would() {
    let (t, dir) = keydir();
    let staging = t.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    write(dir.join("a/k1.pem"), &key(0).spki);
    write(dir.join("top.pem"), &key(1).spki);
    let server = settled(&dir);
    let walks = full_walks(&server);

    // A folder moved in from elsewhere: one event, for the folder only.
    write(staging.join("tenant/x.pem"), &key(2).spki);
    write(staging.join("tenant/deep/y.pem"), &key(3).spki);
    write(staging.join("tenant/notes.txt"), "not a key");
    std::fs::rename(staging.join("tenant"), dir.join("tenant")).unwrap();
    server.wait_key("tenant/deep/y", key(3));
    wait_same_as_full_scan(&server, &dir, "a folder moved in");

    // The whole folder renamed; then a change inside it under its new name
    // (the watch follows the rename).
    std::fs::rename(dir.join("tenant"), dir.join("tenant2")).unwrap();
    server.wait_gone("tenant/x");
    server.wait_key("tenant2/x", key(2));
    wait_same_as_full_scan(&server, &dir, "a folder renamed");
    write_atomic(dir.join("tenant2/x.pem"), &key(0).spki);
    server.wait_key("tenant2/x", key(0));
    wait_same_as_full_scan(&server, &dir, "a key replaced in the renamed folder");

    // A file replaced by a folder of the same name.
    std::fs::remove_file(dir.join("top.pem")).unwrap();
    write(dir.join("top.pem/inner.pem"), &key(1).spki);
    server.wait_key("top.pem/inner", key(1));
    server.wait_gone("top");
    wait_same_as_full_scan(&server, &dir, "a file replaced by a folder");

    // A folder deleted with everything in it.
    std::fs::remove_dir_all(dir.join("tenant2")).unwrap();
    server.wait_gone("tenant2/deep/y");
    wait_same_as_full_scan(&server, &dir, "a folder deleted");

    assert_eq!(
        full_walks(&server),
        walks,
        "none of these walked the whole directory"
    );
}

#[test]
fn a_retargeted_symlink_is_seen_by_walking_everything() {
    let (_t, dir) = keydir();
    write(dir.join(".store/one.pem"), &key(0).spki);
    write(dir.join(".store/two.pem"), &key(1).spki);
    write(dir.join("plain.pem"), &key(2).spki);
    std::os::unix::fs::symlink(".store/one.pem", dir.join("live.pem")).unwrap();
    let server = settled(&dir);
    server.wait_key("live", key(0));
    let walks = full_walks(&server);

    // Retargeted the way `ln -sfn` does it: a new link renamed over the old.
    std::os::unix::fs::symlink(".store/two.pem", dir.join(".live.tmp")).unwrap();
    std::fs::rename(dir.join(".live.tmp"), dir.join("live.pem")).unwrap();
    server.wait_key("live", key(1));
    wait_same_as_full_scan(&server, &dir, "a symlink retargeted");
    // Only the target changed: the event names a hidden path.
    write_atomic(dir.join(".store/two.pem"), &key(3).spki);
    server.wait_key("live", key(3));
    wait_same_as_full_scan(&server, &dir, "a symlink's target replaced");
    assert!(
        full_walks(&server) > walks,
        "with symlinks, changes walk it all"
    );
}

#[test]
fn a_folder_jwks_holds_the_keys_under_it() {
    let (_t, dir) = keydir();
    write(dir.join("tenant-a/k1.pem"), &key(0).spki);
    write(dir.join("tenant-a/old/k0.pem"), &key(1).spki);
    write(dir.join("tenant-a+b/k.pem"), &key(2).spki);
    write(dir.join("tenant-b/k.pem"), &key(3).spki);
    let server = Server::start(&dir, &[]);
    let reply = server.get("/tenant-a/.well-known/jwks.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let kids: Vec<_> = doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, ["tenant-a/k1", "tenant-a/old/k0"]);
    // Each entry is the one in the JWKS of every key.
    let all: serde_json::Value =
        serde_json::from_slice(&server.get("/.well-known/jwks.json").body).unwrap();
    for k in doc["keys"].as_array().unwrap() {
        assert!(all["keys"].as_array().unwrap().contains(k));
    }
    // Validators: a 304 for the same ETag, a new ETag once the folder changes.
    let etag = reply.header("etag").unwrap().to_owned();
    let again = request(
        server.addr,
        "GET",
        "/tenant-a/.well-known/jwks.json",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(again.status, 304);
    write(dir.join("tenant-a/k2.pem"), &key(2).spki);
    server.wait_key("tenant-a/k2", key(2));
    let changed = server.get("/tenant-a/.well-known/jwks.json");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    // A folder with no keys has an empty set; a path no kid could have is 404.
    assert_eq!(
        server.get("/nobody/.well-known/jwks.json").text(),
        r#"{"keys":[]}"#
    );
    assert_eq!(server.status("/a//../.well-known/jwks.json"), 404);
    assert_eq!(server.status("/a%20b/.well-known/jwks.json"), 404);
}
