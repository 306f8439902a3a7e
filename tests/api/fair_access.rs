//! Fair access (product.md v1.1): identity on every booking, fair-use caps per identity, the
//! reschedule cap, no-shows and their suspension, the cool-down of released desks.

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{Resp, World};

impl World {
    async fn post_on(&self, token: &str, id: &str, action: &str, body: Value) -> Resp {
        let path = format!("/api/v1/appointments/{id}/{action}");
        self.app.post(&path, Some(token), body).await
    }

    async fn staff_on(&self, id: &str, action: &str, body: Value) -> Resp {
        let path = format!("/api/v1/admin/appointments/{id}/{action}");
        self.app.post(&path, Some(&self.officer), body).await
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_booking_names_a_passport_or_national_number_the_profile_may_keep(pool: PgPool) {
    let w = World::new(pool).await;
    // A citizen whose profile keeps no number (staff() writes the account directly).
    let bare = w.app.staff("bare@example.org", "citizen").await;
    let p = w
        .book(&bare, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "applicant.passport_number", "{p}");
    let family = json!({ "full_name": "Sami Haddad", "relation": "child" });
    let p = w
        .book_for(&bare, &w.service, &w.at(2, "09:00"), Some(family))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "applicant.passport_number", "{p}");
    let p = w
        .app
        .patch(
            "/api/v1/me",
            Some(&bare),
            json!({ "national_number": "12-34" }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "national_number", "{p}");

    let me = w
        .app
        .patch(
            "/api/v1/me",
            Some(&bare),
            json!({ "national_number": "010 2030 4050" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["national_number"], "01020304050");
    assert_eq!(me["passport_number"], Value::Null);
    let a = w
        .book(&bare, &w.at(2, "09:00"))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(a["applicant"]["national_number"], "01020304050");
    assert_eq!(a["applicant"]["passport_number"], Value::Null);

    // The national number is capped like a passport: another account cannot book it again.
    let other = w
        .book_for(
            &w.citizen,
            &w.service,
            &w.at(3, "09:00"),
            Some(json!({ "full_name": "Bare Citizen", "relation": "other",
                         "national_number": "01020304050" })),
        )
        .await;
    other.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");
    let both = json!({ "passport_number": "N1234567", "national_number": "01020304050" });
    w.book_for(&w.citizen, &w.service, &w.at(3, "09:00"), Some(both))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Clearing the profile's number brings back the refusal.
    w.app
        .patch(
            "/api/v1/me",
            Some(&bare),
            json!({ "national_number": null }),
        )
        .await
        .expect(StatusCode::OK);
    let legal = w.scheduled_service("legalisation").await;
    w.book_for(&bare, &legal, &w.at(2, "10:00"), None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_appointment_moves_at_most_max_reschedules_times(pool: PgPool) {
    let w = World::new(pool).await;
    w.patch_service(json!({ "max_reschedules": 1 })).await;
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let moved = w
        .post_on(
            &w.citizen,
            &id,
            "reschedule",
            json!({ "start": w.at(2, "10:00") }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["reschedules"], 1);
    w.post_on(
        &w.citizen,
        &id,
        "reschedule",
        json!({ "start": w.at(2, "11:00") }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "reschedule_limit");
    let a = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (a["start"].as_str(), a["reschedules"].as_i64()),
        (Some(&*w.at(2, "10:00")), Some(1))
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_past_appointment_cannot_be_moved_or_cancelled_by_the_citizen(pool: PgPool) {
    let w = World::new(pool).await;
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    // 09:00 Moscow on day 2 has passed.
    w.app
        .clock
        .advance(chrono::Duration::days(2) - chrono::Duration::hours(2));
    for (action, body) in [
        ("reschedule", json!({ "start": w.at(5, "09:00") })),
        ("cancel", json!({})),
    ] {
        let p = w
            .post_on(&w.citizen, &id, action, body)
            .await
            .expect_problem(StatusCode::CONFLICT, "illegal_transition");
        assert_eq!(p["from"], "booked", "{p}");
    }
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) FROM appointments WHERE id = '{id}' AND status = 'booked'"
            ))
            .await,
        1
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn no_shows_count_only_after_the_start_and_two_suspend_booking_for_sixty_days(pool: PgPool) {
    let w = World::new(pool).await;
    let hour = chrono::Duration::hours(1);
    let first = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.staff_on(&first, "no-show", json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    // 11:00 on day 2: the slot has started.
    w.app.clock.advance(chrono::Duration::days(2));
    w.staff_on(&first, "no-show", json!({}))
        .await
        .expect(StatusCode::OK);
    let second = w.booked(&w.citizen, &w.at(4, "09:00")).await;
    w.app.clock.advance(chrono::Duration::days(2) + hour);
    w.staff_on(&second, "no-show", json!({}))
        .await
        .expect(StatusCode::OK);

    let p = w
        .book(&w.citizen, &w.at(7, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "booking_suspended");
    // 60 days from the second no-show's start (06:00 UTC on day 4).
    assert_eq!(p["until"], w.day(64).to_string(), "{p}");

    w.app.clock.advance(chrono::Duration::days(60));
    w.book(&w.citizen, &w.at(70, "09:00"))
        .await
        .expect(StatusCode::CREATED);
}

impl World {
    /// The public availability of the world's service on `day`: (local start, remaining).
    async fn slots_on(&self, days: i64) -> Vec<(String, i64)> {
        let day = self.day(days);
        let path = format!(
            "/api/v1/offices/{}/availability?service_id={}&from={day}&to={day}",
            self.office, self.service
        );
        let a = self.app.get(&path, None).await.expect(StatusCode::OK);
        a["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["start"].as_str().unwrap().to_owned(),
                    s["remaining"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    async fn remaining_at(&self, days: i64, hm: &str) -> Option<i64> {
        let at = self.at(days, hm);
        self.slots_on(days)
            .await
            .into_iter()
            .find(|(s, _)| *s == at)
            .map(|(_, r)| r)
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_released_desk_cools_down_hidden_from_citizens_whoever_released_it(pool: PgPool) {
    let w = World::with_capacity(pool, 1).await;
    let other = w.app.quick_citizen("other@example.org").await;
    let minute = chrono::Duration::minutes(1);

    // Citizen cancellation.
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.post_on(&w.citizen, &id, "cancel", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        w.remaining_at(2, "09:00").await,
        None,
        "hidden while it cools"
    );
    w.book(&other, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");
    w.app.clock.advance(minute * 29);
    assert_eq!(w.remaining_at(2, "09:00").await, None);
    w.app.clock.advance(minute);
    assert_eq!(
        w.remaining_at(2, "09:00").await,
        Some(1),
        "shown once it cooled"
    );

    // A reschedule away cools the old desk too, and staff cancellation as well.
    let id = w.booked(&other, &w.at(2, "09:00")).await;
    w.post_on(
        &other,
        &id,
        "reschedule",
        json!({ "start": w.at(2, "10:00") }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(w.remaining_at(2, "09:00").await, None);
    w.book(&w.citizen, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");
    w.staff_on(&id, "cancel", json!({ "reason": "office request" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(w.remaining_at(2, "10:00").await, None);

    // The cool-down is the service's: with none, a freed desk is bookable at once.
    w.patch_service(json!({ "release_cooldown_minutes": 0 }))
        .await;
    let id = w.booked(&w.citizen, &w.at(2, "11:00")).await;
    w.post_on(&w.citizen, &id, "cancel", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(w.remaining_at(2, "11:00").await, Some(1));
    w.book(&other, &w.at(2, "11:00"))
        .await
        .expect(StatusCode::CREATED);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn reserved_desks_are_invisible_to_citizens_and_bookable_by_staff_with_a_reason(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| ((*d).to_owned(), World::hours()))
        .collect();
    let put = w
        .app
        .put(
            &format!("/api/v1/admin/offices/{}/schedules/{}", w.office, w.service),
            Some(&w.admin),
            json!({ "capacity": 2, "reserved_capacity": 1, "weekly": weekly }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(put["reserved_capacity"], 1);
    w.app
        .put(
            &format!("/api/v1/admin/offices/{}/schedules/{}", w.office, w.service),
            Some(&w.admin),
            json!({ "capacity": 2, "reserved_capacity": 3, "weekly": weekly }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    assert_eq!(w.remaining_at(2, "09:00").await, Some(1), "one public desk");
    w.booked(&w.citizen, &w.at(2, "09:00")).await;
    assert_eq!(w.remaining_at(2, "09:00").await, None);
    let other = w.app.quick_citizen("other@example.org").await;
    w.book(&other, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");

    let staff_view = |days: i64| {
        let day = w.day(days);
        format!(
            "/api/v1/admin/offices/{}/availability?service_id={}&from={day}&to={day}",
            w.office, w.service
        )
    };
    w.app
        .get(&staff_view(2), Some(&other))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let view = w
        .app
        .get(&staff_view(2), Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    let nine = &view["slots"][0];
    assert_eq!(nine["start"], w.at(2, "09:00"));
    assert_eq!(
        (
            nine["remaining"].as_i64(),
            nine["remaining_reserved"].as_i64()
        ),
        (Some(1), Some(1))
    );

    let other_id = w.app.user_id(&other).await;
    let body = |reason: &str| {
        json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00"),
                "reason": reason, "citizen_id": other_id })
    };
    w.app
        .post("/api/v1/admin/appointments", Some(&w.officer), body(""))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    w.app
        .post("/api/v1/admin/appointments", Some(&other), body("urgent"))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let a = w
        .app
        .post(
            "/api/v1/admin/appointments",
            Some(&w.officer),
            body("urgent travel"),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(a["status"], "booked");
    let view = w
        .app
        .get(&staff_view(2), Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_ne!(
        view["slots"][0]["start"],
        w.at(2, "09:00"),
        "the slot is full now"
    );
    // The slot is full for staff too, and the per-identity cap holds for them.
    w.app
        .post(
            "/api/v1/admin/appointments",
            Some(&w.officer),
            body("again"),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");
    assert_eq!(
        w.app
            .count(
                "SELECT count(*) FROM audit_log WHERE action = 'appointment.book_by_staff'
                    AND details->>'reason' = 'urgent travel'"
            )
            .await,
        1
    );
    // Staff ignore the notice: a slot this afternoon.
    let third = w.app.quick_citizen("third@example.org").await;
    let third_id = w.app.user_id(&third).await;
    w.app
        .post(
            "/api/v1/admin/appointments",
            Some(&w.officer),
            json!({ "office_id": w.office, "service_id": w.service, "start": w.at(0, "14:00"),
                    "reason": "walked in", "citizen_id": third_id }),
        )
        .await
        .expect(StatusCode::CREATED);
}
