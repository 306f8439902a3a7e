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
