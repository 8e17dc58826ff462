//! The token parser behind `verify`: any text, against a real key file.
#![no_main]

use asap_keyserver::check::{verify, KeySource, Settings};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key_file() -> &'static std::path::PathBuf {
    static F: OnceLock<std::path::PathBuf> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let path = dir.join("k.pem");
        std::fs::write(&path, asap_keyserver::keys::generate_pkcs8_pem(2048).unwrap()).unwrap();
        path
    })
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let settings = Settings { app_id: Some("jitsi".into()), domain: Some("meet.example.com".into()), room: Some("r".into()), ..Settings::default() };
    let report = verify(&token, &settings, &KeySource::File(key_file().clone()), 1_800_000_000);
    let _ = report.verdict();
    assert!(!report.checks.is_empty());
});
