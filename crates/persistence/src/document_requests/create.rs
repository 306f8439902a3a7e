//! Opening a request: by the citizen, or by check-in inside its transaction; the catalogue
//! check and the per-office tracking sequence both use.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use mawid_domain::document::{self, Actor, Applicant, DocumentStatus, Refusal, TrackingNumber};
use mawid_domain::Code;
use sqlx::{Acquire, PgConnection, PgPool};
use uuid::Uuid;

use super::transition::{record_event, Event};
use super::{by_appointment, by_id, detail, Detail, DocumentError, DocumentRequestRow, Reader};
use crate::decode_timezone;
use crate::{map_err, StoreError};

pub struct NewDocumentRequest<'a> {
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub appointment_id: Option<Uuid>,
    pub applicant: &'a Applicant,
    pub now: DateTime<Utc>,
}

/// What check-in knows about the appointment's applicant.
pub struct OpenFromAppointment {
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub appointment_id: Uuid,
    pub applicant_full_name: String,
    pub applicant_date_of_birth: Option<NaiveDate>,
    pub applicant_passport: Option<String>,
    /// The officer checking the appointment in.
    pub actor_id: Uuid,
    pub now: DateTime<Utc>,
}

/// A citizen's own request, checked against the catalogue and (if given) their appointment.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &PgPool, n: NewDocumentRequest<'_>) -> Result<Detail, DocumentError> {
    let mut tx = pool.begin().await?;
    // The citizen's row is locked, so their parallel requests are counted one after another.
    let (verified, open) = citizen_standing(&mut tx, n.citizen_id).await?;
    document::check_citizen_may_open(verified, open)?;
    if let Some(appointment_id) = n.appointment_id {
        let own = appointment_belongs_to_citizen(
            &mut tx,
            appointment_id,
            n.citizen_id,
            n.office_id,
            n.service_id,
        )
        .await?;
        if !own {
            return Err(Refusal::UnknownAppointment.into());
        }
    }
    let row = insert(
        &mut tx,
        Insert {
            citizen_id: n.citizen_id,
            office_id: n.office_id,
            service_id: n.service_id,
            appointment_id: n.appointment_id,
            full_name: n.applicant.full_name.as_str(),
            date_of_birth: Some(n.applicant.date_of_birth.date()),
            passport: n.applicant.passport_number.as_ref().map(|p| p.as_str()),
            actor_id: n.citizen_id,
            actor: Actor::Citizen,
            only_active: true,
            now: n.now,
        },
    )
    .await?;
    // The answer shows the creation entry, exactly as a later read of the request does.
    let detail = detail(&mut tx, row, Reader::Citizen).await?;
    tx.commit().await?;
    Ok(detail)
}

/// Whether the citizen's address is verified and how many requests they have open, with their
/// account row locked until the transaction ends.
#[tracing::instrument(skip_all)]
async fn citizen_standing(
    conn: &mut PgConnection,
    citizen_id: Uuid,
) -> Result<(bool, i64), DocumentError> {
    // The row lock also waits out an erasure of the account running now; an erased account is
    // closed, so no request is opened for it.
    let verified = sqlx::query_scalar!(
        r#"SELECT email_verified_at IS NOT NULL AS "verified!" FROM users
           WHERE id = $1 AND deactivated_at IS NULL FOR UPDATE"#,
        citizen_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::Conflict(Code::AccountDeactivated))?;
    let open = sqlx::query_scalar!(
        r#"SELECT count(*) AS "open!" FROM document_requests
           WHERE citizen_id = $1 AND status = ANY($2)"#,
        citizen_id,
        &DocumentStatus::open_codes() as &[&str],
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((verified, open))
}

/// Opens the request of a checked-in appointment, inside the check-in's transaction. Idempotent:
/// a second call for the same appointment returns the request the first one opened, without
/// taking a tracking number.
#[tracing::instrument(skip_all)]
pub async fn open_for_appointment(
    conn: &mut PgConnection,
    o: OpenFromAppointment,
) -> Result<DocumentRequestRow, DocumentError> {
    if let Some(existing) = by_appointment(&mut *conn, o.appointment_id).await? {
        return Ok(existing);
    }
    // A savepoint, so losing a race to a concurrent check-in of the same appointment undoes the
    // counter increment too and leaves the caller's transaction usable.
    let mut sp = conn.begin().await?;
    let attempt = insert(
        &mut sp,
        Insert {
            citizen_id: o.citizen_id,
            office_id: o.office_id,
            service_id: o.service_id,
            appointment_id: Some(o.appointment_id),
            full_name: &o.applicant_full_name,
            date_of_birth: o.applicant_date_of_birth,
            passport: o.applicant_passport.as_deref(),
            actor_id: o.actor_id,
            actor: Actor::Staff,
            only_active: false,
            now: o.now,
        },
    )
    .await;
    match attempt {
        Ok(row) => {
            sp.commit().await?;
            Ok(row)
        }
        Err(DocumentError::Store(StoreError::Conflict(
            mawid_domain::Code::DocumentRequestExists,
        ))) => {
            sp.rollback().await?;
            by_appointment(&mut *conn, o.appointment_id)
                .await?
                .ok_or(StoreError::NotFound.into())
        }
        Err(e) => Err(e),
    }
}

/// Whether `appointment_id` is the citizen's own appointment at this office for this service:
/// linking someone else's appointment would stop its check-in from opening the real request.
#[tracing::instrument(skip_all)]
async fn appointment_belongs_to_citizen(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    citizen_id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM appointments
                          WHERE id = $1 AND citizen_id = $2 AND office_id = $3 AND service_id = $4)
           AS "belongs!""#,
        appointment_id,
        citizen_id,
        office_id,
        service_id,
    )
    .fetch_one(conn)
    .await
}

/// The office's code and zone, refusing an unknown office or a service that opens no request.
/// New requests need an active office and service; `only_active = false` serves check-in, where
/// the appointment was booked while they were.
#[tracing::instrument(skip_all)]
async fn check_catalogue(
    conn: &mut PgConnection,
    office_id: Uuid,
    service_id: Uuid,
    only_active: bool,
) -> Result<(String, Tz), DocumentError> {
    let c = sqlx::query!(
        "SELECT (SELECT code FROM offices WHERE id = $1 AND (active OR NOT $3)) AS office_code,
                (SELECT timezone FROM offices WHERE id = $1 AND (active OR NOT $3)) AS office_timezone,
                (SELECT creates_document_request FROM services WHERE id = $2 AND (active OR NOT $3)) AS documentary",
        office_id,
        service_id,
        only_active,
    )
    .fetch_one(&mut *conn)
    .await?;
    document::check_opening(c.office_code.is_some(), c.documentary)?;
    match (c.office_code, c.office_timezone) {
        (Some(code), Some(tz)) => Ok((code, decode_timezone("offices.timezone", &tz)?)),
        // Both come from the one office row the check above found.
        _ => Err(StoreError::NotFound.into()),
    }
}

/// Takes the next number of the office's sequence for the office-local year of `now`. The upsert
/// holds the counter row's lock until the caller's transaction ends, so concurrent creations in
/// one office queue here and get consecutive numbers.
#[tracing::instrument(skip_all)]
async fn next_tracking_number(
    conn: &mut PgConnection,
    office_id: Uuid,
    office_code: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<TrackingNumber, DocumentError> {
    let year = now.with_timezone(&tz).year();
    let last = sqlx::query_scalar!(
        "INSERT INTO document_request_counters AS counter (office_id, year, last) VALUES ($1, $2, 1)
         ON CONFLICT (office_id, year) DO UPDATE SET last = counter.last + 1
         RETURNING last",
        office_id,
        year,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(map_err)?;
    TrackingNumber::new(office_code, year, i64::from(last)).ok_or_else(|| {
        StoreError::Db(sqlx::Error::Protocol(format!(
            "tracking sequence of office {office_code} exhausted for {year}"
        )))
        .into()
    })
}

struct Insert<'a> {
    citizen_id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
    appointment_id: Option<Uuid>,
    full_name: &'a str,
    date_of_birth: Option<NaiveDate>,
    passport: Option<&'a str>,
    actor_id: Uuid,
    actor: Actor,
    only_active: bool,
    now: DateTime<Utc>,
}

#[tracing::instrument(skip_all)]
async fn insert(
    conn: &mut PgConnection,
    i: Insert<'_>,
) -> Result<DocumentRequestRow, DocumentError> {
    let (code, tz) = check_catalogue(conn, i.office_id, i.service_id, i.only_active).await?;
    let number = next_tracking_number(conn, i.office_id, &code, tz, i.now).await?;
    let id = Uuid::new_v4();
    let status = DocumentStatus::Submitted;
    sqlx::query!(
        "INSERT INTO document_requests (id, tracking_number, citizen_id, office_id, service_id,
            appointment_id, applicant_full_name, applicant_date_of_birth, applicant_passport,
            status, status_changed_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        id,
        number.as_str(),
        i.citizen_id,
        i.office_id,
        i.service_id,
        i.appointment_id,
        i.full_name,
        i.date_of_birth,
        i.passport,
        status.code(),
        i.now,
    )
    .execute(&mut *conn)
    .await?;
    record_event(
        &mut *conn,
        Event {
            request_id: id,
            actor_id: i.actor_id,
            actor: i.actor,
            from: None,
            to: status,
            public_note: None,
            internal_note: None,
            at: i.now,
        },
    )
    .await?;
    by_id(&mut *conn, id)
        .await?
        .ok_or(StoreError::NotFound.into())
}
