//! The Prosody config reader: any text parses or errors, never panics.
#![no_main]

use asap_keyserver::prosody::{Config, TokenOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::parse(std::path::Path::new("fuzz.cfg.lua"), &text) {
        let _ = config.hosts();
        if let Ok(options) = TokenOptions::read(&config, None) {
            let _ = options.unreadable();
        }
    }
});
