//! Every error the server can produce is problem+json with a stable code.

use crate::helpers::{assert_problem, TestApp};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;

type Pool = sqlx::PgPool;

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn malformed_json_is_400(pool: Pool) {
    let app = TestApp::new(pool).await;
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"email\": ");
    assert_problem(
        &app.call(req).await,
        StatusCode::BAD_REQUEST,
        "malformed_json",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn wrong_shape_is_422(pool: Pool) {
    let app = TestApp::new(pool).await;
    let r = app
        .post("/api/v1/auth/login", None, json!({ "email": 5 }))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn wrong_content_type_is_415(pool: Pool) {
    let app = TestApp::new(pool).await;
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "text/plain"))
        .set_payload(r#"{"email":"a@b.co","password":"whatever123"}"#);
    assert_problem(
        &app.call(req).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn body_over_one_mebibyte_is_413_and_just_under_is_read(pool: Pool) {
    let app = TestApp::new(pool).await;
    let big = format!(
        r#"{{"email":"a@b.co","password":"{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "application/json"))
        .set_payload(big);
    assert_problem(
        &app.call(req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // a body just under the limit is parsed (and refused on its merits)
    let fits = format!(
        r#"{{"email":"a@b.co","password":"{}"}}"#,
        "x".repeat(1024 * 1024 - 100)
    );
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", "application/json"))
        .set_payload(fits);
    assert_problem(
        &app.call(req).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn unknown_route_is_404_inside_and_outside_the_api(pool: Pool) {
    let app = TestApp::new(pool).await;
    assert_problem(
        &app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &app.get("/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn wrong_method_is_405(pool: Pool) {
    let app = TestApp::new(pool).await;
    assert_problem(
        &app.get("/api/v1/auth/login", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let del = TestRequest::delete().uri("/api/v1/me");
    assert_problem(
        &app.call(del).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn health_readiness_and_contract_are_served(pool: Pool) {
    let app = TestApp::new(pool).await;
    assert_eq!(app.get("/healthz", None).await.0, StatusCode::OK);
    let (s, body, _) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let svc = app.service().await;
    let res =
        actix_web::test::call_service(&svc, TestRequest::get().uri("/openapi.yaml").to_request())
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
    assert!(
        text.starts_with("openapi: 3."),
        "{}",
        &text[..text.len().min(80)]
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn readiness_is_503_when_the_database_is_gone(pool: Pool) {
    let app = TestApp::new(pool).await;
    app.pool.close().await;
    assert_problem(
        &app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn wrong_method_is_405_listing_the_allowed_methods(pool: Pool) {
    let app = TestApp::new(pool).await;
    let r = app.call(TestRequest::delete().uri("/api/v1/me")).await;
    assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let allow = r.2.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["GET", "PATCH"], "Allow: {allow:?}");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn a_json_array_is_not_read_as_a_request_object(pool: Pool) {
    let app = TestApp::new(pool).await;
    app.register("array@example.org", "en").await;
    // serde reads a struct from a sequence; the API accepts objects only.
    let login = app
        .call(
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .set_json(json!(["array@example.org", crate::helpers::PASSWORD])),
        )
        .await;
    assert_problem(
        &login,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let token = app
        .access_token("array@example.org", crate::helpers::PASSWORD)
        .await;
    let patch = TestRequest::patch()
        .uri("/api/v1/me")
        .set_json(json!([null, null]));
    let r = app
        .call(crate::helpers::with_token(patch, Some(&token)))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
