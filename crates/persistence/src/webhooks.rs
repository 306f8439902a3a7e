//! Webhook endpoints and their deliveries: an outbox of its own, written in the transaction of
//! the event it reports, claimed by workers with a lease and `FOR UPDATE SKIP LOCKED`.

use chrono::{DateTime, SecondsFormat, Utc};
use mawid_domain::document::DocumentStatus;
use mawid_domain::webhook::{self, Event, Registration};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::appointments::AppointmentRow;
use crate::audit::{self, Entry};
use crate::document_requests::DocumentRequestRow;
use crate::{outbox, StoreError};

#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
pub async fn create(
    pool: &PgPool,
    admin_id: Uuid,
    r: &Registration,
    now: DateTime<Utc>,
) -> Result<WebhookRow, StoreError> {
    let mut tx = pool.begin().await?;
    let events: Vec<String> = r.events.iter().map(|e| e.code().to_owned()).collect();
    let row = sqlx::query_as!(
        WebhookRow,
        "INSERT INTO webhooks (id, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, url, events, created_at",
        Uuid::new_v4(),
        r.url.as_str(),
        r.secret.as_str(),
        &events,
        now,
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin_id,
            action: "webhook.create",
            target_type: "webhook",
            target_id: row.id.to_string(),
            details: json!({ "url": row.url, "events": row.events }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool) -> Result<Vec<WebhookRow>, StoreError> {
    Ok(sqlx::query_as!(
        WebhookRow,
        "SELECT id, url, events, created_at FROM webhooks ORDER BY created_at, id"
    )
    .fetch_all(pool)
    .await?)
}

/// Removes the endpoint and its deliveries; nothing more is sent to it.
#[tracing::instrument(skip_all)]
pub async fn delete(pool: &PgPool, admin_id: Uuid, id: Uuid) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let url = sqlx::query_scalar!("DELETE FROM webhooks WHERE id = $1 RETURNING url", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin_id,
            action: "webhook.delete",
            target_type: "webhook",
            target_id: id.to_string(),
            details: json!({ "url": url }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What an appointment event says: ids, the reference, the status and times, never the
/// applicant's name or passport number.
pub fn appointment_data(a: &AppointmentRow, previous_start: Option<DateTime<Utc>>) -> Value {
    let mut data = json!({
        "appointment_id": a.id,
        "reference": a.reference,
        "office_id": a.office_id,
        "service_id": a.service_id,
        "status": a.status.code(),
        "start": instant(a.slot_start),
        "end": instant(a.slot_end),
    });
    if let Some(p) = previous_start {
        data["previous_start"] = json!(instant(p));
    }
    data
}

/// What a document request status change says: ids, the tracking number and both statuses.
pub fn document_data(r: &DocumentRequestRow, from: DocumentStatus) -> Value {
    json!({
        "document_request_id": r.id,
        "tracking_number": r.tracking_number,
        "office_id": r.office_id,
        "service_id": r.service_id,
        "appointment_id": r.appointment_id,
        "from": from.code(),
        "to": r.status.code(),
        "changed_at": instant(r.status_changed_at),
    })
}

/// An event for every endpoint subscribed to it, with the payload they all get.
pub struct Announcement {
    pub(crate) event: Event,
    pub(crate) payload: Value,
    pub(crate) at: DateTime<Utc>,
}

impl Announcement {
    pub fn new(event: Event, data: Value, at: DateTime<Utc>) -> Self {
        let payload = json!({ "type": event.code(), "timestamp": instant(at), "data": data });
        Self { event, payload, at }
    }
}

/// Queues `event` for every endpoint subscribed to it, inside the caller's transaction: the
/// delivery exists exactly when the change does. An event that also mails someone is queued
/// with its mail in one statement instead (`outbox::enqueue_all`).
#[tracing::instrument(skip_all)]
pub async fn enqueue(
    conn: &mut PgConnection,
    event: Event,
    data: Value,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    announce(conn, &Announcement::new(event, data, now)).await
}

/// Queues an announcement already built (its event may also have mailed no one).
pub async fn announce(
    conn: &mut PgConnection,
    announcement: &Announcement,
) -> Result<(), StoreError> {
    outbox::enqueue_all(conn, Vec::new(), Some(announcement))
        .await
        .map(|_| ())
}

/// A delivery a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    pub payload: Value,
    pub attempts: i32,
}

/// Takes up to `limit` due deliveries for `owner` until `lease_until`; rows another worker
/// holds are skipped, not waited for.
#[tracing::instrument(skip_all)]
pub async fn claim(
    pool: &PgPool,
    owner: Uuid,
    limit: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<Claimed>, StoreError> {
    Ok(sqlx::query_as!(
        Claimed,
        "WITH due AS (
             SELECT id FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $2
               AND (lease_until IS NULL OR lease_until < $2)
             ORDER BY next_attempt_at, id
             LIMIT $3
             FOR UPDATE SKIP LOCKED
         )
         UPDATE webhook_deliveries d SET lease_owner = $1, lease_until = $4
         FROM due, webhooks w
         WHERE d.id = due.id AND w.id = d.webhook_id
         RETURNING d.id, w.url, w.secret, d.payload, d.attempts",
        owner,
        now,
        limit,
        lease_until,
    )
    .fetch_all(pool)
    .await?)
}

/// What one attempt got back.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn delivered(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Records an attempt of a delivery `owner` holds and decides what follows: delivered, tried
/// again after the backoff, or failed once the schedule is spent. A lease lost meanwhile
/// (another worker took the row) records nothing.
#[tracing::instrument(skip_all)]
pub async fn record_attempt(
    pool: &PgPool,
    owner: Uuid,
    delivery_id: Uuid,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let Some(attempts) = sqlx::query_scalar!(
        "SELECT attempts FROM webhook_deliveries WHERE id = $1 AND lease_owner = $2 FOR UPDATE",
        delivery_id,
        owner,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(());
    };
    let made = u32::try_from(attempts).unwrap_or(0).saturating_add(1);
    let (status, next) = if outcome.delivered() {
        ("delivered", now)
    } else {
        match webhook::retry_after(made).and_then(|d| chrono::Duration::from_std(d).ok()) {
            Some(wait) => ("pending", now.checked_add_signed(wait).unwrap_or(now)),
            None => ("failed", now),
        }
    };
    sqlx::query!(
        "INSERT INTO webhook_attempts (delivery_id, at, status_code, error) VALUES ($1, $2, $3, $4)",
        delivery_id,
        now,
        outcome.status_code,
        outcome.error.as_deref(),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE webhook_deliveries
         SET attempts = attempts + 1, status = $2, next_attempt_at = $3,
             delivered_at = CASE WHEN $2::text = 'delivered' THEN $4::timestamptz END,
             lease_owner = NULL, lease_until = NULL
         WHERE id = $1",
        delivery_id,
        status,
        next,
        now,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub event: String,
    pub payload: Value,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery: DeliveryRow,
    pub attempts: Vec<AttemptRow>,
}

/// The endpoint's deliveries, newest first, each with its attempts oldest first.
#[tracing::instrument(skip_all)]
pub async fn deliveries(pool: &PgPool, webhook_id: Uuid) -> Result<Vec<Delivery>, StoreError> {
    let mut conn = pool.acquire().await?;
    let known = sqlx::query_scalar!("SELECT id FROM webhooks WHERE id = $1", webhook_id)
        .fetch_optional(&mut *conn)
        .await?;
    if known.is_none() {
        return Err(StoreError::NotFound);
    }
    let rows = sqlx::query_as!(
        DeliveryRow,
        "SELECT id, event, payload, status, attempts, next_attempt_at, created_at, delivered_at
         FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY created_at DESC, id LIMIT 100",
        webhook_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts = sqlx::query!(
        "SELECT delivery_id, at, status_code, error FROM webhook_attempts
         WHERE delivery_id = ANY ($1) ORDER BY id",
        &ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|delivery| Delivery {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == delivery.id)
                .map(|a| AttemptRow {
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error.clone(),
                })
                .collect(),
            delivery,
        })
        .collect())
}

/// Sends a delivery again, whatever became of it, with the same `webhook-id`: due now, with a
/// fresh retry schedule.
#[tracing::instrument(skip_all)]
pub async fn replay(
    pool: &PgPool,
    admin_id: Uuid,
    webhook_id: Uuid,
    delivery_id: Uuid,
    now: DateTime<Utc>,
) -> Result<DeliveryRow, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query_as!(
        DeliveryRow,
        "UPDATE webhook_deliveries
         SET status = 'pending', attempts = 0, next_attempt_at = $3, delivered_at = NULL,
             lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND webhook_id = $2
         RETURNING id, event, payload, status, attempts, next_attempt_at, created_at, delivered_at",
        delivery_id,
        webhook_id,
        now,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: admin_id,
            action: "webhook.replay",
            target_type: "webhook_delivery",
            target_id: delivery_id.to_string(),
            details: json!({ "webhook_id": webhook_id }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}
