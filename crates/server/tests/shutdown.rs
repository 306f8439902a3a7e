//! On SIGTERM the real server finishes the request it is serving, then exits 0.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads one HTTP/1.1 response with a Content-Length body from a kept-alive connection.
fn read_response(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn sigterm_lets_the_in_flight_request_finish_and_exits_0() {
    let scratch = common::Scratch::new("shutdown");
    let mut server = scratch.serve(&[]);
    // The log tells where it listens and, at the end, that it stopped.
    let addr = server.addresses(&["listening"]).remove(0);

    // A first request on the connection proves a worker has accepted it.
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: mawid\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut conn).starts_with("HTTP/1.1 200"));

    // The second request is in flight: its body is only half sent when SIGTERM arrives, so the
    // handler cannot have answered before the signal.
    let body = br#"{"email":"nobody@example.com","password":"not-the-password"}"#;
    let (first, rest) = body.split_at(20);
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: mawid\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(first).unwrap();
    server.sigterm();
    conn.write_all(rest).unwrap();
    let response = read_response(&mut conn);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the in-flight login got its full answer: {response}"
    );
    assert!(response.contains("invalid_credentials"), "{response}");

    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop within 40 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let rest_of_log: Vec<String> = server.lines.iter().collect();
    assert!(
        rest_of_log.iter().any(|l| l.contains("\"stopped\"")),
        "the mail worker was awaited and the server logged its stop: {rest_of_log:#?}"
    );
    let failed: Vec<&String> = rest_of_log
        .iter()
        .filter(|l| l.contains("being shutdown") || l.contains("outbox pass failed"))
        .collect();
    assert!(
        failed.is_empty(),
        "the background workers stop before the runtime: {failed:#?}"
    );
}
