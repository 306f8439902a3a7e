//! Booking, the fair-use rules, cancel, reschedule and the staff lifecycle through HTTP on real
//! PostgreSQL, with time frozen on a Monday at 11:00 Moscow time.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::NaiveDate;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{html_body, strings, text_body, with_token, Resp, TestApp, World, PASSWORD};

fn born(date: &str) -> Value {
    json!({ "applicant_date_of_birth": date })
}

/// A notification about an appointment, as booking queued it.
#[derive(sqlx::FromRow)]
struct Queued {
    kind: String,
    status: String,
    payload: Value,
    dedupe_key: Option<String>,
}

/// The notifications about `appointment`, by kind and status.
async fn notifications(app: &TestApp, appointment: &str) -> Vec<Queued> {
    sqlx::query_as(
        "SELECT kind, status, payload, dedupe_key FROM notifications
         WHERE payload->>'appointment_id' = $1 ORDER BY kind, status",
    )
    .bind(appointment)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

fn kinds(queued: &[Queued]) -> Vec<(&str, &str)> {
    queued
        .iter()
        .map(|q| (q.kind.as_str(), q.status.as_str()))
        .collect()
}

impl World {
    async fn cancel(&self, token: &str, id: &str, body: Value) -> Resp {
        let path = format!("/api/v1/appointments/{id}/cancel");
        self.app.post(&path, Some(token), body).await
    }

    async fn reschedule(&self, token: &str, id: &str, start: &str) -> Resp {
        let path = format!("/api/v1/appointments/{id}/reschedule");
        self.app
            .post(&path, Some(token), json!({ "start": start }))
            .await
    }

    /// A staff step (`check-in`, `complete`, `no-show`, `cancel`) on an appointment.
    async fn step(&self, token: &str, id: &str, action: &str, body: Value) -> Resp {
        let path = format!("/api/v1/admin/appointments/{id}/{action}");
        self.app.post(&path, Some(token), body).await
    }

    /// Closes MOW on `day`; returns the admin answer.
    async fn close(&self, day: NaiveDate, reason: &str) -> Value {
        self.app
            .post(
                &format!("/api/v1/admin/offices/{}/closures", self.office),
                Some(&self.admin),
                json!({ "date": day, "reason": reason }),
            )
            .await
            .expect(StatusCode::CREATED)
    }

    async fn agenda(&self, token: &str, day: NaiveDate) -> Resp {
        let path = format!("/api/v1/admin/offices/{}/agenda?date={day}", self.office);
        self.app.get(&path, Some(token)).await
    }

    /// The audit log as the admin reads it, `query` included.
    async fn audit_log(&self, query: &str) -> Resp {
        let path = format!("/api/v1/admin/audit-log{query}");
        self.app.get(&path, Some(&self.admin)).await
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn booking_a_free_slot_answers_201_with_a_reference_and_queues_its_mails(pool: PgPool) {
    let w = World::new(pool).await;
    let wed = w.at(2, "09:00");
    let a = w.book(&w.citizen, &wed).await.expect(StatusCode::CREATED);
    assert_eq!(a["start"], wed);
    assert_eq!(a["end"], w.at(2, "09:30"));
    assert_eq!(a["timezone"], "Europe/Moscow");
    assert!(a["created_at"].as_str().unwrap().ends_with("+03:00"), "{a}");
    assert_eq!(a["status"], "booked");
    assert_eq!(a["sequence"], 0);
    assert_eq!(a["applicant"]["relation"], "self");
    assert_eq!(a["applicant"]["full_name"], "Amal Haddad");
    let reference = a["reference"].as_str().unwrap();
    let alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let parts: Vec<&str> = reference.split('-').collect();
    assert_eq!(parts.len(), 3, "{reference}");
    assert_eq!(parts[0], "MOW");
    assert!(
        parts[1..]
            .iter()
            .all(|p| p.len() == 4 && p.chars().all(|c| alphabet.contains(c))),
        "{reference}"
    );

    let id = a["id"].as_str().unwrap();
    let detail = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(detail["reference"], reference);
    let list = w
        .app
        .get("/api/v1/appointments", Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"][0]["id"], id);

    let day = w.day(2);
    let avail = w
        .app
        .get(
            &format!(
                "/api/v1/offices/{}/availability?service_id={}&from={day}&to={day}",
                w.office, w.service
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        avail["slots"][0],
        json!({ "start": wed, "end": w.at(2, "09:30"), "remaining": 1 })
    );

    let mails = notifications(&w.app, id).await;
    assert_eq!(
        kinds(&mails),
        [
            ("appointment_booked", "pending"),
            ("appointment_reminder", "pending")
        ]
    );
    let booked = &mails[0].payload;
    assert_eq!(booked["reference"], reference);
    assert_eq!(booked["sequence"], 0);
    assert_eq!(booked["start"], wed);
    assert_eq!(booked["office"]["code"], "MOW");
    assert_eq!(booked["service"]["fee_amount"], "25.00");
    assert_eq!(booked["service"]["required_documents"][0]["ru"], "Паспорт");
    assert_eq!(booked["applicant_name"], "Amal Haddad");
    let start_utc = format!("{}T06:00:00Z", w.day(2));
    assert_eq!(
        mails[1].dedupe_key.as_deref(),
        Some(format!("reminder:{id}:{start_utc}").as_str())
    );
    let due: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM notifications WHERE kind = 'appointment_reminder'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(due.to_rfc3339(), format!("{}T06:00:00+00:00", w.day(1)));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn slots_off_the_grid_closed_too_soon_or_too_far_are_refused_each_with_its_code(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    for off in [
        w.at(2, "09:10"),
        w.at(2, "13:00"),
        w.at(2, "15:00"),
        w.at(5, "09:00"),
        format!("{}T09:00:00+04:00", w.day(2)),
    ] {
        w.book(&w.citizen, &off)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "off_grid");
    }
    w.close(w.day(3), "Holiday").await;
    w.book(&w.citizen, &w.at(3, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "office_closed");
    // Tuesday 09:00 is 22 hours after Monday 11:00; the service needs 24.
    w.book(&w.citizen, &w.at(1, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "too_soon");
    w.book(&w.citizen, &w.at(-7, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "too_soon");
    // Nine weeks ahead is past the 60 days of advance booking.
    w.book(&w.citizen, &w.at(63, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "too_far");
    let r = w.book(&w.citizen, &w.at(1, "14:00")).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "Tuesday 14:00 is 27 hours ahead: {}",
        r.body
    );
    assert_eq!(w.app.count("SELECT count(*) FROM appointments").await, 1);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn booking_needs_a_verified_email(pool: PgPool) {
    let w = World::new(pool).await;
    w.app.register("new@example.org", "ru").await;
    let token = w.app.access_token("new@example.org", PASSWORD).await;
    w.book(&token, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "email_not_verified");
    w.book(&w.admin, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.app
        .post("/api/v1/appointments", None, json!({}))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_citizen_holds_at_most_two_future_bookings_and_one_per_service(pool: PgPool) {
    let w = World::new(pool).await;
    let b = w.scheduled_service("legalisation").await;
    let c = w.scheduled_service("power-of-attorney").await;
    let first = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.book(&w.citizen, &w.at(3, "09:00"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "service_limit");
    w.book_for(&w.citizen, &b, &w.at(2, "10:00"), None)
        .await
        .expect(StatusCode::CREATED);
    w.book_for(&w.citizen, &c, &w.at(2, "11:00"), None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "citizen_limit");

    w.cancel(&w.citizen, &first, json!({}))
        .await
        .expect(StatusCode::OK);
    let r = w.book_for(&w.citizen, &c, &w.at(2, "11:00"), None).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "a cancelled booking no longer counts: {}",
        r.body
    );

    // Past bookings do not count either: two weeks later both are history.
    w.app.clock.advance(chrono::Duration::days(14));
    let token = w.app.access_token(World::CITIZEN, PASSWORD).await;
    w.book(&token, &w.at(16, "09:00"))
        .await
        .expect(StatusCode::CREATED);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_passport_holds_one_future_booking_per_service_across_accounts(pool: PgPool) {
    let w = World::new(pool).await;
    let other_service = w.scheduled_service("legalisation").await;
    let parent = w.app.quick_citizen("parent@example.org").await;
    let reseller = w.app.quick_citizen("reseller@example.org").await;
    let child =
        json!({ "full_name": "Omar Haddad", "relation": "child", "passport_number": "N1234567" });
    let a = w
        .book_for(&parent, &w.service, &w.at(2, "09:00"), Some(child))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        a["applicant"],
        json!({ "full_name": "Omar Haddad", "relation": "child", "passport_number": "N1234567",
                "national_number": null })
    );

    let same_passport =
        json!({ "full_name": "Omar Haddad", "relation": "other", "passport_number": "n123 4567" });
    w.book_for(
        &reseller,
        &w.service,
        &w.at(3, "09:00"),
        Some(same_passport.clone()),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");
    // The citizen's own passport, without a family applicant, is held to the same rule.
    w.book_for(
        &reseller,
        &w.service,
        &w.at(3, "09:00"),
        Some(json!({ "passport_number": "N1234567" })),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "passport_limit");
    let r = w
        .book_for(
            &reseller,
            &other_service,
            &w.at(3, "09:00"),
            Some(same_passport),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "another service is another count"
    );
    w.book_for(
        &reseller,
        &w.service,
        &w.at(3, "10:00"),
        Some(json!({ "full_name": "X", "relation": "cousin" })),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_full_slot_is_409_and_lowering_capacity_keeps_existing_bookings(pool: PgPool) {
    let w = World::new(pool).await;
    let slot = w.at(2, "09:00");
    let two = w.app.quick_citizen("two@example.org").await;
    let three = w.app.quick_citizen("three@example.org").await;
    let first = w.booked(&w.citizen, &slot).await;
    w.booked(&two, &slot).await;
    w.book(&three, &slot)
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");

    let put = w.schedule(&w.service, 1, World::hours()).await;
    assert_eq!(
        put["affected_bookings"], 0,
        "both bookings are still on the grid"
    );
    let live = w
        .app
        .count("SELECT count(*) FROM appointments WHERE status = 'booked'")
        .await;
    assert_eq!(live, 2, "lowering capacity drops no booking");

    w.cancel(&w.citizen, &first, json!({}))
        .await
        .expect(StatusCode::OK);
    w.book(&three, &slot)
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body(pool: PgPool) {
    let w = World::with_capacity(pool, 5).await;
    let other = w.app.quick_citizen("omar@example.org").await;
    let body = json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00") });
    let send = |token: &str, body: Value| {
        let req = TestRequest::post()
            .uri("/api/v1/appointments")
            .insert_header(("Idempotency-Key", "k-1"))
            .set_json(body);
        w.app.call(with_token(req, Some(token)))
    };
    let a1 = send(&w.citizen, body.clone())
        .await
        .expect(StatusCode::CREATED);
    let replay = send(&w.citizen, body.clone()).await;
    let a2 = replay.expect(StatusCode::CREATED);
    assert_eq!(a1, a2, "the first answer, replayed");
    assert_eq!(replay.header("idempotent-replayed"), "true");
    assert_eq!(w.app.count("SELECT count(*) FROM appointments").await, 1);

    let mut changed = body.clone();
    changed["start"] = json!(w.at(2, "09:30"));
    send(&w.citizen, changed)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");

    let a3 = send(&other, body).await.expect(StatusCode::CREATED);
    assert_ne!(a3["id"], a1["id"], "keys are per citizen");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_key_recorded_by_the_previous_release_still_replays(pool: PgPool) {
    let w = World::new(pool).await;
    let body = json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00") });
    let send = || {
        let req = TestRequest::post()
            .uri("/api/v1/appointments")
            .insert_header(("Idempotency-Key", "k-old"))
            .set_json(body.clone());
        w.app.call(with_token(req, Some(&w.citizen)))
    };
    let first = send().await.expect(StatusCode::CREATED);
    let rewritten = w
        .app
        .count(
            "WITH old AS (UPDATE idempotency_keys SET response_status = 201,
                 response_body = jsonb_build_object('id', appointment_id), appointment_id = NULL
               RETURNING 1)
             SELECT count(*) FROM old",
        )
        .await;
    assert_eq!(rewritten, 1);
    let replay = send().await.expect(StatusCode::CREATED);
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(w.app.count("SELECT count(*) FROM appointments").await, 1);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn another_citizens_appointment_is_404_everywhere(pool: PgPool) {
    let w = World::new(pool).await;
    let stranger = w.app.quick_citizen("stranger@example.org").await;
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.app
        .get(&format!("/api/v1/appointments/{id}"), Some(&stranger))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    w.cancel(&stranger, &id, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    w.reschedule(&stranger, &id, &w.at(3, "09:00"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let list = w
        .app
        .get("/api/v1/appointments", Some(&stranger))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"], json!([]));
    let mine = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine["status"], "booked");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn cancelling_releases_the_slot_withdraws_the_reminder_and_mails_the_citizen(pool: PgPool) {
    let w = World::with_capacity(pool, 1).await;
    let slot = w.at(2, "09:00");
    let two = w.app.quick_citizen("two@example.org").await;
    let id = w.booked(&w.citizen, &slot).await;
    w.book(&two, &slot)
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");
    let a = w
        .cancel(&w.citizen, &id, json!({ "reason": "Travelling" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(a["status"], "cancelled");
    assert_eq!(a["cancelled_by"], "citizen");
    assert_eq!(a["sequence"], 1);
    let mails = notifications(&w.app, &id).await;
    assert_eq!(
        kinds(&mails),
        [
            ("appointment_booked", "pending"),
            ("appointment_cancelled", "pending"),
            ("appointment_reminder", "cancelled")
        ]
    );
    assert_eq!(mails[1].payload["cancelled_by"], "citizen");
    assert_eq!(mails[1].payload["reason"], "Travelling");
    assert_eq!(mails[1].payload["sequence"], 1);

    // Once its cool-down (the service default, 30 minutes) has passed and no waitlist entry
    // wanted it.
    w.app.clock.advance(chrono::Duration::minutes(30));
    w.app.run_waitlist().await;
    let r = w.book(&two, &slot).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "the cancelled booking's desk is free again"
    );
    w.cancel(&w.citizen, &id, json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn rescheduling_is_atomic_and_a_full_target_leaves_the_booking_untouched(pool: PgPool) {
    let w = World::with_capacity(pool, 1).await;
    let two = w.app.quick_citizen("two@example.org").await;
    let three = w.app.quick_citizen("three@example.org").await;
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.booked(&two, &w.at(2, "09:30")).await;

    w.reschedule(&w.citizen, &id, &w.at(2, "09:30"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");
    w.reschedule(&w.citizen, &id, &w.at(2, "09:15"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "off_grid");
    let kept = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(kept["start"], w.at(2, "09:00"));
    assert_eq!(kept["sequence"], 0);
    w.book(&three, &w.at(2, "09:00"))
        .await
        .expect_problem(StatusCode::CONFLICT, "slot_full");

    let moved = w
        .reschedule(&w.citizen, &id, &w.at(3, "10:00"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["start"], w.at(3, "10:00"));
    assert_eq!(moved["sequence"], 1);
    assert_eq!(moved["reference"], kept["reference"]);
    w.app.clock.advance(chrono::Duration::minutes(30));
    w.app.run_waitlist().await;
    let r = w.book(&three, &w.at(2, "09:00")).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "the old slot is released, after its cool-down"
    );

    let mails = notifications(&w.app, &id).await;
    assert_eq!(
        kinds(&mails),
        [
            ("appointment_booked", "pending"),
            ("appointment_reminder", "cancelled"),
            ("appointment_reminder", "pending"),
            ("appointment_rescheduled", "pending"),
        ]
    );
    let rescheduled = &mails[3].payload;
    assert_eq!(rescheduled["previous_start"], w.at(2, "09:00"));
    assert_eq!(rescheduled["start"], w.at(3, "10:00"));
    assert_eq!(rescheduled["sequence"], 1);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn staff_walk_the_lifecycle_and_illegal_steps_are_409_with_the_allowed_ones(pool: PgPool) {
    let w = World::new(pool).await;
    let officer = &w.officer;
    let other = w.app.quick_citizen("omar@example.org").await;
    let a = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let b = w.booked(&other, &w.at(2, "09:00")).await;

    w.step(&w.citizen, &a, "check-in", json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let checked_in = w
        .step(officer, &a, "check-in", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(checked_in["status"], "checked_in");
    let illegal = w
        .step(officer, &a, "no-show", json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(illegal["from"], "checked_in");
    assert_eq!(illegal["to"], "no_show");
    assert_eq!(illegal["allowed"], json!(["completed"]));
    let completed = w
        .step(officer, &a, "complete", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(completed["status"], "completed");
    let done = w
        .step(officer, &a, "cancel", json!({ "reason": "late" }))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(done["allowed"], json!([]));

    w.step(officer, &b, "cancel", json!({}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let cancelled = w
        .step(
            officer,
            &b,
            "cancel",
            json!({ "reason": "Consul unavailable" }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled["cancelled_by"], "staff");
    let mails = notifications(&w.app, &b).await;
    let mail = mails
        .iter()
        .find(|m| m.kind == "appointment_cancelled")
        .expect("a cancellation mail");
    assert_eq!(mail.payload["cancelled_by"], "staff");
    assert_eq!(mail.payload["reason"], "Consul unavailable");
    w.step(officer, &b, "check-in", json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    let unknown = uuid::Uuid::new_v4().to_string();
    w.step(officer, &unknown, "check-in", json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let log = w
        .audit_log("?target_type=appointment")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        strings(&log["items"], "/action"),
        [
            "appointment.cancel",
            "appointment.complete",
            "appointment.check_in"
        ]
    );
    assert_eq!(log["items"][0]["details"]["reason"], "Consul unavailable");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_agenda_shows_the_local_day_including_bookings_a_new_schedule_left_out(pool: PgPool) {
    let w = World::new(pool).await;
    let two = w.app.quick_citizen("two@example.org").await;
    w.booked(&w.citizen, &w.at(2, "14:00")).await;
    w.booked(&two, &w.at(2, "09:00")).await;
    let put = w
        .app
        .put(
            &format!("/api/v1/admin/offices/{}/schedules/{}", w.office, w.service),
            Some(&w.admin),
            json!({
                "capacity": 2,
                "bookings": "keep",
                "weekly": { "wed": [["09:00", "13:00"]] },
            }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(put["affected_bookings"], 1);

    let wed = w.day(2);
    let agenda = w.agenda(&w.officer, wed).await.expect(StatusCode::OK);
    let got: Vec<(&str, bool)> = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["start"].as_str().unwrap(),
                i["on_schedule"].as_bool().unwrap(),
            )
        })
        .collect();
    let (nine, two_pm) = (w.at(2, "09:00"), w.at(2, "14:00"));
    assert_eq!(got, [(nine.as_str(), true), (two_pm.as_str(), false)]);
    let empty = w.agenda(&w.officer, w.day(3)).await.expect(StatusCode::OK);
    assert_eq!(empty["items"], json!([]));
    w.agenda(&w.citizen, wed)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let closure = w
        .app
        .post(
            &format!("/api/v1/admin/offices/{}/closures", w.office),
            Some(&w.admin),
            json!({ "date": wed, "reason": "Holiday", "bookings": "keep" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(closure["affected_bookings"], 2);
    let agenda = w.agenda(&w.officer, wed).await.expect(StatusCode::OK);
    assert_eq!(
        agenda["items"].as_array().unwrap().len(),
        2,
        "a closure drops no booking"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_audit_log_is_admin_only_filtered_and_paginated_newest_first(pool: PgPool) {
    let w = World::new(pool).await;
    for code in ["legalisation", "power-of-attorney", "travel-document"] {
        w.app.create_service(&w.admin, code, 20).await;
    }
    w.app
        .get("/api/v1/admin/audit-log", Some(&w.officer))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let all = w.audit_log("").await.expect(StatusCode::OK);
    assert_eq!(all["total"], 6, "office, 4 services, schedule: {all}");
    for paging in ["?per_page=201", "?per_page=0", "?page=0"] {
        w.audit_log(paging)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    w.audit_log("?per_page=200").await.expect(StatusCode::OK);
    let page1 = w
        .audit_log("?action=service.create&per_page=2")
        .await
        .expect(StatusCode::OK);
    let page2 = w
        .audit_log("?action=service.create&per_page=2&page=2")
        .await
        .expect(StatusCode::OK);
    assert_eq!(page1["total"], 4);
    assert_eq!(
        strings(&page1["items"], "/details/code"),
        ["travel-document", "power-of-attorney"]
    );
    assert_eq!(
        strings(&page2["items"], "/details/code"),
        ["legalisation", "passport-renewal"]
    );
    let admin_id = all["items"][0]["actor_id"].as_str().unwrap();
    let by_actor = w
        .audit_log(&format!("?actor_id={admin_id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_actor["total"], 6);
    let by_other = w
        .audit_log(&format!("?actor_id={}", uuid::Uuid::new_v4()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(by_other["total"], 0);
    let future = w
        .audit_log("?from=2199-01-01T00:00:00Z")
        .await
        .expect(StatusCode::OK);
    assert_eq!(future["total"], 0);
    let schedules = w
        .audit_log("?target_type=schedule")
        .await
        .expect(StatusCode::OK);
    assert_eq!(schedules["items"][0]["action"], "schedule.put");
}

/// The capacity guarantee is the database's: 32 citizens race for one slot of capacity 2
/// through two app instances, each with its own connection pool, as two server processes would.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn thirty_two_citizens_racing_through_two_instances_fill_a_slot_of_two_exactly(pool: PgPool) {
    let w = World::new(pool).await;
    let second = w.app.another_instance().await;
    let mut tokens = Vec::new();
    for i in 0..32 {
        tokens.push(w.app.quick_citizen(&format!("racer{i}@example.org")).await);
    }
    let slot = w.at(2, "09:00");
    let body = json!({ "office_id": w.office, "service_id": w.service, "start": slot });
    let requests = tokens.iter().enumerate().map(|(i, t)| {
        let app = if i % 2 == 0 { &w.app } else { &second };
        app.post("/api/v1/appointments", Some(t), body.clone())
    });
    let answers = futures_util::future::join_all(requests).await;
    let (created, refused): (Vec<_>, Vec<_>) = answers
        .iter()
        .partition(|a| a.status == StatusCode::CREATED);
    assert_eq!(
        created.len(),
        2,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for a in refused {
        a.expect_problem(StatusCode::CONFLICT, "slot_full");
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE slot_start = $1::timestamptz AND status <> 'cancelled'",
    )
    .bind(&slot)
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(rows, 2);
}

/// The citizen's own caps hold only through the citizen's lock: every request below names a
/// different applicant, so no identity lock or unique index stands between them. Twelve at
/// once through two instances, over three services, leave exactly the two future bookings a
/// citizen may hold, one per service at most.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn one_citizens_bookings_racing_through_two_instances_stop_at_the_citizens_caps(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let second = w.app.another_instance().await;
    let services = [
        w.service.clone(),
        w.scheduled_service("legalisation").await,
        w.scheduled_service("civil-registry").await,
    ];
    let requests = (0..12usize).map(|i| {
        let body = json!({
            "office_id": w.office,
            "service_id": services[i % 3],
            "start": w.at(2 + (i / 4) as i64, ["09:00", "10:00", "11:00", "12:00"][i % 4]),
            "applicant": { "full_name": format!("Child {i}"), "relation": "child",
                           "passport_number": format!("N70000{i:02}") },
        });
        let app = if i % 2 == 0 { &w.app } else { &second };
        app.post("/api/v1/appointments", Some(&w.citizen), body)
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut created = Vec::new();
    for a in &answers {
        match a.status {
            StatusCode::CREATED => created.push(a.body["service_id"].as_str().unwrap().to_owned()),
            _ => {
                let code = a.body["code"].as_str().unwrap_or_default();
                assert!(
                    ["citizen_limit", "service_limit"].contains(&code),
                    "{}: {}",
                    a.status,
                    a.body
                );
            }
        }
    }
    assert_eq!(created.len(), 2, "{created:?}");
    assert_ne!(created[0], created[1], "one per service");
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE status = 'booked' AND citizen_id IS NOT NULL",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(held, 2);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn no_reminder_is_queued_when_the_day_before_has_already_passed(pool: PgPool) {
    let w = World::new(pool).await;
    w.patch_service(json!({ "min_notice_hours": 1 })).await;
    // Monday 14:00 is three hours away.
    let id = w.booked(&w.citizen, &w.at(0, "14:00")).await;
    let mails = notifications(&w.app, &id).await;
    let kinds: Vec<&str> = mails.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds, ["appointment_booked"]);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn booking_names_an_unknown_office_or_a_service_the_office_does_not_offer(pool: PgPool) {
    let w = World::new(pool).await;
    let unscheduled = w.app.create_service(&w.admin, "travel-document", 30).await;
    w.book_for(&w.citizen, &unscheduled, &w.at(2, "09:00"), None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "service_not_offered");
    let problem = w
        .app
        .post(
            "/api/v1/appointments",
            Some(&w.citizen),
            json!({ "office_id": uuid::Uuid::new_v4(), "service_id": w.service, "start": w.at(2, "09:00") }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "office_id");
    w.app
        .post(
            "/api/v1/appointments",
            Some(&w.citizen),
            json!({ "office_id": w.office, "service_id": w.service, "start": "tomorrow" }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn check_in_opens_a_trackable_document_request_only_for_a_documentary_service(pool: PgPool) {
    let w = World::new(pool).await;
    let omar = w.app.quick_citizen("omar@example.org").await;
    let first = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let second = w.booked(&omar, &w.at(2, "09:30")).await;

    let checked_in = w
        .step(&w.officer, &first, "check-in", json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(checked_in["document_request"], Value::Null);
    let none = w
        .app
        .get("/api/v1/document-requests", Some(&w.citizen))
        .await
        .expect(StatusCode::OK);
    assert_eq!(none["items"], json!([]));

    w.service_issues_documents().await;
    let future = w.day(400).to_string();
    w.step(&w.officer, &second, "check-in", born(&future))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let checked_in = w
        .step(&w.officer, &second, "check-in", born("1990-05-17"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(checked_in["status"], "checked_in");
    let tracking = checked_in["document_request"]["tracking_number"]
        .as_str()
        .unwrap();
    assert!(tracking.starts_with("SY-MOW-"), "{tracking}");

    let list = w
        .app
        .get("/api/v1/document-requests", Some(&omar))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"][0]["tracking_number"], tracking);
    assert_eq!(list["items"][0]["appointment_id"], second.as_str());
    assert_eq!(list["items"][0]["status"], "submitted");

    let public = w
        .app
        .get(
            &format!("/api/v1/track/{tracking}?date_of_birth=1990-05-17"),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(public["status"], "submitted");
}

/// Every mail the booking and document flows queue renders with the real templates and is
/// delivered: the payloads written here are the ones the notify crate reads.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_mail_the_flows_queue_renders_and_is_delivered(pool: PgPool) {
    let w = World::new(pool).await;
    let layla = w.app.verified_citizen_in("layla@example.org", "ar").await;
    let omar = w.app.verified_citizen_in("omar@example.org", "ru").await;

    let a = w.booked(&layla, &w.at(2, "09:00")).await;
    w.reschedule(&layla, &a, &w.at(2, "10:00"))
        .await
        .expect(StatusCode::OK);
    w.cancel(&layla, &a, json!({ "reason": "travel" }))
        .await
        .expect(StatusCode::OK);
    let c = w.booked(&layla, &w.at(3, "09:00")).await;
    w.step(
        &w.officer,
        &c,
        "cancel",
        json!({ "reason": "the office closes early that day" }),
    )
    .await
    .expect(StatusCode::OK);

    w.service_issues_documents().await;
    let b = w.booked(&omar, &w.at(2, "09:30")).await;
    let checked_in = w
        .step(&w.officer, &b, "check-in", born("1988-02-29"))
        .await
        .expect(StatusCode::OK);
    let request = checked_in["document_request"]["id"].as_str().unwrap();
    w.app
        .post(
            &format!("/api/v1/admin/document-requests/{request}/transition"),
            Some(&w.officer),
            json!({ "to": "under_review", "public_note": "documents received" }),
        )
        .await
        .expect(StatusCode::OK);

    // Past the day-before mark, the remaining booking's reminder is due too.
    w.app.clock.advance(chrono::Duration::days(2));
    w.app.deliver_mail().await;

    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT kind, status, last_error FROM notifications ORDER BY created_at, kind",
    )
    .fetch_all(&w.app.pool)
    .await
    .unwrap();
    let failed: Vec<_> = rows
        .iter()
        .filter(|(_, status, _)| status == "failed")
        .collect();
    assert!(failed.is_empty(), "mails that did not render: {failed:?}");
    let sent = |kind: &str| {
        rows.iter()
            .filter(|(k, s, _)| k == kind && s == "sent")
            .count()
    };
    assert_eq!(sent("appointment_booked"), 3, "{rows:?}");
    assert_eq!(sent("appointment_rescheduled"), 1, "{rows:?}");
    assert_eq!(sent("appointment_cancelled"), 2, "{rows:?}");
    assert_eq!(sent("appointment_reminder"), 1, "{rows:?}");
    assert_eq!(sent("document_status_changed"), 1, "{rows:?}");

    let arabic = w.app.mails_to("layla@example.org").await;
    assert_eq!(arabic.len(), 1 + 5, "verification, then 5 booking mails");
    for mail in &arabic {
        assert!(html_body(mail).contains("dir=\"rtl\""));
    }
    let russian = w.app.mails_to("omar@example.org").await;
    assert!(russian
        .iter()
        .any(|m| text_body(m).contains("documents received")));
}
