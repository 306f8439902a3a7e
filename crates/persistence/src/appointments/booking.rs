//! Booking and rescheduling: the rules of product.md checked under the booking locks, and the
//! one desk claim both go through.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use mawid_domain::appointment::{
    citizen_may_change, confirmation_window, confirmed_on_entry, reschedule_to, BookedApplicant,
    BookingFor, Holder, Holdings, Idempotency, Identity, Move, NoShowPolicy, Offer, Reference,
    Refusal, StaffBookingFor, Status, WalkIn,
};
use mawid_domain::mail::{at_office, Notification, Rescheduled};
use mawid_domain::schedule::{Calendar, Policy};
use mawid_domain::text::Reason;
use serde_json::json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use super::mail::{Mail, Recipient};
use super::{by_id, locked, withdraw_reminders, AppointmentRow, BookingError, WalkInContact};
use crate::catalogue::{OfficeRow, ServiceRow};
use crate::offer::CitizenSince;
use crate::schedules::ScheduleRow;
use crate::webhooks::Announcement;
use crate::{audit, offer, users, webhooks, StoreError};
use mawid_domain::webhook::Event;

pub struct NewBooking {
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub start: DateTime<Utc>,
    pub applicant: BookingFor,
    /// Set when the client sent an `Idempotency-Key`.
    pub idempotency: Option<Idempotency>,
    pub no_shows: NoShowPolicy,
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
    let booked = book_in(&mut tx, &b, Booker::Citizen).await?;
    tx.commit().await?;
    Ok(booked)
}

/// [`book`] in the caller's transaction, for a citizen or for their waitlist entry.
pub(crate) async fn book_in(
    tx: &mut PgConnection,
    b: &NewBooking,
    by: Booker,
) -> Result<Booked, BookingError> {
    // Serialises one citizen's bookings: the fair-use counts and the idempotency key below are
    // read and written by one request at a time. The account and the offer come in one read
    // after the lock; the offer's refusals still come in their turn, after the account's.
    lock_citizen(&mut *tx, b.citizen_id).await?;
    let since = CitizenSince {
        id: b.citizen_id,
        since: b.no_shows.lookback(b.now),
    };
    let mut offer =
        offer::for_slot(&mut *tx, b.office_id, b.service_id, b.start, Some(since)).await?;
    let citizen = citizen_of(offer.citizen.take(), b.no_shows)?;
    let user = &citizen.user;
    let own_identity = user.identity();
    let holder = Holder {
        full_name: &user.full_name,
        email_verified: user.email_verified_at.is_some(),
        identity: own_identity.as_ref(),
    };
    holder.may_book()?;
    if let Some(key) = &b.idempotency {
        if let Some(first) = replayed(&mut *tx, b.citizen_id, key).await? {
            return Ok(Booked::Replayed(Box::new(first)));
        }
    }

    citizen.not_suspended(b.now)?;
    let ctx = context_of(offer)?;
    let end = check_slot(&ctx, b.start, b.now, by)?;
    let applicant = b.applicant.applicant(&holder)?;
    let key = format!("{}:{}", b.service_id, applicant.identity.key());
    lock(&mut *tx, LOCK_IDENTITY, &key).await?;
    holdings(
        &mut *tx,
        Some(b.citizen_id),
        b.service_id,
        &applicant.identity,
        b.now,
    )
    .await?
    .check()?;

    let id = Uuid::new_v4();
    let row = NewRow {
        id,
        holder: RowHolder::Citizen(b.citizen_id),
        office_code: &ctx.office.code,
        applicant: &applicant,
        by_staff: None,
        now: b.now,
    };
    let target = ctx.target(b.start, end, b.now, by);
    let appointment = book_desk(&mut *tx, &target, &row, &ctx).await?;
    let to = Recipient::of_user(user);
    let mail = Mail {
        to: &to,
        office: &ctx.office,
        service: &ctx.service,
    };
    let mut confirmation = mail.appointment(&appointment);
    confirmation.from_waitlist = by == Booker::Waitlist;
    let booked = Notification::AppointmentBooked(confirmation);
    let data = webhooks::appointment_data(&appointment, None);
    let announcement = Announcement::new(Event::AppointmentBooked, data, b.now);
    mail.send_with_reminder(&mut *tx, booked, &appointment, b.now, &announcement)
        .await?;
    if let Some(key) = &b.idempotency {
        remember(&mut *tx, b.citizen_id, key, id, b.now).await?;
    }
    Ok(Booked::Created(Box::new(appointment)))
}

/// A booking by staff for a citizen's account or a walk-in without one: an urgent case, a
/// phone call, someone at the counter.
pub struct StaffBooking {
    pub actor_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub start: DateTime<Utc>,
    pub applicant: StaffBookingFor,
    pub reason: Reason,
    pub now: DateTime<Utc>,
}

/// The audit action of a staff booking.
pub const STAFF_BOOK_ACTION: &str = "appointment.book_by_staff";

/// Books by staff: reserved desks and desks in their cool-down may be used and the notice is
/// not required; the grid, closures, capacity and the per-identity cap hold (a walk-in's
/// number counts against the same cap as a citizen's). Audited with the reason; the citizen,
/// or the walk-in who left an email, gets the usual mails.
#[tracing::instrument(skip_all)]
pub async fn book_by_staff(pool: &PgPool, b: StaffBooking) -> Result<AppointmentRow, BookingError> {
    let mut tx = pool.begin().await?;
    let (holder, applicant, to) = match &b.applicant {
        StaffBookingFor::Citizen {
            citizen_id,
            applicant,
        } => {
            let user = users::by_id(&mut *tx, *citizen_id)
                .await?
                .filter(|u| u.role == mawid_domain::account::Role::Citizen)
                .ok_or(BookingError::Unknown("citizen_id"))?;
            let own_identity = user.identity();
            let holder = Holder {
                full_name: &user.full_name,
                email_verified: user.email_verified_at.is_some(),
                identity: own_identity.as_ref(),
            };
            lock(&mut tx, LOCK_CITIZEN, &citizen_id.to_string()).await?;
            let applicant = applicant.applicant(&holder)?;
            (
                RowHolder::Citizen(*citizen_id),
                applicant,
                Some(Recipient::of_user(&user)),
            )
        }
        StaffBookingFor::WalkIn(w) => (
            RowHolder::WalkIn(w),
            w.applicant.clone(),
            Recipient::walk_in(
                w.email.as_ref().map(|e| e.as_str()),
                &w.applicant.full_name,
                w.language,
            ),
        ),
    };
    let ctx = context(&mut tx, b.office_id, b.service_id, b.start).await?;
    let end = check_slot(&ctx, b.start, b.now, Booker::Staff)?;
    let key = format!("{}:{}", b.service_id, applicant.identity.key());
    lock(&mut tx, LOCK_IDENTITY, &key).await?;
    holdings(
        &mut tx,
        holder.citizen_id(),
        b.service_id,
        &applicant.identity,
        b.now,
    )
    .await?
    .check_identity()?;
    let id = Uuid::new_v4();
    let row = NewRow {
        id,
        holder,
        office_code: &ctx.office.code,
        applicant: &applicant,
        by_staff: Some((b.actor_id, b.reason.as_str())),
        now: b.now,
    };
    let target = ctx.target(b.start, end, b.now, Booker::Staff);
    let appointment = book_desk(&mut tx, &target, &row, &ctx).await?;
    let data = webhooks::appointment_data(&appointment, None);
    let announcement = Announcement::new(Event::AppointmentBooked, data, b.now);
    match &to {
        Some(to) => {
            let mail = Mail {
                to,
                office: &ctx.office,
                service: &ctx.service,
            };
            let booked = Notification::AppointmentBooked(mail.appointment(&appointment));
            mail.send_with_reminder(&mut tx, booked, &appointment, b.now, &announcement)
                .await?;
        }
        None => webhooks::announce(&mut tx, &announcement).await?,
    }
    audit::record(
        &mut *tx,
        audit::Entry {
            actor_id: b.actor_id,
            action: STAFF_BOOK_ACTION,
            target_type: "appointment",
            target_id: id.to_string(),
            details: json!({
                "citizen_id": appointment.citizen_id,
                "walk_in": appointment.citizen_id.is_none(),
                "start": appointment.local(appointment.slot_start),
                "reason": b.reason.as_str(),
            }),
        },
    )
    .await?;
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
    let moved = reschedule_in(&mut tx, id, citizen_id, start, now, Booker::Citizen).await?;
    tx.commit().await?;
    Ok(moved)
}

/// [`reschedule`] in the caller's transaction, for a citizen or for their "earlier slot"
/// waitlist entry.
pub(crate) async fn reschedule_in(
    tx: &mut PgConnection,
    id: Uuid,
    citizen_id: Uuid,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    by: Booker,
) -> Result<AppointmentRow, BookingError> {
    lock(&mut *tx, LOCK_CITIZEN, &citizen_id.to_string()).await?;
    let current = locked(&mut *tx, id, Some(citizen_id)).await?;
    citizen_may_change(current.status, Status::Booked, current.slot_start, now)?;
    let ctx = context(&mut *tx, current.office_id, current.service_id, start).await?;
    reschedule_to(Move {
        status: current.status,
        current_start: current.slot_start,
        target_start: start,
        reschedules: current.reschedules,
        max_reschedules: ctx.service.fair.max_reschedules,
    })?;
    let end = check_slot(&ctx, start, now, by)?;
    let target = ctx.target(start, end, now, by);
    move_desk(&mut *tx, &target, id, now).await?;
    let appointment = by_id(&mut *tx, id).await?;
    withdraw_reminders(&mut *tx, id).await?;
    let user = users::by_id(&mut *tx, citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let to = Recipient::of_user(&user);
    let mail = Mail {
        to: &to,
        office: &ctx.office,
        service: &ctx.service,
    };
    let rescheduled = Rescheduled {
        full_name: user.full_name.clone(),
        appointment: mail.summary(&appointment),
        previous_start: at_office(current.timezone, current.slot_start),
    };
    let rescheduled = Notification::AppointmentRescheduled(rescheduled);
    let data = webhooks::appointment_data(&appointment, Some(current.slot_start));
    let announcement = Announcement::new(Event::AppointmentRescheduled, data, now);
    mail.send_with_reminder(&mut *tx, rescheduled, &appointment, now, &announcement)
        .await?;
    Ok(appointment)
}

/// Lock classes for `pg_advisory_xact_lock(class, key)`.
const LOCK_CITIZEN: i32 = 1;
const LOCK_IDENTITY: i32 = 2;

/// A citizen's account read under the citizen's lock, with the no-shows the suspension counts.
pub(crate) struct LockedCitizen {
    pub user: users::UserRow,
    no_shows: Vec<DateTime<Utc>>,
    policy: NoShowPolicy,
}

impl LockedCitizen {
    /// Refuses a citizen under the no-show suspension.
    pub(crate) fn not_suspended(&self, now: DateTime<Utc>) -> Result<(), BookingError> {
        Ok(self.policy.check(&self.no_shows, now)?)
    }
}

/// The citizen's account, read under the citizen's lock. The erasure of an account takes the
/// same lock, so a booking or waitlist entry racing it either ends first (and the erasure
/// withdraws it) or waits and finds the account closed: nothing new survives the erasure.
#[tracing::instrument(skip_all)]
pub(crate) async fn locked_citizen(
    conn: &mut PgConnection,
    citizen_id: Uuid,
    policy: NoShowPolicy,
    now: DateTime<Utc>,
) -> Result<LockedCitizen, StoreError> {
    lock_citizen(&mut *conn, citizen_id).await?;
    let found = users::with_no_shows(&mut *conn, citizen_id, policy.lookback(now)).await?;
    citizen_of(found, policy)
}

/// The citizen read after their lock: an account that exists and is not deactivated.
fn citizen_of(
    found: Option<users::WithNoShows>,
    policy: NoShowPolicy,
) -> Result<LockedCitizen, StoreError> {
    let (user, no_shows) = found.ok_or(StoreError::NotFound)?;
    if user.deactivated_at.is_some() {
        return Err(StoreError::Conflict(mawid_domain::Code::AccountDeactivated));
    }
    Ok(LockedCitizen {
        user,
        no_shows,
        policy,
    })
}

pub(crate) async fn lock_citizen(
    conn: &mut PgConnection,
    citizen_id: Uuid,
) -> Result<(), sqlx::Error> {
    lock(conn, LOCK_CITIZEN, &citizen_id.to_string()).await
}

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
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // The booking's clock, not the database's: the retention purge counts from it.
    sqlx::query!(
        "INSERT INTO idempotency_keys (citizen_id, key, request_hash, appointment_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        citizen_id,
        key.key.as_str(),
        key.request_hash,
        appointment_id,
        now
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// The future `booked` appointments the fair-use limits count. Without a citizen (a walk-in)
/// only the per-identity counts are non-zero.
#[tracing::instrument(skip_all)]
async fn holdings(
    conn: &mut PgConnection,
    citizen_id: Option<Uuid>,
    service_id: Uuid,
    identity: &Identity,
    now: DateTime<Utc>,
) -> Result<Holdings, sqlx::Error> {
    let h = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE citizen_id = $1) AS "citizen_total!",
                count(*) FILTER (WHERE citizen_id = $1 AND service_id = $2)
                    AS "citizen_same_service!",
                count(*) FILTER (WHERE service_id = $2
                                   AND (passport_number = $3 OR national_number = $5))
                    AS "passport_same_service!"
         FROM appointments
         WHERE status = 'booked' AND slot_start > $4
           AND (citizen_id = $1
                OR (service_id = $2 AND (passport_number = $3 OR national_number = $5)))"#,
        citizen_id,
        service_id,
        identity.passport(),
        now,
        identity.national()
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
    /// The office's closed days around the slot.
    closed: BTreeSet<NaiveDate>,
}

impl Context {
    /// The slot as `by` claims it: a citizen only the public desks not in their cool-down,
    /// staff any desk, the reserved ones first.
    fn target(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
        by: Booker,
    ) -> Target {
        let staff = by == Booker::Staff;
        let fair = &self.service.fair;
        let window = confirmation_window(
            start,
            fair.confirmation_required,
            fair.confirm_from_hours,
            fair.confirm_until_hours,
        );
        Target {
            office_id: self.office.id,
            service_id: self.service.id,
            start,
            end,
            capacity: if staff {
                self.schedule.capacity
            } else {
                self.schedule.public_capacity()
            },
            cooling_at: (!staff).then_some(now),
            unsettled: by == Booker::Citizen,
            staff,
            confirmed_at: confirmed_on_entry(window, now),
        }
    }
}

/// The office, service and schedule a booking names, if the catalogue offers it, and the
/// office's closures around `start`: one read.
async fn context(
    conn: &mut PgConnection,
    office_id: Uuid,
    service_id: Uuid,
    start: DateTime<Utc>,
) -> Result<Context, BookingError> {
    context_of(offer::for_slot(&mut *conn, office_id, service_id, start, None).await?)
}

/// The parts of an offer the slot needs, each refused in turn when missing or inactive.
fn context_of(offer: offer::Offer) -> Result<Context, BookingError> {
    Offer {
        office_active: offer.office.as_ref().map(|o| o.active),
        service_active: offer.service.as_ref().map(|s| s.active),
        scheduled: offer.schedule.is_some(),
    }
    .check()?;
    let (Some(office), Some(service), Some(schedule)) =
        (offer.office, offer.service, offer.schedule)
    else {
        // `check` refused every missing part already.
        return Err(Refusal::NotOffered.into());
    };
    Ok(Context {
        office,
        service,
        schedule,
        closed: offer.closed,
    })
}

/// Who claims a desk: a citizen (public desks, notice, a released desk only once the waitlist
/// had it), a waitlist entry (the same, but a released desk as soon as it cooled down) or staff
/// (any desk, no notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Booker {
    Citizen,
    Waitlist,
    Staff,
}

/// Checks `start` against the grid, closures, notice (not for staff) and advance of `ctx`;
/// returns the end.
fn check_slot(
    ctx: &Context,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    by: Booker,
) -> Result<DateTime<Utc>, BookingError> {
    let cal = Calendar {
        tz: ctx.office.tz(),
        template: &ctx.schedule.weekly,
        capacity: ctx.schedule.capacity,
        closures: &ctx.closed,
        policy: match by {
            Booker::Citizen | Booker::Waitlist => ctx.service.policy(),
            Booker::Staff => Policy {
                min_notice_hours: 0,
                ..ctx.service.policy()
            },
        },
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
    /// For a citizen's claim, the moment whose cooling desks are skipped; `None` for staff and
    /// the waitlist, who may take a desk in its cool-down.
    cooling_at: Option<DateTime<Utc>>,
    /// A citizen also waits until the waitlist had the cooled desk (`settled_at`).
    unsettled: bool,
    /// Staff take the highest free desk (the reserved ones) first.
    staff: bool,
    /// The confirmation the appointment carries on entering the slot (`confirmed_on_entry`).
    confirmed_at: Option<DateTime<Utc>>,
}

/// Whom a new row is for: an account, or a walk-in and their contact.
enum RowHolder<'a> {
    Citizen(Uuid),
    WalkIn(&'a WalkIn),
}

impl RowHolder<'_> {
    fn citizen_id(&self) -> Option<Uuid> {
        match self {
            Self::Citizen(id) => Some(*id),
            Self::WalkIn(_) => None,
        }
    }

    fn walk_in(&self) -> Option<&WalkIn> {
        match self {
            Self::Citizen(_) => None,
            Self::WalkIn(w) => Some(w),
        }
    }
}

struct NewRow<'a> {
    id: Uuid,
    holder: RowHolder<'a>,
    office_code: &'a str,
    applicant: &'a BookedApplicant,
    /// The staff member who booked, and why.
    by_staff: Option<(Uuid, &'a str)>,
    now: DateTime<Utc>,
}

impl NewRow<'_> {
    /// The appointment as the booking's insert wrote it at `slot`. Instants are cut to the
    /// microsecond, as PostgreSQL stores them, so the answer is what a later read returns.
    fn inserted(&self, reference: Reference, slot: &Target, ctx: &Context) -> AppointmentRow {
        let stored = |t: DateTime<Utc>| t.trunc_subsecs(6);
        let fair = &ctx.service.fair;
        AppointmentRow {
            id: self.id,
            reference: reference.as_str().to_owned(),
            citizen_id: self.holder.citizen_id(),
            walk_in: self.holder.walk_in().map(|w| WalkInContact {
                phone: w.phone.as_ref().map(|p| p.as_str().to_owned()),
                email: w.email.as_ref().map(|e| e.as_str().to_owned()),
                language: w.language,
            }),
            office_id: slot.office_id,
            service_id: slot.service_id,
            slot_start: stored(slot.start),
            slot_end: stored(slot.end),
            applicant_name: self.applicant.full_name.clone(),
            applicant_relation: self.applicant.relation,
            passport_number: self.applicant.identity.passport().map(str::to_owned),
            national_number: self.applicant.identity.national().map(str::to_owned),
            status: Status::Booked,
            sequence: 0,
            reschedules: 0,
            cancelled_by: None,
            cancel_reason: None,
            created_at: stored(self.now),
            confirmed_at: slot.confirmed_at.map(stored),
            confirmation: confirmation_window(
                slot.start,
                fair.confirmation_required,
                fair.confirm_from_hours,
                fair.confirm_until_hours,
            ),
            office_code: self.office_code.to_owned(),
            timezone: ctx.office.timezone,
            service_code: ctx.service.code.as_str().to_owned(),
            service_name_ar: ctx.service.name.ar.clone(),
            service_name_ru: ctx.service.name.ru.clone(),
            service_name_en: ctx.service.name.en.clone(),
        }
    }
}

/// Claims the lowest free desk of the slot, for booking and rescheduling alike. The free desk is
/// read, then written; a concurrent claim of the same desk makes the write wait for the other
/// transaction and then find the desk taken (`appointments_desk_key`), and the next attempt
/// reads again. Each failed attempt means one more desk held by a committed booking, so
/// `capacity` attempts suffice.
async fn claim_desk<T>(
    slot: &Target,
    mut attempt: impl AsyncFnMut() -> Result<Attempt<T>, sqlx::Error>,
) -> Result<T, BookingError> {
    for _ in 0..slot.capacity {
        match attempt().await? {
            Attempt::Held(held) => return Ok(held),
            Attempt::Full => break,
            Attempt::Taken => {}
        }
    }
    Err(Refusal::SlotFull.into())
}

/// Books `row` at a free desk of the slot. The answer is the row as inserted, built from what
/// the statement wrote rather than read back: a round trip less per booking.
async fn book_desk(
    conn: &mut PgConnection,
    slot: &Target,
    row: &NewRow<'_>,
    ctx: &Context,
) -> Result<AppointmentRow, BookingError> {
    let reference = claim_desk(slot, async || {
        insert_at_free_desk(&mut *conn, slot, row, new_reference(row.office_code)).await
    })
    .await?;
    Ok(row.inserted(reference, slot, ctx))
}

/// Moves the booked appointment `id` to a free desk of the slot.
async fn move_desk(
    conn: &mut PgConnection,
    slot: &Target,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    claim_desk(slot, async || {
        Ok(match free_desk(&mut *conn, slot).await? {
            None => Attempt::Full,
            Some(desk) if move_to(&mut *conn, slot, desk, id, now).await? => Attempt::Held(()),
            Some(_) => Attempt::Taken,
        })
    })
    .await
}

/// One try at a desk.
enum Attempt<T> {
    /// The desk is ours, with what the claim wrote.
    Held(T),
    /// No desk was free.
    Full,
    /// The free desk read was taken by a concurrent claim before the write.
    Taken,
}

/// The lowest desk of the slot the claim may take (the `free_desk` function of the database).
#[tracing::instrument(skip_all)]
async fn free_desk(conn: &mut PgConnection, slot: &Target) -> Result<Option<i32>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT free_desk($1, $2, $3, $4, $5, $6, $7)",
        slot.office_id,
        slot.service_id,
        slot.start,
        slot.capacity,
        slot.cooling_at,
        slot.staff,
        slot.unsettled
    )
    .fetch_one(conn)
    .await
}

/// Records that the appointment's desk is being freed (a cancellation by anyone, or a
/// reschedule away), before the change that frees it: for the service's
/// `release_cooldown_minutes` citizens cannot take it, then the waitlist has it first. Every
/// path that frees a desk goes through here.
#[tracing::instrument(skip_all)]
pub(crate) async fn release_desk(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO desk_releases (office_id, service_id, slot_start, desk_no, released_at,
            cooled_at)
         SELECT a.office_id, a.service_id, a.slot_start, a.desk_no, $2::timestamptz,
                $2::timestamptz + make_interval(mins => s.release_cooldown_minutes)
         FROM appointments a JOIN services s ON s.id = a.service_id
         WHERE a.id = $1 AND a.status <> 'cancelled' AND a.slot_start > $2
           AND s.release_cooldown_minutes > 0",
        appointment_id,
        now
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Inserts the booking at the lowest free desk, read in the same statement (a round trip less
/// per booking); `Taken` when that desk (or, rarely, the random reference) was taken meanwhile.
#[tracing::instrument(skip_all)]
async fn insert_at_free_desk(
    conn: &mut PgConnection,
    slot: &Target,
    row: &NewRow<'_>,
    reference: Reference,
) -> Result<Attempt<Reference>, sqlx::Error> {
    let walk_in = row.holder.walk_in();
    let r = sqlx::query!(
        r#"WITH free AS (
             SELECT free_desk($1, $2, $3, $4, $5, $6, $7) AS d
           ), inserted AS (
             INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start,
                slot_end, desk_no, applicant_name, applicant_relation, passport_number,
                national_number, status, sequence, created_at, updated_at, booked_by,
                booking_reason, confirmed_at, walk_in_phone, walk_in_email, walk_in_language)
             SELECT $8, $9, $10, $1, $2, $3, $11, free.d, $12, $13, $14, $15, $16, 0, $17, $17,
                $18, $19, $20, $21, $22, $23
             FROM free WHERE free.d IS NOT NULL
             ON CONFLICT DO NOTHING
             RETURNING id
           )
           SELECT EXISTS (SELECT 1 FROM free WHERE d IS NOT NULL) AS "free!",
                  EXISTS (SELECT 1 FROM inserted) AS "inserted!""#,
        slot.office_id,
        slot.service_id,
        slot.start,
        slot.capacity,
        slot.cooling_at,
        slot.staff,
        slot.unsettled,
        row.id,
        reference.as_str(),
        row.holder.citizen_id(),
        slot.end,
        row.applicant.full_name,
        row.applicant.relation.code(),
        row.applicant.identity.passport(),
        row.applicant.identity.national(),
        Status::Booked.code(),
        row.now,
        row.by_staff.map(|(actor, _)| actor),
        row.by_staff.map(|(_, reason)| reason),
        slot.confirmed_at,
        walk_in.and_then(|w| w.phone.as_ref()).map(|p| p.as_str()),
        walk_in.and_then(|w| w.email.as_ref()).map(|e| e.as_str()),
        walk_in.map(|w| w.language.code())
    )
    .fetch_one(conn)
    .await?;
    Ok(match (r.free, r.inserted) {
        (_, true) => Attempt::Held(reference),
        (false, false) => Attempt::Full,
        (true, false) => Attempt::Taken,
    })
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
    // a savepoint, so it does not abort the whole transaction. A confirmation, and the request
    // for one, were for the old slot: the new one decides both afresh.
    let mut sp = sqlx::Connection::begin(&mut *conn).await?;
    release_desk(&mut sp, id, now).await?;
    let moved = sqlx::query!(
        "UPDATE appointments SET slot_start = $2, slot_end = $3, desk_no = $4,
            sequence = sequence + 1, reschedules = reschedules + 1, updated_at = $5,
            confirmed_at = $6, confirmation_requested_at = NULL
         WHERE id = $1",
        id,
        slot.start,
        slot.end,
        desk,
        now,
        slot.confirmed_at
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
