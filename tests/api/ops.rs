//! What operators and integrators rely on outside the API itself: the offline docs page, request
//! ids on every answer, and Prometheus metrics by route template.

use crate::helpers::{assert_problem, TestApp};
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use serde_json::json;

type Pool = sqlx::PgPool;

/// Status, headers and raw body of one request.
async fn raw(
    app: &TestApp,
    req: TestRequest,
) -> (StatusCode, actix_web::http::header::HeaderMap, String) {
    let svc = app.service().await;
    let res = test::call_service(&svc, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = String::from_utf8_lossy(&test::read_body(res).await).into_owned();
    (status, headers, body)
}

fn header<'a>(headers: &'a actix_web::http::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

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

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn docs_page_loads_only_assets_served_by_this_server(pool: Pool) {
    let app = TestApp::new(pool).await;
    let (status, headers, page) = raw(&app, TestRequest::get().uri("/docs")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(
        header(&headers, "content-security-policy").contains("default-src 'self'"),
        "the browser itself must refuse foreign assets"
    );

    let urls = linked_urls(&page);
    assert!(urls.len() >= 3, "{urls:?}");
    for url in &urls {
        assert!(
            url.starts_with('/') && !url.starts_with("//"),
            "not a local asset: {url}"
        );
        let (status, headers, body) = raw(&app, TestRequest::get().uri(url)).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert!(!body.is_empty(), "{url}");
        let expected = if url.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            header(&headers, "content-type").starts_with(expected),
            "{url}: {}",
            header(&headers, "content-type")
        );
    }

    let (_, _, init) = raw(&app, TestRequest::get().uri("/docs/init.js")).await;
    assert!(
        init.contains("\"/openapi.yaml\""),
        "renders the served contract"
    );
    assert!(
        init.contains("validatorUrl: null"),
        "no call to an online validator"
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn unknown_docs_asset_is_a_problem_404(pool: Pool) {
    let app = TestApp::new(pool).await;
    let r = app.get("/docs/missing.js", None).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn request_id_is_generated_when_the_client_sends_none(pool: Pool) {
    let app = TestApp::new(pool).await;
    let (_, _, headers) = app.get("/healthz", None).await;
    let id = header(&headers, "x-request-id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id:?}");
    let (_, _, again) = app.get("/healthz", None).await;
    assert_ne!(header(&again, "x-request-id"), id, "one id per request");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn client_request_id_is_returned_on_success_and_on_every_kind_of_error(pool: Pool) {
    let app = TestApp::new(pool).await;
    let id = "client-req_42.a";
    let with_id = |req: TestRequest| req.insert_header(("X-Request-Id", id));

    let ok = app.call(with_id(TestRequest::get().uri("/healthz"))).await;
    assert_eq!(header(&ok.2, "x-request-id"), id);

    let unknown_route = app
        .call(with_id(TestRequest::get().uri("/api/v1/no-such-thing")))
        .await;
    assert_problem(&unknown_route, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(header(&unknown_route.2, "x-request-id"), id);

    let wrong_method = app
        .call(with_id(TestRequest::delete().uri("/api/v1/auth/login")))
        .await;
    assert_problem(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_eq!(header(&wrong_method.2, "x-request-id"), id);

    let malformed = app
        .call(with_id(
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .insert_header(("content-type", "application/json"))
                .set_payload("{"),
        ))
        .await;
    assert_problem(&malformed, StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(header(&malformed.2, "x-request-id"), id);

    let unauthenticated = app
        .call(with_id(TestRequest::get().uri("/api/v1/me")))
        .await;
    assert_problem(
        &unauthenticated,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(header(&unauthenticated.2, "x-request-id"), id);

    let invalid = app
        .call(with_id(
            TestRequest::post()
                .uri("/api/v1/auth/register")
                .set_json(json!({ "email": "nope" })),
        ))
        .await;
    assert_eq!(invalid.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(header(&invalid.2, "x-request-id"), id);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn request_id_that_is_too_long_or_not_plain_is_replaced(pool: Pool) {
    let app = TestApp::new(pool).await;
    let longest = "a".repeat(64);
    for (sent, kept) in [
        (longest.as_str(), true),
        (&*"a".repeat(65), false),
        ("has space", false),
        ("semi;colon", false),
        ("<script>", false),
    ] {
        let (_, _, headers) = app
            .call(
                TestRequest::get()
                    .uri("/healthz")
                    .insert_header(("X-Request-Id", sent)),
            )
            .await;
        let got = header(&headers, "x-request-id");
        if kept {
            assert_eq!(got, sent);
        } else {
            assert!(uuid::Uuid::parse_str(got).is_ok(), "{sent:?} → {got:?}");
        }
    }
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn metrics_count_requests_by_route_template_and_status_never_by_raw_path(pool: Pool) {
    let app = TestApp::new(pool).await;
    let probe = format!("probe-{}.js", uuid::Uuid::new_v4().simple());
    let r = app.get(&format!("/docs/{probe}"), None).await;
    assert_eq!(r.0, StatusCode::NOT_FOUND);
    app.get("/healthz", None).await;

    let (status, headers, text) = raw(&app, TestRequest::get().uri("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, "content-type").starts_with("text/plain"));

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

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn unknown_paths_share_one_metrics_series(pool: Pool) {
    let app = TestApp::new(pool).await;
    let probe = format!("/api/v1/{}", uuid::Uuid::new_v4().simple());
    app.get(&probe, None).await;
    let (_, _, text) = raw(&app, TestRequest::get().uri("/metrics")).await;
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains(&probe[8..]));
}
