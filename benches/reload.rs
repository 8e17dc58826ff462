//! Reload cost: scanning a key directory of N files cold (start-up), a walk
//! of everything that finds nothing changed, a walk after one file changed,
//! and the incremental step the watcher takes: one changed file, named by
//! its path, among N (`changed_path`: flat in N; the file's write is not
//! timed there, as it is in the walks).
//!
//! cargo bench --bench reload              (N = 100, 1,000, 10,000, 100,000)
#![allow(missing_docs)] // criterion's macros generate undocumented items

use asap_keyserver::keydir::Scanner;
use asap_keyserver::keys;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;

fn reload(c: &mut Criterion) {
    let pems: Vec<String> = (0..8)
        .map(|_| {
            let private = keys::generate_pkcs8_pem(2048).unwrap();
            keys::decode_public(private.as_bytes()).unwrap().spki_pem()
        })
        .collect();
    let mut g = c.benchmark_group("reload");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for n in [100usize, 1_000, 10_000, 100_000] {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            let sub = dir.path().join(format!("d{}", i / 1000));
            if i % 1000 == 0 {
                std::fs::create_dir_all(&sub).unwrap();
            }
            std::fs::write(sub.join(format!("k{i}.pem")), &pems[i % 8]).unwrap();
        }
        // Walking everything is linear; at 100,000 it is measured by
        // benches/scripts/bench_ready.py instead.
        let walks = n <= 10_000;
        if walks {
            g.bench_with_input(BenchmarkId::new("cold_scan", n), &n, |b, _| {
                b.iter(|| Scanner::new(dir.path()).scan().unwrap().unwrap())
            });
        }
        let mut scanner = Scanner::new(dir.path());
        scanner.scan().unwrap();
        let changing = dir.path().join("d0/k0.pem");
        let mut flip = 0;
        if walks {
            g.bench_with_input(BenchmarkId::new("rescan_unchanged", n), &n, |b, _| {
                b.iter(|| assert!(scanner.scan().unwrap().is_none()))
            });
            g.bench_with_input(BenchmarkId::new("rescan_one_changed", n), &n, |b, _| {
                b.iter(|| {
                    flip += 1;
                    std::fs::write(&changing, &pems[flip % 8]).unwrap();
                    scanner.scan().unwrap().unwrap()
                })
            });
        }
        // Only the rescan is timed: writing the file costs what the
        // filesystem makes it cost.
        let named = [changing.clone()];
        g.bench_with_input(BenchmarkId::new("changed_path", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    flip += 1;
                    std::fs::write(&changing, &pems[flip % 8]).unwrap();
                    let start = std::time::Instant::now();
                    let set = scanner.rescan_paths(&named).unwrap().unwrap();
                    spent += start.elapsed();
                    drop(set);
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, reload);
criterion_main!(benches);
