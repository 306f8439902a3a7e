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
