//! Races with the watcher's own work (issue 27): a folder created while a
//! full walk runs (SIGHUP, a replaced key directory) is watched like any
//! other, and a deletion the OS reported stays a deletion whatever happens
//! to its folder right after (made unreadable, replaced).

use super::incremental::full_walks;
use super::revocation::{open_keydir, put, serve_as_nobody};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Key files in `dir/bulk`: enough that a walk reading them all takes a
/// while (copies of the four test keys).
fn bulk(dir: &Path, n: usize) {
    let bulk = dir.join("bulk");
    std::fs::create_dir_all(&bulk).unwrap();
    for i in 0..n {
        std::fs::write(bulk.join(format!("k{i:05}.pem")), &key(i % 4).spki).unwrap();
    }
}

/// Makes folders `dir/tenant<i>` one after another until the server has
/// finished a walk it had not when this began (`walks_before`), and a few
/// more after: some are made while the walk runs.
fn make_folders_during_a_walk(server: &Server, dir: &Path, walks_before: u64) -> Vec<PathBuf> {
    let mut made = Vec::new();
    let mut after = 0;
    while after < 20 {
        let tenant = dir.join(format!("tenant{}", made.len()));
        std::fs::create_dir(&tenant).unwrap();
        made.push(tenant);
        if full_walks(server) > walks_before {
            after += 1;
        }
        assert!(made.len() < 100_000, "the walk never ended");
    }
    made
}

/// Drops a key into every folder and removes it again: each must be
/// served, then gone.
fn add_and_remove_a_key_in_each(server: &Server, dir: &Path, folders: &[PathBuf]) {
    let routes: Vec<String> = folders
        .iter()
        .map(|f| key_path(&format!("{}/k", f.strip_prefix(dir).unwrap().display())))
        .collect();
    for (i, f) in folders.iter().enumerate() {
        put(f.join("k.pem"), i % 4);
    }
    let served = |i: usize| {
        let r = server.get(&routes[i]);
        r.status == 200 && r.text() == key(i % 4).spki
    };
    let mut missing: Vec<usize> = (0..folders.len()).collect();
    wait_until(
        "a key dropped in every folder made during the walk served",
        || {
            missing.retain(|&i| !served(i));
            missing.is_empty()
        },
    );
    for f in folders {
        std::fs::remove_file(f.join("k.pem")).unwrap();
    }
    let mut left: Vec<usize> = (0..folders.len()).collect();
    wait_until("the key removed from every such folder gone", || {
        left.retain(|&i| server.status(&routes[i]) != 404);
        left.is_empty()
    });
}

/// Finding 1: folders made while the walk a SIGHUP starts runs are
/// watched: a key dropped there later is served, a key removed there is
/// gone.
#[test]
fn folders_made_during_a_sighup_walk_are_watched() {
    let (_t, dir) = keydir();
    bulk(&dir, 5000);
    let server = Server::start(&dir, &[]);
    server.wait_log("watching the key directory for changes");
    wait_until("the walk after the watch is placed", || {
        full_walks(&server) >= 2
    });
    let before = full_walks(&server);
    signal(&server.child, "HUP");
    let folders = make_folders_during_a_walk(&server, &dir, before);
    add_and_remove_a_key_in_each(&server, &dir, &folders);
}

/// Finding 1, through the walk of a key directory replaced at its path
/// (`mv keys keys.old; mv keys.new keys`).
#[test]
fn folders_made_during_the_walk_of_a_replaced_key_directory_are_watched() {
    let (t, dir) = keydir();
    bulk(&dir, 100);
    let next = t.path().join("keys.new");
    std::fs::create_dir(&next).unwrap();
    bulk(&next, 5000);
    let server = Server::start(&dir, &[]);
    server.wait_log("watching the key directory for changes");
    wait_until("the walk after the watch is placed", || {
        full_walks(&server) >= 2
    });
    let before = full_walks(&server);
    std::fs::rename(&dir, t.path().join("keys.old")).unwrap();
    std::fs::rename(&next, &dir).unwrap();
    let folders = make_folders_during_a_walk(&server, &dir, before);
    server.wait_log("the key directory was replaced at its path");
    add_and_remove_a_key_in_each(&server, &dir, &folders);
}

/// Finding 2: a key deleted, then at once its folder made unreadable: the
/// OS reported the deletion, so the key is gone (also after SIGHUP); the
/// keys still in the folder are kept, as documented, until it can be read.
#[test]
fn a_key_deleted_just_before_its_folder_turns_unreadable_is_gone() {
    let (_t, dir) = open_keydir();
    for name in ["a/k", "a/kept", "b/k", "c/k", "c/l"] {
        put(dir.join(format!("{name}.pem")), 0);
    }
    for folder in ["a", "b", "c"] {
        chmod(&dir.join(folder), 0o755);
    }
    let server = serve_as_nobody(&dir);
    server.wait_log("watching the key directory for changes");
    wait_until("the walk after the watch is placed", || {
        full_walks(&server) >= 2
    });
    server.wait_key("a/kept", key(0));
    std::fs::remove_file(dir.join("a/k.pem")).unwrap();
    chmod(&dir.join("a"), 0o000);
    // The same with the folder moved away and another made unreadable in
    // its place: what was read in the old folder is not the new one's.
    std::fs::remove_file(dir.join("b/k.pem")).unwrap();
    std::fs::rename(dir.join("b"), dir.join(".b.old")).unwrap();
    std::fs::create_dir(dir.join("b")).unwrap();
    chmod(&dir.join("b"), 0o000);
    // And a folder deleted whole, made again unreadable.
    std::fs::remove_dir_all(dir.join("c")).unwrap();
    std::fs::create_dir(dir.join("c")).unwrap();
    chmod(&dir.join("c"), 0o000);
    for kid in ["a/k", "b/k", "c/k", "c/l"] {
        server.wait_gone(kid);
    }
    assert_eq!(
        server.key("a/kept").as_deref(),
        Some(key(0).spki.as_str()),
        "a folder that turns unreadable keeps the keys last read in it"
    );
    let before = full_walks(&server);
    signal(&server.child, "HUP");
    wait_until("the SIGHUP walk", || full_walks(&server) > before);
    for kid in ["a/k", "b/k", "c/k", "c/l"] {
        assert_eq!(server.status(&key_path(kid)), 404, "{kid} after SIGHUP");
    }
    for folder in ["a", "b", "c"] {
        chmod(&dir.join(folder), 0o755);
    }
}

/// Points the `--keys` symlink `link` at `target` at once (a new symlink
/// renamed over it, as `ln -sfn` into place).
fn retarget(link: &Path, target: &Path) {
    let next = link.with_extension("next");
    std::os::unix::fs::symlink(target, &next).unwrap();
    std::fs::rename(&next, link).unwrap();
}

/// How many log lines hold `needle`.
fn log_count(server: &Server, needle: &str) -> usize {
    server.logs().matches(needle).count()
}

/// The random walk's symlinked mode (issue 27, seed 1): a `--keys`
/// symlink retargeted again while the watches on its last target were
/// being placed. The watcher took the directory's identity after placing
/// them, so it took the newest target's for watches on the one before:
/// the check of the path never saw a change again, and a key deleted
/// there stayed served. Each round retargets the moment the watcher says
/// it saw the last one, then deletes a key and drops one through the link.
#[test]
fn a_keys_symlink_retargeted_while_its_watches_are_placed_is_followed() {
    let (t, _dir) = keydir();
    let base = t.path();
    // Many folders: placing a watch on each takes a while.
    let first = base.join("r0");
    for i in 0..3000 {
        put(first.join(format!("f{i:04}/k.pem")), i % 4);
    }
    put(first.join("gone.pem"), 0);
    let rounds = 4;
    for r in 1..=2 * rounds {
        run(Command::new("cp")
            .arg("-a")
            .arg(&first)
            .arg(base.join(format!("r{r}"))));
    }
    let link = base.join("current");
    std::os::unix::fs::symlink(&first, &link).unwrap();
    let server = Server::start(&link, &[]);
    server.wait_log("watching the key directory for changes");
    wait_until("the walk after the watch is placed", || {
        full_walks(&server) >= 2
    });
    let replaced = "the key directory was replaced at its path";
    for round in 0..rounds {
        let seen = log_count(&server, replaced);
        let walks = full_walks(&server);
        retarget(&link, &base.join(format!("r{}", 2 * round + 1)));
        while log_count(&server, replaced) == seen {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Seen: the watches on that target are being placed now.
        retarget(&link, &base.join(format!("r{}", 2 * round + 2)));
        wait_until("the walk after the watches are placed", || {
            full_walks(&server) > walks
        });
        std::fs::remove_file(link.join("gone.pem")).unwrap();
        let added = format!("added{round}");
        put(link.join(format!("{added}.pem")), round % 4);
        server.wait_key(&added, key(round % 4));
        server.wait_gone("gone");
        put(link.join("gone.pem"), 0);
        server.wait_key("gone", key(0));
    }
}
