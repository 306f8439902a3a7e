//! On SIGTERM the real server finishes the request it is serving, then exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn admin_sql(base: &str, sql: String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    });
}

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
    let Ok(base) = std::env::var("DATABASE_URL") else {
        panic!("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
    };
    let name = format!("mawid_shutdown_{}", std::process::id());
    admin_sql(&base, format!("DROP DATABASE IF EXISTS {name}"));
    admin_sql(&base, format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let mail_dir = std::env::temp_dir().join(format!("mawid-shutdown-mail-{}", std::process::id()));

    let mut server = Command::new(env!("CARGO_BIN_EXE_mawid"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("MAWID_JWT_SECRET", SECRET)
        .env("MAWID_BIND", "127.0.0.1:0")
        .env("MAWID_MAIL_DIR", &mail_dir)
        .env("MAWID_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // The log tells where it listens (port 0 picks a free one) and, at the end, that it stopped.
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the server starts and logs its address");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["fields"]["message"] == "listening" {
            break entry["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };

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
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    conn.write_all(rest).unwrap();
    let response = read_response(&mut conn);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the in-flight login got its full answer: {response}"
    );
    assert!(response.contains("invalid_credentials"), "{response}");

    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop within 40 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    // The reader thread ends at EOF, so this waits for the last line the server wrote.
    let rest_of_log: Vec<String> = lines.iter().collect();
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

    admin_sql(&base, format!("DROP DATABASE {name} WITH (FORCE)"));
    let _ = std::fs::remove_dir_all(mail_dir);
}
