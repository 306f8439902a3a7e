//! The real `mawid` binary on a real PostgreSQL: databases and clusters, server processes, a
//! plain HTTP/1.1 client, and the citizens and slots a booking load needs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";

/// A runtime for SQL and the SMTP sink; the load itself runs on plain threads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `script` in bash with scripts/pg.sh sourced.
fn pg_sh(script: &str) {
    let ok = Command::new("bash")
        .arg("-c")
        .arg(format!("set -e; source scripts/pg.sh; {script}"))
        .current_dir(repo_root())
        .status()
        .unwrap()
        .success();
    assert!(ok, "scripts/pg.sh: {script}");
}

/// A PostgreSQL cluster of the test's own, for faults that would hit other tests on the shared
/// one (a restart). Stopped and removed on drop.
pub struct Cluster {
    dir: PathBuf,
    pub url: String,
}

impl Cluster {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("mawid-faults-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.join("data");
        pg_sh(&format!(
            "[ \"$(id -u)\" = 0 ] && chown postgres: {dir:?}; pg_start {data:?} {port} '-c fsync=off -c full_page_writes=off'"
        ));
        Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
        }
    }

    /// `pg_ctl restart -m fast`: sessions are terminated (57P01), the server is down until the
    /// new postmaster accepts connections. Returns how long that took.
    pub fn restart_fast(&self) -> Duration {
        let t = Instant::now();
        pg_sh(&format!("pg_restart {:?}", self.dir.join("data")));
        t.elapsed()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        pg_sh(&format!("pg_stop {:?}", self.dir.join("data")));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh database on the shared test server (`DATABASE_URL`, which scripts/test.sh sets) or
/// on `server`.
pub struct Db {
    admin: String,
    name: String,
    pub url: String,
}

impl Db {
    pub fn shared(rt: &tokio::runtime::Runtime, tag: &str) -> Self {
        let Ok(base) = std::env::var("DATABASE_URL") else {
            panic!("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
        };
        Self::on(rt, &base, tag)
    }

    pub fn on(rt: &tokio::runtime::Runtime, server: &str, tag: &str) -> Self {
        let name = format!("mawid_faults_{tag}_{}", std::process::id());
        let db = Self {
            admin: server.to_owned(),
            url: format!("{}/{name}", &server[..server.rfind('/').unwrap()]),
            name,
        };
        db.admin_sql(
            rt,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name),
        );
        db.admin_sql(rt, &format!("CREATE DATABASE {}", db.name));
        db
    }

    fn admin_sql(&self, rt: &tokio::runtime::Runtime, sql: &str) {
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&self.admin).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        });
    }

    pub fn pool(&self, rt: &tokio::runtime::Runtime) -> sqlx::PgPool {
        rt.block_on(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect(&self.url),
        )
        .unwrap()
    }

    pub fn drop_with(&self, rt: &tokio::runtime::Runtime) {
        self.admin_sql(
            rt,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The environment every server of these tests runs with; `extra` adds to or overrides it.
fn base_env(db_url: &str) -> HashMap<String, String> {
    [
        ("DATABASE_URL", db_url),
        ("MAWID_JWT_SECRET", SECRET),
        ("MAWID_BIND", "127.0.0.1:0"),
        ("MAWID_LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
        // The load's citizens all sign up, sign in and book from one address; the faults
        // are what these tests measure, not the abuse limits.
        ("MAWID_LIMIT_REGISTER", "100000/3600"),
        ("MAWID_LIMIT_LOGIN", "100000/900"),
        ("MAWID_LIMIT_BOOKING", "100000/3600"),
        ("PATH", &std::env::var("PATH").unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `mawid seed`: migrations and the sample catalogue (the Moscow office, eight services).
pub fn seed(db_url: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_mawid"))
        .arg("seed")
        .env_clear()
        .envs(base_env(db_url))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mawid seed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One `mawid serve` process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    log_done: mpsc::Receiver<()>,
}

impl Server {
    pub fn start(db_url: &str, extra: &[(&str, &str)]) -> Self {
        let mut env = base_env(db_url);
        env.insert(
            "MAWID_MAIL_DIR".into(),
            // Inside the target folder, so the .eml files of servers without a relay do not
            // pile up in /tmp.
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("faults-mail")
                .display()
                .to_string(),
        );
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_mawid"))
            .arg("serve")
            .env_clear()
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (done_tx, log_done) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let entry: Value = serde_json::from_str(&line).unwrap_or_default();
                if entry["fields"]["message"] == "listening" {
                    let _ = addr_tx.send(entry["fields"]["addr"].as_str().unwrap().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
            let _ = done_tx.send(());
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server starts and logs its address")
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            log,
            log_done,
        }
    }

    /// SIGKILL: no handler runs, nothing is flushed or released.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status and the whole log once the process has ended.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(40);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the server did not stop in 40 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = self.log_done.recv_timeout(Duration::from_secs(5));
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }

    /// SIGTERM, and the checks of a clean stop: exit 0, "stopped" logged, and no background
    /// worker failing because the runtime went away under it.
    #[track_caller]
    pub fn stop_cleanly(self) {
        let (status, log) = self.stop();
        assert!(status.success(), "exit status {status}");
        assert!(log.iter().any(|l| l.contains("\"stopped\"")), "{log:#?}");
        // A pass may fail while the database is down; none may fail once the stop began.
        let stopping = log
            .iter()
            .position(|l| l.contains("\"stopping\""))
            .expect("the signal was logged");
        let bad: Vec<&String> = log[stopping..]
            .iter()
            .filter(|l| l.contains("being shutdown") || l.contains("outbox pass failed"))
            .collect();
        assert!(
            bad.is_empty(),
            "workers stopped before the runtime: {bad:#?}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a request got: an answer, or none (refused, reset, timed out).
#[derive(Debug, Clone)]
pub enum Outcome {
    Answer(Answer),
    NoAnswer(String),
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after")?.parse().ok()
    }

    /// A 503 `database_unavailable` problem that says when to come back.
    pub fn is_unavailable_with_retry_after(&self) -> bool {
        self.status == 503
            && self.code() == "database_unavailable"
            && self.headers.get("content-type").map(String::as_str)
                == Some("application/problem+json")
            && self.retry_after().is_some_and(|s| s > 0)
    }
}

/// One request on a fresh connection (`Connection: close`); `timeout` bounds the whole answer.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    timeout: Duration,
) -> Outcome {
    match try_request(addr, method, path, headers, body, timeout) {
        Ok(a) => Outcome::Answer(a),
        Err(e) => Outcome::NoAnswer(e.to_string()),
    }
}

fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    timeout: Duration,
) -> std::io::Result<Answer> {
    let mut conn = TcpStream::connect_timeout(&addr, timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: mawid\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no complete response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// `request`, for a test that needs an answer.
#[track_caller]
pub fn answer(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("Authorization", b)])
        .unwrap_or_default();
    match request(addr, method, path, &headers, body, Duration::from_secs(30)) {
        Outcome::Answer(a) => a,
        Outcome::NoAnswer(e) => panic!("{method} {path}: no answer: {e}"),
    }
}

/// What a booking load needs: the sample office, its services, open slots and signed-in
/// citizens.
pub struct World {
    pub office: String,
    pub services: Vec<String>,
    /// Open slot starts per service, as availability lists them.
    pub slots: HashMap<String, Vec<String>>,
    pub citizens: Vec<String>,
}

impl World {
    /// Seeds nothing: `seed` ran before the server started. Registers `citizens` accounts,
    /// verifies them in SQL (the mail round trip has its own tests) and signs them in.
    pub fn build(
        rt: &tokio::runtime::Runtime,
        pool: &sqlx::PgPool,
        addr: SocketAddr,
        citizens: usize,
    ) -> Self {
        let (office, services): (String, Vec<String>) = rt.block_on(async {
            let office: (String,) = sqlx::query_as("SELECT id::text FROM offices LIMIT 1")
                .fetch_one(pool)
                .await
                .unwrap();
            let services: Vec<(String,)> =
                sqlx::query_as("SELECT service_id::text FROM schedules WHERE office_id::text = $1")
                    .bind(&office.0)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            (office.0, services.into_iter().map(|s| s.0).collect())
        });
        #[allow(clippy::disallowed_methods)]
        let today = chrono::Utc::now().date_naive();
        let (from, to) = (today, today + chrono::Days::new(40));
        let mut slots = HashMap::new();
        for s in &services {
            let a = answer(
                addr,
                "GET",
                &format!(
                    "/api/v1/offices/{office}/availability?service_id={s}&from={from}&to={to}"
                ),
                None,
                None,
            );
            assert_eq!(a.status, 200, "{:?}", a.body);
            let starts: Vec<String> = a.body["slots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["start"].as_str().unwrap().to_owned())
                .collect();
            assert!(!starts.is_empty(), "the sample schedule has open slots");
            slots.insert(s.clone(), starts);
        }
        let emails: Vec<String> = (0..citizens)
            .map(|i| format!("citizen{i}-{}@example.test", std::process::id()))
            .collect();
        std::thread::scope(|scope| {
            for chunk in emails.chunks(citizens.div_ceil(4).max(1)) {
                scope.spawn(move || {
                    for email in chunk {
                        let a = answer(
                            addr,
                            "POST",
                            "/api/v1/auth/register",
                            None,
                            Some(&json!({ "email": email, "password": PASSWORD,
                                "full_name": "Amal Haddad", "preferred_language": "en" })),
                        );
                        assert!(a.status / 100 == 2, "{:?}", a.body);
                    }
                });
            }
        });
        rt.block_on(
            sqlx::query("UPDATE users SET email_verified_at = now() WHERE role = 'citizen'")
                .execute(pool),
        )
        .unwrap();
        let tokens = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for chunk in emails.chunks(citizens.div_ceil(4).max(1)) {
                let tokens = &tokens;
                scope.spawn(move || {
                    for email in chunk {
                        let a = answer(
                            addr,
                            "POST",
                            "/api/v1/auth/login",
                            None,
                            Some(&json!({ "email": email, "password": PASSWORD })),
                        );
                        assert_eq!(a.status, 200, "{:?}", a.body);
                        let t = a.body["access_token"].as_str().unwrap().to_owned();
                        tokens.lock().unwrap().push(t);
                    }
                });
            }
        });
        Self {
            office,
            services,
            slots,
            citizens: tokens.into_inner().unwrap(),
        }
    }

    /// The `n`-th booking attempt: a citizen's token and a body. Citizens and services are
    /// taken in turn so that most attempts stay within the per-citizen limits.
    pub fn booking(&self, n: usize) -> (String, Value) {
        let citizens = self.citizens.len();
        let service = &self.services[(n / citizens) % self.services.len()];
        let starts = &self.slots[service];
        let start = &starts[n % starts.len()];
        // Each citizen books for themself under their own passport number.
        let passport = format!("F{:07}", n % citizens);
        let body = json!({
            "office_id": self.office,
            "service_id": service,
            "start": start,
            "applicant": { "passport_number": passport },
        });
        (self.citizens[n % citizens].clone(), body)
    }

    pub fn availability_path(&self, n: usize) -> String {
        let service = &self.services[n % self.services.len()];
        #[allow(clippy::disallowed_methods)]
        let today = chrono::Utc::now().date_naive();
        format!(
            "/api/v1/offices/{}/availability?service_id={service}&from={today}&to={}",
            self.office,
            today + chrono::Days::new(30)
        )
    }
}

/// Statuses of a set of answers, for the figures a test prints.
pub fn tally<'a>(answers: impl IntoIterator<Item = &'a Outcome>) -> String {
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for o in answers {
        let k = match o {
            Outcome::Answer(a) if a.status >= 400 => format!("{} {}", a.status, a.code()),
            Outcome::Answer(a) => a.status.to_string(),
            Outcome::NoAnswer(_) => "no answer".into(),
        };
        *by.entry(k).or_default() += 1;
    }
    format!("{by:?}")
}
