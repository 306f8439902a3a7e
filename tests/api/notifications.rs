//! Email delivery: a real SMTP conversation, retries and failures, exactly-once delivery with
//! several workers, reminders, and the admin view of the outbox.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, TimeZone, Utc};
use icalendar::{Calendar, CalendarDateTime, Component, DatePerhapsTime, EventLike};
use mail_parser::MimeHeaders;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    appointment_payload, december_appointment, deliver, extract_token, html_body,
    silent_smtp_server, smtp_mailer, smtp_mailer_timing_out_after, text_body, unused_port, Knobs,
    Received, Resp, SmtpSink, TestApp, World, ACCEPT_UNANSWERED,
};

/// The decoded calendar part of a message: its Content-Type `method` and the parsed calendar.
fn invite(m: &Received) -> (String, Calendar) {
    let parsed = m.parsed();
    let part = parsed
        .attachments()
        .find(|p| {
            p.content_type()
                .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar"))
        })
        .expect("a text/calendar attachment");
    let method = part
        .content_type()
        .and_then(|c| c.attribute("method"))
        .expect("a method parameter")
        .to_owned();
    let text = part.text_contents().expect("a text invite").to_owned();
    (method, text.parse().expect("a parseable invite"))
}

fn utc(t: Option<DatePerhapsTime>) -> DateTime<Utc> {
    match t {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(t))) => t,
        other => panic!("not a UTC time: {other:?}"),
    }
}

fn has_arabic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

fn has_cyrillic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
}

/// One mail of `kind` about an appointment of its own to each of `n` citizens.
async fn queue_for_citizens(app: &TestApp, n: usize, language: &str, kind: &str) {
    for i in 0..n {
        let to = format!("citizen{i}@example.test");
        let payload = december_appointment(Uuid::new_v4());
        app.enqueue(&to, language, kind, payload).await;
    }
}

async fn retry(app: &TestApp, notification: Uuid, token: &str) -> Resp {
    let path = format!("/api/v1/admin/notifications/{notification}/retry");
    app.post(&path, Some(token), json!({})).await
}

fn reminder_key(appointment: Uuid, start: DateTime<Utc>) -> String {
    format!("reminder:{appointment}:{}", start.to_rfc3339())
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn verification_mail_goes_over_smtp_in_arabic_and_its_token_verifies(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    app.register("amal@example.test", "ar").await;

    let pass = app.deliver_with(&sink.mailer()).await;
    assert_eq!(pass.sent, 1);
    let mails = sink.received();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.rcpt_to, vec!["amal@example.test".to_owned()]);
    assert_eq!(m.mail_from, "no-reply@mawid.test");
    let parsed = m.parsed();
    assert_eq!(
        parsed
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("amal@example.test")
    );
    assert!(
        has_arabic(parsed.subject().unwrap()),
        "{:?}",
        parsed.subject()
    );
    let text = parsed.body_text(0).unwrap();
    let html = parsed.body_html(0).unwrap();
    assert!(has_arabic(&text));
    assert!(html.contains(r#"<html dir="rtl" lang="ar">"#), "{html}");

    let token = extract_token(&m.data).expect("a token in the text part");
    app.verify_email(&token)
        .await
        .expect(StatusCode::NO_CONTENT);
    let rows = app.outbox_rows().await;
    assert_eq!(rows[0].status, "sent");
    assert!(
        rows[0].payload.get("token").is_none(),
        "a sent row keeps no token"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn booking_confirmation_over_smtp_has_both_parts_in_russian_and_a_request_invite(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    let appointment = Uuid::new_v4();
    app.enqueue(
        "ivan@example.test",
        "ru",
        "appointment_booked",
        december_appointment(appointment),
    )
    .await;

    assert_eq!(app.deliver_with(&sink.mailer()).await.sent, 1);
    let mails = sink.received_by("ivan@example.test");
    assert_eq!(mails.len(), 1);
    let parsed = mails[0].parsed();
    let subject = parsed.subject().unwrap();
    assert!(
        has_cyrillic(subject) && subject.contains("MOW-7Q4K-2MZD"),
        "{subject}"
    );
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains("вторник, 1 декабря 2026 г., 09:00 (Europe/Moscow, UTC+03:00)"),
        "{text}"
    );
    assert!(
        text.contains("Действующий паспорт") && text.contains("25.00 USD"),
        "{text}"
    );
    let html = parsed.body_html(0).unwrap();
    assert!(html.contains(r#"lang="ru""#));
    assert!(html.contains("<li>Две фотографии 4x6</li>"), "{html}");

    let (method, cal) = invite(&mails[0]);
    assert_eq!(method, "REQUEST");
    assert_eq!(cal.property_value("METHOD"), Some("REQUEST"));
    let event = cal.events().next().expect("an event");
    assert_eq!(
        event.get_uid(),
        Some(format!("{appointment}@mawid").as_str())
    );
    assert_eq!(event.get_sequence(), Some(0));
    assert_eq!(
        utc(event.get_start()),
        Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap()
    );
    assert_eq!(
        utc(event.get_end()),
        Utc.with_ymd_and_hms(2026, 12, 1, 6, 30, 0).unwrap()
    );
    assert_eq!(
        event.get_location(),
        Some("Москва, Мансуровский переулок, 4")
    );
    assert_eq!(event.get_summary(), Some("Продление паспорта"));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn reschedule_and_cancellation_update_the_same_calendar_entry(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    let mailer = sink.mailer();
    let appointment = Uuid::new_v4();
    let mut moved = appointment_payload(
        appointment,
        "2026-12-02T10:00:00+03:00",
        "2026-12-02T10:30:00+03:00",
    );
    moved["sequence"] = json!(1);
    moved["previous_start"] = json!("2026-12-01T09:00:00+03:00");
    let mut cancelled = moved.clone();
    cancelled["sequence"] = json!(2);
    cancelled["cancelled_by"] = json!("staff");
    cancelled["reason"] = json!("The office is closed that day");
    let to = "amal@example.test";
    app.enqueue(to, "en", "appointment_rescheduled", moved)
        .await;
    app.deliver_with(&mailer).await;
    app.enqueue(to, "en", "appointment_cancelled", cancelled)
        .await;
    app.deliver_with(&mailer).await;

    let mails = sink.received_by(to);
    assert_eq!(mails.len(), 2);
    let (method, cal) = invite(&mails[0]);
    assert_eq!(method, "REQUEST");
    let event = cal.events().next().unwrap();
    assert_eq!(event.get_sequence(), Some(1));
    assert_eq!(
        utc(event.get_start()),
        Utc.with_ymd_and_hms(2026, 12, 2, 7, 0, 0).unwrap()
    );
    let text = mails[0].parsed().body_text(0).unwrap().into_owned();
    assert!(text.contains("Tuesday, 1 December 2026, 09:00"), "{text}");
    assert!(text.contains("Wednesday, 2 December 2026, 10:00"), "{text}");

    let (method, cal) = invite(&mails[1]);
    assert_eq!(method, "CANCEL");
    assert_eq!(cal.property_value("METHOD"), Some("CANCEL"));
    let event = cal.events().next().unwrap();
    assert_eq!(
        event.get_uid(),
        Some(format!("{appointment}@mawid").as_str())
    );
    assert_eq!(event.get_sequence(), Some(2));
    assert_eq!(event.property_value("STATUS"), Some("CANCELLED"));
    let text = mails[1].parsed().body_text(0).unwrap().into_owned();
    assert!(text.contains("The office is closed that day"), "{text}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn registration_succeeds_while_smtp_is_down_and_the_mail_arrives_once_it_is_back(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    let port = unused_port();
    let mailer = smtp_mailer(&format!("smtp://127.0.0.1:{port}"));
    app.register("amal@example.test", "en").await;

    let pass = app.deliver_with(&mailer).await;
    assert_eq!((pass.sent, pass.failed), (0, 1));
    let row = app.first_notification().await;
    assert_eq!(row.status, "pending");
    assert_eq!(row.attempts, 1);
    assert!(row.next_attempt_at > app.clock.now(), "{row:?}");
    assert!(row.last_error.is_some());

    let sink = SmtpSink::start_on(port).await;
    app.deliver_with(&mailer).await;
    assert!(
        sink.received().is_empty(),
        "not yet due: the sink stays empty even though it is up"
    );

    app.clock.advance(Duration::minutes(2));
    assert_eq!(app.deliver_with(&mailer).await.sent, 1);
    app.clock.advance(Duration::hours(2));
    app.deliver_with(&mailer).await;
    assert_eq!(sink.received_by("amal@example.test").len(), 1);
    assert!(extract_token(&sink.received()[0].data).is_some());
    assert_eq!(app.first_notification().await.status, "sent");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn temporary_smtp_refusal_is_retried_after_the_backoff(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    sink.answer_data_with(&[451]);
    let mailer = sink.mailer();
    app.register("amal@example.test", "ru").await;

    let pass = app.deliver_with(&mailer).await;
    assert_eq!((pass.sent, pass.failed), (0, 1));
    let row = app.first_notification().await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(row.error_mentions("451"), "{row:?}");

    app.clock.advance(Duration::minutes(2));
    assert_eq!(app.deliver_with(&mailer).await.sent, 1);
    let mails = sink.received();
    assert_eq!(mails.len(), 1);
    assert!(has_cyrillic(mails[0].parsed().subject().unwrap()));
    let row = app.first_notification().await;
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn permanent_smtp_refusal_fails_the_row_at_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    sink.answer_data_with(&[550]);
    let mailer = sink.mailer();
    app.register("amal@example.test", "en").await;

    app.deliver_with(&mailer).await;
    let row = app.first_notification().await;
    assert_eq!((row.status.as_str(), row.attempts), ("failed", 1));
    assert!(row.error_mentions("550"), "{row:?}");

    app.clock.advance(Duration::days(1));
    app.deliver_with(&mailer).await;
    assert!(
        sink.received().is_empty(),
        "a failed row is not sent again by itself"
    );
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_smtp_outage_shorter_than_the_give_up_time_delays_mail_and_loses_none(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let down = smtp_mailer(&format!("smtp://127.0.0.1:{}", unused_port()));
    app.register("amal@example.test", "en").await;
    let outage_began = app.clock.now();
    // 71 hours of a relay refusing connections, with the worker passing every 10 minutes.
    let mut attempts = 0;
    let mut longest_wait = Duration::zero();
    while app.clock.now() < outage_began + Duration::hours(71) {
        let pass = app.deliver_with(&down).await;
        attempts += pass.failed;
        let row = app.first_notification().await;
        assert_eq!(row.status, "pending", "after {attempts} attempts");
        longest_wait = longest_wait.max(row.next_attempt_at - app.clock.now());
        app.clock.advance(Duration::minutes(10));
    }
    assert!(
        attempts > 50,
        "still retried after many attempts: {attempts}"
    );
    assert!(
        longest_wait <= Duration::minutes(15),
        "the backoff is capped: {longest_wait}"
    );

    let sink = SmtpSink::start().await;
    app.clock.advance(Duration::minutes(15));
    assert_eq!(app.deliver_with(&sink.mailer()).await.sent, 1);
    assert_eq!(sink.received_by("amal@example.test").len(), 1);
    assert_eq!(app.first_notification().await.status, "sent");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn temporary_failures_give_up_after_the_configured_hours(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let down = smtp_mailer(&format!("smtp://127.0.0.1:{}", unused_port()));
    let two_hours = Knobs {
        give_up_after: Some(std::time::Duration::from_secs(2 * 3600)),
        ..Knobs::default()
    };
    app.register("amal@example.test", "en").await;
    let began = app.clock.now();
    while app.clock.now() < began + Duration::hours(2) {
        app.deliver_tuned(&down, two_hours).await;
        assert_eq!(app.first_notification().await.status, "pending");
        app.clock.advance(Duration::minutes(20));
    }
    app.clock.set(began + Duration::hours(2));
    app.deliver_tuned(&down, two_hours).await;
    let row = app.first_notification().await;
    assert_eq!(row.status, "failed", "{row:?}");
    let attempts = row.attempts;

    app.clock.advance(Duration::days(1));
    app.deliver_tuned(&down, two_hours).await;
    assert_eq!(app.first_notification().await.attempts, attempts);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_worker_whose_lease_ran_out_cannot_touch_a_row_claimed_since(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("amal@example.test", "en").await;
    let lease = Duration::minutes(5);
    let stalled = app.claim_due(lease, 10).await.pop().expect("a claim");
    app.clock.advance(lease + Duration::seconds(1));
    let taken_over = app
        .claim_due(lease, 10)
        .await
        .pop()
        .expect("the lease ran out");
    assert_eq!(taken_over.id, stalled.id);

    // The stalled worker's relay times out now: its write would reset the lease the second
    // worker holds and let a third one send the same mail at the same time.
    assert!(
        !app.mark_failed_attempt(&stalled, Duration::minutes(1))
            .await
    );
    app.release(&[stalled.id], stalled.owner).await;
    assert!(
        app.claim_due(lease, 10).await.is_empty(),
        "the second worker still holds the row"
    );
    assert!(!app.mark_sent(&stalled).await);
    assert_eq!(app.first_notification().await.status, "pending");
    assert!(app.mark_sent(&taken_over).await);
    assert_eq!(app.first_notification().await.status, "sent");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_mail_the_relay_took_but_never_confirmed_is_sent_again_with_the_same_message_id(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    sink.answer_data_with(&[ACCEPT_UNANSWERED]);
    app.register("amal@example.test", "en").await;

    let first = app.deliver_with(&sink.mailer()).await;
    assert_eq!((first.sent, first.failed), (0, 1));
    assert_eq!(app.first_notification().await.status, "pending");
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.deliver_with(&sink.mailer()).await.sent, 1);

    let copies = sink.received_by("amal@example.test");
    assert_eq!(copies.len(), 2, "at least once to the relay");
    assert_eq!(
        copies[0].message_id(),
        copies[1].message_id(),
        "the relay or mailbox can drop the copy"
    );
    assert_eq!(app.first_notification().await.status, "sent");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn unknown_kind_fails_its_row_without_stopping_the_worker(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    let to = "amal@example.test";
    app.enqueue(to, "en", "newsletter", json!({"full_name": "A"}))
        .await;
    app.enqueue(
        to,
        "en",
        "appointment_booked",
        json!({"full_name": "A", "reference": "MOW-7Q4K-2MZD"}),
    )
    .await;
    app.register("amal2@example.test", "en").await;

    let pass = app.deliver_with(&sink.mailer()).await;
    assert_eq!((pass.sent, pass.failed), (1, 2));
    let rows = app.outbox_rows().await;
    let by_kind = |k: &str| rows.iter().find(|r| r.kind == k).unwrap();
    let unknown = by_kind("newsletter");
    assert_eq!((unknown.status.as_str(), unknown.attempts), ("failed", 1));
    assert_eq!(
        unknown.last_error.as_deref(),
        Some("unknown notification kind 'newsletter'")
    );
    let broken = by_kind("appointment_booked");
    assert_eq!(broken.status, "failed");
    assert!(
        broken.error_mentions("does not match the contract"),
        "{broken:?}"
    );
    assert_eq!(by_kind("verify_email").status, "sent");
    assert_eq!(sink.received().len(), 1);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn two_workers_on_one_database_deliver_each_mail_exactly_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    queue_for_citizens(&app, 50, "en", "appointment_reminder").await;
    // Two independent workers, as in two server processes: own pool, own SMTP connections.
    let other_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with((*app.pool.connect_options()).clone())
        .await
        .unwrap();
    let small_batches = Knobs {
        batch: Some(3),
        ..Knobs::default()
    };
    let worker = |pool: PgPool| {
        let mailer = sink.mailer();
        let clock = app.clock.clone();
        async move { deliver(&pool, &mailer, &clock, small_batches).await.sent }
    };
    let (a, b) = tokio::join!(worker(app.pool.clone()), worker(other_pool));
    assert_eq!(a + b, 50);
    assert!(a > 0 && b > 0, "both workers took part: {a} + {b}");

    let mails = sink.received();
    assert_eq!(mails.len(), 50);
    let ids: HashSet<String> = mails.iter().map(Received::message_id).collect();
    assert_eq!(ids.len(), 50, "each message exactly once");
    let recipients: HashSet<&String> = mails.iter().flat_map(|m| &m.rcpt_to).collect();
    assert_eq!(recipients.len(), 50);
    assert!(app.outbox_rows().await.iter().all(|r| r.status == "sent"));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn reminder_is_sent_once_after_its_due_time_and_not_before(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    let mailer = sink.mailer();
    let appointment = Uuid::new_v4();
    let start = app.clock.now() + Duration::hours(30);
    let due = start - Duration::hours(24);
    let moscow = chrono::FixedOffset::east_opt(3 * 3600).unwrap();
    let payload = appointment_payload(
        appointment,
        &start.with_timezone(&moscow).to_rfc3339(),
        &(start + Duration::minutes(30))
            .with_timezone(&moscow)
            .to_rfc3339(),
    );
    let key = reminder_key(appointment, start);
    app.enqueue_reminder("amal@example.test", "ar", payload, due, key)
        .await
        .expect("a new row");

    app.clock.advance(Duration::hours(6) - Duration::seconds(1));
    app.deliver_with(&mailer).await;
    assert!(sink.received().is_empty(), "not before its due time");

    app.clock.advance(Duration::seconds(2));
    assert_eq!(app.deliver_with(&mailer).await.sent, 1);
    app.clock.advance(Duration::hours(3));
    app.deliver_with(&mailer).await;
    let mails = sink.received();
    assert_eq!(mails.len(), 1, "exactly once");
    let parsed = mails[0].parsed();
    assert!(has_arabic(parsed.subject().unwrap()));
    assert!(parsed
        .body_html(0)
        .unwrap()
        .contains(r#"dir="rtl" lang="ar""#));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn cancelled_reminder_is_never_sent(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    let appointment = Uuid::new_v4();
    let start = app.clock.now() + Duration::hours(30);
    app.enqueue_reminder(
        "amal@example.test",
        "en",
        december_appointment(appointment),
        start - Duration::hours(24),
        reminder_key(appointment, start),
    )
    .await;
    // What the booking code does on cancel or reschedule (shared contract).
    sqlx::query(
        "UPDATE notifications SET status = 'cancelled'
         WHERE kind = 'appointment_reminder' AND payload->>'appointment_id' = $1 AND status = 'pending'",
    )
    .bind(appointment.to_string())
    .execute(&app.pool)
    .await
    .unwrap();

    app.clock.advance(Duration::hours(7));
    app.deliver_with(&sink.mailer()).await;
    assert!(sink.received().is_empty());
    assert_eq!(app.first_notification().await.status, "cancelled");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn second_enqueue_with_the_same_dedupe_key_adds_no_row(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let appointment = Uuid::new_v4();
    let start = app.clock.now() + Duration::hours(30);
    let due = start - Duration::hours(24);
    let enqueue = || {
        let payload = december_appointment(appointment);
        let key = reminder_key(appointment, start);
        app.enqueue_reminder("amal@example.test", "en", payload, due, key)
    };
    assert!(enqueue().await.is_some());
    assert_eq!(enqueue().await, None);
    assert_eq!(app.outbox_rows().await.len(), 1);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn admin_lists_notifications_by_status_without_payload_or_token(pool: PgPool) {
    let w = &World::new(pool).await;
    w.app.register("waiting@example.test", "ru").await;
    let token: String = sqlx::query_scalar(
        "SELECT payload->>'token' FROM notifications WHERE recipient = 'waiting@example.test'",
    )
    .fetch_one(&w.app.pool)
    .await
    .unwrap();
    let list = |query: &str| {
        let path = format!("/api/v1/admin/notifications{query}");
        async move { w.app.get(&path, Some(&w.admin)).await }
    };

    let body = list("?status=pending").await.expect(StatusCode::OK);
    assert_eq!(body["total"], 1);
    assert_eq!(body["page"], 1);
    let item = &body["items"][0];
    assert_eq!(item["recipient"], "waiting@example.test");
    assert_eq!(item["kind"], "verify_email");
    assert_eq!(item["status"], "pending");
    assert_eq!(item["language"], "ru");
    assert!(item.get("payload").is_none());
    assert!(
        !body.to_string().contains(&token),
        "the token never leaves the outbox"
    );

    let all = list("?per_page=1&page=2").await.expect(StatusCode::OK);
    assert_eq!(all["total"], 2);
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert_eq!(all["per_page"], 1);

    for query in ["?status=lost", "?per_page=1000"] {
        list(query)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    for token in [&w.citizen, &w.officer] {
        w.app
            .get("/api/v1/admin/notifications", Some(token))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    let r = w.app.get("/api/v1/admin/notifications", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn admin_retry_sends_a_failed_mail_again_and_is_audited(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let sink = SmtpSink::start().await;
    sink.answer_data_with(&[550]);
    let mailer = sink.mailer();
    app.register("amal@example.test", "en").await;
    app.deliver_with(&mailer).await;
    let row = app.first_notification().await;
    assert_eq!(row.status, "failed");

    let retried = retry(&app, row.id, &admin).await.expect(StatusCode::OK);
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"], 0);
    assert_eq!(app.deliver_with(&mailer).await.sent, 1);
    assert_eq!(sink.received_by("amal@example.test").len(), 1);
    assert!(extract_token(&sink.received()[0].data).is_some());

    let (action, target): (String, String) = sqlx::query_as(
        "SELECT action, target_id FROM audit_log WHERE action = 'notification.retry'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(action, "notification.retry");
    assert_eq!(target, row.id.to_string());
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn retry_of_a_mail_that_has_not_failed_is_a_conflict(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    app.register("amal@example.test", "en").await;
    let row = app.first_notification().await;
    retry(&app, row.id, &admin)
        .await
        .expect_problem(StatusCode::CONFLICT, "not_failed");
    retry(&app, Uuid::new_v4(), &admin)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let citizen = app.verified_citizen("citizen@example.test").await;
    retry(&app, row.id, &citizen)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn without_smtp_mail_is_written_as_eml_files(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("amal@example.test", "ru").await;
    let mails = app.mails_to("amal@example.test").await;
    assert_eq!(mails.len(), 1);
    assert!(has_cyrillic(&text_body(&mails[0])));
    assert!(html_body(&mails[0]).contains(r#"lang="ru""#));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn server_worker_runs_its_loops_and_stops_when_asked(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let sink = SmtpSink::start().await;
    queue_for_citizens(&app, 12, "ru", "appointment_booked").await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let knobs = Knobs {
        concurrency: Some(3),
        batch: Some(2),
        ..Knobs::default()
    };
    let running = app.spawn_worker(sink.mailer(), knobs, stopped);
    sink.wait_for(12).await;
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), running)
        .await
        .expect("the worker stops when asked")
        .unwrap();

    let ids: HashSet<String> = sink.received().iter().map(Received::message_id).collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(sink.received().len(), 12);
    assert!(app.outbox_rows().await.iter().all(|r| r.status == "sent"));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_relay_that_hangs_times_out_and_the_mail_is_retried(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (port, server) = silent_smtp_server().await;
    let mailer = smtp_mailer_timing_out_after(
        &format!("smtp://127.0.0.1:{port}"),
        std::time::Duration::from_millis(300),
    );
    app.register("amal@example.test", "en").await;

    let pass = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        app.deliver_with(&mailer),
    )
    .await
    .expect("the worker is not held by a silent relay");
    assert_eq!((pass.sent, pass.failed), (0, 1));
    let row = app.first_notification().await;
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    assert!(row.error_mentions("timed out"), "{row:?}");
    server.abort();
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn rows_a_stopping_worker_released_are_due_again_at_once_with_no_attempt_used(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("a@example.test", "en").await;
    app.register("b@example.test", "en").await;
    let lease = Duration::minutes(5);
    let claimed = app.claim_due(lease, 10).await;
    assert_eq!(claimed.len(), 2);
    assert!(
        app.claim_due(lease, 10).await.is_empty(),
        "leased: nobody else may take them now"
    );

    let ids: Vec<Uuid> = claimed.iter().map(|r| r.id).collect();
    app.release(&ids, claimed[0].owner).await;
    let again = app.claim_due(lease, 10).await;
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|r| r.attempts == 1), "{again:?}");
}
