//! Churn under load: 10 stable keys (a Kubernetes-style volume swapped 100
//! times) are hammered for 20 s while 1,000 other key files are added,
//! replaced and deleted. Not one stable request may fail or come back torn.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(20);

fn publish(dir: &std::path::Path, version: usize) {
    let ts = format!("..2026_11_28_{version:04}");
    let vdir = dir.join(&ts);
    std::fs::create_dir(&vdir).unwrap();
    for i in 0..10 {
        std::fs::write(vdir.join(format!("stable-{i}.pem")), &key(i % 4).spki).unwrap();
    }
    let tmp = dir.join("..data_tmp");
    symlink(&ts, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if version == 0 {
        for i in 0..10 {
            symlink(
                format!("..data/stable-{i}.pem"),
                dir.join(format!("stable-{i}.pem")),
            )
            .unwrap();
        }
    } else {
        std::fs::remove_dir_all(dir.join(format!("..2026_11_28_{:04}", version - 1))).unwrap();
    }
}

#[test]
fn stable_keys_survive_1000_changes_and_100_volume_swaps_under_load() {
    let (_t, dir) = keydir();
    publish(&dir, 0);
    let server = Server::start(&dir, &[]);
    for i in 0..10 {
        server.wait_key(&format!("stable-{i}"), key(i % 4));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let addr = server.addr;
    let readers: Vec<_> = (0..4)
        .map(|r| {
            let (stop, failures) = (Arc::clone(&stop), Arc::clone(&failures));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let i = (n as usize + r) % 10;
                    let reply = get(addr, &key_path(&format!("stable-{i}")));
                    if reply.status != 200 || reply.text() != key(i % 4).spki {
                        failures.lock().unwrap().push(format!(
                            "stable-{i}: {} {:?}",
                            reply.status,
                            reply.text()
                        ));
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();

    // 1,000 operations and 100 swaps, spread over the run.
    let start = Instant::now();
    let mut present: BTreeMap<String, usize> = BTreeMap::new();
    let mut removed = Vec::new();
    let mut swaps = 0;
    for op in 0..1000usize {
        let target = start + RUN.mul_f64(op as f64 / 1000.0);
        if let Some(wait) = target.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let kid = format!("churn/k{:03}", (op * 7) % 250);
        let file = dir.join(format!("{kid}.pem"));
        match op % 4 {
            0 | 1 => {
                let k = op % 4 + (op / 4) % 2;
                if op % 2 == 0 {
                    write_atomic(&file, &key(k).pkcs8)
                } else {
                    write(&file, &key(k).spki)
                }
                present.insert(kid.clone(), k);
                removed.retain(|r| *r != kid);
            }
            2 => {
                write_atomic(&file, &key(3).spki);
                present.insert(kid.clone(), 3);
                removed.retain(|r| *r != kid);
            }
            _ => {
                if present.remove(&kid).is_some() {
                    std::fs::remove_file(&file).unwrap();
                    removed.push(kid.clone());
                }
            }
        }
        if op % 10 == 9 {
            swaps += 1;
            publish(&dir, swaps);
        }
    }
    // Let the last changes land, then stop the load.
    write(dir.join("churn/zz-last.pem"), &key(0).spki);
    server.wait_key("churn/zz-last", key(0));
    stop.store(true, Ordering::Relaxed);
    let requests: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed or torn answers, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(swaps, 100);
    assert!(requests > 1000, "only {requests} requests in {RUN:?}");
    for kid in &removed {
        assert_eq!(server.status(&key_path(kid)), 404, "{kid} was removed");
    }
    for (kid, k) in &present {
        assert_eq!(
            server.key(kid).as_deref(),
            Some(key(*k).spki.as_str()),
            "{kid}"
        );
    }
    eprintln!(
        "churn: {requests} stable requests, 1000 changes, {swaps} swaps, {} removed at the end",
        removed.len()
    );
}
