//! Faults: a full filesystem under keygen, and SIGTERM under load. (A file
//! that turns unreadable, a watcher queue that overflows and a key directory
//! that goes away are the watcher's: watch/hardening.rs, watch/overflow.rs,
//! watch/reload.rs.)

use crate::common::*;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn keygen_into_a_full_filesystem_leaves_no_partial_file_and_says_so() {
    // A 16 KiB tmpfs in a private mount namespace (works as root and, with
    // user namespaces, without), filled up before keygen runs.
    let t = tempdir();
    let mnt = t.path().join("full");
    std::fs::create_dir(&mnt).unwrap();
    let script = format!(
        "set -e; mount -t tmpfs -o size=16k tmpfs {m}; mkdir -p {m}/keys/jitsi; \
         head -c 1000000 /dev/zero > {m}/fill 2>/dev/null || true; \
         set +e; {bin} keygen jitsi/k --keys {m}/keys; echo \"exit=$?\"; echo files:; ls -A {m}/keys/jitsi",
        m = mnt.display(),
        bin = bin()
    );
    let out = Command::new("unshare")
        .args(["-U", "-r", "-m", "sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("exit=2"),
        "keygen must fail: {stdout}{stderr}"
    );
    assert!(
        stderr.contains("cannot write key")
            && stderr.contains("No space left on device")
            && stderr.contains("nothing was written"),
        "{stderr}"
    );
    let files = stdout
        .split("files:")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(
        files, "",
        "no partial key and no temp file may remain: {files}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn sigterm_under_load_finishes_what_it_answers() {
    let (_t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let addr = server.addr;
    let path = key_path("jitsi/k");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (stop, path) = (Arc::clone(&stop), path.clone());
            std::thread::spawn(move || {
                let (mut ok, mut refused) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
                        refused += 1;
                        continue;
                    };
                    use std::io::{Read as _, Write as _};
                    let _ = s.set_read_timeout(Some(DEADLINE));
                    if s.write_all(
                        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    )
                    .is_err()
                    {
                        refused += 1;
                        continue;
                    }
                    let mut raw = Vec::new();
                    let _ = s.read_to_end(&mut raw);
                    if raw.is_empty() {
                        refused += 1; // closed before answering: never a partial answer
                        continue;
                    }
                    let r = parse_reply(&raw, false);
                    assert_eq!(r.status, 200, "an answered request must be whole");
                    assert_eq!(r.text(), key(0).spki, "an answered request must be whole");
                    ok += 1;
                }
                (ok, refused)
            })
        })
        .collect();
    let answered_so_far = |server: &Server| -> u64 {
        let text = server.get("/metrics").text();
        text.lines()
            .find(|l| {
                l.starts_with("asap_keyserver_requests_total{route=\"prosody_pem\",status=\"200\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    wait_until("load is running", || answered_so_far(&server) >= 20);
    signal(&server.child, "TERM");
    server.wait_log("shutting down");
    let status = {
        let start = std::time::Instant::now();
        let mut child = server;
        loop {
            if let Some(s) = child.child.try_wait().unwrap() {
                break s;
            }
            assert!(start.elapsed() < DEADLINE, "did not exit under load");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    stop.store(true, Ordering::Relaxed);
    let answered: usize = clients
        .into_iter()
        .map(|c| c.join().expect("a client saw a broken answer").0)
        .sum();
    assert!(answered >= 5);
    assert_eq!(status.code(), Some(0));
}
