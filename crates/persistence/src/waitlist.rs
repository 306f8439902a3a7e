//! The waitlist: joining, listing and leaving, and the assignment pass every server process
//! runs in the background. An entry is claimed with `FOR UPDATE SKIP LOCKED`, so two processes
//! never serve one entry; a desk is claimed through the ordinary booking, whose unique desk
//! index lets no slot go to two entries.

use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::account::FullName;
use mawid_domain::appointment::{
    Applicant, BookingFor, Holder, Identity, NoShowPolicy, Refusal, Relation,
};
use mawid_domain::schedule::{local_date, DateRange};
use mawid_domain::waitlist::{check_range, earlier, Status};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::appointments::booking::{self, Booker};
use crate::appointments::{BookingError, NewBooking};
use crate::schedules::{self, AvailabilityContext};
use crate::{catalogue, corrupt, decode_timezone, map_err, StoreError};

/// An entry with its office's zone, enum columns decoded.
#[derive(Clone)]
pub struct EntryRow {
    pub id: Uuid,
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `None` for the citizen themself: the profile's name.
    pub applicant_name: Option<String>,
    pub applicant_relation: Relation,
    pub passport_number: Option<String>,
    pub national_number: Option<String>,
    pub current_appointment_id: Option<Uuid>,
    pub status: Status,
    pub appointment_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub timezone: chrono_tz::Tz,
}

impl std::fmt::Debug for EntryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryRow")
            .field("id", &self.id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

struct Stored {
    id: Uuid,
    citizen_id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
    from_date: NaiveDate,
    to_date: NaiveDate,
    applicant_name: Option<String>,
    applicant_relation: String,
    passport_number: Option<String>,
    national_number: Option<String>,
    current_appointment_id: Option<Uuid>,
    status: String,
    appointment_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    timezone: String,
}

impl TryFrom<Stored> for EntryRow {
    type Error = sqlx::Error;

    fn try_from(s: Stored) -> Result<Self, sqlx::Error> {
        Ok(Self {
            status: Status::parse(&s.status)
                .ok_or_else(|| corrupt("waitlist_entries.status", &s.status))?,
            applicant_relation: Relation::parse(&s.applicant_relation).map_err(|_| {
                corrupt("waitlist_entries.applicant_relation", &s.applicant_relation)
            })?,
            timezone: decode_timezone("offices.timezone", &s.timezone)?,
            id: s.id,
            citizen_id: s.citizen_id,
            office_id: s.office_id,
            service_id: s.service_id,
            from: s.from_date,
            to: s.to_date,
            applicant_name: s.applicant_name,
            passport_number: s.passport_number,
            national_number: s.national_number,
            current_appointment_id: s.current_appointment_id,
            appointment_id: s.appointment_id,
            created_at: s.created_at,
        })
    }
}

impl EntryRow {
    /// Whom the entry books for, as a booking request would name them.
    fn booking_for(&self) -> Result<BookingFor, sqlx::Error> {
        let identity = Identity::stored(
            self.passport_number.as_deref(),
            self.national_number.as_deref(),
        )
        .ok_or_else(|| corrupt("waitlist_entries.passport_number", "NULL"))?;
        Ok(match &self.applicant_name {
            None => BookingFor::Holder {
                identity: Some(identity),
            },
            Some(name) => BookingFor::Named(Applicant {
                full_name: FullName::parse("applicant.full_name", name)
                    .map_err(|_| corrupt("waitlist_entries.applicant_name", "…"))?,
                relation: self.applicant_relation,
                identity,
            }),
        })
    }
}

macro_rules! select_entries {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Stored,
            "SELECT w.id, w.citizen_id, w.office_id, w.service_id, w.from_date, w.to_date,
                w.applicant_name, w.applicant_relation, w.passport_number, w.national_number,
                w.current_appointment_id, w.status, w.appointment_id, w.created_at, o.timezone
             FROM waitlist_entries w JOIN offices o ON o.id = w.office_id "
                + $tail
            $(, $arg)*
        )
    };
}

pub struct NewEntry {
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub range: DateRange,
    pub applicant: BookingFor,
    pub no_shows: NoShowPolicy,
    pub now: DateTime<Utc>,
}

/// Joins the waitlist: a verified citizen, not suspended, for a service the office offers, from
/// today on; one waiting entry per citizen, office and service and one per identity and service
/// (`already_waitlisted`, from the unique indexes). An applicant who already holds a future
/// booking for the service asks for an earlier slot than it.
#[tracing::instrument(skip_all)]
pub async fn join(pool: &PgPool, e: NewEntry) -> Result<EntryRow, BookingError> {
    let mut tx = pool.begin().await?;
    let citizen = booking::locked_citizen(&mut tx, e.citizen_id, e.no_shows, e.now).await?;
    let user = &citizen.user;
    let own = user.identity();
    let holder = Holder {
        full_name: &user.full_name,
        email_verified: user.email_verified_at.is_some(),
        identity: own.as_ref(),
    };
    holder.may_book()?;
    citizen.not_suspended(e.now)?;
    let office = catalogue::office(&mut *tx, e.office_id)
        .await
        .map_err(|_| BookingError::Unknown("office_id"))?;
    catalogue::service(&mut *tx, e.service_id)
        .await
        .map_err(|_| BookingError::Unknown("service_id"))?;
    schedules::get(&mut *tx, e.office_id, e.service_id)
        .await?
        .ok_or(Refusal::NotOffered)?;
    let applicant = e.applicant.applicant(&holder)?;
    let held = sqlx::query!(
        "SELECT id, citizen_id, slot_start FROM appointments
         WHERE service_id = $1 AND status = 'booked' AND slot_start > $2
           AND (passport_number = $3 OR national_number = $4)
         ORDER BY slot_start LIMIT 1",
        e.service_id,
        e.now,
        applicant.identity.passport(),
        applicant.identity.national(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    // Held by another account, or by a walk-in under the same number.
    if held
        .as_ref()
        .is_some_and(|h| h.citizen_id != Some(e.citizen_id))
    {
        return Err(Refusal::PassportLimit.into());
    }
    let tz = office.tz();
    let range = check_range(
        e.range,
        local_date(tz, e.now),
        held.as_ref().map(|h| local_date(tz, h.slot_start)),
    )?;
    let id = Uuid::new_v4();
    let named = matches!(e.applicant, BookingFor::Named(_));
    sqlx::query!(
        "INSERT INTO waitlist_entries (id, citizen_id, office_id, service_id, from_date, to_date,
            applicant_name, applicant_relation, passport_number, national_number, identity_key,
            current_appointment_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
        id,
        e.citizen_id,
        e.office_id,
        e.service_id,
        range.from,
        range.to,
        named.then_some(applicant.full_name.as_str()),
        applicant.relation.code(),
        applicant.identity.passport(),
        applicant.identity.national(),
        applicant.identity.key(),
        held.map(|h| h.id),
        e.now,
    )
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    let row = by_id(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

async fn by_id(ex: impl PgExecutor<'_>, id: Uuid) -> Result<EntryRow, StoreError> {
    let s = select_entries!("WHERE w.id = $1", id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(s.try_into()?)
}

#[tracing::instrument(skip_all)]
pub async fn list_own(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
) -> Result<Vec<EntryRow>, StoreError> {
    select_entries!(
        "WHERE w.citizen_id = $1 ORDER BY w.created_at DESC, w.position DESC",
        citizen_id
    )
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(|s| Ok(EntryRow::try_from(s)?))
    .collect()
}

/// Leaves a waiting entry of one's own; anyone else's, or one no longer waiting, is `NotFound`.
#[tracing::instrument(skip_all)]
pub async fn leave(
    pool: &PgPool,
    citizen_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let left = sqlx::query!(
        "UPDATE waitlist_entries SET status = 'left', updated_at = $3
         WHERE id = $1 AND citizen_id = $2 AND status = 'waiting'",
        id,
        citizen_id,
        now
    )
    .execute(pool)
    .await?;
    if left.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// What one assignment pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Confirmation requests queued because a booking's window opened.
    pub requested: u64,
    /// Bookings cancelled because their confirmation window closed unconfirmed.
    pub released: u64,
    pub fulfilled: usize,
    pub expired: u64,
    pub settled: u64,
}

impl Pass {
    /// Whether the pass booked, released or handed over a desk: availability changed.
    pub fn moved_desks(&self) -> bool {
        self.released > 0 || self.fulfilled > 0 || self.settled > 0
    }
}

/// One assignment pass at `now`: asks for the confirmations whose window opened, releases the
/// bookings left unconfirmed at their window's end
/// (their desks start cooling like any other), expires entries whose range has passed, serves
/// waiting entries oldest first (each in its own transaction, claimed with `SKIP LOCKED`),
/// then hands the released desks whose cool-down ended to the public. Safe to run in any number of processes
/// at once.
#[tracing::instrument(skip_all)]
pub async fn run_pass(
    pool: &PgPool,
    now: DateTime<Utc>,
    no_shows: NoShowPolicy,
) -> Result<Pass, StoreError> {
    let requested = crate::appointments::lifecycle::request_confirmations(pool, now).await?;
    let released = crate::appointments::lifecycle::release_unconfirmed(pool, now).await?;
    let expired = sqlx::query!(
        "UPDATE waitlist_entries w SET status = 'expired', updated_at = $1
         FROM offices o
         WHERE o.id = w.office_id AND w.status = 'waiting'
           AND w.to_date < ($1 AT TIME ZONE o.timezone)::date",
        now
    )
    .execute(pool)
    .await?
    .rows_affected();

    let mut pass = Pass {
        requested,
        released,
        expired,
        ..Pass::default()
    };
    let mut passed_over: Vec<Uuid> = Vec::new();
    loop {
        let mut tx = pool.begin().await?;
        let next = select_entries!(
            "WHERE w.status = 'waiting' AND w.id <> ALL($1)
             ORDER BY w.created_at, w.position LIMIT 1 FOR UPDATE OF w SKIP LOCKED",
            &passed_over[..]
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(entry) = next else {
            break;
        };
        let entry = EntryRow::try_from(entry)?;
        match serve(&mut tx, &entry, now, no_shows).await? {
            Some(appointment_id) => {
                sqlx::query!(
                    "UPDATE waitlist_entries SET status = 'fulfilled', appointment_id = $2,
                        updated_at = $3
                     WHERE id = $1",
                    entry.id,
                    appointment_id,
                    now
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                pass.fulfilled += 1;
            }
            None => {
                tx.rollback().await?;
                passed_over.push(entry.id);
            }
        }
    }

    // Every entry had its turn at the desks cooled by `now`: from here on they are everyone's.
    pass.settled = sqlx::query!(
        "UPDATE desk_releases SET settled_at = $1 WHERE settled_at IS NULL AND cooled_at <= $1",
        now
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(pass)
}

/// Books (or, for an "earlier slot" entry, moves) the entry into the earliest slot of its range
/// that has a desk for it; `None` when there is none or a rule refuses the applicant now.
async fn serve(
    tx: &mut PgConnection,
    entry: &EntryRow,
    now: DateTime<Utc>,
    no_shows: NoShowPolicy,
) -> Result<Option<Uuid>, StoreError> {
    let held = match entry.current_appointment_id {
        Some(id) => sqlx::query_scalar!(
            "SELECT slot_start FROM appointments WHERE id = $1 AND status = 'booked'",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|start| (id, start)),
        None => None,
    };
    if entry.current_appointment_id.is_some() && held.is_none() {
        // The booking to move is gone (cancelled, past): nothing left to improve.
        return Ok(None);
    }
    for start in open_slots(tx, entry, now).await? {
        if !earlier(start, held.map(|h| h.1)) {
            break;
        }
        let mut sp = sqlx::Connection::begin(&mut *tx).await?;
        let attempt = match held {
            Some((id, _)) => {
                booking::reschedule_in(&mut sp, id, entry.citizen_id, start, now, Booker::Waitlist)
                    .await
                    .map(|a| a.id)
            }
            None => {
                let b = NewBooking {
                    citizen_id: entry.citizen_id,
                    office_id: entry.office_id,
                    service_id: entry.service_id,
                    start,
                    applicant: entry.booking_for()?,
                    idempotency: None,
                    no_shows,
                    now,
                };
                booking::book_in(&mut sp, &b, Booker::Waitlist)
                    .await
                    .map(|booked| match booked {
                        crate::appointments::Booked::Created(a)
                        | crate::appointments::Booked::Replayed(a) => a.id,
                    })
            }
        };
        match attempt {
            Ok(id) => {
                sp.commit().await?;
                return Ok(Some(id));
            }
            // Taken meanwhile by a citizen or another process: the next slot may do.
            Err(BookingError::Refused(Refusal::SlotFull)) => sp.rollback().await?,
            // A rule refuses the applicant now (caps, suspension, ...): try again next pass.
            Err(BookingError::Store(e)) => return Err(e),
            Err(_) => {
                sp.rollback().await?;
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// Starts of the slots in the entry's range with a public desk free for the waitlist at `now`
/// (a released desk counts once its cool-down ended), earliest first.
async fn open_slots(
    conn: &mut PgConnection,
    entry: &EntryRow,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    let office = catalogue::office(&mut *conn, entry.office_id).await?;
    let service = catalogue::service(&mut *conn, entry.service_id).await?;
    let Some(schedule) = schedules::get(&mut *conn, entry.office_id, entry.service_id).await?
    else {
        return Ok(Vec::new());
    };
    let Ok(range) = DateRange::parse(entry.from, entry.to) else {
        return Ok(Vec::new());
    };
    let closed = schedules::closed_days(&mut *conn, office.id, range.from, range.to).await?;
    let context = AvailabilityContext {
        office,
        service,
        schedule,
        closed,
    };
    let slots = schedules::public_slots(&mut *conn, &context, range, now, false).await?;
    Ok(slots.into_iter().map(|s| s.start).collect())
}
