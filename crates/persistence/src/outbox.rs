//! Outgoing email rows: written in the caller's transaction, claimed by the notify worker.

use chrono::{DateTime, Utc};
use mawid_domain::account::Language;
use mawid_domain::mail::{Notification, TokenMail};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::StoreError;

pub struct NewNotification<'a> {
    pub user_id: Option<Uuid>,
    pub recipient: &'a str,
    pub language: Language,
    /// The mail and its payload; the row's `kind` is the payload's kind.
    pub payload: Notification,
    /// When it may be sent: now for most mail, later for reminders. From the app's clock, so
    /// tests that move time see the same schedule as the worker.
    pub due_at: DateTime<Utc>,
    /// For mail that must go out at most once per fact (e.g. `reminder:<appointment>:<start>`):
    /// a second enqueue with the same key adds no row.
    pub dedupe_key: Option<String>,
}

/// Queues a notification in the caller's transaction. Returns the row's id, or `None` when a
/// row with the same `dedupe_key` is already queued or sent (nothing is added then). A
/// `cancelled` row with that key (a reminder whose appointment moved away and then back to the
/// same slot) is revived with the new payload and due time.
#[tracing::instrument(skip_all)]
pub async fn enqueue(
    ex: impl PgExecutor<'_>,
    n: NewNotification<'_>,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO notifications (id, user_id, recipient, language, kind, payload, next_attempt_at, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (dedupe_key) DO UPDATE SET
             status = 'pending', payload = EXCLUDED.payload, recipient = EXCLUDED.recipient,
             language = EXCLUDED.language, next_attempt_at = EXCLUDED.next_attempt_at,
             attempts = 0, locked_until = NULL, last_error = NULL
         WHERE notifications.status = 'cancelled'
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(n.user_id)
    .bind(n.recipient)
    .bind(n.language.code())
    .bind(n.payload.kind().code())
    .bind(Json(&n.payload))
    .bind(n.due_at)
    .bind(n.dedupe_key)
    .fetch_optional(ex)
    .await?)
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
            payload = payload - $3::text
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(at)
    .bind(TokenMail::TOKEN_FIELD)
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
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// A row as an admin sees it: everything but the payload, which may hold a secret token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub recipient: String,
    pub language: String,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The appointment reference or tracking number the mail is about, when it has one.
    pub reference: Option<String>,
}

const LISTED: &str =
    "id, user_id, recipient, language, kind, status, attempts, next_attempt_at, last_error,
    created_at, sent_at, COALESCE(payload->>'reference', payload->>'tracking_number') AS reference";

/// A page of rows, newest first (id breaks ties so pages do not overlap), and the total count.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Listed>, i64), StoreError> {
    let rows = sqlx::query_as::<_, Listed>(&format!(
        "SELECT {LISTED} FROM notifications
         WHERE ($1::text IS NULL OR status = $1)
         ORDER BY created_at DESC, id DESC
         LIMIT $2 OFFSET $3"
    ))
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM notifications WHERE ($1::text IS NULL OR status = $1)",
    )
    .bind(status)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// Puts a `failed` row back in the queue, due at `now`, with a fresh set of attempts.
/// `Conflict("not_failed")` when the row is in any other status.
#[tracing::instrument(skip_all)]
pub async fn retry(
    ex: &mut sqlx::PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Listed, StoreError> {
    let row = sqlx::query_as::<_, Listed>(&format!(
        "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $2,
            locked_until = NULL
         WHERE id = $1 AND status = 'failed'
         RETURNING {LISTED}"
    ))
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *ex)
    .await?;
    if let Some(row) = row {
        return Ok(row);
    }
    let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM notifications WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *ex)
        .await?;
    Err(match exists {
        Some(_) => StoreError::Conflict(mawid_domain::Code::NotFailed),
        None => StoreError::NotFound,
    })
}

/// Hands back rows that were claimed but not attempted (the worker is stopping): they become
/// due for any worker at once, and the attempt counted at claim time is taken back.
#[tracing::instrument(skip_all)]
pub async fn release(pool: &PgPool, ids: &[Uuid]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE notifications SET locked_until = NULL, attempts = GREATEST(attempts - 1, 0)
         WHERE id = ANY($1) AND status = 'pending'",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}
