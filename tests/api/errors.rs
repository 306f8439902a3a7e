//! Every error the server can produce is problem+json with a stable code.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, PASSWORD};

/// A login request whose body is `payload` as it is, sent as `content_type`.
fn login_sending(content_type: &str, payload: impl Into<String>) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header(("content-type", content_type))
        .set_payload(payload.into())
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn malformed_json_is_400(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.call(login_sending("application/json", "{\"email\": "))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "malformed_json");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn wrong_shape_is_422(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.post("/api/v1/auth/login", None, json!({ "email": 5 }))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn wrong_content_type_is_415(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = r#"{"email":"a@b.co","password":"whatever123"}"#;
    app.call(login_sending("text/plain", body))
        .await
        .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn body_over_one_mebibyte_is_413_and_just_under_is_read(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let login_with_password_of = |len: usize| {
        let body = format!(r#"{{"email":"a@b.co","password":"{}"}}"#, "x".repeat(len));
        login_sending("application/json", body)
    };
    app.call(login_with_password_of(1024 * 1024))
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Just under the limit the body is parsed, and refused on its merits.
    app.call(login_with_password_of(1024 * 1024 - 100))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn unknown_route_is_404_inside_and_outside_the_api(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for path in ["/api/v1/nothing-here", "/nothing-here"] {
        app.get(path, None)
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn wrong_method_is_405(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.get("/api/v1/auth/login", None)
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    app.send(actix_web::http::Method::PUT, "/api/v1/me", None, None)
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn health_readiness_and_contract_are_served(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.get("/healthz", None).await.expect(StatusCode::OK);
    app.get("/readyz", None).await.expect(StatusCode::OK);
    let contract = app.get("/openapi.yaml", None).await;
    assert_eq!(contract.status, StatusCode::OK);
    let text = &contract.text;
    assert!(
        text.starts_with("openapi: 3."),
        "{}",
        &text[..text.len().min(80)]
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn readiness_is_503_when_the_database_is_gone(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.pool.close().await;
    app.get("/readyz", None)
        .await
        .expect_problem(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn wrong_method_is_405_listing_the_allowed_methods(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let r = app
        .send(actix_web::http::Method::PUT, "/api/v1/me", None, None)
        .await;
    r.expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let allow = r.header("allow");
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["DELETE", "GET", "PATCH"], "Allow: {allow:?}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_json_array_is_not_read_as_a_request_object(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("array@example.org", "en").await;
    // serde reads a struct from a sequence; the API accepts objects only.
    app.post(
        "/api/v1/auth/login",
        None,
        json!(["array@example.org", PASSWORD]),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let token = app.access_token("array@example.org", PASSWORD).await;
    app.patch("/api/v1/me", Some(&token), json!([null, null]))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
