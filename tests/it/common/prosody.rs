//! Debian's real Prosody on 127.0.0.1, with a config, data and log folder
//! of its own, and the test-only modules of `tests/fixtures/prosody/login/`
//! (named `auth_token` and `token_verification`, as Jitsi's, so that the log
//! reads as a real deployment's).

use super::http::free_port;
use super::keys::{path_str, tempdir};
use super::process::{cli, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How the Prosody under test behaves.
#[derive(Debug, Clone)]
pub struct ProsodySetup {
    /// `g1` (the token plugin of 2024): no SASL answer for a missing room;
    /// `g3` (2026): sub required.
    pub mode: &'static str,
    /// Run the focus stand-in (rooms can be created).
    pub focus: bool,
    /// Also serve HTTPS with this certificate and key.
    pub tls: Option<(&'static str, &'static str)>,
    /// `asap_key_server` on the token VirtualHost: the stand-in then fetches
    /// keys and checks signatures as the plugin does.
    pub key_server: Option<String>,
    /// `muc_mapper_domain_base = "meet.test"` in the global section, as
    /// Jitsi's packages set it.
    pub muc_base: bool,
    /// More lines for the token VirtualHost, after `app_id = "jitsi"` (which
    /// they may override).
    pub host_lines: String,
}

/// The token plugin of 2026 (sub required), rooms created by the focus
/// stand-in, `muc_mapper_domain_base` set: Jitsi's packages today.
pub const G3: ProsodySetup = ProsodySetup {
    mode: "g3",
    focus: true,
    tls: None,
    key_server: None,
    muc_base: true,
    host_lines: String::new(),
};

/// `login` with `token` to `room` against `prosody`: Prosody's verdict
/// (`Err` holds what login printed).
pub fn prosody_accepts(prosody: &Prosody, token: &str, room: &str) -> Result<(), String> {
    let ws = prosody.websocket();
    let (code, out, err) = cli(&[
        "login",
        token,
        "--timeout",
        "5s",
        "--websocket",
        &ws,
        "--domain",
        "meet.test",
        "--room",
        room,
    ]);
    if code == 0 && out.contains("Prosody ACCEPTED the login and the join") {
        Ok(())
    } else {
        Err(format!("{out}{err}"))
    }
}

/// A [`G3`] Prosody that fetches keys from the key server at `base`
/// (`asap_key_server`).
pub fn through_key_server(base: &str) -> Prosody {
    Prosody::start(
        ProsodySetup {
            key_server: Some(base.to_owned()),
            ..G3
        },
        None,
    )
}

/// A [`G3`] Prosody that reads the JWKS of the key server at `base`
/// (`cache_keys_url`; its `asap_key_server` answers 404 for every key, so
/// only the JWKS can give a key), once it has read `keys` keys from it.
pub fn through_jwks(base: &str, keys: usize) -> Prosody {
    let prosody = Prosody::start(
        ProsodySetup {
            key_server: Some(format!("{base}/nothing-here")),
            host_lines: format!("    cache_keys_url = \"{base}/.well-known/jwks.json\"\n"),
            ..G3
        },
        None,
    );
    let read = format!("test: cached public keys refreshed: {keys} keys");
    wait_until("Prosody read the JWKS", || prosody.log().contains(&read));
    prosody
}

/// A running Prosody.
pub struct Prosody {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`
    pub http: String,
    /// `https://127.0.0.1:<port>`, when TLS was asked for.
    pub https: Option<String>,
}

fn modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prosody/login")
}

impl Prosody {
    /// Starts Prosody; `tls` files are paths under `cert_dir`.
    pub fn start(setup: ProsodySetup, cert_dir: Option<&Path>) -> Prosody {
        let dir = tempdir();
        let d = |n: &str| path_str(&dir.path().join(n));
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let (http_port, https_port) = (free_port(), free_port());
        let tls = match (setup.tls, cert_dir) {
            (Some((cert, key)), Some(base)) => format!(
                "https_ports = {{ {https_port} }}\nhttps_interfaces = {{ \"127.0.0.1\" }}\nhttps_ssl = {{ certificate = \"{}\", key = \"{}\" }}\n",
                path_str(&base.join(cert)),
                path_str(&base.join(key))
            ),
            _ => "https_ports = { }\n".to_owned(),
        };
        let key_server = match &setup.key_server {
            Some(url) => format!("    asap_key_server = \"{url}\"\n"),
            None => String::new(),
        };
        let muc_base = if setup.muc_base {
            "muc_mapper_domain_base = \"meet.test\"\n"
        } else {
            ""
        };
        let focus = if setup.focus {
            "Component \"focus.meet.test\" \"test_focus\"\n"
        } else {
            ""
        };
        let config = format!(
            "run_as_root = true\ndaemonize = false\npidfile = \"{pid}\"\ndata_path = \"{data}\"\n\
             plugin_paths = {{ \"{modules}\" }}\n\
             log = {{ {{ levels = {{ min = \"debug\" }}, to = \"file\", filename = \"{log}\" }},\n\
             \x20 {{ levels = {{ min = \"info\" }}, to = \"console\", timestamps = \"%Y-%m-%d %X\" }} }}\n\
             interfaces = {{ \"127.0.0.1\" }}\nc2s_ports = {{ }}\ns2s_ports = {{ }}\ncomponent_ports = {{ }}\n\
             c2s_direct_tls_ports = {{ }}\nlegacy_ssl_ports = {{ }}\n\
             http_ports = {{ {http_port} }}\nhttp_interfaces = {{ \"127.0.0.1\" }}\n{tls}\
             modules_enabled = {{ \"bosh\", \"websocket\", \"saslauth\", \"disco\", \"ping\" }}\n\
             modules_disabled = {{ \"s2s\" }}\n\
             consider_bosh_secure = true\nconsider_websocket_secure = true\nc2s_require_encryption = false\n\
             {muc_base}\
             VirtualHost \"meet.test\"\n    authentication = \"token\"\n    test_token_mode = \"{mode}\"\n\
             \x20   app_id = \"jitsi\"\n{key_server}{host_lines}\n\
             Component \"conference.meet.test\" \"muc\"\n    modules_enabled = {{ \"token_verification\" }}\n\
             {focus}",
            pid = d("prosody.pid"),
            data = d("data"),
            modules = path_str(&modules()),
            log = d("prosody.log"),
            mode = setup.mode,
            host_lines = setup.host_lines,
        );
        std::fs::write(dir.path().join("prosody.cfg.lua"), config).unwrap();
        let child = Command::new("prosody")
            .arg("--config")
            .arg(dir.path().join("prosody.cfg.lua"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("console.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("prosody is installed (scripts/test installs Debian's prosody)");
        let prosody = Prosody {
            child,
            http: format!("http://127.0.0.1:{http_port}"),
            https: setup.tls.map(|_| format!("https://127.0.0.1:{https_port}")),
            dir,
        };
        let ports: Vec<u16> = std::iter::once(http_port)
            .chain(setup.tls.map(|_| https_port))
            .collect();
        wait_until("Prosody listens", || {
            ports
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        prosody
    }

    /// The file Prosody logs to (the file sink, from debug up), as it wrote it.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("prosody.log")
    }

    /// Prosody's log so far (the file sink, from debug up).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default()
    }

    /// What Prosody wrote to stdout so far: its console sink (from info up,
    /// with docker-jitsi-meet's timestamps), as `docker logs` shows it.
    pub fn console_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// `ws://127.0.0.1:<port>/xmpp-websocket`
    pub fn websocket(&self) -> String {
        format!("{}/xmpp-websocket", self.http.replacen("http", "ws", 1))
    }

    /// `http://127.0.0.1:<port>/http-bind`
    pub fn bosh(&self) -> String {
        format!("{}/http-bind", self.http)
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
