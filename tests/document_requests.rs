//! Document requests: creation, the status machine over HTTP, notes visibility, ownership, the
//! staff queue, public tracking and its rate limit.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::{Datelike, Duration};
use futures_util::future::join_all;
use mawid_http::TrackingSettings;
use serde_json::{json, Value};
use support::{assert_problem, Resp, TestApp};
use uuid::Uuid;

type Pool = sqlx::PgPool;

const DOB: &str = "1990-04-05";

struct World {
    app: TestApp,
    office: Uuid,
    passport: Uuid,
    citizen: String,
    officer: String,
}

async fn world(pool: Pool) -> World {
    let app = TestApp::new(pool).await;
    let office = app.insert_office("MOW", "Europe/Moscow").await;
    let passport = app.insert_service("passport-renewal", true, 7).await;
    let citizen = app.verified_citizen("amal@example.org").await;
    let officer = app.officer().await;
    World {
        app,
        office,
        passport,
        citizen,
        officer,
    }
}

fn new_request(office: Uuid, service: Uuid) -> Value {
    json!({
        "office_id": office,
        "service_id": service,
        "applicant": { "full_name": "Amal Haddad", "date_of_birth": DOB, "passport_number": "N0123 4567" },
    })
}

impl World {
    async fn submit(&self) -> Value {
        let (s, body, _) = self
            .app
            .post(
                "/api/v1/document-requests",
                Some(&self.citizen),
                new_request(self.office, self.passport),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body
    }

    async fn move_to(
        &self,
        id: &Value,
        to: &str,
        public: Option<&str>,
        internal: Option<&str>,
    ) -> Resp {
        self.app
            .post(
                &format!(
                    "/api/v1/admin/document-requests/{}/transition",
                    id.as_str().unwrap()
                ),
                Some(&self.officer),
                json!({ "to": to, "public_note": public, "internal_note": internal }),
            )
            .await
    }

    async fn moved(&self, id: &Value, to: &str) -> Value {
        let (s, body, _) = self.move_to(id, to, None, None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        body
    }

    fn year(&self) -> i32 {
        use mawid_domain::Clock;
        self.app
            .clock
            .now()
            .with_timezone(&chrono_tz::Europe::Moscow)
            .year()
    }
}

async fn track_from(app: &TestApp, number: &str, dob: &str, peer: &str) -> Resp {
    app.call(
        TestRequest::get()
            .uri(&format!("/api/v1/track/{number}?date_of_birth={dob}"))
            .peer_addr(peer.parse().unwrap()),
    )
    .await
}

async fn lookup_forwarded(app: &TestApp, number: &str, xff: impl Into<String>) -> Resp {
    app.call(
        TestRequest::get()
            .uri(&format!("/api/v1/track/{number}?date_of_birth={DOB}"))
            .peer_addr("10.0.0.1:443".parse().unwrap())
            .insert_header(("X-Forwarded-For", xff.into())),
    )
    .await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn citizen_follows_a_request_from_submission_to_pickup(pool: Pool) {
    let w = world(pool).await;
    let created = w.submit().await;
    let number = format!("SY-MOW-{}-000001", w.year());
    assert_eq!(created["tracking_number"], number.as_str());
    assert_eq!(created["status"], "submitted");
    assert_eq!(created["can_cancel"], true);
    assert_eq!(created["office"]["code"], "MOW");
    assert_eq!(created["service"]["code"], "passport-renewal");
    assert_eq!(created["applicant"]["passport_number"], "N01234567");
    assert!(
        created["status_changed_at"]
            .as_str()
            .unwrap()
            .ends_with("+03:00"),
        "{created}"
    );
    let id = &created["id"];

    w.moved(id, "under_review").await;
    w.app.clock.advance(Duration::days(1));
    let (s, body, _) = w
        .move_to(
            id,
            "awaiting_documents",
            Some("Please bring your birth certificate."),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for to in ["under_review", "approved", "ready_for_pickup", "collected"] {
        w.app.clock.advance(Duration::hours(5));
        let body = w.moved(id, to).await;
        assert_eq!(body["status"], to);
    }

    let (s, detail, _) = w
        .app
        .get(
            &format!("/api/v1/document-requests/{}", id.as_str().unwrap()),
            Some(&w.citizen),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    assert_eq!(detail["status"], "collected");
    assert_eq!(detail["can_cancel"], false);
    let steps: Vec<(Value, Value)> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, json!("submitted")),
            (json!("submitted"), json!("under_review")),
            (json!("under_review"), json!("awaiting_documents")),
            (json!("awaiting_documents"), json!("under_review")),
            (json!("under_review"), json!("approved")),
            (json!("approved"), json!("ready_for_pickup")),
            (json!("ready_for_pickup"), json!("collected")),
        ]
    );
    assert_eq!(detail["history"][0]["by"], "citizen");
    assert_eq!(detail["history"][2]["by"], "staff");
    assert_eq!(
        detail["history"][2]["public_note"],
        "Please bring your birth certificate."
    );

    let (s, list, _) = w
        .app
        .get("/api/v1/document-requests", Some(&w.citizen))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["tracking_number"], number.as_str());

    let (s, tracked, _) = track_from(&w.app, &number, DOB, "198.51.100.1:4000").await;
    assert_eq!(s, StatusCode::OK, "{tracked}");
    assert_eq!(tracked["status"], "collected");

    // six staff transitions: six audit rows and six status emails
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM audit_log WHERE action = 'document_request.transition'"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM notifications WHERE kind = 'document_status_changed'"
        )
        .await,
        6
    );
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM notifications WHERE kind = 'document_status_changed'
         AND payload->>'status' = 'awaiting_documents'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(payload["tracking_number"], number.as_str());
    assert_eq!(payload["previous_status"], "under_review");
    assert_eq!(
        payload["public_note"],
        "Please bring your birth certificate."
    );
    assert_eq!(payload["full_name"], "Amal Haddad");
    assert_eq!(payload["office"]["code"], "MOW");
    assert_eq!(payload["office"]["name"]["ru"], "Консульство");
    assert_eq!(payload["service"]["code"], "passport-renewal");
    assert!(
        payload["changed_at"].as_str().unwrap().ends_with("+03:00"),
        "{payload}"
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn every_class_of_illegal_transition_is_409_naming_the_allowed_targets(pool: Pool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = &a["id"];

    // skipping ahead
    let r = w.move_to(id, "approved", None, None).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(r.1["allowed"], json!(["under_review"]));
    assert_eq!(
        (&r.1["from"], &r.1["to"]),
        (&json!("submitted"), &json!("approved"))
    );
    // cancelling is the citizen's alone
    let r = w.move_to(id, "cancelled", None, None).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    // staying put
    w.moved(id, "under_review").await;
    let r = w.move_to(id, "under_review", None, None).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(
        r.1["allowed"],
        json!(["awaiting_documents", "approved", "rejected"])
    );
    // the citizen may no longer withdraw once review has started
    let r = w
        .app
        .post(
            &format!("/api/v1/document-requests/{}/cancel", id.as_str().unwrap()),
            Some(&w.citizen),
            json!({}),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(r.1["allowed"], json!([]));
    // going backwards
    w.moved(id, "approved").await;
    let r = w.move_to(id, "under_review", None, None).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    assert_eq!(r.1["allowed"], json!(["ready_for_pickup"]));
    // rejecting after approval
    let r = w.move_to(id, "rejected", None, None).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    // leaving a final state
    let b = w.submit().await;
    w.moved(&b["id"], "under_review").await;
    w.moved(&b["id"], "rejected").await;
    for to in ["under_review", "submitted", "approved", "collected"] {
        let r = w.move_to(&b["id"], to, None, None).await;
        assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
        assert_eq!(r.1["allowed"], json!([]));
    }
    // an unknown status is a validation error, not a transition
    let r = w.move_to(id, "lost", None, None).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // refusals wrote nothing: 4 accepted transitions in all
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM document_request_events WHERE from_status IS NOT NULL"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM notifications WHERE kind = 'document_status_changed'"
        )
        .await,
        4
    );
    assert_eq!(count(&w.app, "SELECT count(*) FROM audit_log").await, 4);
    let (_, detail, _) = w
        .app
        .get(
            &format!("/api/v1/admin/document-requests/{}", id.as_str().unwrap()),
            Some(&w.officer),
        )
        .await;
    assert_eq!(detail["status"], "approved");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn citizen_cancels_only_while_submitted(pool: Pool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let cancel = format!(
        "/api/v1/document-requests/{}/cancel",
        a["id"].as_str().unwrap()
    );
    let (s, body, _) = w.app.post(&cancel, Some(&w.citizen), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["can_cancel"], false);
    assert_eq!(body["history"][1]["by"], "citizen");
    let r = w.app.post(&cancel, Some(&w.citizen), json!({})).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    let r = w.move_to(&a["id"], "under_review", None, None).await;
    assert_problem(&r, StatusCode::CONFLICT, "illegal_transition");
    // a citizen's own withdrawal is not a staff action and sends no status email
    assert_eq!(count(&w.app, "SELECT count(*) FROM audit_log").await, 0);
    assert_eq!(
        count(
            &w.app,
            "SELECT count(*) FROM notifications WHERE kind = 'document_status_changed'"
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn citizens_see_public_notes_and_never_internal_ones(pool: Pool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = &a["id"];
    w.moved(id, "under_review").await;
    let (s, staff_view, _) = w
        .move_to(
            id,
            "awaiting_documents",
            Some("Bring the old passport."),
            Some("INTERNAL: suspected forgery"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{staff_view}");
    let last = &staff_view["history"][2];
    assert_eq!(last["internal_note"], "INTERNAL: suspected forgery");
    assert_eq!(last["public_note"], "Bring the old passport.");
    assert!(last["actor_id"].is_string());

    let (_, staff_detail, _) = w
        .app
        .get(
            &format!("/api/v1/admin/document-requests/{}", id.as_str().unwrap()),
            Some(&w.officer),
        )
        .await;
    assert_eq!(
        staff_detail["history"][2]["internal_note"],
        "INTERNAL: suspected forgery"
    );

    let (s, mine, _) = w
        .app
        .get(
            &format!("/api/v1/document-requests/{}", id.as_str().unwrap()),
            Some(&w.citizen),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["history"][2]["public_note"], "Bring the old passport.");
    assert!(mine["history"][2].get("internal_note").is_none(), "{mine}");
    assert!(mine["history"][2].get("actor_id").is_none(), "{mine}");
    let (_, list, _) = w
        .app
        .get("/api/v1/document-requests", Some(&w.citizen))
        .await;
    for body in [mine.to_string(), list.to_string()] {
        assert!(!body.contains("INTERNAL"), "{body}");
    }
    // nor in the email to the citizen
    let payloads: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM notifications WHERE kind = 'document_status_changed'",
    )
    .fetch_all(&w.app.pool)
    .await
    .unwrap();
    assert!(payloads.iter().all(|p| !p.to_string().contains("INTERNAL")));
    let mails = w.app.mails_to("amal@example.org").await;
    assert!(mails.iter().all(|m| !m.contains("INTERNAL")));
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn another_citizens_request_is_404_for_every_verb(pool: Pool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = a["id"].as_str().unwrap();
    let other = w.app.verified_citizen("other@example.org").await;

    let r = w
        .app
        .get(&format!("/api/v1/document-requests/{id}"), Some(&other))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    let unknown = w
        .app
        .get(
            &format!("/api/v1/document-requests/{}", Uuid::new_v4()),
            Some(&other),
        )
        .await;
    assert_eq!(
        r.1, unknown.1,
        "someone else's id must look like an unknown one"
    );
    let r = w
        .app
        .post(
            &format!("/api/v1/document-requests/{id}/cancel"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    let (_, list, _) = w.app.get("/api/v1/document-requests", Some(&other)).await;
    assert_eq!(list["total"], 0);
    assert_eq!(list["items"], json!([]));
    // and the owner's request is untouched
    let (_, mine, _) = w
        .app
        .get(&format!("/api/v1/document-requests/{id}"), Some(&w.citizen))
        .await;
    assert_eq!(mine["status"], "submitted");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn creation_is_refused_for_unknown_or_non_documentary_catalogue_entries(pool: Pool) {
    let w = world(pool).await;
    let visit = w.app.insert_service("legalisation", false, 7).await;
    let post = |body: Value| {
        let app = &w.app;
        let token = w.citizen.clone();
        async move {
            app.post("/api/v1/document-requests", Some(&token), body)
                .await
        }
    };
    let r = post(new_request(w.office, visit)).await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "service_not_documentary",
    );
    let r = post(new_request(Uuid::new_v4(), w.passport)).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_office");
    let r = post(new_request(w.office, Uuid::new_v4())).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_service");
    sqlx::query("UPDATE services SET active = false WHERE id = $1")
        .bind(w.passport)
        .execute(&w.app.pool)
        .await
        .unwrap();
    let r = post(new_request(w.office, w.passport)).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_service");
    sqlx::query("UPDATE services SET active = true WHERE id = $1")
        .bind(w.passport)
        .execute(&w.app.pool)
        .await
        .unwrap();

    // an appointment that cannot be shown to be the citizen's own
    let mut body = new_request(w.office, w.passport);
    body["appointment_id"] = json!(Uuid::new_v4());
    let r = post(body).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_appointment");

    let r = post(json!({
        "office_id": w.office, "service_id": w.passport,
        "applicant": { "full_name": "A", "date_of_birth": "2999-01-01", "passport_number": "??" },
    }))
    .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.1["errors"].as_array().unwrap().len(), 3, "{}", r.1);

    // staff and anonymous callers cannot create one
    let r = w
        .app
        .post(
            "/api/v1/document-requests",
            Some(&w.officer),
            new_request(w.office, w.passport),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = w
        .app
        .post(
            "/api/v1/document-requests",
            None,
            new_request(w.office, w.passport),
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthenticated");

    // refusals took no tracking number: the first real request is 000001
    let ok = w.submit().await;
    assert!(
        ok["tracking_number"].as_str().unwrap().ends_with("-000001"),
        "{ok}"
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn fifty_concurrent_creations_in_one_office_get_fifty_consecutive_numbers(pool: Pool) {
    let w = world(pool).await;
    let body = new_request(w.office, w.passport);
    let results = join_all((0..50).map(|_| {
        w.app
            .post("/api/v1/document-requests", Some(&w.citizen), body.clone())
    }))
    .await;
    let mut numbers: Vec<String> = results
        .iter()
        .map(|(s, b, _)| {
            assert_eq!(*s, StatusCode::CREATED, "{b}");
            b["tracking_number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=50)
        .map(|n| format!("SY-MOW-{}-{n:06}", w.year()))
        .collect();
    assert_eq!(numbers, expected);

    // another office has its own sequence
    let led = w.app.insert_office("LED", "Europe/Moscow").await;
    let (s, other, _) = w
        .app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            new_request(led, w.passport),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        other["tracking_number"],
        format!("SY-LED-{}-000001", w.year())
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn the_sequence_follows_the_office_local_year(pool: Pool) {
    let w = world(pool).await;
    let ekb = w.app.insert_office("SVX", "Asia/Yekaterinburg").await;
    use chrono::TimeZone;
    // 20:30 UTC on 31 December is already 1 January in Yekaterinburg (UTC+5)
    let eve = chrono::Utc
        .with_ymd_and_hms(2030, 12, 31, 20, 30, 0)
        .unwrap();
    w.app.clock.set(eve);
    let (s, body, _) = w
        .app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            new_request(ekb, w.passport),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["tracking_number"], "SY-SVX-2031-000001");
    assert_eq!(body["created_at"], "2031-01-01T01:30:00+05:00");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn tracking_answers_the_status_only_for_the_right_date_of_birth(pool: Pool) {
    let w = world(pool).await;
    let a = w.submit().await;
    w.moved(&a["id"], "under_review").await;
    let number = a["tracking_number"].as_str().unwrap();
    let peer = "198.51.100.7:4000";

    let (s, body, headers) = track_from(&w.app, number, DOB, peer).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["tracking_number"], number);
    assert_eq!(body["status"], "under_review");
    assert!(body["status_changed_at"]
        .as_str()
        .unwrap()
        .ends_with("+03:00"));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "status_changed_at", "tracking_number"]);
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    // lower case as typed is the same number
    let (s, _, _) = track_from(&w.app, &number.to_lowercase(), DOB, peer).await;
    assert_eq!(s, StatusCode::OK);

    let wrong_dob = track_from(&w.app, number, "1990-04-06", peer).await;
    assert_problem(&wrong_dob, StatusCode::NOT_FOUND, "not_found");
    let unknown = track_from(&w.app, &format!("SY-MOW-{}-000999", w.year()), DOB, peer).await;
    let malformed = track_from(&w.app, "SY-MOW-123", DOB, peer).await;
    assert_eq!(wrong_dob.1, unknown.1);
    assert_eq!(wrong_dob.1, malformed.1);
    assert_eq!(wrong_dob.0, unknown.0);

    let no_dob = w
        .app
        .call(
            TestRequest::get()
                .uri(&format!("/api/v1/track/{number}"))
                .peer_addr(peer.parse().unwrap()),
        )
        .await;
    assert_problem(
        &no_dob,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn tracking_is_rate_limited_per_address_across_server_processes(pool: Pool) {
    let w = world(pool.clone()).await;
    let a = w.submit().await;
    let number = a["tracking_number"].as_str().unwrap();
    // a second server process on the same database
    let second = TestApp::new(pool).await;
    second.clock.set({
        use mawid_domain::Clock;
        w.app.clock.now()
    });
    let peer = "203.0.113.9:5000";

    for i in 0..10 {
        let app = if i % 2 == 0 { &w.app } else { &second };
        let (s, body, _) = track_from(app, number, DOB, peer).await;
        assert_eq!(s, StatusCode::OK, "lookup {i}: {body}");
    }
    for app in [&w.app, &second] {
        let r = track_from(app, number, DOB, peer).await;
        assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let retry: i64 =
            r.2.get("retry-after")
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
        assert!((1..=600).contains(&retry), "{retry}");
    }
    // another address has its own budget
    let (s, _, _) = track_from(&second, number, DOB, "203.0.113.10:5000").await;
    assert_eq!(s, StatusCode::OK);
    // and the limited one may look again once the window is over
    w.app.clock.advance(Duration::minutes(10));
    let (s, _, _) = track_from(&w.app, number, DOB, peer).await;
    assert_eq!(s, StatusCode::OK);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn forwarded_for_counts_only_when_configured(pool: Pool) {
    let mut w = world(pool).await;
    let a = w.submit().await;
    let number = a["tracking_number"].as_str().unwrap().to_owned();
    // off by default: a client inventing a new address per request stays limited
    for i in 0..10 {
        assert_eq!(
            lookup_forwarded(&w.app, &number, format!("192.0.2.{i}"))
                .await
                .0,
            StatusCode::OK
        );
    }
    let r = lookup_forwarded(&w.app, &number, "192.0.2.200").await;
    assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // behind a trusted proxy the right-most entry is the client; entries to its left are ignored
    w.app.clock.advance(Duration::minutes(10));
    w.app.state.tracking = TrackingSettings {
        trust_forwarded_for: true,
        ..Default::default()
    };
    for i in 0..10 {
        let xff = format!("1.2.3.{i}, 198.51.100.77");
        assert_eq!(
            lookup_forwarded(&w.app, &number, xff).await.0,
            StatusCode::OK
        );
    }
    let r = lookup_forwarded(&w.app, &number, "9.9.9.9, 198.51.100.77").await;
    assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(
        lookup_forwarded(&w.app, &number, "198.51.100.78").await.0,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn the_status_email_goes_to_the_citizen_in_their_language(pool: Pool) {
    let app = TestApp::new(pool).await;
    let office = app.insert_office("MOW", "Europe/Moscow").await;
    let service = app.insert_service("passport-renewal", true, 7).await;
    let citizen = app.verified_citizen_in("layla@example.org", "ar").await;
    let officer = app.officer().await;
    let (s, a, _) = app
        .post(
            "/api/v1/document-requests",
            Some(&citizen),
            new_request(office, service),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let before = app.mails_to("layla@example.org").await.len();

    let (s, body, _) = app
        .post(
            &format!(
                "/api/v1/admin/document-requests/{}/transition",
                a["id"].as_str().unwrap()
            ),
            Some(&officer),
            json!({ "to": "under_review" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (language, recipient): (String, String) = sqlx::query_as(
        "SELECT language, recipient FROM notifications WHERE kind = 'document_status_changed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (language.as_str(), recipient.as_str()),
        ("ar", "layla@example.org")
    );
    let mails = app.mails_to("layla@example.org").await;
    assert_eq!(mails.len(), before + 1);
    assert!(app.mails_to("officer@mawid.test").await.is_empty());
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn staff_queue_filters_and_pages_oldest_first(pool: Pool) {
    let w = world(pool).await;
    let slow = w.app.insert_service("civil-registry-birth", true, 3).await;
    let led = w.app.insert_office("LED", "Europe/Moscow").await;
    let post = |office: Uuid, service: Uuid| {
        let app = &w.app;
        let token = w.citizen.clone();
        async move {
            let (s, b, _) = app
                .post(
                    "/api/v1/document-requests",
                    Some(&token),
                    new_request(office, service),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b
        }
    };
    // created one day apart: a (passport, 7-day target), b (birth, 3-day), c (LED), d (passport)
    let a = post(w.office, w.passport).await;
    w.app.clock.advance(Duration::days(1));
    let b = post(w.office, slow).await;
    w.app.clock.advance(Duration::days(1));
    let c = post(led, w.passport).await;
    w.app.clock.advance(Duration::days(1));
    let d = post(w.office, w.passport).await;
    w.moved(&d["id"], "under_review").await;
    w.app.clock.advance(Duration::days(3));
    // now: a 6 days in submitted, b 5 (target 3: overdue), c 4, d 3 in under_review

    let ids = |v: &Value| -> Vec<Value> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    let q = |query: &'static str| {
        let app = &w.app;
        let token = w.officer.clone();
        async move {
            let (s, body, _) = app
                .get(
                    &format!("/api/v1/admin/document-requests{query}"),
                    Some(&token),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let all = q("").await;
    assert_eq!(ids(&all), [&a, &b, &c, &d].map(|r| r["id"].clone()));
    assert_eq!(all["total"], 4);
    assert_eq!(all["items"][0]["days_in_status"], 6);
    assert_eq!(
        all["items"][0]["allowed_transitions"],
        json!(["under_review"])
    );

    assert_eq!(
        ids(&q("?status=submitted").await),
        [&a, &b, &c].map(|r| r["id"].clone())
    );
    assert_eq!(ids(&q("?status=under_review").await), [d["id"].clone()]);
    let url = format!("?office_id={led}");
    let by_office = w
        .app
        .get(
            &format!("/api/v1/admin/document-requests{url}"),
            Some(&w.officer),
        )
        .await;
    assert_eq!(ids(&by_office.1), [c["id"].clone()]);
    let url = format!("?service_id={slow}");
    let by_service = w
        .app
        .get(
            &format!("/api/v1/admin/document-requests{url}"),
            Some(&w.officer),
        )
        .await;
    assert_eq!(ids(&by_service.1), [b["id"].clone()]);

    let overdue = q("?overdue=true").await;
    assert_eq!(ids(&overdue), [b["id"].clone()]);
    assert_eq!(overdue["items"][0]["overdue"], true);
    w.app.clock.advance(Duration::days(2));
    // a: 8 days > 7; b: 7 > 3; c: 6; d: 5
    assert_eq!(
        ids(&q("?overdue=true").await),
        [&a, &b].map(|r| r["id"].clone())
    );

    // pages do not overlap and cover everything, in the same order
    let p1 = q("?per_page=3&page=1").await;
    let p2 = q("?per_page=3&page=2").await;
    assert_eq!(
        (p1["total"].clone(), p2["total"].clone()),
        (json!(4), json!(4))
    );
    assert_eq!(ids(&p1), [&a, &b, &c].map(|r| r["id"].clone()));
    assert_eq!(ids(&p2), [d["id"].clone()]);

    // final statuses are never overdue
    w.moved(&b["id"], "under_review").await;
    w.moved(&b["id"], "rejected").await;
    w.app.clock.advance(Duration::days(30));
    let overdue = q("?overdue=true").await;
    assert!(!ids(&overdue).contains(&b["id"]));

    let r = w
        .app
        .get(
            "/api/v1/admin/document-requests?status=lost&per_page=0",
            Some(&w.officer),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.1["errors"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn staff_routes_refuse_citizens_and_anonymous_callers(pool: Pool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = a["id"].as_str().unwrap();
    let r = w
        .app
        .get("/api/v1/admin/document-requests", Some(&w.citizen))
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = w
        .app
        .get(
            &format!("/api/v1/admin/document-requests/{id}"),
            Some(&w.citizen),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = w
        .app
        .post(
            &format!("/api/v1/admin/document-requests/{id}/transition"),
            Some(&w.citizen),
            json!({ "to": "under_review" }),
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
    let r = w.app.get("/api/v1/admin/document-requests", None).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    let r = w
        .app
        .get(
            &format!("/api/v1/admin/document-requests/{}", Uuid::new_v4()),
            Some(&w.officer),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    // an admin is staff too
    let admin = w.app.admin().await;
    let (s, _, _) = w
        .app
        .get("/api/v1/admin/document-requests", Some(&admin))
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn opening_from_an_appointment_is_idempotent_and_takes_one_number(pool: Pool) {
    use mawid_persistence::document_requests::{open_for_appointment, OpenFromAppointment};
    let w = world(pool).await;
    let citizen_id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'amal@example.org'")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    let officer_id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'officer@mawid.test'")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    let appointment_id = appointment(&w.app, citizen_id, w.office, w.passport).await;
    let open = || OpenFromAppointment {
        citizen_id,
        office_id: w.office,
        service_id: w.passport,
        appointment_id,
        applicant_full_name: "Amal Haddad".into(),
        applicant_date_of_birth: None,
        applicant_passport: Some("N01234567".into()),
        actor_id: officer_id,
        now: {
            use mawid_domain::Clock;
            w.app.clock.now()
        },
    };
    let mut tx = w.app.pool.begin().await.unwrap();
    let first = open_for_appointment(&mut tx, open()).await.unwrap();
    let again = open_for_appointment(&mut tx, open()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.id, again.id);
    let mut tx = w.app.pool.begin().await.unwrap();
    let later = open_for_appointment(&mut tx, open()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first.id, later.id);
    assert!(first.tracking_number.ends_with("-000001"));
    assert_eq!(first.status.code(), "submitted");

    // the citizen sees it, staff opened it, and the next number is consecutive
    let (_, list, _) = w
        .app
        .get("/api/v1/document-requests", Some(&w.citizen))
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["appointment_id"], json!(appointment_id));
    let next = w.submit().await;
    assert!(
        next["tracking_number"]
            .as_str()
            .unwrap()
            .ends_with("-000002"),
        "{next}"
    );
    // a service withdrawn after booking still opens the request of an appointment checked in
    sqlx::query("UPDATE services SET active = false WHERE id = $1")
        .bind(w.passport)
        .execute(&w.app.pool)
        .await
        .unwrap();
    let mut tx = w.app.pool.begin().await.unwrap();
    let other = open_for_appointment(
        &mut tx,
        OpenFromAppointment {
            appointment_id: appointment(&w.app, citizen_id, w.office, w.passport).await,
            ..open()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        other.tracking_number.ends_with("-000003"),
        "{}",
        other.tracking_number
    );
    // without a date of birth on file, public tracking cannot match it
    let r = track_from(&w.app, &first.tracking_number, DOB, "198.51.100.3:1").await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "mawid_persistence::MIGRATOR")]
async fn concurrent_check_ins_of_one_appointment_open_one_request(pool: Pool) {
    use mawid_persistence::document_requests::{open_for_appointment, OpenFromAppointment};
    let w = world(pool).await;
    let citizen_id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'amal@example.org'")
            .fetch_one(&w.app.pool)
            .await
            .unwrap();
    let appointment_id = appointment(&w.app, citizen_id, w.office, w.passport).await;
    let now = {
        use mawid_domain::Clock;
        w.app.clock.now()
    };
    let check_in = || async {
        let mut tx = w.app.pool.begin().await.unwrap();
        let row = open_for_appointment(
            &mut tx,
            OpenFromAppointment {
                citizen_id,
                office_id: w.office,
                service_id: w.passport,
                appointment_id,
                applicant_full_name: "Amal Haddad".into(),
                applicant_date_of_birth: Some(chrono::NaiveDate::from_ymd_opt(1990, 4, 5).unwrap()),
                applicant_passport: None,
                actor_id: citizen_id,
                now,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        row
    };
    let rows = join_all((0..4).map(|_| check_in())).await;
    assert!(
        rows.iter().all(|r| r.id == rows[0].id),
        "one request for one appointment"
    );
    assert_eq!(
        count(&w.app, "SELECT count(*) FROM document_requests").await,
        1
    );
    // the losers' increments were rolled back with their savepoints
    let next = w.submit().await;
    assert!(
        next["tracking_number"]
            .as_str()
            .unwrap()
            .ends_with("-000002"),
        "{next}"
    );
}

/// A booked appointment row written directly: these tests exercise the persistence call that
/// check-in makes, not booking itself (tests/booking.rs covers check-in through HTTP).
async fn appointment(app: &TestApp, citizen_id: Uuid, office_id: Uuid, service_id: Uuid) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start, slot_end,
                                   desk_no, applicant_name, applicant_relation, status, created_at, updated_at)
         VALUES ($1, 'T-' || $1::text, $2, $3, $4, now() + interval '2 days', now() + interval '2 days 30 minutes',
                 1, 'Amal Haddad', 'self', 'booked', now(), now())",
    )
    .bind(id)
    .bind(citizen_id)
    .bind(office_id)
    .bind(service_id)
    .execute(&app.pool)
    .await
    .unwrap();
    id
}
