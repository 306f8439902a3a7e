//! Outgoing email rows: written in the caller's transaction, claimed by the notify worker.

use chrono::{DateTime, Utc};
use mawid_domain::account::Language;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::StoreError;

pub struct NewNotification<'a> {
    pub user_id: Option<Uuid>,
    pub recipient: &'a str,
    pub language: Language,
    pub kind: &'a str,
    pub payload: serde_json::Value,
    /// When it may be sent: now for most mail, later for reminders. From the app's clock, so
    /// tests that move time see the same schedule as the worker.
    pub due_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
pub async fn enqueue(ex: impl PgExecutor<'_>, n: NewNotification<'_>) -> Result<Uuid, StoreError> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO notifications (id, user_id, recipient, language, kind, payload, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
        .bind(id)
        .bind(n.user_id)
        .bind(n.recipient)
        .bind(n.language.code())
        .bind(n.kind)
        .bind(n.payload)
        .bind(n.due_at)
        .execute(ex)
        .await?;
    Ok(id)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub recipient: String,
    pub language: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Claims up to `limit` due rows for `lease`: `SKIP LOCKED` keeps concurrent workers off each
/// other's rows, and the lease lets another worker take over from one that died mid-send.
#[tracing::instrument(skip_all)]
pub async fn claim_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    Ok(sqlx::query_as::<_, Claimed>(
        "WITH due AS (
            SELECT id FROM notifications
            WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
            ORDER BY next_attempt_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
         UPDATE notifications n SET locked_until = $2, attempts = n.attempts + 1
         FROM due WHERE n.id = due.id
         RETURNING n.id, n.recipient, n.language, n.kind, n.payload, n.attempts",
    )
    .bind(now)
    .bind(now + lease)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn mark_sent(pool: &PgPool, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
    // The single-use secret has done its job once delivered; the row need not keep it.
    sqlx::query(
        "UPDATE notifications SET status = 'sent', sent_at = $2, locked_until = NULL, last_error = NULL,
            payload = payload - 'token'
         WHERE id = $1",
    )
        .bind(id)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Schedules another attempt at `retry_at`, or gives up when `retry_at` is `None`.
#[tracing::instrument(skip_all)]
pub async fn mark_failed_attempt(
    pool: &PgPool,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE notifications SET
            status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = COALESCE($3, next_attempt_at),
            locked_until = NULL,
            last_error = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .execute(pool)
    .await?;
    Ok(())
}
