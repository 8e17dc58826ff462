//! `export`: static files for the three layouts, published atomically, and
//! served by Debian's nginx with the same consumer checks as the live server.

use crate::common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn export(dir: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "export",
        out.to_str().unwrap(),
        "--keys",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cli_ok(&args)
}

fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn export_writes_each_layout_with_public_keys_only() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/a.pem"), &key(0).pkcs8);
    write(dir.join("svc/b.pem"), &key(1).pkcs1_public);
    write(dir.join("broken.pem"), "garbage");
    let out = t.path().join("www");
    let said = export(&dir, &out, &[]);
    assert!(said.contains("exported 2 key(s), 5 file(s)"), "{said}");
    let files = files_under(&out);
    let mut expected = vec![
        format!("{}.pem", sha256_hex("jitsi/a")),
        format!("{}.pem", sha256_hex("svc/b")),
        "jitsi/a".into(),
        "svc/b".into(),
        ".well-known/jwks.json".into(),
    ];
    expected.sort();
    assert_eq!(files, expected);
    assert_eq!(
        std::fs::read_to_string(out.join(format!("{}.pem", sha256_hex("jitsi/a")))).unwrap(),
        key(0).spki
    );
    assert_eq!(
        std::fs::read_to_string(out.join("svc/b")).unwrap(),
        key(1).spki,
        "re-encoded as SPKI"
    );
    for f in &files {
        assert!(
            !std::fs::read_to_string(out.join(f))
                .unwrap()
                .contains("PRIVATE"),
            "{f}"
        );
    }
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(".well-known/jwks.json")).unwrap())
            .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);

    let only = t.path().join("prosody-only");
    export(&dir, &only, &["--layout", "jitsi"]);
    assert!(files_under(&only)
        .iter()
        .all(|f| f.ends_with(".pem") && !f.contains('/')));
    let only = t.path().join("jwks-only");
    export(&dir, &only, &["--layout", "jwks"]);
    assert_eq!(files_under(&only), [".well-known/jwks.json"]);
}

#[test]
fn export_swaps_atomically_and_refuses_a_real_directory() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/a.pem"), &key(0).pkcs8);
    let out = t.path().join("www");
    export(&dir, &out, &[]);
    let first = std::fs::read_link(&out).unwrap();
    write_private(dir.join("jitsi/b.pem"), &key(1).pkcs8);
    export(&dir, &out, &[]);
    let second = std::fs::read_link(&out).unwrap();
    assert_ne!(first, second, "a new version is published");
    assert!(out.join("jitsi/b").exists());
    export(&dir, &out, &[]);
    let versions = std::fs::read_dir(t.path().join(".www.versions"))
        .unwrap()
        .count();
    assert_eq!(versions, 2, "the current and the previous version are kept");
    let real = t.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let (code, _, err) = cli(&["export", &path_str(&real), "--keys", &path_str(&dir)]);
    assert_eq!(code, 2);
    assert!(err.contains("exists and is not a symlink"), "{err}");
    // A kid that is also another kid's directory cannot be an ASAP file: said, not hidden.
    write_private(dir.join("jitsi.pem"), &key(2).pkcs8);
    let (code, _, err) = cli(&["export", &path_str(&out), "--keys", &path_str(&dir)]);
    assert_eq!(code, 0);
    assert!(
        err.contains("kid \"jitsi\" not written in the ASAP layout"),
        "{err}"
    );
}

struct Nginx {
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(root: &Path, pki: &TestPki, work: &Path) -> (Nginx, String) {
    let port = free_port();
    let conf =
        nginx_site("static-export.conf", pki, port).replace("/srv/asap-keys", &path_str(root));
    let w = path_str(work);
    let main = format!(
        "daemon off;\nmaster_process off;\npid {w}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\naccess_log off;\n\
         client_body_temp_path {w}/body;\nproxy_temp_path {w}/proxy;\nfastcgi_temp_path {w}/fcgi;\nuwsgi_temp_path {w}/uwsgi;\nscgi_temp_path {w}/scgi;\n{conf}\n}}\n"
    );
    std::fs::write(work.join("nginx.conf"), main).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(work.join("nginx.conf"))
        .arg("-p")
        .arg(work)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (scripts/test installs it)");
    let base = format!("https://127.0.0.1:{port}");
    let nginx = Nginx { child };
    wait_until("nginx answers", || {
        curl_https(&format!("{base}/.well-known/jwks.json"), &pki.ca, &[]).0 == 200
    });
    (nginx, base)
}

#[test]
fn nginx_serves_the_export_to_prosody_asap_and_jwks_clients() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/2026-11-27.pem"), &key(0).pkcs8);
    write_private(dir.join("billing/key1.pem"), &key(1).pkcs8);
    let out = t.path().join("www");
    export(&dir, &out, &[]);
    let pki = TestPki::new();
    let work = t.path().join("nginx");
    std::fs::create_dir(&work).unwrap();
    let (_nginx, base) = start_nginx(&out, &pki, &work);
    let ca = path_str(&pki.ca);

    // Prosody's path, checked by verify exactly as Prosody fetches it (and with a trailing slash).
    let (token, _) = mint(&dir, &["--kid", "jitsi/2026-11-27", "--room", "r"]);
    for key_server in [base.clone(), format!("{base}/")] {
        let (code, text, _) = cli(&[
            "verify",
            &token,
            "--key-server",
            &key_server,
            "--ca-file",
            &ca,
            "--app-id",
            "jitsi",
        ]);
        assert_eq!(code, 0, "{key_server}: {text}");
    }
    let (code, body) = curl_https(
        &format!("{base}{}", key_path("jitsi/2026-11-27")),
        &pki.ca,
        &[],
    );
    assert_eq!((code, body.as_str()), (200, key(0).spki.as_str()));
    // ASAP over https from nginx.
    let asap = t.path().join("asap-token");
    std::fs::write(
        &asap,
        mint(
            &dir,
            &[
                "--profile",
                "asap",
                "--kid",
                "billing/key1",
                "--aud",
                "ledger",
            ],
        )
        .0,
    )
    .unwrap();
    peer(
        "python3",
        "asap_verify.py",
        &[&base, &path_str(&asap), "ledger", &ca],
        &[],
    )
    .unwrap_or_else(|e| panic!("atlassian via nginx: {e}"));
    // JWKS clients.
    let jwt = t.path().join("jwt");
    std::fs::write(&jwt, &token).unwrap();
    let jwks = format!("{base}/.well-known/jwks.json");
    let env = [
        ("NODE_EXTRA_CA_CERTS", pki.ca.as_path()),
        ("SSL_CERT_FILE", pki.ca.as_path()),
    ];
    peer(
        "node",
        "jose_jwks_verify.mjs",
        &[&jwks, &path_str(&jwt), "jitsi", "jitsi"],
        &env,
    )
    .unwrap_or_else(|e| panic!("jose via nginx: {e}"));
    peer(
        "python3",
        "pyjwk_verify.py",
        &[&jwks, &path_str(&jwt), "jitsi", "jitsi"],
        &env,
    )
    .unwrap_or_else(|e| panic!("PyJWK via nginx: {e}"));
    // A new key, exported again, is served by the running nginx.
    write_private(dir.join("jitsi/2026-12-01.pem"), &key(2).pkcs8);
    export(&dir, &out, &[]);
    let (code, _) = curl_https(
        &format!("{base}{}", key_path("jitsi/2026-12-01")),
        &pki.ca,
        &[],
    );
    assert_eq!(code, 200);
    // No directory listings, no redirects.
    assert_eq!(curl_https(&format!("{base}/jitsi/"), &pki.ca, &[]).0, 404);
    assert_eq!(curl_https(&format!("{base}/jitsi"), &pki.ca, &[]).0, 404);
}
