//! The app on a fresh database with a clock the test moves, requests and their answers, and the
//! accounts and catalogue entries tests start from.

use std::sync::{Arc, Mutex};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use mawid_domain::limit::{LimitName, Limits, Rate};
use mawid_http::{AbuseSettings, AppState, AvailabilityCache, CacheSettings, JwtKeys, Passwords};
use mawid_notify::Mailer;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub const JWT_SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct horse battery";

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(t)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl mawid_domain::Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        TestClock::now(self)
    }
}

/// One answer: its status, its body as JSON (Null when empty or not JSON) and as text, and its
/// headers.
#[derive(Clone, Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub headers: HeaderMap,
}

impl Resp {
    /// The body, once the status is `status`; any other status panics showing the body.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body.clone()
    }

    /// The body, once the answer is a problem+json document of `status` with the stable `code`.
    #[track_caller]
    pub fn expect_problem(&self, status: StatusCode, code: &str) -> Value {
        let body = &self.body;
        assert_eq!(self.status, status, "body: {body}");
        assert_eq!(
            self.header("content-type"),
            "application/problem+json",
            "body: {body}"
        );
        assert_eq!(body["code"], code, "body: {body}");
        assert_eq!(body["status"], status.as_u16(), "body: {body}");
        assert!(
            body["title"].is_string() && body["type"].is_string() && body["detail"].is_string(),
            "{body}"
        );
        body.clone()
    }

    /// A header's value as text; "" when it is absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The Retry-After header, in seconds.
    #[track_caller]
    pub fn retry_after(&self) -> i64 {
        self.header("retry-after")
            .parse()
            .unwrap_or_else(|_| panic!("no Retry-After in {:?}", self.headers))
    }
}

pub struct TestApp {
    pub pool: PgPool,
    pub clock: TestClock,
    state: AppState,
    /// Stops this instance's availability listener when it goes.
    _listening: tokio::sync::watch::Sender<bool>,
    /// Removed with the app, so test runs leave no mail behind.
    pub(super) mail_dir: tempfile::TempDir,
    pub(super) mailer: Mailer,
}

impl TestApp {
    /// The app on `pool` (from `#[sqlx::test]`), with mail written to a fresh folder.
    pub async fn new(pool: PgPool) -> Self {
        #[allow(clippy::disallowed_methods)]
        let clock = TestClock::at(Utc::now());
        let state = AppState {
            pool: pool.clone(),
            // Of its own, as in a server process.
            calendar_pool: mawid_persistence::side_pool(&pool, &Default::default(), 2),
            jwt: Arc::new(JwtKeys::new(JWT_SECRET).unwrap()),
            clock: Arc::new(clock.clone()),
            passwords: Arc::new(Passwords::new(2)),
            abuse: AbuseSettings {
                limits: Self::relaxed_limits(),
                trust_forwarded_for: false,
            },
            no_shows: Default::default(),
            availability: AvailabilityCache::off(),
        };
        let mail_dir = tempfile::Builder::new()
            .prefix("mawid-test-mail-")
            .tempdir()
            .unwrap();
        let mailer = Mailer::files(
            mail_dir.path(),
            "Mawid <no-reply@mawid.test>".parse().unwrap(),
        )
        .unwrap();
        let (listening, _) = tokio::sync::watch::channel(false);
        let mut app = Self {
            pool,
            clock,
            state,
            _listening: listening,
            mail_dir,
            mailer,
        };
        // On, as in a server process, so every test reads availability through it.
        app.cache_availability(CacheSettings::default());
        app
    }

    /// Replaces this instance's availability cache with one set so, listening as a server
    /// process's does (on this instance's pool).
    pub fn cache_availability(&mut self, settings: CacheSettings) {
        self.cache_availability_listening_on(settings, self.pool.clone());
    }

    /// The same, its listener connecting through `listener_pool` (one that cannot reach the
    /// database leaves it deaf).
    pub fn cache_availability_listening_on(
        &mut self,
        settings: CacheSettings,
        listener_pool: PgPool,
    ) {
        let cache = AvailabilityCache::new(settings);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(cache.clone().listen(listener_pool, stopped));
        // The old listener stops as its sender goes.
        self._listening = stop;
        self.state.availability = cache;
    }

    /// Waits until this instance's availability listener listens (it connects in the
    /// background), so a test about notifications does not race its start.
    pub async fn until_listening(&self) {
        for _ in 0..1000 {
            if self.state.availability.is_listening() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the availability listener never connected");
    }

    /// A second server process on the same database: its own state and connection pool, its
    /// clock at this one's time.
    pub async fn another_instance(&self) -> TestApp {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect_with(self.pool.connect_options().as_ref().clone())
            .await
            .unwrap();
        let mut other = TestApp::new(pool).await;
        other.clock.set(self.clock.now());
        other.same_settings_as(self);
        other
    }

    /// Every test request comes from one address, so a test about something else would trip
    /// the per-address limits: tests start with none, and those about a limit set it.
    fn relaxed_limits() -> Limits {
        Limits::all(Rate {
            count: 100_000,
            secs: 3600,
        })
    }

    /// The rate limits take the client address from the right-most X-Forwarded-For entry, as
    /// behind a trusted proxy.
    pub fn trust_forwarded_for(&mut self) {
        self.state.abuse.trust_forwarded_for = true;
    }

    /// Puts limit `name` at `count` hits per `secs` seconds.
    pub fn limit(&mut self, name: LimitName, count: u32, secs: u32) {
        self.state.abuse.limits.set(name, Rate { count, secs });
    }

    /// Puts every limit at the contract's default.
    pub fn default_limits(&mut self) {
        self.state.abuse.limits = Limits::default();
    }

    /// The same limits and proxy setting as `other` (a second instance of one deployment).
    pub fn same_settings_as(&mut self, other: &TestApp) {
        self.state.abuse = other.state.abuse.clone();
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

    /// Sends one request through a fresh service.
    pub async fn call(&self, req: TestRequest) -> Resp {
        let svc = self.service().await;
        let res = test::call_service(&svc, req.to_request()).await;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = test::read_body(res).await;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Resp {
            status,
            body,
            text,
            headers,
        }
    }

    pub async fn send(
        &self,
        method: Method,
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

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::DELETE, path, token, None).await
    }

    /// `count(*)` or any other single integer a query answers.
    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One pass of the fair-access background job (waitlist assignment, expiry, hand-over of
    /// cooled desks) at this instance's clock, as every server process runs it.
    pub async fn run_waitlist(&self) -> mawid_persistence::waitlist::Pass {
        let pass = mawid_persistence::waitlist::run_pass(
            &self.pool,
            self.clock.now(),
            self.state.no_shows,
        )
        .await
        .unwrap();
        // As the server's job does: this process moved desks, so its cache forgets at once.
        if pass.moved_desks() {
            self.state.availability.forget_answers();
        }
        pass
    }

    /// Two passes on this instance and two on `other`, all at once, as racing server processes
    /// run them.
    pub async fn four_passes_with(
        &self,
        other: &TestApp,
    ) -> [mawid_persistence::waitlist::Pass; 4] {
        let (r1, r2, r3, r4) = tokio::join!(
            self.run_waitlist(),
            other.run_waitlist(),
            self.run_waitlist(),
            other.run_waitlist()
        );
        [r1, r2, r3, r4]
    }

    /// Freezes time at 08:00 UTC (11:00 in Moscow) on the Monday after the real date, so slot
    /// arithmetic is the same on every run while issued tokens stay valid in real time.
    pub fn freeze_on_next_monday(&self) -> NaiveDate {
        #[allow(clippy::disallowed_methods)]
        let today = Utc::now().date_naive();
        let ahead = 7 - i64::from(today.weekday().num_days_from_monday());
        let monday = today + Duration::days(ahead);
        self.clock
            .set(monday.and_hms_opt(8, 0, 0).unwrap().and_utc());
        monday
    }
}

/// The string at `pointer` ("/action", "/details/code") in each element of the array `list`.
pub fn strings<'a>(list: &'a Value, pointer: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|e| {
            e.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no string at {pointer} in {e}"))
        })
        .collect()
}

/// The passport number [`TestApp::keep_own_passport`] gives the citizen of `email`.
pub fn own_passport(email: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let h = email.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("T{:010X}", h % 0xFF_FFFF_FFFF)
}

pub fn with_token(req: TestRequest, token: Option<&str>) -> TestRequest {
    match token {
        Some(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
        None => req,
    }
}

// ---- accounts --------------------------------------------------------------------------------

impl TestApp {
    pub async fn register(&self, email: &str, language: &str) -> Value {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": PASSWORD, "full_name": "Amal Haddad", "preferred_language": language }),
        )
        .await
        .expect(StatusCode::ACCEPTED)
    }

    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn verify_email(&self, token: &str) -> Resp {
        self.post("/api/v1/auth/verify-email", None, json!({ "token": token }))
            .await
    }

    pub async fn refresh(&self, refresh_token: &Value) -> Resp {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    pub async fn request_password_reset(&self, email: &str) -> Resp {
        self.post(
            "/api/v1/auth/password-reset",
            None,
            json!({ "email": email }),
        )
        .await
    }

    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Resp {
        self.post(
            "/api/v1/auth/password-reset/confirm",
            None,
            json!({ "token": token, "new_password": new_password }),
        )
        .await
    }

    /// Registers, verifies through the emailed token, logs in; returns the access token.
    pub async fn verified_citizen(&self, email: &str) -> String {
        self.verified_citizen_in(email, "en").await
    }

    /// Like [`TestApp::verified_citizen`], with the account's preferred language.
    pub async fn verified_citizen_in(&self, email: &str, language: &str) -> String {
        self.register(email, language).await;
        let token = self.last_token_for(email).await;
        self.verify_email(&token)
            .await
            .expect(StatusCode::NO_CONTENT);
        let access = self.access_token(email, PASSWORD).await;
        self.keep_own_passport(&access, email).await;
        access
    }

    /// Every booking names an identity number; a test citizen keeps one of their own on the
    /// profile, distinct per address, so bookings for themself need not send it.
    pub async fn keep_own_passport(&self, token: &str, email: &str) {
        self.patch(
            "/api/v1/me",
            Some(token),
            json!({ "passport_number": own_passport(email) }),
        )
        .await
        .expect(StatusCode::OK);
    }

    pub async fn access_token(&self, email: &str, password: &str) -> String {
        let pair = self.login(email, password).await.expect(StatusCode::OK);
        pair["access_token"].as_str().unwrap().to_owned()
    }

    /// The id of the account behind `token`.
    pub async fn user_id(&self, token: &str) -> Uuid {
        let me = self
            .get("/api/v1/me", Some(token))
            .await
            .expect(StatusCode::OK);
        me["id"].as_str().unwrap().parse().unwrap()
    }

    /// An account of `role` ("admin", "officer", "citizen"), verified, created directly in the
    /// database (staff cannot register, and it is faster than the mail round trip); its access
    /// token.
    pub async fn staff(&self, email: &str, role: &str) -> String {
        use mawid_domain::account::{Email, FullName, Language, Password, Role};
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
                role: Role::parse(role).unwrap_or_else(|| panic!("no role {role}")),
                verified_at: Some(self.clock.now()),
            },
        )
        .await
        .unwrap();
        self.access_token(email, PASSWORD).await
    }

    pub async fn admin(&self) -> String {
        self.staff("admin@mawid.test", "admin").await
    }

    pub async fn officer(&self) -> String {
        self.staff("officer@mawid.test", "officer").await
    }

    /// A verified citizen created directly in the database (faster than the mail round trip).
    pub async fn quick_citizen(&self, email: &str) -> String {
        let token = self.staff(email, "citizen").await;
        self.keep_own_passport(&token, email).await;
        token
    }
}

// ---- catalogue -------------------------------------------------------------------------------

impl TestApp {
    /// An office through the admin API; returns its id.
    pub async fn create_office(&self, admin: &str, code: &str, timezone: &str) -> String {
        let office = self
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
            .await
            .expect(StatusCode::CREATED);
        office["id"].as_str().unwrap().to_owned()
    }

    /// A service of `duration` minutes (24 h notice, 60 days advance); returns its id.
    pub async fn create_service(&self, admin: &str, code: &str, duration: i64) -> String {
        let service = self
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
            .await
            .expect(StatusCode::CREATED);
        service["id"].as_str().unwrap().to_owned()
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
        self.put(
            &format!("/api/v1/admin/offices/{office}/schedules/{service}"),
            Some(admin),
            json!({ "capacity": capacity, "weekly": weekly }),
        )
        .await
        .expect(StatusCode::OK)
    }
}
