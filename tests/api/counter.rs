//! Counter operations for staff: closures and schedule changes that hit bookings, staff
//! accounts, search, a citizen's file, the day as CSV, statistics and office notices.

use actix_web::http::StatusCode;
use chrono::NaiveDate;
use mail_parser::MimeHeaders;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{strings, text_body, with_token, Resp, World, PASSWORD};

impl World {
    async fn close_with(&self, day: NaiveDate, reason: &str, bookings: Option<&str>) -> Resp {
        let mut body = json!({ "date": day, "reason": reason });
        if let Some(b) = bookings {
            body["bookings"] = json!(b);
        }
        let path = format!("/api/v1/admin/offices/{}/closures", self.office);
        self.app.post(&path, Some(&self.admin), body).await
    }

    async fn put_hours(&self, intervals: Value, bookings: Option<&str>) -> Resp {
        let weekly: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| ((*d).to_owned(), intervals.clone()))
            .collect();
        let mut body = json!({ "capacity": 2, "weekly": weekly });
        if let Some(b) = bookings {
            body["bookings"] = json!(b);
        }
        let path = format!(
            "/api/v1/admin/offices/{}/schedules/{}",
            self.office, self.service
        );
        self.app.put(&path, Some(&self.admin), body).await
    }

    /// The appointment as its citizen reads it.
    async fn appointment(&self, token: &str, id: &str) -> Value {
        self.app
            .get(&format!("/api/v1/appointments/{id}"), Some(token))
            .await
            .expect(StatusCode::OK)
    }
}

/// The calendar part of a raw message, decoded.
fn calendar_of(raw: &str) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
    let part = msg.attachments().find(|p| {
        p.content_type()
            .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar"))
    })?;
    part.text_contents().map(str::to_owned)
}

fn has_arabic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_closure_hitting_bookings_changes_nothing_until_the_admin_says_cancel_or_keep(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let layla = w.app.verified_citizen_in("layla@example.org", "ar").await;
    let mine = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let hers = w.booked(&layla, &w.at(2, "14:00")).await;
    let other_day = w
        .booked(
            &w.app.quick_citizen("omar@example.org").await,
            &w.at(3, "09:00"),
        )
        .await;

    let refused = w
        .close_with(w.day(2), "Eid al-Adha", None)
        .await
        .expect_problem(StatusCode::CONFLICT, "bookings_affected");
    assert_eq!(refused["affected_bookings"], 2, "{refused}");
    assert_eq!(w.app.count("SELECT count(*) FROM closures").await, 0);
    w.close_with(w.day(2), "Eid al-Adha", Some("drop"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let closed = w
        .close_with(w.day(2), "Eid al-Adha", Some("cancel"))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(closed["affected_bookings"], 2);
    assert_eq!(closed["bookings"], "cancel");
    for (token, id) in [(&w.citizen, &mine), (&layla, &hers)] {
        let a = w.appointment(token, id).await;
        assert_eq!(a["status"], "cancelled", "{a}");
        assert_eq!(a["cancelled_by"], "staff", "{a}");
        assert_eq!(a["cancel_reason"], "Eid al-Adha", "{a}");
    }
    assert!(
        w.is_booked(&other_day).await,
        "a booking on another day is untouched"
    );

    // Her booking's mail and the cancellation go out in one pass, in no set order.
    let mails = w.app.mails_to("layla@example.org").await;
    let cancel = mails
        .iter()
        .find(|m| calendar_of(m).is_some_and(|c| c.contains("METHOD:CANCEL")))
        .expect("a cancellation mail with its calendar part");
    let text = text_body(cancel);
    assert!(has_arabic(&text) && text.contains("Eid al-Adha"), "{text}");

    let log = w
        .app
        .get("/api/v1/admin/audit-log", Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    let actions = strings(&log["items"], "/action");
    assert_eq!(
        actions[..3],
        ["closure.create", "appointment.cancel", "appointment.cancel"]
    );
    assert_eq!(log["items"][0]["details"]["bookings"], "cancel");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_closure_that_keeps_bookings_leaves_them_booked_and_one_hitting_none_needs_no_choice(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let mine = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let kept = w
        .close_with(w.day(2), "Heating repair", Some("keep"))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(kept["affected_bookings"], 1);
    assert_eq!(kept["bookings"], "keep");
    assert_eq!(w.appointment(&w.citizen, &mine).await["status"], "booked");

    let empty = w
        .close_with(w.day(4), "Holiday", None)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(empty["affected_bookings"], 0);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_schedule_change_hitting_bookings_is_refused_unchanged_then_cancels_them_as_schedule_changed(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let afternoon = w.booked(&w.citizen, &w.at(2, "14:00")).await;
    let morning = w
        .booked(
            &w.app.quick_citizen("omar@example.org").await,
            &w.at(2, "09:00"),
        )
        .await;
    let mornings = json!([["09:00", "13:00"]]);

    let refused = w
        .put_hours(mornings.clone(), None)
        .await
        .expect_problem(StatusCode::CONFLICT, "bookings_affected");
    assert_eq!(refused["affected_bookings"], 1);
    let path = format!("/api/v1/admin/offices/{}/schedules/{}", w.office, w.service);
    let unchanged = w
        .app
        .get(&path, Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        unchanged["weekly"]["mon"],
        World::hours(),
        "nothing changed"
    );

    let put = w
        .put_hours(mornings, Some("cancel"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(put["affected_bookings"], 1);
    assert_eq!(put["bookings"], "cancel");
    let a = w.appointment(&w.citizen, &afternoon).await;
    assert_eq!(a["status"], "cancelled");
    assert_eq!(a["cancel_reason"], "schedule changed");
    let mails = w.app.mails_to(World::CITIZEN).await;
    assert!(
        mails
            .iter()
            .filter_map(|m| calendar_of(m))
            .any(|c| c.contains("METHOD:CANCEL")),
        "a cancellation mail with its calendar part"
    );
    assert!(
        w.is_booked(&morning).await,
        "a booking still on the grid is untouched"
    );
}

impl World {
    async fn patch_staff(&self, token: &str, id: uuid::Uuid, body: Value) -> Resp {
        self.app
            .patch(&format!("/api/v1/admin/staff/{id}"), Some(token), body)
            .await
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_deactivated_officer_is_refused_from_the_next_request_and_cannot_sign_in_or_refresh(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let officer_id = w.app.user_id(&w.officer).await;
    let pair = w
        .app
        .login("officer@mawid.test", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let agenda = format!(
        "/api/v1/admin/offices/{}/agenda?date={}",
        w.office,
        w.day(2)
    );
    w.app
        .get(&agenda, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    w.patch_staff(&w.officer, officer_id, json!({ "active": false }))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let off = w
        .patch_staff(&w.admin, officer_id, json!({ "active": false }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(off["active"], false);
    w.app
        .get(&agenda, Some(&w.officer))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "account_deactivated");
    w.app
        .login("officer@mawid.test", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "account_deactivated");
    w.app
        .login("officer@mawid.test", "not the password at all")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let refused = w.app.refresh(&pair["refresh_token"]).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refused.body
    );

    let on = w
        .patch_staff(&w.admin, officer_id, json!({ "active": true }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(on["active"], true);
    let again = w.app.access_token("officer@mawid.test", PASSWORD).await;
    w.app
        .get(&agenda, Some(&again))
        .await
        .expect(StatusCode::OK);

    let log = w
        .app
        .get(
            "/api/v1/admin/audit-log?action=staff.update",
            Some(&w.admin),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(log["total"], 2);
    assert_eq!(log["items"][1]["details"]["to"]["active"], false);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_role_change_holds_from_the_next_request_and_only_staff_roles_are_given(pool: PgPool) {
    let w = World::new(pool).await;
    let officer_id = w.app.user_id(&w.officer).await;
    w.app
        .get("/api/v1/admin/audit-log", Some(&w.officer))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let promoted = w
        .patch_staff(&w.admin, officer_id, json!({ "role": "admin" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(promoted["role"], "admin");
    w.app
        .get("/api/v1/admin/audit-log", Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    w.patch_staff(&w.admin, officer_id, json!({ "role": "citizen" }))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let citizen_id = w.app.user_id(&w.citizen).await;
    w.patch_staff(&w.admin, citizen_id, json!({ "active": false }))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_last_active_admin_can_be_neither_demoted_nor_deactivated(pool: PgPool) {
    let w = World::new(pool).await;
    let me = w.app.user_id(&w.admin).await;
    for change in [json!({ "role": "officer" }), json!({ "active": false })] {
        w.patch_staff(&w.admin, me, change)
            .await
            .expect_problem(StatusCode::CONFLICT, "last_admin");
    }
    let other = w.app.staff("second-admin@mawid.test", "admin").await;
    let other_id = w.app.user_id(&other).await;
    w.patch_staff(&w.admin, other_id, json!({ "active": false }))
        .await
        .expect(StatusCode::OK);
    w.patch_staff(&w.admin, me, json!({ "role": "officer" }))
        .await
        .expect_problem(StatusCode::CONFLICT, "last_admin");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn two_admins_demoting_each_other_through_two_instances_leave_one_admin(pool: PgPool) {
    let w = World::new(pool).await;
    let second = w.app.another_instance().await;
    let other = w.app.staff("second-admin@mawid.test", "admin").await;
    let (me, other_id) = (w.app.user_id(&w.admin).await, w.app.user_id(&other).await);
    let demote = json!({ "role": "officer" });
    let (path_other, path_me) = (
        format!("/api/v1/admin/staff/{other_id}"),
        format!("/api/v1/admin/staff/{me}"),
    );
    let (a, b) = futures_util::join!(
        w.app.patch(&path_other, Some(&w.admin), demote.clone()),
        second.patch(&path_me, Some(&other), demote),
    );
    let statuses = [a.status, b.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    let admins = w
        .app
        .count("SELECT count(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL")
        .await;
    assert_eq!(admins, 1);
}

impl World {
    /// A verified citizen named `full_name`, with `phone`; its token and id.
    async fn named_citizen(
        &self,
        email: &str,
        full_name: &str,
        phone: Option<&str>,
    ) -> (String, String) {
        let token = self.app.quick_citizen(email).await;
        let me = self
            .app
            .patch(
                "/api/v1/me",
                Some(&token),
                json!({ "full_name": full_name, "phone": phone }),
            )
            .await
            .expect(StatusCode::OK);
        (token, me["id"].as_str().unwrap().to_owned())
    }

    pub(crate) async fn search(&self, q: &str) -> Value {
        let q: String = url_encode(q);
        self.app
            .get(&format!("/api/v1/admin/search?q={q}"), Some(&self.officer))
            .await
            .expect(StatusCode::OK)
    }
}

fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ids(list: &Value) -> Vec<&str> {
    strings(list, "/id")
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn staff_find_citizens_by_any_part_of_a_name_in_any_script_case_insensitively_best_first(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let (_, arabic) = w.named_citizen("a@example.org", "أحمد الحلبي", None).await;
    let (_, russian) = w.named_citizen("r@example.org", "Ахмед Халаби", None).await;
    let (_, latin) = w
        .named_citizen("l@example.org", "Mohammad Ahmed", None)
        .await;
    let (_, first) = w
        .named_citizen("f@example.org", "Ahmed Saleh", Some("+7 916 123-45-67"))
        .await;

    // Arabic without the hamza finds the name written with it.
    assert_eq!(ids(&w.search("احمد").await["citizens"]), [arabic.as_str()]);
    assert_eq!(ids(&w.search("лаби").await["citizens"]), [russian.as_str()]);
    // Latin letters never match the ASCII the key writes other scripts' letters in: "Ах" is
    // keyed "UNVQ", and the index folds case, but the match does not.
    assert_eq!(ids(&w.search("unvq").await["citizens"]), Vec::<&str>::new());
    assert_eq!(
        ids(&w.search("ахмЕД").await["citizens"]),
        [russian.as_str()]
    );
    // A name that starts with the fragment ranks before one that holds it later.
    let ahmed = w.search("AHMED").await;
    assert_eq!(ids(&ahmed["citizens"]), [first.as_str(), latin.as_str()]);
    assert_eq!(
        ids(&w.search("89161234567").await["citizens"]),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&w.search("+79161234567").await["citizens"]),
        [first.as_str()]
    );
    assert_eq!(
        ids(&w.search("F@Example.org").await["citizens"]),
        [first.as_str()]
    );

    for q in ["ah", "", "  "] {
        w.app
            .get(
                &format!("/api/v1/admin/search?q={}", url_encode(q)),
                Some(&w.officer),
            )
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    w.app
        .get("/api/v1/admin/search?q=ahmed", Some(&w.citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn staff_find_appointments_and_requests_by_reference_tracking_or_passport_and_at_most_twenty(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    let child =
        json!({ "full_name": "Omar Haddad", "relation": "child", "passport_number": "N1234567" });
    let a = w
        .book_for(&w.citizen, &w.service, &w.at(2, "09:00"), Some(child))
        .await
        .expect(StatusCode::CREATED);
    let reference = a["reference"].as_str().unwrap();
    let found = w.search(&reference.to_lowercase()).await;
    assert_eq!(strings(&found["appointments"], "/reference"), [reference]);
    let by_passport = w.search("n123 4567").await;
    assert_eq!(
        strings(&by_passport["appointments"], "/reference"),
        [reference]
    );

    let path = format!(
        "/api/v1/admin/appointments/{}/check-in",
        a["id"].as_str().unwrap()
    );
    let checked = w
        .app
        .post(
            &path,
            Some(&w.officer),
            json!({ "applicant_date_of_birth": "2015-04-01" }),
        )
        .await
        .expect(StatusCode::OK);
    let tracking = checked["document_request"]["tracking_number"]
        .as_str()
        .unwrap();
    let by_tracking = w.search(tracking).await;
    assert_eq!(
        strings(&by_tracking["document_requests"], "/tracking_number"),
        [tracking]
    );
    let by_passport = w.search("N1234567").await;
    assert_eq!(
        by_passport["document_requests"].as_array().unwrap().len(),
        1
    );
    assert_eq!(by_passport["appointments"].as_array().unwrap().len(), 1);

    for i in 0..25 {
        w.named_citizen(
            &format!("c{i}@example.org"),
            &format!("Haddad Number{i}"),
            None,
        )
        .await;
    }
    let many = w.search("hadda").await;
    assert_eq!(many["citizens"].as_array().unwrap().len(), 20);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_citizens_file_shows_the_profile_appointments_and_document_requests_to_staff(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    let id = w.app.user_id(&w.citizen).await;
    let appointment = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let path = format!("/api/v1/admin/citizens/{id}");
    let file = w
        .app
        .get(&path, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(file["citizen"]["email"], World::CITIZEN);
    assert_eq!(ids(&file["appointments"]), [appointment.as_str()]);
    assert_eq!(file["document_requests"], json!([]));
    w.app
        .get(&path, Some(&w.citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let officer_id = w.app.user_id(&w.officer).await;
    w.app
        .get(
            &format!("/api/v1/admin/citizens/{officer_id}"),
            Some(&w.admin),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_agenda_as_csv_prints_the_local_day_with_arabic_names_intact(pool: PgPool) {
    let w = World::new(pool).await;
    w.app
        .patch(
            "/api/v1/me",
            Some(&w.citizen),
            json!({ "phone": "+7 916 123-45-67" }),
        )
        .await
        .expect(StatusCode::OK);
    let child =
        json!({ "full_name": "عمر حداد", "relation": "child", "passport_number": "N1234567" });
    let a = w
        .book_for(&w.citizen, &w.service, &w.at(2, "09:30"), Some(child))
        .await
        .expect(StatusCode::CREATED);
    let path = format!(
        "/api/v1/admin/offices/{}/agenda?date={}",
        w.office,
        w.day(2)
    );
    let req = actix_web::test::TestRequest::get()
        .uri(&path)
        .insert_header(("Accept", "text/csv"));
    let csv = w.app.call(with_token(req, Some(&w.officer))).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.header("content-type").starts_with("text/csv"),
        "{:?}",
        csv.headers
    );
    assert!(csv.text.starts_with('\u{FEFF}'), "a byte-order mark first");
    let lines: Vec<&str> = csv.text.trim_start_matches('\u{FEFF}').lines().collect();
    assert_eq!(
        lines,
        [
            "time,reference,service,applicant,identity_number,phone,status",
            &format!(
                "09:30,{},passport-renewal,عمر حداد,N1234567,+79161234567,booked",
                a["reference"].as_str().unwrap()
            ),
        ]
    );
    let json = w
        .app
        .get(&path, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        json["items"].as_array().unwrap().len(),
        1,
        "JSON stays the default"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn office_notices_show_on_the_office_while_current_and_are_withdrawn_by_admins(pool: PgPool) {
    let w = World::new(pool).await;
    let path = format!("/api/v1/admin/offices/{}/notices", w.office);
    let message = json!({ "ar": "تغيير العنوان", "ru": "Новый адрес", "en": "New address" });
    let today = w.app.post(
        &path,
        Some(&w.admin),
        json!({ "message": message, "from": w.day(0), "until": w.day(1) }),
    );
    let today = today.await.expect(StatusCode::CREATED);
    w.app
        .post(
            &path,
            Some(&w.admin),
            json!({ "message": message, "from": w.day(3), "until": w.day(4) }),
        )
        .await
        .expect(StatusCode::CREATED);
    w.app
        .post(
            &path,
            Some(&w.admin),
            json!({ "message": message, "from": w.day(4), "until": w.day(3) }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    w.app
        .post(
            &path,
            Some(&w.officer),
            json!({ "message": message, "from": w.day(0), "until": w.day(0) }),
        )
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let office = format!("/api/v1/offices/{}", w.office);
    let shown = w.app.get(&office, None).await.expect(StatusCode::OK);
    assert_eq!(ids(&shown["notices"]), [today["id"].as_str().unwrap()]);
    assert_eq!(shown["notices"][0]["message"], message);

    w.app.clock.advance(chrono::Duration::days(2));
    let later = w.app.get(&office, None).await.expect(StatusCode::OK);
    assert_eq!(
        later["notices"],
        json!([]),
        "the first ended, the second has not begun"
    );

    let notice = format!("{path}/{}", today["id"].as_str().unwrap());
    w.app
        .delete(&notice, Some(&w.admin))
        .await
        .expect(StatusCode::NO_CONTENT);
    w.app
        .delete(&notice, Some(&w.admin))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let log = w
        .app
        .get("/api/v1/admin/audit-log?target_type=office", Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        strings(&log["items"], "/action")[..3],
        ["notice.delete", "notice.create", "notice.create"]
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn stats_count_each_day_of_each_service_and_the_days_to_ready_for_pickup(pool: PgPool) {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    let two = w.app.quick_citizen("two@example.org").await;
    let three = w.app.quick_citizen("three@example.org").await;
    let done = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let theirs = w.booked(&two, &w.at(2, "09:30")).await;
    let staffs = w.booked(&three, &w.at(2, "10:00")).await;
    w.app
        .post(
            &format!("/api/v1/appointments/{theirs}/cancel"),
            Some(&two),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    w.app
        .post(
            &format!("/api/v1/admin/appointments/{staffs}/cancel"),
            Some(&w.officer),
            json!({ "reason": "Consul away" }),
        )
        .await
        .expect(StatusCode::OK);
    let checked = w
        .app
        .post(
            &format!("/api/v1/admin/appointments/{done}/check-in"),
            Some(&w.officer),
            json!({ "applicant_date_of_birth": "1990-05-17" }),
        )
        .await
        .expect(StatusCode::OK);
    w.app
        .post(
            &format!("/api/v1/admin/appointments/{done}/complete"),
            Some(&w.officer),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    w.close_with(w.day(3), "Holiday", None)
        .await
        .expect(StatusCode::CREATED);
    let request = checked["document_request"]["id"].as_str().unwrap();
    let transition = format!("/api/v1/admin/document-requests/{request}/transition");
    for to in ["under_review", "approved", "ready_for_pickup"] {
        if to == "ready_for_pickup" {
            w.app.clock.advance(chrono::Duration::days(3));
        }
        w.app
            .post(&transition, Some(&w.officer), json!({ "to": to }))
            .await
            .expect(StatusCode::OK);
    }

    let path = format!(
        "/api/v1/admin/stats?office_id={}&from={}&to={}",
        w.office,
        w.day(0),
        w.day(4)
    );
    let stats = w
        .app
        .get(&path, Some(&w.admin))
        .await
        .expect(StatusCode::OK);
    let dates = strings(&stats["days"], "/date");
    let expected: Vec<String> = [0, 1, 2, 4].iter().map(|d| w.day(*d).to_string()).collect();
    assert_eq!(dates, expected, "the closed day offers nothing: {stats}");
    let wed = &stats["days"][2];
    assert_eq!(wed["desks_offered"], 20, "10 slots of 2 desks");
    assert_eq!(wed["booked"], 1);
    assert_eq!(wed["completed"], 1);
    assert_eq!(wed["no_shows"], 0);
    assert_eq!(
        wed["cancellations"],
        json!({ "citizen": 1, "staff": 1, "system": 0 })
    );
    let docs = &stats["document_requests"][0];
    assert_eq!(docs["by_status"], json!({ "ready_for_pickup": 1 }));
    assert_eq!(docs["median_days_to_ready_for_pickup"], 3.0);

    w.app
        .get(&path, Some(&w.officer))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let year = format!(
        "/api/v1/admin/stats?office_id={}&from={}&to={}",
        w.office,
        w.day(0),
        w.day(366)
    );
    w.app
        .get(&year, Some(&w.admin))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "range_too_long");
}

impl World {
    async fn join_waitlist_for(&self, token: &str, service: &str, from: i64, to: i64) -> Value {
        self.app
            .post(
                "/api/v1/waitlist",
                Some(token),
                json!({ "office_id": self.office, "service_id": service,
                        "from": self.day(from), "to": self.day(to) }),
            )
            .await
            .expect(StatusCode::CREATED)
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn stats_count_the_waiting_waitlist_entries_on_each_day_of_their_ranges(pool: PgPool) {
    let w = World::new(pool).await;
    let other = w.scheduled_service("other").await;
    let two = w.app.quick_citizen("two@example.org").await;
    let gone = w.app.quick_citizen("gone@example.org").await;
    w.join_waitlist_for(&w.citizen, &w.service, 1, 3).await;
    w.join_waitlist_for(&two, &w.service, 2, 9).await;
    w.join_waitlist_for(&two, &other, 3, 3).await;
    let left = w.join_waitlist_for(&gone, &w.service, 1, 4).await;
    w.app
        .delete(
            &format!("/api/v1/waitlist/{}", left["id"].as_str().unwrap()),
            Some(&gone),
        )
        .await
        .expect(StatusCode::NO_CONTENT);

    let stats = w
        .app
        .get(
            &format!(
                "/api/v1/admin/stats?office_id={}&from={}&to={}",
                w.office,
                w.day(0),
                w.day(3)
            ),
            Some(&w.admin),
        )
        .await
        .expect(StatusCode::OK);
    let mut got: Vec<(String, String, i64)> = stats["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["service_id"].as_str().unwrap().to_owned(),
                d["waitlist_waiting"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    // The entry left is not waiting; the one running past `to` counts inside the range only.
    let mut expected: Vec<(String, String, i64)> = [(0, 0, 0), (1, 1, 0), (2, 2, 0), (3, 2, 1)]
        .iter()
        .flat_map(|&(d, mine, others)| {
            [
                (w.day(d).to_string(), w.service.clone(), mine),
                (w.day(d).to_string(), other.clone(), others),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(got, expected, "{stats}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_citizens_file_shows_the_waitlist_and_the_suspensions_in_force(pool: PgPool) {
    let w = World::new(pool).await;
    let id = w.app.user_id(&w.citizen).await;
    let path = format!("/api/v1/admin/citizens/{id}");
    let entry = w.join_waitlist_for(&w.citizen, &w.service, 8, 10).await;
    let file = w
        .app
        .get(&path, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&file["waitlist"]), [entry["id"].as_str().unwrap()]);
    assert_eq!(file["waitlist"][0]["status"], "waiting");
    assert_eq!(
        file["suspension"],
        json!({ "suspended": false, "suspended_at": null, "reason": null,
                "booking_suspended_until": null })
    );

    // Two no-shows: the no-show rule holds booking for 60 days from the second one's start.
    for (day, hours) in [(2, 48), (4, 49)] {
        let a = w.booked(&w.citizen, &w.at(day, "09:00")).await;
        w.app.clock.advance(chrono::Duration::hours(hours));
        w.app
            .post(
                &format!("/api/v1/admin/appointments/{a}/no-show"),
                Some(&w.officer),
                json!({}),
            )
            .await
            .expect(StatusCode::OK);
    }
    let file = w
        .app
        .get(&path, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        file["suspension"]["booking_suspended_until"],
        w.day(64).to_string()
    );
    assert_eq!(file["suspension"]["suspended"], false);

    w.app
        .post(
            &format!("/api/v1/admin/citizens/{id}/suspend"),
            Some(&w.admin),
            json!({ "reason": "Forged papers" }),
        )
        .await
        .expect(StatusCode::OK);
    let file = w
        .app
        .get(&path, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    let s = &file["suspension"];
    assert_eq!(
        (&s["suspended"], &s["reason"]),
        (&json!(true), &json!("Forged papers"))
    );
    assert!(s["suspended_at"].is_string(), "{s}");
    assert_eq!(
        file["waitlist"][0]["status"], "left",
        "suspension leaves the entry"
    );

    w.app
        .post(
            &format!("/api/v1/admin/citizens/{id}/reinstate"),
            Some(&w.admin),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    let file = w
        .app
        .get(&path, Some(&w.officer))
        .await
        .expect(StatusCode::OK);
    assert_eq!(file["suspension"]["suspended"], false);
    assert_eq!(file["suspension"]["suspended_at"], Value::Null);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn staff_find_by_national_number_and_by_the_numbers_on_a_citizens_profile(pool: PgPool) {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    let (token, citizen) = w.named_citizen("n@example.org", "Rami Saleh", None).await;
    w.app
        .patch(
            "/api/v1/me",
            Some(&token),
            json!({ "national_number": "01234567891" }),
        )
        .await
        .expect(StatusCode::OK);
    let found = w.search("01234567891").await;
    assert_eq!(ids(&found["citizens"]), [citizen.as_str()]);
    let passport = crate::helpers::own_passport("n@example.org");
    let found = w.search(&passport.to_lowercase()).await;
    assert_eq!(ids(&found["citizens"]), [citizen.as_str()]);

    // A child without a passport yet is booked under their national number.
    let child =
        json!({ "full_name": "Lina Saleh", "relation": "child", "national_number": "09876543210" });
    let a = w
        .book_for(&token, &w.service, &w.at(2, "09:00"), Some(child))
        .await
        .expect(StatusCode::CREATED);
    let found = w.search("0987 6543 210").await;
    assert_eq!(ids(&found["appointments"]), [a["id"].as_str().unwrap()]);
    assert_eq!(
        found["appointments"][0]["applicant"]["national_number"],
        "09876543210"
    );
    assert_eq!(found["citizens"], json!([]));
    let checked = w
        .app
        .post(
            &format!(
                "/api/v1/admin/appointments/{}/check-in",
                a["id"].as_str().unwrap()
            ),
            Some(&w.officer),
            json!({ "applicant_date_of_birth": "2019-04-01" }),
        )
        .await
        .expect(StatusCode::OK);
    let found = w.search("09876543210").await;
    assert_eq!(
        ids(&found["document_requests"]),
        [checked["document_request"]["id"].as_str().unwrap()]
    );
}
