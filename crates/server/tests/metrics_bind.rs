//! With MAWID_METRICS_BIND set, the real server answers `/metrics` only on that listener, and
//! both listeners stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
    let Ok(base) = std::env::var("DATABASE_URL") else {
        panic!("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
    };
    let name = format!("mawid_metrics_bind_{}", std::process::id());
    admin_sql(&base, format!("DROP DATABASE IF EXISTS {name}"));
    admin_sql(&base, format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let mail_dir =
        std::env::temp_dir().join(format!("mawid-metrics-bind-mail-{}", std::process::id()));

    let mut server = Command::new(env!("CARGO_BIN_EXE_mawid"))
        .arg("serve")
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("MAWID_JWT_SECRET", SECRET)
        .env("MAWID_BIND", "127.0.0.1:0")
        .env("MAWID_METRICS_BIND", "127.0.0.1:0")
        .env("MAWID_MAIL_DIR", &mail_dir)
        .env("MAWID_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Port 0 picks free ports; the log names both.
    let (mut main, mut metrics) = (None, None);
    while main.is_none() || metrics.is_none() {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the server starts and logs both addresses");
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let addr = entry["fields"]["addr"].as_str().map(str::to_owned);
        match entry["fields"]["message"].as_str() {
            Some("listening") => main = addr,
            Some("metrics listening") => metrics = addr,
            _ => {}
        }
    }
    let (main, metrics) = (main.unwrap(), metrics.unwrap());

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

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM stops both listeners and exits 0"
    );
    assert!(
        TcpStream::connect(&metrics).is_err(),
        "the metrics listener is closed with the server"
    );

    admin_sql(
        &base,
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    );
    let _ = std::fs::remove_dir_all(&mail_dir);
}
