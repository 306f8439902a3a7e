//! Personal data (152-FZ): staff reads audited and shown to the citizen in their access log.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{own_passport, strings, with_token, World};

const DOB: &str = "1988-03-14";

impl World {
    /// The world's service issues documents; `token`'s citizen submits a request for themself.
    async fn submitted_request(&self, token: &str, full_name: &str) -> Value {
        self.service_issues_documents().await;
        self.app
            .post(
                "/api/v1/document-requests",
                Some(token),
                json!({
                    "office_id": self.office,
                    "service_id": self.service,
                    "applicant": { "full_name": full_name, "date_of_birth": DOB },
                }),
            )
            .await
            .expect(StatusCode::CREATED)
    }

    fn agenda_path(&self, days: i64) -> String {
        format!(
            "/api/v1/admin/offices/{}/agenda?date={}",
            self.office,
            self.day(days)
        )
    }

    async fn agenda_csv(&self, token: &str, days: i64) {
        let req = TestRequest::get()
            .uri(&self.agenda_path(days))
            .insert_header(("Accept", "text/csv"));
        let r = self.app.call(with_token(req, Some(token))).await;
        assert_eq!(r.status, StatusCode::OK);
    }

    async fn get_ok(&self, path: &str, token: &str) -> Value {
        self.app.get(path, Some(token)).await.expect(StatusCode::OK)
    }

    async fn audit(&self, action: &str) -> Vec<Value> {
        let log = self
            .get_ok(
                &format!("/api/v1/admin/audit-log?action={action}"),
                &self.admin,
            )
            .await;
        log["items"].as_array().unwrap().clone()
    }

    async fn access_log(&self, token: &str, query: &str) -> Value {
        self.get_ok(&format!("/api/v1/me/access-log{query}"), token)
            .await
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_staff_read_is_audited_under_its_action_with_kinds_and_ids_never_the_query_text(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let citizen_id = w.app.user_id(&w.citizen).await.to_string();
    let officer_id = w.app.user_id(&w.officer).await.to_string();
    let passport = "N7654321";
    let booked = w
        .book_for(
            &w.citizen,
            &w.service,
            &w.at(2, "09:00"),
            Some(json!({ "passport_number": passport })),
        )
        .await
        .expect(StatusCode::CREATED);
    let request = w.submitted_request(&w.citizen, "Amal Haddad").await;

    w.get_ok(&w.agenda_path(2), &w.officer).await;
    w.agenda_csv(&w.officer, 2).await;
    let request_id = request["id"].as_str().unwrap();
    w.get_ok(
        &format!("/api/v1/admin/document-requests/{request_id}"),
        &w.officer,
    )
    .await;
    w.get_ok(&format!("/api/v1/admin/citizens/{citizen_id}"), &w.officer)
        .await;
    w.get_ok(&format!("/api/v1/admin/search?q={passport}"), &w.officer)
        .await;
    let reference = booked["reference"].as_str().unwrap();
    w.get_ok(&format!("/api/v1/admin/search?q={reference}"), &w.officer)
        .await;

    let viewed = w.audit("agenda.view").await;
    assert_eq!(viewed.len(), 1, "one entry per office-day: {viewed:?}");
    assert_eq!(viewed[0]["actor_id"], officer_id.as_str());
    assert_eq!(viewed[0]["target_id"], w.office.as_str());
    assert_eq!(viewed[0]["details"]["date"], w.day(2).to_string());
    let exported = w.audit("agenda.export").await;
    assert_eq!(exported.len(), 1, "the CSV is an export: {exported:?}");
    assert_eq!(exported[0]["details"]["date"], w.day(2).to_string());
    let opened = w.audit("document_request.view").await;
    assert_eq!(strings(&json!(opened), "/target_id"), [request_id]);
    let booked_id = booked["id"].as_str().unwrap();
    w.get_ok(
        &format!("/api/v1/admin/appointments/{booked_id}"),
        &w.officer,
    )
    .await;
    let seen = w.audit("appointment.view").await;
    assert_eq!(strings(&json!(seen), "/target_id"), [booked_id]);
    let files = w.audit("citizen.view").await;
    assert_eq!(strings(&json!(files), "/target_id"), [citizen_id.as_str()]);
    let searches = w.audit("search").await;
    assert_eq!(searches.len(), 2);
    let by_reference = &searches[0]["details"];
    assert_eq!(by_reference["kinds"], json!(["reference", "name"]));
    assert_eq!(by_reference["appointments"], json!([booked["id"]]));
    let by_passport = &searches[1]["details"];
    assert_eq!(by_passport["kinds"], json!(["identity"]));
    assert_eq!(by_passport["appointments"], json!([booked["id"]]));

    let all = w
        .get_ok("/api/v1/admin/audit-log?per_page=200", &w.admin)
        .await;
    let text = all.to_string();
    assert!(
        !text.contains(passport),
        "the identity number searched for: {text}"
    );
    assert!(!text.contains(reference), "no query text is kept: {text}");
    assert!(!text.contains("Amal"), "no applicant name: {text}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_access_log_shows_the_citizen_staff_reads_of_their_records_by_role_and_office_only(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let citizen_id = w.app.user_id(&w.citizen).await;
    let officer_id = w.app.user_id(&w.officer).await.to_string();
    let admin_id = w.app.user_id(&w.admin).await.to_string();
    let other = w.app.quick_citizen("other@example.org").await;
    let other_id = w.app.user_id(&other).await;
    let appointment = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let request = w.submitted_request(&w.citizen, "Amal Haddad").await;
    w.booked(&other, &w.at(3, "09:00")).await;

    w.get_ok(&w.agenda_path(2), &w.officer).await;
    w.agenda_csv(&w.admin, 2).await;
    let request_id = request["id"].as_str().unwrap();
    w.get_ok(
        &format!("/api/v1/admin/document-requests/{request_id}"),
        &w.officer,
    )
    .await;
    w.get_ok(&format!("/api/v1/admin/citizens/{citizen_id}"), &w.admin)
        .await;
    w.get_ok(
        &format!("/api/v1/admin/search?q={}", own_passport(World::CITIZEN)),
        &w.officer,
    )
    .await;
    let opened = w
        .get_ok(
            &format!("/api/v1/admin/appointments/{appointment}"),
            &w.officer,
        )
        .await;
    assert_eq!(opened["citizen_id"], citizen_id.to_string());
    assert_eq!(opened["id"], appointment.as_str());
    w.app
        .get(
            &format!("/api/v1/admin/appointments/{}", uuid::Uuid::new_v4()),
            Some(&w.officer),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // Reads of the other citizen's records only.
    w.get_ok(&w.agenda_path(3), &w.officer).await;
    w.get_ok(&format!("/api/v1/admin/citizens/{other_id}"), &w.officer)
        .await;

    let log = w.access_log(&w.citizen, "").await;
    // The search by the citizen's own passport hit both their profile and their appointment.
    assert_eq!(log["total"], 7, "{log}");
    assert_eq!(
        (log["page"].as_i64(), log["per_page"].as_i64()),
        (Some(1), Some(20))
    );
    let items = log["items"].as_array().unwrap();
    let seen: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["what"].as_str().unwrap(),
                i["action"].as_str().unwrap(),
                i["staff_role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("appointment", "appointment.view", "officer"),
            ("search_hit", "search", "officer"),
            ("search_hit", "search", "officer"),
            ("profile", "citizen.view", "admin"),
            ("document_request", "document_request.view", "officer"),
            ("agenda_day", "agenda.export", "admin"),
            ("agenda_day", "agenda.view", "officer"),
        ],
        "newest first"
    );
    assert_eq!(items[0]["record_id"], appointment.as_str());
    // One search's hits share its instant: their order between them is not part of the log.
    let mut hits: Vec<(&str, &str)> = items[1..3]
        .iter()
        .map(|i| {
            (
                i["record_type"].as_str().unwrap(),
                i["record_id"].as_str().unwrap(),
            )
        })
        .collect();
    hits.sort();
    let citizen = citizen_id.to_string();
    assert_eq!(
        hits,
        [
            ("appointment", appointment.as_str()),
            ("citizen", citizen.as_str())
        ]
    );
    assert_eq!(
        items[1]["office_id"].is_null(),
        items[1]["record_type"] == "citizen"
    );
    assert_eq!(items[4]["record_id"], request_id);
    assert_eq!(items[4]["office_id"], w.office.as_str());
    assert_eq!(items[6]["date"], w.day(2).to_string());
    assert_eq!(items[6]["office_id"], w.office.as_str());
    let text = log.to_string();
    for staff in [&officer_id, &admin_id, "Staff Member", "mawid.test"] {
        assert!(!text.contains(staff), "{staff} leaks: {text}");
    }

    let second = w.access_log(&w.citizen, "?page=2&per_page=2").await;
    assert_eq!(second["total"], 7);
    assert_eq!(
        strings(&second["items"], "/what"),
        ["search_hit", "profile"]
    );
    let others = w.access_log(&other, "").await;
    assert_eq!(
        strings(&others["items"], "/what"),
        ["profile", "agenda_day"],
        "only the other citizen's own records: {others}"
    );
    w.app
        .get("/api/v1/me/access-log", Some(&w.officer))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    w.app
        .get("/api/v1/me/access-log?per_page=0", Some(&w.citizen))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

/// Stored phone form of the citizen's phone, and their other personal values.
const PHONE: &str = "+7 916 555-12-34";
const STORED_PHONE: &str = "+79165551234";
const FULL_NAME: &str = "Zainab Qudsi";
const CHILD: &str = "Yusuf Qudsi";
const CHILD_NATIONAL: &str = "98765432101";
const REQUEST_PASSPORT: &str = "N5550001";

impl World {
    /// The world's citizen with every kind of record: a profile with phone and passport, a
    /// future booking, a submitted document request, a waitlist entry for
    /// a child, the mails those sent, and staff reads of them. Returns the request's id.
    async fn citizen_with_everything(&self) -> String {
        self.app
            .patch(
                "/api/v1/me",
                Some(&self.citizen),
                json!({ "full_name": FULL_NAME, "phone": PHONE }),
            )
            .await
            .expect(StatusCode::OK);
        self.booked(&self.citizen, &self.at(2, "09:00")).await;
        self.service_issues_documents().await;
        let request = self
            .app
            .post(
                "/api/v1/document-requests",
                Some(&self.citizen),
                json!({
                    "office_id": self.office,
                    "service_id": self.service,
                    "applicant": { "full_name": FULL_NAME, "date_of_birth": DOB,
                                   "passport_number": REQUEST_PASSPORT },
                }),
            )
            .await
            .expect(StatusCode::CREATED);
        let request_id = request["id"].as_str().unwrap().to_owned();
        self.app
            .post(
                "/api/v1/waitlist",
                Some(&self.citizen),
                json!({
                    "office_id": self.office, "service_id": self.service,
                    "from": self.day(1), "to": self.day(10),
                    "applicant": { "full_name": CHILD, "relation": "child",
                                   "national_number": CHILD_NATIONAL },
                }),
            )
            .await
            .expect(StatusCode::CREATED);
        self.get_ok(&self.agenda_path(2), &self.officer).await;
        self.get_ok(
            &format!("/api/v1/admin/document-requests/{request_id}"),
            &self.officer,
        )
        .await;
        self.app.deliver_mail().await;
        request_id
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_export_holds_every_kind_of_record_of_the_citizen_and_no_token(pool: PgPool) {
    let w = World::new(pool).await;
    let request_id = w.citizen_with_everything().await;
    let other = w.app.quick_citizen("other@example.org").await;
    w.booked(&other, &w.at(3, "10:00")).await;

    let e = w.get_ok("/api/v1/me/export", &w.citizen).await;
    assert_eq!(e["profile"]["email"], World::CITIZEN);
    assert_eq!(e["profile"]["full_name"], FULL_NAME);
    assert_eq!(e["profile"]["phone"], STORED_PHONE);
    assert_eq!(
        e["profile"]["passport_number"],
        own_passport(World::CITIZEN)
    );
    let appointments = e["appointments"].as_array().unwrap();
    assert_eq!(appointments.len(), 1, "only the caller's own: {e}");
    assert_eq!(appointments[0]["start"], w.at(2, "09:00"));
    assert_eq!(
        strings(&e["document_requests"], "/id"),
        [request_id.as_str()]
    );
    let request = &e["document_requests"][0];
    assert_eq!(request["applicant"]["date_of_birth"], DOB);
    assert_eq!(strings(&request["history"], "/to"), ["submitted"]);
    assert_eq!(e["waitlist"][0]["applicant"]["full_name"], CHILD);
    assert_eq!(
        e["waitlist"][0]["applicant"]["national_number"],
        CHILD_NATIONAL
    );
    let mails = strings(&e["mails"], "/kind");
    assert!(
        mails.contains(&"verify_email") && mails.contains(&"appointment_booked"),
        "{mails:?}"
    );
    assert!(e["mails"][0].get("payload").is_none() && e["mails"][0].get("recipient").is_none());
    assert_eq!(
        strings(&e["access_log"], "/what"),
        ["document_request", "agenda_day"]
    );
    let text = e.to_string();
    let token = w.app.count("SELECT count(*) FROM one_time_tokens").await;
    assert!(token > 0);
    assert!(!text.contains("token\""), "no token field: {text}");
    w.app
        .get("/api/v1/me/export", Some(&w.officer))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

/// Every text, varchar, json and jsonb column of every table holding `value` (any case), as
/// `table.column`; dates are compared as text.
async fn columns_holding(pool: &PgPool, value: &str) -> Vec<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text
         FROM information_schema.columns c
         JOIN information_schema.tables t
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
           AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'date')",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(columns.len() > 40, "the schema's columns: {columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        let n: i64 = sqlx::query_scalar(&format!(
            r#"SELECT count(*) FROM "{table}" WHERE strpos(lower("{column}"::text), lower($1)) > 0"#
        ))
        .bind(value)
        .fetch_one(pool)
        .await
        .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn erasing_the_account_cancels_revokes_and_leaves_no_personal_value_anywhere(pool: PgPool) {
    let w = World::new(pool).await;
    let request_id = w.citizen_with_everything().await;
    let citizen_id = w.app.user_id(&w.citizen).await;
    let pair = w
        .app
        .login(World::CITIZEN, crate::helpers::PASSWORD)
        .await
        .expect(StatusCode::OK);
    let values = [
        World::CITIZEN,
        FULL_NAME,
        STORED_PHONE,
        &own_passport(World::CITIZEN),
        CHILD,
        CHILD_NATIONAL,
        REQUEST_PASSPORT,
        DOB,
    ];
    for v in values {
        assert!(
            !columns_holding(&w.app.pool, v).await.is_empty(),
            "{v} is held before"
        );
    }

    w.app
        .send(
            actix_web::http::Method::DELETE,
            "/api/v1/me",
            Some(&w.citizen),
            Some(json!({ "password": "not the password" })),
        )
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    w.app
        .send(
            actix_web::http::Method::DELETE,
            "/api/v1/me",
            Some(&w.officer),
            Some(json!({ "password": crate::helpers::PASSWORD })),
        )
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let r = w
        .app
        .send(
            actix_web::http::Method::DELETE,
            "/api/v1/me",
            Some(&w.citizen),
            Some(json!({ "password": crate::helpers::PASSWORD })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    for v in values {
        let held = columns_holding(&w.app.pool, v).await;
        assert!(held.is_empty(), "{v} is still held in {held:?}");
    }
    let q = |sql: &str| sql.replace("$ID", &citizen_id.to_string());
    assert_eq!(
        w.app
            .count(&q("SELECT count(*) FROM appointments WHERE citizen_id = '$ID' AND status = 'cancelled' AND cancelled_by = 'citizen'"))
            .await,
        1,
        "the future booking is cancelled, its row kept for the statistics"
    );
    assert_eq!(
        w.app.count("SELECT count(*) FROM desk_releases").await,
        1,
        "its desk released into the cool-down"
    );
    assert_eq!(
        w.app
            .count(&q("SELECT count(*) FROM waitlist_entries WHERE citizen_id = '$ID' AND status = 'left'"))
            .await,
        1
    );
    assert_eq!(
        w.app
            .count(&format!("SELECT count(*) FROM document_requests WHERE id = '{request_id}' AND status = 'cancelled'"))
            .await,
        1
    );
    w.app
        .get("/api/v1/me", Some(&w.citizen))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    w.app
        .refresh(&pair["refresh_token"])
        .await
        .expect(StatusCode::UNAUTHORIZED);
    w.app
        .login(World::CITIZEN, crate::helpers::PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");

    let again = w.app.verified_citizen(World::CITIZEN).await;
    assert_ne!(w.app.user_id(&again).await, citizen_id, "a new account");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_account_is_not_erased_while_the_consulate_holds_its_papers(pool: PgPool) {
    let w = World::new(pool).await;
    let request = w.submitted_request(&w.citizen, "Amal Haddad").await;
    let id = request["id"].as_str().unwrap();
    let erase = || {
        w.app.send(
            actix_web::http::Method::DELETE,
            "/api/v1/me",
            Some(&w.citizen),
            Some(json!({ "password": crate::helpers::PASSWORD })),
        )
    };
    let path = format!("/api/v1/admin/document-requests/{id}/transition");
    let transition = |to: &'static str| w.app.post(&path, Some(&w.officer), json!({ "to": to }));
    for to in ["under_review", "approved", "ready_for_pickup"] {
        transition(to).await.expect(StatusCode::OK);
        erase()
            .await
            .expect_problem(StatusCode::CONFLICT, "active_document_requests");
    }
    transition("collected").await.expect(StatusCode::OK);
    erase().await.expect(StatusCode::NO_CONTENT);
}

async fn purge(app: &crate::helpers::TestApp) -> Option<mawid_persistence::retention::Purged> {
    mawid_persistence::retention::purge(
        &app.pool,
        app.clock.now(),
        mawid_domain::retention::RetentionPolicy::default(),
    )
    .await
    .unwrap()
}

/// Two instances purge at once; the purges that ran add up to what one would have done.
async fn purge_twice(w: &World, other: &crate::helpers::TestApp) -> (u64, u64, u64, u64, u64) {
    other.clock.set(w.app.clock.now());
    let (a, b) = futures_util::join!(purge(&w.app), purge(other));
    assert!(a.is_some() || b.is_some(), "one of them purges");
    [a, b].into_iter().flatten().fold((0, 0, 0, 0, 0), |t, p| {
        (
            t.0 + p.idempotency_keys,
            t.1 + p.login_failures,
            t.2 + p.mail_bodies,
            t.3 + p.appointment_identities,
            t.4 + p.request_identities,
        )
    })
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_retention_purge_drops_each_kind_of_record_after_its_period_once_across_instances(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let other = w.app.another_instance().await;
    let req = TestRequest::post()
        .uri("/api/v1/appointments")
        .insert_header(("Idempotency-Key", "retention-1"))
        .set_json(
            json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00") }),
        );
    let r = w.app.call(with_token(req, Some(&w.citizen))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // A walk-in, who has no account to erase, keeps their contact on the booking until the purge.
    w.app
        .post(
            "/api/v1/admin/appointments",
            Some(&w.officer),
            json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "10:00"),
                    "reason": "at the counter",
                    "applicant": { "full_name": "Omar Khalil", "passport_number": "W1234567",
                                   "phone": "+79001234567", "email": "omar@example.org",
                                   "preferred_language": "ru" } }),
        )
        .await
        .expect(StatusCode::CREATED);
    let request = w.submitted_request(&w.citizen, "Amal Haddad").await;
    w.app
        .post(
            &format!(
                "/api/v1/document-requests/{}/cancel",
                request["id"].as_str().unwrap()
            ),
            Some(&w.citizen),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    w.app
        .login(World::CITIZEN, "not the password")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    w.app.deliver_mail().await;
    let counters =
        "SELECT count(*) FROM rate_limits WHERE name IN ('LOGIN_FAILURES', 'LOGIN_ACCOUNT')";
    assert_eq!(
        w.app.count("SELECT count(*) FROM idempotency_keys").await,
        1
    );
    assert!(w.app.count(counters).await > 0);
    let sent = w
        .app
        .count("SELECT count(*) FROM notifications WHERE status = 'sent'")
        .await;
    assert!(sent >= 2, "verification and confirmation mails: {sent}");

    assert_eq!(
        purge_twice(&w, &other).await,
        (0, 0, 0, 0, 0),
        "nothing is due yet"
    );
    w.app.clock.advance(chrono::Duration::hours(25));
    let (keys, failures, bodies, ..) = purge_twice(&w, &other).await;
    assert_eq!((keys, bodies), (1, 0));
    assert!(failures > 0);
    assert_eq!(
        w.app.count("SELECT count(*) FROM idempotency_keys").await,
        0
    );
    assert_eq!(w.app.count(counters).await, 0);

    w.app.clock.advance(chrono::Duration::days(30));
    let (_, _, bodies, identities, requests) = purge_twice(&w, &other).await;
    assert_eq!((bodies, identities, requests), (sent as u64, 0, 0));
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM notifications WHERE status = 'sent' AND (payload ? 'full_name' OR payload ? 'token')")
            .await,
        0,
        "no delivered body holds a name or a token"
    );
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM notifications WHERE status = 'sent'")
            .await,
        sent,
        "the mails stay counted"
    );

    w.app.clock.advance(chrono::Duration::days(3 * 366));
    let (.., identities, requests) = purge_twice(&w, &other).await;
    assert_eq!((identities, requests), (2, 1));
    assert_eq!(
        w.app
            .count(
                "SELECT count(*) FROM appointments WHERE passport_number IS NOT NULL
                 OR national_number IS NOT NULL OR walk_in_phone IS NOT NULL
                 OR walk_in_email IS NOT NULL"
            )
            .await,
        0
    );
    assert_eq!(
        w.app
            .count(
                "SELECT count(*) FROM document_requests WHERE applicant_date_of_birth IS NOT NULL"
            )
            .await,
        0
    );
    assert_eq!(
        purge_twice(&w, &other).await,
        (0, 0, 0, 0, 0),
        "a second pass finds nothing"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn two_instances_erasing_one_account_at_once_erase_it_once(pool: PgPool) {
    let w = World::new(pool).await;
    let other = w.app.another_instance().await;
    w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let body = json!({ "password": crate::helpers::PASSWORD });
    let delete = actix_web::http::Method::DELETE;
    let (a, b) = futures_util::join!(
        w.app.send(
            delete.clone(),
            "/api/v1/me",
            Some(&w.citizen),
            Some(body.clone())
        ),
        other.send(delete, "/api/v1/me", Some(&w.citizen), Some(body)),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [204, 401], "{} / {}", a.text, b.text);
    let loser = if a.status == StatusCode::NO_CONTENT {
        &b
    } else {
        &a
    };
    let code = serde_json::from_str::<Value>(&loser.text).unwrap()["code"].clone();
    assert!(
        code == "invalid_credentials" || code == "account_deactivated",
        "the loser finds the account erased: {code}"
    );
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM appointments WHERE status = 'cancelled'")
            .await,
        1
    );
    assert_eq!(w.app.count("SELECT count(*) FROM desk_releases").await, 1);
}

/// Advisory locks requested and not yet granted: who is waiting for a booking's locks.
async fn lock_waiters(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Polls until `n` requests wait for a lock; gives up after a few seconds so that a broken
/// lock order fails the assertions below instead of hanging the suite.
async fn until_waiting(pool: &PgPool, n: i64) -> bool {
    for _ in 0..200 {
        if lock_waiters(pool).await >= n {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    false
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_booking_in_flight_on_another_instance_when_the_account_is_erased_does_not_survive_it(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let other = w.app.another_instance().await;
    // The booking is held still after it has read the account: the test holds the lock it takes
    // next, on its applicant's identity (the per-identity cap's lock).
    let mut hold = w.app.pool.begin().await.unwrap();
    let identity = format!("{}:P:{}", w.service, own_passport(World::CITIZEN));
    sqlx::query("SELECT pg_advisory_xact_lock(2, hashtext($1))")
        .bind(&identity)
        .execute(&mut *hold)
        .await
        .unwrap();
    let booking =
        json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00") });
    let password = json!({ "password": crate::helpers::PASSWORD });
    let (booked, (erased, erasure_waited)) = futures_util::join!(
        other.post("/api/v1/appointments", Some(&w.citizen), booking),
        async {
            assert!(until_waiting(&w.app.pool, 1).await, "the booking waits");
            let erase = w.app.send(
                actix_web::http::Method::DELETE,
                "/api/v1/me",
                Some(&w.citizen),
                Some(password),
            );
            let release = async {
                let waited = until_waiting(&w.app.pool, 2).await;
                hold.commit().await.unwrap();
                waited
            };
            futures_util::join!(erase, release)
        },
    );
    assert_eq!(erased.status, StatusCode::NO_CONTENT, "{}", erased.text);
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.text);
    assert!(
        erasure_waited,
        "the erasure waits for the booking in flight"
    );
    assert_eq!(
        w.app
            .count(
                "SELECT count(*) FROM appointments
                 WHERE status = 'booked' OR applicant_name <> '' OR passport_number IS NOT NULL"
            )
            .await,
        0,
        "the booking made during the erasure was withdrawn and blanked with the rest"
    );
}
