//! `verify --prosody-config` and `doctor --prosody-config` on real-shaped
//! Prosody configurations (tests/fixtures/prosody, see its README).

use crate::common::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    path_str(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/prosody")
            .join(name),
    )
}

fn hdr(kid: &str) -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": kid})
}

fn claims(changes: Value) -> Value {
    let mut c = good_claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// `verify TOKEN --prosody-config FILE --keys DIR ARGS` -> (code, first failure, text)
fn verify(
    token: &str,
    config: &str,
    dir: &std::path::Path,
    extra: &[&str],
) -> (i32, Option<String>, String) {
    let mut args = vec![
        "verify",
        token,
        "--prosody-config",
        config,
        "--keys",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, text, err) = cli(&args);
    args.push("--json");
    let (_, json, _) = cli(&args);
    let json: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
    (
        code,
        json["first_failure"].as_str().map(str::to_owned),
        text,
    )
}

fn keys() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    write(dir.join("other/k.pem"), &key(1).pkcs8);
    write(dir.join("beta/k.pem"), &key(2).pkcs8);
    (t, dir)
}

#[test]
fn debian_layout() {
    let (_t, dir) = keys();
    let config = fixture("debian-jitsi-meet.cfg.lua");
    let ok = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    let (code, _, text) = verify(&ok, &config, &dir, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("VirtualHost \"meet.example.com\""),
        "the token host, not guest or auth: {text}"
    );
    assert!(
        text.contains("asap_accepted_audiences { \"jitsi\" }"),
        "single quotes read: {text}"
    );
    // Audiences come from the config.
    let wrong_aud = token_with(
        &hdr("jitsi/k"),
        &claims(json!({"aud": "other"})),
        &key(0).pkcs8,
    );
    assert_eq!(
        verify(&wrong_aud, &config, &dir, &[]).1.as_deref(),
        Some("aud")
    );
    // Issuers too: "other" is not accepted here.
    let other = token_with(
        &hdr("other/k"),
        &claims(json!({"iss": "other"})),
        &key(1).pkcs8,
    );
    assert_eq!(verify(&other, &config, &dir, &[]).1.as_deref(), Some("iss"));
    // Flags override the config.
    assert_eq!(
        verify(&other, &config, &dir, &["--accepted-issuers", "other"]).0,
        0
    );
    // Domain verification is on by default here: sub must match the domain.
    let sub = token_with(
        &hdr("jitsi/k"),
        &claims(json!({"sub": "elsewhere.example"})),
        &key(0).pkcs8,
    );
    assert_eq!(
        verify(&sub, &config, &dir, &["--domain", "meet.example.com"])
            .1
            .as_deref(),
        Some("sub")
    );
}

#[test]
fn docker_jitsi_meet_layout() {
    let (_t, dir) = keys();
    let config = fixture("docker-jitsi-meet.cfg.lua");
    // Global issuers { "jitsi","other" } apply to the host.
    let other = token_with(
        &hdr("other/k"),
        &claims(json!({"iss": "other", "sub": "whatever"})),
        &key(1).pkcs8,
    );
    let (code, _, text) = verify(&other, &config, &dir, &["--domain", "meet.jitsi"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("enable_domain_verification = false"),
        "{text}"
    );
    let stranger = token_with(
        &hdr("jitsi/k"),
        &claims(json!({"iss": "stranger"})),
        &key(0).pkcs8,
    );
    assert_eq!(
        verify(&stranger, &config, &dir, &[]).1.as_deref(),
        Some("iss")
    );
}

#[test]
fn multi_domain_needs_a_host_and_evaluates_expressions() {
    let (_t, dir) = keys();
    let config = fixture("multi-domain.cfg.lua");
    let token = token_with(
        &hdr("beta/k"),
        &claims(json!({"iss": "shared", "room": null})),
        &key(2).pkcs8,
    );
    let (code, _, err) = cli(&[
        "verify",
        &token,
        "--prosody-config",
        &config,
        "--keys",
        &path_str(&dir),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("2 VirtualHosts use authentication = \"token\" (meet.alpha.example, meet.beta.example); choose one with --host"), "{err}");
    let (code, _, text) = verify(&token, &config, &dir, &["--host", "meet.beta.example"]);
    assert_eq!(code, 0, "beta accepts iss shared and needs no room: {text}");
    // `os.getenv("BETA_KEY_SERVER") or "https://..."` runs as in Prosody.
    assert!(!text.contains("could not read"), "{text}");
    let (code, first, _) = verify(&token, &config, &dir, &["--host", "meet.alpha.example"]);
    assert_eq!((code, first.as_deref()), (1, Some("iss")));
    let (code, _, err) = cli(&[
        "verify",
        &token,
        "--prosody-config",
        &config,
        "--host",
        "nope",
        "--keys",
        &path_str(&dir),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no VirtualHost \"nope\"")
            && err.contains("meet.alpha.example, meet.beta.example"),
        "{err}"
    );
    let (code, _, err) = cli(&[
        "verify",
        &token,
        "--prosody-config",
        "/nonexistent.cfg.lua",
        "--keys",
        &path_str(&dir),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read Prosody config /nonexistent.cfg.lua"),
        "{err}"
    );
}

#[test]
fn verify_fetches_from_the_configured_key_server() {
    let (t, dir) = keys();
    let server = Server::start(&dir, &[]);
    let config = t.path().join("prosody.cfg.lua");
    std::fs::write(&config, format!(
        "VirtualHost \"meet.example.com\"\n    authentication = \"token\"\n    app_id = \"jitsi\"\n    asap_key_server = \"http://{}\"\n",
        server.addr
    )).unwrap();
    let token = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    let (code, text, _) = cli(&["verify", &token, "--prosody-config", &path_str(&config)]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("http://{}{}", server.addr, key_path("jitsi/k"))),
        "{text}"
    );
}

#[test]
fn doctor_checks_the_prosody_side() {
    // Every URL doctor fetches here is on loopback: our server, or a closed port.
    let (t, dir) = keys();
    for kid in ["jitsi/k", "other/k", "beta/k"] {
        std::fs::set_permissions(
            dir.join(format!("{kid}.pem")),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
    }
    let server = Server::start(&dir, &[]);
    let url = format!("http://{}", server.addr);
    let state = path_str(&t.path().join("state.json"));
    let (code, out, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &state,
        "--url",
        &url,
        "--prosody-config",
        &fixture("debian-jitsi-meet.cfg.lua"),
    ]);
    assert!(
        out.contains("✓ asap_key_server  \"https://keys.example.com\""),
        "{out}"
    );
    // Issuers with keys that the VirtualHost does not accept, beside one it
    // accepts, are other tenants' folders (issue 27): notes naming the
    // folder, with the line to write if they are meant for this Prosody.
    assert!(
        out.contains(&format!("· {}/  issuer \"other\" is not accepted by this Prosody (VirtualHost \"meet.example.com\" accepts {{ \"jitsi\" }} from asap_accepted_issuers): another tenant's keys?", dir.join("other").display()))
            && out.contains("fix: nothing, if they are another tenant's; if this Prosody should take them, write asap_accepted_issuers = { \"jitsi\", \"beta\", \"other\" } on VirtualHost \"meet.example.com\"")
            && out.contains("issuer \"beta\" is not accepted by this Prosody"),
        "{out}"
    );
    assert!(
        out.contains("Lines for the token VirtualHost:")
            && out.contains(&format!("asap_key_server = \"{url}\"")),
        "{out}"
    );
    assert!(
        out.contains(&format!("Key server {url}")) && out.contains("served identically"),
        "{out}"
    );
    assert_eq!(code, 0, "other tenants' issuers are notes: {out}");
    // The directory Prosody's issuers match: only jitsi's keys.
    let only_jitsi = t.path().join("only-jitsi");
    write_private(only_jitsi.join("jitsi/k.pem"), &key(0).pkcs8);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for (body, needle, code) in [
        (
            "asap_key_server = \"file:///etc/keys\"\napp_id = \"jitsi\"",
            "Prosody fetches keys over HTTP(S) only",
            1,
        ),
        (
            "asap_key_server = \"http://SERVER/\"\napp_id = \"jitsi\"",
            "ends in '/'",
            0,
        ),
        (
            "asap_key_server = \"http://SERVER/\"\napp_id = \"jitsi\"",
            "is plain http",
            0,
        ),
        (
            "asap_key_server = \"http://SERVER\"\napp_id = \"jitsi\"",
            "is plain http",
            0,
        ),
        (
            "app_secret = \"placeholder\"\nasap_key_server = \"SERVER\"\napp_id = \"jitsi\"",
            "is not an http:// or https:// URL",
            1,
        ),
        (
            "app_secret = \"placeholder\"\nasap_key_server = \"http://SERVER\"\napp_id = \"jitsi\"",
            "set beside asap_key_server: it is ignored",
            0,
        ),
        (
            "app_secret = \"placeholder\"\napp_id = \"jitsi\"",
            "to move to a key server: 1. asap-keyserver rotate jitsi",
            0,
        ),
        (
            "asap_key_server = os.getenv(\"ASAP_KEYSERVER_TEST_UNSET\")\napp_id = \"jitsi\"",
            "asap_key_server  not set",
            1,
        ),
        (
            "asap_key_server = { url = function() end }\napp_id = \"jitsi\"",
            "could not read its value (a function value)",
            1,
        ),
        ("asap_key_server = \"http://SERVER\"", "app_id  not set", 1),
        (
            "asap_key_server = \"http://SERVER\"\napp_id = \"jitsi\"\nasap_accepted_issuers = { \"jitsi\", \"partner\" }",
            "accepts issuer \"partner\" (from asap_accepted_issuers), but the key directory has no key of it",
            1,
        ),
        (
            "asap_key_server = \"http://CLOSED\"\napp_id = \"jitsi\"",
            "cannot connect",
            1,
        ),
    ] {
        let body = body
            .replace("SERVER", &server.addr.to_string())
            .replace("CLOSED", &closed.to_string());
        let config = t.path().join("c.cfg.lua");
        std::fs::write(
            &config,
            format!("VirtualHost \"m\"\n    authentication = \"token\"\n{body}\n"),
        )
        .unwrap();
        let (got, out, err) = cli(&[
            "doctor",
            "--keys",
            &path_str(&only_jitsi),
            "--state",
            &state,
            "--prosody-config",
            &path_str(&config),
            "--timeout",
            "2s",
        ]);
        assert!(out.contains(needle), "{body}: no {needle:?} in {out}{err}");
        assert_eq!(got, code, "{body}: {out}");
    }
}

/// Issue 17: `app_id = "jitsi"` and only `acme/...` keys. doctor used to say
/// "no problems" while verify rejected every token on iss; now both refuse.
#[test]
fn doctor_and_verify_agree_on_an_issuer_prosody_does_not_accept() {
    let (t, dir) = keydir();
    write_private(dir.join("acme/k1.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let config = t.path().join("meet.cfg.lua");
    std::fs::write(
        &config,
        format!(
            "VirtualHost \"meet.example.com\"\n    authentication = \"token\"\n    app_id = \"jitsi\"\n    asap_key_server = \"http://{}\"\n",
            server.addr
        ),
    )
    .unwrap();
    let state = path_str(&t.path().join("state.json"));
    let (code, out, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &state,
        "--prosody-config",
        &path_str(&config),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("issuer \"acme\" has keys in the key directory (acme/...), but VirtualHost \"meet.example.com\" accepts only { \"jitsi\" } from app_id (asap_accepted_issuers is not set, so only app_id is accepted)")
            && out.contains("write asap_accepted_issuers = { \"jitsi\", \"acme\" }")
            && out.contains("accepts issuer \"jitsi\" (from app_id")
            && out.contains("create a key of it (asap-keyserver rotate jitsi)")
            && out.contains("PROBLEMS FOUND"),
        "{out}"
    );
    let token = mint(&dir, &["--issuer", "acme", "--room", "standup"]).0;
    let (code, text, _) = cli(&["verify", &token, "--prosody-config", &path_str(&config)]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Prosody would REJECT this token: iss (invalid 'iss' claim)"),
        "{text}"
    );
}

/// Issue 17: the room join needs muc_mapper_domain_base. Without it the 2024
/// plugin refuses sub "*" (and tenants) with "Room and token mismatched",
/// and plugins from 2025-11 find no room at all; verify must not tick a
/// claim the join will refuse.
#[test]
fn the_room_join_needs_muc_mapper_domain_base() {
    let (t, dir) = keydir();
    write(dir.join("jitsi/k.pem"), &key(0).spki);
    let token =
        |sub: &str| token_with(&hdr("jitsi/k"), &claims(json!({"sub": sub})), &key(0).pkcs8);
    let plugins = t.path().join("plugins/token");
    std::fs::create_dir_all(&plugins).unwrap();
    let muc = "Component \"conference.meet.example.com\" \"muc\"\n    modules_enabled = { \"token_verification\" }\n";
    let run = |generation: &str, base: &str, sub: &str| {
        let util = match generation {
            "G1" => "-- marker\n",
            _ => "require \"token/jwk\" -- sub claim is missing\n",
        };
        std::fs::write(plugins.join("util.lib.lua"), util).unwrap();
        if generation == "G1" {
            let _ = std::fs::remove_file(plugins.join("jwk.lib.lua"));
        } else {
            std::fs::write(plugins.join("jwk.lib.lua"), "-- marker\n").unwrap();
        }
        let cfg = t.path().join("prosody.cfg.lua");
        std::fs::write(
            &cfg,
            format!(
                "plugin_paths = {{ \"plugins\" }}\n{base}\nVirtualHost \"meet.example.com\"\n    authentication = \"token\"\n    app_id = \"jitsi\"\n{muc}"
            ),
        )
        .unwrap();
        let (code, text, _) = cli(&[
            "verify",
            &token(sub),
            "--prosody-config",
            &path_str(&cfg),
            "--keys",
            &path_str(&dir),
        ]);
        (code, text)
    };
    let base = "muc_mapper_domain_base = \"meet.example.com\"";
    // The 2024 plugin: "*" and tenants refused, the domain accepted.
    let (code, text) = run("G1", "", "*");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("✗ sub               \"*\"")
            && text.contains("matches \"*\" against the MUC domain of muc_mapper_domain_base, which this config does not set")
            && text.contains("Prosody would REJECT this token: sub (Room and token mismatched)"),
        "{text}"
    );
    let (code, text) = run("G1", "", "meet.example.com");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("✓ sub               \"meet.example.com\" matches the domain"),
        "{text}"
    );
    // Since 2025-11: no room is found at all.
    for sub in ["*", "meet.example.com"] {
        let (code, text) = run("G3", "", sub);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("✗ room join         muc_mapper_domain_base is not set")
                && text
                    .contains("Prosody would REJECT this token: room join (Room does not exist)"),
            "{text}"
        );
    }
    // doctor says it of the set-up, by plugin generation.
    let doctor = |generation: &str, base: &str| {
        run(generation, base, "*");
        let (code, out, _) = cli(&[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--state",
            &path_str(&t.path().join("s.json")),
            "--prosody-config",
            &path_str(&t.path().join("prosody.cfg.lua")),
        ]);
        (code, out)
    };
    let (code, out) = doctor("G1", "");
    assert!(
        code == 1 && out.contains("✗ muc_mapper_domain_base  not set: the Jitsi token plugin from before 2025-11 (G1) refuses joins with sub \"*\" or a tenant"),
        "{out}"
    );
    let (code, out) = doctor("G3", "");
    assert!(
        code == 1
            && out.contains(
                "looks every room up under it, so every join is refused (\"Room does not exist\")"
            )
            && out.contains("muc_mapper_domain_base = \"meet.example.com\" in the global section"),
        "{out}"
    );
    let (_, out) = doctor("G3", base);
    assert!(
        out.contains("✓ token_verification  on conference.meet.example.com; rooms matched under conference.meet.example.com"),
        "{out}"
    );
    // An option the plugin reads from the VirtualHost, set on the Component.
    let cfg = t.path().join("prosody.cfg.lua");
    let text = std::fs::read_to_string(&cfg).unwrap() + "    enable_domain_verification = false\n";
    std::fs::write(&cfg, text).unwrap();
    let (_, out, _) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&t.path().join("s.json")),
        "--prosody-config",
        &path_str(&cfg),
    ]);
    assert!(
        out.contains("! enable_domain_verification  set in Component \"conference.meet.example.com\", where the token plugin never reads it"),
        "{out}"
    );
    // With the base set, both pass, and the base names the domain sub may be.
    for generation in ["G1", "G3"] {
        let (code, text) = run(generation, base, "*");
        assert_eq!(code, 0, "{generation}: {text}");
        assert!(
            text.contains("rooms under muc_mapper_domain_base \"meet.example.com\""),
            "{text}"
        );
        let (code, text) = run(generation, base, "other.example.com");
        assert_eq!(code, 1, "{generation}: {text}");
        assert!(
            text.contains("sub must be the domain \"meet.example.com\""),
            "{text}"
        );
    }
}

/// Issue 18 (5): a config that loops inside `pcall`, backtracks in C, or
/// names a FIFO ends `doctor` and `verify` with an error naming the file
/// (exit 2), instead of hanging them with no word.
#[test]
fn configs_that_would_hang_end_with_an_error_naming_the_file() {
    let (t, dir) = keys();
    let fifo = t.path().join("fifo");
    run(std::process::Command::new("mkfifo").arg(&fifo));
    let config = t.path().join("prosody.cfg.lua");
    let shown = path_str(&config);
    let budget = format!("error: {shown}: ran longer than its budget of 50 million Lua instructions (an endless loop?)");
    let wall = format!("error: {shown}: evaluating it ran longer than 5 s");
    let blocked = |what: &str| {
        format!(
            "{what} {}: not a regular file but a FIFO (named pipe)",
            path_str(&fifo)
        )
    };
    let token = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    for (text, needle) in [
        ("while true do pcall(function() while true do end end) end", budget.clone()),
        ("while true do xpcall(function() while true do end end, function() while true do end end) end", budget),
        ("x = string.rep(\"a\", 50000):find(\".-.-.-.-.-.-x\")", wall),
        ("Include \"fifo\"", blocked("Error loading included")),
        ("app_id = FileContents(\"fifo\")", blocked("cannot read")),
        ("app_id = FileLine(\"fifo\")", blocked("cannot read")),
        ("app_id = FileLines(\"fifo\")", blocked("cannot read")),
    ] {
        std::fs::write(&config, format!("VirtualHost \"m\"\n authentication = \"token\"\n{text}\n")).unwrap();
        let limit = std::time::Duration::from_secs(30);
        let (code, out, err) = cli_within(limit, &["doctor", "--keys", &path_str(&dir), "--prosody-config", &shown]);
        assert_eq!(code, 2, "{text}:\n{out}{err}");
        assert!(err.contains(&needle), "{text}: no {needle:?} in\n{err}");
        let (code, _, err) = cli_within(limit, &["verify", &token, "--keys", &path_str(&dir), "--prosody-config", &shown]);
        assert_eq!(code, 2, "{text}:\n{err}");
        assert!(err.contains(&needle), "verify, {text}: no {needle:?} in\n{err}");
    }
    // The config itself may be a FIFO too.
    let (code, _, err) = cli_within(
        std::time::Duration::from_secs(30),
        &[
            "doctor",
            "--keys",
            &path_str(&dir),
            "--prosody-config",
            &path_str(&fifo),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "cannot read Prosody config {}: not a regular file but a FIFO",
            path_str(&fifo)
        )),
        "{err}"
    );
}

/// Issue 18 (9): `doctor` runs as root on configs others may write. A value
/// the config reads from a file (`FileContents`, `FileLine(s)`), or makes
/// from one, is used but never printed: not in findings, titles, errors or
/// JSON; nor is the text of a file it includes.
#[test]
fn values_read_from_files_are_never_printed() {
    let (t, dir) = keys();
    let secret = t.path().join("secret.txt");
    std::fs::write(&secret, "fake-secret-7f3a9c1e5d42\nsecond-line-b81d40e2\n").unwrap();
    // Not Lua: Lua's syntax error would quote the text where it stopped.
    std::fs::write(t.path().join("include.txt"), "word 7f3a9c1e5d42x\n").unwrap();
    let pieces = ["7f3a9c1e5d42", "b81d40e2", "fake-secret", "second-line"];
    let config = t.path().join("prosody.cfg.lua");
    let token = token_with(&hdr("jitsi/k"), &good_claims(), &key(0).pkcs8);
    let host = "VirtualHost \"meet\"\n authentication = \"token\"\n";
    for body in [
        "app_id = FileContents(\"secret.txt\")",
        "app_id = \"jitsi\"\n asap_key_server = \"http://127.0.0.1:1/\" .. FileLine(\"secret.txt\")\n cache_keys_url = \"http://127.0.0.1:1/x\" .. FileContents(\"secret.txt\")",
        "app_id = \"jitsi\"\n asap_accepted_issuers = FileLines(\"secret.txt\")\n asap_accepted_audiences = { FileLine(\"secret.txt\"):sub(6) }",
        "app_id = \"jitsi\"\n signature_algorithm = FileLine(\"secret.txt\")\n muc_mapper_domain_base = FileLine(\"secret.txt\")\nComponent (\"conference.meet\") \"muc\"\n modules_enabled = { \"token_verification\" }\n app_id = FileContents(\"secret.txt\")",
        "app_id = { FileContents(\"secret.txt\") }\nVirtualHost(FileLine(\"secret.txt\"))\n authentication = \"token\"",
        "error(FileContents(\"secret.txt\"))",
        "error(FileLine(\"secret.txt\"):sub(2))",
        "Include \"include.txt\"",
    ] {
        std::fs::write(&config, format!("{host} {body}\n")).unwrap();
        let c = path_str(&config);
        let d = path_str(&dir);
        let mut said = String::new();
        for args in [
            vec!["doctor", "--keys", &d, "--prosody-config", &c, "--timeout", "2s"],
            vec!["doctor", "--keys", &d, "--prosody-config", &c, "--timeout", "2s", "--json"],
            vec!["doctor", "--keys", &d, "--prosody-config", &c, "--host", "other"],
            vec!["verify", &token, "--keys", &d, "--prosody-config", &c],
            vec!["verify", &token, "--keys", &d, "--prosody-config", &c, "--json"],
        ] {
            let (_, out, err) = cli(&args);
            said.push_str(&out);
            said.push_str(&err);
        }
        for piece in pieces {
            assert!(!said.contains(piece), "{body}: {piece:?} printed:\n{said}");
        }
        assert!(
            said.contains("not shown"),
            "{body}: says what it hides:\n{said}"
        );
    }
}
