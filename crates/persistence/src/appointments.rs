//! Appointments: booking, cancelling, rescheduling and the staff lifecycle, each one transaction
//! that also writes its notifications.
//!
//! Capacity is the database's: a booking claims one desk number of its slot, and the partial
//! unique index `appointments_desk_key` lets no two live bookings share one, whatever the number
//! of server processes. Fair-use counts are read under per-citizen and per-passport advisory
//! locks, so two concurrent requests cannot both see room under a limit.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use mawid_domain::account::Language;
use mawid_domain::appointment::{
    Applicant, Holdings, IllegalTransition, PassportNo, Reference, Refusal, Status,
};
use mawid_domain::mail::{
    at_office, AppointmentMail, AppointmentSummary, Cancelled, Canceller, Notification, Rescheduled,
};
use mawid_domain::schedule::Calendar;
use serde_json::json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::catalogue::{self, OfficeRow, ServiceRow};
use crate::document_requests::{self, DocumentError, DocumentRequestRow, OpenFromAppointment};
use crate::outbox::{self, NewNotification};
use crate::schedules::{self, ScheduleRow};
use crate::users::{self, UserRow};
use crate::{audit, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// A referenced office or service (named by the field) does not exist or is inactive.
    #[error("no such {0}")]
    Unknown(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BookingError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub reference: String,
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub slot_start: DateTime<Utc>,
    pub slot_end: DateTime<Utc>,
    pub applicant_name: String,
    pub applicant_relation: String,
    pub passport_number: Option<String>,
    pub status: String,
    pub sequence: i32,
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub office_code: String,
    pub timezone: String,
    pub service_code: String,
    pub service_name_ar: String,
    pub service_name_ru: String,
    pub service_name_en: String,
}

impl AppointmentRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Booked)
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Moscow)
    }

    /// An instant as RFC 3339 with the office's offset.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        local_rfc3339(self.tz(), at)
    }
}

pub fn local_rfc3339(tz: chrono_tz::Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

const SELECT: &str = "SELECT a.id, a.reference, a.citizen_id, a.office_id, a.service_id, a.slot_start,
        a.slot_end, a.applicant_name, a.applicant_relation, a.passport_number, a.status, a.sequence,
        a.cancelled_by, a.cancel_reason, a.created_at, o.code AS office_code, o.timezone,
        s.code AS service_code, s.name_ar AS service_name_ar, s.name_ru AS service_name_ru,
        s.name_en AS service_name_en
    FROM appointments a JOIN offices o ON o.id = a.office_id JOIN services s ON s.id = a.service_id";

pub struct NewBooking {
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub start: DateTime<Utc>,
    /// `None` books for the citizen themself.
    pub applicant: Option<Applicant>,
    /// The citizen's own passport number, for a booking without `applicant`.
    pub self_passport: Option<PassportNo>,
    /// `(key, hash of the request)` when the client sent an `Idempotency-Key`.
    pub idempotency: Option<(String, String)>,
    pub now: DateTime<Utc>,
}

pub enum Booked {
    Created(Box<AppointmentRow>),
    /// The booking an earlier request with the same key and body created.
    Replayed(Box<AppointmentRow>),
}

/// Lock classes for `pg_advisory_xact_lock(class, key)`.
const LOCK_CITIZEN: i32 = 1;
const LOCK_PASSPORT: i32 = 2;

async fn lock(conn: &mut PgConnection, class: i32, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(class)
        .bind(key)
        .execute(conn)
        .await
        .map(|_| ())
}

struct Context {
    office: OfficeRow,
    service: ServiceRow,
    schedule: ScheduleRow,
}

async fn context(
    conn: &mut PgConnection,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<Context, BookingError> {
    let office = match catalogue::office(&mut *conn, office_id).await {
        Ok(o) if o.active => o,
        Ok(_) | Err(StoreError::NotFound) => return Err(BookingError::Unknown("office_id")),
        Err(e) => return Err(e.into()),
    };
    let service = match catalogue::service(&mut *conn, service_id).await {
        Ok(s) if s.active => s,
        Ok(_) | Err(StoreError::NotFound) => return Err(BookingError::Unknown("service_id")),
        Err(e) => return Err(e.into()),
    };
    let schedule = schedules::get(&mut *conn, office_id, service_id)
        .await?
        .ok_or(Refusal::NotOffered)?;
    Ok(Context {
        office,
        service,
        schedule,
    })
}

/// Checks `start` against the grid, closures, notice and advance of `ctx`.
async fn check_slot(
    conn: &mut PgConnection,
    ctx: &Context,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, BookingError> {
    let tz = ctx.office.tz();
    let day = mawid_domain::schedule::local_date(tz, start);
    let closed = schedules::closed_days(&mut *conn, ctx.office.id, day, day).await?;
    let template = ctx.schedule.template();
    let cal = Calendar {
        tz,
        template: &template,
        capacity: ctx.schedule.capacity,
        closures: &closed,
        policy: ctx.service.policy(),
    };
    Ok(cal.check_bookable(start, now)?.end)
}

/// The lowest free desk of the slot, claimed with `ON CONFLICT DO NOTHING`: a concurrent claim of
/// the same desk waits for the other transaction and then yields nothing, and the next attempt
/// sees that desk taken. The count guard keeps a slot whose capacity was lowered from filling up
/// again through desks that are now beyond it.
const CLAIM_DESK: &str = "INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start,
        slot_end, desk_no, applicant_name, applicant_relation, passport_number, status, sequence, created_at, updated_at)
    SELECT $1, $2, $3, $4, $5, $6, $7, d, $8, $9, $10, 'booked', 0, $11, $11
    FROM generate_series(1, $12::int) d
    WHERE NOT EXISTS (SELECT 1 FROM appointments x WHERE x.office_id = $4 AND x.service_id = $5
                        AND x.slot_start = $6 AND x.desk_no = d AND x.status <> 'cancelled')
      AND (SELECT count(*) FROM appointments x WHERE x.office_id = $4 AND x.service_id = $5
             AND x.slot_start = $6 AND x.status <> 'cancelled') < $12
    ORDER BY d LIMIT 1
    ON CONFLICT DO NOTHING
    RETURNING id";

/// Books a slot: every rule of product.md, the desk claim, the notifications and the
/// idempotency record, all in one transaction.
#[tracing::instrument(skip_all)]
pub async fn book(pool: &PgPool, b: NewBooking) -> Result<Booked, BookingError> {
    let mut tx = pool.begin().await?;
    let user = users::by_id(&mut *tx, b.citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if user.email_verified_at.is_none() {
        return Err(Refusal::EmailNotVerified.into());
    }
    // Serialises one citizen's bookings: the fair-use counts and the idempotency key below are
    // read and written by one request at a time.
    lock(&mut tx, LOCK_CITIZEN, &b.citizen_id.to_string()).await?;
    if let Some((key, hash)) = &b.idempotency {
        let seen: Option<(String, Uuid)> = sqlx::query_as(
            "SELECT request_hash, appointment_id FROM idempotency_keys
             WHERE citizen_id = $1 AND key = $2",
        )
        .bind(b.citizen_id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((seen_hash, appointment_id)) = seen {
            if &seen_hash != hash {
                return Err(BookingError::KeyReused);
            }
            let first = by_id(&mut *tx, appointment_id).await?;
            return Ok(Booked::Replayed(Box::new(first)));
        }
    }

    let ctx = context(&mut tx, b.office_id, b.service_id).await?;
    let end = check_slot(&mut tx, &ctx, b.start, b.now).await?;

    let (name, relation, passport) = match &b.applicant {
        Some(a) => (
            a.full_name.as_str().to_owned(),
            a.relation.code(),
            a.passport.clone(),
        ),
        None => (user.full_name.clone(), "self", b.self_passport.clone()),
    };
    if let Some(p) = &passport {
        lock(
            &mut tx,
            LOCK_PASSPORT,
            &format!("{}:{}", b.service_id, p.as_str()),
        )
        .await?;
    }
    let holdings: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE citizen_id = $1),
                count(*) FILTER (WHERE citizen_id = $1 AND service_id = $2),
                count(*) FILTER (WHERE service_id = $2 AND passport_number = $3)
         FROM appointments
         WHERE status = 'booked' AND slot_start > $4
           AND (citizen_id = $1 OR (service_id = $2 AND passport_number = $3))",
    )
    .bind(b.citizen_id)
    .bind(b.service_id)
    .bind(passport.as_ref().map(PassportNo::as_str))
    .bind(b.now)
    .fetch_one(&mut *tx)
    .await?;
    Holdings {
        citizen_total: holdings.0,
        citizen_same_service: holdings.1,
        passport_same_service: holdings.2,
    }
    .check()?;

    let id = Uuid::new_v4();
    let mut claimed = None;
    for _ in 0..ctx.schedule.capacity {
        let reference = new_reference(&ctx.office.code);
        claimed = sqlx::query_scalar::<_, Uuid>(CLAIM_DESK)
            .bind(id)
            .bind(reference.as_str())
            .bind(b.citizen_id)
            .bind(b.office_id)
            .bind(b.service_id)
            .bind(b.start)
            .bind(end)
            .bind(&name)
            .bind(relation)
            .bind(passport.as_ref().map(PassportNo::as_str))
            .bind(b.now)
            .bind(ctx.schedule.capacity)
            .fetch_optional(&mut *tx)
            .await?;
        if claimed.is_some() {
            break;
        }
    }
    if claimed.is_none() {
        return Err(Refusal::SlotFull.into());
    }
    let appointment = by_id(&mut *tx, id).await?;
    let mail = Mail {
        user: &user,
        office: &ctx.office,
        service: &ctx.service,
    };
    mail.send(
        &mut tx,
        Notification::AppointmentBooked(mail.appointment(&appointment)),
        b.now,
    )
    .await?;
    mail.remind(&mut tx, &appointment, b.now).await?;
    if let Some((key, hash)) = &b.idempotency {
        remember(&mut *tx, b.citizen_id, key, hash, id).await?;
    }
    tx.commit().await?;
    Ok(Booked::Created(Box::new(appointment)))
}

/// Records which booking an idempotent request created, in the booking's own transaction, so a
/// retry after a lost answer finds either both the booking and the record or neither.
async fn remember(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
    key: &str,
    hash: &str,
    appointment_id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (citizen_id, key, request_hash, appointment_id)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(citizen_id)
    .bind(key)
    .bind(hash)
    .bind(appointment_id)
    .execute(ex)
    .await?;
    Ok(())
}

fn new_reference(office_code: &str) -> Reference {
    // A v4 uuid is 122 random bits from the OS generator; eight of its bytes are plenty here.
    let bytes = *Uuid::new_v4().as_bytes();
    let mut r = [0u8; 8];
    r.copy_from_slice(&bytes[..8]);
    Reference::generate(office_code, r)
}

pub async fn by_id(ex: impl PgExecutor<'_>, id: Uuid) -> Result<AppointmentRow, StoreError> {
    sqlx::query_as::<_, AppointmentRow>(&format!("{SELECT} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

/// One of the citizen's own appointments; anyone else's is `NotFound`.
#[tracing::instrument(skip_all)]
pub async fn own(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
    id: Uuid,
) -> Result<AppointmentRow, StoreError> {
    sqlx::query_as::<_, AppointmentRow>(&format!("{SELECT} WHERE a.id = $1 AND a.citizen_id = $2"))
        .bind(id)
        .bind(citizen_id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)
}

#[tracing::instrument(skip_all)]
pub async fn list_own(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
) -> Result<Vec<AppointmentRow>, StoreError> {
    Ok(sqlx::query_as::<_, AppointmentRow>(&format!(
        "{SELECT} WHERE a.citizen_id = $1 ORDER BY a.slot_start DESC"
    ))
    .bind(citizen_id)
    .fetch_all(ex)
    .await?)
}

/// An office's appointments on one local date, whatever their status.
#[tracing::instrument(skip_all)]
pub async fn agenda(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
) -> Result<Vec<AppointmentRow>, StoreError> {
    // The UTC window around the date lets the index narrow the scan before the zone test.
    let lo = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() - Duration::days(1));
    let hi = day
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc() + Duration::days(2));
    Ok(sqlx::query_as::<_, AppointmentRow>(&format!(
        "{SELECT} WHERE a.office_id = $1 AND a.slot_start >= $3 AND a.slot_start < $4
           AND (a.slot_start AT TIME ZONE o.timezone)::date = $2
         ORDER BY a.slot_start, s.code, a.reference"
    ))
    .bind(office_id)
    .bind(day)
    .bind(lo)
    .bind(hi)
    .fetch_all(ex)
    .await?)
}

/// Who cancels, for the mail and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelledBy {
    Citizen,
    Staff(Uuid),
}

impl CancelledBy {
    pub fn code(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Staff(_) => "staff",
        }
    }

    fn canceller(self) -> Canceller {
        match self {
            Self::Citizen => Canceller::Citizen,
            Self::Staff(_) => Canceller::Staff,
        }
    }
}

/// Cancels a booked appointment: releases its desk, withdraws its reminder and mails the citizen.
/// A citizen reaches only their own (`citizen_id`); staff reach any.
#[tracing::instrument(skip_all)]
pub async fn cancel(
    pool: &PgPool,
    id: Uuid,
    citizen_id: Option<Uuid>,
    by: CancelledBy,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    let current = locked(&mut tx, id, citizen_id).await?;
    current.status().transition(Status::Cancelled)?;
    sqlx::query(
        "UPDATE appointments SET status = 'cancelled', cancelled_by = $2, cancel_reason = $3,
            sequence = sequence + 1, updated_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(by.code())
    .bind(reason)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let appointment = by_id(&mut *tx, id).await?;
    withdraw_reminders(&mut tx, id).await?;
    let ctx = mail_context(&mut tx, &appointment).await?;
    let mail = ctx.mail();
    let cancelled = Cancelled {
        full_name: mail.user.full_name.clone(),
        appointment: mail.summary(&appointment),
        cancelled_by: by.canceller(),
        reason: reason.map(str::to_owned),
    };
    mail.send(&mut tx, Notification::AppointmentCancelled(cancelled), now)
        .await?;
    if let CancelledBy::Staff(actor) = by {
        audit::record(
            &mut *tx,
            audit::Entry {
                actor_id: actor,
                action: "appointment.cancel",
                target_type: "appointment",
                target_id: id.to_string(),
                details: json!({ "from": current.status, "reason": reason }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(appointment)
}

/// Moves a booked appointment to `start` in one transaction: the new desk is claimed before the
/// old one is let go, so a full target leaves the booking exactly as it was.
#[tracing::instrument(skip_all)]
pub async fn reschedule(
    pool: &PgPool,
    id: Uuid,
    citizen_id: Uuid,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, LOCK_CITIZEN, &citizen_id.to_string()).await?;
    let current = locked(&mut tx, id, Some(citizen_id)).await?;
    if current.status() != Status::Booked {
        return Err(Refusal::NotBooked.into());
    }
    if current.slot_start == start {
        return Err(Refusal::SameSlot.into());
    }
    let ctx = context(&mut tx, current.office_id, current.service_id).await?;
    let end = check_slot(&mut tx, &ctx, start, now).await?;

    let mut moved = false;
    for _ in 0..ctx.schedule.capacity {
        // A savepoint per attempt: a desk taken meanwhile raises a unique violation, which must
        // not abort the whole transaction.
        let mut sp = sqlx::Connection::begin(&mut *tx).await?;
        let r = sqlx::query_scalar::<_, Uuid>(
            "UPDATE appointments a SET slot_start = $2, slot_end = $3, desk_no = f.d,
                sequence = a.sequence + 1, updated_at = $5
             FROM (SELECT d FROM generate_series(1, $4::int) d
                   WHERE NOT EXISTS (SELECT 1 FROM appointments x WHERE x.office_id = $6 AND x.service_id = $7
                                       AND x.slot_start = $2 AND x.desk_no = d AND x.status <> 'cancelled')
                     AND (SELECT count(*) FROM appointments x WHERE x.office_id = $6 AND x.service_id = $7
                            AND x.slot_start = $2 AND x.status <> 'cancelled') < $4
                   ORDER BY d LIMIT 1) f
             WHERE a.id = $1
             RETURNING a.id",
        )
        .bind(id)
        .bind(start)
        .bind(end)
        .bind(ctx.schedule.capacity)
        .bind(now)
        .bind(current.office_id)
        .bind(current.service_id)
        .fetch_optional(&mut *sp)
        .await;
        match r {
            Ok(Some(_)) => {
                sp.commit().await?;
                moved = true;
                break;
            }
            Ok(None) => {
                sp.rollback().await?;
                break;
            }
            Err(e) if is_desk_clash(&e) => sp.rollback().await?,
            Err(e) => return Err(e.into()),
        }
    }
    if !moved {
        return Err(Refusal::SlotFull.into());
    }
    let appointment = by_id(&mut *tx, id).await?;
    withdraw_reminders(&mut tx, id).await?;
    let user = users::by_id(&mut *tx, citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mail = Mail {
        user: &user,
        office: &ctx.office,
        service: &ctx.service,
    };
    let rescheduled = Rescheduled {
        full_name: user.full_name.clone(),
        appointment: mail.summary(&appointment),
        previous_start: at_office(current.tz(), current.slot_start),
    };
    mail.send(
        &mut tx,
        Notification::AppointmentRescheduled(rescheduled),
        now,
    )
    .await?;
    mail.remind(&mut tx, &appointment, now).await?;
    tx.commit().await?;
    Ok(appointment)
}

fn is_desk_clash(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == "appointments_desk_key")
}

/// A staff lifecycle step other than cancel (check-in, complete, no-show), audit-logged.
#[tracing::instrument(skip_all)]
pub async fn transition(
    pool: &PgPool,
    id: Uuid,
    to: Status,
    actor: Uuid,
    action: &str,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    let appointment = transition_in(&mut tx, id, to, actor, action, now).await?;
    tx.commit().await?;
    Ok(appointment)
}

/// Checks an appointment in and, when its service produces a document, opens the document
/// request in the same transaction: the citizen can follow the case from the moment they are at
/// the desk, and a failed check-in leaves no orphan request.
#[tracing::instrument(skip_all)]
pub async fn check_in(
    pool: &PgPool,
    id: Uuid,
    actor: Uuid,
    applicant_date_of_birth: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<(AppointmentRow, Option<DocumentRequestRow>), BookingError> {
    let mut tx = pool.begin().await?;
    let a = transition_in(
        &mut tx,
        id,
        Status::CheckedIn,
        actor,
        "appointment.check_in",
        now,
    )
    .await?;
    let documentary: bool =
        sqlx::query_scalar("SELECT creates_document_request FROM services WHERE id = $1")
            .bind(a.service_id)
            .fetch_one(&mut *tx)
            .await?;
    let request = if documentary {
        let opened = document_requests::open_for_appointment(
            &mut tx,
            OpenFromAppointment {
                citizen_id: a.citizen_id,
                office_id: a.office_id,
                service_id: a.service_id,
                appointment_id: a.id,
                applicant_full_name: a.applicant_name.clone(),
                applicant_date_of_birth,
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

async fn transition_in(
    tx: &mut PgConnection,
    id: Uuid,
    to: Status,
    actor: Uuid,
    action: &str,
    now: DateTime<Utc>,
) -> Result<AppointmentRow, BookingError> {
    let current = locked(&mut *tx, id, None).await?;
    current.status().transition(to)?;
    sqlx::query("UPDATE appointments SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(to.code())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if to == Status::NoShow {
        withdraw_reminders(&mut *tx, id).await?;
    }
    audit::record(
        &mut *tx,
        audit::Entry {
            actor_id: actor,
            action,
            target_type: "appointment",
            target_id: id.to_string(),
            details: json!({ "from": current.status, "to": to.code() }),
        },
    )
    .await?;
    Ok(by_id(&mut *tx, id).await?)
}

/// The appointment, row-locked for a state change; someone else's is `NotFound`.
async fn locked(
    conn: &mut PgConnection,
    id: Uuid,
    citizen_id: Option<Uuid>,
) -> Result<AppointmentRow, BookingError> {
    let found: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM appointments WHERE id = $1 AND ($2::uuid IS NULL OR citizen_id = $2) FOR UPDATE",
    )
    .bind(id)
    .bind(citizen_id)
    .fetch_optional(&mut *conn)
    .await?;
    if found.is_none() {
        return Err(StoreError::NotFound.into());
    }
    Ok(by_id(&mut *conn, id).await?)
}

async fn withdraw_reminders(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE notifications SET status = 'cancelled'
         WHERE kind = 'appointment_reminder' AND payload->>'appointment_id' = $1 AND status = 'pending'",
    )
    .bind(id.to_string())
    .execute(conn)
    .await
    .map(|_| ())
}

struct MailContext {
    user: UserRow,
    office: OfficeRow,
    service: ServiceRow,
}

impl MailContext {
    fn mail(&self) -> Mail<'_> {
        Mail {
            user: &self.user,
            office: &self.office,
            service: &self.service,
        }
    }
}

async fn mail_context(
    conn: &mut PgConnection,
    a: &AppointmentRow,
) -> Result<MailContext, StoreError> {
    Ok(MailContext {
        user: users::by_id(&mut *conn, a.citizen_id)
            .await?
            .ok_or(StoreError::NotFound)?,
        office: catalogue::office(&mut *conn, a.office_id).await?,
        service: catalogue::service(&mut *conn, a.service_id).await?,
    })
}

/// Builds and enqueues the appointment mails of the contract in `mawid_domain::mail`.
struct Mail<'a> {
    user: &'a UserRow,
    office: &'a OfficeRow,
    service: &'a ServiceRow,
}

impl Mail<'_> {
    /// What every appointment mail says about `a`.
    fn summary(&self, a: &AppointmentRow) -> AppointmentSummary {
        let tz = a.tz();
        AppointmentSummary {
            appointment_id: a.id,
            reference: a.reference.clone(),
            // Starts at 0 and only grows (reschedules, cancellation).
            sequence: u32::try_from(a.sequence).unwrap_or_default(),
            start: at_office(tz, a.slot_start),
            end: at_office(tz, a.slot_end),
            timezone: a.timezone.clone(),
            office: catalogue::office_payload(self.office),
            service: catalogue::service_payload(self.service),
            applicant_name: Some(a.applicant_name.clone()),
        }
    }

    /// The payload of a booking confirmation or reminder.
    fn appointment(&self, a: &AppointmentRow) -> AppointmentMail {
        AppointmentMail {
            full_name: self.user.full_name.clone(),
            appointment: self.summary(a),
        }
    }

    fn language(&self) -> Language {
        self.user.language()
    }

    async fn send(
        &self,
        conn: &mut PgConnection,
        payload: Notification,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enqueue(conn, payload, now, None).await
    }

    async fn enqueue(
        &self,
        conn: &mut PgConnection,
        payload: Notification,
        due_at: DateTime<Utc>,
        dedupe_key: Option<String>,
    ) -> Result<(), StoreError> {
        outbox::enqueue(
            &mut *conn,
            NewNotification {
                user_id: Some(self.user.id),
                recipient: &self.user.email,
                language: self.language(),
                payload,
                due_at,
                dedupe_key,
            },
        )
        .await
        .map(|_| ())
    }

    /// The reminder a day before, unless that moment has passed. The dedupe key makes it one
    /// row per appointment and slot; moving back to a slot revives its withdrawn reminder.
    async fn remind(
        &self,
        conn: &mut PgConnection,
        a: &AppointmentRow,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let due = a.slot_start - Duration::hours(24);
        if due <= now {
            return Ok(());
        }
        let key = format!(
            "reminder:{}:{}",
            a.id,
            a.slot_start.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
        let reminder = Notification::AppointmentReminder(self.appointment(a));
        self.enqueue(conn, reminder, due, Some(key)).await
    }
}
