//! Booking and rescheduling: the rules of product.md checked under the booking locks, and the
//! one desk claim both go through.

use chrono::{DateTime, Utc};
use mawid_domain::appointment::{
    reschedule_to, BookedApplicant, BookingFor, Holder, Holdings, Idempotency, Offer, PassportNo,
    Reference, Refusal, Status,
};
use mawid_domain::mail::{at_office, Notification, Rescheduled};
use mawid_domain::schedule::Calendar;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::mail::Mail;
use super::{by_id, locked, withdraw_reminders, AppointmentRow, BookingError};
use crate::catalogue::{self, OfficeRow, ServiceRow};
use crate::schedules::{self, ScheduleRow};
use crate::StoreError;
use crate::{users, webhooks};
use mawid_domain::webhook::Event;

pub struct NewBooking {
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub start: DateTime<Utc>,
    pub applicant: BookingFor,
    /// Set when the client sent an `Idempotency-Key`.
    pub idempotency: Option<Idempotency>,
    pub now: DateTime<Utc>,
}

pub enum Booked {
    Created(Box<AppointmentRow>),
    /// The booking an earlier request with the same key and body created.
    Replayed(Box<AppointmentRow>),
}

/// Books a slot: every rule of product.md, the desk claim, the notifications and the
/// idempotency record, all in one transaction.
#[tracing::instrument(skip_all)]
pub async fn book(pool: &PgPool, b: NewBooking) -> Result<Booked, BookingError> {
    let mut tx = pool.begin().await?;
    let user = users::by_id(&mut *tx, b.citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let holder = Holder {
        full_name: &user.full_name,
        email_verified: user.email_verified_at.is_some(),
    };
    holder.may_book()?;
    // Serialises one citizen's bookings: the fair-use counts and the idempotency key below are
    // read and written by one request at a time.
    lock(&mut tx, LOCK_CITIZEN, &b.citizen_id.to_string()).await?;
    if let Some(key) = &b.idempotency {
        if let Some(first) = replayed(&mut tx, b.citizen_id, key).await? {
            return Ok(Booked::Replayed(Box::new(first)));
        }
    }

    let ctx = context(&mut tx, b.office_id, b.service_id).await?;
    let end = check_slot(&mut tx, &ctx, b.start, b.now).await?;
    let applicant = b.applicant.applicant(&holder);
    if let Some(p) = &applicant.passport {
        let key = format!("{}:{}", b.service_id, p.as_str());
        lock(&mut tx, LOCK_PASSPORT, &key).await?;
    }
    holdings(
        &mut tx,
        b.citizen_id,
        b.service_id,
        applicant.passport.as_ref(),
        b.now,
    )
    .await?
    .check()?;

    let id = Uuid::new_v4();
    let row = NewRow {
        id,
        citizen_id: b.citizen_id,
        office_code: &ctx.office.code,
        applicant: &applicant,
        now: b.now,
    };
    claim_desk(&mut tx, &ctx.target(b.start, end), Claim::Book(&row)).await?;
    let appointment = by_id(&mut *tx, id).await?;
    let mail = Mail {
        user: &user,
        office: &ctx.office,
        service: &ctx.service,
    };
    let booked = Notification::AppointmentBooked(mail.appointment(&appointment));
    mail.send(&mut tx, booked, b.now).await?;
    let data = webhooks::appointment_data(&appointment, None);
    webhooks::enqueue(&mut tx, Event::AppointmentBooked, data, b.now).await?;
    mail.remind(&mut tx, &appointment, b.now).await?;
    if let Some(key) = &b.idempotency {
        remember(&mut *tx, b.citizen_id, key, id).await?;
    }
    tx.commit().await?;
    Ok(Booked::Created(Box::new(appointment)))
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
    reschedule_to(current.status, current.slot_start, start)?;
    let ctx = context(&mut tx, current.office_id, current.service_id).await?;
    let end = check_slot(&mut tx, &ctx, start, now).await?;
    claim_desk(&mut tx, &ctx.target(start, end), Claim::Move { id, now }).await?;
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
        previous_start: at_office(current.timezone, current.slot_start),
    };
    mail.send(
        &mut tx,
        Notification::AppointmentRescheduled(rescheduled),
        now,
    )
    .await?;
    mail.remind(&mut tx, &appointment, now).await?;
    let data = webhooks::appointment_data(&appointment, Some(current.slot_start));
    webhooks::enqueue(&mut tx, Event::AppointmentRescheduled, data, now).await?;
    tx.commit().await?;
    Ok(appointment)
}

/// Lock classes for `pg_advisory_xact_lock(class, key)`.
const LOCK_CITIZEN: i32 = 1;
const LOCK_PASSPORT: i32 = 2;

#[tracing::instrument(skip_all)]
async fn lock(conn: &mut PgConnection, class: i32, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1, hashtext($2))", class, key)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The booking an earlier request with this key created, if there was one and it asked for the
/// same thing.
#[tracing::instrument(skip_all)]
async fn replayed(
    conn: &mut PgConnection,
    citizen_id: Uuid,
    key: &Idempotency,
) -> Result<Option<AppointmentRow>, BookingError> {
    // A key recorded by a server of the previous release has only the answer's copy.
    let seen = sqlx::query!(
        r#"SELECT request_hash,
                  COALESCE(appointment_id, (response_body->>'id')::uuid) AS "appointment_id!"
           FROM idempotency_keys WHERE citizen_id = $1 AND key = $2"#,
        citizen_id,
        key.key.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(seen) = seen else {
        return Ok(None);
    };
    key.replay(&seen.request_hash)?;
    Ok(Some(by_id(&mut *conn, seen.appointment_id).await?))
}

/// Records which booking an idempotent request created, in the booking's own transaction, so a
/// retry after a lost answer finds either both the booking and the record or neither.
#[tracing::instrument(skip_all)]
async fn remember(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
    key: &Idempotency,
    appointment_id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO idempotency_keys (citizen_id, key, request_hash, appointment_id)
         VALUES ($1, $2, $3, $4)",
        citizen_id,
        key.key.as_str(),
        key.request_hash,
        appointment_id
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// The future `booked` appointments the fair-use limits count.
#[tracing::instrument(skip_all)]
async fn holdings(
    conn: &mut PgConnection,
    citizen_id: Uuid,
    service_id: Uuid,
    passport: Option<&PassportNo>,
    now: DateTime<Utc>,
) -> Result<Holdings, sqlx::Error> {
    let h = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE citizen_id = $1) AS "citizen_total!",
                count(*) FILTER (WHERE citizen_id = $1 AND service_id = $2)
                    AS "citizen_same_service!",
                count(*) FILTER (WHERE service_id = $2 AND passport_number = $3)
                    AS "passport_same_service!"
         FROM appointments
         WHERE status = 'booked' AND slot_start > $4
           AND (citizen_id = $1 OR (service_id = $2 AND passport_number = $3))"#,
        citizen_id,
        service_id,
        passport.map(PassportNo::as_str),
        now
    )
    .fetch_one(conn)
    .await?;
    Ok(Holdings {
        citizen_total: h.citizen_total,
        citizen_same_service: h.citizen_same_service,
        passport_same_service: h.passport_same_service,
    })
}

struct Context {
    office: OfficeRow,
    service: ServiceRow,
    schedule: ScheduleRow,
}

impl Context {
    fn target(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Target {
        Target {
            office_id: self.office.id,
            service_id: self.service.id,
            start,
            end,
            capacity: self.schedule.capacity,
        }
    }
}

/// The office, service and schedule a booking names, if the catalogue offers it.
async fn context(
    conn: &mut PgConnection,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<Context, BookingError> {
    let office = found(catalogue::office(&mut *conn, office_id).await)?;
    let service = found(catalogue::service(&mut *conn, service_id).await)?;
    let schedule = schedules::get(&mut *conn, office_id, service_id).await?;
    Offer {
        office_active: office.as_ref().map(|o| o.active),
        service_active: service.as_ref().map(|s| s.active),
        scheduled: schedule.is_some(),
    }
    .check()?;
    let (Some(office), Some(service), Some(schedule)) = (office, service, schedule) else {
        // `check` refused every missing part already.
        return Err(Refusal::NotOffered.into());
    };
    Ok(Context {
        office,
        service,
        schedule,
    })
}

fn found<T>(r: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Checks `start` against the grid, closures, notice and advance of `ctx`; returns the end.
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

/// The slot a desk is claimed in.
struct Target {
    office_id: Uuid,
    service_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    capacity: i32,
}

/// The appointment a claimed desk goes to: a new booking, or a booked one moving to the slot.
enum Claim<'a> {
    Book(&'a NewRow<'a>),
    Move { id: Uuid, now: DateTime<Utc> },
}

struct NewRow<'a> {
    id: Uuid,
    citizen_id: Uuid,
    office_code: &'a str,
    applicant: &'a BookedApplicant,
    now: DateTime<Utc>,
}

/// Claims the lowest free desk of the slot, for booking and rescheduling alike. The free desk is
/// read, then written; a concurrent claim of the same desk makes the write wait for the other
/// transaction and then find the desk taken (`appointments_desk_key`), and the next attempt
/// reads again. Each failed attempt means one more desk held by a committed booking, so
/// `capacity` attempts suffice.
async fn claim_desk(
    conn: &mut PgConnection,
    slot: &Target,
    claim: Claim<'_>,
) -> Result<(), BookingError> {
    for _ in 0..slot.capacity {
        let Some(desk) = free_desk(&mut *conn, slot).await? else {
            break;
        };
        let held = match &claim {
            Claim::Book(row) => insert_at(&mut *conn, slot, desk, row).await?,
            Claim::Move { id, now } => move_to(&mut *conn, slot, desk, *id, *now).await?,
        };
        if held {
            return Ok(());
        }
    }
    Err(Refusal::SlotFull.into())
}

/// The lowest desk of the slot no live appointment holds, while the slot has room. The count
/// guard keeps a slot whose capacity was lowered from filling up again through desks that are
/// now beyond it.
#[tracing::instrument(skip_all)]
async fn free_desk(conn: &mut PgConnection, slot: &Target) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT d AS "desk!" FROM generate_series(1, $4::int) d
           WHERE NOT EXISTS (SELECT 1 FROM appointments x
                             WHERE x.office_id = $1 AND x.service_id = $2 AND x.slot_start = $3
                               AND x.desk_no = d AND x.status <> 'cancelled')
             AND (SELECT count(*) FROM appointments x
                  WHERE x.office_id = $1 AND x.service_id = $2 AND x.slot_start = $3
                    AND x.status <> 'cancelled') < $4
           ORDER BY d LIMIT 1"#,
        slot.office_id,
        slot.service_id,
        slot.start,
        slot.capacity
    )
    .fetch_optional(conn)
    .await
}

/// Inserts the booking at `desk`; `false` when the desk (or, rarely, the random reference) was
/// taken meanwhile.
#[tracing::instrument(skip_all)]
async fn insert_at(
    conn: &mut PgConnection,
    slot: &Target,
    desk: i32,
    row: &NewRow<'_>,
) -> Result<bool, sqlx::Error> {
    let reference = new_reference(row.office_code);
    let inserted = sqlx::query_scalar!(
        "INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start,
            slot_end, desk_no, applicant_name, applicant_relation, passport_number, status,
            sequence, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13)
         ON CONFLICT DO NOTHING
         RETURNING id",
        row.id,
        reference.as_str(),
        row.citizen_id,
        slot.office_id,
        slot.service_id,
        slot.start,
        slot.end,
        desk,
        row.applicant.full_name,
        row.applicant.relation.code(),
        row.applicant.passport.as_ref().map(PassportNo::as_str),
        Status::Booked.code(),
        row.now
    )
    .fetch_optional(conn)
    .await?;
    Ok(inserted.is_some())
}

/// Moves the appointment to `desk` of the slot; `false` when the desk was taken meanwhile.
#[tracing::instrument(skip_all)]
async fn move_to(
    conn: &mut PgConnection,
    slot: &Target,
    desk: i32,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // An UPDATE has no ON CONFLICT: the unique violation of a desk taken meanwhile is caught in
    // a savepoint, so it does not abort the whole transaction.
    let mut sp = sqlx::Connection::begin(&mut *conn).await?;
    let moved = sqlx::query!(
        "UPDATE appointments SET slot_start = $2, slot_end = $3, desk_no = $4,
            sequence = sequence + 1, updated_at = $5
         WHERE id = $1",
        id,
        slot.start,
        slot.end,
        desk,
        now
    )
    .execute(&mut *sp)
    .await;
    match moved {
        Ok(_) => sp.commit().await.map(|_| true),
        Err(e) if is_desk_clash(&e) => sp.rollback().await.map(|_| false),
        Err(e) => Err(e),
    }
}

fn is_desk_clash(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.constraint())
        .is_some_and(|c| c == "appointments_desk_key")
}

fn new_reference(office_code: &str) -> Reference {
    // A v4 uuid is 122 random bits from the OS generator; eight of its bytes are plenty here.
    let bytes = *Uuid::new_v4().as_bytes();
    let mut r = [0u8; 8];
    r.copy_from_slice(&bytes[..8]);
    Reference::generate(office_code, r)
}
