//! The files in deploy/, checked with the tools that consume them:
//! systemd-analyze, kubernetes-validate, nginx -t, our own doctor, and the
//! manual pages (`man`, as lintian reads them).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/test installs it)"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = std::fs::read_to_string(deploy("systemd/asap-keyserver.service")).unwrap();
    let t = tempdir();
    // systemd-analyze checks that ExecStart exists: point it at the binary under test.
    let local = t.path().join("asap-keyserver.service");
    std::fs::write(&local, unit.replace("/usr/local/bin/asap-keyserver", bin())).unwrap();
    let (ok, out) = output(Command::new("systemd-analyze").arg("verify").arg(&local));
    assert!(ok && out.trim().is_empty(), "systemd-analyze verify: {out}");
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "ReadOnlyPaths=/etc/asap-keyserver",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet=\n",
        "--no-init",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(unit.contains(directive), "unit lacks {directive:?}");
    }
    // And a broken copy fails, so the check above means something.
    std::fs::write(
        &local,
        unit.replace(
            "/usr/local/bin/asap-keyserver",
            "/nonexistent/asap-keyserver",
        ),
    )
    .unwrap();
    let (ok, out) = output(Command::new("systemd-analyze").arg("verify").arg(&local));
    assert!(
        !ok || !out.trim().is_empty(),
        "a missing ExecStart must be reported"
    );
}

#[test]
fn kubernetes_manifests_validate_and_mount_the_secret_whole() {
    let files: Vec<PathBuf> = [
        "deployment.yaml",
        "service.yaml",
        "pdb.yaml",
        "secret-example.yaml",
    ]
    .iter()
    .map(|f| deploy(&format!("kubernetes/{f}")))
    .collect();
    let (ok, out) = output(
        Command::new("python3")
            .args(["-m", "kubernetes_validate", "-k", "1.31.0", "--strict"])
            .args(&files),
    );
    assert!(ok, "kubernetes-validate: {out}");
    assert_eq!(out.matches("passed").count(), 4, "{out}");
    let json = String::from_utf8(run(Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&files[0])))
    .unwrap();
    let d: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(d["spec"]["replicas"].as_u64().unwrap() >= 2);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("subPath").is_none()),
        "no subPath: rotation must reach the pods"
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        "asap-keyserver-keys"
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // A broken manifest is refused, so the check above means something.
    let t = tempdir();
    let bad = t.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&files[0])
            .unwrap()
            .replace("replicas: 2", "replicas: two"),
    )
    .unwrap();
    assert!(
        !output(
            Command::new("python3")
                .args(["-m", "kubernetes_validate", "-k", "1.31.0"])
                .arg(&bad)
        )
        .0
    );
}

#[test]
fn nginx_configs_pass_nginx_t() {
    let pki = TestPki::new();
    let t = tempdir();
    let mut http = String::new();
    for (file, port) in [
        ("nginx/tls-proxy.conf", free_port()),
        ("nginx/static-export.conf", free_port()),
    ] {
        let conf = nginx_site(file.trim_start_matches("nginx/"), &pki, port);
        http.push_str(&conf);
    }
    let main = t.path().join("nginx.conf");
    std::fs::write(
        &main,
        format!(
            "events {{}}\npid {0}/nginx.pid;\nerror_log stderr;\nhttp {{\n{http}\n}}\n",
            path_str(t.path())
        ),
    )
    .unwrap();
    let (ok, out) = output(
        Command::new("nginx")
            .arg("-t")
            .arg("-c")
            .arg(&main)
            .arg("-p")
            .arg(t.path()),
    );
    assert!(ok && out.contains("test is successful"), "{out}");
}

#[test]
fn the_prosody_snippet_passes_doctor_and_the_docker_env_names_a_key_server() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/2026-11-27.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let (code, out, err) = cli(&[
        "doctor",
        "--keys",
        &path_str(&dir),
        "--state",
        &path_str(&t.path().join("s")),
        "--prosody-config",
        &path_str(&deploy("prosody/token-vhost.cfg.lua")),
        "--url",
        &format!("http://{}", server.addr),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("✓ asap_key_server  \"https://keys.example.com\""),
        "{out}"
    );
    let env = std::fs::read_to_string(deploy("prosody/docker-jitsi-meet.env")).unwrap();
    let vars: std::collections::HashMap<_, _> = env
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    assert_eq!(vars.get("AUTH_TYPE"), Some(&"jwt"));
    assert!(
        vars["JWT_ASAP_KEYSERVER"].starts_with("https://")
            && !vars["JWT_ASAP_KEYSERVER"].ends_with('/')
    );
    assert!(
        !vars.contains_key("JWT_APP_SECRET"),
        "a secret beside a key server is ignored"
    );
    assert_eq!(vars.get("JWT_ACCEPTED_ISSUERS"), vars.get("JWT_APP_ID"));
}

#[test]
fn probe_is_the_container_health_check() {
    let dockerfile = std::fs::read_to_string(deploy("docker/Dockerfile")).unwrap();
    assert!(dockerfile.contains(
        r#"CMD ["/usr/local/bin/asap-keyserver", "probe", "--timeout", "2s", "http://127.0.0.1:8085/readyz"]"#
    ));
    assert!(dockerfile.contains("USER 65532:65532") && dockerfile.contains(r#""--no-init"]"#));
    let (_t, dir) = keydir();
    let server = Server::start(&dir, &[]);
    assert_eq!(
        cli(&["probe", &format!("http://{}/readyz", server.addr)]).0,
        0
    );
    let (code, _, err) = cli(&["probe", &format!("http://{}/nope", server.addr)]);
    assert_eq!(code, 1);
    assert!(err.contains("HTTP 404"), "{err}");
    let closed = free_port();
    let (code, _, err) = cli(&[
        "probe",
        &format!("http://127.0.0.1:{closed}/readyz"),
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn the_docker_jitsi_meet_jwks_snippet_adds_cache_keys_url_to_the_env_made_host() {
    use asap_keyserver::prosody::{Config, Read, TokenOptions};
    // The image's layout: prosody.cfg.lua includes conf.d/*.cfg.lua, where
    // the generated jitsi-meet.cfg.lua and our snippet sit side by side.
    let t = tempdir();
    let conf_d = t.path().join("conf.d");
    std::fs::create_dir(&conf_d).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/prosody/docker-jitsi-meet.cfg.lua");
    std::fs::copy(&fixture, conf_d.join("jitsi-meet.cfg.lua")).unwrap();
    std::fs::copy(
        deploy("prosody/docker-jitsi-meet-jwks.cfg.lua"),
        conf_d.join("asap-jwks.cfg.lua"),
    )
    .unwrap();
    let main = t.path().join("prosody.cfg.lua");
    std::fs::write(&main, "Include \"conf.d/*.cfg.lua\"\n").unwrap();
    let config = Config::load(&main).unwrap();
    let o = TokenOptions::read(&config, Some("meet.jitsi")).unwrap();
    assert_eq!(
        o.cache_keys_url,
        Read::Set("https://keys.example.com/.well-known/jwks.json".into())
    );
    assert_eq!(o.asap_key_server, Read::Set("https://keys.internal".into()));
    assert_eq!(o.app_id, Read::Set("jitsi".into()));
}

#[test]
fn the_manual_pages_come_from_the_cli_and_render_without_warnings() {
    let t = tempdir();
    let (code, _, err) = cli(&["man", "--dir", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut pages: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for command in [
        "serve", "mint", "verify", "doctor", "keygen", "rotate", "prune", "login", "explain",
        "export",
    ] {
        assert!(
            pages.contains(&format!("asap-keyserver-{command}.1")),
            "{pages:?}"
        );
    }
    assert!(pages.contains(&"asap-keyserver.1".to_owned()), "{pages:?}");
    assert!(
        !pages
            .iter()
            .any(|p| p.contains("-man.") || p.contains("-help.")),
        "{pages:?}"
    );
    // As lintian reads them: man-db's own warnings, UTF-8.
    for page in &pages {
        let (ok, out) = output(
            Command::new("man")
                .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
                .arg(t.path().join(page))
                .stdout(std::process::Stdio::null()),
        );
        assert!(ok && out.trim().is_empty(), "{page}: {out}");
    }
    let serve = std::fs::read_to_string(t.path().join("asap-keyserver-serve.1")).unwrap();
    assert!(
        serve.contains("\\-\\-keys") && serve.contains("\\-\\-config"),
        "{serve}"
    );
    // Without --dir, the main page on stdout: the commands listed, hidden `man` not.
    let (code, main, _) = cli(&["man"]);
    assert_eq!(code, 0);
    assert!(
        main.starts_with(".ie") && main.contains("asap\\-keyserver\\-serve(1)"),
        "{main}"
    );
    assert!(!main.contains("asap\\-keyserver\\-man"), "{main}");
    // A folder that is not there: exit 2, named.
    let (code, _, err) = cli(&["man", "--dir", "/nonexistent/man1"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/man1: not a folder"), "{err}");
}

#[test]
fn the_web_containers_nginx_file_sends_only_oidc_to_the_key_server() {
    let (t, dir) = keydir();
    write_private(dir.join("jitsi/2026-11-27.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &[]);
    let snippet = std::fs::read_to_string(deploy("docker/nginx-custom-oidc.conf")).unwrap();
    assert!(snippet.contains("set $asap_keyserver http://asap-keyserver:8085;"));
    let snippet = snippet.replace(
        "http://asap-keyserver:8085",
        &format!("http://{}", server.addr),
    );
    let port = free_port();
    let w = path_str(t.path());
    // Where docker-jitsi-meet's web image includes it: a server block whose
    // regex locations take a room (/<room>) and a tenant's paths (/<tenant>/...).
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {w}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\naccess_log off;\n\
         client_body_temp_path {w}/body;\nproxy_temp_path {w}/proxy;\nfastcgi_temp_path {w}/fcgi;\n\
         uwsgi_temp_path {w}/uwsgi;\nscgi_temp_path {w}/scgi;\nserver {{\nlisten 127.0.0.1:{port};\n\
         location ~ ^/([^/?&:'\"]+)$ {{ return 200 'jitsi room'; }}\n\
         location ~ ^/([^/?&:'\"]+)/(.*)$ {{ return 200 'jitsi tenant'; }}\n{snippet}\n}}\n}}\n"
    );
    std::fs::write(t.path().join("nginx.conf"), conf).unwrap();
    let (ok, out) = output(
        Command::new("nginx")
            .arg("-t")
            .arg("-c")
            .arg(t.path().join("nginx.conf"))
            .arg("-p")
            .arg(t.path()),
    );
    assert!(ok, "nginx -t: {out}");
    let mut nginx = Command::new("nginx")
        .arg("-c")
        .arg(t.path().join("nginx.conf"))
        .arg("-p")
        .arg(t.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let answered = std::panic::catch_unwind(|| {
        wait_until("nginx answers", || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert_eq!(get(addr, "/meeting").text(), "jitsi room");
        // /oidc/... reaches the key server (here without a token service:
        // its own 404), query string and all; Jitsi's locations keep the rest.
        let through = get(addr, "/oidc/auth?room=meeting&state=x");
        let direct = server.get("/oidc/auth?room=meeting&state=x");
        assert_eq!(
            (through.status, through.text()),
            (direct.status, direct.text())
        );
        assert!(
            through.text().starts_with("not found:"),
            "{}",
            through.text()
        );
        assert_eq!(get(addr, "/tenant/meeting").text(), "jitsi tenant");
        assert_eq!(
            get(addr, &key_path("jitsi/2026-11-27")).text(),
            "jitsi room",
            "keys stay on the compose network"
        );
    });
    let _ = nginx.kill();
    let _ = nginx.wait();
    if let Err(e) = answered {
        std::panic::resume_unwind(e);
    }
}
