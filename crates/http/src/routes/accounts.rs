//! Registration, sign-in, token rotation, password reset and the caller's own profile.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use mawid_domain::account::{
    Email, FullName, Language, Password, Phone, Role, ACCESS_TOKEN_TTL_SECONDS,
    EMAIL_VERIFICATION_TTL_HOURS, LOCKOUT_WINDOW_MINUTES, MAX_LOGIN_FAILURES,
    MAX_RESET_EMAILS_PER_WINDOW, PASSWORD_RESET_TTL_MINUTES, REFRESH_TOKEN_TTL_DAYS,
    RESET_EMAIL_WINDOW_MINUTES,
};
use mawid_domain::mail::{Notification, TokenMail};
use mawid_domain::Invalid;
use mawid_persistence::outbox::{self, NewNotification};
use mawid_persistence::tokens::{self, Purpose};
use mawid_persistence::users::{self, NewUser, ProfileChange, UserRow};
use mawid_persistence::{login, PgPool, Postgres, Transaction};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::crypto::{random_token, token_hash};
use crate::error::ApiError;
use crate::json::Json;
use crate::AppState;
use mawid_domain::Code;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").post(register))
        .service(web::resource("/auth/verify-email").post(verify_email))
        .service(web::resource("/auth/login").post(login))
        .service(web::resource("/auth/refresh").post(refresh))
        .service(web::resource("/auth/logout").post(logout))
        .service(web::resource("/auth/password-reset").post(request_password_reset))
        .service(web::resource("/auth/password-reset/confirm").post(confirm_password_reset))
        .service(web::resource("/me").get(me).patch(update_me));
}

#[derive(Serialize)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub preferred_language: String,
    pub phone: Option<String>,
    pub role: String,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            email: u.email,
            full_name: u.full_name,
            preferred_language: u.preferred_language,
            phone: u.phone,
            role: u.role,
            email_verified: u.email_verified_at.is_some(),
            created_at: u.created_at,
        }
    }
}

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
    password: String,
    full_name: String,
    preferred_language: String,
    phone: Option<String>,
}

async fn register(
    state: web::Data<AppState>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Invalid::collect();
    let email = v.check(Email::parse(&body.email));
    let password = v.check(Password::parse(&body.password));
    let full_name = v.check(FullName::parse("full_name", &body.full_name));
    let language = v.check(Language::parse(&body.preferred_language));
    let phone = body.phone.as_deref().map(|p| v.check(Phone::parse(p)));
    v.finish()?;
    let (Some(email), Some(password), Some(full_name), Some(language)) =
        (email, password, full_name, language)
    else {
        unreachable!("finish() returned Ok, so every field parsed");
    };
    let phone = phone.flatten();

    let password_hash = state.passwords.hash(&password).await?;
    let mut tx = state.pool.begin().await?;
    let user = users::insert(
        &mut *tx,
        NewUser {
            email: &email,
            password_hash: &password_hash,
            full_name: &full_name,
            language,
            phone: phone.as_ref(),
            role: Role::Citizen,
            verified_at: None,
        },
    )
    .await?;
    send_one_time_token(&mut tx, &user, Purpose::VerifyEmail, state.now()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Creates a single-use token and queues the email carrying it, in the caller's transaction.
async fn send_one_time_token(
    tx: &mut Transaction<'static, Postgres>,
    user: &UserRow,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let token = random_token();
    let (ttl, mail): (_, fn(TokenMail) -> Notification) = match purpose {
        Purpose::VerifyEmail => (
            Duration::hours(EMAIL_VERIFICATION_TTL_HOURS),
            Notification::VerifyEmail,
        ),
        Purpose::PasswordReset => (
            Duration::minutes(PASSWORD_RESET_TTL_MINUTES),
            Notification::PasswordReset,
        ),
    };
    tokens::insert_one_time(
        &mut **tx,
        &token_hash(&token),
        user.id,
        purpose,
        now,
        now + ttl,
    )
    .await?;
    outbox::enqueue(
        &mut **tx,
        NewNotification {
            user_id: Some(user.id),
            recipient: &user.email,
            language: user.language(),
            payload: mail(TokenMail {
                full_name: user.full_name.clone(),
                token,
            }),
            due_at: now,
            dedupe_key: None,
        },
    )
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

fn invalid_one_time_token() -> ApiError {
    ApiError::new(
        Code::InvalidOrExpiredToken,
        "the token is unknown, already used or expired",
    )
}

async fn verify_email(
    state: web::Data<AppState>,
    body: Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let user_id = tokens::consume_one_time(
        &mut *tx,
        &token_hash(body.token.trim()),
        Purpose::VerifyEmail,
        now,
    )
    .await?
    .ok_or_else(invalid_one_time_token)?;
    users::mark_verified(&mut *tx, user_id, now).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct TokenPair {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
}

fn bad_credentials() -> ApiError {
    ApiError::new(
        Code::InvalidCredentials,
        "the email or the password is wrong",
    )
}

async fn login(
    state: web::Data<AppState>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    // A malformed email cannot name an account: same answer as a wrong password.
    let email = Email::parse(&body.email).map_err(|_| bad_credentials())?;
    let now = state.now();
    let window = Duration::minutes(LOCKOUT_WINDOW_MINUTES);
    let failures = login::failures_since(&state.pool, &email, now - window).await?;
    if failures >= MAX_LOGIN_FAILURES {
        let nth = login::nth_latest_failure(&state.pool, &email, MAX_LOGIN_FAILURES)
            .await?
            .unwrap_or(now);
        let retry_after_secs = ((nth + window) - now).num_seconds().max(1) as u64;
        return Err(ApiError::retry_after(
            Code::TooManyLoginAttempts,
            "too many failed sign-ins for this account; wait and try again",
            retry_after_secs,
        ));
    }

    let user = users::by_email(&state.pool, &email).await?;
    let ok = state
        .passwords
        .verify(
            &body.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await?;
    let Some(user) = user.filter(|_| ok) else {
        login::record_failure(&state.pool, &email, now).await?;
        return Err(bad_credentials());
    };
    login::clear_failures(&state.pool, &email).await?;

    let mut tx = state.pool.begin().await?;
    let pair = issue_pair(&state, &mut tx, &user, Uuid::new_v4(), now).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(pair))
}

async fn issue_pair(
    state: &AppState,
    tx: &mut Transaction<'static, Postgres>,
    user: &UserRow,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<TokenPair, ApiError> {
    let refresh_token = random_token();
    let expires = now + Duration::days(REFRESH_TOKEN_TTL_DAYS);
    tokens::insert_refresh(
        &mut **tx,
        &token_hash(&refresh_token),
        user.id,
        family,
        expires,
    )
    .await?;
    Ok(TokenPair {
        access_token: state.jwt.issue(user.id, user.role(), now)?,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL_SECONDS,
        refresh_token,
    })
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        Code::InvalidRefreshToken,
        "the refresh token is invalid, expired or revoked",
    )
}

async fn refresh(
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let hash = token_hash(body.refresh_token.trim());
    let mut tx = state.pool.begin().await?;
    let row = tokens::lock_refresh(&mut tx, &hash)
        .await?
        .ok_or_else(invalid_refresh)?;
    if row.used_at.is_some() {
        // A rotated token came back: someone holds a copy. Cut off the whole login.
        tokens::revoke_family(&mut *tx, row.family_id, now).await?;
        tx.commit().await?;
        tracing::warn!(family = %row.family_id, "refresh token reuse; family revoked");
        return Err(ApiError::new(
            Code::RefreshTokenReused,
            "this refresh token was already used; sign in again",
        ));
    }
    if row.revoked_at.is_some() || row.expires_at <= now {
        return Err(invalid_refresh());
    }
    tokens::mark_refresh_used(&mut *tx, &hash, now).await?;
    let user = users::by_id(&mut *tx, row.user_id)
        .await?
        .ok_or_else(invalid_refresh)?;
    let pair = issue_pair(&state, &mut tx, &user, row.family_id, now).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(pair))
}

async fn logout(
    who: Authenticated,
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = token_hash(body.refresh_token.trim());
    // Unknown or foreign tokens are ignored: logging out is idempotent and reveals nothing.
    tokens::revoke_family_of(&state.pool, &hash, who.user_id, state.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ResetRequest {
    email: String,
}

async fn request_password_reset(
    state: web::Data<AppState>,
    body: Json<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    // Always 202, so the answer never tells whether an account exists.
    if let Ok(email) = Email::parse(&body.email) {
        if let Some(user) = users::by_email(&state.pool, &email).await? {
            let now = state.now();
            let since = now - Duration::minutes(RESET_EMAIL_WINDOW_MINUTES);
            let sent =
                tokens::issued_since(&state.pool, user.id, Purpose::PasswordReset, since).await?;
            if sent < MAX_RESET_EMAILS_PER_WINDOW {
                let mut tx = state.pool.begin().await?;
                send_one_time_token(&mut tx, &user, Purpose::PasswordReset, now).await?;
                tx.commit().await?;
            } else {
                tracing::info!(user = %user.id, "password reset mail withheld: per-window limit reached");
            }
        }
    }
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

async fn confirm_password_reset(
    state: web::Data<AppState>,
    body: Json<ResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse(&body.new_password).map_err(|e| {
        ApiError::from(Invalid {
            errors: e
                .errors
                .into_iter()
                .map(|f| mawid_domain::error::FieldError {
                    field: "new_password".into(),
                    ..f
                })
                .collect(),
        })
    })?;
    let hash = state.passwords.hash(&password).await?;
    let now = state.now();
    let mut tx = state.pool.begin().await?;
    let user_id = tokens::consume_one_time(
        &mut *tx,
        &token_hash(body.token.trim()),
        Purpose::PasswordReset,
        now,
    )
    .await?
    .ok_or_else(invalid_one_time_token)?;
    users::set_password(&mut *tx, user_id, &hash).await?;
    // A reset usually means the old password leaked: end every session.
    tokens::revoke_all_for_user(&mut *tx, user_id, now).await?;
    tx.commit().await?;
    if let Some(user) = users::by_id(&state.pool, user_id).await? {
        login::clear_failures(&state.pool, &Email::parse(&user.email)?).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn me(who: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = load_user(&state.pool, who.user_id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

async fn load_user(pool: &PgPool, id: Uuid) -> Result<UserRow, ApiError> {
    users::by_id(pool, id).await?.ok_or(ApiError::new(
        Code::InvalidToken,
        "the account behind this token no longer exists",
    ))
}

/// Tells an absent field from an explicit `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct ProfilePatch {
    #[serde(default, deserialize_with = "present")]
    full_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    preferred_language: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    phone: Option<Option<String>>,
}

/// A field that may be left out but, unlike the phone, cannot be cleared.
fn not_null(field: &str, v: &Option<Option<String>>) -> Option<Result<String, Invalid>> {
    v.as_ref().map(|inner| {
        inner
            .clone()
            .ok_or_else(|| Invalid::new(field, "may be omitted, not null"))
    })
}

async fn update_me(
    who: Authenticated,
    state: web::Data<AppState>,
    body: Json<ProfilePatch>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Invalid::collect();
    let full_name = not_null("full_name", &body.full_name)
        .map(|n| v.check(n.and_then(|n| FullName::parse("full_name", &n))));
    let language = not_null("preferred_language", &body.preferred_language)
        .map(|l| v.check(l.and_then(|l| Language::parse(&l))));
    let phone = body
        .phone
        .as_ref()
        .map(|p| p.as_deref().map(|p| v.check(Phone::parse(p))));
    v.finish()?;
    let full_name = full_name.flatten();
    let phone = phone.map(Option::flatten);
    let user = users::update_profile(
        &state.pool,
        who.user_id,
        ProfileChange {
            full_name: full_name.as_ref(),
            language: language.flatten(),
            phone: phone.as_ref().map(Option::as_ref),
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
