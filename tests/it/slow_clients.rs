//! Slow and idle clients: 500 connections that send half a request and
//! stall neither stop a new client nor stay open past the header timeout;
//! the connection bound holds with a clear log line.

use crate::common::*;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;

fn stall(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect()
}

/// Waits until the server closes `s` (EOF or reset), within the deadline.
fn closed_by_server(mut s: TcpStream) -> bool {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // a 408 before closing is fine
            Err(e) => {
                return e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
            }
        }
    }
}

#[test]
fn five_hundred_stalled_clients_do_not_block_a_new_one_and_are_cut_off() {
    let (_t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(
        &dir,
        &["--header-timeout", "2s", "--max-connections", "2000"],
    );
    let stalled = stall(server.addr, 500);
    // A new client is served while they hang.
    let reply = server.get(&key_path("jitsi/k"));
    assert_eq!((reply.status, reply.text()), (200, key(0).spki.clone()));
    // Every stalled connection is closed by the server after the header timeout.
    let closed = stalled
        .into_iter()
        .filter(|s| closed_by_server(s.try_clone().unwrap()))
        .count();
    assert_eq!(closed, 500);
    assert_eq!(server.get("/healthz").status, 200);
}

#[test]
fn the_connection_bound_holds_with_a_log_line_and_recovers() {
    let (_t, dir) = keydir();
    write_private(dir.join("jitsi/k.pem"), &key(0).pkcs8);
    let server = Server::start(&dir, &["--header-timeout", "2s", "--max-connections", "50"]);
    let stalled = stall(server.addr, 120);
    server.wait_log("connection limit reached; new clients wait until a connection closes (raise --max-connections)");
    // Queued, not refused: once the stalled ones time out, a new client is served.
    let reply = server.get(&key_path("jitsi/k"));
    assert_eq!(reply.status, 200);
    let closed = stalled
        .into_iter()
        .filter(|s| closed_by_server(s.try_clone().unwrap()))
        .count();
    assert_eq!(
        closed, 120,
        "the queued ones are served (then cut off) in turn"
    );
    assert!(!server.has_log("panicked"));
    assert_eq!(server.get("/healthz").status, 200);
}

/// `n` clients that send `request` `times` times (pipelined) and never read
/// the answers: their socket buffers fill, and the server's writes stall.
fn never_reading(
    addr: std::net::SocketAddr,
    n: usize,
    request: &[u8],
    times: usize,
) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&request.repeat(times)).unwrap();
            s
        })
        .collect()
}

/// Issue 18, finding 6: clients that ask for the JWKS and never read it
/// take every slot; health checks are still answered, at once, without one.
#[test]
fn health_checks_are_answered_while_every_slot_is_held() {
    let (_t, dir) = keydir();
    for i in 0..3000 {
        write(
            dir.join(format!("bulk/d{}/k{i}.pem", i / 500)),
            &key(i % 4).spki,
        );
    }
    let server = Server::start(
        &dir,
        &[
            "--max-connections",
            "4",
            "--send-timeout",
            "60s",
            "--accept-loops",
            "1",
        ],
    );
    assert_eq!(server.get("/readyz").status, 200);
    let held = never_reading(
        server.addr,
        4,
        b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n",
        10,
    );
    server.wait_log("connection limit reached");
    // Without a slot free for a minute, these would wait past the deadline.
    for path in ["/healthz", "/readyz"] {
        let reply = server.get(path);
        assert_eq!(reply.status, 200, "{path} while every slot is held");
    }
    drop(held);
}

/// Issue 18, finding 6: a response that makes no progress for
/// --send-timeout is dropped, which frees its slot.
#[test]
fn clients_that_stop_reading_lose_their_slot_after_the_send_timeout() {
    let (_t, dir) = keydir();
    write(dir.join("jitsi/k1.pem"), &key(0).spki);
    let server = Server::start(
        &dir,
        &[
            "--max-connections",
            "4",
            "--send-timeout",
            "2s",
            "--accept-loops",
            "1",
        ],
    );
    let held = never_reading(
        server.addr,
        4,
        b"GET /jitsi/k1 HTTP/1.1\r\nHost: x\r\n\r\n",
        40_000,
    );
    server.wait_log("connection limit reached");
    // Served once a stalled connection is dropped.
    let reply = server.get(&key_path("jitsi/k1"));
    assert_eq!((reply.status, reply.text()), (200, key(0).spki.clone()));
    let closed = held
        .into_iter()
        .filter(|s| closed_by_server(s.try_clone().unwrap()))
        .count();
    assert_eq!(closed, 4, "every stalled connection was dropped");
    assert_eq!(server.get("/healthz").status, 200);
}
