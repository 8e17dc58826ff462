//! Shared test harness: keys made by the `openssl` CLI at test time, the
//! real `asap-keyserver` binary on 127.0.0.1:0, a raw HTTP/1.1 client, and
//! waits on conditions with a deadline (never bare sleeps as assertions).
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Generous deadline for anything the server does "at once".
pub const DEADLINE: Duration = Duration::from_secs(15);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_asap-keyserver")
}

/// Runs a command and returns stdout, failing the test with stderr on error.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (scripts/test installs the test peers)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn openssl(args: &[&str]) -> Vec<u8> {
    run(Command::new("openssl").args(args))
}

pub fn openssl_stdin(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (scripts/test installs it)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One RSA key in every PEM form, made by the openssl CLI.
#[derive(Clone)]
pub struct TestKey {
    /// `BEGIN PRIVATE KEY`
    pub pkcs8: String,
    /// `BEGIN RSA PRIVATE KEY`
    pub pkcs1: String,
    /// `BEGIN PUBLIC KEY` as openssl writes it
    pub spki: String,
    /// `BEGIN RSA PUBLIC KEY`
    pub pkcs1_public: String,
}

fn make_key(bits: u32) -> TestKey {
    let pkcs8 = String::from_utf8(openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        &format!("rsa_keygen_bits:{bits}"),
    ]))
    .unwrap();
    let pkcs1 =
        String::from_utf8(openssl_stdin(&["rsa", "-traditional"], pkcs8.as_bytes())).unwrap();
    let spki = String::from_utf8(openssl_stdin(&["pkey", "-pubout"], pkcs8.as_bytes())).unwrap();
    let pkcs1_public = String::from_utf8(openssl_stdin(
        &["rsa", "-RSAPublicKey_out"],
        pkcs8.as_bytes(),
    ))
    .unwrap();
    assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(pkcs1_public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    TestKey {
        pkcs8,
        pkcs1,
        spki,
        pkcs1_public,
    }
}

/// Four distinct 2048-bit keys, generated once per test binary.
pub fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| make_key(2048)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

pub fn key(i: usize) -> &'static TestKey {
    &keys()[i]
}

/// Lowercase hex sha256 of the kid, computed by `openssl dgst`, not our code.
pub fn sha256_hex(kid: &str) -> String {
    let out = String::from_utf8(openssl_stdin(&["dgst", "-sha256", "-r"], kid.as_bytes())).unwrap();
    out.split_whitespace().next().unwrap().to_owned()
}

pub fn key_path(kid: &str) -> String {
    format!("/{}.pem", sha256_hex(kid))
}

/// Writes a file, creating parent directories.
pub fn write(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Writes through a temp file and a rename, as a careful tool would.
pub fn write_atomic(path: impl AsRef<Path>, data: impl AsRef<[u8]>) {
    let path = path.as_ref();
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_str().unwrap()
    ));
    write(&tmp, data);
    std::fs::rename(tmp, path).unwrap();
}

pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses one HTTP/1.1 response that ends at EOF (`Connection: close`).
pub fn parse_reply(raw: &[u8], head_only: bool) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete response head in {:?}",
                String::from_utf8_lossy(raw)
            )
        });
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let body = if head_only {
        Vec::new()
    } else {
        raw[split + 4..].to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends raw bytes and reads the answer until the server closes.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Prosody (0.12.3; posix)\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    parse_reply(&raw_exchange(addr, req.as_bytes()), method == "HEAD")
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[])
}

/// The real binary, serving a directory on 127.0.0.1:0.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `serve --keys DIR --listen 127.0.0.1:0 --no-init EXTRA...`
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve",
            "--keys",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-init",
        ];
        args.extend_from_slice(extra);
        Server::spawn(&args, None)
    }

    /// Spawns the binary with exactly these args (in `cwd` if given).
    pub fn spawn(args: &[&str], cwd: Option<&Path>) -> Server {
        Server::spawn_wrapped(&[], args, cwd)
    }

    /// Like `spawn`, run under a wrapper command (e.g. `unshare -U`).
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str], cwd: Option<&Path>) -> Server {
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(args)
            .env("RUST_LOG", "info")
            .env_remove("ASAP_KEYS_DIR")
            .env_remove("ASAP_LISTEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line
                    .split("listening on http://")
                    .nth(1)
                    .or_else(|| line.split("listening on https://").nth(1))
                {
                    let addr_text: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
                        .collect();
                    let addr: SocketAddr = addr_text.parse().unwrap();
                    sink.lock().unwrap().push(line);
                    let _ = tx.send(addr);
                    continue;
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(DEADLINE) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start; logs: {:#?}", logs.lock().unwrap());
            }
        };
        Server { child, addr, logs }
    }

    pub fn get(&self, path: &str) -> Reply {
        get(self.addr, path)
    }

    pub fn status(&self, path: &str) -> u16 {
        self.get(path).status
    }

    /// The served PEM for `kid`, if any.
    pub fn key(&self, kid: &str) -> Option<String> {
        let r = self.get(&key_path(kid));
        (r.status == 200).then(|| r.text())
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    pub fn has_log(&self, needle: &str) -> bool {
        self.logs.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    pub fn wait_log(&self, needle: &str) {
        let start = Instant::now();
        while !self.has_log(needle) {
            assert!(
                start.elapsed() < DEADLINE,
                "no log line containing {needle:?}; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `kid` is served with the public half of `expected`.
    pub fn wait_key(&self, kid: &str, expected: &TestKey) {
        wait_until(&format!("{kid} served with the expected key"), || {
            self.key(kid).as_deref() == Some(expected.spki.as_str())
        });
    }

    pub fn wait_gone(&self, kid: &str) {
        wait_until(&format!("{kid} answers 404"), || {
            self.status(&key_path(kid)) == 404
        });
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        signal(&self.child, "TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "server did not exit after SIGTERM; logs:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(child: &Child, sig: &str) {
    run(Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string()));
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// A fresh key directory.
pub fn keydir() -> (tempfile::TempDir, PathBuf) {
    let t = tempdir();
    let p = t.path().join("keys");
    std::fs::create_dir(&p).unwrap();
    (t, p)
}

/// Runs the binary with `args`, returning (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    cli_stdin(args, None)
}

pub fn cli_stdin(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("ASAP_KEYS_DIR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    (code, stdout, stderr)
}

/// Runs the binary and expects success; returns stdout.
pub fn cli_ok(args: &[&str]) -> String {
    let (code, out, err) = cli(args);
    assert_eq!(code, 0, "{args:?} failed: {err}");
    out
}

/// `mint --keys DIR ARGS...`, expecting success; returns (token, stderr).
pub fn mint(dir: &Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["mint", "--keys", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!(code, 0, "mint {args:?} failed: {err}");
    (out.trim().to_owned(), err)
}

/// Decodes a compact JWT's header and claims without verifying it.
pub fn decode(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine as _;
    let parts: Vec<_> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWT: {token}");
    let part = |s: &str| {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    (part(parts[0]), part(parts[1]))
}

pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// The real verifiers, each given the token and the served PEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verifier {
    PyJwt,
    Jose,
    Luaossl,
    OpensslDgst,
}

pub const VERIFIERS: [Verifier; 4] = [
    Verifier::PyJwt,
    Verifier::Jose,
    Verifier::Luaossl,
    Verifier::OpensslDgst,
];

/// Verifies `token` against `pem` with `verifier`; Ok(claims JSON) or Err(reason).
pub fn verify_with(
    verifier: Verifier,
    token: &str,
    pem: &str,
    aud: &str,
    iss: &str,
) -> Result<serde_json::Value, String> {
    use base64::Engine as _;
    let work = tempdir();
    let token_file = work.path().join("token");
    let key_file = work.path().join("key.pem");
    std::fs::write(&token_file, token).unwrap();
    std::fs::write(&key_file, pem).unwrap();
    let peers = peers_dir();
    let mut cmd = match verifier {
        Verifier::PyJwt => {
            let mut c = Command::new("python3");
            c.arg(peers.join("pyjwt_verify.py"))
                .arg(&token_file)
                .arg(&key_file)
                .args([aud, iss]);
            c
        }
        Verifier::Jose => {
            let mut c = Command::new("node");
            c.arg(peers.join("jose_verify.mjs"))
                .arg(&token_file)
                .arg(&key_file)
                .args([aud, iss]);
            c
        }
        Verifier::Luaossl => {
            let mut c = Command::new("lua5.4");
            c.arg(peers.join("luaossl_verify.lua"))
                .arg(&token_file)
                .arg(&key_file);
            c
        }
        Verifier::OpensslDgst => {
            let (signed, sig) = token.rsplit_once('.').unwrap();
            std::fs::write(work.path().join("msg"), signed).unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(sig)
                .map_err(|e| e.to_string())?;
            std::fs::write(work.path().join("sig"), sig).unwrap();
            let mut c = Command::new("openssl");
            c.args(["dgst", "-sha256", "-verify"])
                .arg(&key_file)
                .arg("-signature")
                .arg(work.path().join("sig"))
                .arg(work.path().join("msg"));
            c
        }
    };
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{verifier:?} is not installed ({e}); run scripts/test, which installs it")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError")
            && !stderr.contains("ERR_MODULE_NOT_FOUND")
            && !stderr.contains("module 'openssl"),
        "{verifier:?} is missing a module ({stderr}); run scripts/test, which installs it"
    );
    if !out.status.success() {
        return Err(format!("{stdout} {stderr}"));
    }
    match verifier {
        Verifier::OpensslDgst => {
            assert_eq!(stdout, "Verified OK");
            Ok(decode(token).1)
        }
        _ => {
            let v: serde_json::Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{verifier:?} printed {stdout:?}: {e}"));
            Ok(v["claims"].clone())
        }
    }
}

/// Today's UTC date as `date -u +%F` prints it.
pub fn today() -> String {
    String::from_utf8(run(Command::new("date").args(["-u", "+%F"])))
        .unwrap()
        .trim()
        .to_owned()
}

/// Builds a compact JWT with exactly this header and payload, signed by
/// openssl with `pem` (RS256/384/512) or by HMAC-SHA256 (`HS256`, pem = secret).
pub fn token_with(header: &serde_json::Value, payload: &serde_json::Value, pem: &str) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let alg = header["alg"].as_str().unwrap_or("RS256");
    let work = tempdir();
    std::fs::write(work.path().join("msg"), &message).unwrap();
    std::fs::write(work.path().join("key.pem"), pem).unwrap();
    let digest = format!("-sha{}", &alg[2..]);
    let sig = if alg.starts_with("HS") {
        let mac = openssl(&[
            "dgst",
            &digest,
            "-mac",
            "HMAC",
            "-macopt",
            &format!("key:{pem}"),
            "-binary",
            &path_str(&work.path().join("msg")),
        ]);
        mac
    } else {
        openssl(&[
            "dgst",
            &digest,
            "-sign",
            &path_str(&work.path().join("key.pem")),
            &path_str(&work.path().join("msg")),
        ])
    };
    format!("{message}.{}", b64(&sig))
}

/// Claims Prosody accepts, valid for an hour.
pub fn good_claims() -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::json!({"iss": "jitsi", "aud": "jitsi", "sub": "*", "room": "standup",
        "iat": now, "nbf": now - 30, "exp": now + 3600, "jti": "t1"})
}

/// A third-party static file server (Python's http.server) on 127.0.0.1:0.
pub struct StaticServer {
    pub child: Child,
    pub url: String,
}

impl StaticServer {
    pub fn start(root: &Path) -> StaticServer {
        let mut child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("http.server said {line:?}"));
        StaticServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a private key file with mode 0600, as a careful operator would.
pub fn write_private(path: impl AsRef<Path>, pem: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    write(&path, pem);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

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

/// A port that was free a moment ago, for servers that cannot bind port 0 themselves.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a peer script (python3 or node) with env vars; Ok(stdout JSON) or Err(output).
pub fn peer(
    program: &str,
    script: &str,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Result<serde_json::Value, String> {
    let mut cmd = Command::new(program);
    cmd.arg(peers_dir().join(script)).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{program} missing ({e}); run scripts/test, which installs it"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("ModuleNotFoundError") && !stderr.contains("ERR_MODULE_NOT_FOUND"),
        "{script}: missing module ({stderr}); run scripts/test"
    );
    if out.status.success() {
        Ok(serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{script} printed {stdout:?}: {e}")))
    } else {
        Err(format!("{stdout} {stderr}"))
    }
}

/// GET over https with curl and the test CA; returns (status, body).
pub fn curl_https(url: &str, ca: &Path, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(extra)
        .args(["-w", "\n%{http_code}", url])
        .output()
        .expect("curl is installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}
