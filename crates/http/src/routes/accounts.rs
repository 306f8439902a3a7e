//! Registration, sign-in, token rotation, password reset and the caller's own profile.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use mawid_domain::account::{
    Email, FullName, Language, NationalNo, NewAccount, PassportNo, Password, Phone, ProfileChange,
    Refusal, Role, ACCESS_TOKEN_TTL_SECONDS,
};
use mawid_domain::limit::LimitName;
use mawid_domain::Invalid;
use mawid_persistence::accounts::{self, LoginLimits, Secret, Session};
use mawid_persistence::users::UserRow;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::crypto::{new_secret, token_hash};
use crate::error::ApiError;
use crate::json::Json;
use crate::limit::ClientAddr;
use crate::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/register").post(register))
        .service(web::resource("/auth/verify-email").post(verify_email))
        .service(web::resource("/auth/verify-email/resend").post(resend_verification))
        .service(web::resource("/auth/login").post(login))
        .service(web::resource("/auth/refresh").post(refresh))
        .service(web::resource("/auth/logout").post(logout))
        .service(web::resource("/auth/password-reset").post(request_password_reset))
        .service(web::resource("/auth/password-reset/confirm").post(confirm_password_reset))
        .service(
            web::resource("/me")
                .get(me)
                .patch(update_me)
                .delete(crate::routes::personal::erase),
        );
}

#[derive(Serialize)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub preferred_language: Language,
    pub phone: Option<String>,
    pub role: Role,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub passport_number: Option<String>,
    pub national_number: Option<String>,
    /// False once an admin deactivated the account.
    pub active: bool,
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
            passport_number: u.passport_number,
            national_number: u.national_number,
            active: u.deactivated_at.is_none(),
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

/// An address the mailer can send to: lettre is stricter than [`Email`] (it checks the domain
/// and the quoting of the local part), and an account whose verification mail cannot be built
/// would never be verified.
fn deliverable(email: Email) -> Result<Email, Invalid> {
    match email.as_str().parse::<lettre::Address>() {
        Ok(_) => Ok(email),
        Err(_) => Err(Invalid::new(
            "email",
            "a valid email address such as name@example.org",
        )),
    }
}

impl RegisterRequest {
    fn into_domain(self) -> Result<(NewAccount, Password), Invalid> {
        let mut v = Invalid::collect();
        let email = v.check(Email::parse(&self.email).and_then(deliverable));
        let password = v.check(Password::parse(&self.password));
        let full_name = v.check(FullName::parse("full_name", &self.full_name));
        let language = v.check(Language::parse(&self.preferred_language));
        let phone = self.phone.as_deref().map(|p| v.check(Phone::parse(p)));
        v.finish()?;
        let (Some(email), Some(password), Some(full_name), Some(language)) =
            (email, password, full_name, language)
        else {
            unreachable!("finish() returned Ok, so every field parsed");
        };
        let account = NewAccount {
            email,
            full_name,
            language,
            phone: phone.flatten(),
            role: Role::Citizen,
        };
        Ok((account, password))
    }
}

/// `202 {status: "verification_sent"}` for a new and a known address alike. Counted before
/// the password is hashed, so a flood is refused before it reaches the hashing pool; a known
/// address is hashed too, so the answer takes as long.
async fn register(
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limit(LimitName::Register, client.as_str()).await?;
    let (account, password) = body.into_inner().into_domain()?;
    let hash = state.passwords.hash(&password).await?;
    let owner_mails = state.abuse.limits.rate(LimitName::VerifyMail);
    accounts::register(
        &state.pool,
        &account,
        &hash,
        &new_secret(),
        owner_mails,
        state.now(),
    )
    .await?;
    Ok(verification_sent())
}

fn verification_sent() -> HttpResponse {
    HttpResponse::Accepted().json(serde_json::json!({ "status": "verification_sent" }))
}

#[derive(Deserialize)]
struct EmailRequest {
    email: String,
}

/// Always `202 {status: "verification_sent"}`: the answer never tells whether an account
/// exists or is already verified.
async fn resend_verification(
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limit(LimitName::Verify, client.as_str()).await?;
    if let Ok(email) = Email::parse(&body.email) {
        let mails = state.abuse.limits.rate(LimitName::VerifyMail);
        accounts::resend_verification(&state.pool, &email, &new_secret(), mails, state.now())
            .await?;
    }
    Ok(verification_sent())
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

async fn verify_email(
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limit(LimitName::Verify, client.as_str()).await?;
    let hash = token_hash(body.token.trim());
    accounts::verify_email(&state.pool, &hash, state.now()).await?;
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

impl TokenPair {
    fn issue(
        state: &AppState,
        session: Session,
        refresh: Secret,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            access_token: state.jwt.issue(session.user_id, session.role, now)?,
            token_type: "Bearer",
            expires_in: ACCESS_TOKEN_TTL_SECONDS,
            refresh_token: refresh.token,
        })
    }
}

/// The password is verified between the two database steps, on the hashing pool, and only
/// after a failure has been reserved for it (so parallel guesses cannot outrun the lockout).
async fn login(
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    state.limit(LimitName::Login, client.as_str()).await?;
    // A malformed email cannot name an account: same answer as a wrong password.
    let email = Email::parse(&body.email).map_err(|_| Refusal::InvalidCredentials)?;
    let now = state.now();
    let limits = LoginLimits {
        per_address: state.abuse.limits.rate(LimitName::LoginFailures),
        per_account: state.abuse.limits.rate(LimitName::LoginAccount),
    };
    let attempt = accounts::begin_login(&state.pool, &email, client.as_str(), limits, now).await?;
    let hash = attempt.password_hash();
    let matches = match state.passwords.verify(&body.password, hash).await {
        Ok(matches) => matches,
        Err(e) => {
            accounts::abandon_login(&state.pool, attempt).await?;
            return Err(e);
        }
    };
    let refresh = new_secret();
    let session = accounts::finish_login(&state.pool, attempt, matches, &refresh.hash).await?;
    Ok(HttpResponse::Ok().json(TokenPair::issue(&state, session, refresh, now)?))
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = state.now();
    let presented = token_hash(body.refresh_token.trim());
    let next = new_secret();
    let session = accounts::refresh(&state.pool, &presented, &next.hash, now).await?;
    Ok(HttpResponse::Ok().json(TokenPair::issue(&state, session, next, now)?))
}

async fn logout(
    who: Authenticated,
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = token_hash(body.refresh_token.trim());
    accounts::logout(&state.pool, &hash, who.user_id, state.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn request_password_reset(
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<EmailRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::PasswordReset, client.as_str())
        .await?;
    // Always 202, so the answer never tells whether an account exists.
    if let Ok(email) = Email::parse(&body.email) {
        let mails = state.abuse.limits.rate(LimitName::ResetMail);
        accounts::request_password_reset(&state.pool, &email, &new_secret(), mails, state.now())
            .await?;
    }
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize)]
struct ResetConfirm {
    token: String,
    new_password: String,
}

async fn confirm_password_reset(
    client: ClientAddr,
    state: web::Data<AppState>,
    body: Json<ResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    state
        .limit(LimitName::PasswordReset, client.as_str())
        .await?;
    let password = Password::parse_as("new_password", &body.new_password)?;
    let hash = state.passwords.hash(&password).await?;
    let token = token_hash(body.token.trim());
    accounts::reset_password(&state.pool, &token, &hash, state.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(who: Authenticated, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let user = accounts::profile(&state.pool, who.user_id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
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
    #[serde(default, deserialize_with = "present")]
    passport_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    national_number: Option<Option<String>>,
}

/// A field that may be left out but, unlike the phone, cannot be cleared.
fn not_null(field: &str, v: &Option<Option<String>>) -> Option<Result<String, Invalid>> {
    v.as_ref().map(|inner| {
        inner
            .clone()
            .ok_or_else(|| Invalid::new(field, "may be omitted, not null"))
    })
}

impl ProfilePatch {
    fn into_domain(self) -> Result<ProfileChange, Invalid> {
        let mut v = Invalid::collect();
        let full_name = not_null("full_name", &self.full_name)
            .map(|n| v.check(n.and_then(|n| FullName::parse("full_name", &n))));
        let language = not_null("preferred_language", &self.preferred_language)
            .map(|l| v.check(l.and_then(|l| Language::parse(&l))));
        let phone = self
            .phone
            .as_ref()
            .map(|p| p.as_deref().map(|p| v.check(Phone::parse(p))));
        let passport_number = self.passport_number.as_ref().map(|p| {
            p.as_deref()
                .map(|p| v.check(PassportNo::parse_as("passport_number", p)))
        });
        let national_number = self.national_number.as_ref().map(|n| {
            n.as_deref()
                .map(|n| v.check(NationalNo::parse_as("national_number", n)))
        });
        v.finish()?;
        Ok(ProfileChange {
            full_name: full_name.flatten(),
            language: language.flatten(),
            phone: phone.map(Option::flatten),
            passport_number: passport_number.map(Option::flatten),
            national_number: national_number.map(Option::flatten),
        })
    }
}

async fn update_me(
    who: Authenticated,
    state: web::Data<AppState>,
    body: Json<ProfilePatch>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_inner().into_domain()?;
    let user = accounts::update_profile(&state.pool, who.user_id, &change).await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}
