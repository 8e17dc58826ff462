//! Current Jitsi: the JWKS at `cache_keys_url` (token plugin 2025-11 and
//! later), the plugin generation read from the installed files, and what
//! `serve`, `verify` and `doctor` make of both.

use crate::common::*;
use serde_json::json;
use std::path::{Path, PathBuf};

fn hdr(kid: &str) -> serde_json::Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

/// Runs a peer script that prints a PEM for `kid` of the JWKS in `file`.
fn jwk_pem(program: &str, script: &str, file: &Path, kid: &str) -> String {
    let out = std::process::Command::new(program)
        .arg(peers_dir().join(script))
        .arg(file)
        .arg(kid)
        .output()
        .unwrap_or_else(|e| panic!("{program} missing ({e}); run scripts/test"));
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_jwks_gives_luaossl_and_jose_the_key_of_the_pem_route() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/a.pem"), &key(0).pkcs8);
    write(dir.join("jitsi/b.pem"), &key(1).pkcs1_public);
    let server = Server::start(&dir, &[]);
    let jwks = t.path().join("jwks.json");
    std::fs::write(&jwks, server.get("/.well-known/jwks.json").body).unwrap();
    assert_peers_read_the_served_keys(&server, &jwks, &["jitsi/a", "jitsi/b"]);
}

/// luaossl and jose make, from the JWKS in `jwks`, the PEM served for each kid.
fn assert_peers_read_the_served_keys(server: &Server, jwks: &Path, kids: &[&str]) {
    for kid in kids {
        let served = server.key(kid).unwrap();
        assert_eq!(
            jwk_pem("lua5.4", "luaossl_jwk_pem.lua", jwks, kid),
            served,
            "luaossl, {kid}"
        );
        assert_eq!(
            jwk_pem("node", "jose_jwk_pem.mjs", jwks, kid),
            served,
            "jose, {kid}"
        );
    }
}

#[test]
fn a_folder_jwks_is_read_by_luaossl_jose_verify_and_doctor() {
    let (t, dir) = keydir();
    write_private(dir.join("tenant-a/k.pem"), &key(0).pkcs8);
    write(dir.join("tenant-a/old/k.pem"), &key(1).spki);
    write(dir.join("tenant-b/k.pem"), &key(2).spki);
    let server = Server::start(&dir, &[]);
    let url = format!("http://{}", server.addr);
    let folder_jwks = format!("{url}/tenant-a/.well-known/jwks.json");
    let jwks = t.path().join("tenant-a.json");
    std::fs::write(&jwks, server.get("/tenant-a/.well-known/jwks.json").body).unwrap();
    assert_peers_read_the_served_keys(&server, &jwks, &["tenant-a/k", "tenant-a/old/k"]);
    // A tenant's Prosody with cache_keys_url at its folder's JWKS.
    let token = token_with(&hdr("tenant-a/k"), &good_claims(), &key(0).pkcs8);
    let v = verify(&token, &["--cache-keys-url", &folder_jwks]);
    assert_says(&v, 0, &["✓ key JWKS", "JWKS entry, RSA-2048"]);
    let other = token_with(&hdr("tenant-b/k"), &good_claims(), &key(2).pkcs8);
    let v = verify(&other, &["--cache-keys-url", &folder_jwks]);
    assert_says(&v, 1, &["kid not in the JWKS"]);
    // doctor checks that folder's keys only.
    let cfg = config(
        t.path(),
        &format!("asap_key_server = \"{url}\"\n    cache_keys_url = \"{folder_jwks}\"\n"),
    );
    let (_, out) = doctor(&dir, &cfg, &t.path().join("state.json"));
    assert!(
        out.contains("tenant-a/k  in the JWKS with the same key as its .pem route"),
        "{out}"
    );
    assert!(
        out.contains(
            "is the JWKS of the keys under tenant-a/; the 1 other keys are not expected in it"
        ),
        "{out}"
    );
    assert!(!out.contains("tenant-b/k  not in the JWKS"), "{out}");
}

struct Verdict {
    code: i32,
    text: String,
}

fn verify(token: &str, args: &[&str]) -> Verdict {
    let mut all = vec!["verify", token, "--timeout", "3s"];
    all.extend_from_slice(args);
    let (code, text, err) = cli(&all);
    assert!(err.is_empty(), "{args:?}: {err}");
    Verdict { code, text }
}

fn assert_says(v: &Verdict, code: i32, needles: &[&str]) {
    assert_eq!(v.code, code, "{}", v.text);
    for n in needles {
        assert!(v.text.contains(n), "no {n:?} in\n{}", v.text);
    }
}

#[test]
fn verify_looks_the_kid_up_in_cache_keys_url_first() {
    // Server A publishes jitsi/k = key 0 (and jitsi/other); server B has
    // replaced jitsi/k by key 1, the same-kid rotation Prosody picks up
    // only through cache_keys_url.
    let (_ta, a_dir) = keydir();
    write(a_dir.join("jitsi/k.pem"), &key(0).spki);
    write(a_dir.join("jitsi/other.pem"), &key(2).spki);
    let (_tb, b_dir) = keydir();
    write(b_dir.join("jitsi/k.pem"), &key(1).spki);
    let (a, b) = (Server::start(&a_dir, &[]), Server::start(&b_dir, &[]));
    let a_url = format!("http://{}", a.addr);
    let b_jwks = format!("http://{}/.well-known/jwks.json", b.addr);
    let rotated = token_with(&hdr("jitsi/k"), &good_claims(), &key(1).pkcs8);

    let v = verify(
        &rotated,
        &["--key-server", &a_url, "--cache-keys-url", &b_jwks],
    );
    assert_says(
        &v,
        0,
        &[
            "✓ cache_keys_url    kid listed in the JWKS",
            "✓ key JWKS",
            "JWKS entry, RSA-2048",
        ],
    );
    // The plugin before 2025-11 cannot read a JWKS: the old key is used.
    let v = verify(
        &rotated,
        &[
            "--key-server",
            &a_url,
            "--cache-keys-url",
            &b_jwks,
            "--jitsi",
            "2025-10",
        ],
    );
    assert_says(
        &v,
        1,
        &[
            "! cache_keys_url",
            "attempt to call a nil value (method 'sub')",
            "Prosody would REJECT this token: signature",
        ],
    );
    // Without cache_keys_url the key server's (old) key decides.
    let v = verify(&rotated, &["--key-server", &a_url]);
    assert_says(&v, 1, &["Prosody would REJECT this token: signature"]);

    // A kid that is not in the JWKS falls back to asap_key_server.
    let other = token_with(&hdr("jitsi/other"), &good_claims(), &key(2).pkcs8);
    let v = verify(
        &other,
        &["--key-server", &a_url, "--cache-keys-url", &b_jwks],
    );
    assert_says(
        &v,
        0,
        &[
            "kid not in the JWKS",
            "so Prosody falls back to asap_key_server",
            "✓ key URL",
        ],
    );
    // ... and with no asap_key_server, nowhere.
    let v = verify(&other, &["--cache-keys-url", &b_jwks]);
    assert_says(
        &v,
        1,
        &[
            "and asap_key_server is not set, so the login fails",
            "Prosody would REJECT this token: key",
        ],
    );
}

#[test]
fn a_cache_keys_url_that_is_no_jwks_is_named_and_the_key_server_still_used() {
    let (_ta, a_dir) = keydir();
    write(a_dir.join("jitsi/k.pem"), &key(0).spki);
    let a = Server::start(&a_dir, &[]);
    let a_url = format!("http://{}", a.addr);
    let token = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    let www = tempdir();
    std::fs::write(www.path().join("notjson.json"), "<html>not json</html>").unwrap();
    std::fs::write(www.path().join("nokeys.json"), "{\"kid\": \"x\"}").unwrap();
    std::fs::create_dir(www.path().join("dir")).unwrap();
    let web = StaticServer::start(www.path());
    let closed = format!("http://127.0.0.1:{}/jwks.json", free_port());
    for (url, needle) in [
        (format!("{}/notjson.json", web.url), "not JSON"),
        (
            format!("{}/nokeys.json", web.url),
            "without a \"keys\" array",
        ),
        (format!("{}/dir", web.url), "redirect to"),
        (
            format!("{}/missing.json", web.url),
            "HTTP 404: Prosody needs 200",
        ),
        (closed, "cannot fetch it"),
    ] {
        let v = verify(&token, &["--key-server", &a_url, "--cache-keys-url", &url]);
        assert_says(
            &v,
            0,
            &[
                "! cache_keys_url",
                needle,
                "tries again in 30 s; so Prosody falls back to asap_key_server",
                "Prosody would ACCEPT",
            ],
        );
    }
}

/// A Prosody config dir whose `plugins/token/` holds only the marker files
/// that tell the generations apart (never Jitsi's code).
fn plugin_dir(generation: &str) -> tempfile::TempDir {
    let t = tempdir();
    let token = t.path().join("plugins/token");
    std::fs::create_dir_all(&token).unwrap();
    let util = match generation {
        "G1" => "-- marker: a token plugin from before 2025-11\n",
        "G2" => "-- marker\nlocal jwk = require \"token/jwk\";\n",
        _ => "-- marker\nlocal jwk = require \"token/jwk\";\n-- \"sub claim is missing\"\n",
    };
    std::fs::write(token.join("util.lib.lua"), util).unwrap();
    if generation != "G1" {
        std::fs::write(token.join("jwk.lib.lua"), "-- marker\n").unwrap();
    }
    t
}

fn config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("prosody.cfg.lua");
    std::fs::write(
        &path,
        format!(
            "plugin_paths = {{ \"plugins\" }}\nVirtualHost \"meet.example.com\"\n    authentication = \"token\"\n    app_id = \"jitsi\"\n    asap_accepted_issuers = {{ \"jitsi\" }}\n{body}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn verify_reads_the_generation_from_the_installed_plugin() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    let no_sub = {
        let mut c = good_claims();
        c.as_object_mut().unwrap().remove("sub");
        token_with(&hdr("jitsi/k"), &c, &key(0).pkcs8)
    };
    for (generation, code) in [("G1", 0), ("G2", 0), ("G3", 1)] {
        let t = plugin_dir(generation);
        let cfg = config(t.path(), "");
        let util = t.path().join("plugins/token/util.lib.lua");
        // Without domain verification, only G3's login needs sub (with it,
        // G1 and G2 fail at the room join instead).
        let args = [
            "--prosody-config",
            &path_str(&cfg),
            "--keys",
            &path_str(&dir),
            "--no-domain-verification",
        ];
        let v = verify(&no_sub, &args);
        assert_says(
            &v,
            code,
            &[&format!(
                "({generation}) (detected from {})",
                util.display()
            )],
        );
        // --jitsi overrides what was detected.
        let mut args = args.to_vec();
        args.extend(["--jitsi", "2025-10"]);
        assert_says(&verify(&no_sub, &args), 0, &["(G1) (as --jitsi says)"]);
    }
    // Where the plugin cannot be found, say so and check as the newest.
    let t = plugin_dir("G3");
    std::fs::remove_file(t.path().join("plugins/token/util.lib.lua")).unwrap();
    std::fs::create_dir(t.path().join("plugins/token/util.lib.lua")).unwrap();
    let cfg = config(t.path(), "");
    let v = verify(
        &no_sub,
        &[
            "--prosody-config",
            &path_str(&cfg),
            "--keys",
            &path_str(&dir),
        ],
    );
    assert_says(
        &v,
        1,
        &[
            "! cannot tell which token plugin Prosody runs: cannot read",
            "checking as the newest known",
        ],
    );
}

fn doctor(dir: &Path, cfg: &Path, state: &Path) -> (i32, String) {
    let (code, out, err) = cli(&[
        "doctor",
        "--keys",
        &path_str(dir),
        "--state",
        &path_str(state),
        "--prosody-config",
        &path_str(cfg),
        "--timeout",
        "3s",
    ]);
    (code, format!("{out}{err}"))
}

#[test]
fn doctor_names_the_plugin_and_fits_cache_keys_url_to_it() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let url = format!("http://{}", server.addr);
    let jwks = format!("{url}/.well-known/jwks.json");
    let state = t.path().join("state.json");
    let asap = format!("    asap_key_server = \"{url}\"");
    let both = format!("{asap}\n    cache_keys_url = \"{jwks}\"");
    let only_jwks = format!("    cache_keys_url = \"{jwks}\"");
    let www = tempdir();
    std::fs::write(
        www.path().join("certs.json"),
        "{\"jitsi/k\": \"-----BEGIN CERTIFICATE-----\"}",
    )
    .unwrap();
    let web = StaticServer::start(www.path());
    let cert_map = format!("{asap}\n    cache_keys_url = \"{}/certs.json\"", web.url);
    let cases: [(&str, &str, i32, &[&str]); 7] = [
        (
            "G3",
            &asap,
            0,
            &[
                "✓ token plugin  the Jitsi token plugin of 2026-05 and later (G3), detected from",
                "! cache_keys_url  not set: Prosody caches every key",
                &format!("fix: add to the VirtualHost: cache_keys_url = \"{jwks}\""),
                &format!("    cache_keys_url = \"{jwks}\"\n"),
            ],
        ),
        (
            "G2",
            &both,
            0,
            &[
                "(G2), detected from",
                "✓ cache_keys_url",
                &format!("JWKS {jwks}"),
                "✓ jitsi/k  in the JWKS with the same key as its .pem route",
                "Prosody reads it every 5m",
                "a removed kid keeps working up to 1h 35m",
            ],
        ),
        (
            "G1",
            &both,
            1,
            &[
                "(G1), detected from",
                "✗ cache_keys_url",
                "reads it as a map of certificates",
                "upgrade the Jitsi token plugin to 2025-11 or later",
            ],
        ),
        (
            "G1",
            &asap,
            0,
            &["(G1), detected from"],
        ),
        (
            "G1",
            &cert_map,
            0,
            &["! cache_keys_url", "is not a JWKS", "a JSON map of kid to certificate"],
        ),
        (
            "G3",
            &only_jwks,
            1,
            &["✗ cache_keys_url  set without asap_key_server"],
        ),
        ("none", &asap, 0, &["! token plugin  cannot tell which one Prosody runs: no token/util.lib.lua under plugin_paths (plugins)"]),
    ];
    for (generation, body, code, needles) in cases {
        let t = plugin_dir(generation);
        if generation == "none" {
            std::fs::remove_dir_all(t.path().join("plugins")).unwrap();
        }
        let cfg = config(t.path(), body);
        let (got, out) = doctor(&dir, &cfg, &state);
        assert_eq!(got, code, "{generation} {body}: {out}");
        for n in needles {
            assert!(out.contains(n), "{generation} {body}: no {n:?} in\n{out}");
        }
        if generation == "G1" {
            assert!(
                !out.contains("cache_keys_url = \""),
                "no JWKS line for G1:\n{out}"
            );
        }
    }
}

#[test]
fn serve_prints_both_set_ups_and_times_the_jwks_for_prosody() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    let server = Server::start(&dir, &["--jwks-max-age", "120", "--base-path", "/keys"]);
    let base = format!("http://{}/keys", server.addr);
    server.wait_log(&format!(
        "Prosody set-up 1, any Jitsi token plugin: asap_key_server = \"{base}\""
    ));
    server.wait_log(&format!(
        "Prosody set-up 2, token plugin 2025-11 or later: add cache_keys_url = \"{base}/.well-known/jwks.json\"; Prosody reads it every 60 s"
    ));
    let jwks = server.get("/keys/.well-known/jwks.json");
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=120"));
    let pem = server.get(&format!("/keys{}", key_path("jitsi/k")));
    assert_eq!(pem.header("cache-control"), Some("public, max-age=300"));
}

/// The kids of the JWKS at `path` on `server`.
fn kids_at(server: &Server, path: &str) -> Vec<String> {
    let reply = server.get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str()),
        "{path}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Issue 21: `?newest=N` (and `issuer=`) holds only the newest N keys of
/// each issuer, by the rule mint --issuer follows; each variant has its own
/// validators; bad queries get a 400 naming them; a new key enters at once.
#[test]
fn a_bounded_jwks_holds_the_newest_keys_of_each_issuer() {
    let (t, dir) = keydir();
    for (i, kid) in [
        "acme/2026-10-01",
        "acme/2026-11-01",
        "acme/2026-11-20",
        "jitsi/2026-11-15",
        "jitsi/2026-11-30",
    ]
    .iter()
    .enumerate()
    {
        write(dir.join(format!("{kid}.pem")), &key(i % 4).spki);
    }
    // Two kids without a date written together (within 60 s): which is
    // newer cannot be told, so both stay.
    write(dir.join("other/k1.pem"), &key(1).spki);
    write(dir.join("other/k2.pem"), &key(2).spki);
    let server = Server::start(&dir, &[]);
    let jwks = "/.well-known/jwks.json";
    assert_eq!(kids_at(&server, jwks).len(), 7);
    assert_eq!(
        kids_at(&server, &format!("{jwks}?newest=1")),
        [
            "acme/2026-11-20",
            "jitsi/2026-11-30",
            "other/k1",
            "other/k2"
        ]
    );
    assert_eq!(
        kids_at(
            &server,
            &format!("{jwks}?newest=2&issuer=acme&issuer=jitsi")
        ),
        [
            "acme/2026-11-01",
            "acme/2026-11-20",
            "jitsi/2026-11-15",
            "jitsi/2026-11-30"
        ]
    );
    assert_eq!(
        kids_at(&server, "/acme/.well-known/jwks.json?newest=1"),
        ["acme/2026-11-20"]
    );
    // Its own validators: a 304 for its ETag, a 200 for the whole one's.
    let etag = |path: &str| server.get(path).header("etag").unwrap().to_owned();
    let (one, two, all) = (
        etag(&format!("{jwks}?newest=1")),
        etag(&format!("{jwks}?newest=2")),
        etag(jwks),
    );
    assert!(one != two && one != all && two != all, "{one} {two} {all}");
    let again = request(
        server.addr,
        "GET",
        &format!("{jwks}?newest=1"),
        &[("If-None-Match", &one)],
    );
    assert_eq!(again.status, 304);
    let other = request(
        server.addr,
        "GET",
        &format!("{jwks}?newest=1"),
        &[("If-None-Match", &all)],
    );
    assert_eq!(other.status, 200);
    // Bad queries are named.
    for (query, says) in [
        (
            "newest=0",
            "newest=\"0\" is not a number of keys from 1 to 1000",
        ),
        ("newest=two", "newest=\"two\""),
        ("newest=1&newest=2", "newest is given twice"),
        ("newst=1", "unknown parameter \"newst\""),
        ("issuer=a%2Fb", "issuer=\"a/b\" is not an issuer"),
    ] {
        let reply = server.get(&format!("{jwks}?{query}"));
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.text().contains(says), "{query}: {}", reply.text());
    }
    // A rotated key enters the bounded set at once, and the one before stays
    // only while it is among the newest N.
    let (code, out, err) = cli(&["rotate", "acme", "--keys", &path_str(&dir)]);
    assert_eq!(code, 0, "{err}");
    let new = out
        .lines()
        .find_map(|l| l.strip_prefix("created kid "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    wait_until("the rotated key in the bounded JWKS", || {
        kids_at(&server, &format!("{jwks}?newest=1&issuer=acme")) == [new.clone()]
    });
    std::fs::remove_file(dir.join(format!("{new}.pem"))).unwrap();
    wait_until("a deleted kid out of the bounded JWKS at once", || {
        kids_at(&server, &format!("{jwks}?newest=1&issuer=acme")) == ["acme/2026-11-20"]
    });
    // jose verifies a token of the newest key against the bounded JWKS.
    let token = token_with(
        &hdr("acme/2026-11-20"),
        &json!({"iss": "acme", "aud": "jitsi", "exp": now() + 600}),
        &key(2).pkcs8,
    );
    let token_file = t.path().join("token");
    std::fs::write(&token_file, &token).unwrap();
    let url = format!("http://{}{jwks}?newest=1&issuer=acme", server.addr);
    let out = std::process::Command::new("node")
        .arg(peers_dir().join("jose_jwks_verify.mjs"))
        .args([&url, &path_str(&token_file), "jitsi", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Issue 21: doctor reports the size of the JWKS Prosody reads, and past a
/// few hundred keys warns of the stall with the bounded URL as the fix; the
/// bounded JWKS itself is checked against the newest keys of each issuer.
#[test]
fn doctor_weighs_the_jwks_at_cache_keys_url() {
    let (t, dir) = keydir();
    // Kids named by date, so that the newest of each issuer can be told.
    for i in 0..260 {
        let n = i / 3;
        let kid = format!("tenant{}/2026-{:02}-{:02}", i % 3, n / 28 + 1, n % 28 + 1);
        write(dir.join(format!("{kid}.pem")), &key(i % 4).spki);
    }
    let server = Server::start(&dir, &[]);
    let base = format!("http://{}", server.addr);
    // serve's start-up lines recommend the bounded JWKS, and say why.
    server.wait_log(&format!(
        "add cache_keys_url = \"{base}/.well-known/jwks.json?newest=2\""
    ));
    server.wait_log("that is the bounded JWKS, the newest 2 keys of each issuer");
    let plugins = plugin_dir("G3");
    let doctor = |cache_keys_url: &str| {
        let cfg = config(
            plugins.path(),
            &format!("    asap_key_server = \"{base}\"\n    cache_keys_url = \"{cache_keys_url}\"\n    asap_accepted_issuers = {{ \"tenant0\", \"tenant1\", \"tenant2\" }}\n"),
        );
        let (code, out, err) = cli(&[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &path_str(&t.path().join("s.json")),
            "--prosody-config",
            &path_str(&cfg),
        ]);
        assert!(err.is_empty(), "{err}");
        (code, out)
    };
    let (_, out) = doctor(&format!("{base}/.well-known/jwks.json"));
    assert!(
        out.contains("! size  260 key(s), ")
            && out.contains("about 260 x 2.5 ms = 0.7 s of Prosody's time every 5m")
            && out.contains(&format!(
                "set cache_keys_url = \"{base}/.well-known/jwks.json?newest=2\""
            )),
        "{out}"
    );
    let (code, out) = doctor(&format!("{base}/.well-known/jwks.json?newest=2"));
    assert!(
        out.contains("✓ size  6 key(s)")
            && out.contains("the 254 older key(s) are not expected in it")
            && !out.contains("not in the JWKS"),
        "{out}"
    );
    assert!(!out.contains("✗ "), "{code}: {out}");
}

/// The real Prosody with `cache_keys_url` at the bounded JWKS over a few
/// thousand keys (issue 21), its token module reading the JWKS as plugins
/// from 2025-11 do: the newest key logs in from the JWKS, a same-kid
/// rotation of it is picked up at the next refresh, an old kid outside the
/// bounded set still logs in through asap_key_server, and a deleted kid
/// leaves the bounded JWKS at once.
#[test]
fn prosody_logs_in_from_the_bounded_jwks_and_falls_back_to_the_key_server() {
    let (_t, dir) = keydir();
    // Thousands of keys of another issuer, named by the second.
    for i in 0..3000 {
        let kid = format!(
            "bulk/2026-11-01T{:02}{:02}{:02}Z",
            i / 3600,
            (i / 60) % 60,
            i % 60
        );
        write(dir.join(format!("{kid}.pem")), &key(i % 4).spki);
    }
    for (kid, i) in [
        ("jitsi/2026-10-01", 0),
        ("jitsi/2026-11-01", 1),
        ("jitsi/2026-12-01", 2),
    ] {
        write(dir.join(format!("{kid}.pem")), &key(i).spki);
    }
    let server = Server::start(&dir, &["--jwks-max-age", "2"]);
    let base = format!("http://{}", server.addr);
    let bounded = format!("{base}/.well-known/jwks.json?newest=2");
    assert_eq!(
        kids_at(&server, "/.well-known/jwks.json?newest=2&issuer=jitsi"),
        ["jitsi/2026-11-01", "jitsi/2026-12-01"]
    );
    let prosody = Prosody::start(
        ProsodySetup {
            mode: "g3",
            focus: true,
            tls: None,
            key_server: Some(base.clone()),
            muc_base: true,
            host_lines: format!("    cache_keys_url = \"{bounded}\"\n"),
        },
        None,
    );
    let refreshes = |prosody: &Prosody| {
        prosody
            .log()
            .matches("test: cached public keys refreshed: 4 keys")
            .count()
    };
    wait_until("Prosody read the bounded JWKS", || refreshes(&prosody) >= 1);
    let pem_fetches = |server: &Server| -> u64 {
        let metrics = server.get("/metrics").text();
        metrics
            .lines()
            .find(|l| {
                l.starts_with("asap_keyserver_requests_total{route=\"prosody_pem\",status=\"200\"}")
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse().unwrap())
    };
    let login = |kid: &str, pem: &str| -> i32 {
        let token = token_with(&hdr(kid), &good_claims(), pem);
        let (code, out, err) = cli(&[
            "login",
            &token,
            "--websocket",
            &prosody.websocket(),
            "--domain",
            "meet.test",
            "--no-join",
            "--timeout",
            "5s",
        ]);
        assert!(code != 2, "{out}{err}");
        code
    };
    // The newest key, from the JWKS: no .pem fetch.
    assert_eq!(login("jitsi/2026-12-01", &key(2).pkcs8), 0);
    assert_eq!(pem_fetches(&server), 0, "the JWKS gave the key");
    // Replaced under its kid: the next refresh picks it up.
    write_atomic(dir.join("jitsi/2026-12-01.pem"), &key(3).spki);
    server.wait_key("jitsi/2026-12-01", key(3));
    let seen = refreshes(&prosody);
    wait_until("a refresh after the replacement", || {
        refreshes(&prosody) >= seen + 2
    });
    assert_eq!(
        login("jitsi/2026-12-01", &key(3).pkcs8),
        0,
        "the replaced key, from the JWKS"
    );
    // An old kid outside the bounded set: through asap_key_server.
    let before = pem_fetches(&server);
    assert_eq!(login("jitsi/2026-10-01", &key(0).pkcs8), 0);
    assert_eq!(pem_fetches(&server), before + 1, "fetched as <sha256>.pem");
    // A deleted kid leaves the bounded JWKS at once; the one before comes in.
    std::fs::remove_file(dir.join("jitsi/2026-12-01.pem")).unwrap();
    server.wait_gone("jitsi/2026-12-01");
    assert_eq!(
        kids_at(&server, "/.well-known/jwks.json?newest=2&issuer=jitsi"),
        ["jitsi/2026-10-01", "jitsi/2026-11-01"]
    );
}
