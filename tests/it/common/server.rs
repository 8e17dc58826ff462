//! The real `serve` on 127.0.0.1:0 with its logs, and a third-party static
//! file server.
//!
//! Every test shares one process, so a test that changes something
//! process-wide for new inotify instances (the watcher-overflow test lowers
//! `fs.inotify.max_queued_events`) holds [`INOTIFY`] for writing while it
//! does; every other server holds it for reading until its watcher exists.

use super::http::{get, Reply};
use super::keys::{key_path, TestKey};
use super::process::{bin, signal, wait_until, DEADLINE};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Held for writing while a test changes how new inotify instances behave.
pub static INOTIFY: RwLock<()> = RwLock::new(());

/// `serve --keys DIR --listen 127.0.0.1:0 --no-init EXTRA...`
pub fn serve_args<'a>(dir: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "serve",
        "--keys",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--no-init",
    ];
    args.extend_from_slice(extra);
    args
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
        Server::spawn(&serve_args(dir, extra), None)
    }

    /// Like `start`, for the test that holds [`INOTIFY`] for writing itself.
    pub fn start_holding_inotify(dir: &Path, extra: &[&str]) -> Server {
        Server::launch(&[], &serve_args(dir, extra), None)
    }

    /// Spawns the binary with exactly these args (in `cwd` if given).
    pub fn spawn(args: &[&str], cwd: Option<&Path>) -> Server {
        Server::spawn_wrapped(&[], args, cwd)
    }

    /// Like `spawn`, run under a wrapper command (e.g. `unshare -U`).
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str], cwd: Option<&Path>) -> Server {
        let guard = INOTIFY.read().unwrap_or_else(|e| e.into_inner());
        let server = Server::launch(wrapper, args, cwd);
        if args.first() == Some(&"serve") && !args.contains(&"--poll-interval") {
            // Hold the lock until the watcher (and its inotify instance) exists.
            let start = Instant::now();
            while !server.has_log("watching the key directory")
                && !server.has_log("cannot watch")
                && start.elapsed() < DEADLINE
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        drop(guard);
        server
    }

    fn launch(wrapper: &[&str], args: &[&str], cwd: Option<&Path>) -> Server {
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
