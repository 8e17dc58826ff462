//! `verify` cost: every Prosody check on one token, key from a file.
//!
//! cargo bench --bench verify
#![allow(missing_docs)] // criterion's macros generate undocumented items

use asap_keyserver::check::{verify, KeySource, Settings};
use asap_keyserver::token::{Minter, TokenSpec};
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let key = asap_keyserver::keydir::create(dir.path(), "jitsi/k", 2048).unwrap();
    let minter = Minter::load(dir.path()).unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    let spec = TokenSpec {
        room: Some("standup".into()),
        moderator: Some(true),
        ..TokenSpec::default()
    };
    let token = minter
        .mint(&minter.key("jitsi/k").unwrap(), &spec, now)
        .unwrap()
        .token;
    let settings = Settings {
        app_id: Some("jitsi".into()),
        ..Settings::default()
    };
    let source = KeySource::File(key.path);
    let mut g = c.benchmark_group("verify");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("all_checks_rsa2048", |b| {
        b.iter(|| assert!(verify(&token, &settings, &source, now).accepted()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
