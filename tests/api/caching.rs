//! Offices, services and availability carry an `ETag` and a `Cache-Control`; `If-None-Match`
//! with the current tag answers `304`, and any change of the answer changes the tag.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{Resp, TestApp, World};

async fn get_if_none_match(app: &TestApp, path: &str, tag: &str) -> Resp {
    app.call(
        TestRequest::get()
            .uri(path)
            .insert_header(("if-none-match", tag)),
    )
    .await
}

/// The tag of a 200, after checking it carries a freshness.
#[track_caller]
fn tag_of(r: &Resp) -> String {
    r.expect(StatusCode::OK);
    assert!(
        r.header("cache-control").contains("max-age"),
        "{:?}",
        r.headers
    );
    let tag = r.header("etag").to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    tag
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn catalogue_reads_answer_304_for_the_current_tag_and_200_once_an_admin_edits(pool: PgPool) {
    let w = World::new(pool).await;
    let paths = [
        "/api/v1/offices".to_owned(),
        format!("/api/v1/offices/{}", w.office),
        "/api/v1/services".to_owned(),
        format!("/api/v1/services/{}", w.service),
    ];
    let mut tags = Vec::new();
    for path in &paths {
        let tag = tag_of(&w.app.get(path, None).await);
        let again = get_if_none_match(&w.app, path, &tag).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.text.is_empty());
        assert_eq!(again.header("etag"), tag);
        assert!(!again.header("cache-control").is_empty());
        // If-None-Match compares weakly, takes a list and `*`.
        for asked in [
            format!("W/{tag}"),
            format!("\"stale\", {tag}"),
            "*".to_owned(),
        ] {
            let r = get_if_none_match(&w.app, path, &asked).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{path} {asked}");
        }
        let r = get_if_none_match(&w.app, path, "\"stale\"").await;
        assert_eq!(tag_of(&r), tag);
        tags.push(tag);
    }
    w.app
        .patch(
            &format!("/api/v1/admin/offices/{}", w.office),
            Some(&w.admin),
            json!({"address": {"ar": "موسكو", "ru": "Москва", "en": "Moscow, Mansurovsky 4"}}),
        )
        .await
        .expect(StatusCode::OK);
    w.app
        .patch(
            &format!("/api/v1/admin/services/{}", w.service),
            Some(&w.admin),
            json!({"min_notice_hours": 48}),
        )
        .await
        .expect(StatusCode::OK);
    for (path, old) in paths.iter().zip(&tags) {
        let r = get_if_none_match(&w.app, path, old).await;
        assert_ne!(&tag_of(&r), old, "{path}");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn availability_changes_its_tag_when_a_booking_takes_a_desk(pool: PgPool) {
    let w = World::new(pool).await;
    let day = w.day(2);
    let path = format!(
        "/api/v1/offices/{}/availability?service_id={}&from={day}&to={day}",
        w.office, w.service
    );
    let tag = tag_of(&w.app.get(&path, None).await);
    let r = get_if_none_match(&w.app, &path, &tag).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    w.app
        .post(
            "/api/v1/appointments",
            Some(&w.citizen),
            json!({"office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00")}),
        )
        .await
        .expect(StatusCode::CREATED);
    let r = get_if_none_match(&w.app, &path, &tag).await;
    assert_ne!(tag_of(&r), tag);
}
