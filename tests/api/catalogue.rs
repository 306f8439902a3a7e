//! Catalogue, schedules, closures and availability through HTTP on real PostgreSQL.

use crate::helpers::{assert_problem, TestApp};
use actix_web::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::json;

type Pool = sqlx::PgPool;

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn admin_creates_and_patches_the_catalogue_and_anyone_reads_it(pool: Pool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
    let service = app.create_service(&admin, "passport-renewal", 30).await;

    let (s, list, _) = app.get("/api/v1/offices", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"][0]["code"], "MOW");
    assert_eq!(list["items"][0]["name"]["ru"], "Консульство");
    let (s, o, _) = app.get(&format!("/api/v1/offices/{office}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["timezone"], "Europe/Moscow");

    let (s, svc, _) = app.get(&format!("/api/v1/services/{service}"), None).await;
    assert_eq!(s, StatusCode::OK, "{svc}");
    assert_eq!(svc["fee_amount"], "25.00");
    assert_eq!(svc["min_notice_hours"], 24);
    assert_eq!(svc["max_advance_days"], 60);
    assert_eq!(svc["required_documents"][0]["en"], "Passport");

    let (s, patched, _) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/admin/offices/{office}"),
            Some(&admin),
            Some(json!({ "timezone": "Asia/Yekaterinburg", "name": { "ar": "أ", "ru": "Б", "en": "C" } })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["timezone"], "Asia/Yekaterinburg");
    assert_eq!(patched["code"], "MOW");
    assert_eq!(patched["address"]["en"], "Street 1");

    let (s, patched, _) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/admin/services/{service}"),
            Some(&admin),
            Some(json!({ "fee_amount": 40, "active": false })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["fee_amount"], "40.00");
    assert_eq!(patched["duration_minutes"], 30);
    let (_, list, _) = app.get("/api/v1/services", None).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "inactive services are not listed"
    );

    let (s, log, _) = app
        .get("/api/v1/admin/audit-log?target_type=office", Some(&admin))
        .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["office.update", "office.create"]);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn unknown_timezone_is_refused_with_its_own_code(pool: Pool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let resp = app
        .post(
            "/api/v1/admin/offices",
            Some(&admin),
            json!({
                "code": "KZN",
                "name": { "ar": "ق", "ru": "К", "en": "K" },
                "address": { "ar": "ق", "ru": "К", "en": "K" },
                "timezone": "Europe/Kazann",
            }),
        )
        .await;
    assert_problem(&resp, StatusCode::UNPROCESSABLE_ENTITY, "unknown_timezone");
    let office = app.create_office(&admin, "KZN", "Europe/Moscow").await;
    let resp = app
        .send(
            Method::PATCH,
            &format!("/api/v1/admin/offices/{office}"),
            Some(&admin),
            Some(json!({ "timezone": "UTC+3" })),
        )
        .await;
    assert_problem(&resp, StatusCode::UNPROCESSABLE_ENTITY, "unknown_timezone");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn catalogue_changes_need_an_admin_and_valid_fields(pool: Pool) {
    let app = TestApp::new(pool).await;
    let officer = app.officer().await;
    let body = json!({ "code": "MOW", "name": { "ar": "a", "ru": "b", "en": "c" }, "address": { "ar": "a", "ru": "b", "en": "c" } });
    assert_problem(
        &app.post("/api/v1/admin/offices", None, body.clone()).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_problem(
        &app.post("/api/v1/admin/offices", Some(&officer), body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let admin = app.admin().await;
    app.create_office(&admin, "MOW", "Europe/Moscow").await;
    assert_problem(
        &app.post("/api/v1/admin/offices", Some(&admin), body).await,
        StatusCode::CONFLICT,
        "office_code_taken",
    );
    let bad = app
        .post(
            "/api/v1/admin/services",
            Some(&admin),
            json!({ "code": "Bad Code", "name": { "ar": "", "ru": "b", "en": "c" }, "duration_minutes": 2, "fee_amount": "1.234" }),
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<&str> = bad.1["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["code", "name.ar", "duration_minutes", "fee_amount"]
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn schedule_intervals_must_be_ordered_and_not_overlap(pool: Pool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
    let service = app.create_service(&admin, "legalisation", 30).await;
    let path = format!("/api/v1/admin/offices/{office}/schedules/{service}");
    for weekly in [
        json!({ "mon": [["09:00", "13:00"], ["12:30", "15:00"]] }),
        json!({ "mon": [["14:00", "15:00"], ["09:00", "13:00"]] }),
        json!({ "mon": [["13:00", "09:00"]] }),
        json!({ "funday": [["09:00", "10:00"]] }),
    ] {
        let resp = app
            .send(
                Method::PUT,
                &path,
                Some(&admin),
                Some(json!({ "capacity": 2, "weekly": weekly })),
            )
            .await;
        assert_problem(&resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let resp = app
        .send(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({ "capacity": 0, "weekly": {} })),
        )
        .await;
    assert_problem(&resp, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let put = app
        .weekday_schedule(
            &admin,
            &office,
            &service,
            2,
            json!([["09:00", "13:00"], ["14:00", "15:00"]]),
        )
        .await;
    assert_eq!(put["affected_bookings"], 0);
    let (s, got, _) = app.get(&path, Some(&admin)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["capacity"], 2);
    assert_eq!(
        got["weekly"]["mon"],
        json!([["09:00", "13:00"], ["14:00", "15:00"]])
    );
    assert_eq!(got["weekly"]["sun"], json!([]));
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn availability_in_yekaterinburg_carries_its_plus_five_offset(pool: Pool) {
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
    let wed = monday + Duration::days(2);
    let (s, body, _) = app
        .get(
            &format!(
                "/api/v1/offices/{office}/availability?service_id={service}&from={wed}&to={wed}"
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
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
    let (_, body, _) = app
        .get(
            &format!(
                "/api/v1/offices/{office}/availability?service_id={service}&from={monday}&to={sun}"
            ),
            None,
        )
        .await;
    let starts: Vec<&str> = body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(starts[0], format!("{tue}T14:00:00+05:00"));
    assert_eq!(starts.len(), 1 + 3 * 3, "{starts:?}");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn availability_range_is_at_most_62_days_and_not_backwards(pool: Pool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
    let service = app.create_service(&admin, "legalisation", 30).await;
    app.weekday_schedule(&admin, &office, &service, 1, json!([["09:00", "10:00"]]))
        .await;
    let url = |from: &str, to: &str| {
        format!("/api/v1/offices/{office}/availability?service_id={service}&from={from}&to={to}")
    };
    let (s, _, _) = app.get(&url("2027-01-01", "2027-03-03"), None).await;
    assert_eq!(s, StatusCode::OK, "62 days, both ends included");
    assert_problem(
        &app.get(&url("2027-01-01", "2027-03-04"), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "range_too_long",
    );
    assert_problem(
        &app.get(&url("2027-01-02", "2027-01-01"), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_range",
    );
    assert_problem(
        &app.get(&url("2027-01-02", "soon"), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn closures_remove_the_whole_local_day_until_deleted(pool: Pool) {
    let app = TestApp::new(pool).await;
    let monday = app.freeze_on_next_monday();
    let admin = app.admin().await;
    let office = app.create_office(&admin, "MOW", "Europe/Moscow").await;
    let service = app.create_service(&admin, "legalisation", 60).await;
    app.weekday_schedule(&admin, &office, &service, 1, json!([["09:00", "11:00"]]))
        .await;
    let wed = monday + Duration::days(2);
    let avail =
        format!("/api/v1/offices/{office}/availability?service_id={service}&from={wed}&to={wed}");
    let (_, body, _) = app.get(&avail, None).await;
    assert_eq!(body["slots"].as_array().unwrap().len(), 2);

    let (s, c, _) = app
        .post(
            &format!("/api/v1/admin/offices/{office}/closures"),
            Some(&admin),
            json!({ "date": wed, "reason": "Staff training" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["affected_bookings"], 0);
    let (_, body, _) = app.get(&avail, None).await;
    assert_eq!(body["slots"], json!([]));
    let again = app
        .post(
            &format!("/api/v1/admin/offices/{office}/closures"),
            Some(&admin),
            json!({ "date": wed, "reason": "twice" }),
        )
        .await;
    assert_problem(&again, StatusCode::CONFLICT, "closure_exists");
    let (_, list, _) = app
        .get(
            &format!("/api/v1/admin/offices/{office}/closures"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        list["items"],
        json!([{ "date": wed.to_string(), "reason": "Staff training" }])
    );

    let (s, _, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/offices/{office}/closures/{wed}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, body, _) = app.get(&avail, None).await;
    assert_eq!(body["slots"].as_array().unwrap().len(), 2);
    let gone = app
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/offices/{office}/closures/{wed}"),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn sample_data_loads_idempotently_with_moscow_its_services_schedules_and_holidays(
    pool: Pool,
) {
    mawid_persistence::sample::load(&pool).await.unwrap();
    mawid_persistence::sample::load(&pool).await.unwrap();
    let app = TestApp::new(pool).await;
    let monday = app.freeze_on_next_monday();
    let (_, offices, _) = app.get("/api/v1/offices", None).await;
    let offices = offices["items"].as_array().unwrap();
    assert_eq!(offices.len(), 1);
    assert_eq!(offices[0]["code"], "MOW");
    assert_eq!(offices[0]["timezone"], "Europe/Moscow");
    let office = offices[0]["id"].as_str().unwrap();
    let (_, services, _) = app.get("/api/v1/services", None).await;
    let services = services["items"].as_array().unwrap();
    let mut codes: Vec<&str> = services
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
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
    assert!(services
        .iter()
        .all(|s| !s["required_documents"].as_array().unwrap().is_empty()
            && s["required_documents"][0]["ar"].is_string()));

    let admin = app.admin().await;
    let (_, closures, _) = app
        .get(
            &format!("/api/v1/admin/offices/{office}/closures"),
            Some(&admin),
        )
        .await;
    let days: Vec<&str> = closures["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["date"].as_str().unwrap())
        .collect();
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
    let (_, sched, _) = app
        .get(
            &format!("/api/v1/admin/offices/{office}/schedules/{legal}"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        sched["weekly"]["fri"],
        json!([["09:00", "13:00"], ["14:00", "15:00"]])
    );
    assert_eq!(sched["weekly"]["sat"], json!([]));
    let from = monday + Duration::days(7);
    let to = from + Duration::days(30);
    let (_, avail, _) = app
        .get(
            &format!(
                "/api/v1/offices/{office}/availability?service_id={legal}&from={from}&to={to}"
            ),
            None,
        )
        .await;
    let slots = avail["slots"].as_array().unwrap();
    assert!(!slots.is_empty());
    assert!(slots
        .iter()
        .all(|s| s["start"].as_str().unwrap().ends_with("+03:00")));
}
