//! With MAWID_METRICS_BIND set, the real server answers `/metrics` only on that listener, and
//! both listeners stop on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One `GET` on a fresh connection; the whole answer, head and body.
fn get(addr: &str, path: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: mawid\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn metrics_bind_moves_metrics_off_the_main_listener() {
    let scratch = common::Scratch::new("metrics_bind");
    let mut server = scratch.serve(&[("MAWID_METRICS_BIND", "127.0.0.1:0")]);
    let [main, metrics]: [String; 2] = server
        .addresses(&["listening", "metrics listening"])
        .try_into()
        .unwrap();

    let scraped = get(&metrics, "/metrics");
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        scraped
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{scraped}"
    );
    assert!(scraped.contains("# TYPE "), "Prometheus text: {scraped}");

    let public = get(&main, "/metrics");
    assert!(public.starts_with("HTTP/1.1 404"), "{public}");
    assert!(!public.contains("# TYPE "), "{public}");
    // The rest of the main listener is unchanged, and the metrics one serves nothing else.
    assert!(get(&main, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(get(&metrics, "/healthz").starts_with("HTTP/1.1 404"));

    server.sigterm();
    let status = server.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM stops both listeners and exits 0"
    );
    assert!(
        TcpStream::connect(&metrics).is_err(),
        "the metrics listener is closed with the server"
    );
}
