//! The harness for Mawid's black-box tests: the real app on a fresh PostgreSQL database per test,
//! a controllable clock, and helpers that walk the public API the way a client would.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, Duration, Utc};
use mawid_domain::Clock;
use mawid_http::{AppState, JwtKeys, Passwords};
use mawid_notify::{Mailer, WorkerSettings};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const JWT_SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct horse battery";

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub struct TestApp {
    pub pool: PgPool,
    pub clock: TestClock,
    pub state: AppState,
    pub mail_dir: PathBuf,
    pub mailer: Mailer,
}

pub type Resp = (StatusCode, Value, actix_web::http::header::HeaderMap);

impl TestApp {
    /// The app on `pool` (from `#[sqlx::test]`), with mail written to a fresh folder.
    pub async fn new(pool: PgPool) -> Self {
        #[allow(clippy::disallowed_methods)]
        let clock = TestClock::at(Utc::now());
        let state = AppState {
            pool: pool.clone(),
            jwt: Arc::new(JwtKeys::new(JWT_SECRET).unwrap()),
            clock: Arc::new(clock.clone()),
            passwords: Arc::new(Passwords::new(2)),
            tracking: Default::default(),
        };
        let mail_dir =
            std::env::temp_dir().join(format!("mawid-test-mail-{}", uuid::Uuid::new_v4()));
        let mailer =
            Mailer::files(&mail_dir, "Mawid <no-reply@mawid.test>".parse().unwrap()).unwrap();
        Self {
            pool,
            clock,
            state,
            mail_dir,
            mailer,
        }
    }

    pub async fn service(
        &self,
    ) -> impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    > {
        test::init_service(mawid_http::app(self.state.clone())).await
    }

    /// Sends one request through a fresh service and returns status, JSON body (or Null) and headers.
    pub async fn call(&self, req: TestRequest) -> Resp {
        let svc = self.service().await;
        let res = test::call_service(&svc, req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = test::read_body(res).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        (status, body, headers)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(with_token(
            TestRequest::post().uri(path).set_json(body),
            token,
        ))
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(with_token(TestRequest::get().uri(path), token))
            .await
    }

    /// Delivers every due notification through the real worker code, into `mail_dir`.
    pub async fn deliver_mail(&self) {
        loop {
            let pass = mawid_notify::run_once(
                &self.pool,
                &self.mailer,
                &self.clock,
                &WorkerSettings::default(),
            )
            .await
            .unwrap();
            if pass.sent + pass.failed == 0 {
                break;
            }
        }
    }

    /// Every delivered message to `to`, oldest first, as raw RFC 5322 text.
    pub async fn mails_to(&self, to: &str) -> Vec<String> {
        self.deliver_mail().await;
        read_mails(&self.mail_dir, to)
    }

    /// The token in the last mail to `to`: the line after the blank line that follows the body text.
    pub async fn last_token_for(&self, to: &str) -> String {
        let mails = self.mails_to(to).await;
        let mail = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
        extract_token(mail).unwrap_or_else(|| panic!("no token in mail:\n{mail}"))
    }

    pub async fn register(&self, email: &str, language: &str) -> Value {
        let (status, body, _) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "full_name": "Amal Haddad", "preferred_language": language }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers, verifies through the emailed token, logs in; returns the access token.
    pub async fn verified_citizen(&self, email: &str) -> String {
        self.register(email, "en").await;
        let token = self.last_token_for(email).await;
        let (status, body, _) = self
            .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        self.access_token(email, PASSWORD).await
    }

    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let (status, body, _) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A staff account of `role` created directly in the database, and its access token.
    pub async fn staff(&self, email: &str, role: mawid_domain::account::Role) -> String {
        use mawid_domain::account::{Email, FullName, Language, Password};
        let hash = self
            .state
            .passwords
            .hash(&Password::parse(PASSWORD).unwrap())
            .await
            .unwrap();
        mawid_persistence::users::insert(
            &self.pool,
            mawid_persistence::users::NewUser {
                email: &Email::parse(email).unwrap(),
                password_hash: &hash,
                full_name: &FullName::parse("full_name", "Staff Member").unwrap(),
                language: Language::En,
                phone: None,
                role,
                verified_at: Some(self.clock.now()),
            },
        )
        .await
        .unwrap();
        self.access_token(email, PASSWORD).await
    }

    pub async fn admin(&self) -> String {
        self.staff("admin@mawid.test", mawid_domain::account::Role::Admin)
            .await
    }

    pub async fn officer(&self) -> String {
        self.staff("officer@mawid.test", mawid_domain::account::Role::Officer)
            .await
    }
}

pub fn with_token(req: TestRequest, token: Option<&str>) -> TestRequest {
    match token {
        Some(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
        None => req,
    }
}

pub fn read_mails(dir: &Path, to: &str) -> Vec<String> {
    let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| {
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    let modified = e.metadata().ok()?.modified().ok()?;
                    Some((modified, text))
                })
                .filter(|(_, text)| text.lines().any(|l| l.starts_with("To:") && l.contains(to)))
                .collect()
        })
        .unwrap_or_default();
    mails.sort_by_key(|(t, _)| *t);
    mails.into_iter().map(|(_, m)| m).collect()
}

/// The decoded plain-text part of a raw message.
pub fn text_body(mail: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .expect("a parseable message");
    msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// The decoded HTML part of a raw message.
pub fn html_body(mail: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(mail.as_bytes())
        .expect("a parseable message");
    msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default()
}

/// A 43-character URL-safe token (256 bits, unpadded base64) in the mail's decoded text.
pub fn extract_token(mail: &str) -> Option<String> {
    text_body(mail)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .find(|w| w.len() == 43)
        .map(str::to_owned)
}

pub fn assert_problem(resp: &Resp, status: StatusCode, code: &str) {
    let (s, body, headers) = resp;
    assert_eq!(*s, status, "body: {body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "body: {body}"
    );
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status.as_u16(), "body: {body}");
    assert!(
        body["title"].is_string() && body["type"].is_string() && body["detail"].is_string(),
        "{body}"
    );
}

// ---- document requests -------------------------------------------------------------------

impl TestApp {
    /// An office inserted directly (the catalogue endpoints live on another branch).
    pub async fn insert_office(&self, code: &str, timezone: &str) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO offices (id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone)
             VALUES ($1, $2, 'القنصلية', 'Консульство', 'Consulate', 'العنوان', 'Адрес', 'Address', $3)",
        )
        .bind(id)
        .bind(code)
        .bind(timezone)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    /// A service inserted directly; `documentary` sets `creates_document_request`.
    pub async fn insert_service(
        &self,
        code: &str,
        documentary: bool,
        target_days_per_status: i32,
    ) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes,
                creates_document_request, target_days_per_status)
             VALUES ($1, $2, 'خدمة', 'Услуга', 'Service', 30, $3, $4)",
        )
        .bind(id)
        .bind(code)
        .bind(documentary)
        .bind(target_days_per_status)
        .execute(&self.pool)
        .await
        .unwrap();
        id
    }

    /// Like [`TestApp::verified_citizen`], with the account's preferred language.
    pub async fn verified_citizen_in(&self, email: &str, language: &str) -> String {
        self.register(email, language).await;
        let token = self.last_token_for(email).await;
        let (status, body, _) = self
            .post("/api/v1/auth/verify-email", None, json!({ "token": token }))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        self.access_token(email, PASSWORD).await
    }
}

// --- Booking area: catalogue, schedules and appointments ---

impl TestApp {
    pub async fn send(
        &self,
        method: actix_web::http::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = TestRequest::default().method(method).uri(path);
        if let Some(b) = body {
            req = req.set_json(b);
        }
        self.call(with_token(req, token)).await
    }

    /// Freezes time at 08:00 UTC (11:00 in Moscow) on the Monday after the real date, so slot
    /// arithmetic is the same on every run while issued tokens stay valid in real time.
    pub fn freeze_on_next_monday(&self) -> chrono::NaiveDate {
        use chrono::Datelike;
        #[allow(clippy::disallowed_methods)]
        let today = Utc::now().date_naive();
        let ahead = 7 - i64::from(today.weekday().num_days_from_monday());
        let monday = today + Duration::days(ahead);
        self.clock
            .set(monday.and_hms_opt(8, 0, 0).unwrap().and_utc());
        monday
    }

    /// An office through the admin API; returns its id.
    pub async fn create_office(&self, admin: &str, code: &str, timezone: &str) -> String {
        let (s, body, _) = self
            .post(
                "/api/v1/admin/offices",
                Some(admin),
                json!({
                    "code": code,
                    "name": { "ar": "القنصلية", "ru": "Консульство", "en": "Consulate" },
                    "address": { "ar": "شارع", "ru": "улица", "en": "Street 1" },
                    "timezone": timezone,
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// A service of `duration` minutes (24 h notice, 60 days advance); returns its id.
    pub async fn create_service(&self, admin: &str, code: &str, duration: i64) -> String {
        let (s, body, _) = self
            .post(
                "/api/v1/admin/services",
                Some(admin),
                json!({
                    "code": code,
                    "name": { "ar": "خدمة", "ru": "Услуга", "en": "Service" },
                    "duration_minutes": duration,
                    "required_documents": [{ "ar": "جواز", "ru": "Паспорт", "en": "Passport" }],
                    "fee_amount": "25.00",
                    "fee_currency": "USD",
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Puts a Monday–Friday schedule of `intervals`; returns the admin answer.
    pub async fn weekday_schedule(
        &self,
        admin: &str,
        office: &str,
        service: &str,
        capacity: i64,
        intervals: Value,
    ) -> Value {
        let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| ((*d).to_owned(), intervals.clone()))
            .collect();
        let (s, body, _) = self
            .send(
                actix_web::http::Method::PUT,
                &format!("/api/v1/admin/offices/{office}/schedules/{service}"),
                Some(admin),
                Some(json!({ "capacity": capacity, "weekly": weekly })),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    /// A verified citizen created directly in the database (faster than the mail round trip).
    pub async fn quick_citizen(&self, email: &str) -> String {
        self.staff(email, mawid_domain::account::Role::Citizen)
            .await
    }
}
// ---------------------------------------------------------------------------------------------
// Notifications: a loopback SMTP sink, SMTP delivery through the real worker, shared-contract
// payloads.
// ---------------------------------------------------------------------------------------------

/// A message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA section with dot-stuffing undone: the raw RFC 5322 message.
    pub data: String,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a parseable message")
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().expect("a Message-ID").to_owned()
    }
}

#[derive(Default)]
struct SinkState {
    received: Vec<Received>,
    /// Replies to give at the end of the next DATA sections, in order; 250 once empty.
    data_replies: std::collections::VecDeque<u16>,
    count: Option<Arc<tokio::sync::watch::Sender<usize>>>,
}

/// A minimal SMTP server on loopback (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT),
/// enough for lettre's client and for tests that need a real conversation over TCP.
pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<SinkState>>,
    /// How many messages were accepted so far; lets a test wait for mail without sleeping.
    count: tokio::sync::watch::Receiver<usize>,
    accept: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on 127.0.0.1:`port` (0 picks a free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the sink's port is free");
        let port = listener.local_addr().unwrap().port();
        let (count_tx, count) = tokio::sync::watch::channel(0);
        let state = Arc::new(Mutex::new(SinkState {
            count: Some(Arc::new(count_tx)),
            ..SinkState::default()
        }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(sink_session(stream, shared.clone()));
            }
        });
        Self {
            port,
            state,
            count,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The next DATA sections are answered with these codes (e.g. 451, 550), then 250 again.
    pub fn answer_data_with(&self, codes: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .data_replies
            .extend(codes.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until at least `n` messages were accepted (panics after 10 s).
    pub async fn wait_for(&self, n: usize) {
        let mut count = self.count.clone();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            count.wait_for(|c| *c >= n),
        )
        .await
        .unwrap_or_else(|_| panic!("{n} messages did not arrive"))
        .unwrap();
    }

    pub fn received_by(&self, to: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r == to))
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A loopback port with nothing listening on it: connecting is refused.
pub fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn angle_addr(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

async fn sink_session(stream: tokio::net::TcpStream, state: Arc<Mutex<SinkState>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut from = String::new();
    let mut rcpt = Vec::new();
    if write.write_all(b"220 mawid-sink ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let cmd = line.trim_end().to_owned();
        let verb = cmd
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => "250-mawid-sink\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n".into(),
            "HELO" => "250 mawid-sink\r\n".into(),
            "MAIL" => {
                from = angle_addr(&cmd);
                rcpt.clear();
                "250 2.1.0 OK\r\n".into()
            }
            "RCPT" => {
                rcpt.push(angle_addr(&cmd));
                "250 2.1.5 OK\r\n".into()
            }
            "DATA" => {
                if write
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let code = {
                    let mut s = state.lock().unwrap();
                    let code = s.data_replies.pop_front().unwrap_or(250);
                    if code == 250 {
                        s.received.push(Received {
                            mail_from: from.clone(),
                            rcpt_to: rcpt.clone(),
                            data,
                        });
                        let n = s.received.len();
                        if let Some(tx) = &s.count {
                            tx.send_replace(n);
                        }
                    }
                    code
                };
                from.clear();
                rcpt.clear();
                match code {
                    250 => "250 2.0.0 queued\r\n".into(),
                    c if c < 500 => format!("{c} 4.3.0 try again later\r\n"),
                    c => format!("{c} 5.1.1 mailbox unavailable\r\n"),
                }
            }
            "RSET" => {
                from.clear();
                rcpt.clear();
                "250 2.0.0 OK\r\n".into()
            }
            "NOOP" => "250 2.0.0 OK\r\n".into(),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 command not recognised\r\n".into(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

impl TestApp {
    /// The SMTP mailer the server would build from `MAWID_SMTP_URL`.
    pub fn smtp_mailer(url: &str) -> Mailer {
        Mailer::smtp(
            url,
            "Mawid <no-reply@mawid.test>".parse().unwrap(),
            std::time::Duration::from_secs(5),
        )
        .unwrap()
    }

    /// Runs worker passes through `mailer` until nothing is due; returns the summed pass.
    pub async fn deliver_with(
        &self,
        mailer: &Mailer,
        settings: &WorkerSettings,
    ) -> mawid_notify::worker::Pass {
        let mut total = mawid_notify::worker::Pass::default();
        loop {
            let pass = mawid_notify::run_once(&self.pool, mailer, &self.clock, settings)
                .await
                .unwrap();
            if pass.sent + pass.failed == 0 {
                return total;
            }
            total.sent += pass.sent;
            total.failed += pass.failed;
        }
    }
}

/// A notification row as the tests inspect it.
#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: uuid::Uuid,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub payload: Value,
}

pub async fn outbox_rows(pool: &PgPool) -> Vec<OutboxRow> {
    sqlx::query_as(
        "SELECT id, kind, status, attempts, next_attempt_at, last_error, payload
         FROM notifications ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An appointment payload of the shared notification contract (issue 3 enqueues these).
pub fn appointment_payload(appointment_id: uuid::Uuid, start: &str, end: &str) -> Value {
    json!({
        "full_name": "Amal Haddad",
        "appointment_id": appointment_id.to_string(),
        "reference": "MOW-7Q4K-2MZD",
        "sequence": 0,
        "start": start,
        "end": end,
        "timezone": "Europe/Moscow",
        "office": {
            "code": "MOW",
            "name": {
                "ar": "سفارة الجمهورية العربية السورية في موسكو",
                "ru": "Посольство Сирийской Арабской Республики в Москве",
                "en": "Embassy of the Syrian Arab Republic in Moscow"
            },
            "address": {
                "ar": "موسكو، شارع مانسوروفسكي، 4",
                "ru": "Москва, Мансуровский переулок, 4",
                "en": "4 Mansurovsky Lane, Moscow"
            }
        },
        "service": {
            "code": "passport-renewal",
            "name": {"ar": "تجديد جواز السفر", "ru": "Продление паспорта", "en": "Passport renewal"},
            "required_documents": [
                {"ar": "جواز السفر الحالي", "ru": "Действующий паспорт", "en": "Current passport"},
                {"ar": "صورتان شخصيتان", "ru": "Две фотографии 4x6", "en": "Two 4x6 photographs"}
            ],
            "fee_amount": "25.00",
            "fee_currency": "USD"
        },
        "applicant_name": "Amal Haddad"
    })
}

/// Queues one notification the way the booking and document code does.
pub async fn enqueue(
    pool: &PgPool,
    to: &str,
    language: mawid_domain::account::Language,
    kind: &str,
    payload: Value,
    due_at: DateTime<Utc>,
    dedupe_key: Option<String>,
) -> Option<uuid::Uuid> {
    mawid_persistence::outbox::enqueue(
        pool,
        mawid_persistence::outbox::NewNotification {
            user_id: None,
            recipient: to,
            language,
            kind,
            payload,
            due_at,
            dedupe_key,
        },
    )
    .await
    .unwrap()
}

/// A server that accepts connections and never says a word: an SMTP relay that hangs.
pub async fn silent_smtp_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (port, task)
}

// ---- ops: the route table as the router holds it -------------------------------------------

/// Methods a route can be registered for; probing each tells which ones a resource answers.
pub const ROUTE_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every (method, path template) the app's router serves, e.g. ("GET", "/api/v1/me").
///
/// actix has no public way to list routes, so the full path templates come from the router's
/// own `ResourceMap` (its `Debug` form is the one complete view of the tree), and the methods
/// from asking each resource: a method it was not registered for is the resource's own 405.
/// Reading the live router means a route registered by any means, in any module, is seen.
pub async fn registered_routes(app: &TestApp) -> std::collections::BTreeSet<(String, String)> {
    use actix_web::dev::ResourceDef;
    use actix_web::http::Method;

    let svc = app.service().await;
    let res = test::call_service(&svc, TestRequest::get().uri("/healthz").to_request()).await;
    let templates = route_templates(&format!("{:?}", res.request().resource_map()));
    assert!(
        templates.iter().any(|t| t == "/healthz")
            && templates.iter().any(|t| t.starts_with("/api/v1/")),
        "could not read the route tree (did actix change ResourceMap's Debug form?): {templates:?}"
    );

    let mut routes = std::collections::BTreeSet::new();
    for template in templates {
        let def = ResourceDef::new(template.as_str());
        let path = PATH_PARAM_SAMPLES
            .iter()
            .map(|sample| fill_template(&template, sample))
            .find(|p| def.is_match(p))
            .unwrap_or_else(|| panic!("no sample value fits the parameters of {template}"));
        for method in ROUTE_METHODS {
            let req = TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&path)
                .to_request();
            let res = test::call_service(&svc, req).await;
            assert_eq!(
                res.request().match_pattern().as_deref(),
                Some(template.as_str()),
                "{method} {path} did not reach {template}: another route shadows it"
            );
            if res.status() != StatusCode::METHOD_NOT_ALLOWED {
                routes.insert((method.to_owned(), normalise_template(&template)));
            }
        }
    }
    routes
}

/// Values tried for path parameters, until one fits the parameter's pattern.
const PATH_PARAM_SAMPLES: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "2026-12-01",
    "1",
    "SY-MOW-2026-000123",
    "x",
];

/// `{name}` or `{name:regex}` segments replaced by `value`.
fn fill_template(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = matching_brace(&rest[open..]) + open;
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// `{name:regex}` → `{name}`, the OpenAPI spelling of a template.
pub fn normalise_template(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = matching_brace(&rest[open..]) + open;
        let inner = &rest[open + 1..close];
        out.push('{');
        out.push_str(inner.split(':').next().unwrap_or(inner));
        out.push('}');
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces in route template {s}")
}

/// Full path templates of the leaves of a `ResourceMap` printed with `{:?}`: each node has
/// `patterns: Single("..")` and either `nodes: None` (a resource) or `nodes: Some([..])` (a
/// scope whose pattern prefixes its children).
fn route_templates(debug: &str) -> Vec<String> {
    let bytes = debug.as_bytes();
    let mut depth = 0usize;
    let mut scopes: Vec<(usize, String)> = Vec::new();
    let mut pattern: Option<String> = None;
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &debug[i..];
        if rest.starts_with("patterns: ") {
            assert!(
                rest.starts_with("patterns: Single(\""),
                "a resource with several patterns; this check reads single-pattern resources only"
            );
            let (text, _) = debug_string(&rest["patterns: Single(".len()..]);
            pattern = Some(text);
            // Past the name only: the bracket and the string are walked like any other.
            i += "patterns: Single".len();
            continue;
        }
        if rest.starts_with("nodes: None") {
            let prefix: String = scopes.iter().map(|(_, p)| p.as_str()).collect();
            out.push(format!("{prefix}{}", pattern.take().unwrap_or_default()));
            i += "nodes: None".len();
            continue;
        }
        if rest.starts_with("nodes: Some(") {
            scopes.push((depth, pattern.take().unwrap_or_default()));
            i += "nodes: ".len();
            continue;
        }
        match bytes[i] {
            b'"' => {
                i += debug_string(rest).1;
                continue;
            }
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' => {
                depth -= 1;
                if scopes.last().is_some_and(|(d, _)| *d == depth) {
                    scopes.pop();
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The text of the Debug-quoted string at the start of `s`, and its length in `s` with quotes.
fn debug_string(s: &str) -> (String, usize) {
    assert!(s.starts_with('"'));
    let mut text = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    text.push(escaped);
                }
            }
            '"' => return (text, i + 1),
            c => text.push(c),
        }
    }
    panic!("unterminated string in {s}")
}

/// Every (method, path) documented in an OpenAPI document.
pub fn documented_routes(spec: &Value) -> std::collections::BTreeSet<(String, String)> {
    let mut routes = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The contract as the server serves it, as JSON.
pub fn openapi() -> Value {
    serde_yaml::from_str(mawid_http::OPENAPI_YAML).expect("openapi.yaml is valid YAML")
}
