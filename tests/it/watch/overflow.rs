//! A watcher queue overflow ends in a full rescan: nothing is missed.
//! It lowers fs.inotify.max_queued_events (read when the server's inotify
//! instance is created) and restores it at once, holding `INOTIFY` for
//! writing meanwhile so no other test's server starts its watcher then.

use super::incremental::{full_walks, wait_same_as_full_scan};
use super::revocation::{open_keydir, put, serve_as_nobody};
use crate::common::*;

const SYSCTL: &str = "/proc/sys/fs/inotify/max_queued_events";

struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, &self.0);
    }
}

#[test]
fn an_overflowing_watcher_queue_triggers_a_full_rescan() {
    let exclusive = INOTIFY.write().unwrap_or_else(|e| e.into_inner());
    let old = std::fs::read_to_string(SYSCTL).unwrap();
    let restore = Restore(old.trim().to_owned());
    std::fs::write(SYSCTL, "8").unwrap_or_else(|e| {
        panic!("cannot lower {SYSCTL} ({e}): this test needs root, as scripts/test runs in CI")
    });
    let (_t, dir) = keydir();
    let server = Server::start_holding_inotify(&dir, &[]);
    server.wait_log("watching the key directory for changes");
    drop(restore);
    drop(exclusive);
    assert_ne!(
        std::fs::read_to_string(SYSCTL).unwrap().trim(),
        "8",
        "restored"
    );
    // Far more events than the queue holds, faster than they can be read.
    for i in 0..300 {
        write(dir.join(format!("burst/k{i:03}.pem")), &key(i % 4).spki);
    }
    server.wait_log(
        "file watcher queue overflowed; watching and rescanning the whole key directory again",
    );
    wait_until("all 300 keys served", || {
        (0..300)
            .step_by(37)
            .chain([299])
            .all(|i| server.status(&key_path(&format!("burst/k{i:03}"))) == 200)
    });
    assert_eq!(
        server.key("burst/k123").as_deref(),
        Some(key(3).spki.as_str())
    );
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("asap_keyserver_keys 300"), "{metrics}");
    // Lost events cost a walk of everything, which ends as a full scan does.
    assert!(full_walks(&server) >= 3, "start, watch placed, overflow");
    wait_same_as_full_scan(&server, &dir, "after the overflow");
}

/// The CI walk of stop 33 (issue 27): events lost to an overflow may be
/// the deletion of a key whose folder then turned unreadable. The walk
/// after the overflow cannot see into that folder, and no deletion was
/// reported, so it kept the folder's keys on the strength of an earlier
/// read: a key served though its file was gone. After lost events the
/// server reads as a fresh start does, and an unreadable folder keeps
/// nothing. The server is stopped (SIGSTOP) while the queue fills past
/// `max_queued_events`, so that the deletion and the chmod after it are
/// surely among the events lost.
#[test]
fn after_lost_events_a_folder_that_turned_unreadable_keeps_nothing() {
    let (_t, dir) = open_keydir();
    put(dir.join("x/gone.pem"), 0);
    put(dir.join("x/kept.pem"), 1);
    put(dir.join("a.pem"), 2);
    put(dir.join("b.pem"), 3);
    chmod(&dir.join("x"), 0o755);
    let server = serve_as_nobody(&dir);
    server.wait_log("watching the key directory for changes");
    wait_until("the walk after the watch is placed", || {
        full_walks(&server) >= 2
    });
    server.wait_key("x/kept", key(1));
    // Read while no test has it lowered (the one above does, holding
    // INOTIFY for writing): the value this server's queue was made with.
    let queue: usize = {
        let _unlowered = INOTIFY.read().unwrap_or_else(|e| e.into_inner());
        std::fs::read_to_string(SYSCTL)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    signal(&server.child, "STOP");
    // Alternating names: the kernel merges only an event equal to the last.
    for i in 0..queue + 64 {
        let name = if i % 2 == 0 { "a.pem" } else { "b.pem" };
        chmod(&dir.join(name), 0o644);
    }
    std::fs::remove_file(dir.join("x/gone.pem")).unwrap();
    chmod(&dir.join("x"), 0o000);
    signal(&server.child, "CONT");
    server.wait_log(
        "file watcher queue overflowed; watching and rescanning the whole key directory again",
    );
    server.wait_gone("x/gone");
    server.wait_gone("x/kept");
    // Readable again, it is read again.
    chmod(&dir.join("x"), 0o755);
    server.wait_key("x/kept", key(1));
    assert_eq!(server.status(&key_path("x/gone")), 404);
    assert_eq!(server.key("a").as_deref(), Some(key(2).spki.as_str()));
}
