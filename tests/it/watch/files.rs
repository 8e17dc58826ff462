//! Files that are not servable keys: each is skipped with a warning naming
//! the file and the reason, counted in `list`, and never affects the others.

use crate::common::*;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::process::Command;

/// A key directory with one good key and one of every kind of bad file.
fn zoo() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    let work = t.path();
    write(dir.join("good/k.pem"), &key(0).pkcs8);
    std::fs::set_permissions(
        dir.join("good/k.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    write(dir.join("good/pub.pem"), &key(1).spki);
    write(dir.join("bad/garbage.pem"), "this is not a key\n");
    write(dir.join("bad/binary.pem"), [0x30u8, 0x82, 0xff, 0xfe, 0x00]);
    write(dir.join("bad/huge.pem"), "A".repeat(70 * 1024));
    write(dir.join("bad/empty.pem"), "");
    write(
        dir.join("bad/two.pem"),
        format!("{}{}", key(0).pkcs8, key(1).pkcs8),
    );
    write(dir.join("notes.txt"), "hello");
    write(dir.join("README.md"), "# our keys");
    write(dir.join(".hidden.pem"), &key(2).pkcs8);
    write(dir.join("bad kid.pem"), &key(2).pkcs8);
    let short = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
    ]);
    write(dir.join("bad/short.pem"), &short);
    let ec = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ]);
    write(dir.join("bad/ec.pem"), &ec);
    std::fs::write(work.join("k.pem"), &key(0).pkcs8).unwrap();
    let cert = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &path_str(&work.join("k.pem")),
        "-subj",
        "/CN=test",
        "-days",
        "1",
    ]);
    write(dir.join("bad/cert.pem"), &cert);
    let enc = openssl(&[
        "pkey",
        "-in",
        &path_str(&work.join("k.pem")),
        "-aes256",
        "-passout",
        "pass:secret",
    ]);
    write(dir.join("bad/encrypted.pem"), &enc);
    // A symlink escaping the key directory, and a dangling one.
    std::fs::write(work.join("outside.pem"), &key(3).pkcs8).unwrap();
    symlink(work.join("outside.pem"), dir.join("escape.pem")).unwrap();
    symlink(dir.join("bad/../../outside.pem"), dir.join("escape2.pem")).unwrap();
    symlink(dir.join("nowhere.pem"), dir.join("dangling.pem")).unwrap();
    // A symlink staying inside is fine.
    symlink("good/pub.pem", dir.join("alias.pem")).unwrap();
    // A FIFO would block a naive reader forever.
    run(Command::new("mkfifo").arg(dir.join("bad/fifo.pem")));
    (t, dir)
}

#[test]
fn bad_files_are_skipped_with_reasons_and_good_keys_still_served() {
    let (_t, dir) = zoo();
    let server = Server::start(&dir, &[]);
    assert_eq!(server.key("good/k").as_deref(), Some(key(0).spki.as_str()));
    assert_eq!(
        server.key("good/pub").as_deref(),
        Some(key(1).spki.as_str())
    );
    assert_eq!(server.key("alias").as_deref(), Some(key(1).spki.as_str()));
    for kid in [
        "bad/garbage",
        "bad/binary",
        "bad/huge",
        "bad/empty",
        "bad/two",
        "bad/short",
        "bad/ec",
        "bad/cert",
        "bad/encrypted",
        "bad/fifo",
        ".hidden",
        "escape",
        "escape2",
        "dangling",
    ] {
        assert_eq!(
            server.status(&key_path(kid)),
            404,
            "{kid} must not be served"
        );
    }
    for needle in [
        "bad/garbage.pem reason=not a PEM key",
        "bad/binary.pem reason=not a PEM key (binary data",
        "bad/huge.pem reason=71680 bytes is too large",
        "bad/two.pem reason=more than one key in one file",
        "bad/short.pem reason=RSA key of 1024 bits is too short",
        "bad/ec.pem reason=not an RSA key (EC)",
        "bad/cert.pem reason=a certificate, not a key",
        "bad/encrypted.pem reason=an encrypted private key",
        "bad/fifo.pem reason=not a regular file",
        "bad kid.pem reason=bad kid: character ' ' is not allowed",
        "escape.pem reason=symlink resolves to",
        "escape2.pem reason=symlink resolves to",
        "dangling.pem reason=unreadable: broken symlink",
        "notes.txt reason=not a .pem file",
        "empty file skipped (still being written?)",
    ] {
        assert!(
            server.has_log(needle),
            "no warning {needle:?}; logs:\n{}",
            server.logs()
        );
    }
    assert!(!server.has_log("UNPROTECTED"), "a 0600 key must not warn");
    assert!(
        !server.has_log("README.md"),
        "the directory's README is not worth a warning"
    );
}

#[test]
fn readable_private_keys_warn_like_ssh() {
    let (_t, dir) = keydir();
    write(dir.join("open.pem"), &key(0).pkcs8);
    std::fs::set_permissions(dir.join("open.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    write(dir.join("public.pem"), &key(1).spki);
    std::fs::set_permissions(
        dir.join("public.pem"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = Server::start(&dir, &[]);
    server.wait_log("UNPROTECTED PRIVATE KEY FILE");
    assert!(server.logs().contains("path=") && server.has_log("mode=0644"));
    assert_eq!(
        server.logs().matches("UNPROTECTED").count(),
        1,
        "only the private key warns"
    );
    // Still served: the public half is public.
    assert_eq!(server.key("open").as_deref(), Some(key(0).spki.as_str()));
    // Fixing the mode is seen as a change, and the warning does not repeat.
    std::fs::set_permissions(dir.join("open.pem"), std::fs::Permissions::from_mode(0o600)).unwrap();
    server.wait_log("key reloaded kid=open");
    assert_eq!(server.logs().matches("UNPROTECTED").count(), 1);
}

#[test]
fn list_shows_keys_and_skipped_files() {
    let (_t, dir) = zoo();
    let out = Command::new(bin())
        .args(["list", "--keys", &path_str(&dir)])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("good/k "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(&key_path("good/k")), "{line}");
    assert!(
        line.contains("private") && line.contains("2048") && line.contains("good/k.pem"),
        "{line}"
    );
    let line = text.lines().find(|l| l.starts_with("good/pub ")).unwrap();
    assert!(line.contains("public"), "{line}");
    assert!(
        text.contains("skipped  ") && text.contains("bad/ec.pem: not an RSA key"),
        "{text}"
    );
    assert!(text.contains("escape.pem: symlink resolves to"), "{text}");
    assert!(!text.contains("-----BEGIN"), "list prints no key material");
    for k in [key(0), key(1)] {
        let body_line = k.pkcs8.lines().nth(3).unwrap();
        assert!(!text.contains(body_line), "list printed key material");
    }

    let out = Command::new(bin())
        .args(["list", "--json", "--keys", &path_str(&dir)])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = v["keys"].as_array().unwrap();
    let kids: Vec<_> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["alias", "good/k", "good/pub"]);
    assert_eq!(keys[1]["path"], key_path("good/k"));
    assert_eq!(keys[1]["kind"], "private");
    assert_eq!(keys[1]["form"], "pkcs8-private");
    assert_eq!(keys[1]["bits"], 2048);
    assert_eq!(keys[1]["mode"], "0600");
    let skipped = v["skipped"].as_array().unwrap();
    assert!(skipped.len() >= 15, "{skipped:#?}");
    assert!(skipped
        .iter()
        .any(|s| s["file"].as_str().unwrap().ends_with("bad/short.pem")
            && s["reason"].as_str().unwrap().contains("1024 bits")));
}

#[test]
fn list_of_a_missing_directory_is_a_clear_error() {
    let t = tempdir();
    let missing = t.path().join("nope");
    let out = Command::new(bin())
        .args(["list", "--keys", &path_str(&missing)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("nope does not exist"), "{err}");
}
