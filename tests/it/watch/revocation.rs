//! Revocation never silently fails (issue 18): a key removed is never served
//! on, and a key added is always served, whatever happened to the folders
//! around it. The server runs as `nobody` (through `setpriv`) where
//! permissions matter. (The seeded random walk that compares the running
//! server with a fresh `list` is in `random.rs`.)

use crate::common::*;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

/// A key directory `nobody` can read (tempdirs are 0700).
pub(super) fn open_keydir() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    chmod(t.path(), 0o755);
    chmod(&dir, 0o755);
    (t, dir)
}

/// `setpriv` running a command as the unprivileged user `nobody`.
pub(super) const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// `serve` as the unprivileged user `nobody`, so that modes are obeyed.
pub(super) fn serve_as_nobody(dir: &Path) -> Server {
    serve_as_nobody_with(dir, &[])
}

/// [`serve_as_nobody`] with more flags.
pub(super) fn serve_as_nobody_with(dir: &Path, extra: &[&str]) -> Server {
    Server::spawn_wrapped(&AS_NOBODY, &serve_args(dir, extra), None)
}

/// A public key file anyone can read.
pub(super) fn put(path: impl AsRef<Path>, i: usize) {
    let path = path.as_ref();
    write_atomic(path, &key(i).spki);
    chmod(path, 0o644);
}

/// Finding 1: a folder that cannot be read when it is created gets its
/// watch once it can be; SIGHUP places every watch again.
#[test]
fn a_folder_unreadable_when_created_is_watched_once_readable() {
    let (_t, dir) = open_keydir();
    put(dir.join("root.pem"), 0);
    let server = serve_as_nobody(&dir);
    server.wait_key("root", key(0));
    let tenant = dir.join("tenant");
    std::fs::create_dir(&tenant).unwrap();
    chmod(&tenant, 0o000);
    // The server has met the folder while it could not read it.
    server.wait_log("reason=unreadable: Permission denied");
    chmod(&tenant, 0o755);
    put(tenant.join("k1.pem"), 1);
    server.wait_key("tenant/k1", key(1));
    put(tenant.join("k2.pem"), 2);
    std::fs::remove_file(tenant.join("k1.pem")).unwrap();
    server.wait_key("tenant/k2", key(2));
    server.wait_gone("tenant/k1");
    // The same through a SIGHUP while unreadable.
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    chmod(&other, 0o000);
    server.wait_log("other reason=unreadable");
    chmod(&other, 0o755);
    signal(&server.child, "HUP");
    server.wait_log("full rescan requested (SIGHUP)");
    put(other.join("k3.pem"), 3);
    server.wait_key("other/k3", key(3));
    std::fs::remove_file(other.join("k3.pem")).unwrap();
    server.wait_gone("other/k3");
}

/// Finding 2: a folder staged in a hidden folder and moved into a folder
/// just created keeps being watched, with other changes going on.
#[test]
fn a_folder_moved_into_a_just_created_folder_keeps_its_watch() {
    let (_t, dir) = keydir();
    put(dir.join("noise/base.pem"), 0);
    let server = Server::start(&dir, &[]);
    server.wait_key("noise/base", key(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let p = dir.join(format!("noise/n{}.pem", i % 7));
                if i.is_multiple_of(2) {
                    put(&p, i % 4);
                } else {
                    let _ = std::fs::remove_file(&p);
                }
                i += 1;
                if i.is_multiple_of(16) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    for n in 0..100 {
        let stage = dir.join(format!(".stage/c{n}"));
        put(stage.join("old.pem"), n % 4);
        let tn = dir.join(format!("t{n}"));
        std::fs::create_dir(&tn).unwrap();
        if n % 2 == 1 {
            std::fs::create_dir_all(tn.join("x")).unwrap();
        }
        std::fs::rename(&stage, tn.join("c")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        put(tn.join("c/new.pem"), (n + 1) % 4);
        server.wait_key(&format!("t{n}/c/new"), key((n + 1) % 4));
        server.wait_key(&format!("t{n}/c/old"), key(n % 4));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    noise.join().unwrap();
}

/// Finding 3: once something that is not a key file takes a key's path
/// (an unreadable folder, a symlink out of the directory, a FIFO, a folder
/// too deep), the key is gone, as a fresh start says; a key file that
/// cannot be read for a moment keeps its last good key.
#[test]
fn a_key_whose_path_is_taken_by_something_else_is_gone() {
    let (_t, dir) = open_keydir();
    for name in ["a", "b", "c", "kept"] {
        put(dir.join(format!("{name}.pem")), 0);
    }
    let deep: std::path::PathBuf = (0..30).map(|i| format!("d{i}")).collect();
    let deep = dir.join(deep);
    std::fs::create_dir_all(&deep).unwrap();
    let mut p = dir.clone();
    for c in deep.strip_prefix(&dir).unwrap().components() {
        p.push(c);
        chmod(&p, 0o755);
    }
    put(deep.join("k.pem"), 1);
    let deep_kid = format!("{}/k", deep.strip_prefix(&dir).unwrap().display());
    let server = serve_as_nobody(&dir);
    server.wait_key("a", key(0));
    server.wait_key(&deep_kid, key(1));

    std::fs::remove_file(dir.join("a.pem")).unwrap();
    std::fs::create_dir(dir.join("a.pem")).unwrap();
    chmod(&dir.join("a.pem"), 0o000);
    std::fs::remove_file(dir.join("b.pem")).unwrap();
    symlink("/etc/hostname", dir.join("b.pem")).unwrap();
    std::fs::remove_file(dir.join("c.pem")).unwrap();
    run(std::process::Command::new("mkfifo").arg(dir.join("c.pem")));
    std::fs::remove_file(deep.join("k.pem")).unwrap();
    std::fs::create_dir(deep.join("k.pem")).unwrap();
    // A key file that is briefly unreadable keeps its last good key.
    chmod(&dir.join("kept.pem"), 0o000);
    for kid in ["a", "b", "c", deep_kid.as_str()] {
        server.wait_gone(kid);
    }
    server.wait_log("kept.pem");
    assert_eq!(server.key("kept").as_deref(), Some(key(0).spki.as_str()));
    // SIGHUP changes nothing of it, and a fresh start agrees on the rest.
    signal(&server.child, "HUP");
    server.wait_log("full rescan requested (SIGHUP)");
    let fresh = serve_as_nobody(&dir);
    for kid in ["a", "b", "c", deep_kid.as_str()] {
        assert_eq!(server.status(&key_path(kid)), 404, "{kid}");
        assert_eq!(fresh.status(&key_path(kid)), 404, "{kid}");
    }
    chmod(&dir.join("kept.pem"), 0o644);
}

/// Finding 4: a key file with two names, rewritten in place under one,
/// changes under both.
#[test]
fn a_hard_linked_key_rewritten_under_one_name_changes_under_both() {
    let (_t, dir) = keydir();
    write(dir.join("a.pem"), &key(0).spki);
    let server = Server::start(&dir, &[]);
    server.wait_key("a", key(0));
    std::fs::hard_link(dir.join("a.pem"), dir.join("b.pem")).unwrap();
    server.wait_key("b", key(0));
    // `cat new.pem > a.pem`: the same inode, so b.pem changes too.
    std::fs::write(dir.join("a.pem"), &key(1).spki).unwrap();
    server.wait_key("a", key(1));
    server.wait_key("b", key(1));
    std::fs::write(dir.join("b.pem"), &key(2).spki).unwrap();
    server.wait_key("a", key(2));
    std::fs::remove_file(dir.join("b.pem")).unwrap();
    server.wait_gone("b");
    std::fs::write(dir.join("a.pem"), &key(3).spki).unwrap();
    server.wait_key("a", key(3));
}
