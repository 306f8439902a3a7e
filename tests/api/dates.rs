//! Every date and instant in and out lies between 1900-01-01 and 2200-12-31; anything else is a
//! `422 validation_failed`, never a panic and never an extended-year string.

use actix_web::http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::World;

/// chrono's own limits, the far future and the far past, and forms only chrono would read.
const OUT_OF_RANGE: [&str; 6] = [
    "-262143-01-01",
    "+262142-12-31",
    "2201-01-01",
    "1899-12-31",
    "+2026-12-01",
    "02026-12-01",
];

fn query(raw: &str) -> String {
    raw.replace('+', "%2B")
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn availability_outside_the_calendar_is_422(pool: PgPool) {
    let w = World::new(pool).await;
    for raw in OUT_OF_RANGE {
        let d = query(raw);
        for (from, to) in [(d.clone(), d.clone()), (w.day(0).to_string(), d.clone())] {
            let path = format!(
                "/api/v1/offices/{}/availability?service_id={}&from={from}&to={to}",
                w.office, w.service
            );
            w.app
                .get(&path, None)
                .await
                .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        }
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn agenda_outside_the_calendar_is_422(pool: PgPool) {
    let w = World::new(pool).await;
    for raw in OUT_OF_RANGE {
        let path = format!(
            "/api/v1/admin/offices/{}/agenda?date={}",
            w.office,
            query(raw)
        );
        w.app
            .get(&path, Some(&w.officer))
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_closure_outside_the_calendar_is_refused_and_one_on_its_edge_answers_four_digit_years(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let closures = format!("/api/v1/admin/offices/{}/closures", w.office);
    for raw in OUT_OF_RANGE {
        let p = w
            .app
            .post(
                &closures,
                Some(&w.admin),
                json!({"date": raw, "reason": "Holiday"}),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(p["detail"].as_str().unwrap().contains("1900-01-01"), "{p}");
        w.app
            .get(&format!("{closures}?from={}", query(raw)), Some(&w.admin))
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        w.app
            .delete(&format!("{closures}/{}", query(raw)), Some(&w.admin))
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    w.app
        .post(
            &closures,
            Some(&w.admin),
            json!({"date": "2200-12-31", "reason": "Holiday"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let listed = w
        .app
        .get(&closures, Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["date"], "2200-12-31");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_booking_or_reschedule_outside_the_calendar_is_422(pool: PgPool) {
    let w = World::new(pool).await;
    let booked = w
        .app
        .post(
            "/api/v1/appointments",
            Some(&w.citizen),
            json!({"office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00")}),
        )
        .await
        .expect(StatusCode::CREATED);
    for start in [
        "+262142-12-31T09:00:00+03:00",
        "2201-01-01T09:00:00+03:00",
        "1899-12-31T09:00:00Z",
    ] {
        w.app
            .post(
                "/api/v1/appointments",
                Some(&w.citizen),
                json!({"office_id": w.office, "service_id": w.service, "start": start}),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        w.app
            .post(
                &format!(
                    "/api/v1/appointments/{}/reschedule",
                    booked["id"].as_str().unwrap()
                ),
                Some(&w.citizen),
                json!({"start": start}),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn audit_log_bounds_outside_the_calendar_are_422(pool: PgPool) {
    let w = World::new(pool).await;
    for raw in [
        "%2B262142-12-31T00:00:00Z",
        "2201-01-01T00:00:00Z",
        "1899-01-01T00:00:00Z",
    ] {
        for bound in ["from", "to"] {
            w.app
                .get(
                    &format!("/api/v1/admin/audit-log?{bound}={raw}"),
                    Some(&w.admin),
                )
                .await
                .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        }
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_date_of_birth_before_1900_or_in_the_future_is_422_in_requests_and_tracking(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let service = w.app.insert_documentary_service("passport-new", 30).await;
    let tomorrow = w.day(1).to_string();
    for dob in ["1899-12-31", "+262142-12-31", tomorrow.as_str()] {
        w.app
            .post(
                "/api/v1/document-requests",
                Some(&w.citizen),
                json!({
                    "office_id": w.office,
                    "service_id": service,
                    "applicant": {"full_name": "Amal Haddad", "date_of_birth": dob},
                }),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    for dob in ["1899-12-31", "%2B262142-12-31", "2201-01-01"] {
        w.app
            .get(
                &format!("/api/v1/track/SY-MOW-2026-000001?date_of_birth={dob}"),
                None,
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_check_in_date_of_birth_outside_the_calendar_is_422(pool: PgPool) {
    let w = World::new(pool).await;
    let booked = w
        .app
        .post(
            "/api/v1/appointments",
            Some(&w.citizen),
            json!({"office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00")}),
        )
        .await
        .expect(StatusCode::CREATED);
    let path = format!(
        "/api/v1/admin/appointments/{}/check-in",
        booked["id"].as_str().unwrap()
    );
    for dob in ["+262142-12-31", "1899-12-31"] {
        w.app
            .post(
                &path,
                Some(&w.officer),
                json!({"applicant_date_of_birth": dob}),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}
