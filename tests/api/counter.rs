//! Counter operations for staff: closures and schedule changes that hit bookings, staff
//! accounts, search, a citizen's file, the day as CSV, statistics and office notices.

use actix_web::http::StatusCode;
use chrono::NaiveDate;
use mail_parser::MimeHeaders;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{strings, text_body, Resp, World};

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
    let live = w
        .app
        .count(&format!(
            "SELECT count(*) FROM appointments WHERE id = '{other_day}' AND status = 'booked'"
        ))
        .await;
    assert_eq!(live, 1, "a booking on another day is untouched");

    let mails = w.app.mails_to("layla@example.org").await;
    let cancel = mails.last().expect("a cancellation mail");
    let calendar = calendar_of(cancel).expect("a calendar part");
    assert!(calendar.contains("METHOD:CANCEL"), "{calendar}");
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
    let calendar = calendar_of(mails.last().unwrap()).expect("a calendar part");
    assert!(calendar.contains("METHOD:CANCEL"), "{calendar}");
    let kept = w
        .app
        .count(&format!(
            "SELECT count(*) FROM appointments WHERE id = '{morning}' AND status = 'booked'"
        ))
        .await;
    assert_eq!(kept, 1, "a booking still on the grid is untouched");
}
