//! Running things: the real binary (one-shot commands), openssl, signals,
//! and waiting on a condition with a deadline (never bare sleeps).

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
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

/// Runs a system tool with no input; fails the test only if it cannot be
/// started (a missing peer: `scripts/test` installs it).
pub fn tool_output(cmd: &mut Command) -> std::process::Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/test installs it)"))
}

/// Runs a system tool that must succeed (failing the test with both of its
/// outputs otherwise); its stdout and stderr.
pub fn tool_ok(cmd: &mut Command) -> (String, String) {
    let out = tool_output(cmd);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{stdout}{stderr}");
    (stdout, stderr)
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

pub fn signal(child: &Child, sig: &str) {
    run(Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string()));
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

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Today's UTC date as `date -u +%F` prints it.
pub fn today() -> String {
    String::from_utf8(run(Command::new("date").args(["-u", "+%F"])))
        .unwrap()
        .trim()
        .to_owned()
}

/// Runs the binary like [`cli`], for a command that must not hang: if it
/// has not ended within `limit`, it is killed and the test fails, showing
/// what it printed. The limit is a generous bound, not an assertion on how
/// long the command takes.
pub fn cli_within(limit: Duration, args: &[&str]) -> (i32, String, String) {
    cli_within_stdin(limit, args, Stdio::null())
}

/// [`cli_within`] with `stdin` (a file such as `/dev/zero`, a pipe).
pub fn cli_within_stdin(limit: Duration, args: &[&str], stdin: Stdio) -> (i32, String, String) {
    use std::io::Read as _;
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("ASAP_KEYS_DIR")
        .env_remove("RUST_LOG")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!("{args:?} still ran after {limit:?} and was killed:\n{out}{err}");
    };
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    (status.code().unwrap_or(-1), out, err)
}
