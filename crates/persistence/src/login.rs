//! Queries on failed sign-ins, kept in PostgreSQL so a lockout holds across server processes.

use chrono::{DateTime, Utc};
use mawid_domain::account::{Email, MAX_LOGIN_FAILURES};
use sqlx::PgExecutor;

use crate::StoreError;

/// The newest failures recorded for `email` after `since`: no more than the lockout needs.
#[tracing::instrument(skip_all)]
pub(crate) async fn recent_failures(
    ex: impl PgExecutor<'_>,
    email: &Email,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT failed_at FROM login_failures WHERE email = $1 AND failed_at > $2
         ORDER BY failed_at DESC LIMIT $3",
        email.as_str(),
        since,
        MAX_LOGIN_FAILURES,
    )
    .fetch_all(ex)
    .await?)
}

#[tracing::instrument(skip_all)]
pub(crate) async fn record_failure(
    ex: impl PgExecutor<'_>,
    email: &Email,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO login_failures (email, failed_at) VALUES ($1, $2)",
        email.as_str(),
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// Forgets the failures of `email`, the address as stored (normalised by [`Email`]).
#[tracing::instrument(skip_all)]
pub(crate) async fn clear_failures(ex: impl PgExecutor<'_>, email: &str) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM login_failures WHERE email = $1", email)
        .execute(ex)
        .await?;
    Ok(())
}
