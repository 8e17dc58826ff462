//! The container image (issue 30), built for real by `scripts/image` with
//! buildah (from the dev binary the test run already has: `IMAGE_BIN`), read
//! back from the archive `docker load` takes, and run: its root filesystem,
//! mounted by buildah, with the image's own entrypoint as the image's own
//! user (`chroot --userspec`), in a network namespace of its own (so
//! `0.0.0.0:8085` reaches nothing outside it) and a mount namespace where a
//! key directory is bound read-only at `/keys`. `podman run` cannot run
//! here (cgroups), so this is how the image's binary runs.
//!
//! It must run as root (CI does), like the package test.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs `cmd`, fails the test with its output unless it succeeds; stdout.
fn ok(cmd: &mut Command) -> String {
    tool_ok(cmd).0
}

/// The runtime stage of deploy/docker/Dockerfile (the reference), as
/// (instruction, arguments) with continuation lines joined.
fn runtime_stage() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/docker/Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let mut stage = Vec::new();
    let mut inside = false;
    for line in joined.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (op, args) = line.split_once(' ').unwrap_or((line, ""));
        if op == "FROM" {
            inside = args.ends_with(" AS runtime");
            continue;
        }
        if inside {
            stage.push((op.to_owned(), args.trim().to_owned()));
        }
    }
    assert!(
        !stage.is_empty(),
        "deploy/docker/Dockerfile has no `FROM ... AS runtime` stage"
    );
    stage
}

fn one<'a>(stage: &'a [(String, String)], op: &str) -> &'a str {
    let found: Vec<&str> = stage
        .iter()
        .filter(|(o, _)| o == op)
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the runtime stage has {} {op} lines",
        found.len()
    );
    found[0]
}

fn json_strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// `--interval=10s` and friends of a HEALTHCHECK, in nanoseconds or counts.
fn healthcheck_flags(args: &str) -> BTreeMap<String, u64> {
    args.split_whitespace()
        .take_while(|w| *w != "CMD")
        .map(|w| {
            let (name, value) = w.trim_start_matches("--").split_once('=').unwrap();
            let n = match value.strip_suffix('s') {
                Some(secs) => secs.parse::<u64>().unwrap() * 1_000_000_000,
                None => value.parse().unwrap(),
            };
            (name.to_owned(), n)
        })
        .collect()
}

/// Whether `data` holds a PEM private key block (a header and base64 after
/// it: the binary names the headers it parses, with no key after them).
fn holds_private_key(data: &[u8]) -> bool {
    let marker = b"PRIVATE KEY-----";
    data.windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .any(|(i, _)| {
            let rest = &data[i + marker.len()..];
            let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
            rest.strip_prefix(b"\n").is_some_and(|body| {
                body.len() >= 40
                    && body[..40]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
            })
        })
}

/// Every regular file under `root`, relative, with its mode.
fn files(root: &Path) -> BTreeMap<String, u32> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, meta.permissions().mode());
            }
        }
    }
    found
}

/// What the test made, undone even when an assertion failed.
struct Cleanup {
    tag: String,
    container: Option<String>,
    netns: Option<String>,
    etc_netns: Option<PathBuf>,
    server: Option<Child>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(etc) = &self.etc_netns {
            let _ = std::fs::remove_dir_all(etc);
        }
        if let Some(ns) = &self.netns {
            let _ = tool_output(Command::new("ip").args(["netns", "del", ns]));
        }
        if let Some(c) = &self.container {
            let _ = tool_output(Command::new("buildah").args(["umount", c]));
            let _ = tool_output(Command::new("buildah").args(["rm", c]));
        }
        let _ = tool_output(Command::new("buildah").args(["rmi", "--force", &self.tag]));
    }
}

/// `ip netns exec NS ARGS...`
fn in_netns(ns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(args);
    cmd
}

fn curl(ns: &str, path: &str) -> (bool, String) {
    let url = format!("http://127.0.0.1:8085{path}");
    let out = tool_output(&mut in_netns(
        ns,
        &["curl", "-sS", "--fail", "--max-time", "5", &url],
    ));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The variables of deploy/docker/jitsi-meet.env (comments left out).
fn our_env() -> BTreeMap<String, String> {
    std::fs::read_to_string(repo("deploy/docker/jitsi-meet.env"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `a,b` as Prosody's list `{ "a", "b" }`, as docker-jitsi-meet writes it.
fn lua_list(csv: &str) -> String {
    let items: Vec<String> = csv.split(',').map(|s| format!("\"{s}\"")).collect();
    format!("{{ {} }}", items.join(", "))
}

/// The Prosody options our .env lines and conf.d file set, as Lua.
fn prosody_lines_we_set() -> BTreeMap<String, String> {
    let env = our_env();
    assert_eq!(env["AUTH_TYPE"], "jwt");
    let snippet = std::fs::read_to_string(repo("deploy/docker/asap-jwks.cfg.lua")).unwrap();
    let cache_keys_url = snippet
        .lines()
        .find_map(|l| l.trim().strip_prefix("cache_keys_url = "))
        .expect("asap-jwks.cfg.lua sets cache_keys_url");
    BTreeMap::from([
        ("authentication".to_owned(), "\"token\"".to_owned()),
        ("app_id".to_owned(), format!("\"{}\"", env["JWT_APP_ID"])),
        (
            "asap_key_server".to_owned(),
            format!("\"{}\"", env["JWT_ASAP_KEYSERVER"]),
        ),
        (
            "asap_accepted_issuers".to_owned(),
            lua_list(&env["JWT_ACCEPTED_ISSUERS"]),
        ),
        (
            "asap_accepted_audiences".to_owned(),
            lua_list(&env["JWT_ACCEPTED_AUDIENCES"]),
        ),
        ("cache_keys_url".to_owned(), cache_keys_url.to_owned()),
    ])
}

/// A Prosody config as docker-jitsi-meet's templates render our .env lines
/// (the JWT part of its prosody.cfg.lua and conf.d/jitsi-meet.cfg.lua), with
/// our conf.d file beside them; the main file's path.
fn prosody_as_docker_jitsi_meet_renders(dir: &Path) -> PathBuf {
    let env = our_env();
    let conf_d = dir.join("prosody/conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(
        conf_d.join("jitsi-meet.cfg.lua"),
        format!(
            "asap_accepted_issuers = {}\nasap_accepted_audiences = {}\n\
             VirtualHost \"meet.jitsi\"\n    authentication = \"token\"\n    app_id = \"{}\"\n    \
             allow_empty_token = false\n    asap_key_server = \"{}\"\n",
            lua_list(&env["JWT_ACCEPTED_ISSUERS"]),
            lua_list(&env["JWT_ACCEPTED_AUDIENCES"]),
            env["JWT_APP_ID"],
            env["JWT_ASAP_KEYSERVER"],
        ),
    )
    .unwrap();
    std::fs::copy(
        repo("deploy/docker/asap-jwks.cfg.lua"),
        conf_d.join("asap-jwks.cfg.lua"),
    )
    .unwrap();
    let main = dir.join("prosody/prosody.cfg.lua");
    std::fs::write(&main, "Include \"conf.d/*.cfg.lua\"\n").unwrap();
    main
}

#[test]
fn scripts_image_builds_the_dockerfiles_image_and_its_binary_serves_keys_as_its_user() {
    let me = ok(Command::new("id").arg("-u"));
    assert_eq!(
        me.trim(),
        "0",
        "the image test must run as root (buildah's store, chroot, netns)"
    );
    let t = tempdir();
    let out_dir = t.path().join("image");
    let tag = format!("localhost/asap-keyserver-it:{}", std::process::id());
    let mut cleanup = Cleanup {
        tag: tag.clone(),
        container: None,
        netns: None,
        etc_netns: None,
        server: None,
    };
    let source = "https://example.org/asap-keyserver.git";
    let built = ok(Command::new(repo("scripts/image"))
        .env("IMAGE_BIN", bin())
        .args([
            "--output",
            &path_str(&out_dir),
            "--tag",
            &tag,
            "--source",
            source,
        ]));
    let version = env!("CARGO_PKG_VERSION");
    let archive = out_dir.join(format!("asap-keyserver-{version}.tar"));
    assert_eq!(built.trim(), path_str(&archive));

    // The archive, as `docker load` reads it: manifest.json, config, layers.
    let unpacked = t.path().join("archive");
    std::fs::create_dir(&unpacked).unwrap();
    ok(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(unpacked.join("manifest.json")).unwrap()).unwrap();
    let entry = &manifest[0];
    assert!(
        json_strings(&entry["RepoTags"]).contains(&tag),
        "{manifest}"
    );
    let image: Value = serde_json::from_slice(
        &std::fs::read(unpacked.join(entry["Config"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (image["os"].as_str(), image["architecture"].as_str()),
        (Some("linux"), Some("amd64"))
    );
    let config = &image["config"];

    // It says what the Dockerfile's runtime stage says.
    let stage = runtime_stage();
    let user = config["User"].as_str().unwrap();
    assert_eq!(user, one(&stage, "USER"));
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER");
    assert_ne!(uid, 0, "the image must not run as root");
    let ports: Vec<&String> = config["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, [&format!("{}/tcp", one(&stage, "EXPOSE"))]);
    assert_eq!(one(&stage, "EXPOSE"), "8085");
    let volumes: Vec<&String> = config["Volumes"].as_object().unwrap().keys().collect();
    let declared: Vec<String> = serde_json::from_str(one(&stage, "VOLUME")).unwrap();
    assert_eq!(volumes, declared.iter().collect::<Vec<_>>());
    assert_eq!(declared, ["/keys"]);
    let entrypoint = json_strings(&config["Entrypoint"]);
    let declared: Vec<String> = serde_json::from_str(one(&stage, "ENTRYPOINT")).unwrap();
    assert_eq!(entrypoint, declared);
    assert_eq!(
        entrypoint,
        [
            "/usr/local/bin/asap-keyserver",
            "serve",
            "--listen",
            "0.0.0.0:8085",
            "--keys",
            "/keys",
            "--no-init"
        ]
    );
    assert!(
        config["Cmd"].as_array().is_none_or(Vec::is_empty),
        "{config}"
    );
    assert!(
        config["Healthcheck"].is_object(),
        "the image has no HEALTHCHECK (the OCI format drops it: build with --format docker): {config}"
    );
    let health = one(&stage, "HEALTHCHECK");
    let (flags, cmd) = health.split_once(" CMD ").unwrap();
    let test = json_strings(&config["Healthcheck"]["Test"]);
    let declared: Vec<String> = serde_json::from_str(cmd).unwrap();
    assert_eq!(test[0], "CMD", "{test:?}");
    assert_eq!(test[1..], declared[..]);
    assert_eq!(
        &declared[..3],
        ["/usr/local/bin/asap-keyserver", "probe", "--timeout"]
    );
    for (name, key) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("retries", "Retries"),
    ] {
        assert_eq!(
            config["Healthcheck"][key].as_u64(),
            healthcheck_flags(flags).get(name).copied(),
            "HEALTHCHECK --{name}"
        );
    }
    let labels = config["Labels"].as_object().unwrap();
    let label = |k: &str| labels.get(k).and_then(Value::as_str).unwrap_or_default();
    for (op, args) in &stage {
        if op == "LABEL" {
            for key in args
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, _)| k)
            {
                assert!(labels.contains_key(key), "label {key} missing: {labels:?}");
            }
        }
    }
    assert_eq!(label("org.opencontainers.image.version"), version);
    assert_eq!(label("org.opencontainers.image.licenses"), "Apache-2.0");
    assert_eq!(label("org.opencontainers.image.source"), source);
    let head = ok(Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo(".")));
    assert!(
        label("org.opencontainers.image.revision").starts_with(head.trim()),
        "{labels:?}"
    );
    // A `docker build` without --build-arg labels the version Cargo.toml has.
    let arg_version = stage
        .iter()
        .find_map(|(op, a)| (op == "ARG").then(|| a.strip_prefix("VERSION=")).flatten());
    assert_eq!(
        arg_version,
        Some(version),
        "the Dockerfile's ARG VERSION default"
    );

    // What is in it: the binary, its libraries, CA certificates, the users,
    // copyright files; no private key, no shell, no build tool.
    let rootfs = t.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    for layer in json_strings(&entry["Layers"]) {
        ok(Command::new("tar")
            .arg("-xf")
            .arg(unpacked.join(layer))
            .arg("-C")
            .arg(&rootfs));
    }
    let found = files(&rootfs);
    let executables: Vec<&String> = found
        .iter()
        .filter(|(p, mode)| *mode & 0o111 != 0 && !p.contains(".so"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(executables, ["usr/local/bin/asap-keyserver"], "{found:?}");
    for path in found.keys() {
        let allowed = path == "usr/local/bin/asap-keyserver"
            || path == "etc/ssl/certs/ca-certificates.crt"
            || ["etc/passwd", "etc/group", "etc/nsswitch.conf"].contains(&path.as_str())
            || (path.starts_with("usr/share/doc/") && path.ends_with("/copyright"))
            || ((path.starts_with("lib") || path.starts_with("usr/lib")) && path.contains(".so"));
        assert!(
            allowed,
            "{path} should not be in the image: {:?}",
            found.keys()
        );
        let data = std::fs::read(rootfs.join(path)).unwrap();
        assert!(!holds_private_key(&data), "{path} holds a private key");
    }
    for tool in [
        "sh", "bash", "busybox", "cargo", "rustc", "cc", "gcc", "ld", "make", "apt", "dpkg",
        "perl", "python3",
    ] {
        for dir in ["bin", "usr/bin", "sbin", "usr/sbin", "usr/local/bin"] {
            assert!(
                !rootfs.join(dir).join(tool).exists(),
                "{dir}/{tool} is in the image"
            );
        }
    }
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.split(':').nth(2) == Some(&uid.to_string())),
        "uid {uid} has no /etc/passwd line: {passwd}"
    );
    assert!(std::fs::metadata(rootfs.join("keys")).unwrap().is_dir());
    assert!(
        std::fs::read_dir(rootfs.join("keys"))
            .unwrap()
            .next()
            .is_none(),
        "/keys must be empty"
    );

    // Loaded back from the archive (what `podman load` does, through the
    // same library), the image the rest of the test runs.
    ok(Command::new("buildah").args(["rmi", &tag]));
    let loaded = ok(Command::new("buildah")
        .arg("pull")
        .arg("--quiet")
        .arg(format!("docker-archive:{}", path_str(&archive))));
    let config_file = entry["Config"].as_str().unwrap();
    assert_eq!(
        Some(loaded.trim()),
        config_file.strip_suffix(".json"),
        "the image ID is its config's digest"
    );
    // The image's binary, in the image's root filesystem, as its user.
    let container = ok(Command::new("buildah").args(["from", "--pull-never", &tag]));
    let container = container.trim().to_owned();
    cleanup.container = Some(container.clone());
    let root = ok(Command::new("buildah").args(["mount", &container]));
    let root = root.trim().to_owned();
    let keys = t.path().join("keys");
    std::fs::create_dir_all(keys.join("jitsi")).unwrap();
    chmod(t.path(), 0o755);
    chmod(&keys, 0o755);
    chmod(&keys.join("jitsi"), 0o755);
    let first = keys.join("jitsi/2026-12-07.pem");
    write(&first, &key(0).spki);
    chmod(&first, 0o644);
    let ns = format!("asap-it-image-{}", std::process::id());
    ok(Command::new("ip").args(["netns", "add", &ns]));
    cleanup.netns = Some(ns.clone());
    ok(&mut in_netns(&ns, &["ip", "link", "set", "lo", "up"]));
    let log = t.path().join("serve.log");
    // The root filesystem read-only too (compose's `read_only: true`,
    // Kubernetes' readOnlyRootFilesystem): serve writes nothing.
    let script = r#"keys=$1 root=$2 user=$3; shift 3
        mount --bind "$root" "$root" && mount -o remount,bind,ro "$root" \
            && mount --bind "$keys" "$root/keys" && mount -o remount,bind,ro "$root/keys" \
            && exec chroot --userspec="$user" "$root" "$@""#;
    let _inotify = INOTIFY.read().unwrap_or_else(|e| e.into_inner());
    let mut args = vec!["unshare", "--mount", "sh", "-c", script, "sh"];
    let keys_s = path_str(&keys);
    args.extend([keys_s.as_str(), root.as_str(), user]);
    args.extend(entrypoint.iter().map(String::as_str));
    let server = in_netns(&ns, &args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(t.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    let pid = server.id();
    cleanup.server = Some(server);
    let logs = || {
        std::fs::read_to_string(&log).unwrap_or_default()
            + &std::fs::read_to_string(t.path().join("serve.err")).unwrap_or_default()
    };
    wait_until("the image's serve answers /readyz", || {
        curl(&ns, "/readyz").0
    });
    // It names no address Prosody could not reach it by.
    assert!(
        logs().contains(r#"asap_key_server = "http://<host>:8085""#),
        "{}",
        logs()
    );
    // Every exec kept the pid: it is the server, running as the image's user.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uids.split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string()),
        "{uids}\n{}",
        logs()
    );
    // Prosody's URL for kid jitsi/2026-12-07: base + "/" + sha256(kid) + ".pem".
    let (fetched, body) = curl(&ns, &key_path("jitsi/2026-12-07"));
    assert!(fetched, "{}", logs());
    assert_eq!(body, key(0).spki);
    // Rotation by dropping a file works through the bind mount.
    let second = keys.join("jitsi/2026-12-08.pem");
    write_atomic(&second, &key(1).spki);
    chmod(&second, 0o644);
    wait_until("a key dropped into the mounted folder is served", || {
        curl(&ns, &key_path("jitsi/2026-12-08")).1 == key(1).spki
    });
    // The image's health check, as Docker runs it: in the container, as its user.
    let health_check = || {
        let mut cmd = in_netns(&ns, &["chroot", &format!("--userspec={user}"), &root]);
        cmd.args(&test[1..]);
        tool_output(&mut cmd)
    };
    let healthy = health_check();
    assert!(healthy.status.success(), "{healthy:?}\n{}", logs());
    // Named as the compose network names it, the image's server is what
    // `doctor` checks a Prosody against, configured by our .env lines and
    // our conf.d file: the lines doctor recommends are the ones they set.
    let etc = PathBuf::from(format!("/etc/netns/{ns}"));
    std::fs::create_dir_all(&etc).unwrap();
    cleanup.etc_netns = Some(etc.clone());
    std::fs::write(
        etc.join("hosts"),
        "127.0.0.1 localhost\n127.0.0.1 asap-keyserver\n",
    )
    .unwrap();
    let prosody = prosody_as_docker_jitsi_meet_renders(t.path());
    let doctor = tool_output(&mut in_netns(
        &ns,
        &[
            bin(),
            "doctor",
            "--keys",
            &keys_s,
            "--url",
            "http://asap-keyserver:8085",
            "--prosody-config",
            &path_str(&prosody),
        ],
    ));
    let said = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
    assert!(
        said.contains("✓ cache_keys_url  \"http://asap-keyserver:8085/.well-known/jwks.json\""),
        "{said}"
    );
    let recommended: BTreeMap<String, String> = said
        .split("Lines for the token VirtualHost:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("doctor recommends no lines: {said}"))
        .lines()
        .map_while(|l| l.strip_prefix("    "))
        .map(|l| {
            let (k, v) = l.split_once(" = ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_eq!(recommended, prosody_lines_we_set(), "{said}");
    // It ran on a read-only root filesystem with the keys read-only: the
    // mounts as the server itself sees them (paths from its own root).
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    for at in ["/", "/keys"] {
        let line = mounts
            .lines()
            .rfind(|l| l.split(' ').nth(4) == Some(at))
            .unwrap_or_else(|| panic!("no mount at {at}: {mounts}"));
        let options = line.split(' ').nth(5).unwrap();
        assert!(
            options.split(',').any(|o| o == "ro"),
            "{at} is not read-only: {line}"
        );
    }
    // Stopped, the health check says so (exit 1).
    let mut server = cleanup.server.take().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let unhealthy = health_check();
    assert_eq!(unhealthy.status.code(), Some(1), "{unhealthy:?}");
    // Both keys were read from the mounted folder, by path under /keys.
    assert!(
        logs().contains("path=/keys/jitsi/2026-12-08.pem"),
        "{}",
        logs()
    );
}

/// The docker-jitsi-meet compose file this test stands in for: its services'
/// shape (environment as bare names, one network `meet.jitsi`, read-only
/// containers), with only what the override touches.
const JITSI_COMPOSE: &str = r#"services:
  web:
    image: jitsi/web:stable
    restart: ${RESTART_POLICY:-unless-stopped}
    read_only: true
    ports:
      - '${HTTP_PORT}:8000'
    volumes:
      - ${CONFIG}/web:/config:Z
    environment:
      - ENABLE_AUTH
      - PUBLIC_URL
      - TOKEN_AUTH_URL
    networks:
      meet.jitsi:
  prosody:
    image: jitsi/prosody:stable
    restart: ${RESTART_POLICY:-unless-stopped}
    read_only: true
    volumes:
      - ${CONFIG}/prosody/config:/config:Z
    environment:
      - AUTH_TYPE
      - ENABLE_AUTH
      - JWT_APP_ID
      - JWT_APP_SECRET
      - JWT_ACCEPTED_ISSUERS
      - JWT_ACCEPTED_AUDIENCES
      - JWT_ASAP_KEYSERVER
      - XMPP_CONFIGURATION
    networks:
      meet.jitsi:
        aliases:
          - ${XMPP_SERVER:-xmpp.meet.jitsi}
networks:
  meet.jitsi:
"#;

/// `docker-compose config` in `project` (Debian's docker-compose), as JSON.
fn compose_config(project: &Path) -> Result<Value, String> {
    use std::io::Write as _;
    let out = tool_output(
        Command::new("docker-compose")
            .arg("config")
            .current_dir(project),
    );
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut yaml = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML (docker-compose brings it)");
    yaml.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let json = yaml.wait_with_output().unwrap();
    assert!(json.status.success(), "{json:?}");
    Ok(serde_json::from_slice(&json.stdout).unwrap())
}

#[test]
fn the_compose_override_adds_the_key_server_to_docker_jitsi_meet() {
    let t = tempdir();
    let project = t.path().join("docker-jitsi-meet");
    std::fs::create_dir(&project).unwrap();
    let config_dir = t.path().join("jitsi-meet-cfg");
    std::fs::write(project.join("docker-compose.yml"), JITSI_COMPOSE).unwrap();
    for file in ["docker-compose.jitsi.yml", "asap-jwks.cfg.lua"] {
        std::fs::copy(repo(&format!("deploy/docker/{file}")), project.join(file)).unwrap();
    }
    // docker-jitsi-meet's own .env lines, then ours, as the override's header says.
    let ours = std::fs::read_to_string(repo("deploy/docker/jitsi-meet.env")).unwrap();
    let env = format!("CONFIG={}\nHTTP_PORT=8000\n{ours}", path_str(&config_dir));
    std::fs::write(project.join(".env"), &env).unwrap();
    // Without the override's service the base has no asap-keyserver: the
    // merge below is docker-compose's, not the base file's.
    let merged = compose_config(&project).unwrap_or_else(|e| panic!("docker-compose config: {e}"));
    let service = &merged["services"]["asap-keyserver"];
    assert_eq!(
        service["image"].as_str(),
        Some(format!("asap-keyserver:{}", env!("CARGO_PKG_VERSION")).as_str()),
        "the override names the image scripts/image tags"
    );
    let volumes = json_strings(&service["volumes"]);
    let keys_mount = format!("{}/asap-keyserver/keys:/keys:ro", path_str(&config_dir));
    assert!(volumes.contains(&keys_mount), "{volumes:?}");
    assert!(
        volumes.iter().all(|v| v.ends_with(":ro")),
        "every mount read-only: {volumes:?}"
    );
    assert!(
        service["networks"]
            .as_object()
            .unwrap()
            .contains_key("meet.jitsi"),
        "{service}"
    );
    assert_eq!(service["read_only"], Value::Bool(true));
    assert_eq!(json_strings(&service["cap_drop"]), ["ALL"]);
    assert!(
        service.get("ports").is_none(),
        "the key server stays on the compose network: {service}"
    );
    let prosody = &merged["services"]["prosody"];
    assert_eq!(
        prosody["image"].as_str(),
        Some("jitsi/prosody:stable"),
        "the base's prosody, merged"
    );
    let vars = prosody["environment"].as_object().unwrap();
    assert_eq!(vars["JWT_ASAP_KEYSERVER"], "http://asap-keyserver:8085");
    assert_eq!(vars["AUTH_TYPE"], "jwt");
    assert_eq!(vars["JWT_ACCEPTED_ISSUERS"], vars["JWT_APP_ID"]);
    assert!(
        vars["JWT_APP_SECRET"].is_null(),
        "a secret beside a key server: {vars:?}"
    );
    let snippet = format!(
        "{}:/config/conf.d/asap-jwks.cfg.lua:ro",
        path_str(&project.join("asap-jwks.cfg.lua"))
    );
    assert!(
        json_strings(&prosody["volumes"]).contains(&snippet),
        "{prosody}"
    );
    assert!(
        service["environment"]["ASAP_CONFIG"].is_null(),
        "no token service unless asked"
    );

    // The token service: ASAP_CONFIG in .env reaches the container.
    let with_service = env.replace("# ASAP_CONFIG=", "ASAP_CONFIG=");
    std::fs::write(project.join(".env"), with_service).unwrap();
    let merged = compose_config(&project).unwrap();
    assert_eq!(
        merged["services"]["asap-keyserver"]["environment"]["ASAP_CONFIG"],
        "/etc/asap-keyserver/asap-keyserver.toml"
    );

    // And docker-compose does check: the override without the base fails.
    std::fs::write(project.join(".env"), env.replace("docker-compose.yml:", "")).unwrap();
    assert!(
        compose_config(&project).is_err(),
        "the override alone must not validate"
    );
}
