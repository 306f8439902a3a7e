//! Document requests: creation, the status machine over HTTP, notes visibility, ownership, the
//! staff queue, public tracking and its rate limit.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use futures_util::future::join_all;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Opening, Resp, TestApp, World};

const DOB: &str = "1990-04-05";

/// The world, its service issuing documents (overdue after the default 7 days in a status).
async fn world(pool: PgPool) -> World {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    w
}

fn new_request(office: &str, service: &str) -> Value {
    json!({
        "office_id": office,
        "service_id": service,
        "applicant": { "full_name": "Amal Haddad", "date_of_birth": DOB, "passport_number": "N0123 4567" },
    })
}

impl World {
    async fn request_as(&self, token: Option<&str>, body: Value) -> Resp {
        self.app
            .post("/api/v1/document-requests", token, body)
            .await
    }

    /// The world's citizen asks `office` for a document of `service`.
    async fn submit_to(&self, office: &str, service: &str) -> Value {
        self.request_as(Some(&self.citizen), new_request(office, service))
            .await
            .expect(StatusCode::CREATED)
    }

    async fn submit(&self) -> Value {
        self.submit_to(&self.office, &self.service).await
    }

    /// The officer moves request `id` on to `to`.
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
        self.move_to(id, to, None, None)
            .await
            .expect(StatusCode::OK)
    }

    /// A citizen's own requests.
    async fn list_as(&self, token: &str) -> Value {
        self.app
            .get("/api/v1/document-requests", Some(token))
            .await
            .expect(StatusCode::OK)
    }

    /// Request `id` as a citizen reads it.
    async fn read_as(&self, token: &str, id: &Value) -> Resp {
        let path = format!("/api/v1/document-requests/{}", id.as_str().unwrap());
        self.app.get(&path, Some(token)).await
    }

    /// Request `id` as staff read it.
    async fn staff_view(&self, id: &Value) -> Value {
        let path = format!("/api/v1/admin/document-requests/{}", id.as_str().unwrap());
        self.app
            .get(&path, Some(&self.officer))
            .await
            .expect(StatusCode::OK)
    }

    async fn withdraw(&self, token: &str, id: &Value) -> Resp {
        let path = format!("/api/v1/document-requests/{}/cancel", id.as_str().unwrap());
        self.app.post(&path, Some(token), json!({})).await
    }

    /// The staff queue, `query` included.
    async fn queue(&self, query: &str) -> Value {
        self.app
            .get(
                &format!("/api/v1/admin/document-requests{query}"),
                Some(&self.officer),
            )
            .await
            .expect(StatusCode::OK)
    }

    fn year(&self) -> i32 {
        self.app
            .clock
            .now()
            .with_timezone(&chrono_tz::Europe::Moscow)
            .year()
    }

    async fn audit_rows(&self) -> i64 {
        self.app.count("SELECT count(*) FROM audit_log").await
    }

    async fn status_mails(&self) -> i64 {
        self.app
            .count("SELECT count(*) FROM notifications WHERE kind = 'document_status_changed'")
            .await
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

fn tracking_number(request: &Value) -> &str {
    request["tracking_number"].as_str().unwrap()
}

fn ids(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect()
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn citizen_follows_a_request_from_submission_to_pickup(pool: PgPool) {
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
    w.move_to(
        id,
        "awaiting_documents",
        Some("Please bring your birth certificate."),
        None,
    )
    .await
    .expect(StatusCode::OK);
    for to in ["under_review", "approved", "ready_for_pickup", "collected"] {
        w.app.clock.advance(Duration::hours(5));
        let body = w.moved(id, to).await;
        assert_eq!(body["status"], to);
    }

    let detail = w.read_as(&w.citizen, id).await.expect(StatusCode::OK);
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

    let list = w.list_as(&w.citizen).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["tracking_number"], number.as_str());

    let tracked = track_from(&w.app, &number, DOB, "198.51.100.1:4000")
        .await
        .expect(StatusCode::OK);
    assert_eq!(tracked["status"], "collected");

    let transitions = w
        .app
        .count("SELECT count(*) FROM audit_log WHERE action = 'document_request.transition'")
        .await;
    assert_eq!(transitions, 6, "one audit row per staff transition");
    assert_eq!(
        w.status_mails().await,
        6,
        "one status mail per staff transition"
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

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_class_of_illegal_transition_is_409_naming_the_allowed_targets(pool: PgPool) {
    let w = world(pool).await;
    let audited = w.audit_rows().await;
    let a = w.submit().await;
    let id = &a["id"];
    let refused = |r: Resp| r.expect_problem(StatusCode::CONFLICT, "illegal_transition");

    let skipping_ahead = refused(w.move_to(id, "approved", None, None).await);
    assert_eq!(skipping_ahead["allowed"], json!(["under_review"]));
    assert_eq!(
        (&skipping_ahead["from"], &skipping_ahead["to"]),
        (&json!("submitted"), &json!("approved"))
    );
    // Cancelling is the citizen's alone.
    refused(w.move_to(id, "cancelled", None, None).await);
    w.moved(id, "under_review").await;
    let staying_put = refused(w.move_to(id, "under_review", None, None).await);
    assert_eq!(
        staying_put["allowed"],
        json!(["awaiting_documents", "approved", "rejected"])
    );
    // The citizen may no longer withdraw once review has started.
    let withdrawing = refused(w.withdraw(&w.citizen, id).await);
    assert_eq!(withdrawing["allowed"], json!([]));
    w.moved(id, "approved").await;
    let going_back = refused(w.move_to(id, "under_review", None, None).await);
    assert_eq!(going_back["allowed"], json!(["ready_for_pickup"]));
    refused(w.move_to(id, "rejected", None, None).await);
    let b = w.submit().await;
    w.moved(&b["id"], "under_review").await;
    w.moved(&b["id"], "rejected").await;
    for to in ["under_review", "submitted", "approved", "collected"] {
        let leaving_a_final_state = refused(w.move_to(&b["id"], to, None, None).await);
        assert_eq!(leaving_a_final_state["allowed"], json!([]));
    }
    // An unknown status is a validation error, not a transition.
    w.move_to(id, "lost", None, None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let accepted = w
        .app
        .count("SELECT count(*) FROM document_request_events WHERE from_status IS NOT NULL")
        .await;
    assert_eq!(accepted, 4, "refusals wrote no event");
    assert_eq!(w.status_mails().await, 4, "refusals queued no mail");
    assert_eq!(
        w.audit_rows().await - audited,
        4,
        "refusals were not audited"
    );
    assert_eq!(w.staff_view(id).await["status"], "approved");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn citizen_cancels_only_while_submitted(pool: PgPool) {
    let w = world(pool).await;
    let audited = w.audit_rows().await;
    let a = w.submit().await;
    let cancelled = w
        .withdraw(&w.citizen, &a["id"])
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["can_cancel"], false);
    assert_eq!(cancelled["history"][1]["by"], "citizen");
    w.withdraw(&w.citizen, &a["id"])
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    w.move_to(&a["id"], "under_review", None, None)
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    // A citizen's own withdrawal is not a staff action and sends no status email.
    assert_eq!(w.audit_rows().await - audited, 0);
    assert_eq!(w.status_mails().await, 0);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn citizens_see_public_notes_and_never_internal_ones(pool: PgPool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = &a["id"];
    w.moved(id, "under_review").await;
    let staff_answer = w
        .move_to(
            id,
            "awaiting_documents",
            Some("Bring the old passport."),
            Some("INTERNAL: suspected forgery"),
        )
        .await
        .expect(StatusCode::OK);
    let last = &staff_answer["history"][2];
    assert_eq!(last["internal_note"], "INTERNAL: suspected forgery");
    assert_eq!(last["public_note"], "Bring the old passport.");
    assert!(last["actor_id"].is_string());
    assert_eq!(
        w.staff_view(id).await["history"][2]["internal_note"],
        "INTERNAL: suspected forgery"
    );

    let mine = w.read_as(&w.citizen, id).await.expect(StatusCode::OK);
    assert_eq!(mine["history"][2]["public_note"], "Bring the old passport.");
    assert!(mine["history"][2].get("internal_note").is_none(), "{mine}");
    assert!(mine["history"][2].get("actor_id").is_none(), "{mine}");
    let list = w.list_as(&w.citizen).await;
    for body in [mine.to_string(), list.to_string()] {
        assert!(!body.contains("INTERNAL"), "{body}");
    }
    let payloads: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM notifications WHERE kind = 'document_status_changed'",
    )
    .fetch_all(&w.app.pool)
    .await
    .unwrap();
    assert!(
        payloads.iter().all(|p| !p.to_string().contains("INTERNAL")),
        "an internal note in a mail to the citizen"
    );
    let mails = w.app.mails_to(World::CITIZEN).await;
    assert!(mails.iter().all(|m| !m.contains("INTERNAL")));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn another_citizens_request_is_404_for_every_verb(pool: PgPool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = &a["id"];
    let other = w.app.verified_citizen("other@example.org").await;

    let theirs = w
        .read_as(&other, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unknown = w.read_as(&other, &json!(Uuid::new_v4())).await;
    assert_eq!(
        theirs, unknown.body,
        "someone else's id must look like an unknown one"
    );
    w.withdraw(&other, id)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let list = w.list_as(&other).await;
    assert_eq!(list["total"], 0);
    assert_eq!(list["items"], json!([]));
    let mine = w.read_as(&w.citizen, id).await.expect(StatusCode::OK);
    assert_eq!(
        mine["status"], "submitted",
        "the owner's request is untouched"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn creation_is_refused_for_unknown_or_non_documentary_catalogue_entries(pool: PgPool) {
    let w = &world(pool).await;
    let visit = w.app.create_service(&w.admin, "legalisation", 30).await;
    let refused = |body: Value, code: &'static str| async move {
        w.request_as(Some(&w.citizen), body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, code)
    };
    refused(new_request(&w.office, &visit), "service_not_documentary").await;
    let nowhere = Uuid::new_v4().to_string();
    refused(new_request(&nowhere, &w.service), "unknown_office").await;
    refused(new_request(&w.office, &nowhere), "unknown_service").await;
    w.patch_service(json!({ "active": false })).await;
    refused(new_request(&w.office, &w.service), "unknown_service").await;
    w.patch_service(json!({ "active": true })).await;

    // An appointment that cannot be shown to be the citizen's own.
    let mut body = new_request(&w.office, &w.service);
    body["appointment_id"] = json!(Uuid::new_v4());
    refused(body, "unknown_appointment").await;

    let problem = refused(
        json!({
            "office_id": w.office, "service_id": w.service,
            "applicant": { "full_name": "A", "date_of_birth": "2999-01-01", "passport_number": "??" },
        }),
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3, "{problem}");

    w.request_as(Some(&w.officer), new_request(&w.office, &w.service))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.request_as(None, new_request(&w.office, &w.service))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");

    let ok = w.submit().await;
    assert!(
        tracking_number(&ok).ends_with("-000001"),
        "refusals took no tracking number: {ok}"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn fifty_concurrent_creations_in_one_office_get_fifty_consecutive_numbers(pool: PgPool) {
    let w = world(pool).await;
    let body = new_request(&w.office, &w.service);
    // Ten citizens, each up to the cap of five open requests.
    let mut citizens = Vec::new();
    for i in 0..10 {
        citizens.push(w.app.quick_citizen(&format!("c{i}@example.org")).await);
    }
    let results =
        join_all((0..50).map(|i| w.request_as(Some(&citizens[i % 10]), body.clone()))).await;
    let mut numbers: Vec<String> = results
        .iter()
        .map(|r| tracking_number(&r.expect(StatusCode::CREATED)).to_owned())
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=50)
        .map(|n| format!("SY-MOW-{}-{n:06}", w.year()))
        .collect();
    assert_eq!(numbers, expected);

    let led = w.app.create_office(&w.admin, "LED", "Europe/Moscow").await;
    let other = w.submit_to(&led, &w.service).await;
    assert_eq!(
        other["tracking_number"],
        format!("SY-LED-{}-000001", w.year()),
        "another office has its own sequence"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_sequence_follows_the_office_local_year(pool: PgPool) {
    let w = world(pool).await;
    let ekb = w
        .app
        .create_office(&w.admin, "SVX", "Asia/Yekaterinburg")
        .await;
    // 20:30 UTC on 31 December is already 1 January in Yekaterinburg (UTC+5).
    let eve = chrono::Utc
        .with_ymd_and_hms(2030, 12, 31, 20, 30, 0)
        .unwrap();
    w.app.clock.set(eve);
    let body = w.submit_to(&ekb, &w.service).await;
    assert_eq!(body["tracking_number"], "SY-SVX-2031-000001");
    assert_eq!(body["created_at"], "2031-01-01T01:30:00+05:00");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn tracking_answers_the_status_only_for_the_right_date_of_birth(pool: PgPool) {
    let w = world(pool).await;
    let a = w.submit().await;
    w.moved(&a["id"], "under_review").await;
    let number = tracking_number(&a);
    let peer = "198.51.100.7:4000";

    let tracked = track_from(&w.app, number, DOB, peer).await;
    let body = tracked.expect(StatusCode::OK);
    assert_eq!(body["tracking_number"], number);
    assert_eq!(body["status"], "under_review");
    assert!(body["status_changed_at"]
        .as_str()
        .unwrap()
        .ends_with("+03:00"));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["status", "status_changed_at", "tracking_number"]);
    assert_eq!(tracked.header("cache-control"), "no-store");
    let r = track_from(&w.app, &number.to_lowercase(), DOB, peer).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "lower case as typed is the same number"
    );

    let wrong_dob = track_from(&w.app, number, "1990-04-06", peer).await;
    wrong_dob.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unknown = track_from(&w.app, &format!("SY-MOW-{}-000999", w.year()), DOB, peer).await;
    let malformed = track_from(&w.app, "SY-MOW-123", DOB, peer).await;
    assert_eq!(wrong_dob.body, unknown.body);
    assert_eq!(wrong_dob.body, malformed.body);
    assert_eq!(wrong_dob.status, unknown.status);

    w.app
        .call(
            TestRequest::get()
                .uri(&format!("/api/v1/track/{number}"))
                .peer_addr(peer.parse().unwrap()),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn tracking_is_rate_limited_per_address_across_server_processes(pool: PgPool) {
    let mut w = world(pool).await;
    w.app.default_limits();
    let a = w.submit().await;
    let number = tracking_number(&a);
    let second = w.app.another_instance().await;
    let peer = "203.0.113.9:5000";

    for i in 0..10 {
        let app = if i % 2 == 0 { &w.app } else { &second };
        let r = track_from(app, number, DOB, peer).await;
        assert_eq!(r.status, StatusCode::OK, "lookup {i}: {}", r.body);
    }
    for app in [&w.app, &second] {
        let r = track_from(app, number, DOB, peer).await;
        r.expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let retry = r.retry_after();
        assert!((1..=600).contains(&retry), "{retry}");
    }
    let r = track_from(&second, number, DOB, "203.0.113.10:5000").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "another address has its own budget"
    );
    w.app.clock.advance(Duration::minutes(10));
    let r = track_from(&w.app, number, DOB, peer).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the limited address may look again once the window is over"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn forwarded_for_counts_only_when_configured(pool: PgPool) {
    let mut w = world(pool).await;
    w.app.default_limits();
    let a = w.submit().await;
    let number = tracking_number(&a).to_owned();
    // Off by default: a client inventing a new address per request stays limited.
    for i in 0..10 {
        lookup_forwarded(&w.app, &number, format!("192.0.2.{i}"))
            .await
            .expect(StatusCode::OK);
    }
    lookup_forwarded(&w.app, &number, "192.0.2.200")
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Behind a trusted proxy the right-most entry is the client; entries to its left are ignored.
    w.app.clock.advance(Duration::minutes(10));
    w.app.trust_forwarded_for();
    for i in 0..10 {
        let xff = format!("1.2.3.{i}, 198.51.100.77");
        lookup_forwarded(&w.app, &number, xff)
            .await
            .expect(StatusCode::OK);
    }
    lookup_forwarded(&w.app, &number, "9.9.9.9, 198.51.100.77")
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    lookup_forwarded(&w.app, &number, "198.51.100.78")
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_status_email_goes_to_the_citizen_in_their_language(pool: PgPool) {
    let w = world(pool).await;
    let layla = w.app.verified_citizen_in("layla@example.org", "ar").await;
    let a = w
        .request_as(Some(&layla), new_request(&w.office, &w.service))
        .await
        .expect(StatusCode::CREATED);
    let before = w.app.mails_to("layla@example.org").await.len();

    w.moved(&a["id"], "under_review").await;
    let (language, recipient): (String, String) = sqlx::query_as(
        "SELECT language, recipient FROM notifications WHERE kind = 'document_status_changed'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    assert_eq!(
        (language.as_str(), recipient.as_str()),
        ("ar", "layla@example.org")
    );
    let mails = w.app.mails_to("layla@example.org").await;
    assert_eq!(mails.len(), before + 1);
    assert!(w.app.mails_to("officer@mawid.test").await.is_empty());
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn staff_queue_filters_and_pages_oldest_first(pool: PgPool) {
    let w = world(pool).await;
    let slow = w
        .app
        .insert_documentary_service("civil-registry-birth", 3)
        .await;
    let led = w.app.create_office(&w.admin, "LED", "Europe/Moscow").await;
    // Created one day apart: a (passport, 7-day target), b (birth, 3-day), c (LED), d (passport).
    let a = w.submit().await;
    w.app.clock.advance(Duration::days(1));
    let b = w.submit_to(&w.office, &slow).await;
    w.app.clock.advance(Duration::days(1));
    let c = w.submit_to(&led, &w.service).await;
    w.app.clock.advance(Duration::days(1));
    let d = w.submit().await;
    w.moved(&d["id"], "under_review").await;
    w.app.clock.advance(Duration::days(3));
    // a has been 6 days in submitted, b 5 (target 3: overdue), c 4; d 3 in under_review.

    let all = w.queue("").await;
    assert_eq!(ids(&all), [&a, &b, &c, &d].map(|r| r["id"].clone()));
    assert_eq!(all["total"], 4);
    assert_eq!(all["items"][0]["days_in_status"], 6);
    assert_eq!(
        all["items"][0]["allowed_transitions"],
        json!(["under_review"])
    );

    assert_eq!(
        ids(&w.queue("?status=submitted").await),
        [&a, &b, &c].map(|r| r["id"].clone())
    );
    assert_eq!(
        ids(&w.queue("?status=under_review").await),
        [d["id"].clone()]
    );
    assert_eq!(
        ids(&w.queue(&format!("?office_id={led}")).await),
        [c["id"].clone()]
    );
    assert_eq!(
        ids(&w.queue(&format!("?service_id={slow}")).await),
        [b["id"].clone()]
    );

    let overdue = w.queue("?overdue=true").await;
    assert_eq!(ids(&overdue), [b["id"].clone()]);
    assert_eq!(overdue["items"][0]["overdue"], true);
    w.app.clock.advance(Duration::days(2));
    // a: 8 days > 7; b: 7 > 3; c: 6; d: 5.
    assert_eq!(
        ids(&w.queue("?overdue=true").await),
        [&a, &b].map(|r| r["id"].clone())
    );

    let p1 = w.queue("?per_page=3&page=1").await;
    let p2 = w.queue("?per_page=3&page=2").await;
    assert_eq!(
        (p1["total"].clone(), p2["total"].clone()),
        (json!(4), json!(4))
    );
    assert_eq!(ids(&p1), [&a, &b, &c].map(|r| r["id"].clone()));
    assert_eq!(ids(&p2), [d["id"].clone()]);

    w.moved(&b["id"], "under_review").await;
    w.moved(&b["id"], "rejected").await;
    w.app.clock.advance(Duration::days(30));
    let overdue = w.queue("?overdue=true").await;
    assert!(
        !ids(&overdue).contains(&b["id"]),
        "final statuses are never overdue"
    );

    let problem = w
        .app
        .get(
            "/api/v1/admin/document-requests?status=lost&per_page=0",
            Some(&w.officer),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn staff_routes_refuse_citizens_and_anonymous_callers(pool: PgPool) {
    let w = world(pool).await;
    let a = w.submit().await;
    let id = a["id"].as_str().unwrap();
    let queue = "/api/v1/admin/document-requests";
    w.app
        .get(queue, Some(&w.citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.app
        .get(&format!("{queue}/{id}"), Some(&w.citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.app
        .post(
            &format!("{queue}/{id}/transition"),
            Some(&w.citizen),
            json!({ "to": "under_review" }),
        )
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.app
        .get(queue, None)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    w.app
        .get(&format!("{queue}/{}", Uuid::new_v4()), Some(&w.officer))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let r = w.app.get(queue, Some(&w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "an admin is staff too");
}

/// The ids check-in works with, for calling the persistence layer directly.
async fn opening(w: &World, actor: &str) -> Opening {
    let citizen = w.app.user_id(&w.citizen).await;
    let (office, service) = (w.office.parse().unwrap(), w.service.parse().unwrap());
    Opening {
        citizen,
        office,
        service,
        appointment: w.app.insert_appointment(citizen, office, service).await,
        applicant: "Amal Haddad".into(),
        date_of_birth: None,
        passport: None,
        actor: w.app.user_id(actor).await,
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn opening_from_an_appointment_is_idempotent_and_takes_one_number(pool: PgPool) {
    let w = world(pool).await;
    let open = Opening {
        passport: Some("N01234567".into()),
        ..opening(&w, &w.officer).await
    };
    let twice = w
        .app
        .open_for_appointment(&[open.clone(), open.clone()])
        .await;
    let first = &twice[0];
    assert_eq!(first.id, twice[1].id);
    let later = w
        .app
        .open_for_appointment(std::slice::from_ref(&open))
        .await;
    assert_eq!(first.id, later[0].id);
    assert!(first.tracking_number.ends_with("-000001"));
    assert_eq!(first.status, "submitted");

    let list = w.list_as(&w.citizen).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["appointment_id"], json!(open.appointment));
    let next = w.submit().await;
    assert!(tracking_number(&next).ends_with("-000002"), "{next}");
    // A service withdrawn after booking still opens the request of an appointment checked in.
    w.patch_service(json!({ "active": false })).await;
    let appointment = w
        .app
        .insert_appointment(open.citizen, open.office, open.service)
        .await;
    let other = w
        .app
        .open_for_appointment(&[Opening {
            appointment,
            ..open
        }])
        .await;
    assert!(
        other[0].tracking_number.ends_with("-000003"),
        "{}",
        other[0].tracking_number
    );
    // No date of birth is on file, so public tracking cannot match it.
    track_from(&w.app, &first.tracking_number, DOB, "198.51.100.3:1")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn concurrent_check_ins_of_one_appointment_open_one_request(pool: PgPool) {
    let w = world(pool).await;
    let open = Opening {
        date_of_birth: NaiveDate::from_ymd_opt(1990, 4, 5),
        ..opening(&w, &w.citizen).await
    };
    let rows =
        join_all((0..4).map(|_| w.app.open_for_appointment(std::slice::from_ref(&open)))).await;
    assert!(
        rows.iter().all(|r| r[0].id == rows[0][0].id),
        "one request for one appointment"
    );
    assert_eq!(
        w.app.count("SELECT count(*) FROM document_requests").await,
        1
    );
    // The losers' increments were rolled back with their savepoints.
    let next = w.submit().await;
    assert!(tracking_number(&next).ends_with("-000002"), "{next}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_new_request_answers_its_creation_entry_exactly_as_its_get_does(pool: PgPool) {
    let w = world(pool).await;
    let created = w.submit().await;
    let history = created["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{created}");
    assert_eq!(history[0]["from"], Value::Null);
    assert_eq!(history[0]["to"], "submitted");
    assert_eq!(history[0]["by"], "citizen");
    let read = w
        .app
        .get(
            &format!(
                "/api/v1/document-requests/{}",
                created["id"].as_str().unwrap()
            ),
            Some(&w.citizen),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(read, created);
}
