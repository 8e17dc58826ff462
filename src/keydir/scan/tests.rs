//! The scanner against real directories: caching, last good keys, and
//! incremental rescans that must build what a full scan builds.

use super::Scanner;
use crate::error::Error;
use crate::keydir::{KeySet, SkipReason};
use crate::{keys, kid};
use std::fs;
use std::path::{Path, PathBuf};

#[test]
fn scan_caches_and_reports_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut scanner = Scanner::new(dir.path());
    let first = scanner.scan().unwrap().expect("first scan builds a set");
    assert!(first.is_ready() && first.is_empty());
    assert!(scanner.scan().unwrap().is_none(), "nothing changed");
    fs::write(dir.path().join("note.txt"), "x").unwrap();
    let set = scanner.scan().unwrap().unwrap();
    assert_eq!(set.skipped()[0].reason, SkipReason::NotPem);
    fs::create_dir(dir.path().join("iss")).unwrap();
    fs::write(
        dir.path().join("iss/k.pem"),
        keys::generate_pkcs8_pem(2048).unwrap(),
    )
    .unwrap();
    let set = scanner.scan().unwrap().unwrap();
    let key = set.get("iss/k").unwrap();
    assert_eq!(set.route(&kid::prosody_path("iss/k")).unwrap().kid, "iss/k");
    assert!(key.pem().starts_with(b"-----BEGIN PUBLIC KEY-----"));
    // Corrupt it: the last good key stays.
    fs::write(
        dir.path().join("iss/k.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n",
    )
    .unwrap();
    let set = scanner.scan().unwrap().unwrap();
    assert!(set.get("iss/k").is_some());
    assert!(set.skipped().iter().any(|s| s.serving_last_good));
    fs::remove_file(dir.path().join("iss/k.pem")).unwrap();
    let set = scanner.scan().unwrap().unwrap();
    assert!(set.get("iss/k").is_none());
}

/// Served kids with their fingerprints; skipped files with why.
type Summary = (Vec<(String, String)>, Vec<(PathBuf, String, bool)>);

/// What a set serves and skips, to compare two sets.
fn summary(set: &KeySet) -> Summary {
    let keys = set
        .keys()
        .map(|k| (k.kid.clone(), hex::encode(&k.public.fingerprint[..8])))
        .collect();
    let skipped = set
        .skipped()
        .iter()
        .map(|s| (s.path.clone(), s.reason.to_string(), s.serving_last_good))
        .collect();
    (keys, skipped)
}

/// A scanner kept up to date by `rescan_paths` only, beside a reference
/// scanner that walks everything each time (both see the same history,
/// so both keep the same last good keys).
struct Incremental {
    scanner: Scanner,
    set: KeySet,
    reference: Scanner,
    full: KeySet,
}

impl Incremental {
    fn new(dir: &Path) -> Self {
        let mut scanner = Scanner::new(dir);
        let set = scanner.scan().unwrap().unwrap();
        let mut reference = Scanner::new(dir);
        let full = reference.scan().unwrap().unwrap();
        Incremental {
            scanner,
            set,
            reference,
            full,
        }
    }

    /// Rescans the named paths only and checks the result is exactly
    /// what a full scan builds; returns whether it walked it all.
    fn rescan(&mut self, named: &[&str]) -> bool {
        let walks = self.scanner.full_walks();
        let paths: Vec<PathBuf> = named.iter().map(|p| self.scanner.root().join(p)).collect();
        if let Some(set) = self.scanner.rescan_paths(&paths).unwrap() {
            self.set = set;
        }
        if let Some(full) = self.reference.scan().unwrap() {
            self.full = full;
        }
        assert_eq!(
            summary(&self.set),
            summary(&self.full),
            "after a change at {named:?}"
        );
        let all = crate::keydir::Scope::All;
        assert!(
            self.set.jwks_document(&all) == self.full.jwks_document(&all),
            "the JWKS differs after a change at {named:?}"
        );
        self.scanner.full_walks() > walks
    }
}

fn pems() -> &'static [String] {
    static PEMS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PEMS.get_or_init(|| {
        (0..3)
            .map(|_| keys::generate_pkcs8_pem(2048).unwrap())
            .collect()
    })
}

#[test]
fn rescanning_named_paths_builds_what_a_full_scan_builds() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("keys");
    let outside = base.path().join("staging");
    fs::create_dir_all(dir.join("a")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(dir.join("a/k1.pem"), &pems()[0]).unwrap();
    fs::write(dir.join("top.pem"), &pems()[1]).unwrap();
    let mut inc = Incremental::new(&dir);

    // One file added, replaced, broken (last good stays), removed.
    fs::write(dir.join("a/k2.pem"), &pems()[1]).unwrap();
    assert!(!inc.rescan(&["a/k2.pem"]));
    fs::write(dir.join("a/k2.pem"), &pems()[2]).unwrap();
    assert!(!inc.rescan(&["a/k2.pem"]));
    fs::write(dir.join("a/k2.pem"), "-----BEGIN PUBLIC KEY-----\nAAAA\n").unwrap();
    assert!(!inc.rescan(&["a/k2.pem"]));
    assert!(inc.set.get("a/k2").is_some(), "last good key kept");
    fs::remove_file(dir.join("a/k2.pem")).unwrap();
    assert!(!inc.rescan(&["a/k2.pem"]));

    // A folder moved in: the watcher names only the folder.
    fs::create_dir_all(outside.join("tenant/deep")).unwrap();
    fs::write(outside.join("tenant/x.pem"), &pems()[0]).unwrap();
    fs::write(outside.join("tenant/deep/y.pem"), &pems()[1]).unwrap();
    fs::write(outside.join("tenant/notes.txt"), "x").unwrap();
    fs::rename(outside.join("tenant"), dir.join("tenant")).unwrap();
    assert!(!inc.rescan(&["tenant"]));
    assert!(inc.set.get("tenant/deep/y").is_some());

    // The folder renamed: both names.
    fs::rename(dir.join("tenant"), dir.join("tenant2")).unwrap();
    assert!(!inc.rescan(&["tenant", "tenant2"]));
    assert!(inc.set.get("tenant/x").is_none() && inc.set.get("tenant2/x").is_some());

    // A file replaced by a folder, and back.
    fs::remove_file(dir.join("top.pem")).unwrap();
    fs::create_dir(dir.join("top.pem")).unwrap();
    fs::write(dir.join("top.pem/inner.pem"), &pems()[2]).unwrap();
    assert!(!inc.rescan(&["top.pem"]));
    assert!(inc.set.get("top.pem/inner").is_some() && inc.set.get("top").is_none());
    fs::remove_dir_all(dir.join("top.pem")).unwrap();
    fs::write(dir.join("top.pem"), &pems()[1]).unwrap();
    assert!(!inc.rescan(&["top.pem"]));

    // A whole folder deleted; a path inside a hidden folder changes nothing.
    fs::remove_dir_all(dir.join("tenant2")).unwrap();
    assert!(!inc.rescan(&["tenant2/x.pem", "tenant2"]));
    fs::create_dir_all(dir.join(".git/objects")).unwrap();
    fs::write(dir.join(".git/objects/k.pem"), &pems()[0]).unwrap();
    assert!(!inc.rescan(&[".git/objects/k.pem", ".git"]));

    // A symlink: from then on every change walks it all.
    fs::create_dir_all(dir.join(".store")).unwrap();
    fs::write(dir.join(".store/one.pem"), &pems()[0]).unwrap();
    fs::write(dir.join(".store/two.pem"), &pems()[1]).unwrap();
    std::os::unix::fs::symlink(".store/one.pem", dir.join("live.pem")).unwrap();
    assert!(inc.rescan(&["live.pem"]));
    std::os::unix::fs::symlink(".store/two.pem", dir.join(".live.tmp")).unwrap();
    fs::rename(dir.join(".live.tmp"), dir.join("live.pem")).unwrap();
    assert!(
        inc.rescan(&["live.pem"]),
        "a retargeted symlink walks it all"
    );
    assert_eq!(
        inc.set.get("live").unwrap().public.fingerprint,
        keys::decode_public(pems()[1].as_bytes())
            .unwrap()
            .fingerprint
    );
    // Only the link's target changed: the event names a hidden path.
    fs::write(dir.join(".store/two.pem"), &pems()[2]).unwrap();
    assert!(inc.rescan(&[".store/two.pem"]));
}

#[test]
fn missing_root_is_an_error() {
    let mut scanner = Scanner::new("/nonexistent/asap-keys");
    assert!(matches!(scanner.scan(), Err(Error::KeyDirMissing { .. })));
}

/// The poll walk of seed 1 (issue 27, 17,873 operations in): a symlink
/// the walk had stat'ed (through it) was gone when opened, the key
/// directory moved away and back in between. Recorded with the stamp of
/// the `stat`, it stayed skipped once back: unchanged, it was never read
/// again. Not found when opened, a file gets no stamp, so the next scan
/// reads it.
#[test]
fn a_file_gone_between_its_stat_and_its_read_is_read_again() {
    use super::examine::{Examined, Pending, Verdict};
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("keys");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("k.pem"), &pems()[0]).unwrap();
    let mut scanner = Scanner::new(&dir);
    scanner.scan().unwrap();
    fs::write(dir.join("n.pem"), &pems()[1]).unwrap();
    let stated = fs::metadata(dir.join("n.pem")).unwrap();
    let away = base.path().join("keys.away");
    fs::rename(&dir, &away).unwrap();
    let pending = Pending {
        rel: PathBuf::from("n.pem"),
        hidden: false,
        meta: Some(Box::new(stated)),
    };
    match scanner.examine_pending(&pending) {
        Examined::New(stamp, Verdict::Skip(reason)) => {
            assert!(matches!(*reason, SkipReason::Unreadable(_)), "{reason:?}");
            assert!(
                stamp.is_none(),
                "a file not found when opened keeps no stamp"
            );
        }
        _ => panic!("n.pem, gone when opened, is not skipped as unreadable"),
    }
    fs::rename(&away, &dir).unwrap();
    match scanner.examine_pending(&pending) {
        Examined::New(Some(_), Verdict::Key(_)) => {}
        _ => panic!("n.pem, back, is not read as a key"),
    }
}
