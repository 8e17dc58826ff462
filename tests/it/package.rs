//! The Debian package (issue 22), installed for real with dpkg on this
//! machine: files, owners and modes, the first key served by the installed
//! binary as the package's user, the unit checked by `systemd-analyze`, an
//! upgrade that keeps keys and settings, remove, purge, and lintian.
//!
//! It must run as root (CI does). It builds the package from the dev binary
//! the test run already has (`PACKAGE_BIN=... scripts/package`), so it costs
//! no release build; `scripts/package` alone builds release.

use crate::common::*;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const PKG: &str = "asap-keyserver";
const KEYS: &str = "/var/lib/asap-keyserver/keys";
const ENV_FILE: &str = "/etc/asap-keyserver/asap-keyserver.env";
const UNIT: &str = "/usr/lib/systemd/system/asap-keyserver.service";
const BACKUPS: &str = "/var/backups";

/// Runs `cmd`, fails the test with its output unless it succeeds, returns stdout + stderr.
fn ok(cmd: &mut Command) -> String {
    let (stdout, stderr) = tool_ok(cmd);
    stdout + &stderr
}

fn dpkg(args: &[&str]) -> String {
    ok(Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn installed_version() -> Option<String> {
    let out = tool_output(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${db:Status-Status} ${Version}",
        PKG,
    ]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("installed ").map(str::to_owned)
}

fn user_exists() -> bool {
    tool_output(Command::new("getent").args(["passwd", PKG]))
        .status
        .success()
}

fn backups() -> BTreeSet<PathBuf> {
    std::fs::read_dir(BACKUPS)
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("asap-keyserver-keys-")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Puts the machine back as it was, even when an assertion failed: purges the
/// package, deletes the key backups the purge made and the system user when
/// the test created it.
struct Cleanup {
    user_existed: bool,
    backups_before: BTreeSet<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = tool_output(Command::new("dpkg").args(["-P", PKG]));
        for dir in backups().difference(&self.backups_before) {
            let _ = std::fs::remove_dir_all(dir);
        }
        if !self.user_existed {
            let _ = tool_output(Command::new("deluser").args(["--system", PKG]));
        }
    }
}

/// Builds the package at `version` into `out` from the dev binary of this test run.
fn build(out: &Path, version: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ok(Command::new(root.join("scripts/package"))
        .args(["--deb-version", version, "--output"])
        .arg(out)
        .env("PACKAGE_BIN", bin()));
    let deb = out.join(format!("{PKG}_{version}_amd64.deb"));
    assert!(deb.is_file(), "scripts/package made no {}", deb.display());
    deb
}

fn mode_owner(path: &str) -> (u32, String) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let owner = ok(Command::new("stat").args(["-c", "%U:%G", path]));
    (meta.permissions().mode() & 0o7777, owner.trim().to_owned())
}

/// The installed service as its unit starts it: the env file's variables, the
/// unit's ExecStart as the package's user (no systemd in a container). Its
/// `serve` binds ASAP_LISTEN from the env file.
fn start_as_unit() -> Server {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart");
    assert!(
        exec.starts_with("/usr/bin/asap-keyserver serve"),
        "ExecStart: {exec}"
    );
    for line in [
        "User=asap-keyserver",
        "EnvironmentFile=-/etc/asap-keyserver/asap-keyserver.env",
    ] {
        assert!(unit.lines().any(|l| l == line), "{UNIT} lacks {line}");
    }
    // The harness passes its own binary as $1: `shift` drops it.
    let script = format!(
        "set -a; . {ENV_FILE}; set +a; shift; \
         exec setpriv --reuid={PKG} --regid={PKG} --init-groups -- {exec}"
    );
    Server::spawn_wrapped(&["sh", "-c", &script, "sh"], &["serve"], None)
}

/// The kid files in the key directory, with their bytes (read as root).
fn key_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for issuer in std::fs::read_dir(dir).unwrap() {
        let issuer = issuer.unwrap().path();
        for file in std::fs::read_dir(&issuer).unwrap() {
            let path = file.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_owned();
            files.push((rel, std::fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

fn set_listen(port: u16) {
    let env = std::fs::read_to_string(ENV_FILE).unwrap();
    assert!(
        env.contains("\nASAP_LISTEN=127.0.0.1:8085\n"),
        "{ENV_FILE}:\n{env}"
    );
    let changed = env.replace(
        "\nASAP_LISTEN=127.0.0.1:8085\n",
        &format!("\nASAP_LISTEN=127.0.0.1:{port}\n"),
    );
    std::fs::write(ENV_FILE, changed).unwrap();
}

/// Serves the package's key: the public half of the private key in `files`, at its kid's path.
fn assert_serves(server: &Server, port: u16, files: &[(PathBuf, Vec<u8>)]) {
    assert_eq!(
        server.addr.port(),
        port,
        "the service listens where the env file says"
    );
    let (rel, private) = &files[0];
    let kid = rel.with_extension("").to_string_lossy().into_owned();
    let public = String::from_utf8(openssl_stdin(&["pkey", "-pubout"], private)).unwrap();
    let reply = server.get(&key_path(&kid));
    assert_eq!(reply.status, 200, "GET {} for {kid}", key_path(&kid));
    assert_eq!(reply.text().trim(), public.trim(), "served key of {kid}");
}

#[test]
fn package_installs_upgrades_removes_and_purges() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the package test installs a .deb with dpkg: run it as root (CI does: .ci/run)"
    );
    assert_eq!(
        installed_version(),
        None,
        "{PKG} is already installed here; this test installs and purges it: remove it first"
    );
    let _cleanup = Cleanup {
        user_existed: user_exists(),
        backups_before: backups(),
    };
    let out = tempdir();
    let v1 = build(out.path(), "0.1.0-1");
    let v2 = build(out.path(), "0.1.1-1");

    // lintian: no errors (warnings allowed; overrides in debian/asap-keyserver.lintian-overrides).
    let lint = tool_output(Command::new("lintian").arg(&v1));
    let lint_text = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint_text.lines().all(|l| !l.starts_with("E:")),
        "lintian errors:\n{lint_text}"
    );

    // Install: files, owners, modes, a first key.
    let log = dpkg(&["-i", v1.to_str().unwrap()]);
    assert_eq!(installed_version().as_deref(), Some("0.1.0-1"));
    assert!(
        log.contains("making a first key for issuer jitsi"),
        "dpkg -i:\n{log}"
    );
    if !Path::new("/run/systemd/system").is_dir() {
        assert!(
            log.contains("systemd is not running here"),
            "dpkg -i says the service did not start:\n{log}"
        );
    }
    for (path, mode, owner) in [
        ("/usr/bin/asap-keyserver", 0o755, "root:root"),
        (UNIT, 0o644, "root:root"),
        (
            "/usr/share/man/man1/asap-keyserver.1.gz",
            0o644,
            "root:root",
        ),
        (
            "/usr/share/man/man1/asap-keyserver-serve.1.gz",
            0o644,
            "root:root",
        ),
        (ENV_FILE, 0o644, "root:root"),
        (
            "/usr/share/doc/asap-keyserver/copyright",
            0o644,
            "root:root",
        ),
        (KEYS, 0o750, "asap-keyserver:asap-keyserver"),
    ] {
        assert_eq!(
            mode_owner(path),
            (mode, owner.to_owned()),
            "{path}: mode and owner"
        );
    }
    let conffiles = dpkg(&["-s", PKG]);
    assert!(
        conffiles.contains(&format!(" {ENV_FILE} ")),
        "conffile {ENV_FILE}:\n{conffiles}"
    );
    let man = ok(Command::new("sh")
        .arg("-c")
        .arg("zcat /usr/share/man/man1/asap-keyserver.1.gz"));
    assert!(man.contains(".TH asap-keyserver 1"), "man page:\n{man}");
    assert_eq!(
        ok(Command::new("/usr/bin/asap-keyserver").arg("--version")).trim(),
        "asap-keyserver 0.1.0"
    );
    let keys = key_files(Path::new(KEYS));
    assert_eq!(keys.len(), 1, "one first key: {keys:?}");
    let first = Path::new(KEYS).join(&keys[0].0);
    assert!(
        keys[0].0.starts_with("jitsi"),
        "first key of issuer jitsi: {keys:?}"
    );
    assert_eq!(
        mode_owner(first.to_str().unwrap()),
        (0o600, "asap-keyserver:asap-keyserver".to_owned()),
        "{}",
        first.display()
    );

    // The unit as systemd reads it (the binary it names exists now).
    let verify = ok(Command::new("systemd-analyze").args(["verify", UNIT]));
    assert!(
        verify.trim().is_empty(),
        "systemd-analyze verify {UNIT}:\n{verify}"
    );

    // The installed binary, as the package's user, on the env file's port, serves the first key.
    let port = free_port();
    set_listen(port);
    let env_before = std::fs::read(ENV_FILE).unwrap();
    let server = start_as_unit();
    assert_serves(&server, port, &keys);
    assert!(server.terminate().success());

    // Upgrade: the same keys (no new one), the changed env file, the same port.
    let log = dpkg(&["-i", v2.to_str().unwrap()]);
    assert_eq!(
        installed_version().as_deref(),
        Some("0.1.1-1"),
        "dpkg -i:\n{log}"
    );
    assert!(
        !log.contains("making a first key"),
        "an upgrade makes no key:\n{log}"
    );
    assert_eq!(
        key_files(Path::new(KEYS)),
        keys,
        "keys kept across the upgrade"
    );
    assert_eq!(
        std::fs::read(ENV_FILE).unwrap(),
        env_before,
        "env file kept across the upgrade"
    );
    let server = start_as_unit();
    assert_serves(&server, port, &keys);
    assert!(server.terminate().success());

    // Remove: the binary goes, keys and settings stay.
    dpkg(&["-r", PKG]);
    assert!(
        !Path::new("/usr/bin/asap-keyserver").exists(),
        "dpkg -r removes the binary"
    );
    assert!(!Path::new(UNIT).exists(), "dpkg -r removes the unit");
    assert_eq!(key_files(Path::new(KEYS)), keys, "dpkg -r keeps the keys");
    assert_eq!(
        std::fs::read(ENV_FILE).unwrap(),
        env_before,
        "dpkg -r keeps the env file"
    );

    // Purge: settings gone, keys moved aside to the printed place, nothing private deleted.
    let log = dpkg(&["-P", PKG]);
    assert_eq!(installed_version(), None);
    assert!(
        !Path::new("/etc/asap-keyserver").exists(),
        "purge deletes /etc/asap-keyserver:\n{log}"
    );
    assert!(
        !Path::new("/var/lib/asap-keyserver").exists(),
        "purge empties /var/lib/asap-keyserver:\n{log}"
    );
    let backup = log
        .split("private keys too) to ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("dpkg -P says where the keys went:\n{log}"));
    assert!(
        backup.starts_with("/var/backups/asap-keyserver-keys-"),
        "backup {backup}"
    );
    assert_eq!(mode_owner(backup).0, 0o700, "{backup}");
    assert_eq!(
        key_files(Path::new(backup)),
        keys,
        "every key file is in {backup}"
    );
}

/// The package's unit (debian/) locks the service down as the manual one (deploy/systemd/)
/// does: every line of the manual unit's [Service] is in it, but for who runs it and where
/// the program and keys are. Needs no root.
#[test]
fn the_package_unit_is_hardened_as_the_manual_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manual =
        std::fs::read_to_string(root.join("deploy/systemd/asap-keyserver.service")).unwrap();
    let package = std::fs::read_to_string(root.join("debian/asap-keyserver.service")).unwrap();
    let differ = [
        "ExecStart=",
        "DynamicUser=",
        "ReadOnlyPaths=",
        "Environment=",
        "#",
    ];
    let service = manual
        .split("[Service]")
        .nth(1)
        .and_then(|s| s.split("[Install]").next())
        .unwrap();
    let lines: Vec<&str> = service
        .lines()
        .filter(|l| !l.trim().is_empty() && !differ.iter().any(|d| l.starts_with(d)))
        .collect();
    assert!(
        lines.len() > 20,
        "the manual unit's [Service] lines: {lines:?}"
    );
    for line in lines {
        assert!(
            package.lines().any(|l| l == line),
            "debian/asap-keyserver.service lacks {line:?}"
        );
    }
    for line in [
        "User=asap-keyserver",
        "ReadOnlyPaths=/var/lib/asap-keyserver /etc/asap-keyserver",
        "ExecStart=/usr/bin/asap-keyserver serve --no-init --keys /var/lib/asap-keyserver/keys $ASAP_ARGS",
    ] {
        assert!(package.lines().any(|l| l == line), "debian/asap-keyserver.service lacks {line:?}");
    }
}
