//! Booking, the fair-use rules, cancel, reschedule and the staff lifecycle through HTTP on real
//! PostgreSQL, with time frozen on a Monday at 11:00 Moscow time.

use crate::helpers::{assert_problem, with_token, Resp, TestApp};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

type Pool = sqlx::PgPool;

struct World {
    app: TestApp,
    admin: String,
    office: String,
    service: String,
    monday: NaiveDate,
}

impl World {
    /// MOW (Europe/Moscow) with one 30-minute service, Monday–Friday 09:00–13:00 and 14:00–15:00.
    async fn new(pool: Pool, capacity: i64) -> Self {
        let app = TestApp::new(pool).await;
        let monday = app.freeze_on_next_monday();
        let admin = app.admin().await;
        let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
        let service = app.create_service(&admin, "passport-renewal", 30).await;
        app.weekday_schedule(
            &admin,
            &office,
            &service,
            capacity,
            json!([["09:00", "13:00"], ["14:00", "15:00"]]),
        )
        .await;
        Self {
            app,
            admin,
            office,
            service,
            monday,
        }
    }

    /// A local Moscow time `days` after the frozen Monday, as the API writes it.
    fn at(&self, days: i64, hm: &str) -> String {
        format!("{}T{hm}:00+03:00", self.monday + Duration::days(days))
    }

    async fn book(&self, token: &str, start: &str) -> Resp {
        self.book_for(token, &self.service, start, None).await
    }

    async fn book_for(
        &self,
        token: &str,
        service: &str,
        start: &str,
        applicant: Option<Value>,
    ) -> Resp {
        let mut body = json!({ "office_id": self.office, "service_id": service, "start": start });
        if let Some(a) = applicant {
            body["applicant"] = a;
        }
        self.app
            .post("/api/v1/appointments", Some(token), body)
            .await
    }

    async fn booked(&self, token: &str, start: &str) -> String {
        let (s, body, _) = self.book(token, start).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn service(&self, code: &str) -> String {
        let id = self.app.create_service(&self.admin, code, 30).await;
        self.app
            .weekday_schedule(
                &self.admin,
                &self.office,
                &id,
                2,
                json!([["09:00", "13:00"]]),
            )
            .await;
        id
    }

    async fn notifications(
        &self,
        appointment: &str,
    ) -> Vec<(String, String, Value, Option<String>)> {
        sqlx::query_as(
            "SELECT kind, status, payload, dedupe_key FROM notifications
             WHERE payload->>'appointment_id' = $1 ORDER BY kind, status",
        )
        .bind(appointment)
        .fetch_all(&self.app.pool)
        .await
        .unwrap()
    }
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn booking_a_free_slot_answers_201_with_a_reference_and_queues_its_mails(pool: Pool) {
    let w = World::new(pool, 2).await;
    let citizen = w.app.verified_citizen("amal@example.org").await;
    let wed = w.at(2, "09:00");
    let (s, a, _) = w.book(&citizen, &wed).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
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
    let (s, detail, _) = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&citizen))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["reference"], reference);
    let (_, list, _) = w.app.get("/api/v1/appointments", Some(&citizen)).await;
    assert_eq!(list["items"][0]["id"], id);

    let day = w.monday + Duration::days(2);
    let (_, avail, _) = w
        .app
        .get(
            &format!(
                "/api/v1/offices/{}/availability?service_id={}&from={day}&to={day}",
                w.office, w.service
            ),
            None,
        )
        .await;
    assert_eq!(
        avail["slots"][0],
        json!({ "start": wed, "end": w.at(2, "09:30"), "remaining": 1 })
    );

    let mails = w.notifications(id).await;
    let kinds: Vec<(&str, &str)> = mails
        .iter()
        .map(|(k, s, _, _)| (k.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("appointment_booked", "pending"),
            ("appointment_reminder", "pending")
        ]
    );
    let booked = &mails[0].2;
    assert_eq!(booked["reference"], reference);
    assert_eq!(booked["sequence"], 0);
    assert_eq!(booked["start"], wed);
    assert_eq!(booked["office"]["code"], "MOW");
    assert_eq!(booked["service"]["fee_amount"], "25.00");
    assert_eq!(booked["service"]["required_documents"][0]["ru"], "Паспорт");
    assert_eq!(booked["applicant_name"], "Amal Haddad");
    let start_utc = format!("{}T06:00:00Z", w.monday + Duration::days(2));
    assert_eq!(
        mails[1].3.as_deref(),
        Some(format!("reminder:{id}:{start_utc}").as_str())
    );
    let due: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT next_attempt_at FROM notifications WHERE kind = 'appointment_reminder'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(
        due.to_rfc3339(),
        format!("{}T06:00:00+00:00", w.monday + Duration::days(1))
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn slots_off_the_grid_closed_too_soon_or_too_far_are_refused_each_with_its_code(pool: Pool) {
    let w = World::new(pool, 2).await;
    let citizen = w.app.quick_citizen("amal@example.org").await;
    for off in [
        w.at(2, "09:10"),
        w.at(2, "13:00"),
        w.at(2, "15:00"),
        w.at(5, "09:00"),
        format!("{}T09:00:00+04:00", w.monday + Duration::days(2)),
    ] {
        assert_problem(
            &w.book(&citizen, &off).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "off_grid",
        );
    }
    let thu = w.monday + Duration::days(3);
    let (s, _, _) = w
        .app
        .post(
            &format!("/api/v1/admin/offices/{}/closures", w.office),
            Some(&w.admin),
            json!({ "date": thu, "reason": "Holiday" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_problem(
        &w.book(&citizen, &w.at(3, "09:00")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "office_closed",
    );
    // Tuesday 09:00 is 22 hours after Monday 11:00; the service needs 24.
    assert_problem(
        &w.book(&citizen, &w.at(1, "09:00")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_soon",
    );
    assert_problem(
        &w.book(&citizen, &w.at(-7, "09:00")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_soon",
    );
    // Nine weeks ahead is past the 60 days of advance booking.
    assert_problem(
        &w.book(&citizen, &w.at(63, "09:00")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_far",
    );
    let (s, body, _) = w.book(&citizen, &w.at(1, "14:00")).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "Tuesday 14:00 is 27 hours ahead: {body}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn booking_needs_a_verified_email(pool: Pool) {
    let w = World::new(pool, 2).await;
    w.app.register("new@example.org", "ru").await;
    let token = w
        .app
        .access_token("new@example.org", crate::helpers::PASSWORD)
        .await;
    assert_problem(
        &w.book(&token, &w.at(2, "09:00")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "email_not_verified",
    );
    assert_problem(
        &w.book(&w.admin, &w.at(2, "09:00")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &w.app.post("/api/v1/appointments", None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn a_citizen_holds_at_most_two_future_bookings_and_one_per_service(pool: Pool) {
    let w = World::new(pool, 2).await;
    let b = w.service("legalisation").await;
    let c = w.service("power-of-attorney").await;
    let citizen = w.app.quick_citizen("amal@example.org").await;
    let first = w.booked(&citizen, &w.at(2, "09:00")).await;
    assert_problem(
        &w.book(&citizen, &w.at(3, "09:00")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_limit",
    );
    let (s, _, _) = w.book_for(&citizen, &b, &w.at(2, "10:00"), None).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_problem(
        &w.book_for(&citizen, &c, &w.at(2, "11:00"), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "citizen_limit",
    );

    let (s, _, _) = w
        .app
        .post(
            &format!("/api/v1/appointments/{first}/cancel"),
            Some(&citizen),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body, _) = w.book_for(&citizen, &c, &w.at(2, "11:00"), None).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "a cancelled booking no longer counts: {body}"
    );

    // Past bookings do not count either: two weeks later both are history.
    w.app.clock.advance(Duration::days(14));
    let token = w
        .app
        .access_token("amal@example.org", crate::helpers::PASSWORD)
        .await;
    let (s, body, _) = w.book(&token, &w.at(16, "09:00")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn a_passport_holds_one_future_booking_per_service_across_accounts(pool: Pool) {
    let w = World::new(pool, 2).await;
    let other_service = w.service("legalisation").await;
    let parent = w.app.quick_citizen("parent@example.org").await;
    let reseller = w.app.quick_citizen("reseller@example.org").await;
    let child =
        json!({ "full_name": "Omar Haddad", "relation": "child", "passport_number": "N1234567" });
    let (s, a, _) = w
        .book_for(&parent, &w.service, &w.at(2, "09:00"), Some(child))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(
        a["applicant"],
        json!({ "full_name": "Omar Haddad", "relation": "child", "passport_number": "N1234567" })
    );

    let same_passport =
        json!({ "full_name": "Omar Haddad", "relation": "other", "passport_number": "n123 4567" });
    assert_problem(
        &w.book_for(
            &reseller,
            &w.service,
            &w.at(3, "09:00"),
            Some(same_passport.clone()),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "passport_limit",
    );
    // The citizen's own passport, without a family applicant, is held to the same rule.
    assert_problem(
        &w.book_for(
            &reseller,
            &w.service,
            &w.at(3, "09:00"),
            Some(json!({ "passport_number": "N1234567" })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "passport_limit",
    );
    let (s, _, _) = w
        .book_for(
            &reseller,
            &other_service,
            &w.at(3, "09:00"),
            Some(same_passport),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "another service is another count");
    let bad = w
        .book_for(
            &reseller,
            &w.service,
            &w.at(3, "10:00"),
            Some(json!({ "full_name": "X", "relation": "cousin" })),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn a_full_slot_is_409_and_lowering_capacity_keeps_existing_bookings(pool: Pool) {
    let w = World::new(pool, 2).await;
    let slot = w.at(2, "09:00");
    let one = w.app.quick_citizen("one@example.org").await;
    let two = w.app.quick_citizen("two@example.org").await;
    let three = w.app.quick_citizen("three@example.org").await;
    let first = w.booked(&one, &slot).await;
    w.booked(&two, &slot).await;
    assert_problem(
        &w.book(&three, &slot).await,
        StatusCode::CONFLICT,
        "slot_full",
    );

    let put = w
        .app
        .weekday_schedule(
            &w.admin,
            &w.office,
            &w.service,
            1,
            json!([["09:00", "13:00"], ["14:00", "15:00"]]),
        )
        .await;
    assert_eq!(
        put["affected_bookings"], 0,
        "both bookings are still on the grid"
    );
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments WHERE status = 'booked'")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(live, 2, "lowering capacity drops no booking");

    let (s, _, _) = w
        .app
        .post(
            &format!("/api/v1/appointments/{first}/cancel"),
            Some(&one),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_problem(
        &w.book(&three, &slot).await,
        StatusCode::CONFLICT,
        "slot_full",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body(pool: Pool) {
    let w = World::new(pool, 5).await;
    let citizen = w.app.quick_citizen("amal@example.org").await;
    let other = w.app.quick_citizen("omar@example.org").await;
    let body = json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00") });
    let send = |token: String, body: Value| {
        let app = &w.app;
        async move {
            app.call(with_token(
                TestRequest::post()
                    .uri("/api/v1/appointments")
                    .insert_header(("Idempotency-Key", "k-1"))
                    .set_json(body),
                Some(&token),
            ))
            .await
        }
    };
    let (s1, a1, _) = send(citizen.clone(), body.clone()).await;
    assert_eq!(s1, StatusCode::CREATED, "{a1}");
    let (s2, a2, h2) = send(citizen.clone(), body.clone()).await;
    assert_eq!(s2, StatusCode::CREATED);
    assert_eq!(a1, a2, "the first answer, replayed");
    assert_eq!(h2.get("idempotent-replayed").unwrap(), "true");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let mut changed = body.clone();
    changed["start"] = json!(w.at(2, "09:30"));
    assert_problem(
        &send(citizen.clone(), changed).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );

    let (s3, a3, _) = send(other, body).await;
    assert_eq!(s3, StatusCode::CREATED, "keys are per citizen: {a3}");
    assert_ne!(a3["id"], a1["id"]);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn another_citizens_appointment_is_404_everywhere(pool: Pool) {
    let w = World::new(pool, 2).await;
    let owner = w.app.quick_citizen("owner@example.org").await;
    let stranger = w.app.quick_citizen("stranger@example.org").await;
    let id = w.booked(&owner, &w.at(2, "09:00")).await;
    assert_problem(
        &w.app
            .get(&format!("/api/v1/appointments/{id}"), Some(&stranger))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &w.app
            .post(
                &format!("/api/v1/appointments/{id}/cancel"),
                Some(&stranger),
                json!({}),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &w.app
            .post(
                &format!("/api/v1/appointments/{id}/reschedule"),
                Some(&stranger),
                json!({ "start": w.at(3, "09:00") }),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, list, _) = w.app.get("/api/v1/appointments", Some(&stranger)).await;
    assert_eq!(list["items"], json!([]));
    let (_, mine, _) = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&owner))
        .await;
    assert_eq!(mine["status"], "booked");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn cancelling_releases_the_slot_withdraws_the_reminder_and_mails_the_citizen(pool: Pool) {
    let w = World::new(pool, 1).await;
    let slot = w.at(2, "09:00");
    let one = w.app.quick_citizen("one@example.org").await;
    let two = w.app.quick_citizen("two@example.org").await;
    let id = w.booked(&one, &slot).await;
    assert_problem(
        &w.book(&two, &slot).await,
        StatusCode::CONFLICT,
        "slot_full",
    );
    let (s, a, _) = w
        .app
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&one),
            json!({ "reason": "Travelling" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["status"], "cancelled");
    assert_eq!(a["cancelled_by"], "citizen");
    assert_eq!(a["sequence"], 1);
    let mails = w.notifications(&id).await;
    let kinds: Vec<(&str, &str)> = mails
        .iter()
        .map(|(k, s, _, _)| (k.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("appointment_booked", "pending"),
            ("appointment_cancelled", "pending"),
            ("appointment_reminder", "cancelled")
        ]
    );
    assert_eq!(mails[1].2["cancelled_by"], "citizen");
    assert_eq!(mails[1].2["reason"], "Travelling");
    assert_eq!(mails[1].2["sequence"], 1);

    let (s, _, _) = w.book(&two, &slot).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the cancelled booking's desk is free again"
    );
    let again = w
        .app
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&one),
            json!({}),
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "illegal_transition");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn rescheduling_is_atomic_and_a_full_target_leaves_the_booking_untouched(pool: Pool) {
    let w = World::new(pool, 1).await;
    let one = w.app.quick_citizen("one@example.org").await;
    let two = w.app.quick_citizen("two@example.org").await;
    let three = w.app.quick_citizen("three@example.org").await;
    let id = w.booked(&one, &w.at(2, "09:00")).await;
    w.booked(&two, &w.at(2, "09:30")).await;
    let path = format!("/api/v1/appointments/{id}/reschedule");

    assert_problem(
        &w.app
            .post(&path, Some(&one), json!({ "start": w.at(2, "09:30") }))
            .await,
        StatusCode::CONFLICT,
        "slot_full",
    );
    assert_problem(
        &w.app
            .post(&path, Some(&one), json!({ "start": w.at(2, "09:15") }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "off_grid",
    );
    let (_, kept, _) = w
        .app
        .get(&format!("/api/v1/appointments/{id}"), Some(&one))
        .await;
    assert_eq!(kept["start"], w.at(2, "09:00"));
    assert_eq!(kept["sequence"], 0);
    assert_problem(
        &w.book(&three, &w.at(2, "09:00")).await,
        StatusCode::CONFLICT,
        "slot_full",
    );

    let (s, moved, _) = w
        .app
        .post(&path, Some(&one), json!({ "start": w.at(3, "10:00") }))
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(moved["start"], w.at(3, "10:00"));
    assert_eq!(moved["sequence"], 1);
    assert_eq!(moved["reference"], kept["reference"]);
    let (s, _, _) = w.book(&three, &w.at(2, "09:00")).await;
    assert_eq!(s, StatusCode::CREATED, "the old slot is released");

    let mails = w.notifications(&id).await;
    let kinds: Vec<(&str, &str)> = mails
        .iter()
        .map(|(k, s, _, _)| (k.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("appointment_booked", "pending"),
            ("appointment_reminder", "cancelled"),
            ("appointment_reminder", "pending"),
            ("appointment_rescheduled", "pending"),
        ]
    );
    let rescheduled = &mails[3].2;
    assert_eq!(rescheduled["previous_start"], w.at(2, "09:00"));
    assert_eq!(rescheduled["start"], w.at(3, "10:00"));
    assert_eq!(rescheduled["sequence"], 1);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn staff_walk_the_lifecycle_and_illegal_steps_are_409_with_the_allowed_ones(pool: Pool) {
    let w = World::new(pool, 2).await;
    let officer = w.app.officer().await;
    let citizen = w.app.quick_citizen("amal@example.org").await;
    let other = w.app.quick_citizen("omar@example.org").await;
    let a = w.booked(&citizen, &w.at(2, "09:00")).await;
    let b = w.booked(&other, &w.at(2, "09:00")).await;
    let step = |id: &str, action: &str| format!("/api/v1/admin/appointments/{id}/{action}");

    assert_problem(
        &w.app
            .post(&step(&a, "check-in"), Some(&citizen), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (s, body, _) = w
        .app
        .post(&step(&a, "check-in"), Some(&officer), json!({}))
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (StatusCode::OK, Some("checked_in")),
        "{body}"
    );
    let illegal = w
        .app
        .post(&step(&a, "no-show"), Some(&officer), json!({}))
        .await;
    assert_problem(&illegal, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(illegal.1["current_status"], "checked_in");
    assert_eq!(illegal.1["allowed"], json!(["completed"]));
    let (s, body, _) = w
        .app
        .post(&step(&a, "complete"), Some(&officer), json!({}))
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (StatusCode::OK, Some("completed"))
    );
    let done = w
        .app
        .post(
            &step(&a, "cancel"),
            Some(&officer),
            json!({ "reason": "late" }),
        )
        .await;
    assert_problem(&done, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(done.1["allowed"], json!([]));

    assert_problem(
        &w.app
            .post(&step(&b, "cancel"), Some(&officer), json!({}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (s, body, _) = w
        .app
        .post(
            &step(&b, "cancel"),
            Some(&officer),
            json!({ "reason": "Consul unavailable" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["cancelled_by"], "staff");
    let mails = w.notifications(&b).await;
    let cancelled = mails
        .iter()
        .find(|m| m.0 == "appointment_cancelled")
        .expect("a cancellation mail");
    assert_eq!(cancelled.2["cancelled_by"], "staff");
    assert_eq!(cancelled.2["reason"], "Consul unavailable");
    assert_problem(
        &w.app
            .post(&step(&b, "check-in"), Some(&officer), json!({}))
            .await,
        StatusCode::CONFLICT,
        "illegal_transition",
    );
    assert_problem(
        &w.app
            .post(
                &step(&uuid::Uuid::new_v4().to_string(), "check-in"),
                Some(&officer),
                json!({}),
            )
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let (_, log, _) = w
        .app
        .get(
            "/api/v1/admin/audit-log?target_type=appointment",
            Some(&w.admin),
        )
        .await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "appointment.cancel",
            "appointment.complete",
            "appointment.check_in"
        ]
    );
    assert_eq!(log["items"][0]["details"]["reason"], "Consul unavailable");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn the_agenda_shows_the_local_day_including_bookings_a_new_schedule_left_out(pool: Pool) {
    let w = World::new(pool, 2).await;
    let officer = w.app.officer().await;
    let one = w.app.quick_citizen("one@example.org").await;
    let two = w.app.quick_citizen("two@example.org").await;
    w.booked(&one, &w.at(2, "14:00")).await;
    w.booked(&two, &w.at(2, "09:00")).await;
    let put = w
        .app
        .weekday_schedule(
            &w.admin,
            &w.office,
            &w.service,
            2,
            json!([["09:00", "13:00"]]),
        )
        .await;
    assert_eq!(put["affected_bookings"], 1);

    let wed = w.monday + Duration::days(2);
    let (s, agenda, _) = w
        .app
        .get(
            &format!("/api/v1/admin/offices/{}/agenda?date={wed}", w.office),
            Some(&officer),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{agenda}");
    let items = agenda["items"].as_array().unwrap();
    let got: Vec<(&str, bool)> = items
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
    let thu = wed + Duration::days(1);
    let (_, empty, _) = w
        .app
        .get(
            &format!("/api/v1/admin/offices/{}/agenda?date={thu}", w.office),
            Some(&officer),
        )
        .await;
    assert_eq!(empty["items"], json!([]));
    assert_problem(
        &w.app
            .get(
                &format!("/api/v1/admin/offices/{}/agenda?date={wed}", w.office),
                Some(&one),
            )
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let (s, closure, _) = w
        .app
        .post(
            &format!("/api/v1/admin/offices/{}/closures", w.office),
            Some(&w.admin),
            json!({ "date": wed, "reason": "Holiday" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(closure["affected_bookings"], 2);
    let (_, agenda, _) = w
        .app
        .get(
            &format!("/api/v1/admin/offices/{}/agenda?date={wed}", w.office),
            Some(&officer),
        )
        .await;
    assert_eq!(
        agenda["items"].as_array().unwrap().len(),
        2,
        "a closure drops no booking"
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn the_audit_log_is_admin_only_filtered_and_paginated_newest_first(pool: Pool) {
    let w = World::new(pool, 2).await;
    let officer = w.app.officer().await;
    for code in ["legalisation", "power-of-attorney", "travel-document"] {
        w.app.create_service(&w.admin, code, 20).await;
    }
    assert_problem(
        &w.app.get("/api/v1/admin/audit-log", Some(&officer)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (_, all, _) = w.app.get("/api/v1/admin/audit-log", Some(&w.admin)).await;
    assert_eq!(all["total"], 6, "office, 4 services, schedule: {all}");
    for paging in ["per_page=201", "per_page=0", "page=0"] {
        let r = w
            .app
            .get(&format!("/api/v1/admin/audit-log?{paging}"), Some(&w.admin))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let (s, _, _) = w
        .app
        .get("/api/v1/admin/audit-log?per_page=200", Some(&w.admin))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, page1, _) = w
        .app
        .get(
            "/api/v1/admin/audit-log?action=service.create&per_page=2",
            Some(&w.admin),
        )
        .await;
    let (_, page2, _) = w
        .app
        .get(
            "/api/v1/admin/audit-log?action=service.create&per_page=2&page=2",
            Some(&w.admin),
        )
        .await;
    assert_eq!(page1["total"], 4);
    let codes = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["details"]["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(codes(&page1), ["travel-document", "power-of-attorney"]);
    assert_eq!(codes(&page2), ["legalisation", "passport-renewal"]);
    let admin_id = all["items"][0]["actor_id"].as_str().unwrap();
    let (_, by_actor, _) = w
        .app
        .get(
            &format!("/api/v1/admin/audit-log?actor_id={admin_id}"),
            Some(&w.admin),
        )
        .await;
    assert_eq!(by_actor["total"], 6);
    let (_, by_other, _) = w
        .app
        .get(
            &format!("/api/v1/admin/audit-log?actor_id={}", uuid::Uuid::new_v4()),
            Some(&w.admin),
        )
        .await;
    assert_eq!(by_other["total"], 0);
    let (_, future, _) = w
        .app
        .get(
            "/api/v1/admin/audit-log?from=2999-01-01T00:00:00Z",
            Some(&w.admin),
        )
        .await;
    assert_eq!(future["total"], 0);
    let (_, schedules, _) = w
        .app
        .get(
            "/api/v1/admin/audit-log?target_type=schedule",
            Some(&w.admin),
        )
        .await;
    assert_eq!(schedules["items"][0]["action"], "schedule.put");
}

/// The capacity guarantee is the database's: 32 citizens race for one slot of capacity 2
/// through two app instances, each with its own connection pool, as two server processes would.
#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn thirty_two_citizens_racing_through_two_instances_fill_a_slot_of_two_exactly(pool: Pool) {
    let w = World::new(pool.clone(), 2).await;
    let other_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap();
    let second = TestApp::new(other_pool).await;
    second.clock.set(mawid_domain::Clock::now(&w.app.clock));
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
    let created = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        2,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for a in answers.iter().filter(|(s, _, _)| *s != StatusCode::CREATED) {
        assert_problem(a, StatusCode::CONFLICT, "slot_full");
    }
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE slot_start = $1::timestamptz AND status <> 'cancelled'",
    )
    .bind(&slot)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rows, 2);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn no_reminder_is_queued_when_the_day_before_has_already_passed(pool: Pool) {
    let w = World::new(pool, 2).await;
    let (s, _, _) = w
        .app
        .send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/admin/services/{}", w.service),
            Some(&w.admin),
            Some(json!({ "min_notice_hours": 1 })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let citizen = w.app.quick_citizen("amal@example.org").await;
    // Monday 14:00 is three hours away.
    let id = w.booked(&citizen, &w.at(0, "14:00")).await;
    let kinds: Vec<String> = w
        .notifications(&id)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(kinds, ["appointment_booked"]);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn booking_names_an_unknown_office_or_a_service_the_office_does_not_offer(pool: Pool) {
    let w = World::new(pool, 2).await;
    let citizen = w.app.quick_citizen("amal@example.org").await;
    let unscheduled = w.app.create_service(&w.admin, "travel-document", 30).await;
    assert_problem(
        &w.book_for(&citizen, &unscheduled, &w.at(2, "09:00"), None)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_not_offered",
    );
    let resp = w
        .app
        .post(
            "/api/v1/appointments",
            Some(&citizen),
            json!({ "office_id": uuid::Uuid::new_v4(), "service_id": w.service, "start": w.at(2, "09:00") }),
        )
        .await;
    assert_problem(&resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(resp.1["errors"][0]["field"], "office_id");
    let resp = w
        .app
        .post(
            "/api/v1/appointments",
            Some(&citizen),
            json!({ "office_id": w.office, "service_id": w.service, "start": "tomorrow" }),
        )
        .await;
    assert_problem(&resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn check_in_opens_a_trackable_document_request_only_for_a_documentary_service(pool: Pool) {
    let w = World::new(pool, 2).await;
    let officer = w.app.officer().await;
    let amal = w.app.quick_citizen("amal@example.org").await;
    let omar = w.app.quick_citizen("omar@example.org").await;
    let first = w.booked(&amal, &w.at(2, "09:00")).await;
    let second = w.booked(&omar, &w.at(2, "09:30")).await;
    let check_in = |id: &str| format!("/api/v1/admin/appointments/{id}/check-in");

    // The service does not produce a document yet: check-in opens nothing.
    let (s, body, _) = w
        .app
        .post(&check_in(&first), Some(&officer), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["document_request"], Value::Null);
    let (_, none, _) = w.app.get("/api/v1/document-requests", Some(&amal)).await;
    assert_eq!(none["items"], json!([]));

    let (s, body, _) = w
        .app
        .send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/admin/services/{}", w.service),
            Some(&w.admin),
            Some(json!({ "creates_document_request": true })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let future_dob =
        json!({ "applicant_date_of_birth": (w.monday + Duration::days(400)).to_string() });
    let refused = w
        .app
        .post(&check_in(&second), Some(&officer), future_dob)
        .await;
    assert_problem(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    let (s, body, _) = w
        .app
        .post(
            &check_in(&second),
            Some(&officer),
            json!({ "applicant_date_of_birth": "1990-05-17" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "checked_in");
    let tracking = body["document_request"]["tracking_number"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tracking.starts_with("SY-MOW-"), "{tracking}");

    let (_, list, _) = w.app.get("/api/v1/document-requests", Some(&omar)).await;
    assert_eq!(list["items"][0]["tracking_number"], tracking.as_str());
    assert_eq!(list["items"][0]["appointment_id"], second.as_str());
    assert_eq!(list["items"][0]["status"], "submitted");

    let (s, public, _) = w
        .app
        .get(
            &format!("/api/v1/track/{tracking}?date_of_birth=1990-05-17"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{public}");
    assert_eq!(public["status"], "submitted");
}

/// Every mail the booking and document flows queue renders with the real templates and is
/// delivered: the payloads written here are the ones the notify crate reads.
#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn every_mail_the_flows_queue_renders_and_is_delivered(pool: Pool) {
    let w = World::new(pool, 2).await;
    let officer = w.app.officer().await;
    let amal = w.app.verified_citizen_in("amal@example.org", "ar").await;
    let omar = w.app.verified_citizen_in("omar@example.org", "ru").await;

    // Citizen: book, reschedule, cancel; book again and have staff cancel it.
    let a = w.booked(&amal, &w.at(2, "09:00")).await;
    let (s, body, _) = w
        .app
        .post(
            &format!("/api/v1/appointments/{a}/reschedule"),
            Some(&amal),
            json!({ "start": w.at(2, "10:00") }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body, _) = w
        .app
        .post(
            &format!("/api/v1/appointments/{a}/cancel"),
            Some(&amal),
            json!({ "reason": "travel" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let c = w.booked(&amal, &w.at(3, "09:00")).await;
    let (s, body, _) = w
        .app
        .post(
            &format!("/api/v1/admin/appointments/{c}/cancel"),
            Some(&officer),
            json!({ "reason": "the office closes early that day" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // A documentary service: check-in opens a request, staff move it on.
    let (s, body, _) = w
        .app
        .send(
            actix_web::http::Method::PATCH,
            &format!("/api/v1/admin/services/{}", w.service),
            Some(&w.admin),
            Some(json!({ "creates_document_request": true })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let b = w.booked(&omar, &w.at(2, "09:30")).await;
    let (s, body, _) = w
        .app
        .post(
            &format!("/api/v1/admin/appointments/{b}/check-in"),
            Some(&officer),
            json!({ "applicant_date_of_birth": "1988-02-29" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let request = body["document_request"]["id"].as_str().unwrap().to_owned();
    let (s, body, _) = w
        .app
        .post(
            &format!("/api/v1/admin/document-requests/{request}/transition"),
            Some(&officer),
            json!({ "to": "under_review", "public_note": "documents received" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Past the day-before mark, the remaining booking's reminder is due too.
    w.app.clock.advance(Duration::days(2));
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

    let arabic = w.app.mails_to("amal@example.org").await;
    assert_eq!(arabic.len(), 1 + 5, "verification, then 5 booking mails");
    for mail in &arabic {
        assert!(crate::helpers::html_body(mail).contains("dir=\"rtl\""));
    }
    let russian = w.app.mails_to("omar@example.org").await;
    assert!(russian
        .iter()
        .any(|m| crate::helpers::text_body(m).contains("documents received")));
}
