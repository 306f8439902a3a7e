//! Accounts and authentication through HTTP on real PostgreSQL.

use actix_web::http::StatusCode;
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::{extract_token, html_body, strings, text_body, TestApp, JWT_SECRET, PASSWORD};

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn register_verify_login_refresh_logout_walks_the_whole_path(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let answer = app.register("Amal@Example.org", "ar").await;
    assert_eq!(answer, json!({ "status": "verification_sent" }));
    let unverified = app.access_token("amal@example.org", PASSWORD).await;
    let user = app
        .get("/api/v1/me", Some(&unverified))
        .await
        .expect(StatusCode::OK);
    assert_eq!(user["email"], "amal@example.org");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["role"], "citizen");

    let mails = app.mails_to("amal@example.org").await;
    assert_eq!(mails.len(), 1);
    let html = html_body(&mails[0]);
    assert!(
        html.contains("dir=\"rtl\"") && html.contains("lang=\"ar\""),
        "{html}"
    );
    let token = extract_token(&mails[0]).expect("token in verification mail");
    app.verify_email(&token)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.verify_email(&token)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");

    let pair = app
        .login("AMAL@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap();
    let me = app
        .get("/api/v1/me", Some(access))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["email_verified"], true);

    let r1 = &pair["refresh_token"];
    let pair2 = app.refresh(r1).await.expect(StatusCode::OK);
    let r2 = &pair2["refresh_token"];
    assert_ne!(r1, r2, "refresh tokens rotate");

    let access2 = pair2["access_token"].as_str().unwrap();
    app.post(
        "/api/v1/auth/logout",
        Some(access2),
        json!({ "refresh_token": r2 }),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.refresh(r2)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn reused_refresh_token_revokes_its_whole_family(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("reuse@example.org", "en").await;
    let pair = app
        .login("reuse@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
    let r1 = &pair["refresh_token"];
    let r2 = app.refresh(r1).await.expect(StatusCode::OK)["refresh_token"].clone();

    app.refresh(r1)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "refresh_token_reused");
    // The server cannot tell the thief from the legitimate holder, so the newer token dies too.
    app.refresh(&r2)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    // Another login starts another family.
    let other = app
        .login("reuse@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
    app.refresh(&other["refresh_token"])
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn unknown_email_and_wrong_password_get_the_same_answer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("known@example.org", "en").await;
    let unknown = app
        .login("nobody@example.org", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let wrong = app
        .login("known@example.org", "wrong password here")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(unknown, wrong);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn five_failures_lock_the_account_for_fifteen_minutes(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.default_limits();
    // At the start of a window, so the lockout lasts the whole window.
    app.freeze_on_next_monday();
    app.register("locked@example.org", "en").await;
    for _ in 0..5 {
        app.login("locked@example.org", "wrong password here")
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let right_password = app.login("locked@example.org", PASSWORD).await;
    right_password.expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_login_attempts");
    let retry = right_password.retry_after();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");

    app.clock.advance(Duration::minutes(14));
    app.login("locked@example.org", PASSWORD)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_login_attempts");

    app.clock.advance(Duration::minutes(2));
    app.login("locked@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn lockout_is_shared_by_two_app_instances_on_one_database(pool: PgPool) {
    let mut a = TestApp::new(pool).await;
    a.default_limits();
    let b = a.another_instance().await;
    a.register("shared@example.org", "en").await;
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.login("shared@example.org", "wrong password here").await;
    }
    b.login("shared@example.org", PASSWORD)
        .await
        .expect_problem(StatusCode::TOO_MANY_REQUESTS, "too_many_login_attempts");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn password_reset_is_single_use_expires_and_ends_sessions(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("reset@example.org", "ru").await;
    let pair = app
        .login("reset@example.org", PASSWORD)
        .await
        .expect(StatusCode::OK);

    // The same answer for an unknown address, so it does not tell who has an account.
    app.request_password_reset("ghost@example.org")
        .await
        .expect(StatusCode::ACCEPTED);
    assert!(app.mails_to("ghost@example.org").await.is_empty());

    app.request_password_reset("reset@example.org")
        .await
        .expect(StatusCode::ACCEPTED);
    let token = app.last_token_for("reset@example.org").await;
    app.confirm_password_reset(&token, "short")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let new_pw = "a brand new password";
    app.confirm_password_reset(&token, new_pw)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.confirm_password_reset(&token, new_pw)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");

    app.login("reset@example.org", PASSWORD)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.login("reset@example.org", new_pw)
        .await
        .expect(StatusCode::OK);
    app.refresh(&pair["refresh_token"])
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");

    app.request_password_reset("reset@example.org").await;
    let late = app.last_token_for("reset@example.org").await;
    app.clock.advance(Duration::minutes(61));
    app.confirm_password_reset(&late, "yet another password")
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_or_expired_token");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_known_address_registers_alike_and_its_owner_is_told(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("dup@example.org", "ru").await;
    let again = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "DUP@Example.org", "password": "another password", "full_name": "Other", "preferred_language": "en" }),
        )
        .await;
    let fresh = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "fresh@example.org", "password": "another password", "full_name": "Other", "preferred_language": "en" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!((again.status, &again.body), (fresh.status, &fresh.body));
    // Nothing was created or changed for the known address; its owner got a mail in their
    // language saying someone tried, without a token.
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE email = 'dup@example.org'")
            .await,
        1
    );
    app.access_token("dup@example.org", PASSWORD).await;
    let mails = app.mails_to("dup@example.org").await;
    assert_eq!(mails.len(), 2, "the verification mail and the notice");
    let notice = mails
        .iter()
        .find(|m| text_body(m).contains("Кто-то пытался"))
        .expect("a notice in Russian");
    assert!(extract_token(notice).is_none(), "{notice}");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn registration_reports_every_invalid_field(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let problem = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "not-an-email", "password": "short", "full_name": "A", "preferred_language": "fr", "phone": "x" }),
        )
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        strings(&problem["errors"], "/field"),
        [
            "email",
            "password",
            "full_name",
            "preferred_language",
            "phone"
        ]
    );
    app.post(
        "/api/v1/auth/register",
        None,
        json!({ "email": "long@example.org", "password": "x".repeat(129), "full_name": "Long", "preferred_language": "en" }),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn stored_password_is_argon2id_with_owasp_parameters(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.register("hash@example.org", "en").await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let tokens: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM one_time_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let sent = app.last_token_for("hash@example.org").await;
    assert!(
        !tokens.contains(&sent),
        "only the hash of a token is stored"
    );
    assert_eq!(tokens[0].len(), 64);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn profile_can_be_read_and_changed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let token = app.verified_citizen("me@example.org").await;
    let patch = |body: Value| app.patch("/api/v1/me", Some(&token), body);
    let me = patch(json!({ "full_name": "Amal  Haddad Al-Sham", "preferred_language": "ru", "phone": "+7 916 123-45-67" }))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["full_name"], "Amal Haddad Al-Sham");
    assert_eq!(me["preferred_language"], "ru");
    assert_eq!(me["phone"], "+79161234567");
    let me = patch(json!({ "phone": null })).await.expect(StatusCode::OK);
    assert_eq!(me["phone"], Value::Null);
    assert_eq!(me["preferred_language"], "ru");
    for refused in [
        json!({ "preferred_language": null }),
        json!({ "full_name": null }),
        json!({ "preferred_language": "de" }),
    ] {
        patch(refused)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn admin_creates_staff_and_others_cannot(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.admin().await;
    let citizen = app.verified_citizen("citizen@example.org").await;
    let officer = app.officer().await;
    let staff = "/api/v1/admin/staff";
    let new = json!({ "email": "Officer2@Mawid.test", "password": PASSWORD, "full_name": "Omar", "role": "officer" });

    app.post(staff, None, new.clone())
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    for token in [&citizen, &officer] {
        app.post(staff, Some(token), new.clone())
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    app.get(staff, Some(&citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let bad_role = json!({ "email": "x@mawid.test", "password": PASSWORD, "full_name": "X", "role": "citizen" });
    app.post(staff, Some(&admin), bad_role)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let created = app
        .post(staff, Some(&admin), new)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["role"], "officer");
    app.login("officer2@mawid.test", PASSWORD)
        .await
        .expect(StatusCode::OK);

    let list = app.get(staff, Some(&admin)).await.expect(StatusCode::OK);
    assert_eq!(
        strings(&list["items"], "/email"),
        [
            "admin@mawid.test",
            "officer@mawid.test",
            "officer2@mawid.test"
        ]
    );
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'staff.create'")
        .await;
    assert_eq!(audited, 1);
}

fn forge(claims: Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn bad_tokens_are_401(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let good = app.verified_citizen("jwt@example.org").await;
    let me = app
        .get("/api/v1/me", Some(&good))
        .await
        .expect(StatusCode::OK);
    let sub = me["id"].as_str().unwrap();
    let now = app.clock.now().timestamp();
    let claims = |exp: i64| json!({ "sub": sub, "role": "citizen", "iss": "mawid", "aud": "mawid-api", "iat": now, "exp": exp });

    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = json!("admin");
    let escalated = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(payload.to_string()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims(now + 600).to_string())
    );
    let wrong_secret = forge(claims(now + 600), b"another-secret-that-is-32-bytes-long!!");
    let expired = forge(claims(now - 60), JWT_SECRET);
    let wrong_aud = forge(
        json!({ "sub": sub, "role": "citizen", "iss": "mawid", "aud": "other", "iat": now, "exp": now + 600 }),
        JWT_SECRET,
    );

    for (name, token) in [
        ("tampered signature", tampered),
        ("tampered payload", escalated),
        ("alg none", none),
        ("wrong secret", wrong_secret),
        ("expired", expired),
        ("wrong audience", wrong_aud),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let r = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}");
        r.expect_problem(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    app.get("/api/v1/me", None)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    // A valid token forged with the right secret still works: the checks above are not vacuous.
    app.get("/api/v1/me", Some(&forge(claims(now + 600), JWT_SECRET)))
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn citizen_is_forbidden_on_admin_routes(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let citizen = app.verified_citizen("nosy@example.org").await;
    app.get("/api/v1/admin/staff", Some(&citizen))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let admin = app.staff("boss@mawid.test", "admin").await;
    app.get("/api/v1/admin/staff", Some(&admin))
        .await
        .expect(StatusCode::OK);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn reset_mail_is_limited_to_three_per_account_per_fifteen_minutes(pool: PgPool) {
    let mut app = TestApp::new(pool).await;
    app.default_limits();
    app.freeze_on_next_monday();
    app.register("flood@example.org", "en").await;
    let resets = || async {
        app.mails_to("flood@example.org")
            .await
            .iter()
            .filter(|m| text_body(m).contains("new password"))
            .count()
    };
    for _ in 0..5 {
        let r = app.request_password_reset("flood@example.org").await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "the answer never changes");
    }
    assert_eq!(resets().await, 3);
    app.clock.advance(Duration::minutes(16));
    app.request_password_reset("flood@example.org").await;
    assert_eq!(resets().await, 4);
}

/// What the README's recipe does with `grep -ohE '\b[A-Za-z0-9_-]{43}\b'`.
fn words_of_43(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| w.len() == 43)
        .collect()
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn an_arabic_or_russian_verification_mail_can_be_read_from_its_text_copy(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for (email, lang) in [("layla@example.com", "ar"), ("olga@example.com", "ru")] {
        app.register(email, lang).await;
        let copies = app.reading_copies_to(email).await;
        assert_eq!(copies.len(), 1, "{copies:?}");
        let words = words_of_43(&copies[0]);
        assert_eq!(words.len(), 1, "{}", copies[0]);
        app.verify_email(words[0])
            .await
            .expect(StatusCode::NO_CONTENT);
    }
}
