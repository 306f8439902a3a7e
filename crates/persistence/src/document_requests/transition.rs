//! Moving a request along its machine: the citizen's cancellation and staff's transitions, each
//! with its history entry; staff's also with the audit row and the citizen's email.

use chrono::{DateTime, Utc};
use mawid_domain::account::Language;
use mawid_domain::document::{Actor, DocumentStatus, Move, Refusal};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{by_id, decode_status, detail, Detail, DocumentError, DocumentRequestRow, Reader};
use crate::audit::{self, Entry};
use crate::outbox::{self, NewNotification};
use crate::webhooks;
use crate::{corrupt, map_err, StoreError};
use mawid_domain::catalogue::Localized;
use mawid_domain::mail::{self, Named, Notification};
use mawid_domain::webhook::Event as Hook;

/// One history entry, as written.
pub(super) struct Event<'a> {
    pub request_id: Uuid,
    pub actor_id: Uuid,
    pub actor: Actor,
    pub from: Option<DocumentStatus>,
    pub to: DocumentStatus,
    pub public_note: Option<&'a str>,
    pub internal_note: Option<&'a str>,
    pub at: DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn record_event(conn: &mut PgConnection, e: Event<'_>) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO document_request_events (request_id, actor_id, actor_role, from_status,
            to_status, public_note, internal_note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        e.request_id,
        e.actor_id,
        e.actor.code(),
        e.from.map(DocumentStatus::code),
        e.to.code(),
        e.public_note,
        e.internal_note,
        e.at,
    )
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// The request's status, row-locked for the transition; `None` if there is no such request.
#[tracing::instrument(skip_all)]
async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<DocumentStatus>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT status FROM document_requests WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(conn)
    .await?
    .map(|s| decode_status("document_requests.status", &s))
    .transpose()
}

/// Like [`lock`], scoped to the citizen's own requests: anyone else's is `None`.
#[tracing::instrument(skip_all)]
async fn lock_own(
    conn: &mut PgConnection,
    id: Uuid,
    citizen_id: Uuid,
) -> Result<Option<DocumentStatus>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT status FROM document_requests WHERE id = $1 AND citizen_id = $2 FOR UPDATE",
        id,
        citizen_id,
    )
    .fetch_optional(conn)
    .await?
    .map(|s| decode_status("document_requests.status", &s))
    .transpose()
}

/// Writes a decided move: the new status and its history entry. Returns the request as it now is.
async fn apply(conn: &mut PgConnection, e: Event<'_>) -> Result<DocumentRequestRow, DocumentError> {
    set_status(&mut *conn, e.request_id, e.to, e.at).await?;
    let id = e.request_id;
    record_event(&mut *conn, e).await?;
    Ok(by_id(conn, id).await?.ok_or(StoreError::NotFound)?)
}

#[tracing::instrument(skip_all)]
async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    to: DocumentStatus,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE document_requests SET status = $2, status_changed_at = $3 WHERE id = $1",
        id,
        to.code(),
        at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The citizen withdraws their own request, if the machine still allows it; anyone else's is
/// `NotFound`. Returns the request with its public history.
#[tracing::instrument(skip_all)]
pub async fn cancel(
    pool: &PgPool,
    request_id: Uuid,
    citizen_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Detail, DocumentError> {
    let mut tx = pool.begin().await?;
    let row = cancel_in(&mut tx, request_id, citizen_id, now).await?;
    let detail = detail(&mut tx, row, Reader::Citizen).await?;
    tx.commit().await?;
    Ok(detail)
}

/// [`cancel`] in the caller's transaction: erasing an account withdraws its `submitted`
/// requests the same way.
pub(crate) async fn cancel_in(
    tx: &mut PgConnection,
    request_id: Uuid,
    citizen_id: Uuid,
    now: DateTime<Utc>,
) -> Result<DocumentRequestRow, DocumentError> {
    let from = lock_own(&mut *tx, request_id, citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let to = from
        .transition(DocumentStatus::Cancelled, Actor::Citizen)
        .map_err(Refusal::from)?;
    let row = apply(
        &mut *tx,
        Event {
            request_id,
            actor_id: citizen_id,
            actor: Actor::Citizen,
            from: Some(from),
            to,
            public_note: None,
            internal_note: None,
            at: now,
        },
    )
    .await?;
    let data = webhooks::document_data(&row, from);
    webhooks::enqueue(&mut *tx, Hook::DocumentRequestStatusChanged, data, now).await?;
    Ok(row)
}

pub struct StaffTransition {
    pub request_id: Uuid,
    pub staff_id: Uuid,
    pub change: Move,
    pub now: DateTime<Utc>,
}

/// Moves a request where staff asked, if the machine allows it, in one transaction with its
/// history entry, the audit row and the email to the citizen. Returns the request with its full
/// history.
#[tracing::instrument(skip_all)]
pub async fn transition(pool: &PgPool, t: StaffTransition) -> Result<Detail, DocumentError> {
    let mut tx = pool.begin().await?;
    let from = lock(&mut tx, t.request_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let to = from
        .transition(t.change.to, Actor::Staff)
        .map_err(Refusal::from)?;
    let public_note = t.change.public_note.as_ref().map(|n| n.as_str());
    let row = apply(
        &mut tx,
        Event {
            request_id: t.request_id,
            actor_id: t.staff_id,
            actor: Actor::Staff,
            from: Some(from),
            to,
            public_note,
            internal_note: t.change.internal_note.as_ref().map(|n| n.as_str()),
            at: t.now,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Entry {
            actor_id: t.staff_id,
            action: "document_request.transition",
            target_type: "document_request",
            target_id: row.id.to_string(),
            details: json!({
                "tracking_number": row.tracking_number,
                "from": from.code(),
                "to": to.code(),
            }),
        },
    )
    .await?;
    notify_citizen(&mut tx, &row, from, public_note, t.now).await?;
    let data = webhooks::document_data(&row, from);
    webhooks::enqueue(&mut tx, Hook::DocumentRequestStatusChanged, data, t.now).await?;
    let detail = detail(&mut tx, row, Reader::Staff).await?;
    tx.commit().await?;
    Ok(detail)
}

struct Recipient {
    email: String,
    full_name: String,
    language: Language,
}

#[tracing::instrument(skip_all)]
async fn recipient(conn: &mut PgConnection, user_id: Uuid) -> Result<Recipient, sqlx::Error> {
    let r = sqlx::query!(
        "SELECT email, full_name, preferred_language FROM users WHERE id = $1",
        user_id
    )
    .fetch_one(conn)
    .await?;
    Ok(Recipient {
        language: Language::parse(&r.preferred_language)
            .map_err(|_| corrupt("users.preferred_language", &r.preferred_language))?,
        email: r.email,
        full_name: r.full_name,
    })
}

/// Queues `document_status_changed` to the request's citizen, in their language.
async fn notify_citizen(
    conn: &mut PgConnection,
    row: &DocumentRequestRow,
    from: DocumentStatus,
    public_note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DocumentError> {
    let citizen = recipient(&mut *conn, row.citizen_id).await?;
    outbox::enqueue(
        &mut *conn,
        NewNotification {
            user_id: Some(row.citizen_id),
            recipient: &citizen.email,
            language: citizen.language,
            payload: Notification::DocumentStatusChanged(status_changed_payload(
                row,
                &citizen.full_name,
                from,
                public_note,
                now,
            )),
            due_at: now,
            dedupe_key: None,
        },
    )
    .await?;
    Ok(())
}

/// The payload of `document_status_changed`.
fn status_changed_payload(
    row: &DocumentRequestRow,
    full_name: &str,
    previous: DocumentStatus,
    public_note: Option<&str>,
    at: DateTime<Utc>,
) -> mail::DocumentStatusChanged {
    mail::DocumentStatusChanged {
        full_name: full_name.to_owned(),
        tracking_number: row.tracking_number.clone(),
        status: row.status.code().to_owned(),
        previous_status: Some(previous.code().to_owned()),
        public_note: public_note.map(str::to_owned),
        changed_at: mail::at_office(row.timezone(), at),
        timezone: None,
        service: Named {
            code: row.service_code.clone(),
            name: Localized {
                ar: row.service_name_ar.clone(),
                ru: row.service_name_ru.clone(),
                en: row.service_name_en.clone(),
            },
        },
        office: Named {
            code: row.office_code.clone(),
            name: Localized {
                ar: row.office_name_ar.clone(),
                ru: row.office_name_ru.clone(),
                en: row.office_name_en.clone(),
            },
        },
    }
}
