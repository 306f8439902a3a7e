//! Failed-login counting, kept in PostgreSQL so a lockout holds across server processes.

use chrono::{DateTime, Utc};
use mawid_domain::account::Email;
use sqlx::PgPool;

use crate::StoreError;

/// Failures recorded for `email` since `since`.
#[tracing::instrument(skip_all)]
pub async fn failures_since(
    pool: &PgPool,
    email: &Email,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM login_failures WHERE email = $1 AND failed_at > $2",
    )
    .bind(email.as_str())
    .bind(since)
    .fetch_one(pool)
    .await?)
}

/// The `n`-th most recent failure: once the window moves past it, fewer than `n` remain.
#[tracing::instrument(skip_all)]
pub async fn nth_latest_failure(
    pool: &PgPool,
    email: &Email,
    n: i64,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar::<_, DateTime<Utc>>(
        "SELECT failed_at FROM login_failures WHERE email = $1 ORDER BY failed_at DESC OFFSET $2 LIMIT 1",
    )
    .bind(email.as_str())
    .bind(n - 1)
    .fetch_optional(pool)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn record_failure(
    pool: &PgPool,
    email: &Email,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO login_failures (email, failed_at) VALUES ($1, $2)")
        .bind(email.as_str())
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn clear_failures(pool: &PgPool, email: &Email) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email.as_str())
        .execute(pool)
        .await?;
    Ok(())
}
