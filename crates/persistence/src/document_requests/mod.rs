//! Document requests: creation with a per-office tracking sequence, the status history, the
//! staff queue, public tracking and its shared rate limit.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use mawid_domain::account::Language;
use mawid_domain::document::{Actor, Applicant, DocumentStatus, Refusal, TrackingNumber};
use serde_json::json;
use sqlx::{Acquire, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::audit::{self, Entry};
use crate::outbox::{self, NewNotification};
use crate::{map_err, StoreError};

/// A refusal the client can fix, or a storage failure.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DocumentError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(map_err(e))
    }
}

/// A request with the office and service it belongs to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRequestRow {
    pub id: Uuid,
    pub tracking_number: String,
    pub citizen_id: Uuid,
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub appointment_id: Option<Uuid>,
    pub applicant_full_name: String,
    pub applicant_date_of_birth: Option<NaiveDate>,
    pub applicant_passport: Option<String>,
    pub status: String,
    pub status_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub office_code: String,
    pub office_name_ar: String,
    pub office_name_ru: String,
    pub office_name_en: String,
    pub office_timezone: String,
    pub service_code: String,
    pub service_name_ar: String,
    pub service_name_ru: String,
    pub service_name_en: String,
    pub target_days_per_status: i32,
}

impl DocumentRequestRow {
    pub fn status(&self) -> DocumentStatus {
        // The CHECK constraint admits only the codes the domain knows.
        DocumentStatus::parse("status", &self.status).unwrap_or(DocumentStatus::Submitted)
    }

    pub fn timezone(&self) -> Tz {
        // Office zones are validated before they are stored; Moscow is where most offices are.
        self.office_timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::Moscow)
    }

    /// An instant as RFC 3339 with the office's offset, as the API shows every instant.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.timezone())
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    /// Whole days spent in the current status.
    pub fn days_in_status(&self, now: DateTime<Utc>) -> i64 {
        (now - self.status_changed_at).num_days().max(0)
    }

    /// Longer in its current status than the service's target (final statuses never are).
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status().is_final()
            && now - self.status_changed_at > Duration::days(i64::from(self.target_days_per_status))
    }
}

const SELECT: &str =
    "SELECT d.id, d.tracking_number, d.citizen_id, d.office_id, d.service_id, d.appointment_id,
        d.applicant_full_name, d.applicant_date_of_birth, d.applicant_passport, d.status,
        d.status_changed_at, d.created_at,
        o.code AS office_code, o.name_ar AS office_name_ar, o.name_ru AS office_name_ru,
        o.name_en AS office_name_en, o.timezone AS office_timezone,
        s.code AS service_code, s.name_ar AS service_name_ar, s.name_ru AS service_name_ru,
        s.name_en AS service_name_en, s.target_days_per_status
    FROM document_requests d
    JOIN offices o ON o.id = d.office_id
    JOIN services s ON s.id = d.service_id";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub public_note: Option<String>,
    /// Always `None` when read for a citizen.
    pub internal_note: Option<String>,
    pub at: DateTime<Utc>,
}

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

#[derive(sqlx::FromRow)]
struct Catalogue {
    office_code: Option<String>,
    office_timezone: Option<String>,
    documentary: Option<bool>,
}

/// The office's code and zone, refusing an unknown office or a service that opens no request.
/// New requests need an active office and service; `only_active = false` serves check-in, where
/// the appointment was booked while they were.
async fn check_catalogue(
    conn: &mut PgConnection,
    office_id: Uuid,
    service_id: Uuid,
    only_active: bool,
) -> Result<(String, Tz), DocumentError> {
    let c = sqlx::query_as::<_, Catalogue>(
        "SELECT (SELECT code FROM offices WHERE id = $1 AND (active OR NOT $3)) AS office_code,
                (SELECT timezone FROM offices WHERE id = $1 AND (active OR NOT $3)) AS office_timezone,
                (SELECT creates_document_request FROM services WHERE id = $2 AND (active OR NOT $3)) AS documentary",
    )
    .bind(office_id)
    .bind(service_id)
    .bind(only_active)
    .fetch_one(&mut *conn)
    .await?;
    let (Some(code), Some(tz)) = (c.office_code, c.office_timezone) else {
        return Err(Refusal::UnknownOffice.into());
    };
    match c.documentary {
        None => Err(Refusal::UnknownService.into()),
        Some(false) => Err(Refusal::ServiceNotDocumentary.into()),
        Some(true) => Ok((code, tz.parse().unwrap_or(chrono_tz::Europe::Moscow))),
    }
}

/// Takes the next number of the office's sequence for the office-local year of `now`. The upsert
/// holds the counter row's lock until the caller's transaction ends, so concurrent creations in
/// one office queue here and get consecutive numbers.
async fn next_tracking_number(
    conn: &mut PgConnection,
    office_id: Uuid,
    office_code: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<TrackingNumber, DocumentError> {
    use chrono::Datelike;
    let year = now.with_timezone(&tz).year();
    let last = sqlx::query_scalar::<_, i32>(
        "INSERT INTO document_request_counters AS counter (office_id, year, last) VALUES ($1, $2, 1)
         ON CONFLICT (office_id, year) DO UPDATE SET last = counter.last + 1
         RETURNING last",
    )
    .bind(office_id)
    .bind(year)
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

/// Whether `appointment_id` is the citizen's own appointment at this office for this service:
/// linking someone else's appointment would stop its check-in from opening the real request.
pub async fn appointment_belongs_to_citizen(
    conn: &mut PgConnection,
    appointment_id: Uuid,
    citizen_id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM appointments
                        WHERE id = $1 AND citizen_id = $2 AND office_id = $3 AND service_id = $4)",
    )
    .bind(appointment_id)
    .bind(citizen_id)
    .bind(office_id)
    .bind(service_id)
    .fetch_one(&mut *conn)
    .await?)
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

async fn insert(
    conn: &mut PgConnection,
    i: Insert<'_>,
) -> Result<DocumentRequestRow, DocumentError> {
    let (code, tz) = check_catalogue(conn, i.office_id, i.service_id, i.only_active).await?;
    let number = next_tracking_number(conn, i.office_id, &code, tz, i.now).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO document_requests (id, tracking_number, citizen_id, office_id, service_id, appointment_id,
            applicant_full_name, applicant_date_of_birth, applicant_passport, status, status_changed_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'submitted', $10, $10)",
    )
    .bind(id)
    .bind(number.as_str())
    .bind(i.citizen_id)
    .bind(i.office_id)
    .bind(i.service_id)
    .bind(i.appointment_id)
    .bind(i.full_name)
    .bind(i.date_of_birth)
    .bind(i.passport)
    .bind(i.now)
    .execute(&mut *conn)
    .await?;
    record_event(
        &mut *conn,
        id,
        i.actor_id,
        i.actor,
        None,
        DocumentStatus::Submitted,
        None,
        None,
        i.now,
    )
    .await?;
    by_id(&mut *conn, id)
        .await?
        .ok_or(StoreError::NotFound.into())
}

/// A citizen's own request, checked against the catalogue and (if given) their appointment.
#[tracing::instrument(skip_all)]
pub async fn create(
    pool: &PgPool,
    n: NewDocumentRequest<'_>,
) -> Result<DocumentRequestRow, DocumentError> {
    let mut tx = pool.begin().await?;
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
    tx.commit().await?;
    Ok(row)
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

async fn by_appointment(
    ex: impl PgExecutor<'_>,
    appointment_id: Uuid,
) -> Result<Option<DocumentRequestRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, DocumentRequestRow>(&format!("{SELECT} WHERE d.appointment_id = $1"))
            .bind(appointment_id)
            .fetch_optional(ex)
            .await?,
    )
}

/// Any request, for staff.
#[tracing::instrument(skip_all)]
pub async fn by_id(
    ex: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<DocumentRequestRow>, StoreError> {
    Ok(
        sqlx::query_as::<_, DocumentRequestRow>(&format!("{SELECT} WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(ex)
            .await?,
    )
}

/// The citizen's own request; anyone else's is `None`, exactly like an unknown id.
#[tracing::instrument(skip_all)]
pub async fn own_by_id(
    pool: &PgPool,
    id: Uuid,
    citizen_id: Uuid,
) -> Result<Option<DocumentRequestRow>, StoreError> {
    Ok(sqlx::query_as::<_, DocumentRequestRow>(&format!(
        "{SELECT} WHERE d.id = $1 AND d.citizen_id = $2"
    ))
    .bind(id)
    .bind(citizen_id)
    .fetch_optional(pool)
    .await?)
}

pub struct Page {
    /// 1-based.
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
}

/// The citizen's own requests, newest first, and how many there are in all.
#[tracing::instrument(skip_all)]
pub async fn list_own(
    pool: &PgPool,
    citizen_id: Uuid,
    page: &Page,
) -> Result<(Vec<DocumentRequestRow>, i64), StoreError> {
    let total = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM document_requests WHERE citizen_id = $1",
    )
    .bind(citizen_id)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as::<_, DocumentRequestRow>(&format!(
        "{SELECT} WHERE d.citizen_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(citizen_id)
    .bind(page.per_page)
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}

pub struct QueueFilter {
    pub status: Option<DocumentStatus>,
    pub office_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    pub overdue_only: bool,
    pub now: DateTime<Utc>,
}

const QUEUE_WHERE: &str = "WHERE ($1::text IS NULL OR d.status = $1)
      AND ($2::uuid IS NULL OR d.office_id = $2)
      AND ($3::uuid IS NULL OR d.service_id = $3)
      AND (NOT $4 OR (d.status NOT IN ('collected', 'rejected', 'cancelled')
                      AND d.status_changed_at + make_interval(days => s.target_days_per_status) < $5))";

/// The staff work queue: longest in its current status first, ties broken by id so pages are
/// stable.
#[tracing::instrument(skip_all)]
pub async fn queue(
    pool: &PgPool,
    f: &QueueFilter,
    page: &Page,
) -> Result<(Vec<DocumentRequestRow>, i64), StoreError> {
    let status = f.status.map(DocumentStatus::code);
    let total = sqlx::query_scalar::<_, i64>(&format!(
        "SELECT count(*) FROM document_requests d JOIN services s ON s.id = d.service_id {QUEUE_WHERE}"
    ))
    .bind(status)
    .bind(f.office_id)
    .bind(f.service_id)
    .bind(f.overdue_only)
    .bind(f.now)
    .fetch_one(pool)
    .await?;
    let rows = sqlx::query_as::<_, DocumentRequestRow>(&format!(
        "{SELECT} {QUEUE_WHERE} ORDER BY d.status_changed_at, d.id LIMIT $6 OFFSET $7"
    ))
    .bind(status)
    .bind(f.office_id)
    .bind(f.service_id)
    .bind(f.overdue_only)
    .bind(f.now)
    .bind(page.per_page)
    .bind(page.offset())
    .fetch_all(pool)
    .await?;
    Ok((rows, total))
}

/// The history, oldest first. Internal notes are read only when `with_internal_notes`, so a
/// citizen's answer cannot carry one by mistake.
#[tracing::instrument(skip_all)]
pub async fn history(
    pool: &PgPool,
    request_id: Uuid,
    with_internal_notes: bool,
) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as::<_, EventRow>(
        "SELECT id, actor_id, actor_role, from_status, to_status, public_note,
                CASE WHEN $2 THEN internal_note END AS internal_note, at
         FROM document_request_events WHERE request_id = $1 ORDER BY at, id",
    )
    .bind(request_id)
    .bind(with_internal_notes)
    .fetch_all(pool)
    .await?)
}

#[allow(clippy::too_many_arguments)]
async fn record_event(
    ex: impl PgExecutor<'_>,
    request_id: Uuid,
    actor_id: Uuid,
    actor: Actor,
    from: Option<DocumentStatus>,
    to: DocumentStatus,
    public_note: Option<&str>,
    internal_note: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO document_request_events (request_id, actor_id, actor_role, from_status, to_status,
            public_note, internal_note, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(request_id)
    .bind(actor_id)
    .bind(actor.code())
    .bind(from.map(DocumentStatus::code))
    .bind(to.code())
    .bind(public_note)
    .bind(internal_note)
    .bind(at)
    .execute(ex)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub struct Transition<'a> {
    pub request_id: Uuid,
    pub to: DocumentStatus,
    pub actor: Actor,
    pub actor_id: Uuid,
    pub public_note: Option<&'a str>,
    pub internal_note: Option<&'a str>,
    pub now: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Recipient {
    email: String,
    full_name: String,
    preferred_language: String,
}

/// Moves a request to `t.to` if the machine allows it, in one transaction with its history row
/// and, for staff, the audit row and the citizen's email. A citizen only reaches their own
/// request; anyone else's is `NotFound`.
#[tracing::instrument(skip_all)]
pub async fn transition(
    pool: &PgPool,
    t: Transition<'_>,
) -> Result<DocumentRequestRow, DocumentError> {
    let mut tx = pool.begin().await?;
    // A citizen's lock is scoped to their own requests, so anyone else's is `NotFound`.
    let lock = match t.actor {
        Actor::Citizen => sqlx::query_scalar::<_, String>(
            "SELECT status FROM document_requests WHERE id = $1 AND citizen_id = $2 FOR UPDATE",
        )
        .bind(t.request_id)
        .bind(t.actor_id),
        Actor::Staff => sqlx::query_scalar::<_, String>(
            "SELECT status FROM document_requests WHERE id = $1 FOR UPDATE",
        )
        .bind(t.request_id),
    };
    let current = lock
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let from = DocumentStatus::parse("status", &current)
        .map_err(|e| StoreError::Db(sqlx::Error::Protocol(e.to_string())))?;
    let to = from.transition(t.to, t.actor).map_err(Refusal::from)?;

    sqlx::query("UPDATE document_requests SET status = $2, status_changed_at = $3 WHERE id = $1")
        .bind(t.request_id)
        .bind(to.code())
        .bind(t.now)
        .execute(&mut *tx)
        .await?;
    record_event(
        &mut *tx,
        t.request_id,
        t.actor_id,
        t.actor,
        Some(from),
        to,
        t.public_note,
        t.internal_note,
        t.now,
    )
    .await?;
    let row = by_id(&mut *tx, t.request_id)
        .await?
        .ok_or(StoreError::NotFound)?;

    if t.actor == Actor::Staff {
        audit::record(
            &mut *tx,
            Entry {
                actor_id: t.actor_id,
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
        let citizen = sqlx::query_as::<_, Recipient>(
            "SELECT email, full_name, preferred_language FROM users WHERE id = $1",
        )
        .bind(row.citizen_id)
        .fetch_one(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut *tx,
            NewNotification {
                user_id: Some(row.citizen_id),
                recipient: &citizen.email,
                language: Language::parse(&citizen.preferred_language).unwrap_or(Language::En),
                kind: "document_status_changed",
                payload: status_changed_payload(
                    &row,
                    &citizen.full_name,
                    from,
                    t.public_note,
                    t.now,
                ),
                due_at: t.now,
                dedupe_key: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// The shared-contract payload of `document_status_changed`.
fn status_changed_payload(
    row: &DocumentRequestRow,
    full_name: &str,
    previous: DocumentStatus,
    public_note: Option<&str>,
    at: DateTime<Utc>,
) -> serde_json::Value {
    json!({
        "full_name": full_name,
        "tracking_number": row.tracking_number,
        "status": row.status,
        "previous_status": previous.code(),
        "public_note": public_note,
        "changed_at": row.local(at),
        "service": {
            "code": row.service_code,
            "name": { "ar": row.service_name_ar, "ru": row.service_name_ru, "en": row.service_name_en },
        },
        "office": {
            "code": row.office_code,
            "name": { "ar": row.office_name_ar, "ru": row.office_name_ru, "en": row.office_name_en },
        },
    })
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tracked {
    pub tracking_number: String,
    pub status: String,
    pub status_changed_at: DateTime<Utc>,
    pub office_timezone: String,
}

/// The public status of a request, only when the applicant's date of birth matches: a wrong
/// pair and an unknown number are both `None`.
#[tracing::instrument(skip_all)]
pub async fn track(
    pool: &PgPool,
    number: &TrackingNumber,
    date_of_birth: NaiveDate,
) -> Result<Option<Tracked>, StoreError> {
    Ok(sqlx::query_as::<_, Tracked>(
        "SELECT d.tracking_number, d.status, d.status_changed_at, o.timezone AS office_timezone
         FROM document_requests d JOIN offices o ON o.id = d.office_id
         WHERE d.tracking_number = $1 AND d.applicant_date_of_birth = $2",
    )
    .bind(number.as_str())
    .bind(date_of_birth)
    .fetch_optional(pool)
    .await?)
}

/// Counts one tracking lookup by `client` in the fixed window containing `now`; returns the
/// lookups so far in that window (this one included) and when the window ends.
#[tracing::instrument(skip_all)]
pub async fn count_track_lookup(
    pool: &PgPool,
    client: &str,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<(i64, DateTime<Utc>), StoreError> {
    let secs = window.num_seconds().max(1);
    let start =
        DateTime::<Utc>::from_timestamp(now.timestamp().div_euclid(secs) * secs, 0).unwrap_or(now);
    let hits = sqlx::query_scalar::<_, i32>(
        "INSERT INTO track_rate_limits AS t (client, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (client, window_start) DO UPDATE SET hits = t.hits + 1
         RETURNING hits",
    )
    .bind(client)
    .bind(start)
    .fetch_one(pool)
    .await?;
    if hits == 1 {
        // The first lookup of a window clears windows that can no longer matter, keeping the
        // table as small as the number of recent clients.
        sqlx::query("DELETE FROM track_rate_limits WHERE window_start < $1")
            .bind(start - window)
            .execute(pool)
            .await?;
    }
    Ok((i64::from(hits), start + Duration::seconds(secs)))
}
