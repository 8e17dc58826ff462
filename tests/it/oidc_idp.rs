//! The login bridge's identity-provider client against real servers: the
//! npm `oidc-provider` (tests/peers/idp.mjs) rotating its signing key in
//! place and signing id_tokens PS256, and the hostile stand-in
//! (tests/peers/hostile_idp.mjs) for what no real IdP does on demand: a
//! rotation without kids, a withdrawn key with a short `max-age`, a JWKS
//! hammered by forged kids, discovery down then up (its requests counted),
//! an id_token not valid yet (`nbf`), one that is not a JWT, and userinfo
//! answering for someone else.

use crate::common::*;
use crate::oidc::{auth_path, fetch, idp_login, node, start_standup, Jar, Node};
use serde_json::json;
use std::time::{Duration, Instant};

const CLIENT_SECRET: &str = "oidc-client-secret-0123456789abcdef";
const JITSI: &str = "http://meet.test";

/// `serve --config` with `[oidc]` for `issuer`, on `port`.
struct Bridge {
    _keys: tempfile::TempDir,
    _conf: tempfile::TempDir,
    server: Server,
    public: String,
}

fn bridge(port: u16, issuer: &str) -> Bridge {
    let (keys, dir) = keydir();
    write_private(dir.join("jitsi/2026-01-01.pem"), &key(0).pkcs8);
    let conf = tempdir();
    write(
        conf.path().join("client.secret"),
        format!("{CLIENT_SECRET}\n"),
    );
    write(
        conf.path().join("cookie.key"),
        format!("{}\n", "5a".repeat(32)),
    );
    let public = format!("http://127.0.0.1:{port}");
    let file = conf.path().join("service.toml");
    write(
        &file,
        format!(
            "min_key_age = \"0s\"\n\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"jitsi\"\nclient_secret_file = \"client.secret\"\n\
             public_url = \"{public}\"\njitsi_url = \"{JITSI}\"\nscopes = [\"openid\", \"profile\", \"email\", \"groups\"]\n\
             token_issuer = \"jitsi\"\naudience = \"jitsi\"\ncookie_key_file = \"cookie.key\"\n"
        ),
    );
    let listen = format!("127.0.0.1:{port}");
    let server = Server::spawn(
        &[
            "serve",
            "--keys",
            dir.to_str().unwrap(),
            "--listen",
            &listen,
            "--no-init",
            "--config",
            file.to_str().unwrap(),
        ],
        None,
    );
    Bridge {
        _keys: keys,
        _conf: conf,
        server,
        public,
    }
}

/// The hostile IdP with `args` and a bridge in front of it.
fn hostile(args: &[&str]) -> (Node, String, Bridge) {
    let idp = node("hostile_idp.mjs", args);
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let b = bridge(free_port(), &issuer);
    (idp, issuer, b)
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// A login at the hostile IdP whose id_token is crafted as `mode`.
fn attempt(b: &Bridge, mode: &str) -> Reply {
    let mut jar = Jar::default();
    let idp = start_standup(&mut jar, &b.public);
    let callback = format!(
        "{}/oidc/callback?code={mode}~{}&state={}",
        b.public,
        param(&idp, "nonce"),
        param(&idp, "state")
    );
    fetch(&mut jar, "GET", &callback, None)
}

/// A page that mints nothing, with `status` and the log's `outcome`.
fn refused(b: &Bridge, reply: &Reply, status: u16, outcome: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(reply.text().contains("What to do"), "{}", reply.text());
    assert!(reply.header("location").is_none_or(|l| !l.contains("jwt=")));
    let needle = format!("outcome=\"{outcome}\"");
    wait_until(&needle, || b.server.has_log(&needle));
}

fn minted(reply: &Reply) {
    assert_eq!(reply.status, 302, "{}", reply.text());
    assert!(
        reply
            .header("location")
            .unwrap()
            .starts_with(&format!("{JITSI}/standup?jwt=")),
        "{:?}",
        reply.header("location")
    );
}

/// How often the hostile IdP served discovery and its JWKS.
fn counts(issuer: &str) -> (u64, u64) {
    let r = fetch(
        &mut Jar::default(),
        "GET",
        &format!("{issuer}/_test/count"),
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    (
        v["discovery"].as_u64().unwrap(),
        v["jwks"].as_u64().unwrap(),
    )
}

fn set(issuer: &str, query: &str) {
    let r = fetch(
        &mut Jar::default(),
        "GET",
        &format!("{issuer}/_test/set?{query}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The real IdP rotates its signing key under the same kid: the next
/// login's signature fails with the key held, the JWKS is fetched again,
/// and the login goes through (main kept the old key until restart).
#[test]
fn a_real_idp_rotating_its_key_under_the_same_kid_keeps_logins_working() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = node(
        "idp.mjs",
        &[
            &format!("{public}/oidc/callback"),
            &format!("{JITSI}/static/logout.html"),
            CLIENT_SECRET,
            "--rotatable",
        ],
    );
    let issuer = format!("http://127.0.0.1:{}", idp.port);
    let _bridge = bridge(port, &issuer);
    let login = |who: &str| {
        let mut jar = Jar::default();
        let idp = start_standup(&mut jar, &public);
        let callback = idp_login(&mut jar, &idp, who, &format!("{public}/oidc/callback"));
        fetch(&mut jar, "GET", &callback, None)
    };
    minted(&login("ada"));
    let r = fetch(
        &mut Jar::default(),
        "GET",
        &format!("{issuer}/_test/rotate"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let after = login("bob");
    minted(&after);
    let (_, claims) = decode(&param(after.header("location").unwrap(), "jwt"));
    assert_eq!(claims["context"]["user"]["id"], "bob");
}

/// PS256, which the bridge lists among its algorithms, verifies: the real
/// IdP signs this client's id_tokens PS256.
#[test]
fn a_real_idp_signing_id_tokens_ps256_logs_people_in() {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let idp = node(
        "idp.mjs",
        &[
            &format!("{public}/oidc/callback"),
            &format!("{JITSI}/static/logout.html"),
            CLIENT_SECRET,
            "--id-token-alg=PS256",
        ],
    );
    let b = bridge(port, &format!("http://127.0.0.1:{}", idp.port));
    let mut jar = Jar::default();
    let idp = start_standup(&mut jar, &public);
    let callback = idp_login(&mut jar, &idp, "ada", &format!("{public}/oidc/callback"));
    let reply = fetch(&mut jar, "GET", &callback, None);
    minted(&reply);
    assert!(!b.server.has_log("id_token_invalid"));
}

/// A rotation without kids: the key held does not check the signature, the
/// JWKS is fetched again, and its one key (a new one) does.
#[test]
fn a_rotation_without_kids_is_picked_up_at_the_next_login() {
    let (_idp, issuer, b) = hostile(&["jitsi"]);
    minted(&attempt(&b, "good"));
    set(&issuer, "jwks=rotated_nokid");
    minted(&attempt(&b, "rotated_nokid"));
    // The old key went with the old JWKS.
    refused(&b, &attempt(&b, "good"), 502, "id_token_invalid");
}

/// The hostile IdP rotates under the same kid and withdraws its old key
/// (the JWKS with `max-age=1`, used for the floor of 10 s): the new key
/// works at once, and the withdrawn one stops being trusted on the JWKS's
/// schedule, without any signature failure to prompt a refetch. Forged
/// kids in a stream do not make the bridge hammer the IdP's JWKS.
#[test]
fn a_withdrawn_key_stops_being_trusted_and_refetches_are_rate_limited() {
    let (_idp, issuer, b) = hostile(&["jitsi", "--max-age=1"]);
    minted(&attempt(&b, "good"));
    // Withdrawn: hostile-1 is gone, hostile-2 stays. The next scheduled
    // fetch (10 s after the last) drops hostile-1.
    set(&issuer, "jwks=withdrawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = attempt(&b, "good");
        if r.status == 502 {
            refused(&b, &r, 502, "id_token_invalid");
            break;
        }
        minted(&r);
        assert!(
            Instant::now() < deadline,
            "the withdrawn key was still trusted after 60 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    minted(&attempt(&b, "new_kid"));

    // A stream of forged kids: at most one refetch per 10 s.
    let (_, before) = counts(&issuer);
    let started = Instant::now();
    for _ in 0..20 {
        refused(&b, &attempt(&b, "unknown_kid"), 502, "id_token_invalid");
    }
    let (_, after) = counts(&issuer);
    let allowed = 1 + started.elapsed().as_secs() / 10 + 1;
    assert!(
        after - before <= allowed,
        "{} JWKS fetches for 20 forged kids in {:?}",
        after - before,
        started.elapsed()
    );
}

/// While discovery fails, logins are answered from its last error without
/// asking the IdP again, and discovery is tried again with backoff: the
/// IdP's requests are counted. Once it is up, logins start again.
#[test]
fn a_failing_discovery_is_retried_with_backoff_not_at_every_login() {
    let (_idp, issuer, b) = hostile(&["jitsi", "--discovery-down"]);
    wait_until("the start-up discovery's warning", || {
        b.server
            .has_log("login bridge: identity provider not usable yet")
    });
    let (first, _) = counts(&issuer);
    let started = Instant::now();
    for _ in 0..20 {
        let mut jar = Jar::default();
        let r = fetch(
            &mut jar,
            "GET",
            &format!("{}{}", b.public, auth_path("standup", &json!(null))),
            None,
        );
        refused(&b, &r, 502, "idp_unreachable");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (now, _) = counts(&issuer);
    // Tries 1, 2, 4, 8... s apart, each trying the issuer with and without its slash.
    let tries = 2 + (elapsed + 1.0).log2().ceil() as u64;
    assert!(
        now - first <= 2 * tries,
        "{} discovery requests for 20 logins in {elapsed:.1} s",
        now - first
    );

    set(&issuer, "discovery=up");
    wait_until("a login starts once the IdP is up", || {
        let mut jar = Jar::default();
        fetch(
            &mut jar,
            "GET",
            &format!("{}{}", b.public, auth_path("standup", &json!(null))),
            None,
        )
        .status
            == 302
    });
    minted(&attempt(&b, "good"));
}

/// `nbf` an hour ahead: not valid yet, refused as an invalid id_token.
#[test]
fn an_id_token_not_valid_yet_is_refused() {
    let (_idp, _issuer, b) = hostile(&["jitsi"]);
    minted(&attempt(&b, "good"));
    let r = attempt(&b, "future_nbf");
    refused(&b, &r, 502, "id_token_invalid");
    wait_until("the log names nbf", || b.server.has_log("not valid yet"));
}

/// An id_token that is not a JWT, and userinfo about another user: each
/// labelled for what it is, not "IdP unreachable".
#[test]
fn a_malformed_id_token_and_a_userinfo_for_someone_else_are_named() {
    let (_idp, _issuer, b) = hostile(&["jitsi", "userinfo"]);
    minted(&attempt(&b, "good"));
    let r = attempt(&b, "malformed");
    refused(&b, &r, 502, "id_token_malformed");
    assert!(!r.text().contains("cannot be reached"), "{}", r.text());
    wait_until("the log says what is wrong", || {
        b.server.has_log("2 dot-separated part(s)")
    });
    let r = attempt(&b, "sub_mismatch");
    refused(&b, &r, 502, "userinfo_mismatch");
    assert!(r.text().contains("another user"), "{}", r.text());
    assert!(!b.server.has_log("idp_unreachable"));
}

/// PS256 as RFC 7518 3.5 has it (a salt as long as the hash) verifies; one
/// with the longest salt (node's default for PSS) or signed with a key
/// whose JWK says RS256 is refused, the first with what to change named.
#[test]
fn ps256_with_a_hash_long_salt_verifies_and_a_longer_salt_is_named() {
    let (_idp, issuer, b) = hostile(&["jitsi"]);
    set(&issuer, "jwks=ps");
    minted(&attempt(&b, "ps256"));
    refused(&b, &attempt(&b, "ps256_maxsalt"), 502, "id_token_invalid");
    wait_until("the log names the salt", || {
        b.server.has_log("the salt must be as long as the hash")
    });
    refused(&b, &attempt(&b, "ps256_rsalg"), 502, "id_token_invalid");
    minted(&attempt(&b, "good"));
}
