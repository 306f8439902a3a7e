//! What the tests that run the real `mawid` binary share: a scratch database of their own and
//! the server started on it, its JSON log followed line by line.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Runs one statement on the server `base` points at.
pub fn admin_sql(base: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    });
}

/// A database and a mail folder for one test, both removed when it ends (passed or not).
pub struct Scratch {
    base: String,
    name: String,
    pub url: String,
    pub mail_dir: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Self {
        let Ok(base) = std::env::var("DATABASE_URL") else {
            panic!("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
        };
        let name = format!("mawid_{test}_{}", std::process::id());
        admin_sql(&base, &format!("DROP DATABASE IF EXISTS {name}"));
        admin_sql(&base, &format!("CREATE DATABASE {name}"));
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        let mail_dir =
            std::env::temp_dir().join(format!("mawid-{test}-mail-{}", std::process::id()));
        Self {
            base,
            name,
            url,
            mail_dir,
        }
    }

    /// `mawid serve` on this database with `env` added, listening on a free port.
    pub fn serve(&self, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mawid"))
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", &self.url)
            .env("MAWID_JWT_SECRET", SECRET)
            .env("MAWID_BIND", "127.0.0.1:0")
            .env("MAWID_MAIL_DIR", &self.mail_dir)
            .env("MAWID_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (lines_tx, lines) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        admin_sql(
            &self.base,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        let _ = std::fs::remove_dir_all(&self.mail_dir);
    }
}

/// A running server and the lines of its log not read yet. The reader thread ends at EOF, so
/// draining `lines` after the exit waits for the last line the server wrote.
pub struct Server {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Server {
    /// The address each of `messages` names in the log (port 0 picks free ports), in order,
    /// once all have been logged.
    pub fn addresses(&self, messages: &[&str]) -> Vec<String> {
        let mut found: Vec<Option<String>> = vec![None; messages.len()];
        while found.iter().any(Option::is_none) {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the server starts and logs its addresses");
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let message = entry["fields"]["message"].as_str();
            if let Some(i) = messages.iter().position(|m| Some(*m) == message) {
                found[i] = entry["fields"]["addr"].as_str().map(str::to_owned);
            }
        }
        found.into_iter().flatten().collect()
    }

    pub fn sigterm(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
}
