//! `mawid healthcheck` (the container HEALTHCHECK) passes only when /readyz answers 200.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;

fn healthcheck(bind: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mawid"))
        .arg("healthcheck")
        .env_clear()
        .env("MAWID_BIND", bind)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A one-shot server answering `status_line`; returns its port and the request it saw.
fn answer_once(status_line: &'static str) -> (u16, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(format!("{status_line}\r\ncontent-length: 0\r\n\r\n").as_bytes())
            .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });
    (port, seen)
}

#[test]
fn healthcheck_passes_when_readyz_answers_200() {
    let (port, seen) = answer_once("HTTP/1.1 200 OK");
    let (ok, err) = healthcheck(&format!("127.0.0.1:{port}"));
    assert!(ok, "{err}");
    assert!(seen.join().unwrap().starts_with("GET /readyz HTTP/1.0\r\n"));
}

#[test]
fn healthcheck_of_a_wildcard_bind_probes_loopback() {
    let (port, seen) = answer_once("HTTP/1.1 200 OK");
    let (ok, err) = healthcheck(&format!("0.0.0.0:{port}"));
    assert!(ok, "{err}");
    seen.join().unwrap();
}

#[test]
fn healthcheck_fails_when_the_database_is_not_ready() {
    let (port, seen) = answer_once("HTTP/1.1 503 Service Unavailable");
    let (ok, err) = healthcheck(&format!("127.0.0.1:{port}"));
    assert!(!ok);
    assert!(err.contains("503"), "{err}");
    seen.join().unwrap();
}

#[test]
fn healthcheck_fails_when_nothing_listens() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, _) = healthcheck(&format!("127.0.0.1:{port}"));
    assert!(!ok);
}
