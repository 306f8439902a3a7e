//! Abuse limits (product.md v1.1): rate limits held in PostgreSQL across server processes, a
//! login lockout that strangers cannot turn against the owner, no account enumeration, token
//! revocation that holds under races, and the document-request caps.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::Duration;
use futures_util::future::join_all;
use mawid_domain::limit::LimitName;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{Resp, TestApp, World, PASSWORD};

/// A POST from the client at `peer` (an IPv4 address).
async fn post_from(
    app: &TestApp,
    peer: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> Resp {
    let mut req = TestRequest::post()
        .uri(path)
        .peer_addr(format!("{peer}:40000").parse().unwrap())
        .set_json(body);
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    app.call(req).await
}

async fn login_from(app: &TestApp, peer: &str, email: &str, password: &str) -> Resp {
    let body = json!({ "email": email, "password": password });
    post_from(app, peer, "/api/v1/auth/login", None, body).await
}

fn statuses(answers: &[Resp]) -> Vec<u16> {
    answers.iter().map(|a| a.status.as_u16()).collect()
}

fn with_status(answers: &[Resp], status: StatusCode) -> usize {
    answers.iter().filter(|r| r.status == status).count()
}

/// `n` requests made by `request` all at once, every other one through `b`.
async fn through_both<'a, Fut>(
    a: &'a TestApp,
    b: &'a TestApp,
    n: usize,
    request: impl Fn(&'a TestApp, usize) -> Fut,
) -> Vec<Resp>
where
    Fut: Future<Output = Resp>,
{
    join_all((0..n).map(|i| request(if i % 2 == 0 { a } else { b }, i))).await
}

/// Asserts that exactly `admitted` of `answers` are `status` and every other one is the problem
/// `refused`; returns the refused ones.
fn exactly_admitted<'r>(
    answers: &'r [Resp],
    status: StatusCode,
    admitted: usize,
    refused: (StatusCode, &str),
) -> Vec<&'r Resp> {
    assert_eq!(
        with_status(answers, status),
        admitted,
        "{:?}",
        statuses(answers)
    );
    let others: Vec<&Resp> = answers.iter().filter(|r| r.status != status).collect();
    for r in &others {
        r.expect_problem(refused.0, refused.1);
    }
    others
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_registration_flood_from_one_address_is_cut_at_the_limit_across_two_instances(
    pool: PgPool,
) {
    let mut a = TestApp::new(pool).await;
    a.limit(LimitName::Register, 5, 3600);
    let b = a.another_instance().await;
    let answers = through_both(&a, &b, 24, |app, i| {
        let body = json!({ "email": format!("flood{i}@example.org"), "password": PASSWORD, "full_name": "Flood", "preferred_language": "en" });
        post_from(app, "198.51.100.1", "/api/v1/auth/register", None, body)
    })
    .await;
    let refused = exactly_admitted(
        &answers,
        StatusCode::ACCEPTED,
        5,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
    );
    for r in refused {
        assert!((1..=3600).contains(&r.retry_after()));
    }
    // Refused before hashing: only the admitted ones reached the pool and the database.
    assert_eq!(a.count("SELECT count(*) FROM users").await, 5);
    // Another address has its own budget, and the window ends.
    let body = json!({ "email": "other@example.org", "password": PASSWORD, "full_name": "Other", "preferred_language": "en" });
    post_from(
        &b,
        "198.51.100.2",
        "/api/v1/auth/register",
        None,
        body.clone(),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    a.clock.advance(Duration::hours(1));
    let body = json!({ "email": "later@example.org", "password": PASSWORD, "full_name": "Later", "preferred_language": "en" });
    post_from(&a, "198.51.100.1", "/api/v1/auth/register", None, body)
        .await
        .expect(StatusCode::ACCEPTED);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn sign_ins_from_one_address_are_limited_across_all_accounts(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.limit(LimitName::Login, 3, 900);
    for i in 0..3 {
        login_from(
            &app,
            "203.0.113.5",
            &format!("n{i}@example.org"),
            "whatever password",
        )
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let r = login_from(&app, "203.0.113.5", "n9@example.org", "whatever password").await;
    r.expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!((1..=900).contains(&r.retry_after()));
}

/// 100 wrong passwords at once from one address, through two instances: no more than the
/// limit are checked (each one reserves its failure before hashing), and the owner still signs
/// in from another address.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn parallel_wrong_passwords_cannot_outrun_the_lockout_and_the_owner_signs_in_elsewhere(
    pool: PgPool,
) {
    let mut a = TestApp::new(pool).await;
    a.limit(LimitName::LoginFailures, 5, 900);
    a.limit(LimitName::LoginAccount, 100, 3600);
    let b = a.another_instance().await;
    a.register("owner@example.org", "en").await;
    let answers = through_both(&a, &b, 100, |app, _| {
        login_from(app, "192.0.2.66", "owner@example.org", "a wrong password")
    })
    .await;
    let checked = with_status(&answers, StatusCode::UNAUTHORIZED);
    let locked = with_status(&answers, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        checked <= 5,
        "{checked} passwords checked: {:?}",
        statuses(&answers)
    );
    assert_eq!(checked + locked, 100, "{:?}", statuses(&answers));
    for r in answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    {
        r.expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_login_attempts");
    }
    // The attacker's address is refused even the right password; the owner's is not.
    login_from(&a, "192.0.2.66", "owner@example.org", PASSWORD)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_login_attempts");
    login_from(&b, "192.0.2.10", "owner@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_account_wide_ceiling_slows_a_distributed_guesser(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.limit(LimitName::LoginFailures, 5, 900);
    app.limit(LimitName::LoginAccount, 8, 3600);
    app.freeze_on_next_monday();
    app.register("target@example.org", "en").await;
    for i in 0..8 {
        login_from(
            &app,
            &format!("192.0.2.{i}"),
            "target@example.org",
            "wrong guess here",
        )
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let r = login_from(&app, "192.0.2.99", "target@example.org", PASSWORD).await;
    r.expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_login_attempts");
    assert!((1..=3600).contains(&r.retry_after()));
    app.clock.advance(Duration::hours(1));
    login_from(&app, "192.0.2.99", "target@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_successful_sign_in_does_not_count_as_a_failure(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.limit(LimitName::LoginFailures, 2, 900);
    app.register("fine@example.org", "en").await;
    for _ in 0..5 {
        login_from(&app, "192.0.2.1", "fine@example.org", PASSWORD)
            .await
            .expect(StatusCode::OK);
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn resend_answers_alike_and_revives_an_expired_verification(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("late@example.org", "en").await;
    let first = app.last_token_for("late@example.org").await;
    app.clock.advance(Duration::hours(49));
    app.verify_email(&first)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");

    let resend = |email: &'static str| {
        app.post(
            "/api/v1/auth/verify-email/resend",
            None,
            json!({ "email": email }),
        )
    };
    let known = resend("late@example.org").await;
    let unknown = resend("nobody@example.org").await;
    let malformed = resend("not an address").await;
    for r in [&known, &unknown, &malformed] {
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(r.body, json!({ "status": "verification_sent" }));
    }
    let fresh = app.last_token_for("late@example.org").await;
    assert_ne!(fresh, first);
    app.verify_email(&fresh)
        .await
        .expect(StatusCode::NO_CONTENT);
    // A verified account is sent nothing more.
    let mails = app.mails_to("late@example.org").await.len();
    resend("late@example.org")
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(app.mails_to("late@example.org").await.len(), mails);
    assert!(app.mails_to("nobody@example.org").await.is_empty());
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn verify_and_resend_share_the_per_address_limit(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.limit(LimitName::Verify, 2, 3600);
    post_from(
        &app,
        "192.0.2.1",
        "/api/v1/auth/verify-email",
        None,
        json!({ "token": "nope" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");
    let body = json!({ "email": "x@example.org" });
    post_from(
        &app,
        "192.0.2.1",
        "/api/v1/auth/verify-email/resend",
        None,
        body.clone(),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    post_from(
        &app,
        "192.0.2.1",
        "/api/v1/auth/verify-email/resend",
        None,
        body,
    )
    .await
    .expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn password_reset_and_its_confirm_are_limited_per_address(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.limit(LimitName::PasswordReset, 2, 3600);
    let body = json!({ "email": "x@example.org" });
    post_from(
        &app,
        "192.0.2.1",
        "/api/v1/auth/password-reset",
        None,
        body.clone(),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    let confirm = json!({ "token": "guess", "new_password": "a long new password" });
    post_from(
        &app,
        "192.0.2.1",
        "/api/v1/auth/password-reset/confirm",
        None,
        confirm.clone(),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");
    post_from(
        &app,
        "192.0.2.1",
        "/api/v1/auth/password-reset/confirm",
        None,
        confirm,
    )
    .await
    .expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_reset_mail_cap_holds_under_parallel_requests(pool: PgPool) {
    let mut a = TestApp::new(pool).await;
    a.limit(LimitName::ResetMail, 3, 900);
    let b = a.another_instance().await;
    a.register("cap@example.org", "en").await;
    let before = a.mails_to("cap@example.org").await.len();
    let answers = through_both(&a, &b, 20, |app, _| {
        app.request_password_reset("cap@example.org")
    })
    .await;
    assert_eq!(
        with_status(&answers, StatusCode::ACCEPTED),
        20,
        "{:?}",
        statuses(&answers)
    );
    assert_eq!(a.mails_to("cap@example.org").await.len() - before, 3);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_completed_reset_voids_the_other_reset_tokens(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("two@example.org", "en").await;
    // The verification mail first: in one pass with the reset mail, neither is "the last".
    app.deliver_mail().await;
    app.request_password_reset("two@example.org").await;
    let older = app.last_token_for("two@example.org").await;
    app.request_password_reset("two@example.org").await;
    let newer = app.last_token_for("two@example.org").await;
    app.confirm_password_reset(&newer, "the chosen new password")
        .await
        .expect(StatusCode::NO_CONTENT);
    app.confirm_password_reset(&older, "an attacker's password")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");
    app.access_token("two@example.org", "the chosen new password")
        .await;
}

/// A rotation racing a logout of its family, again and again through two instances: whichever
/// wins, no token of the family works afterwards, not even the one the rotation minted.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn no_refresh_token_of_a_revoked_family_works_even_one_minted_during_the_revocation(
    pool: PgPool,
) {
    let a = TestApp::new(pool).await;
    let b = a.another_instance().await;
    a.register("race@example.org", "en").await;
    for round in 0..12 {
        let pair = a
            .login("race@example.org", PASSWORD)
            .await
            .expect(StatusCode::OK);
        let access = pair["access_token"].as_str().unwrap().to_owned();
        let token = pair["refresh_token"].clone();
        let (rotated, logout) = futures_util::join!(
            b.refresh(&token),
            a.post(
                "/api/v1/auth/logout",
                Some(&access),
                json!({ "refresh_token": token })
            ),
        );
        logout.expect(StatusCode::NO_CONTENT);
        if rotated.status == StatusCode::OK {
            a.refresh(&rotated.body["refresh_token"])
                .await
                .expect_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
        } else {
            rotated.expect_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
        }
        let again = b.refresh(&token).await;
        assert_eq!(
            again.status,
            StatusCode::UNAUTHORIZED,
            "round {round}: {}",
            again.body
        );
    }
}

/// The same race against a password reset, which revokes every family of the account.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_password_reset_revokes_a_family_rotating_at_that_moment(pool: PgPool) {
    let a = TestApp::new(pool).await;
    let b = a.another_instance().await;
    a.register("reset-race@example.org", "en").await;
    // The verification mail first: in one pass with the reset mail, neither is "the last".
    a.deliver_mail().await;
    for round in 0..6 {
        let password = if round == 0 {
            PASSWORD.to_owned()
        } else {
            format!("new password {round}")
        };
        let pair = a
            .login("reset-race@example.org", &password)
            .await
            .expect(StatusCode::OK);
        a.request_password_reset("reset-race@example.org").await;
        let reset = a.last_token_for("reset-race@example.org").await;
        let next = format!("new password {}", round + 1);
        let (rotated, confirmed) = futures_util::join!(
            b.refresh(&pair["refresh_token"]),
            a.confirm_password_reset(&reset, &next),
        );
        confirmed.expect(StatusCode::NO_CONTENT);
        if rotated.status == StatusCode::OK {
            a.refresh(&rotated.body["refresh_token"])
                .await
                .expect_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
        }
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn booking_changes_are_limited_per_citizen(pool: PgPool) {
    let mut w = World::new(pool).await;
    w.app.limit(LimitName::Booking, 2, 3600);
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    w.app
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            Some(&w.citizen),
            json!({ "start": w.at(2, "10:00") }),
        )
        .await
        .expect(StatusCode::OK);
    let r = w
        .app
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&w.citizen),
            json!({}),
        )
        .await;
    r.expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM appointments WHERE status = 'booked'")
            .await,
        1,
        "the refused cancel did nothing"
    );
    // Another citizen has their own budget.
    let other = w.app.quick_citizen("other@example.org").await;
    w.book(&other, &w.at(3, "09:00"))
        .await
        .expect(StatusCode::CREATED);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_cancel_with_a_malformed_or_mistyped_body_is_refused_and_cancels_nothing(pool: PgPool) {
    let w = World::new(pool).await;
    let id = w.booked(&w.citizen, &w.at(2, "09:00")).await;
    let path = format!("/api/v1/appointments/{id}/cancel");
    let raw = |body: &'static str| {
        w.app.call(
            TestRequest::post()
                .uri(&path)
                .insert_header(("Authorization", format!("Bearer {}", w.citizen)))
                .insert_header(("Content-Type", "application/json"))
                .set_payload(body),
        )
    };
    raw("{not json")
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "malformed_json");
    raw(r#"{"reason": 5}"#)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    raw("[]")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        w.app
            .count("SELECT count(*) FROM appointments WHERE status = 'booked'")
            .await,
        1
    );
    // No body at all, or a well-formed one, cancels.
    w.app
        .call(
            TestRequest::post()
                .uri(&path)
                .insert_header(("Authorization", format!("Bearer {}", w.citizen))),
        )
        .await
        .expect(StatusCode::OK);
}

fn doc_request(w: &World) -> Value {
    json!({
        "office_id": w.office,
        "service_id": w.service,
        "applicant": { "full_name": "Amal Haddad", "date_of_birth": "1990-05-17", "passport_number": "N01234567" },
    })
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn document_requests_need_a_verified_address_and_at_most_five_open_even_in_parallel(
    pool: PgPool,
) {
    let w = World::new(pool).await;
    w.service_issues_documents().await;
    let second = w.app.another_instance().await;

    w.app.register("unverified@example.org", "en").await;
    let unverified = w.app.access_token("unverified@example.org", PASSWORD).await;
    w.app
        .post(
            "/api/v1/document-requests",
            Some(&unverified),
            doc_request(&w),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "email_not_verified");

    let answers = through_both(&w.app, &second, 12, |app, _| {
        app.post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            doc_request(&w),
        )
    })
    .await;
    exactly_admitted(
        &answers,
        StatusCode::CREATED,
        5,
        (StatusCode::UNPROCESSABLE_ENTITY, "document_request_limit"),
    );
    assert_eq!(
        w.app.count("SELECT count(*) FROM document_requests").await,
        5
    );

    // A cancelled request is no longer open: one more may be opened.
    let id = answers
        .iter()
        .find(|r| r.status == StatusCode::CREATED)
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .unwrap();
    w.app
        .post(
            &format!("/api/v1/document-requests/{id}/cancel"),
            Some(&w.citizen),
            json!({}),
        )
        .await
        .expect(StatusCode::OK);
    w.app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            doc_request(&w),
        )
        .await
        .expect(StatusCode::CREATED);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn document_requests_are_rate_limited_per_citizen(pool: PgPool) {
    let mut w = World::new(pool).await;
    w.service_issues_documents().await;
    w.app.limit(LimitName::DocumentRequest, 1, 86400);
    w.app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            doc_request(&w),
        )
        .await
        .expect(StatusCode::CREATED);
    let r = w
        .app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            doc_request(&w),
        )
        .await;
    r.expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!((1..=86400).contains(&r.retry_after()));
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn failed_lookups_of_one_tracking_number_are_limited_from_every_address(pool: PgPool) {
    let mut w = World::new(pool).await;
    w.service_issues_documents().await;
    w.app.limit(LimitName::TrackFailures, 3, 86400);
    let created = w
        .app
        .post(
            "/api/v1/document-requests",
            Some(&w.citizen),
            doc_request(&w),
        )
        .await
        .expect(StatusCode::CREATED);
    let number = created["tracking_number"].as_str().unwrap().to_owned();
    let track = |peer: String, dob: &'static str| {
        let uri = format!("/api/v1/track/{number}?date_of_birth={dob}");
        w.app.call(
            TestRequest::get()
                .uri(&uri)
                .peer_addr(format!("{peer}:1000").parse().unwrap()),
        )
    };
    // Successful lookups spend nothing of the number's failure budget.
    for i in 0..5 {
        track(format!("192.0.2.{i}"), "1990-05-17")
            .await
            .expect(StatusCode::OK);
    }
    for i in 0..3 {
        track(format!("198.51.100.{i}"), "1991-01-01")
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // Now even the right date of birth from a fresh address waits.
    track("203.0.113.1".into(), "1990-05-17")
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn rate_limit_counters_of_ended_windows_are_forgotten(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.limit(LimitName::Verify, 100, 60);
    for i in 0..3 {
        post_from(
            &app,
            &format!("192.0.2.{i}"),
            "/api/v1/auth/verify-email/resend",
            None,
            json!({ "email": "a@example.org" }),
        )
        .await;
    }
    app.clock.advance(Duration::minutes(5));
    post_from(
        &app,
        "192.0.2.200",
        "/api/v1/auth/verify-email/resend",
        None,
        json!({ "email": "a@example.org" }),
    )
    .await;
    // The first hit of a new window cleared the three ended ones.
    let left = app
        .count("SELECT count(*) FROM rate_limits WHERE name = 'VERIFY'")
        .await;
    assert_eq!(left, 1);
    // Only hashes of addresses and emails are kept.
    let clear = app
        .count("SELECT count(*) FROM rate_limits WHERE position('192.0.2' in encode(key_hash, 'escape')) > 0")
        .await;
    assert_eq!(clear, 0);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn every_answer_says_nosniff_and_authenticated_ones_are_not_stored(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let citizen = app.quick_citizen("private@example.org").await;
    for r in [
        app.get("/api/v1/offices", None).await,
        app.get("/api/v1/no-such-route", None).await,
        app.get("/healthz", None).await,
        app.get("/api/v1/me", Some(&citizen)).await,
        app.get("/api/v1/me", Some("forged")).await,
    ] {
        assert_eq!(
            r.header("x-content-type-options"),
            "nosniff",
            "{:?}",
            r.headers
        );
    }
    let me = app.get("/api/v1/me", Some(&citizen)).await;
    assert_eq!(me.header("cache-control"), "no-store");
    let list = app.get("/api/v1/appointments", Some(&citizen)).await;
    assert_eq!(list.header("cache-control"), "no-store");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn bad_input_is_a_problem_never_a_500(pool: PgPool) {
    let w = World::new(pool).await;
    let app = &w.app;
    // Page numbers near i64::MAX: an empty page, or a 422, never a 500.
    for (path, token) in [
        ("/api/v1/document-requests", &w.citizen),
        ("/api/v1/admin/document-requests", &w.officer),
        ("/api/v1/admin/audit-log", &w.admin),
    ] {
        for page in [
            "9223372036854775807",
            "9223372036854775806",
            "9223372036854775808",
            "-9223372036854775808",
        ] {
            let r = app.get(&format!("{path}?page={page}"), Some(token)).await;
            assert!(
                r.status == StatusCode::OK || r.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path}?page={page}: {} {}",
                r.status,
                r.body
            );
        }
    }
    // A NUL byte in a text parameter or a body.
    app.get("/api/v1/admin/audit-log?target_type=%00x", Some(&w.admin))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.patch(
        "/api/v1/me",
        Some(&w.citizen),
        json!({ "full_name": "Amal\u{0}Haddad" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Names with bidirectional formatting characters, at registration and on the profile.
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "bidi@example.org", "password": PASSWORD, "full_name": "Amal \u{202E}laddaH", "preferred_language": "en" }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r["errors"][0]["field"], "full_name");
    app.patch(
        "/api/v1/me",
        Some(&w.citizen),
        json!({ "full_name": "Amal \u{2067}x\u{2069}" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // An address the mailer cannot parse is refused, and nothing is created.
    for email in [
        "a@b..c.org",
        "a\"b@example.org",
        "a@-example.org",
        "a@exa mple.org",
    ] {
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "full_name": "Odd Address", "preferred_language": "en" }),
            )
            .await;
        r.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE full_name = 'Odd Address'")
            .await,
        0
    );
}

/// Several server processes starting together with the bootstrap settings: one admin, created
/// once and audited, and no process fails.
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn the_bootstrap_admin_is_created_once_by_processes_starting_together(pool: PgPool) {
    use mawid_domain::account::{Email, FullName, Language, NewAccount, Role};
    let app = TestApp::new(pool).await;
    let others = join_all((0..4).map(|_| app.another_instance())).await;
    let account = NewAccount {
        email: Email::parse("root@mawid.test").unwrap(),
        full_name: FullName::parse("full_name", "Mawid administrator").unwrap(),
        language: Language::En,
        phone: None,
        role: Role::Admin,
    };
    let now = app.clock.now();
    let starts = others.iter().map(|o| {
        mawid_persistence::accounts::bootstrap_admin(&o.pool, &account, "$argon2id$x", now)
    });
    let created: Vec<bool> = join_all(starts)
        .await
        .into_iter()
        .map(|r| r.expect("no process fails its start"))
        .collect();
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE role = 'admin'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'staff.bootstrap_admin'")
            .await,
        1
    );
}
