//! Catalogue, schedules, closures and availability through HTTP on real PostgreSQL.

use actix_web::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{strings, TestApp, World};

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn admin_creates_and_patches_the_catalogue_and_anyone_reads_it(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
    let service = app.create_service(&admin, "passport-renewal", 30).await;

    let list = app
        .get("/api/v1/offices", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"][0]["code"], "MOW");
    assert_eq!(list["items"][0]["name"]["ru"], "Консульство");
    let o = app
        .get(&format!("/api/v1/offices/{office}"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(o["timezone"], "Europe/Moscow");

    let svc = app
        .get(&format!("/api/v1/services/{service}"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(svc["fee_amount"], "25.00");
    assert_eq!(svc["min_notice_hours"], 24);
    assert_eq!(svc["max_advance_days"], 60);
    assert_eq!(svc["required_documents"][0]["en"], "Passport");

    let patched = app
        .patch(
            &format!("/api/v1/admin/offices/{office}"),
            Some(&admin),
            json!({ "timezone": "Asia/Yekaterinburg", "name": { "ar": "أ", "ru": "Б", "en": "C" } }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["timezone"], "Asia/Yekaterinburg");
    assert_eq!(patched["code"], "MOW");
    assert_eq!(patched["address"]["en"], "Street 1");

    let patched = app
        .patch(
            &format!("/api/v1/admin/services/{service}"),
            Some(&admin),
            json!({ "fee_amount": 40, "active": false }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(patched["fee_amount"], "40.00");
    assert_eq!(patched["duration_minutes"], 30);
    let list = app
        .get("/api/v1/services", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "inactive services are not listed"
    );

    let log = app
        .get("/api/v1/admin/audit-log?target_type=office", Some(&admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        strings(&log["items"], "/action"),
        ["office.update", "office.create"]
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn unknown_timezone_is_refused_with_its_own_code(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    app.post(
        "/api/v1/admin/offices",
        Some(&admin),
        json!({
            "code": "KZN",
            "name": { "ar": "ق", "ru": "К", "en": "K" },
            "address": { "ar": "ق", "ru": "К", "en": "K" },
            "timezone": "Europe/Kazann",
        }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_timezone");
    let office = app.create_office(&admin, "KZN", "Europe/Moscow").await;
    app.patch(
        &format!("/api/v1/admin/offices/{office}"),
        Some(&admin),
        json!({ "timezone": "UTC+3" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_timezone");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn catalogue_changes_need_an_admin_and_valid_fields(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let officer = app.officer().await;
    let body = json!({ "code": "MOW", "name": { "ar": "a", "ru": "b", "en": "c" }, "address": { "ar": "a", "ru": "b", "en": "c" } });
    app.post("/api/v1/admin/offices", None, body.clone())
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.post("/api/v1/admin/offices", Some(&officer), body.clone())
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let admin = app.admin().await;
    app.create_office(&admin, "MOW", "Europe/Moscow").await;
    app.post("/api/v1/admin/offices", Some(&admin), body)
        .await
        .expect_problem(StatusCode::CONFLICT, "office_code_taken");
    let problem = app
        .post(
            "/api/v1/admin/services",
            Some(&admin),
            json!({ "code": "Bad Code", "name": { "ar": "", "ru": "b", "en": "c" }, "duration_minutes": 2, "fee_amount": "1.234" }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        strings(&problem["errors"], "/field"),
        ["code", "name.ar", "duration_minutes", "fee_amount"]
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn schedule_intervals_must_be_ordered_and_not_overlap(pool: PgPool) {
    let w = World::new(pool).await;
    let service = w.app.create_service(&w.admin, "legalisation", 30).await;
    let path = format!("/api/v1/admin/offices/{}/schedules/{service}", w.office);
    for weekly in [
        json!({ "mon": [["09:00", "13:00"], ["12:30", "15:00"]] }),
        json!({ "mon": [["14:00", "15:00"], ["09:00", "13:00"]] }),
        json!({ "mon": [["13:00", "09:00"]] }),
        json!({ "funday": [["09:00", "10:00"]] }),
    ] {
        w.app
            .put(
                &path,
                Some(&w.admin),
                json!({ "capacity": 2, "weekly": weekly }),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    w.app
        .put(
            &path,
            Some(&w.admin),
            json!({ "capacity": 0, "weekly": {} }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let put = w.schedule(&service, 2, World::hours()).await;
    assert_eq!(put["affected_bookings"], 0);
    let got = w
        .app
        .get(&path, Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got["capacity"], 2);
    assert_eq!(
        got["weekly"]["mon"],
        json!([["09:00", "13:00"], ["14:00", "15:00"]])
    );
    assert_eq!(got["weekly"]["sun"], json!([]));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn availability_in_yekaterinburg_carries_its_plus_five_offset(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let monday = app.freeze_on_next_monday();
    let admin = app.admin().await;
    let office = app.create_office(&admin, "SVX", "Asia/Yekaterinburg").await;
    let service = app.create_service(&admin, "power-of-attorney", 30).await;
    app.weekday_schedule(
        &admin,
        &office,
        &service,
        3,
        json!([["09:00", "10:00"], ["14:00", "14:30"]]),
    )
    .await;
    let availability = |from, to| {
        format!("/api/v1/offices/{office}/availability?service_id={service}&from={from}&to={to}")
    };
    let wed = monday + Duration::days(2);
    let body = app
        .get(&availability(wed, wed), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["timezone"], "Asia/Yekaterinburg");
    assert_eq!(
        body["slots"],
        json!([
            { "start": format!("{wed}T09:00:00+05:00"), "end": format!("{wed}T09:30:00+05:00"), "remaining": 3 },
            { "start": format!("{wed}T09:30:00+05:00"), "end": format!("{wed}T10:00:00+05:00"), "remaining": 3 },
            { "start": format!("{wed}T14:00:00+05:00"), "end": format!("{wed}T14:30:00+05:00"), "remaining": 3 },
        ])
    );

    // Monday 08:00 UTC is 13:00 in Yekaterinburg: with 24 h notice, Tuesday keeps only its
    // 14:00 slot, and a week-end offers nothing.
    let tue = monday + Duration::days(1);
    let sun = monday + Duration::days(6);
    let body = app
        .get(&availability(monday, sun), None)
        .await
        .expect(StatusCode::OK);
    let starts = strings(&body["slots"], "/start");
    assert_eq!(starts[0], format!("{tue}T14:00:00+05:00"));
    assert_eq!(starts.len(), 1 + 3 * 3, "{starts:?}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn availability_range_is_at_most_62_days_and_not_backwards(pool: PgPool) {
    let w = &World::new(pool).await;
    let get = |from: &str, to: &str| {
        let path = format!(
            "/api/v1/offices/{}/availability?service_id={}&from={from}&to={to}",
            w.office, w.service
        );
        async move { w.app.get(&path, None).await }
    };
    let r = get("2027-01-01", "2027-03-03").await;
    assert_eq!(r.status, StatusCode::OK, "62 days, both ends included");
    get("2027-01-01", "2027-03-04")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "range_too_long");
    get("2027-01-02", "2027-01-01")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_range");
    get("2027-01-02", "soon")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn closures_remove_the_whole_local_day_until_deleted(pool: PgPool) {
    let w = World::new(pool).await;
    let service = w.app.create_service(&w.admin, "legalisation", 60).await;
    w.app
        .weekday_schedule(
            &w.admin,
            &w.office,
            &service,
            1,
            json!([["09:00", "11:00"]]),
        )
        .await;
    let wed = w.day(2);
    let slots = || async {
        let path = format!(
            "/api/v1/offices/{}/availability?service_id={service}&from={wed}&to={wed}",
            w.office
        );
        let body = w.app.get(&path, None).await.expect(StatusCode::OK);
        body["slots"].as_array().unwrap().len()
    };
    let closures = format!("/api/v1/admin/offices/{}/closures", w.office);
    assert_eq!(slots().await, 2);

    let c = w
        .app
        .post(
            &closures,
            Some(&w.admin),
            json!({ "date": wed, "reason": "Staff training" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(c["affected_bookings"], 0);
    assert_eq!(slots().await, 0);
    w.app
        .post(
            &closures,
            Some(&w.admin),
            json!({ "date": wed, "reason": "twice" }),
        )
        .await
        .expect_problem(StatusCode::CONFLICT, "closure_exists");
    let list = w
        .app
        .get(&closures, Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        list["items"],
        json!([{ "date": wed.to_string(), "reason": "Staff training" }])
    );

    let closure = format!("{closures}/{wed}");
    w.app
        .delete(&closure, Some(&w.admin))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(slots().await, 2);
    w.app
        .delete(&closure, Some(&w.admin))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn sample_data_loads_idempotently_with_moscow_its_services_schedules_and_holidays(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    app.load_sample_data().await;
    app.load_sample_data().await;
    let monday = app.freeze_on_next_monday();
    let offices = app
        .get("/api/v1/offices", None)
        .await
        .expect(StatusCode::OK);
    let offices = offices["items"].as_array().unwrap();
    assert_eq!(offices.len(), 1);
    assert_eq!(offices[0]["code"], "MOW");
    assert_eq!(offices[0]["timezone"], "Europe/Moscow");
    let office = offices[0]["id"].as_str().unwrap();
    let services = app
        .get("/api/v1/services", None)
        .await
        .expect(StatusCode::OK);
    let mut codes = strings(&services["items"], "/code");
    codes.sort_unstable();
    assert_eq!(
        codes,
        [
            "civil-registry-birth",
            "civil-registry-marriage",
            "legalisation",
            "military-service-status",
            "passport-new",
            "passport-renewal",
            "power-of-attorney",
            "travel-document"
        ]
    );
    let services = services["items"].as_array().unwrap();
    assert!(services
        .iter()
        .all(|s| !s["required_documents"].as_array().unwrap().is_empty()
            && s["required_documents"][0]["ar"].is_string()));

    let admin = app.admin().await;
    let closures = app
        .get(
            &format!("/api/v1/admin/offices/{office}/closures"),
            Some(&admin),
        )
        .await
        .expect(StatusCode::OK);
    let days = strings(&closures["items"], "/date");
    assert!(
        days.iter().any(|d| d.ends_with("-01-07")) && days.iter().any(|d| d.ends_with("-06-12")),
        "{days:?}"
    );

    let legal = services
        .iter()
        .find(|s| s["code"] == "legalisation")
        .unwrap()["id"]
        .as_str()
        .unwrap();
    let sched = app
        .get(
            &format!("/api/v1/admin/offices/{office}/schedules/{legal}"),
            Some(&admin),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        sched["weekly"]["fri"],
        json!([["09:00", "13:00"], ["14:00", "15:00"]])
    );
    assert_eq!(sched["weekly"]["sat"], json!([]));
    let from = monday + Duration::days(7);
    let to = from + Duration::days(30);
    let avail = app
        .get(
            &format!(
                "/api/v1/offices/{office}/availability?service_id={legal}&from={from}&to={to}"
            ),
            None,
        )
        .await
        .expect(StatusCode::OK);
    let slots = avail["slots"].as_array().unwrap();
    assert!(!slots.is_empty());
    assert!(slots
        .iter()
        .all(|s| s["start"].as_str().unwrap().ends_with("+03:00")));
}
