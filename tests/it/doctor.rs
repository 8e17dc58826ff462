//! `doctor` on key directories and running key servers.

use crate::common::*;
use std::os::unix::fs::PermissionsExt as _;

fn doctor(dir: &std::path::Path, state: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "doctor",
        "--keys",
        dir.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    assert!(err.is_empty(), "{err}");
    (code, out)
}

#[test]
fn a_clean_directory_passes_and_lists_every_kid() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/2026-11-28.pem"), &key(0).pkcs8);
    std::fs::set_permissions(
        dir.join("jitsi/2026-11-28.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    write(dir.join("partner/pub.pem"), &key(1).spki);
    let (code, out) = doctor(&dir, &t.path().join("s.json"), &[]);
    assert_eq!(code, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("jitsi/2026-11-28"))
        .unwrap();
    assert!(
        line.contains(&key_path("jitsi/2026-11-28"))
            && line.contains("private")
            && line.contains("RSA-2048")
            && line.contains("mode 0600"),
        "{line}"
    );
    assert!(
        out.contains("partner/pub") && out.contains("public"),
        "{out}"
    );
    assert!(
        out.ends_with("no problems: 0 problem(s), 0 warning(s)\n"),
        "{out}"
    );
}

#[test]
fn problems_in_the_directory_are_named_and_fail() {
    let (t, dir) = keydir();
    write(dir.join("open.pem"), &key(0).pkcs8);
    std::fs::set_permissions(dir.join("open.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    write(
        dir.join("jitsi/broken.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    write(dir.join("notes.txt"), "x");
    let (code, out) = doctor(&dir, &t.path().join("s.json"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ open  private key")
            && out.contains("readable by group or others (mode 0644)"),
        "{out}"
    );
    assert!(
        out.contains("! open  the kid has no issuer segment"),
        "{out}"
    );
    assert!(
        out.contains("✗ ") && out.contains("jitsi/broken.pem  skipped: malformed key"),
        "{out}"
    );
    assert!(
        out.contains("! ") && out.contains("notes.txt  skipped: not a .pem file"),
        "{out}"
    );
    assert!(
        out.contains("PROBLEMS FOUND: 2 problem(s), 2 warning(s)"),
        "{out}"
    );

    let (_t2, empty) = keydir();
    let (code, out) = doctor(&empty, &t.path().join("s2.json"), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("no keys"), "{out}");
    let (code, out) = doctor(&t.path().join("missing"), &t.path().join("s3.json"), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("does not exist"), "{out}");
}

#[test]
fn a_kid_reused_for_another_key_since_the_last_run_is_caught() {
    let (t, dir) = keydir();
    let state = t.path().join("state.json");
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    assert_eq!(doctor(&dir, &state, &[]).0, 0);
    assert_eq!(doctor(&dir, &state, &[]).0, 0, "same key, same verdict");
    write_private(dir.join("jitsi/k.pem"), &key(1).pkcs8);
    let (code, out) = doctor(&dir, &state, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIFFERENT key than at the last doctor run") && out.contains("new kid"),
        "{out}"
    );
    let (_, json, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&state),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], true, "the new key is remembered now");
}

#[test]
fn the_running_key_server_is_compared_kid_by_kid() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/same.pem"), &key(0).pkcs8);
    write_private(dir.join("jitsi/changed.pem"), &key(1).pkcs8);
    write_private(dir.join("jitsi/unpublished.pem"), &key(2).pkcs8);
    let (_t2, served) = keydir();
    write(served.join("jitsi/same.pem"), &key(0).spki);
    write(served.join("jitsi/changed.pem"), &key(3).spki);
    let server = Server::start(&served, &[]);
    let url = format!("http://{}", server.addr);
    let (code, out) = doctor(&dir, &t.path().join("s.json"), &["--url", &url]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "✓ jitsi/same  served identically at {url}{}",
            key_path("jitsi/same")
        )),
        "{out}"
    );
    assert!(
        out.contains("✗ jitsi/changed") && out.contains("serves a DIFFERENT key"),
        "{out}"
    );
    assert!(
        out.contains("✗ jitsi/unpublished") && out.contains("HTTP 404"),
        "{out}"
    );
    let (_, json, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&t.path().join("s.json")),
        "--url",
        &url,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    // The .pem routes: one different key, one missing; the JWKS: the same
    // different key (the missing one is only a warning there).
    assert_eq!(
        (v["ok"].as_bool(), v["failures"].as_u64()),
        (Some(false), Some(3))
    );
    let jwks = &v["sections"][2];
    assert_eq!(jwks["title"], format!("JWKS {url}/.well-known/jwks.json"));
    let text = jwks["findings"].to_string();
    assert!(text.contains("the JWKS holds a DIFFERENT key"), "{text}");
    assert!(text.contains("Prosody reads it every 5m"), "{text}");
}
