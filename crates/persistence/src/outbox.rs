//! Outgoing email rows: written in the caller's transaction, claimed by the notify worker, and
//! listed and retried by admins.

use chrono::{DateTime, Utc};
use mawid_domain::account::Language;
use mawid_domain::mail::{Notification, TokenMail};
use mawid_domain::notification::NotificationStatus;
use mawid_domain::page::Page;
use serde_json::json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::webhooks::Announcement;
use crate::{corrupt, StoreError};

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
    Ok(enqueue_all(ex, vec![n], None).await?.pop())
}

/// [`enqueue`] for several notifications in one statement (a booking's confirmation and its
/// reminder), with the webhook deliveries of the event they tell of, if any: what a booking
/// announces costs one round trip. Returns the ids of the notification rows added or revived.
#[tracing::instrument(skip_all)]
pub async fn enqueue_all(
    ex: impl PgExecutor<'_>,
    rows: Vec<NewNotification<'_>>,
    announcement: Option<&Announcement>,
) -> Result<Vec<Uuid>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::new_v4()).collect();
    let user_ids: Vec<Option<Uuid>> = rows.iter().map(|n| n.user_id).collect();
    let recipients: Vec<&str> = rows.iter().map(|n| n.recipient).collect();
    let languages: Vec<&str> = rows.iter().map(|n| n.language.code()).collect();
    let kinds: Vec<&str> = rows.iter().map(|n| n.payload.kind().code()).collect();
    let payloads = rows
        .iter()
        .map(|n| serde_json::to_value(&n.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Db(sqlx::Error::Encode(e.into())))?;
    let due: Vec<DateTime<Utc>> = rows.iter().map(|n| n.due_at).collect();
    let keys: Vec<Option<String>> = rows.into_iter().map(|n| n.dedupe_key).collect();
    // A data-modifying WITH runs whether or not the query reads it.
    Ok(sqlx::query_scalar!(
        r#"WITH mail AS (
             INSERT INTO notifications (id, user_id, recipient, language, kind, payload,
                next_attempt_at, dedupe_key)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                                  $6::jsonb[], $7::timestamptz[], $8::text[])
             ON CONFLICT (dedupe_key) DO UPDATE SET
                 status = 'pending', payload = EXCLUDED.payload, recipient = EXCLUDED.recipient,
                 language = EXCLUDED.language, next_attempt_at = EXCLUDED.next_attempt_at,
                 attempts = 0, locked_until = NULL, last_error = NULL, lease_owner = NULL,
                 first_failed_at = NULL
             WHERE notifications.status = 'cancelled'
             RETURNING id
           ), hooks AS (
             INSERT INTO webhook_deliveries (id, webhook_id, event, payload, next_attempt_at,
                created_at)
             SELECT gen_random_uuid(), w.id, $9, $10, $11, $11 FROM webhooks w
             WHERE $9::text = ANY (w.events)
           )
           SELECT id AS "id!" FROM mail"#,
        &ids,
        &user_ids as &[Option<Uuid>],
        &recipients as &[&str],
        &languages as &[&str],
        &kinds as &[&str],
        &payloads,
        &due,
        &keys as &[Option<String>],
        announcement.map(|a| a.event.code()),
        announcement.map(|a| &a.payload),
        announcement.map(|a| a.at),
    )
    .fetch_all(ex)
    .await?)
}

#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub recipient: String,
    pub language: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    /// This claim's owner: the marks below touch the row only while it is still this claim's.
    pub lease_owner: Uuid,
    /// When the current run of failed attempts began; `None` before any failure.
    pub first_failed_at: Option<DateTime<Utc>>,
}

/// Claims up to `limit` due rows for `lease`: `SKIP LOCKED` keeps concurrent workers off each
/// other's rows, and the lease lets another worker take over from one that died mid-send. Every
/// call is a new owner.
#[tracing::instrument(skip_all)]
pub async fn claim_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    Ok(sqlx::query_as!(
        Claimed,
        r#"WITH due AS (
            SELECT id FROM notifications
            WHERE status = 'pending' AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
            ORDER BY next_attempt_at
            LIMIT $3
            FOR UPDATE SKIP LOCKED)
         UPDATE notifications n SET locked_until = $2, attempts = n.attempts + 1, lease_owner = $4
         FROM due WHERE n.id = due.id
         RETURNING n.id, n.recipient, n.language, n.kind, n.payload, n.attempts,
                   n.lease_owner AS "lease_owner!", n.first_failed_at"#,
        now,
        now + lease,
        limit,
        Uuid::new_v4(),
    )
    .fetch_all(pool)
    .await?)
}

/// Records the delivery of a row `owner` claimed. `false` when the row is no longer that
/// claim's (its lease ran out and another worker took it, or it was already marked).
#[tracing::instrument(skip_all)]
pub async fn mark_sent(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // The single-use secret has done its job once delivered; the row need not keep it.
    let done = sqlx::query!(
        "UPDATE notifications SET status = 'sent', sent_at = $2, locked_until = NULL, last_error = NULL,
            payload = payload - $3::text, lease_owner = NULL
         WHERE id = $1 AND status = 'pending' AND lease_owner = $4",
        id,
        at,
        TokenMail::TOKEN_FIELD,
        owner,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// After a failed attempt of `owner`'s claim at `now`: another attempt at `retry_at`, or
/// `failed` when `retry_at` is `None`. `false` when the row is no longer that claim's.
#[tracing::instrument(skip_all)]
pub async fn mark_failed_attempt(
    pool: &PgPool,
    id: Uuid,
    owner: Uuid,
    error: &str,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE notifications SET
            status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = COALESCE($3, next_attempt_at),
            locked_until = NULL,
            lease_owner = NULL,
            first_failed_at = COALESCE(first_failed_at, $5),
            last_error = $2
         WHERE id = $1 AND status = 'pending' AND lease_owner = $4",
        id,
        error,
        retry_at,
        owner,
        now,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A row as an admin sees it: everything but the payload, which may hold a secret token.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub recipient: String,
    pub language: Language,
    pub kind: String,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The appointment reference or tracking number the mail is about, when it has one.
    pub reference: Option<String>,
}

/// A [`Listed`] as [`listed!`] reads it, before its text columns are decoded.
struct ListedRecord {
    id: Uuid,
    user_id: Option<Uuid>,
    recipient: String,
    language: String,
    kind: String,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    reference: Option<String>,
}

impl TryFrom<ListedRecord> for Listed {
    type Error = sqlx::Error;

    fn try_from(r: ListedRecord) -> Result<Self, sqlx::Error> {
        Ok(Self {
            language: Language::parse(&r.language)
                .map_err(|_| corrupt("notifications.language", &r.language))?,
            status: NotificationStatus::parse("status", &r.status)
                .map_err(|_| corrupt("notifications.status", &r.status))?,
            id: r.id,
            user_id: r.user_id,
            recipient: r.recipient,
            kind: r.kind,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
            reference: r.reference,
        })
    }
}

/// The admin's columns of a row, written once: `$head` and `$tail` are the statement around
/// them (string literals, concatenated by the query macro).
macro_rules! listed {
    ($head:literal, $tail:literal ; $($arg:expr),* $(,)?) => {
        sqlx::query_as!(
            ListedRecord,
            $head
                + " id, user_id, recipient, language, kind, status, attempts, next_attempt_at,
                    last_error, created_at, sent_at,
                    COALESCE(payload->>'reference', payload->>'tracking_number') AS reference "
                + $tail,
            $($arg),*
        )
    };
}

/// A page of rows, newest first (id breaks ties so pages do not overlap), and the total count.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    status: Option<NotificationStatus>,
    page: &Page,
) -> Result<(Vec<Listed>, i64), StoreError> {
    let status = status.map(NotificationStatus::code);
    let mut conn = pool.acquire().await?;
    let rows = page_listed(&mut conn, status, page).await?;
    let total = count_listed(&mut conn, status).await?;
    Ok((rows, total))
}

#[tracing::instrument(skip_all)]
async fn page_listed(
    conn: &mut PgConnection,
    status: Option<&str>,
    page: &Page,
) -> Result<Vec<Listed>, sqlx::Error> {
    listed!(
        "SELECT",
        "FROM notifications
         WHERE ($1::text IS NULL OR status = $1)
         ORDER BY created_at DESC, id DESC
         LIMIT $2 OFFSET $3";
        status,
        page.limit(),
        page.offset(),
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(Listed::try_from)
    .collect()
}

#[tracing::instrument(skip_all)]
async fn count_listed(conn: &mut PgConnection, status: Option<&str>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM notifications WHERE ($1::text IS NULL OR status = $1)"#,
        status
    )
    .fetch_one(conn)
    .await
}

/// An admin sends a `failed` row again: back in the queue, due at `now`, with a fresh set of
/// attempts, and audited. `Conflict(NotFailed)` when the row is in any other status.
#[tracing::instrument(skip_all)]
pub async fn retry(
    pool: &PgPool,
    id: Uuid,
    admin_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Listed, StoreError> {
    let mut tx = pool.begin().await?;
    let status = lock_status(&mut tx, id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if !status.can_retry() {
        return Err(StoreError::Conflict(mawid_domain::Code::NotFailed));
    }
    let row = requeue(&mut tx, id, now).await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin_id,
            action: "notification.retry",
            target_type: "notification",
            target_id: id.to_string(),
            details: json!({ "kind": row.kind, "last_error": row.last_error }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// The row's status, row-locked so the worker and a second retry wait for this one.
#[tracing::instrument(skip_all)]
async fn lock_status(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<NotificationStatus>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT status FROM notifications WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(conn)
    .await?
    .map(|s| {
        NotificationStatus::parse("status", &s).map_err(|_| corrupt("notifications.status", &s))
    })
    .transpose()
}

/// Due at `now` with a fresh set of attempts.
#[tracing::instrument(skip_all)]
async fn requeue(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Listed, sqlx::Error> {
    listed!(
        "UPDATE notifications SET status = $2, attempts = 0, next_attempt_at = $3,
            locked_until = NULL, lease_owner = NULL, first_failed_at = NULL
         WHERE id = $1
         RETURNING",
        "";
        id,
        NotificationStatus::Pending.code(),
        now,
    )
    .fetch_one(conn)
    .await?
    .try_into()
}

/// Hands back rows that were claimed but not attempted (the worker is stopping): they become
/// due for any worker at once, and the attempt counted at claim time is taken back. Rows no
/// longer `owner`'s are left alone.
#[tracing::instrument(skip_all)]
pub async fn release(pool: &PgPool, ids: &[Uuid], owner: Uuid) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE notifications SET locked_until = NULL, lease_owner = NULL,
            attempts = GREATEST(attempts - 1, 0)
         WHERE id = ANY($1) AND status = 'pending' AND lease_owner = $2",
        ids,
        owner,
    )
    .execute(pool)
    .await?;
    Ok(())
}
