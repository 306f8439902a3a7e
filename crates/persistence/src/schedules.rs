//! Weekly schedules per office and service, office closures and the availability cut from them:
//! rows decoded into domain types when read, each admin change one transaction with its audit row.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use mawid_domain::appointment::{Cancellation, Refusal};
use mawid_domain::schedule::{
    closure, schedule_changed, Bookings, BookingsAffected, Calendar, DateRange, Open, Policy,
    Schedule, Slot, WeeklyTemplate,
};
use mawid_domain::text::Reason;
use serde::Deserialize;
use serde_json::json;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::appointments::{self, BookingError};
use crate::catalogue::{self, commit_audited, CatalogueError};
use crate::{corrupt_because, map_err, StoreError};

#[derive(Debug, Clone)]
pub struct ScheduleRow {
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub capacity: i32,
    pub reserved_capacity: i32,
    pub weekly: WeeklyTemplate,
    pub updated_at: DateTime<Utc>,
}

impl ScheduleRow {
    /// The desks citizens may book.
    pub fn public_capacity(&self) -> i32 {
        Schedule::public_capacity(self.capacity, self.reserved_capacity)
    }

    /// A copy of the decoded template, for a [`Calendar`] the caller keeps.
    pub fn template(&self) -> WeeklyTemplate {
        self.weekly.clone()
    }
}

/// The columns [`ScheduleRecord`] reads, written once for [`get`], [`of_office`] and the JSON
/// read of [`crate::offer`]: `schedule_columns!(m!(args))` is `m!(args "<columns>")`.
macro_rules! schedule_columns {
    ($($m:ident)::+ !($($args:tt)*)) => {
        $($m)::+!($($args)* "office_id, service_id, capacity, reserved_capacity, weekly, updated_at")
    };
}
pub(crate) use schedule_columns;

/// A schedule's columns as stored (also read as JSON by [`crate::offer`]).
#[derive(Deserialize)]
pub(crate) struct ScheduleRecord {
    office_id: Uuid,
    service_id: Uuid,
    capacity: i32,
    reserved_capacity: i32,
    weekly: serde_json::Value,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ScheduleRecord> for ScheduleRow {
    type Error = StoreError;

    fn try_from(r: ScheduleRecord) -> Result<Self, StoreError> {
        let bad = |why: String| corrupt_because("schedules.weekly", &r.weekly.to_string(), why);
        let raw = BTreeMap::<String, Vec<[String; 2]>>::deserialize(&r.weekly)
            .map_err(|e| bad(e.to_string()))?;
        let weekly = WeeklyTemplate::parse(&raw).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            office_id: r.office_id,
            service_id: r.service_id,
            capacity: r.capacity,
            reserved_capacity: r.reserved_capacity,
            weekly,
            updated_at: r.updated_at,
        })
    }
}

#[tracing::instrument(skip_all)]
pub async fn get(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<Option<ScheduleRow>, StoreError> {
    macro_rules! read {
        ($columns:literal) => {
            sqlx::query_as!(
                ScheduleRecord,
                "SELECT " + $columns + " FROM schedules WHERE office_id = $1 AND service_id = $2",
                office_id,
                service_id,
            )
        };
    }
    schedule_columns!(read!())
        .fetch_optional(ex)
        .await?
        .map(ScheduleRow::try_from)
        .transpose()
}

/// Every schedule of an office.
#[tracing::instrument(skip_all)]
pub(crate) async fn of_office(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
) -> Result<Vec<ScheduleRow>, StoreError> {
    macro_rules! read {
        ($columns:literal) => {
            sqlx::query_as!(
                ScheduleRecord,
                "SELECT " + $columns + " FROM schedules WHERE office_id = $1 ORDER BY service_id",
                office_id,
            )
        };
    }
    schedule_columns!(read!())
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(ScheduleRow::try_from)
        .collect()
}

#[tracing::instrument(skip_all)]
pub(crate) async fn upsert(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO schedules (office_id, service_id, capacity, weekly, updated_at, reserved_capacity)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (office_id, service_id) DO UPDATE SET capacity = $3, weekly = $4, updated_at = $5,
            reserved_capacity = $6",
        office_id,
        service_id,
        schedule.capacity,
        Json(schedule.template.to_map()) as _,
        now,
        schedule.reserved_capacity,
    )
    .execute(ex)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Why a closure or schedule change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Future bookings are hit and the admin did not say what becomes of them.
    #[error(transparent)]
    Affected(#[from] BookingsAffected),
    #[error(transparent)]
    Booking(#[from] BookingError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        Self::Booking(e.into())
    }
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        Self::Booking(e.into())
    }
}

/// A schedule as stored after a change, and the future bookings the change left off its grid.
pub struct PutSchedule {
    pub schedule: ScheduleRow,
    pub affected_bookings: usize,
    pub bookings: Bookings,
}

/// Sets the weekly template and capacity of one office and service. The future bookings the new
/// grid leaves out are never dropped silently: with `bookings` absent the change is refused
/// ([`Bookings::settle`]); `cancel` cancels each as staff would, mail included, in this
/// transaction; `keep` leaves them valid.
#[tracing::instrument(skip_all)]
pub async fn put_schedule(
    pool: &PgPool,
    actor_id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
    schedule: &Schedule,
    bookings: Option<Bookings>,
    now: DateTime<Utc>,
) -> Result<PutSchedule, ChangeError> {
    let mut tx = pool.begin().await?;
    let office = catalogue::office(&mut *tx, office_id).await?;
    let service = catalogue::service(&mut *tx, service_id).await?;
    upsert(&mut *tx, office_id, service_id, schedule, now).await?;
    let row = get(&mut *tx, office_id, service_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let booked = future_booked(&mut *tx, office_id, Some(service_id), now, None).await?;
    // Closed days are counted when a closure is added, not again here.
    let calendar = Calendar {
        tz: office.tz(),
        template: &schedule.template,
        capacity: schedule.capacity,
        closures: &BTreeSet::new(),
        policy: service.policy(),
    };
    let affected = calendar.affected(&booked);
    let choice = Bookings::settle(bookings, affected.len())?;
    cancel_all(
        &mut tx,
        &affected,
        choice,
        actor_id,
        &schedule_changed(),
        now,
    )
    .await?;
    let details = json!({
        "capacity": schedule.capacity,
        "reserved_capacity": schedule.reserved_capacity,
        "weekly": schedule.template.to_map(),
        "affected_bookings": affected.len(),
        "bookings": choice.code(),
    });
    let target = format!("{office_id}/{service_id}");
    commit_audited(tx, actor_id, "schedule.put", "schedule", target, details).await?;
    Ok(PutSchedule {
        schedule: row,
        affected_bookings: affected.len(),
        bookings: choice,
    })
}

/// With `cancel`, each of `ids` is cancelled by staff through the one cancellation path (desk,
/// reminder, mail with the calendar's CANCEL, audit row), inside the change's transaction.
async fn cancel_all(
    tx: &mut PgConnection,
    ids: &[Uuid],
    choice: Bookings,
    actor_id: Uuid,
    reason: &Reason,
    now: DateTime<Utc>,
) -> Result<(), ChangeError> {
    if choice != Bookings::Cancel {
        return Ok(());
    }
    let by_staff = Cancellation::Staff {
        actor_id,
        reason: reason.clone(),
    };
    for &id in ids {
        appointments::cancel_in(&mut *tx, id, &by_staff, now).await?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ClosureRow {
    pub day: NaiveDate,
    pub reason: String,
}

#[tracing::instrument(skip_all)]
async fn insert_closure(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
    reason: &str,
) -> Result<ClosureRow, StoreError> {
    sqlx::query_as!(
        ClosureRow,
        "INSERT INTO closures (office_id, day, reason) VALUES ($1, $2, $3) RETURNING day, reason",
        office_id,
        day,
        reason,
    )
    .fetch_one(ex)
    .await
    .map_err(map_err)
}

/// A closure as stored, and the future bookings it falls on.
pub struct AddedClosure {
    pub closure: ClosureRow,
    pub affected_bookings: usize,
    pub bookings: Bookings,
}

/// Closes the office on one of its local dates. The future bookings that day need the admin's
/// word ([`Bookings::settle`]): `cancel` cancels each with the closure's reason, mailed, in this
/// transaction; `keep` leaves them valid and flagged in the agenda.
#[tracing::instrument(skip_all)]
pub async fn add_closure(
    pool: &PgPool,
    actor_id: Uuid,
    office_id: Uuid,
    day: NaiveDate,
    reason: &Reason,
    bookings: Option<Bookings>,
    now: DateTime<Utc>,
) -> Result<AddedClosure, ChangeError> {
    let mut tx = pool.begin().await?;
    let office = catalogue::office(&mut *tx, office_id).await?;
    let added = insert_closure(&mut *tx, office.id, day, reason.as_str()).await?;
    let (lo, hi) = closure::utc_window(day);
    let booked = future_booked(&mut *tx, office.id, None, now.max(lo), Some(hi)).await?;
    let affected = closure::affected(office.tz(), day, &booked);
    let choice = Bookings::settle(bookings, affected.len())?;
    cancel_all(&mut tx, &affected, choice, actor_id, reason, now).await?;
    let details = json!({
        "date": added.day,
        "reason": added.reason,
        "affected_bookings": affected.len(),
        "bookings": choice.code(),
    });
    commit_audited(tx, actor_id, "closure.create", "office", office.id, details).await?;
    Ok(AddedClosure {
        closure: added,
        affected_bookings: affected.len(),
        bookings: choice,
    })
}

#[tracing::instrument(skip_all)]
async fn remove_closure(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
) -> Result<(), StoreError> {
    let done = sqlx::query!(
        "DELETE FROM closures WHERE office_id = $1 AND day = $2",
        office_id,
        day,
    )
    .execute(ex)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Reopens the office on `day`.
#[tracing::instrument(skip_all)]
pub async fn delete_closure(
    pool: &PgPool,
    actor_id: Uuid,
    office_id: Uuid,
    day: NaiveDate,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    remove_closure(&mut *tx, office_id, day).await?;
    let details = json!({ "date": day });
    commit_audited(tx, actor_id, "closure.delete", "office", office_id, details).await
}

#[tracing::instrument(skip_all)]
pub async fn closures(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ClosureRow>, StoreError> {
    Ok(sqlx::query_as!(
        ClosureRow,
        "SELECT day, reason FROM closures WHERE office_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
        office_id,
        from,
        to,
    )
    .fetch_all(ex)
    .await?)
}

/// The closures of an office between two optional local dates (open ends list everything).
#[tracing::instrument(skip_all)]
pub async fn list_closures(
    pool: &PgPool,
    office_id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<ClosureRow>, StoreError> {
    let mut conn = pool.acquire().await?;
    let office = catalogue::office(&mut *conn, office_id).await?;
    let (from, to) = closure::listing(from, to);
    closures(&mut *conn, office.id, from, to).await
}

pub async fn closed_days(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeSet<NaiveDate>, StoreError> {
    Ok(closures(ex, office_id, from, to)
        .await?
        .into_iter()
        .map(|c| c.day)
        .collect())
}

/// Places taken per slot start in `[from, to)` among desks `1..=desks` (the public ones) or,
/// for `desks` `None`, among all: every status but cancelled holds a desk (the same condition
/// as the `appointments_desk_key` index), and for the public so does a released desk in its
/// cool-down at `now` and, with `withhold_unsettled`, one the waitlist has not had yet.
#[tracing::instrument(skip_all)]
pub(crate) async fn taken(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    desks: Option<i32>,
    now: DateTime<Utc>,
    withhold_unsettled: bool,
) -> Result<HashMap<DateTime<Utc>, i64>, StoreError> {
    // One row of two arrays rather than a row per slot: a 60-day answer has some 800 slots
    // with places taken, and each row is a message to frame, decode and poll for.
    let taken = sqlx::query!(
        // Live appointments hold distinct desks (`appointments_desk_key`), so they are counted
        // per slot straight off that index; only the few released desks are compared with them.
        r#"SELECT COALESCE(array_agg(slot_start), '{}') AS "starts!",
                  COALESCE(array_agg(taken), '{}') AS "taken!"
           FROM (
             SELECT slot_start, sum(n)::bigint AS taken FROM (
               SELECT slot_start, count(*) AS n FROM appointments
               WHERE office_id = $1 AND service_id = $2 AND slot_start >= $3 AND slot_start < $4
                 AND status <> 'cancelled' AND ($6::int IS NULL OR desk_no <= $6)
               GROUP BY slot_start
               UNION ALL
               SELECT r.slot_start, count(DISTINCT r.desk_no) FROM desk_releases r
               WHERE r.office_id = $1 AND r.service_id = $2 AND r.slot_start >= $3
                 AND r.slot_start < $4 AND r.settled_at IS NULL AND (r.cooled_at > $5 OR $7)
                 AND r.desk_no <= $6
                 AND NOT EXISTS (SELECT 1 FROM appointments x
                                 WHERE x.office_id = $1 AND x.service_id = $2
                                   AND x.slot_start = r.slot_start AND x.desk_no = r.desk_no
                                   AND x.status <> 'cancelled')
               GROUP BY r.slot_start
             ) held
             GROUP BY slot_start
           ) per_slot"#,
        office_id,
        service_id,
        from,
        to,
        now,
        desks,
        withhold_unsettled,
    )
    .fetch_one(ex)
    .await?;
    Ok(taken.starts.into_iter().zip(taken.taken).collect())
}

/// Ids and starts of the `booked` appointments of an office (of one service, or of all) that
/// start after `after` (and before `before`): the bookings a schedule change or closure may
/// affect, in slot order so their cancellations lock rows in one order.
#[tracing::instrument(skip_all)]
async fn future_booked(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Option<Uuid>,
    after: DateTime<Utc>,
    before: Option<DateTime<Utc>>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
    Ok(sqlx::query!(
        "SELECT id, slot_start FROM appointments
         WHERE office_id = $1 AND ($2::uuid IS NULL OR service_id = $2) AND status = 'booked'
           AND slot_start > $3 AND ($4::timestamptz IS NULL OR slot_start < $4)
         ORDER BY slot_start, id",
        office_id,
        service_id,
        after,
        before,
    )
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(|r| (r.id, r.slot_start))
    .collect())
}

/// The free slots of one office and service between two local dates, in its zone.
pub struct Availability {
    pub timezone: Tz,
    pub slots: Vec<Slot>,
}

/// What the public availability of one office and service is cut from besides its bookings:
/// admin data that changes rarely, so a process may keep it for as long as it hears of every
/// change (the triggers of `availability_changes` notify [`CHANNEL`]).
#[derive(Debug, Clone)]
pub struct AvailabilityContext {
    pub office: catalogue::OfficeRow,
    pub service: catalogue::ServiceRow,
    pub schedule: ScheduleRow,
    /// Every closure of the office, whatever the range asked.
    pub closed: BTreeSet<NaiveDate>,
}

/// The channel the migration's triggers notify when an office, a service, a schedule or a
/// closure changes; the payload is `office_id:service_id`, with `*` for "every".
pub const CHANNEL: &str = "mawid_availability";

/// The office, service, schedule and closures availability needs, read together.
#[tracing::instrument(skip_all)]
pub async fn availability_context(
    pool: &PgPool,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<AvailabilityContext, CatalogueError> {
    let mut conn = pool.acquire().await?;
    let office = catalogue::office(&mut *conn, office_id).await?;
    let service = catalogue::service(&mut *conn, service_id).await?;
    let schedule = get(&mut *conn, office.id, service.id)
        .await?
        .ok_or(Refusal::NotOffered)?;
    let (from, to) = closure::listing(None, None);
    let closed = closed_days(&mut *conn, office.id, from, to).await?;
    Ok(AvailabilityContext {
        office,
        service,
        schedule,
        closed,
    })
}

#[tracing::instrument(skip_all)]
pub async fn availability(
    pool: &PgPool,
    office_id: Uuid,
    service_id: Uuid,
    range: DateRange,
    now: DateTime<Utc>,
) -> Result<Availability, CatalogueError> {
    let context = availability_context(pool, office_id, service_id).await?;
    availability_in(pool, &context, range, now).await
}

/// The free slots of `context` in `range`: one query, for the places taken.
#[tracing::instrument(skip_all)]
pub async fn availability_in(
    pool: &PgPool,
    context: &AvailabilityContext,
    range: DateRange,
    now: DateTime<Utc>,
) -> Result<Availability, CatalogueError> {
    Ok(Availability {
        timezone: context.office.tz(),
        slots: public_slots(pool, context, range, now, true).await?,
    })
}

/// The slots of `context` in `range` with a public desk free at `now`: the public desks, the
/// service's notice and advance, nothing while the office or the service is inactive. A released
/// desk counts as taken while it cools down and, with `withhold_unsettled` (the public's
/// calendar; not the waitlist's, which is what settles it), until the waitlist has had it.
pub(crate) async fn public_slots(
    ex: impl PgExecutor<'_>,
    context: &AvailabilityContext,
    range: DateRange,
    now: DateTime<Utc>,
    withhold_unsettled: bool,
) -> Result<Vec<Slot>, StoreError> {
    let AvailabilityContext {
        office,
        service,
        schedule,
        closed,
    } = context;
    let public = schedule.public_capacity();
    let taken = taken(
        ex,
        office.id,
        service.id,
        range.utc_window(),
        Some(public),
        now,
        withhold_unsettled,
    )
    .await?;
    let calendar = Calendar {
        tz: office.tz(),
        template: &schedule.weekly,
        capacity: public,
        closures: closed,
        policy: service.policy(),
    };
    let open = Open {
        office: office.active,
        service: service.active,
    };
    Ok(calendar.offered(open, range, &taken, now))
}

/// A slot as staff see it: every desk, the reserved ones apart.
#[derive(Debug, Clone, Copy)]
pub struct StaffSlot {
    pub slot: Slot,
    pub remaining_reserved: i64,
}

pub struct StaffAvailability {
    pub timezone: Tz,
    pub slots: Vec<StaffSlot>,
}

/// The free slots as staff may book them: all desks (those in their cool-down included), no
/// notice; `remaining_reserved` of each are the staff-only desks still free.
#[tracing::instrument(skip_all)]
pub async fn staff_availability(
    pool: &PgPool,
    office_id: Uuid,
    service_id: Uuid,
    range: DateRange,
    now: DateTime<Utc>,
) -> Result<StaffAvailability, CatalogueError> {
    let mut conn = pool.acquire().await?;
    let office = catalogue::office(&mut *conn, office_id).await?;
    let service = catalogue::service(&mut *conn, service_id).await?;
    let schedule = get(&mut *conn, office.id, service.id)
        .await?
        .ok_or(Refusal::NotOffered)?;
    let closed = closed_days(&mut *conn, office.id, range.from, range.to).await?;
    let window = range.utc_window();
    let all = taken(&mut *conn, office.id, service.id, window, None, now, false).await?;
    let public = schedule.public_capacity();
    let reserved_taken = sqlx::query!(
        r#"SELECT slot_start, count(*) AS "taken!" FROM appointments
         WHERE office_id = $1 AND service_id = $2 AND slot_start >= $3 AND slot_start < $4
           AND status <> 'cancelled' AND desk_no > $5
         GROUP BY slot_start"#,
        office.id,
        service.id,
        window.0,
        window.1,
        public,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.slot_start, r.taken))
    .collect::<HashMap<_, _>>();
    let calendar = Calendar {
        tz: office.tz(),
        template: &schedule.weekly,
        capacity: schedule.capacity,
        closures: &closed,
        policy: Policy {
            min_notice_hours: 0,
            ..service.policy()
        },
    };
    let open = Open {
        office: office.active,
        service: service.active,
    };
    let reserved = i64::from(schedule.reserved_capacity);
    let slots = calendar
        .offered(open, range, &all, now)
        .into_iter()
        .map(|slot| StaffSlot {
            slot,
            remaining_reserved: (reserved - reserved_taken.get(&slot.start).copied().unwrap_or(0))
                .max(0),
        })
        .collect();
    Ok(StaffAvailability {
        timezone: office.tz(),
        slots,
    })
}
