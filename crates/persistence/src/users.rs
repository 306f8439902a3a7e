//! User accounts: citizens and staff.

use chrono::{DateTime, Utc};
use mawid_domain::account::{Email, FullName, Language, Phone, Role};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::{map_err, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub full_name: String,
    pub preferred_language: String,
    pub phone: Option<String>,
    pub role: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Citizen)
    }

    pub fn language(&self) -> Language {
        Language::parse(&self.preferred_language).unwrap_or(Language::En)
    }
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub full_name: &'a FullName,
    pub language: Language,
    pub phone: Option<&'a Phone>,
    pub role: Role,
    pub verified_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, email, password_hash, full_name, preferred_language, phone, role, email_verified_at, created_at";

#[tracing::instrument(skip_all)]
pub async fn insert(ex: impl PgExecutor<'_>, u: NewUser<'_>) -> Result<UserRow, StoreError> {
    sqlx::query_as::<_, UserRow>(&format!(
        "INSERT INTO users (id, email, password_hash, full_name, preferred_language, phone, role, email_verified_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(u.email.as_str())
    .bind(u.password_hash)
    .bind(u.full_name.as_str())
    .bind(u.language.code())
    .bind(u.phone.map(Phone::as_str))
    .bind(u.role.code())
    .bind(u.verified_at)
    .fetch_one(ex)
    .await
    .map_err(map_err)
}

#[tracing::instrument(skip_all)]
pub async fn by_email(
    ex: impl PgExecutor<'_>,
    email: &Email,
) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users WHERE lower(email) = $1"
    ))
    .bind(email.as_str())
    .fetch_optional(ex)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn by_id(ex: impl PgExecutor<'_>, id: Uuid) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, UserRow>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(ex)
            .await?,
    )
}

pub struct ProfileChange<'a> {
    pub full_name: Option<&'a FullName>,
    pub language: Option<Language>,
    /// `Some(None)` clears the phone.
    pub phone: Option<Option<&'a Phone>>,
}

#[tracing::instrument(skip_all)]
pub async fn update_profile(
    pool: &PgPool,
    id: Uuid,
    c: ProfileChange<'_>,
) -> Result<UserRow, StoreError> {
    sqlx::query_as::<_, UserRow>(&format!(
        "UPDATE users SET
            full_name = COALESCE($2, full_name),
            preferred_language = COALESCE($3, preferred_language),
            phone = CASE WHEN $4 THEN $5 ELSE phone END,
            updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(c.full_name.map(FullName::as_str))
    .bind(c.language.map(Language::code))
    .bind(c.phone.is_some())
    .bind(c.phone.flatten().map(Phone::as_str))
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all)]
pub async fn set_password(ex: impl PgExecutor<'_>, id: Uuid, hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(ex)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn mark_verified(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(ex)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn list_staff(pool: &PgPool) -> Result<Vec<UserRow>, StoreError> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {COLUMNS} FROM users WHERE role IN ('officer', 'admin') ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn admin_exists(pool: &PgPool) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')")
            .fetch_one(pool)
            .await?,
    )
}
