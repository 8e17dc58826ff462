//! Minting cost: `Minter::mint` (claims + JSON + base64 + one RS256
//! signature) beside the raw RSA signature with the same key, and beside
//! jsonwebtoken's own `encode` (which re-parses the key per token).
//! The gap between `minter_mint` and `raw_signature` is our overhead.
//!
//! cargo bench --bench mint
#![allow(missing_docs)] // criterion's macros generate undocumented items

use asap_keyserver::keydir;
use asap_keyserver::token::{Minter, TokenSpec};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn mint(c: &mut Criterion) {
    for bits in [2048usize, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let kid = format!("bench/rsa{bits}");
        let new = keydir::create(dir.path(), &kid, bits).unwrap();
        let pem = std::fs::read(&new.path).unwrap();
        let minter = Minter::load(dir.path()).unwrap();
        let key = minter.key(&kid).unwrap();
        let spec = TokenSpec {
            room: Some("standup".into()),
            ..TokenSpec::default()
        };
        let now = jsonwebtoken::get_current_timestamp();
        let claims = spec
            .build(&kid, now, "0123456789abcdef0123456789abcdef".into())
            .unwrap()
            .claims;

        let (_, der) = asap_keyserver::keys::private_key_der(&pem).unwrap();
        let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
        let rng = SystemRandom::new();
        let message = key.sign(&claims).unwrap();
        let message = message.rsplit_once('.').unwrap().0.to_owned();
        let mut sig = vec![0u8; pair.public_modulus_len()];

        let header = jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256)
        };
        let encoding_key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();

        let mut g = c.benchmark_group(format!("rsa{bits}"));
        g.throughput(Throughput::Elements(1));
        g.sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        g.bench_function("raw_signature", |b| {
            b.iter(|| {
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &rng,
                    black_box(message.as_bytes()),
                    &mut sig,
                )
                .unwrap()
            })
        });
        g.bench_function("minter_mint", |b| {
            b.iter(|| minter.mint(&key, black_box(&spec), now).unwrap())
        });
        g.bench_function("jsonwebtoken_encode", |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding_key).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, mint);
criterion_main!(benches);
