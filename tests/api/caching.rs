//! Offices, services and availability carry an `ETag` and a `Cache-Control`; `If-None-Match`
//! with the current tag answers `304`, and any change of the answer changes the tag.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::json;
use sqlx::PgPool;

use mawid_http::CacheSettings;

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

/// Closes the office on the test week's day `n`, its bookings kept, through the first instance.
async fn close_day_keeping_its_bookings(w: &World, n: i64) {
    w.app
        .post(
            &format!("/api/v1/admin/offices/{}/closures", w.office),
            Some(&w.admin),
            json!({"date": w.day(n), "reason": "National day", "bookings": "keep"}),
        )
        .await
        .expect(StatusCode::CREATED);
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

/// Availability of the world's service on `day` days after its Monday, as a path.
fn availability_of(w: &World, day: i64) -> String {
    let day = w.day(day);
    format!(
        "/api/v1/offices/{}/availability?service_id={}&from={day}&to={day}",
        w.office, w.service
    )
}

/// The places left at `start` (`None`: no such slot offered).
fn remaining(app_answer: &Resp, start: &str) -> Option<i64> {
    app_answer.expect(StatusCode::OK)["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["start"] == start)
        .map(|s| s["remaining"].as_i64().unwrap())
}

/// Reads `path` on `app` until `done` holds of the answer; the notification or the bound that
/// makes it hold arrives in the background, so this waits for it (10 s at most), it does not time it.
async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Resp) -> bool) -> Resp {
    for _ in 0..500 {
        let r = app.get(path, None).await;
        if done(&r) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{path} never changed on this instance");
}

/// Answers kept an hour, contexts too: only a notification can make such an instance see a
/// change made elsewhere.
fn kept_an_hour() -> CacheSettings {
    CacheSettings {
        max_age: std::time::Duration::from_secs(3600),
        context_max_age: std::time::Duration::from_secs(3600),
        ..CacheSettings::default()
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_booking_through_one_instance_shows_on_another_within_its_bound(pool: PgPool) {
    let w = World::new(pool).await;
    let b = w.app.another_instance().await;
    b.until_listening().await;
    let (path, nine) = (availability_of(&w, 2), w.at(2, "09:00"));
    assert_eq!(remaining(&b.get(&path, None).await, &nine), Some(2));
    assert_eq!(remaining(&b.get(&path, None).await, &nine), Some(2));
    w.book(&w.citizen, &nine).await.expect(StatusCode::CREATED);
    eventually(&b, &path, |r| remaining(r, &nine) == Some(1)).await;
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_closure_and_a_schedule_change_through_one_instance_reach_another_by_notification(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let mut b = w.app.another_instance().await;
    b.cache_availability(kept_an_hour());
    b.until_listening().await;
    let (path, nine) = (availability_of(&w, 2), w.at(2, "09:00"));
    assert_eq!(remaining(&b.get(&path, None).await, &nine), Some(2));
    w.app
        .post(
            &format!("/api/v1/admin/offices/{}/closures", w.office),
            Some(&w.admin),
            json!({"date": w.day(2), "reason": "National day"}),
        )
        .await
        .expect(StatusCode::CREATED);
    eventually(&b, &path, |r| remaining(r, &nine).is_none()).await;

    let (path, nine) = (availability_of(&w, 3), w.at(3, "09:00"));
    assert_eq!(remaining(&b.get(&path, None).await, &nine), Some(2));
    w.schedule(&w.service, 5, World::hours()).await;
    eventually(&b, &path, |r| remaining(r, &nine) == Some(5)).await;
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_instance_that_books_reschedules_or_closes_answers_with_it_at_once(pool: PgPool) {
    let mut w = World::new(pool).await;
    w.app.cache_availability(kept_an_hour());
    w.app.until_listening().await;
    let path = availability_of(&w, 2);
    let (nine, half_past) = (w.at(2, "09:00"), w.at(2, "09:30"));
    let r = w.app.get(&path, None).await;
    assert_eq!(
        (remaining(&r, &nine), remaining(&r, &half_past)),
        (Some(2), Some(2))
    );
    let booked = w.book(&w.citizen, &nine).await.expect(StatusCode::CREATED);
    assert_eq!(remaining(&w.app.get(&path, None).await, &nine), Some(1));
    let id = booked["id"].as_str().unwrap();
    w.app
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(&w.citizen),
            json!({ "start": half_past }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        remaining(&w.app.get(&path, None).await, &half_past),
        Some(1)
    );
    close_day_keeping_its_bookings(&w, 2).await;
    assert_eq!(remaining(&w.app.get(&path, None).await, &nine), None);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_instance_whose_listener_cannot_listen_reads_every_answer_from_the_database(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let mut b = w.app.another_instance().await;
    // Nothing listens on port 1: the listener keeps trying, and never hears a change.
    let deaf = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_millis(200))
        .connect_lazy_with(w.app.pool.connect_options().as_ref().clone().port(1));
    b.cache_availability_listening_on(kept_an_hour(), deaf);
    let (path, nine) = (availability_of(&w, 2), w.at(2, "09:00"));
    assert_eq!(remaining(&b.get(&path, None).await, &nine), Some(2));
    w.book(&w.citizen, &nine).await.expect(StatusCode::CREATED);
    assert_eq!(remaining(&b.get(&path, None).await, &nine), Some(1));
    close_day_keeping_its_bookings(&w, 2).await;
    assert_eq!(remaining(&b.get(&path, None).await, &nine), None);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_calendar_is_read_while_bookings_hold_every_connection_of_the_main_pool(pool: PgPool) {
    let main = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let mut w = World::new(main.clone()).await;
    // The listener's connection comes from elsewhere, so both of the main pool's can be held.
    w.app
        .cache_availability_listening_on(CacheSettings::default(), pool);
    let held = [main.acquire().await.unwrap(), main.acquire().await.unwrap()];
    let r = w.app.get(&availability_of(&w, 2), None).await;
    assert_eq!(remaining(&r, &w.at(2, "09:00")), Some(2));
    drop(held);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_booking_drops_the_answers_of_its_own_office_and_service_only(pool: PgPool) {
    let mut w = World::new(pool).await;
    let other = w.app.create_service(&w.admin, "civil-registry", 30).await;
    w.app
        .weekday_schedule(&w.admin, &w.office, &other, 2, World::hours())
        .await;
    let elsewhere = w.app.quick_citizen("elsewhere@example.org").await;
    // Listening from here on, after the schedule's notification went out.
    w.app.cache_availability(kept_an_hour());
    w.app.until_listening().await;
    let day = w.day(2);
    let other_path = format!(
        "/api/v1/offices/{}/availability?service_id={other}&from={day}&to={day}",
        w.office
    );
    let (path, nine) = (availability_of(&w, 2), w.at(2, "09:00"));
    assert_eq!(
        remaining(&w.app.get(&other_path, None).await, &nine),
        Some(2)
    );
    assert_eq!(remaining(&w.app.get(&path, None).await, &nine), Some(2));

    // A place of the other service goes on another process (bookings do not notify), then this
    // one books the world's service.
    let b = w.app.another_instance().await;
    b.post(
        "/api/v1/appointments",
        Some(&elsewhere),
        json!({ "office_id": w.office, "service_id": other, "start": nine }),
    )
    .await
    .expect(StatusCode::CREATED);
    w.book(&w.citizen, &nine).await.expect(StatusCode::CREATED);

    assert_eq!(remaining(&w.app.get(&path, None).await, &nine), Some(1));
    assert_eq!(
        remaining(&w.app.get(&other_path, None).await, &nine),
        Some(2),
        "the other service's answer was kept"
    );
}
