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
    assert!(w.is_booked(&id).await);
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
    // The waitlist reads the no-shows on a path of its own; the suspension holds there too.
    w.join_waitlist(&w.citizen, 7, 8, None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "booking_suspended");

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
        None,
        "cooled, but the waitlist has it first"
    );
    w.app.run_waitlist().await;
    assert_eq!(
        w.remaining_at(2, "09:00").await,
        Some(1),
        "shown once it cooled and no entry wanted it"
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

impl World {
    async fn join_waitlist(
        &self,
        token: &str,
        from: i64,
        to: i64,
        applicant: Option<Value>,
    ) -> Resp {
        let mut body = json!({ "office_id": self.office, "service_id": self.service,
                               "from": self.day(from), "to": self.day(to) });
        if let Some(a) = applicant {
            body["applicant"] = a;
        }
        self.app.post("/api/v1/waitlist", Some(token), body).await
    }

    async fn waitlist_of(&self, token: &str) -> Vec<Value> {
        let l = self
            .app
            .get("/api/v1/waitlist", Some(token))
            .await
            .expect(StatusCode::OK);
        l["items"].as_array().unwrap().clone()
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_cooled_desk_goes_to_the_oldest_fitting_waitlist_entry_before_anyone_else(pool: PgPool) {
    let w = World::with_capacity(pool, 1).await;
    let waiting = w.app.quick_citizen("waiting@example.org").await;
    let younger = w.app.quick_citizen("younger@example.org").await;
    let walker = w.app.quick_citizen("walker@example.org").await;
    // One slot a day, 09:00.
    w.schedule(&w.service, 1, json!([["09:00", "09:30"]])).await;
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;

    let entry = w
        .join_waitlist(&waiting, 2, 2, None)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(entry["status"], "waiting");
    assert_eq!(entry["appointment_id"], Value::Null);
    w.join_waitlist(&younger, 2, 2, None)
        .await
        .expect(StatusCode::CREATED);
    w.post_on(&w.citizen, &id, "cancel", json!({}))
        .await
        .expect(StatusCode::OK);
    let pass = w.app.run_waitlist().await;
    assert_eq!(pass.fulfilled, 0, "still cooling: {pass:?}");
    assert_eq!(w.waitlist_of(&waiting).await[0]["status"], "waiting");
    w.app.clock.advance(chrono::Duration::minutes(30));
    w.book(&walker, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");
    let pass = w.app.run_waitlist().await;
    assert_eq!(pass.fulfilled, 1, "{pass:?}");

    let entries = w.waitlist_of(&waiting).await;
    assert_eq!(entries[0]["status"], "fulfilled", "{entries:?}");
    let appointment = entries[0]["appointment_id"].as_str().unwrap().to_owned();
    let a = w
        .app
        .get(
            &format!("/api/v1/appointments/{appointment}"),
            Some(&waiting),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(a["status"], "booked");
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) FROM notifications WHERE kind = 'appointment_booked'
                 AND payload->>'appointment_id' = '{appointment}'
                 AND (payload->>'from_waitlist')::boolean"
            ))
            .await,
        1,
        "the confirmation says the slot came from the waitlist"
    );
    assert_eq!(w.waitlist_of(&younger).await[0]["status"], "waiting");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_earlier_slot_entry_is_fulfilled_by_moving_the_booking_held(pool: PgPool) {
    let w = World::with_capacity(pool, 1).await;
    w.schedule(&w.service, 1, json!([["09:00", "09:30"]])).await;
    let other = w.app.quick_citizen("other@example.org").await;
    let blocker = w.booked(&other, &w.at(2, "09:00")).await;
    let held = w.booked(&w.citizen, &w.at(7, "09:00")).await;

    let p = w
        .join_waitlist(&w.citizen, 2, 7, None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "to", "{p}");
    let entry = w
        .join_waitlist(&w.citizen, 2, 3, None)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(entry["current_appointment_id"], held.as_str());
    // Day 3 is free: the entry is served at once, as a reschedule of the booking held.
    w.app.run_waitlist().await;
    let moved = w
        .app
        .get(&format!("/api/v1/appointments/{held}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["start"], w.at(3, "09:00"));
    assert_eq!(moved["reschedules"], 1);
    let e = &w.waitlist_of(&w.citizen).await[0];
    assert_eq!(
        (e["status"].as_str(), e["appointment_id"].as_str()),
        (Some("fulfilled"), Some(held.as_str()))
    );
    let _ = blocker;
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn one_waiting_entry_per_citizen_and_per_identity_leaving_and_expiry(pool: PgPool) {
    let w = World::with_capacity(pool, 1).await;
    w.schedule(&w.service, 1, json!([["09:00", "09:30"]])).await;
    // Every slot of the coming week is taken, so entries wait.
    for d in 1..=11 {
        if w.day(d).format("%u").to_string().parse::<u32>().unwrap() <= 5 {
            let c = w.app.quick_citizen(&format!("holder{d}@example.org")).await;
            let _ = w.book(&c, &w.at(d, "09:00")).await;
        }
    }
    let other = w.app.quick_citizen("other@example.org").await;
    let e = w
        .join_waitlist(&w.citizen, 2, 4, None)
        .await
        .expect(StatusCode::CREATED);
    w.join_waitlist(&w.citizen, 3, 5, None)
        .await
        .expect_problem(StatusCode::CONFLICT, "already_waitlisted");
    let own = crate::helpers::own_passport(World::CITIZEN);
    w.join_waitlist(
        &other,
        2,
        4,
        Some(json!({ "full_name": "Amal Haddad", "relation": "other", "passport_number": own })),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "already_waitlisted");
    w.join_waitlist(&w.citizen, -1, 4, None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let id = e["id"].as_str().unwrap();
    w.app
        .delete(&format!("/api/v1/waitlist/{id}"), Some(&other))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    w.app
        .delete(&format!("/api/v1/waitlist/{id}"), Some(&w.citizen))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(w.waitlist_of(&w.citizen).await[0]["status"], "left");

    let e = w
        .join_waitlist(&other, 2, 3, None)
        .await
        .expect(StatusCode::CREATED);
    w.app.run_waitlist().await;
    assert_eq!(w.waitlist_of(&other).await[0]["status"], "waiting");
    w.app.clock.advance(chrono::Duration::days(4));
    w.app.run_waitlist().await;
    let l = w.waitlist_of(&other).await;
    assert_eq!(
        (l[0]["id"].as_str(), l[0]["status"].as_str()),
        (e["id"].as_str(), Some("expired"))
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn two_instances_racing_over_many_freed_slots_give_each_to_one_entry_and_serve_none_twice(
    pool: PgPool,
) {
    let w = World::with_capacity(pool, 1).await;
    // Ten slots on day 2 (09:00-13:00 and 14:00-15:00 would be 10; keep the world's hours).
    let slots: Vec<String> = [
        "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "12:00", "12:30", "14:00", "14:30",
    ]
    .iter()
    .map(|hm| w.at(2, hm))
    .collect();
    let held = w.booked_by_new_citizens("holder", &slots).await;
    // Every other slot of the day is taken too (there are none beyond these ten).
    let mut waiting = Vec::new();
    for i in 0..14 {
        let c = w.app.quick_citizen(&format!("waiter{i}@example.org")).await;
        w.join_waitlist(&c, 2, 2, None)
            .await
            .expect(StatusCode::CREATED);
        waiting.push(c);
    }
    for (c, id) in &held {
        w.post_on(c, id, "cancel", json!({}))
            .await
            .expect(StatusCode::OK);
    }
    w.app.clock.advance(chrono::Duration::minutes(30));
    let b = w.app.another_instance().await;
    let passes = w.app.four_passes_with(&b).await;
    let fulfilled: usize = passes.iter().map(|p| p.fulfilled).sum();
    assert_eq!(fulfilled, 10, "{passes:?}");
    let app = &w.app;
    assert_eq!(
        app.count("SELECT count(*) FROM waitlist_entries WHERE status = 'fulfilled'")
            .await,
        10
    );
    assert_eq!(
        app.count("SELECT count(*) FROM waitlist_entries WHERE status = 'waiting'")
            .await,
        4
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT appointment_id) FROM waitlist_entries WHERE status = 'fulfilled'").await,
        10
    );
    // Each fulfilled entry's booking is its citizen's, one per citizen and one per slot.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM waitlist_entries w JOIN appointments a ON a.id = w.appointment_id
             WHERE a.citizen_id = w.citizen_id AND a.status = 'booked'"
        )
        .await,
        10
    );
    assert_eq!(
        app.count("SELECT count(*) FROM appointments WHERE status = 'booked'")
            .await,
        10
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT slot_start) FROM appointments WHERE status = 'booked'")
            .await,
        10
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM (SELECT citizen_id FROM appointments WHERE status = 'booked'
               GROUP BY citizen_id HAVING count(*) > 1) x"
        )
        .await,
        0
    );
    let still: usize = {
        let mut n = 0;
        for c in &waiting {
            n += usize::from(w.waitlist_of(c).await[0]["status"] == "waiting");
        }
        n
    };
    assert_eq!(still, 4);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_suspended_account_loses_its_bookings_and_waitlist_and_its_tokens_from_the_next_request(
    pool: PgPool,
) {
    let w = World::with_capacity(pool, 1).await;
    let legal = w.scheduled_service("legalisation").await;
    let first = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let second = w
        .book_for(&w.citizen, &legal, &w.at(3, "09:00"), None)
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = w.app.quick_citizen("other@example.org").await;
    w.booked(&other, &w.at(4, "09:00")).await;
    w.join_waitlist(
        &w.citizen,
        4,
        4,
        Some(json!({ "full_name": "Sami Haddad",
        "relation": "child", "passport_number": "N7654321" })),
    )
    .await
    .expect(StatusCode::CREATED);
    let citizen_id = w.app.user_id(&w.citizen).await;
    let path = |action: &str| format!("/api/v1/admin/citizens/{citizen_id}/{action}");

    w.app
        .post(
            &path("suspend"),
            Some(&w.officer),
            json!({ "reason": "slot trading" }),
        )
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.app
        .post(&path("suspend"), Some(&w.admin), json!({ "reason": "" }))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let s = w
        .app
        .post(
            &path("suspend"),
            Some(&w.admin),
            json!({ "reason": "slot trading" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["cancelled_bookings"], 2);

    // The token issued before is refused on the very next request, and so is a new login.
    w.app
        .get("/api/v1/me", Some(&w.citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "account_suspended");
    w.book(&w.citizen, &w.at(5, "09:00"))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "account_suspended");
    w.app
        .login(World::CITIZEN, crate::helpers::PASSWORD)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "account_suspended");

    for id in [&first, &second] {
        assert_eq!(
            w.app
                .count(&format!(
                    "SELECT count(*) FROM appointments WHERE id = '{id}' AND status = 'cancelled'
                     AND cancelled_by = 'staff' AND cancel_reason = 'slot trading'"
                ))
                .await,
            1
        );
        assert_eq!(
            w.app
                .count(&format!(
                    "SELECT count(*) FROM notifications WHERE kind = 'appointment_cancelled'
                     AND payload->>'appointment_id' = '{id}'"
                ))
                .await,
            1,
            "the citizen is mailed"
        );
    }
    // The desks are released into their cool-down, the waitlist entry is left.
    assert_eq!(w.app.count("SELECT count(*) FROM desk_releases").await, 2);
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM waitlist_entries WHERE status = 'left'")
            .await,
        1
    );
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE action = 'citizen.suspend'
                 AND target_id = '{citizen_id}' AND details->>'reason' = 'slot trading'"
            ))
            .await,
        1
    );

    w.app
        .post(&path("reinstate"), Some(&w.admin), json!({}))
        .await
        .expect(StatusCode::OK);
    w.app
        .get("/api/v1/me", Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    w.app
        .login(World::CITIZEN, crate::helpers::PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM audit_log WHERE action = 'citizen.reinstate'")
            .await,
        1
    );
    let staff_id = w.app.user_id(&w.officer).await;
    w.app
        .post(
            &format!("/api/v1/admin/citizens/{staff_id}/suspend"),
            Some(&w.admin),
            json!({ "reason": "x" }),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn attendance_is_confirmed_only_inside_the_services_window(pool: PgPool) {
    let w = World::new(pool).await;
    let plain = w.booked(&w.citizen, &w.at(4, "09:00")).await;
    let a = w
        .post_on(&w.citizen, &plain, "confirm", json!({}))
        .await
        .expect_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirmation_not_required",
        );
    let _ = a;
    let shown = w
        .app
        .get(&format!("/api/v1/appointments/{plain}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (
            &shown["confirm_from"],
            &shown["confirm_until"],
            &shown["confirmed_at"]
        ),
        (&Value::Null, &Value::Null, &Value::Null)
    );

    w.patch_service(json!({ "confirmation_required": true }))
        .await;
    // The booking starts on day 4 at 09:00: the window is day 1 09:00 to day 3 09:00.
    let shown = w
        .app
        .get(&format!("/api/v1/appointments/{plain}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown["confirm_from"], w.at(1, "09:00"));
    assert_eq!(shown["confirm_until"], w.at(3, "09:00"));
    w.post_on(&w.citizen, &plain, "confirm", json!({}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "confirmation_not_open");
    w.app.clock.advance(chrono::Duration::days(1));
    let confirmed = w
        .post_on(&w.citizen, &plain, "confirm", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(confirmed["confirmed_at"], w.at(1, "11:00"));
    w.app.clock.advance(chrono::Duration::days(2));
    w.post_on(&w.citizen, &plain, "confirm", json!({}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "confirmation_closed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_unconfirmed_booking_is_released_by_the_system_at_the_windows_end_and_offered_on(
    pool: PgPool,
) {
    let w = World::with_capacity(pool, 1).await;
    let keeper = w.app.quick_citizen("keeper@example.org").await;
    let waiting = w.app.quick_citizen("waiting@example.org").await;
    w.schedule(&w.service, 1, json!([["09:00", "10:00"]])).await;
    // Closing 48 h ahead leaves the desk enough notice to be booked again once released.
    w.patch_service(json!({
        "confirmation_required": true, "confirm_from_hours": 60, "confirm_until_hours": 48
    }))
    .await;
    // It is day 0, 11:00; both windows (60 h to 48 h before the start) open tonight.
    let unconfirmed = w.booked(&w.citizen, &w.at(3, "09:00")).await;
    let kept = w.booked(&keeper, &w.at(3, "09:30")).await;
    w.app.clock.advance(chrono::Duration::hours(12));
    w.post_on(&keeper, &kept, "confirm", json!({}))
        .await
        .expect(StatusCode::OK);
    w.join_waitlist(&waiting, 3, 3, None)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(w.app.run_waitlist().await.released, 0, "the window is open");

    // Day 1, 10:00: both windows have closed.
    w.app.clock.advance(chrono::Duration::hours(11));
    let b = w.app.another_instance().await;
    let (r1, r2) = tokio::join!(w.app.run_waitlist(), b.run_waitlist());
    assert_eq!(r1.released + r2.released, 1, "{r1:?} {r2:?}");
    assert_eq!(r1.fulfilled + r2.fulfilled, 0, "the desk is cooling");
    let a = w
        .app
        .get(
            &format!("/api/v1/appointments/{unconfirmed}"),
            Some(&w.citizen),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (&a["status"], &a["cancelled_by"]),
        (&json!("cancelled"), &json!("system"))
    );
    let k = w
        .app
        .get(&format!("/api/v1/appointments/{kept}"), Some(&keeper))
        .await
        .expect(StatusCode::OK);
    assert_eq!(k["status"], "booked");
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) FROM notifications WHERE kind = 'appointment_cancelled'
                 AND payload->>'appointment_id' = '{unconfirmed}'
                 AND payload->>'cancelled_by' = 'system'"
            ))
            .await,
        1,
        "one cancellation mail"
    );
    let walker = w.app.quick_citizen("walker@example.org").await;
    w.book(&walker, &w.at(3, "09:00"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");

    w.app.clock.advance(chrono::Duration::minutes(30));
    let pass = w.app.run_waitlist().await;
    assert_eq!((pass.released, pass.fulfilled), (0, 1), "{pass:?}");
    let entries = w.waitlist_of(&waiting).await;
    assert_eq!(entries[0]["status"], "fulfilled", "{entries:?}");
    let given = entries[0]["appointment_id"].as_str().unwrap().to_owned();
    let g = w
        .app
        .get(&format!("/api/v1/appointments/{given}"), Some(&waiting))
        .await
        .expect(StatusCode::OK);
    assert_eq!(g["start"], w.at(3, "09:00"));
    // Booked after its window closed, it counts as confirmed then and is not released.
    assert_eq!(w.app.run_waitlist().await.released, 0);
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM appointments WHERE cancelled_by = 'system'")
            .await,
        1
    );
}

impl World {
    /// The confirmation requests queued for the appointment `id`.
    async fn confirmation_requests(&self, id: &str) -> i64 {
        self.app
            .count(&format!(
                "SELECT count(*) FROM notifications WHERE kind = 'confirmation_request'
                 AND payload->>'appointment_id' = '{id}' AND status <> 'cancelled'"
            ))
            .await
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_confirmation_request_is_mailed_once_when_the_window_opens_in_the_citizens_language(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    w.patch_service(json!({ "confirmation_required": true }))
        .await;
    let rania = w.app.verified_citizen_in("rania@example.org", "ru").await;
    // Day 4, 09:00: the window opens on day 1 at 09:00 and closes on day 3 at 09:00.
    let a = w
        .book(&rania, &w.at(4, "09:00"))
        .await
        .expect(StatusCode::CREATED);
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["confirmed_at"], Value::Null, "booked before the window");
    assert_eq!(w.app.run_waitlist().await.requested, 0);
    // Day 1, 08:59.
    w.app.clock.advance(chrono::Duration::minutes(22 * 60 - 1));
    assert_eq!(
        w.app.run_waitlist().await.requested,
        0,
        "not before it opens"
    );
    assert_eq!(w.confirmation_requests(&id).await, 0);
    w.app.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(w.app.run_waitlist().await.requested, 1);
    assert_eq!(w.app.run_waitlist().await.requested, 0, "only once");
    w.app.clock.advance(chrono::Duration::hours(5));
    assert_eq!(w.app.run_waitlist().await.requested, 0, "only once");
    assert_eq!(w.confirmation_requests(&id).await, 1);
    let asked: Vec<String> = w
        .app
        .mails_to("rania@example.org")
        .await
        .iter()
        .map(|m| crate::helpers::text_body(m))
        .filter(|t| t.contains("Подтвердить явку"))
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains(a["reference"].as_str().unwrap()),
        "{}",
        asked[0]
    );
    assert!(asked[0].contains("09:00"), "the deadline: {}", asked[0]);
    w.post_on(&rania, &id, "confirm", json!({}))
        .await
        .expect(StatusCode::OK);

    // Moved to day 11, whose window opens on day 8: the old confirmation was for the old slot,
    // and the new slot gets its own request when its window opens.
    let moved = w
        .post_on(
            &rania,
            &id,
            "reschedule",
            json!({ "start": w.at(11, "09:00") }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["confirmed_at"], Value::Null);
    assert_eq!(w.app.run_waitlist().await.requested, 0);
    w.app.clock.set(
        chrono::DateTime::parse_from_rfc3339(&w.at(8, "09:00"))
            .unwrap()
            .to_utc(),
    );
    assert_eq!(w.app.run_waitlist().await.requested, 1);
    assert_eq!(w.confirmation_requests(&id).await, 2);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn two_instances_running_the_pass_at_once_ask_each_booking_to_confirm_once(pool: PgPool) {
    let w = World::with_capacity(pool, 3).await;
    w.patch_service(json!({ "confirmation_required": true }))
        .await;
    // Every desk of four slots taken.
    let starts: Vec<String> = ["09:00", "09:30", "10:00", "10:30"]
        .iter()
        .flat_map(|hm| [w.at(4, hm), w.at(4, hm), w.at(4, hm)])
        .collect();
    let ids: Vec<String> = w
        .booked_by_new_citizens("c", &starts)
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    // Day 1, 11:00: every window is open.
    w.app.clock.advance(chrono::Duration::days(1));
    let b = w.app.another_instance().await;
    let passes = w.app.four_passes_with(&b).await;
    let requested: u64 = passes.iter().map(|p| p.requested).sum();
    assert_eq!(requested, 12, "{passes:?}");
    for id in &ids {
        assert_eq!(w.confirmation_requests(id).await, 1, "{id}");
    }
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM notifications WHERE kind = 'confirmation_request'")
            .await,
        12
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_booking_entering_its_slot_inside_or_after_the_window_counts_as_confirmed_then(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    // It is day 0, 11:00. Day 2 at 09:00 closed its window (47 h before) at 10:00 today; day 2
    // at 12:00 closes it at 13:00 today, two hours from now.
    w.patch_service(json!({
        "confirmation_required": true, "confirm_from_hours": 96, "confirm_until_hours": 47
    }))
    .await;
    let now = w.at(0, "11:00");
    let far = w.booked(&w.citizen, &w.at(9, "09:00")).await;
    let closing = w
        .post_on(
            &w.citizen,
            &far,
            "reschedule",
            json!({ "start": w.at(2, "12:00") }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(closing["confirm_until"], w.at(0, "13:00"));
    assert_eq!(
        closing["confirmed_at"], now,
        "moved in two hours before it closes"
    );
    let other = w.app.quick_citizen("late@example.org").await;
    let late = w
        .book(&other, &w.at(2, "09:00"))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(late["confirmed_at"], now, "booked after it closed");
    let late = late["id"].as_str().unwrap().to_owned();

    w.app.clock.advance(chrono::Duration::hours(3));
    let pass = w.app.run_waitlist().await;
    assert_eq!((pass.requested, pass.released), (0, 0), "{pass:?}");
    for (token, id) in [(&w.citizen, &far), (&other, &late)] {
        let a = w
            .app
            .get(&format!("/api/v1/appointments/{id}"), Some(token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(a["status"], "booked", "{a}");
    }
    assert_eq!(w.confirmation_requests(&far).await, 0);
}

impl World {
    async fn walk_in_agenda_csv(&self, days: i64) -> String {
        let path = format!(
            "/api/v1/admin/offices/{}/agenda?date={}",
            self.office,
            self.day(days)
        );
        let req = actix_web::test::TestRequest::get()
            .uri(&path)
            .insert_header(("Accept", "text/csv"));
        let csv = self
            .app
            .call(crate::helpers::with_token(req, Some(&self.officer)))
            .await;
        assert_eq!(csv.status, StatusCode::OK);
        csv.text
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_walk_in_without_an_account_is_booked_by_staff_mailed_in_their_language_and_listed(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    let a = w
        .book_walk_in(
            &w.at(2, "09:00"),
            json!({ "full_name": "Omar Khalil", "passport_number": "W1234567",
                    "phone": "+7 900 123-45-67", "email": "Omar@Example.org",
                    "preferred_language": "ru" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = a["id"].as_str().unwrap().to_owned();
    let reference = a["reference"].as_str().unwrap().to_owned();
    assert_eq!(a["status"], "booked");
    assert_eq!(a["applicant"]["full_name"], "Omar Khalil");
    assert_eq!(a["applicant"]["passport_number"], "W1234567");

    let mails = w.app.mails_to("omar@example.org").await;
    assert_eq!(mails.len(), 1, "the booking confirmation");
    let text = crate::helpers::text_body(&mails[0]);
    assert!(text.contains("Здравствуйте, Omar Khalil"), "{text}");
    assert!(text.contains(&reference), "{text}");
    assert!(mails[0].contains("text/calendar"), "with its invite");
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) FROM notifications WHERE user_id IS NULL
                 AND recipient = 'omar@example.org' AND language = 'ru'
                 AND payload->>'appointment_id' = '{id}'"
            ))
            .await,
        2,
        "the confirmation and the reminder"
    );
    assert_eq!(
        w.app
            .count(
                "SELECT count(*) FROM audit_log WHERE action = 'appointment.book_by_staff'
                 AND details->>'walk_in' = 'true' AND details->>'reason' = 'at the counter'"
            )
            .await,
        1
    );

    let agenda = w
        .app
        .get(
            &format!(
                "/api/v1/admin/offices/{}/agenda?date={}",
                w.office,
                w.day(2)
            ),
            Some(&w.officer),
        )
        .await
        .expect(StatusCode::OK);
    let item = &agenda["items"][0];
    assert_eq!(item["reference"], reference.as_str());
    assert_eq!(item["citizen_id"], Value::Null);
    let csv = w.walk_in_agenda_csv(2).await;
    assert!(
        csv.contains(&format!(
            "09:00,{reference},passport-renewal,Omar Khalil,W1234567,+79001234567,booked"
        )),
        "{csv}"
    );
    let hits = w
        .app
        .get("/api/v1/admin/search?q=W1234567", Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(hits["appointments"][0]["citizen_id"], Value::Null, "{hits}");
    // With no account to find them by, the walk-in is found by the contact on the booking.
    for q in ["OMAR@example.org", "+7 (900) 123-45-67"] {
        let hits = w.search(q).await;
        assert_eq!(
            hits["appointments"][0]["reference"],
            reference.as_str(),
            "{q}: {hits}"
        );
    }

    // Checked in: no account to follow a document request in, so none is opened.
    w.staff_on(&id, "check-in", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        w.app.count("SELECT count(*) FROM document_requests").await,
        0
    );
    let b = w
        .book_walk_in(
            &w.at(2, "10:00"),
            json!({ "full_name": "Omar Khalil", "national_number": "01020304050",
                    "email": "omar@example.org", "preferred_language": "ru" }),
        )
        .await
        .expect(StatusCode::CREATED);
    w.staff_on(
        b["id"].as_str().unwrap(),
        "cancel",
        json!({ "reason": "Сотрудник заболел" }),
    )
    .await
    .expect(StatusCode::OK);
    let mails = w.app.mails_to("omar@example.org").await;
    assert_eq!(mails.len(), 3, "two bookings and a cancellation");
    assert!(
        mails
            .iter()
            .any(|m| crate::helpers::text_body(m).contains("Сотрудник заболел")),
        "the cancellation gives the reason"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_walk_in_without_email_gets_no_mail_and_needs_a_name_and_an_identity_number(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let a = w
        .book_walk_in(
            &w.at(2, "09:00"),
            json!({ "full_name": "Huda Saleh", "national_number": "01020304050" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(a["applicant"]["national_number"], "01020304050");
    assert_eq!(
        w.app
            .count(&format!(
                "SELECT count(*) FROM notifications WHERE payload->>'appointment_id' = '{}'",
                a["id"].as_str().unwrap()
            ))
            .await,
        0
    );
    w.staff_on(
        a["id"].as_str().unwrap(),
        "cancel",
        json!({ "reason": "left" }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM notifications WHERE user_id IS NULL")
            .await,
        0,
        "nobody to write to"
    );

    let p = w
        .book_walk_in(&w.at(2, "09:30"), json!({ "phone": "+79001234567" }))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        crate::helpers::strings(&p["errors"], "/field"),
        ["applicant.full_name", "applicant.passport_number"]
    );
    let p = w
        .book_walk_in(&w.at(2, "09:30"), Value::Null)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        crate::helpers::strings(&p["errors"], "/field"),
        ["applicant.full_name", "applicant.passport_number"]
    );
    let p = w
        .book_walk_in(
            &w.at(2, "09:30"),
            json!({ "full_name": "Huda Saleh", "passport_number": "H7654321",
                    "email": "not-an-address", "preferred_language": "fr" }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        crate::helpers::strings(&p["errors"], "/field"),
        ["applicant.email", "applicant.preferred_language"]
    );
    // With an account named, the contact is the account's own.
    let citizen_id = w.app.user_id(&w.citizen).await;
    let p = w
        .app
        .post(
            "/api/v1/admin/appointments",
            Some(&w.officer),
            json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:30"),
                    "reason": "phone call", "citizen_id": citizen_id,
                    "applicant": { "email": "other@example.org" } }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(p["errors"][0]["field"], "citizen_id");
    assert_eq!(
        w.app.count("SELECT count(*) FROM appointments").await,
        1,
        "nothing booked by the refused requests"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_per_identity_cap_holds_across_a_walk_in_and_a_citizen_booking(pool: PgPool) {
    let w = World::new(pool).await;
    let own = crate::helpers::own_passport(World::CITIZEN);
    w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.book_walk_in(
        &w.at(3, "09:00"),
        json!({ "full_name": "Amal Haddad", "passport_number": own }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");

    w.book_walk_in(
        &w.at(3, "09:00"),
        json!({ "full_name": "Sami Haddad", "passport_number": "S1234567" }),
    )
    .await
    .expect(StatusCode::CREATED);
    let other = w.app.quick_citizen("sami@example.org").await;
    w.book_for(
        &other,
        &w.service,
        &w.at(4, "09:00"),
        Some(json!({ "passport_number": "S1234567" })),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");
    w.book_walk_in(
        &w.at(4, "09:00"),
        json!({ "full_name": "Sami Haddad", "passport_number": "s 123 4567" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");
    // The grid still holds for a walk-in.
    w.book_walk_in(
        &w.at(4, "09:10"),
        json!({ "full_name": "Nour Haddad", "passport_number": "N9876543" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "off_grid");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_walk_in_has_no_account_to_confirm_with_and_is_neither_asked_nor_released(pool: PgPool) {
    let w = World::new(pool).await;
    w.patch_service(json!({ "confirmation_required": true }))
        .await;
    // Day 4, 09:00: the window opens on day 1 at 09:00 and closes on day 3 at 09:00.
    let a = w
        .book_walk_in(
            &w.at(4, "09:00"),
            json!({ "full_name": "Omar Khalil", "passport_number": "W1234567",
                    "email": "omar@example.org" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = a["id"].as_str().unwrap().to_owned();
    w.app.clock.advance(chrono::Duration::days(1));
    assert_eq!(w.app.run_waitlist().await.requested, 0);
    w.app.clock.advance(chrono::Duration::days(2));
    assert_eq!(w.app.run_waitlist().await.released, 0);
    assert_eq!(w.confirmation_requests(&id).await, 0);
    assert!(w.is_booked(&id).await);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_new_bookings_answer_is_the_appointment_as_read_back(pool: PgPool) {
    let w = World::new(pool).await;
    w.patch_service(json!({ "confirmation_required": true }))
        .await;
    // The answer is built from what the insert wrote, off a whole second here, and must be what
    // reading the appointment returns.
    w.app
        .clock
        .advance(chrono::Duration::nanoseconds(123_456_789));
    let parent = w.app.quick_citizen("parent@example.org").await;
    let child =
        json!({ "full_name": "Omar Haddad", "relation": "child", "passport_number": "N1234567" });
    // Day 2 lies inside its confirmation window (confirmed on entry), day 4 before it.
    let answers = [
        (
            &w.citizen,
            w.book(&w.citizen, &w.at(2, "09:00"))
                .await
                .expect(StatusCode::CREATED),
        ),
        (
            &parent,
            w.book_for(&parent, &w.service, &w.at(4, "09:30"), Some(child))
                .await
                .expect(StatusCode::CREATED),
        ),
    ];
    assert_ne!(answers[0].1["confirmed_at"], Value::Null);
    assert_eq!(answers[1].1["confirmed_at"], Value::Null);
    assert_eq!(answers[1].1["applicant"]["relation"], "child");
    for (token, answer) in answers {
        let id = answer["id"].as_str().unwrap();
        let read = w
            .app
            .get(&format!("/api/v1/appointments/{id}"), Some(token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(answer, read);
    }
}
