//! A watcher queue overflow ends in a full rescan: nothing is missed.
//! It lowers fs.inotify.max_queued_events (read when the server's inotify
//! instance is created) and restores it at once, holding `INOTIFY` for
//! writing meanwhile so no other test's server starts its watcher then.

use super::incremental::{full_walks, wait_same_as_full_scan};
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
