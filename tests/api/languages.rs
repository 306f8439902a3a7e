//! Problems honour `Accept-Language` (ar, ru, en; English by default): the title and the detail
//! change language, the code never does, and `Content-Language` says which one was used.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{Resp, TestApp};

fn arabic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

fn cyrillic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// A registration whose email, password and name are all invalid, in `lang`.
async fn bad_registration(app: &TestApp, lang: Option<&str>) -> Resp {
    let mut req = TestRequest::post()
        .uri("/api/v1/auth/register")
        .set_json(json!({
            "email": "not-an-email", "password": "x", "full_name": "", "preferred_language": "ar",
        }));
    if let Some(lang) = lang {
        req = req.insert_header(("accept-language", lang));
    }
    app.call(req).await
}

fn text<'a>(p: &'a Value, key: &str) -> &'a str {
    p[key].as_str().unwrap()
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_validation_problem_is_told_in_the_language_asked_for_with_the_same_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let en = bad_registration(&app, None).await;
    let english = en.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(en.header("content-language"), "en");

    let ar = bad_registration(&app, Some("ar-SY, en;q=0.5")).await;
    let p = ar.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(ar.header("content-language"), "ar");
    assert!(
        arabic(text(&p, "title")) && arabic(text(&p, "detail")),
        "{p}"
    );
    // The fields in error are named in the detail and listed in `errors` as in English.
    assert!(text(&p, "detail").contains("email"), "{p}");
    assert_eq!(p["errors"], english["errors"]);
    assert_eq!(p["type"], english["type"]);

    let ru = bad_registration(&app, Some("ru-RU,ru;q=0.9")).await;
    let p = ru.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(ru.header("content-language"), "ru");
    assert!(
        cyrillic(text(&p, "title")) && cyrillic(text(&p, "detail")),
        "{p}"
    );

    // A language we do not speak falls back to English.
    let de = bad_registration(&app, Some("de-DE")).await;
    let p = de.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(de.header("content-language"), "en");
    assert_eq!(p["title"], english["title"]);
    assert_eq!(p["detail"], english["detail"]);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn router_and_authentication_problems_are_localized_too(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ask = |path: &'static str, lang: &'static str| {
        TestRequest::get()
            .uri(path)
            .insert_header(("accept-language", lang))
    };
    let r = app.call(ask("/api/v1/nothing-here", "ru")).await;
    let p = r.expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(
        cyrillic(text(&p, "title")) && cyrillic(text(&p, "detail")),
        "{p}"
    );
    assert_eq!(r.header("content-language"), "ru");

    let r = app.call(ask("/api/v1/me", "ar")).await;
    let p = r.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(arabic(text(&p, "title")), "{p}");
    assert_eq!(r.header("www-authenticate"), "Bearer");
    assert_eq!(r.header("content-language"), "ar");

    let r = app
        .call(
            TestRequest::put()
                .uri("/api/v1/me")
                .insert_header(("accept-language", "ar")),
        )
        .await;
    let p = r.expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(arabic(text(&p, "title")), "{p}");
    assert!(!r.header("allow").is_empty());
}
