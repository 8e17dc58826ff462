//! The request path router: any method, path and validators against a real key set.
#![no_main]

use asap_keyserver::keydir::KeySet;
use asap_keyserver::serve::{handle, HttpConfig, Prebuilt, Reloads, Requests};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn fixture() -> &'static (Arc<KeySet>, Prebuilt, Requests, Reloads) {
    static F: OnceLock<(Arc<KeySet>, Prebuilt, Requests, Reloads)> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::create_dir_all(dir.join("jitsi")).unwrap();
        let pem = asap_keyserver::keys::generate_pkcs8_pem(2048).unwrap();
        std::fs::write(dir.join("jitsi/k.pem"), pem).unwrap();
        let set = Arc::new(KeySet::load(&dir).unwrap());
        let config = HttpConfig { base_path: "/keys".into(), ..HttpConfig::default() };
        (set, Prebuilt::new(&config), Requests::default(), Reloads::default())
    })
}

fuzz_target!(|data: &[u8]| {
    let (set, pre, requests, reloads) = fixture();
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or("GET");
    let path = parts.next().unwrap_or("/");
    let validator = parts.next().unwrap_or("");
    let Ok(method) = hyper::Method::from_bytes(method.as_bytes()) else { return };
    let Ok(req) = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("if-none-match", validator)
        .header("if-modified-since", validator)
        .body(())
    else {
        return;
    };
    let (res, _) = handle(&req, set, pre, requests, reloads);
    assert!([200, 304, 400, 404, 405, 503].contains(&res.status().as_u16()));
});
