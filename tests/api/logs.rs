//! No token, password, passport number, date of birth or name ever reaches a log line.
//!
//! From the first of these tests on, every log line of the test binary is captured (at TRACE, in
//! both the JSON and the text format, request spans included, other tests' lines too) while the
//! account flows run with known secret values and every registered route is sent those values in
//! its path, query and body. Routes added later are covered without touching this file.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::http::{Method, StatusCode};
use actix_web::test::TestRequest;
use serde_json::json;
use sqlx::PgPool;
use tracing_subscriber::layer::SubscriberExt;

use crate::helpers::{registered_routes, with_token, TestApp};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The one global subscriber of this test binary (spawned and blocking threads log too).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let (json, text) = (captured.clone(), captured.clone());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("trace"))
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(move || json.clone()),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || text.clone()),
            );
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        captured
    })
}

fn captured_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

fn assert_absent(log: &str, secrets: &[(&str, &str)]) {
    for (what, secret) in secrets {
        assert!(!secret.is_empty());
        if let Some(at) = log.find(secret) {
            let line = log[..at].rsplit('\n').next().unwrap_or("");
            panic!(
                "{what} appears in the logs: …{line}{secret}…",
                line = &line[line.len().saturating_sub(200)..]
            );
        }
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn account_flows_log_no_password_token_or_name(pool: PgPool) {
    logs();
    let app = TestApp::new(pool).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("logcheck-{tag}@example.com");
    let password = format!("first-Secret-{tag}");
    let wrong_password = format!("wrong-Secret-{tag}");
    let new_password = format!("second-Secret-{tag}");
    let full_name = format!("Zainab Logcheck{}", &tag[..8]);
    let new_name = format!("Rima Renamed{}", &tag[8..16]);
    let phone = "+79161234567";

    app.post(
        "/api/v1/auth/register",
        None,
        json!({ "email": email, "password": password, "full_name": full_name,
                "preferred_language": "ar", "phone": phone }),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    let verify_token = app.last_token_for(&email).await;
    app.verify_email(&verify_token)
        .await
        .expect(StatusCode::NO_CONTENT);
    // A reused (now spent) token and a wrong password take the error paths.
    app.verify_email(&verify_token).await;
    app.login(&email, &wrong_password)
        .await
        .expect(StatusCode::UNAUTHORIZED);

    let pair = app.login(&email, &password).await.expect(StatusCode::OK);
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let rotated = app
        .refresh(&pair["refresh_token"])
        .await
        .expect(StatusCode::OK);
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    // Reusing the first refresh token is logged as an incident: still without the token.
    app.refresh(&pair["refresh_token"])
        .await
        .expect(StatusCode::UNAUTHORIZED);

    let pair = app.login(&email, &password).await.expect(StatusCode::OK);
    let access3 = pair["access_token"].as_str().unwrap().to_owned();
    let refresh3 = pair["refresh_token"].as_str().unwrap().to_owned();
    app.get("/api/v1/me", Some(&access3)).await;
    app.patch(
        "/api/v1/me",
        Some(&access3),
        json!({ "full_name": new_name }),
    )
    .await;
    app.post(
        "/api/v1/auth/logout",
        Some(&access3),
        json!({ "refresh_token": refresh3 }),
    )
    .await;

    app.request_password_reset(&email).await;
    let reset_token = app.last_token_for(&email).await;
    app.confirm_password_reset(&reset_token, &new_password)
        .await
        .expect(StatusCode::NO_CONTENT);

    let log = captured_text();
    assert!(
        log.contains("request completed") && log.contains("request_id"),
        "the capture sees the request logs"
    );
    assert_absent(
        &log,
        &[
            ("the password", &password),
            ("a wrong password", &wrong_password),
            ("the new password", &new_password),
            ("the verification token", &verify_token),
            ("the reset token", &reset_token),
            ("an access token", &access),
            ("a rotated access token", &access2),
            ("an access token", &access3),
            ("a refresh token", &refresh),
            ("a rotated refresh token", &refresh2),
            ("a refresh token", &refresh3),
            ("the full name", &full_name),
            ("the new name", &new_name),
            ("the phone number", phone),
        ],
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn no_route_logs_a_passport_number_or_date_of_birth_it_is_sent(pool: PgPool) {
    logs();
    let app = TestApp::new(pool).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let passport = format!("N{}", &tag[..8].to_ascii_uppercase());
    let date_of_birth = "1987-03-14";
    let name = format!("Omar Applicant{}", &tag[8..14]);
    let citizen = app
        .verified_citizen(&format!("sweep-{tag}@example.com"))
        .await;
    let admin = app.admin().await;

    let body = json!({
        "passport_number": passport, "date_of_birth": date_of_birth, "full_name": name,
        "applicant": { "full_name": name, "passport_number": passport, "date_of_birth": date_of_birth },
    });
    let query = format!("passport_number={passport}&date_of_birth={date_of_birth}");
    let routes = registered_routes(&app).await;
    for (method, template) in &routes {
        let path = fill_each_param(template, &passport);
        for token in [None, Some(citizen.as_str()), Some(admin.as_str())] {
            let req = TestRequest::default()
                .method(Method::from_bytes(method.as_bytes()).unwrap())
                .uri(&format!("{path}?{query}"))
                .set_json(&body);
            app.call(with_token(req, token)).await;
        }
    }

    let log = captured_text();
    assert!(log.contains("request completed"));
    // "19870314" catches a date logged without its dashes.
    assert_absent(
        &log,
        &[
            ("a passport number", &passport),
            ("a date of birth", date_of_birth),
            ("a date of birth", "19870314"),
            ("an applicant name", &name),
        ],
    );
}

/// Every `{param}` of a template filled with `value`, so ids that are not ids reach the handler
/// as the suspect value itself (a tracking number, a date, a code).
fn fill_each_param(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { value } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn personal_data_flows_log_no_personal_value(pool: PgPool) {
    logs();
    let w = crate::helpers::World::new(pool).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("Layla Privacy{}", &tag[..8]);
    let passport = format!("P{}", &tag[8..16].to_ascii_uppercase());
    let phone = "+79167654321";
    let me = w
        .app
        .patch(
            "/api/v1/me",
            Some(&w.citizen),
            json!({ "full_name": name, "phone": phone, "passport_number": passport }),
        )
        .await
        .expect(StatusCode::OK);
    w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let agenda = format!(
        "/api/v1/admin/offices/{}/agenda?date={}",
        w.office,
        w.day(2)
    );
    w.app
        .get(&agenda, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    let csv = TestRequest::get()
        .uri(&agenda)
        .insert_header(("Accept", "text/csv"));
    w.app.call(with_token(csv, Some(&w.officer))).await;
    let file = format!("/api/v1/admin/citizens/{}", me["id"].as_str().unwrap());
    w.app
        .get(&file, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    for q in [passport.as_str(), &name[..9], phone] {
        w.app
            .get(
                &format!(
                    "/api/v1/admin/search?q={}",
                    q.replace('+', "%2B").replace(' ', "%20")
                ),
                Some(&w.officer),
            )
            .await
            .expect(StatusCode::OK);
    }
    w.app
        .get("/api/v1/me/access-log", Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    w.app
        .get("/api/v1/me/export", Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    w.app
        .send(
            Method::DELETE,
            "/api/v1/me",
            Some(&w.citizen),
            Some(json!({ "password": format!("wrong-{tag}") })),
        )
        .await
        .expect(StatusCode::UNAUTHORIZED);
    w.app
        .send(
            Method::DELETE,
            "/api/v1/me",
            Some(&w.citizen),
            Some(json!({ "password": crate::helpers::PASSWORD })),
        )
        .await
        .expect(StatusCode::NO_CONTENT);

    let log = captured_text();
    assert!(log.contains("request completed"));
    assert_absent(
        &log,
        &[
            ("the citizen's name", &name),
            ("a passport number", &passport),
            ("the phone number", phone),
            ("a wrong password", &format!("wrong-{tag}")),
        ],
    );
}
