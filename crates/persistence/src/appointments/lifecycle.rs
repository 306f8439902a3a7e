//! The appointment lifecycle after booking: cancel (citizen or staff), check-in, complete and
//! no-show. Staff steps write their audit row in their own transaction.

use chrono::{DateTime, Utc};
use mawid_domain::appointment::{
    citizen_may_change, may_confirm, may_record_no_show, withdraws_reminder, Cancellation, CheckIn,
    Refusal, StaffStep, Status, STAFF_CANCEL_ACTION,
};
use mawid_domain::mail::{at_office, Cancelled, ConfirmationRequest, Notification};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::booking::release_desk;
use super::mail::mail_context;
use super::{by_id, locked, withdraw_reminders, AppointmentRow, BookingError};
use crate::document_requests::{self, DocumentError, DocumentRequestRow, OpenFromAppointment};
use crate::{audit, catalogue, webhooks, StoreError};
use mawid_domain::webhook::Event;

/// Cancels a booked appointment: releases its desk, withdraws its reminder and mails the citizen.
/// A citizen reaches only their own; a staff cancellation is audit-logged.
#[tracing::instrument(skip_all)]
pub async fn cancel(
    pool: &PgPool,
    id: Uuid,
    c: &Cancellation,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    let appointment = cancel_in(&mut tx, id, c, now).await?;
    tx.commit().await?;
    Ok(appointment)
}

/// [`cancel`] in the caller's transaction: an account suspension, a closure or a schedule change
/// that cancels several bookings goes through the same release of the desk, mail and audit row.
pub(crate) async fn cancel_in(
    tx: &mut PgConnection,
    id: Uuid,
    c: &Cancellation,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let current = locked(&mut *tx, id, c.owner()).await?;
    let to = current.status.transition(Status::Cancelled)?;
    if c.owner().is_some() {
        citizen_may_change(current.status, to, current.slot_start, now)?;
    }
    release_desk(&mut *tx, id, now).await?;
    sqlx::query!(
        "UPDATE appointments SET status = $2, cancelled_by = $3, cancel_reason = $4,
            sequence = sequence + 1, updated_at = $5
         WHERE id = $1",
        id,
        to.code(),
        c.by().code(),
        c.reason(),
        now
    )
    .execute(&mut *tx)
    .await?;
    let appointment = by_id(&mut *tx, id).await?;
    if withdraws_reminder(to) {
        withdraw_reminders(&mut *tx, id).await?;
    }
    if let Some(ctx) = mail_context(&mut *tx, &appointment).await? {
        let mail = ctx.mail();
        let cancelled = Cancelled {
            full_name: mail.to.full_name.clone(),
            appointment: mail.summary(&appointment),
            cancelled_by: c.by(),
            reason: c.reason().map(str::to_owned),
        };
        mail.send(&mut *tx, Notification::AppointmentCancelled(cancelled), now)
            .await?;
    }
    let data = webhooks::appointment_data(&appointment, None);
    webhooks::enqueue(&mut *tx, Event::AppointmentCancelled, data, now).await?;
    if let Some(actor) = c.audited_actor() {
        audit::record(
            &mut *tx,
            audit::Entry {
                actor_id: actor,
                action: STAFF_CANCEL_ACTION,
                target_type: "appointment",
                target_id: id.to_string(),
                details: json!({ "from": current.status, "reason": c.reason() }),
            },
        )
        .await?;
    }
    Ok(appointment)
}

/// A staff lifecycle step other than cancel and check-in (complete, no-show), audit-logged.
#[tracing::instrument(skip_all)]
pub async fn step(
    pool: &PgPool,
    id: Uuid,
    step: StaffStep,
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    let appointment = step_in(&mut tx, id, step, actor, now).await?;
    tx.commit().await?;
    Ok(appointment)
}

/// Checks an appointment in and, when its service produces a document, opens the document
/// request in the same transaction: a failed check-in leaves no orphan request.
#[tracing::instrument(skip_all)]
pub async fn check_in(
    pool: &PgPool,
    id: Uuid,
    actor: Uuid,
    desk: CheckIn,
    now: DateTime<Utc>,
) -> Result<(AppointmentRow, Option<DocumentRequestRow>), BookingError> {
    let mut tx = pool.begin().await?;
    let a = step_in(&mut tx, id, StaffStep::CheckIn, actor, now).await?;
    let service = catalogue::service(&mut *tx, a.service_id).await?;
    let citizen = a.citizen_id.filter(|_| {
        desk.opens_document_request(service.creates_document_request, a.citizen_id.is_some())
    });
    let request = if let Some(citizen_id) = citizen {
        let opened = document_requests::open_for_appointment(
            &mut tx,
            OpenFromAppointment {
                citizen_id,
                office_id: a.office_id,
                service_id: a.service_id,
                appointment_id: a.id,
                applicant_full_name: a.applicant_name.clone(),
                applicant_date_of_birth: desk.applicant_date_of_birth,
                applicant_passport: a.passport_number.clone(),
                actor_id: actor,
                now,
            },
        )
        .await
        .map_err(|e| match e {
            DocumentError::Store(s) => BookingError::Store(s),
            DocumentError::Refused(r) => BookingError::Store(StoreError::Conflict(r.code())),
        })?;
        Some(opened)
    } else {
        None
    };
    tx.commit().await?;
    Ok((a, request))
}

async fn step_in(
    tx: &mut PgConnection,
    id: Uuid,
    step: StaffStep,
    actor: Uuid,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let current = locked(&mut *tx, id, None).await?;
    let to = current.status.transition(step.to())?;
    if step == StaffStep::NoShow {
        may_record_no_show(current.slot_start, now)?;
    }
    sqlx::query!(
        "UPDATE appointments SET status = $2, updated_at = $3 WHERE id = $1",
        id,
        to.code(),
        now
    )
    .execute(&mut *tx)
    .await?;
    if withdraws_reminder(to) {
        withdraw_reminders(&mut *tx, id).await?;
    }
    audit::record(
        &mut *tx,
        audit::Entry {
            actor_id: actor,
            action: step.action(),
            target_type: "appointment",
            target_id: id.to_string(),
            details: json!({ "from": current.status, "to": to.code() }),
        },
    )
    .await?;
    let appointment = by_id(&mut *tx, id).await?;
    if let Some(event) = Event::of_step(step) {
        let data = webhooks::appointment_data(&appointment, None);
        webhooks::enqueue(&mut *tx, event, data, now).await?;
    }
    Ok(appointment)
}

/// The citizen confirms attendance inside the service's window; a second confirmation keeps
/// the first time. Only a booked appointment is confirmed.
#[tracing::instrument(skip_all)]
pub async fn confirm(
    pool: &PgPool,
    citizen_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    let current = locked(&mut tx, id, Some(citizen_id)).await?;
    if current.status != Status::Booked {
        return Err(Refusal::NotBooked.into());
    }
    may_confirm(current.confirmation, now)?;
    sqlx::query!(
        "UPDATE appointments SET confirmed_at = COALESCE(confirmed_at, $2), updated_at = $2
         WHERE id = $1",
        id,
        now
    )
    .execute(&mut *tx)
    .await?;
    let appointment = by_id(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(appointment)
}

/// How many request mails one transaction of [`request_confirmations`] queues.
const REQUEST_BATCH: i64 = 50;

/// Asks, once per booking and slot, every citizen whose booking of a `confirmation_required`
/// service is unconfirmed and whose window has opened (and not yet closed) to confirm. The
/// claim is one `UPDATE` of `confirmation_requested_at` over rows taken with `SKIP LOCKED`, in
/// the transaction that queues the mails: processes running this at once never ask twice, and
/// a failed pass leaves the rows to the next one. A booking that entered its slot inside the
/// window was confirmed then (`confirmed_on_entry`) and is not asked; nor is a walk-in, who
/// has no account to confirm with (and so is never released either).
#[tracing::instrument(skip_all)]
pub async fn request_confirmations(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut requested = 0;
    loop {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query_scalar!(
            "WITH due AS (
                SELECT a.id FROM appointments a JOIN services s ON s.id = a.service_id
                WHERE a.status = 'booked' AND a.confirmed_at IS NULL
                  AND a.confirmation_requested_at IS NULL AND s.confirmation_required
                  AND a.citizen_id IS NOT NULL
                  AND a.slot_start - make_interval(hours => s.confirm_from_hours) <= $1
                  AND a.slot_start - make_interval(hours => s.confirm_until_hours) > $1
                ORDER BY a.slot_start LIMIT $2 FOR UPDATE OF a SKIP LOCKED)
             UPDATE appointments a SET confirmation_requested_at = $1
             FROM due WHERE a.id = due.id
             RETURNING a.id",
            now,
            REQUEST_BATCH
        )
        .fetch_all(&mut *tx)
        .await?;
        if claimed.is_empty() {
            break;
        }
        for id in &claimed {
            let appointment = by_id(&mut *tx, *id).await?;
            let Some((_, until)) = appointment.confirmation else {
                continue;
            };
            let Some(ctx) = mail_context(&mut tx, &appointment).await? else {
                continue;
            };
            let mail = ctx.mail();
            let request = ConfirmationRequest {
                full_name: mail.to.full_name.clone(),
                appointment: mail.summary(&appointment),
                confirm_until: at_office(appointment.timezone, until),
            };
            // The key repeats the claim's promise in the outbox: one request per slot held.
            let key = format!("confirmation_request:{}:{}", id, appointment.sequence);
            mail.send_once(
                &mut tx,
                Notification::ConfirmationRequest(request),
                now,
                key,
            )
            .await?;
        }
        tx.commit().await?;
        requested += claimed.len() as u64;
    }
    Ok(requested)
}

/// Cancels, as the system, every booking of a `confirmation_required` service whose window has
/// closed unconfirmed (a booking that entered its slot inside or after its window counts as
/// confirmed then; one made after the window closed before that rule existed is kept): each
/// in its own transaction, claimed with `SKIP LOCKED` so processes running this at once never
/// cancel (or mail) one twice; the desk goes through the ordinary release, cool-down and
/// waitlist.
#[tracing::instrument(skip_all)]
pub async fn release_unconfirmed(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut released = 0;
    loop {
        let mut tx = pool.begin().await?;
        let next = sqlx::query_scalar!(
            "SELECT a.id FROM appointments a JOIN services s ON s.id = a.service_id
             WHERE a.status = 'booked' AND a.confirmed_at IS NULL AND s.confirmation_required
               AND a.citizen_id IS NOT NULL
               AND a.slot_start - make_interval(hours => s.confirm_until_hours) <= $1
               AND a.created_at < a.slot_start - make_interval(hours => s.confirm_until_hours)
             ORDER BY a.slot_start LIMIT 1 FOR UPDATE OF a SKIP LOCKED",
            now
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = next else {
            break;
        };
        cancel_in(&mut tx, id, &Cancellation::Unconfirmed, now)
            .await
            .map_err(|e| match e {
                BookingError::Store(s) => s,
                other => StoreError::Db(sqlx::Error::Protocol(format!(
                    "system cancellation refused: {other:?}"
                ))),
            })?;
        tx.commit().await?;
        released += 1;
    }
    Ok(released)
}
