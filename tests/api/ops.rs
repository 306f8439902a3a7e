//! What operators and integrators rely on outside the API itself: the offline docs page, request
//! ids on every answer, and Prometheus metrics by route template.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::TestApp;

/// Every `src="…"` and `href="…"` in a page.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            urls.push(part.split('"').next().unwrap_or_default().to_owned());
        }
    }
    urls
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn docs_page_loads_only_assets_served_by_this_server(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let page = app.get("/docs", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.header("content-security-policy")
            .contains("default-src 'self'"),
        "the browser itself must refuse foreign assets"
    );

    let urls = linked_urls(&page.text);
    assert!(urls.len() >= 3, "{urls:?}");
    for url in &urls {
        assert!(
            url.starts_with('/') && !url.starts_with("//"),
            "not a local asset: {url}"
        );
        let asset = app.get(url, None).await;
        assert_eq!(asset.status, StatusCode::OK, "{url}");
        assert!(!asset.text.is_empty(), "{url}");
        let expected = if url.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            asset.header("content-type").starts_with(expected),
            "{url}: {}",
            asset.header("content-type")
        );
    }

    let init = app.get("/docs/init.js", None).await.text;
    assert!(
        init.contains("\"/openapi.yaml\""),
        "renders the served contract"
    );
    assert!(
        init.contains("validatorUrl: null"),
        "no call to an online validator"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn unknown_docs_asset_is_a_problem_404(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.get("/docs/missing.js", None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn request_id_is_generated_when_the_client_sends_none(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first = app.get("/healthz", None).await;
    let id = first.header("x-request-id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id:?}");
    let again = app.get("/healthz", None).await;
    assert_ne!(again.header("x-request-id"), id, "one id per request");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn client_request_id_is_returned_on_success_and_on_every_kind_of_error(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = "client-req_42.a";
    let with_id = |req: TestRequest| req.insert_header(("X-Request-Id", id));

    let ok = app.call(with_id(TestRequest::get().uri("/healthz"))).await;
    assert_eq!(ok.header("x-request-id"), id);

    for (req, status, code) in [
        (
            TestRequest::get().uri("/api/v1/no-such-thing"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            TestRequest::delete().uri("/api/v1/auth/login"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .insert_header(("content-type", "application/json"))
                .set_payload("{"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            TestRequest::get().uri("/api/v1/me"),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
    ] {
        let r = app.call(with_id(req)).await;
        r.expect_problem(status, code);
        assert_eq!(r.header("x-request-id"), id, "{code}");
    }

    let invalid = app
        .call(with_id(
            TestRequest::post()
                .uri("/api/v1/auth/register")
                .set_json(json!({ "email": "nope" })),
        ))
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.header("x-request-id"), id);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn request_id_that_is_too_long_or_not_plain_is_replaced(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let longest = "a".repeat(64);
    for (sent, kept) in [
        (longest.as_str(), true),
        (&*"a".repeat(65), false),
        ("has space", false),
        ("semi;colon", false),
        ("<script>", false),
    ] {
        let r = app
            .call(
                TestRequest::get()
                    .uri("/healthz")
                    .insert_header(("X-Request-Id", sent)),
            )
            .await;
        let got = r.header("x-request-id");
        if kept {
            assert_eq!(got, sent);
        } else {
            assert!(uuid::Uuid::parse_str(got).is_ok(), "{sent:?} → {got:?}");
        }
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn metrics_count_requests_by_route_template_and_status_never_by_raw_path(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let probe = format!("probe-{}.js", uuid::Uuid::new_v4().simple());
    let r = app.get(&format!("/docs/{probe}"), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.get("/healthz", None).await;

    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    let text = &metrics.text;

    let has = |needle: &str| text.lines().any(|l| l.contains(needle));
    assert!(
        has(r#"mawid_http_requests_total{method="GET",route="/docs/{asset}",status="404"}"#),
        "{text}"
    );
    assert!(
        has(r#"mawid_http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    assert!(
        has(
            r#"mawid_http_request_duration_seconds_bucket{method="GET",route="/docs/{asset}",status="404",le="0.005"}"#
        ),
        "{text}"
    );
    assert!(
        has("# TYPE mawid_http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(!text.contains(&probe), "a raw path leaked into a label");
    for counter in [
        "mawid_bookings_total",
        r#"mawid_cancellations_total{by="citizen"}"#,
        r#"mawid_cancellations_total{by="staff"}"#,
        "mawid_emails_sent_total",
        "mawid_email_failures_total",
    ] {
        assert!(has(counter), "{counter} missing:\n{text}");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn unknown_paths_share_one_metrics_series(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let probe = format!("/api/v1/{}", uuid::Uuid::new_v4().simple());
    app.get(&probe, None).await;
    let text = app.get("/metrics", None).await.text;
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains(&probe[8..]));
}
