//! Revocation never silently fails (issue 18): a key removed is never served
//! on, and a key added is always served, whatever happened to the folders
//! around it. The server runs as `nobody` (through `setpriv`) where
//! permissions matter. A seeded random walk of file operations compares
//! the running server with a fresh scan after every settled batch.

use crate::common::*;
use asap_keyserver::keydir::KeySet;
use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// A key directory `nobody` can read (tempdirs are 0700).
fn open_keydir() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    chmod(t.path(), 0o755);
    chmod(&dir, 0o755);
    (t, dir)
}

/// `serve` as the unprivileged user `nobody`, so that modes are obeyed.
fn serve_as_nobody(dir: &Path) -> Server {
    let wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ];
    Server::spawn_wrapped(&wrapper, &serve_args(dir, &[]), None)
}

/// A public key file anyone can read.
fn put(path: impl AsRef<Path>, i: usize) {
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

/// A small, seeded generator (xorshift64*): the same seed, the same walk.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// Every file and folder under `dir` (hidden ones too), relative paths.
fn tree(dir: &Path) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            match e.file_type() {
                Ok(t) if t.is_dir() => {
                    dirs.push(rel);
                    stack.push(p);
                }
                Ok(_) => files.push(rel),
                Err(_) => {}
            }
        }
    }
    files.sort();
    dirs.sort();
    (files, dirs)
}

/// kid → modulus (base64url), as the running server's JWKS lists them.
fn served(server: &Server) -> Option<BTreeMap<String, String>> {
    let reply = server.get("/.well-known/jwks.json");
    let doc: serde_json::Value = serde_json::from_str(&reply.text()).ok()?;
    Some(
        doc["keys"]
            .as_array()?
            .iter()
            .map(|k| {
                (
                    k["kid"].as_str().unwrap_or_default().to_owned(),
                    k["n"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    )
}

/// kid → modulus (base64url), as a fresh scan of `dir` finds them.
fn fresh(dir: &Path) -> BTreeMap<String, String> {
    use base64::Engine as _;
    let set = KeySet::load(dir).unwrap();
    set.keys()
        .map(|k| {
            (
                k.kid.clone(),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.n()),
            )
        })
        .collect()
}

/// The random walk: create, rewrite (in place and by rename), rename and
/// delete files; make folders, move folders in (from a hidden staging
/// folder, into folders just made) and out, rename and delete them; chmod;
/// hard links; symlinks in and out of the directory. After each batch, once
/// settled, the running server must serve exactly what a fresh scan finds.
/// `ASAP_RANDOM_SEED` replays a walk; `ASAP_RANDOM_OPS` sets its length.
#[test]
fn random_operations_never_diverge_from_a_fresh_scan() {
    let seed: u64 = std::env::var("ASAP_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now() | 1);
    let ops: usize = std::env::var("ASAP_RANDOM_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let mut rng = Rng(seed);
    let (_t, dir) = keydir();
    let stage = dir.join(".stage");
    std::fs::create_dir_all(&stage).unwrap();
    put(dir.join("start.pem"), 0);
    let server = Server::start(&dir, &[]);
    server.wait_key("start", key(0));
    let mut done = 0usize;
    let mut batches = 0usize;
    let mut counter = 0usize;
    let started = Instant::now();
    let mut kinds = BTreeMap::<&str, usize>::new();
    while done < ops {
        let batch = 1 + rng.below(6);
        for _ in 0..batch {
            counter += 1;
            let (files, dirs) = tree(&dir);
            let visible_dirs: Vec<_> = dirs
                .iter()
                .filter(|d| {
                    !d.components()
                        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
                })
                .cloned()
                .collect();
            let pems: Vec<_> = files
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "pem") && !f.starts_with(".stage"))
                .cloned()
                .collect();
            let folder = |rng: &mut Rng| -> std::path::PathBuf {
                match rng.pick(&visible_dirs) {
                    Some(d) if rng.below(3) > 0 && d.components().count() < 3 => dir.join(d),
                    _ => dir.clone(),
                }
            };
            let k = rng.below(4);
            // The first half without links (each path its own file, the
            // watcher's named paths alone), the second with them too.
            let linking = done >= ops / 2;
            let choice = match rng.below(15) {
                12..=14 if !linking => rng.below(12),
                other => other,
            };
            let kind = match choice {
                0 | 1 => {
                    let p = folder(&mut rng).join(format!("k{counter}.pem"));
                    put(&p, k);
                    "create"
                }
                2 => match rng.pick(&pems) {
                    Some(f) => {
                        // In place: the same inode (hard links see it too).
                        let _ = std::fs::write(dir.join(f), &key(k).spki);
                        "rewrite in place"
                    }
                    None => "skip",
                },
                3 => match rng.pick(&pems) {
                    Some(f) => {
                        put(dir.join(f), k);
                        "rewrite by rename"
                    }
                    None => "skip",
                },
                4 => match rng.pick(&pems) {
                    Some(f) => {
                        let to = folder(&mut rng).join(format!("r{counter}.pem"));
                        let _ = std::fs::rename(dir.join(f), to);
                        "rename file"
                    }
                    None => "skip",
                },
                5 => match rng.pick(&pems) {
                    Some(f) => {
                        let _ = std::fs::remove_file(dir.join(f));
                        "delete file"
                    }
                    None => "skip",
                },
                6 => {
                    let _ = std::fs::create_dir_all(folder(&mut rng).join(format!("f{counter}")));
                    "make folder"
                }
                7 => {
                    // Staged in a hidden folder, moved into a folder just made.
                    let staged = stage.join(format!("s{counter}"));
                    put(staged.join("a.pem"), k);
                    if rng.below(2) == 0 {
                        put(staged.join("sub/b.pem"), (k + 1) % 4);
                    }
                    let parent = folder(&mut rng).join(format!("t{counter}"));
                    let _ = std::fs::create_dir(&parent);
                    let _ = std::fs::rename(&staged, parent.join("c"));
                    "move folder in"
                }
                8 => match rng.pick(&visible_dirs) {
                    Some(d) => {
                        let _ = std::fs::rename(dir.join(d), stage.join(format!("out{counter}")));
                        "move folder out"
                    }
                    None => "skip",
                },
                9 => match rng.pick(&visible_dirs) {
                    Some(d) => {
                        let to = folder(&mut rng).join(format!("m{counter}"));
                        let _ = std::fs::rename(dir.join(d), to);
                        "rename folder"
                    }
                    None => "skip",
                },
                10 => match rng.pick(&visible_dirs) {
                    Some(d) if rng.below(3) == 0 => {
                        let _ = std::fs::remove_dir_all(dir.join(d));
                        "delete folder"
                    }
                    _ => "skip",
                },
                11 => {
                    let target = rng
                        .pick(&pems)
                        .map(|f| dir.join(f))
                        .or_else(|| rng.pick(&visible_dirs).map(|d| dir.join(d)));
                    match target {
                        Some(t) => {
                            let mode = if t.is_dir() {
                                [0o755, 0o700, 0o750][rng.below(3)]
                            } else {
                                [0o644, 0o600, 0o640][rng.below(3)]
                            };
                            let _ =
                                std::fs::set_permissions(&t, std::fs::Permissions::from_mode(mode));
                            "chmod"
                        }
                        None => "skip",
                    }
                }
                12 => match rng.pick(&pems) {
                    Some(f) => {
                        let to = folder(&mut rng).join(format!("h{counter}.pem"));
                        let _ = std::fs::hard_link(dir.join(f), to);
                        "hard link"
                    }
                    None => "skip",
                },
                13 => {
                    let link = folder(&mut rng).join(format!("l{counter}.pem"));
                    match (rng.below(3), rng.pick(&pems)) {
                        (0, _) => {
                            let _ = symlink("/etc/hostname", &link);
                        }
                        (_, Some(f)) => {
                            let _ = symlink(dir.join(f), &link);
                        }
                        (_, None) => {}
                    }
                    "symlink"
                }
                _ if rng.below(2) == 0 => match rng.pick(&visible_dirs) {
                    // A symlinked folder: every change then walks it all.
                    Some(d) => {
                        let _ = symlink(dir.join(d), folder(&mut rng).join(format!("ld{counter}")));
                        "symlink folder"
                    }
                    None => "skip",
                },
                _ => {
                    let _ =
                        std::fs::write(folder(&mut rng).join(format!("notes{counter}.txt")), "x");
                    "not a key"
                }
            };
            *kinds.entry(kind).or_insert(0) += 1;
            if kind != "skip" {
                done += 1;
            }
        }
        batches += 1;
        // Settled: the server serves what a fresh start would, within a deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let want = fresh(&dir);
            if served(&server).as_ref() == Some(&want) {
                break;
            }
            if Instant::now() > deadline {
                let got = served(&server).unwrap_or_default();
                let only_served: Vec<_> =
                    got.keys().filter(|k| want.get(*k) != got.get(*k)).collect();
                let only_fresh: Vec<_> = want
                    .keys()
                    .filter(|k| want.get(*k) != got.get(*k))
                    .collect();
                panic!(
                    "diverged after {done} operations in {batches} batches (seed {seed}: ASAP_RANDOM_SEED={seed} replays it)\n\
                     served but not fresh or different: {only_served:?}\nfresh but not served or different: {only_fresh:?}\n\
                     operations: {kinds:?}\nlogs:\n{}",
                    server.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    eprintln!(
        "random walk: {done} operations in {batches} settled batches, seed {seed}, {:.1} s: {kinds:?}",
        started.elapsed().as_secs_f64()
    );
    assert!(done >= ops && kinds.len() >= 12, "{kinds:?}");
}
