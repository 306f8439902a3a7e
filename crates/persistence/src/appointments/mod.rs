//! Appointments: booking, cancelling, rescheduling and the staff lifecycle, each one transaction
//! that also writes its notifications and, for staff, its audit row.
//!
//! Capacity is the database's: a booking claims one desk number of its slot, and the partial
//! unique index `appointments_desk_key` lets no two live bookings share one, whatever the number
//! of server processes. Fair-use counts are read under per-citizen and per-passport advisory
//! locks, so two concurrent requests cannot both see room under a limit.

mod agenda;
pub(crate) mod booking;
pub(crate) mod lifecycle;
mod mail;

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use mawid_domain::account::Language;
use mawid_domain::appointment::{
    confirmation_window, CancelledBy, IllegalTransition, KeyReused, Refusal, Relation, Status,
    Unoffered, Untimely,
};
use mawid_domain::catalogue::Localized;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::{corrupt, decode_timezone, StoreError};

pub use agenda::{agenda, staff_view, Agenda, AgendaEntry, AgendaForm};
pub use booking::{book, book_by_staff, reschedule, Booked, NewBooking, StaffBooking};
pub(crate) use lifecycle::cancel_in;
pub use lifecycle::{cancel, check_in, confirm, request_confirmations, step};

#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Untimely(#[from] Untimely),
    /// A referenced office or service (named by the field) does not exist or is inactive.
    #[error("no such {0}")]
    Unknown(&'static str),
    #[error(transparent)]
    Invalid(#[from] mawid_domain::Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BookingError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl From<Unoffered> for BookingError {
    fn from(gap: Unoffered) -> Self {
        match gap.field() {
            Some(field) => Self::Unknown(field),
            None => Self::Refused(Refusal::NotOffered),
        }
    }
}

impl From<KeyReused> for BookingError {
    fn from(_: KeyReused) -> Self {
        Self::KeyReused
    }
}

/// An appointment with the labels of its office and service, its enum columns decoded.
#[derive(Clone)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub reference: String,
    /// `None` for a walk-in booked by staff without an account.
    pub citizen_id: Option<Uuid>,
    /// A walk-in's own contact (an account keeps its own on the account).
    pub walk_in: Option<WalkInContact>,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub slot_start: DateTime<Utc>,
    pub slot_end: DateTime<Utc>,
    pub applicant_name: String,
    pub applicant_relation: Relation,
    pub passport_number: Option<String>,
    pub national_number: Option<String>,
    pub status: Status,
    /// The calendar invite's SEQUENCE: 0 at booking, one more at each change.
    pub sequence: u32,
    /// Times the appointment was moved, against the service's `max_reschedules`.
    pub reschedules: i32,
    pub cancelled_by: Option<CancelledBy>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The re-confirmation window, for a service that asks for one.
    pub confirmation: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub office_code: String,
    pub timezone: chrono_tz::Tz,
    pub service_code: String,
    pub service_name_ar: String,
    pub service_name_ru: String,
    pub service_name_en: String,
}

/// How to reach a walk-in: mail goes to `email` in `language`, the counter calls `phone`.
#[derive(Clone)]
pub struct WalkInContact {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub language: Language,
}

/// Leaves the applicant's name and passport number out.
impl fmt::Debug for AppointmentRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppointmentRow")
            .field("id", &self.id)
            .field("reference", &self.reference)
            .field("status", &self.status)
            .field("slot_start", &self.slot_start)
            .finish_non_exhaustive()
    }
}

impl AppointmentRow {
    /// An instant as RFC 3339 with the office's offset.
    pub fn local(&self, at: DateTime<Utc>) -> String {
        local_rfc3339(self.timezone, at)
    }

    pub fn service_name(&self) -> Localized {
        Localized {
            ar: self.service_name_ar.clone(),
            ru: self.service_name_ru.clone(),
            en: self.service_name_en.clone(),
        }
    }
}

pub fn local_rfc3339(tz: chrono_tz::Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The row as stored: enum columns are text.
struct Stored {
    id: Uuid,
    reference: String,
    citizen_id: Option<Uuid>,
    walk_in_phone: Option<String>,
    walk_in_email: Option<String>,
    walk_in_language: Option<String>,
    office_id: Uuid,
    service_id: Uuid,
    slot_start: DateTime<Utc>,
    slot_end: DateTime<Utc>,
    applicant_name: String,
    applicant_relation: String,
    passport_number: Option<String>,
    national_number: Option<String>,
    status: String,
    sequence: i32,
    reschedules: i32,
    cancelled_by: Option<String>,
    cancel_reason: Option<String>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    confirmation_required: bool,
    confirm_from_hours: i32,
    confirm_until_hours: i32,
    office_code: String,
    timezone: String,
    service_code: String,
    service_name_ar: String,
    service_name_ru: String,
    service_name_en: String,
}

/// A stored value its domain type does not know: an error naming the column and the value,
/// never a silent default.
impl TryFrom<Stored> for AppointmentRow {
    type Error = sqlx::Error;

    fn try_from(s: Stored) -> Result<Self, sqlx::Error> {
        let status =
            Status::parse(&s.status).ok_or_else(|| corrupt("appointments.status", &s.status))?;
        let applicant_relation = Relation::parse(&s.applicant_relation)
            .map_err(|_| corrupt("appointments.applicant_relation", &s.applicant_relation))?;
        let cancelled_by = s
            .cancelled_by
            .as_deref()
            .map(|c| CancelledBy::parse(c).ok_or_else(|| corrupt("appointments.cancelled_by", c)))
            .transpose()?;
        let timezone = decode_timezone("offices.timezone", &s.timezone)?;
        let walk_in = match (s.citizen_id, s.walk_in_language) {
            (Some(_), _) => None,
            (None, language) => {
                let raw = language.unwrap_or_default();
                Some(WalkInContact {
                    phone: s.walk_in_phone,
                    email: s.walk_in_email,
                    language: Language::parse(&raw)
                        .map_err(|_| corrupt("appointments.walk_in_language", &raw))?,
                })
            }
        };
        Ok(Self {
            id: s.id,
            reference: s.reference,
            citizen_id: s.citizen_id,
            walk_in,
            office_id: s.office_id,
            service_id: s.service_id,
            slot_start: s.slot_start,
            slot_end: s.slot_end,
            applicant_name: s.applicant_name,
            applicant_relation,
            passport_number: s.passport_number,
            national_number: s.national_number,
            status,
            sequence: u32::try_from(s.sequence)
                .map_err(|_| corrupt("appointments.sequence", &s.sequence.to_string()))?,
            reschedules: s.reschedules,
            cancelled_by,
            cancel_reason: s.cancel_reason,
            created_at: s.created_at,
            confirmed_at: s.confirmed_at,
            confirmation: confirmation_window(
                s.slot_start,
                s.confirmation_required,
                s.confirm_from_hours,
                s.confirm_until_hours,
            ),
            office_code: s.office_code,
            timezone,
            service_code: s.service_code,
            service_name_ar: s.service_name_ar,
            service_name_ru: s.service_name_ru,
            service_name_en: s.service_name_en,
        })
    }
}

/// Every read of appointments: the columns and joins written once, `$tail` adding the
/// condition and order.
macro_rules! select_appointments {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Stored,
            "SELECT a.id, a.reference, a.citizen_id, a.walk_in_phone, a.walk_in_email,
                a.walk_in_language, a.office_id, a.service_id, a.slot_start,
                a.slot_end, a.applicant_name, a.applicant_relation, a.passport_number, a.national_number, a.status,
                a.sequence, a.reschedules, a.cancelled_by, a.cancel_reason, a.created_at, a.confirmed_at, s.confirmation_required,
                s.confirm_from_hours, s.confirm_until_hours, o.code AS office_code,
                o.timezone, s.code AS service_code, s.name_ar AS service_name_ar,
                s.name_ru AS service_name_ru, s.name_en AS service_name_en
             FROM appointments a JOIN offices o ON o.id = a.office_id
                JOIN services s ON s.id = a.service_id "
                + $tail
            $(, $arg)*
        )
    };
}

#[tracing::instrument(skip_all)]
pub async fn by_id(ex: impl PgExecutor<'_>, id: Uuid) -> Result<AppointmentRow, StoreError> {
    let stored = select_appointments!("WHERE a.id = $1", id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(stored.try_into()?)
}

/// One of the citizen's own appointments; anyone else's is `NotFound`.
#[tracing::instrument(skip_all)]
pub async fn own(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
    id: Uuid,
) -> Result<AppointmentRow, StoreError> {
    let stored = select_appointments!("WHERE a.id = $1 AND a.citizen_id = $2", id, citizen_id)
        .fetch_optional(ex)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(stored.try_into()?)
}

#[tracing::instrument(skip_all)]
pub async fn list_own(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
) -> Result<Vec<AppointmentRow>, StoreError> {
    let stored = select_appointments!(
        "WHERE a.citizen_id = $1 ORDER BY a.slot_start DESC",
        citizen_id
    )
    .fetch_all(ex)
    .await?;
    Ok(decode_all(stored)?)
}

/// An office's appointments on one local date, whatever their status.
#[tracing::instrument(skip_all)]
async fn on_date(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
) -> Result<Vec<AppointmentRow>, StoreError> {
    // The UTC window around the date lets the index narrow the scan before the zone test.
    let window = mawid_domain::schedule::utc_window(day, day);
    let stored = select_appointments!(
        "WHERE a.office_id = $1 AND a.slot_start >= $3 AND a.slot_start < $4
           AND (a.slot_start AT TIME ZONE o.timezone)::date = $2
         ORDER BY a.slot_start, s.code, a.reference",
        office_id,
        day,
        window.0,
        window.1,
    )
    .fetch_all(ex)
    .await?;
    Ok(decode_all(stored)?)
}

fn decode_all(stored: Vec<Stored>) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    stored.into_iter().map(AppointmentRow::try_from).collect()
}

/// The appointment, row-locked for a state change; someone else's (`owner` set) is `NotFound`.
#[tracing::instrument(skip_all)]
async fn locked(
    conn: &mut PgConnection,
    id: Uuid,
    owner: Option<Uuid>,
) -> Result<AppointmentRow, StoreError> {
    let stored = select_appointments!(
        "WHERE a.id = $1 AND ($2::uuid IS NULL OR a.citizen_id = $2) FOR UPDATE OF a",
        id,
        owner
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(stored.try_into()?)
}

/// Withdraws the appointment's pending reminder and confirmation request; a later one for a new
/// slot is its own row.
#[tracing::instrument(skip_all)]
async fn withdraw_reminders(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE notifications SET status = 'cancelled'
         WHERE kind IN ('appointment_reminder', 'confirmation_request')
           AND payload->>'appointment_id' = $1
           AND status = 'pending'",
        id.to_string()
    )
    .execute(conn)
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> Stored {
        Stored {
            id: Uuid::nil(),
            reference: "MOW-2345-6789".into(),
            citizen_id: Some(Uuid::nil()),
            walk_in_phone: None,
            walk_in_email: None,
            walk_in_language: None,
            office_id: Uuid::nil(),
            service_id: Uuid::nil(),
            slot_start: DateTime::UNIX_EPOCH,
            slot_end: DateTime::UNIX_EPOCH + chrono::TimeDelta::minutes(30),
            applicant_name: "Amal Haddad".into(),
            applicant_relation: "self".into(),
            passport_number: None,
            national_number: None,
            status: "cancelled".into(),
            sequence: 1,
            reschedules: 0,
            cancelled_by: Some("staff".into()),
            cancel_reason: Some("closed".into()),
            created_at: DateTime::UNIX_EPOCH,
            confirmed_at: None,
            confirmation_required: false,
            confirm_from_hours: 72,
            confirm_until_hours: 24,
            office_code: "MOW".into(),
            timezone: "Europe/Moscow".into(),
            service_code: "passport".into(),
            service_name_ar: "جواز".into(),
            service_name_ru: "Паспорт".into(),
            service_name_en: "Passport".into(),
        }
    }

    #[test]
    fn a_stored_row_decodes_into_its_domain_types() {
        let a = AppointmentRow::try_from(stored()).unwrap();
        assert_eq!(a.status, Status::Cancelled);
        assert_eq!(a.cancelled_by, Some(CancelledBy::Staff));
        assert_eq!(a.applicant_relation, Relation::Myself);
        assert_eq!(a.timezone, chrono_tz::Europe::Moscow);
        assert_eq!(a.local(a.slot_start), "1970-01-01T03:00:00+03:00");
    }

    #[test]
    fn an_unknown_stored_value_is_an_error_naming_its_column_and_value() {
        type Spoil = fn(&mut Stored);
        let cases: [(Spoil, &str); 4] = [
            (|s| s.status = "lost".into(), "appointments.status"),
            (
                |s| s.applicant_relation = "cousin".into(),
                "appointments.applicant_relation",
            ),
            (
                |s| s.cancelled_by = Some("robot".into()),
                "appointments.cancelled_by",
            ),
            (|s| s.timezone = "Mars/Olympus".into(), "offices.timezone"),
        ];
        for (spoil, column) in cases {
            let mut s = stored();
            spoil(&mut s);
            let e = AppointmentRow::try_from(s).unwrap_err().to_string();
            assert!(e.contains(column), "{e}");
            assert!(
                ["lost", "cousin", "robot", "Mars/Olympus"]
                    .iter()
                    .any(|v| e.contains(v)),
                "{e}"
            );
        }
    }
}
