//! A test CA and server certificates for 127.0.0.1, made with openssl.

use super::keys::{path_str, tempdir};
use super::process::openssl;
use std::path::PathBuf;

/// A test CA and a server certificate for 127.0.0.1, made with openssl.
pub struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestPki {
    pub fn new() -> TestPki {
        let dir = tempdir();
        let p = |n: &str| dir.path().join(n);
        let s = |n: &str| path_str(&dir.path().join(n));
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &s("ca.key"),
            "-out",
            &s("ca.pem"),
            "-subj",
            "/CN=asap-keyserver test CA",
            "-days",
            "2",
        ]);
        let pki = TestPki {
            ca: p("ca.pem"),
            cert: p("server.pem"),
            key: p("server.key"),
            dir,
        };
        pki.issue("server", "first");
        pki
    }

    /// Issues (or re-issues) `<name>.pem` / `<name>.key` for IP:127.0.0.1 with CN `cn`.
    pub fn issue(&self, name: &str, cn: &str) -> (PathBuf, PathBuf) {
        self.issue_for(name, cn, "IP:127.0.0.1")
    }

    /// Issues `<name>.pem` / `<name>.key` with CN `cn` and subjectAltName `san`.
    pub fn issue_for(&self, name: &str, cn: &str, san: &str) -> (PathBuf, PathBuf) {
        let s = |n: String| path_str(&self.dir.path().join(n));
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &s(format!("{name}.key")),
            "-out",
            &s(format!("{name}.csr")),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        std::fs::write(
            self.dir.path().join("ext.cnf"),
            format!("subjectAltName={san}\n"),
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            &s(format!("{name}.csr")),
            "-CA",
            &path_str(&self.ca),
            "-CAkey",
            &s("ca.key".into()),
            "-CAcreateserial",
            "-out",
            &s(format!("{name}.pem")),
            "-days",
            "2",
            "-extfile",
            &s("ext.cnf".into()),
        ]);
        (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        )
    }
}

/// A site file of `deploy/nginx/` with the test CA's certificate and key in
/// place of the Let's Encrypt paths, listening on 127.0.0.1:`port` only.
pub fn nginx_site(file: &str, pki: &TestPki, port: u16) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/nginx")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .replace(
            "/etc/ssl/keys.example.com/fullchain.pem",
            &super::keys::path_str(&pki.cert),
        )
        .replace(
            "/etc/ssl/keys.example.com/privkey.pem",
            &super::keys::path_str(&pki.key),
        )
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("listen [::]:443 ssl;", "")
}
