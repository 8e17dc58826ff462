//! The PEM/DER key loader: whatever a file holds, decoding never panics and
//! never returns private material as the public key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(public) = asap_keyserver::keys::decode_public(data) {
        let pem = public.spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(!pem.contains("PRIVATE"));
        assert!(public.bits >= asap_keyserver::keys::MIN_BITS);
    }
    let _ = asap_keyserver::keys::rsa_components(data);
    let _ = asap_keyserver::keys::private_key_der(data);
});
