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
