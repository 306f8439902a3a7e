//! Document requests: the rows as the domain reads them, the reads of one request with its
//! history, and one module per use case (opening, moving, listing, public tracking).

mod create;
mod queue;
mod tracking;
mod transition;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use mawid_domain::document::{Author, DocumentStatus, Dwell, Refusal};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::access::{self, Read, StaffReader, Subject, What};
use crate::{corrupt, decode_timezone, map_err, StoreError};

pub use create::{create, open_for_appointment, NewDocumentRequest, OpenFromAppointment};
pub use queue::{list_own, queue};
pub use tracking::{track, Tracked};
pub(crate) use transition::cancel_in;
pub use transition::{cancel, transition, StaffTransition};

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

pub(crate) fn decode_status(column: &str, raw: &str) -> Result<DocumentStatus, sqlx::Error> {
    DocumentStatus::parse(column, raw).map_err(|_| corrupt(column, raw))
}

/// A request with the office and service it belongs to.
#[derive(Clone)]
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
    pub status: DocumentStatus,
    pub status_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub office_code: String,
    pub office_name_ar: String,
    pub office_name_ru: String,
    pub office_name_en: String,
    pub office_timezone: Tz,
    pub service_code: String,
    pub service_name_ar: String,
    pub service_name_ru: String,
    pub service_name_en: String,
    pub target_days_per_status: i32,
}

/// Leaves the applicant's name, date of birth and passport number out.
impl std::fmt::Debug for DocumentRequestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentRequestRow")
            .field("id", &self.id)
            .field("tracking_number", &self.tracking_number)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl DocumentRequestRow {
    pub fn timezone(&self) -> Tz {
        self.office_timezone
    }

    /// An instant as RFC 3339 with the office's offset, as the API shows every instant.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.timezone())
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    }

    /// The time in the current status against the service's target.
    pub fn dwell(&self) -> Dwell {
        Dwell {
            status: self.status,
            since: self.status_changed_at,
            target_days: self.target_days_per_status,
        }
    }
}

/// A request as [`select_request!`] reads it, before its text columns are decoded.
struct RequestRecord {
    id: Uuid,
    tracking_number: String,
    citizen_id: Uuid,
    office_id: Uuid,
    service_id: Uuid,
    appointment_id: Option<Uuid>,
    applicant_full_name: String,
    applicant_date_of_birth: Option<NaiveDate>,
    applicant_passport: Option<String>,
    status: String,
    status_changed_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    office_code: String,
    office_name_ar: String,
    office_name_ru: String,
    office_name_en: String,
    office_timezone: String,
    service_code: String,
    service_name_ar: String,
    service_name_ru: String,
    service_name_en: String,
    target_days_per_status: i32,
}

impl TryFrom<RequestRecord> for DocumentRequestRow {
    type Error = sqlx::Error;

    fn try_from(r: RequestRecord) -> Result<Self, sqlx::Error> {
        Ok(Self {
            status: decode_status("document_requests.status", &r.status)?,
            office_timezone: decode_timezone("offices.timezone", &r.office_timezone)?,
            id: r.id,
            tracking_number: r.tracking_number,
            citizen_id: r.citizen_id,
            office_id: r.office_id,
            service_id: r.service_id,
            appointment_id: r.appointment_id,
            applicant_full_name: r.applicant_full_name,
            applicant_date_of_birth: r.applicant_date_of_birth,
            applicant_passport: r.applicant_passport,
            status_changed_at: r.status_changed_at,
            created_at: r.created_at,
            office_code: r.office_code,
            office_name_ar: r.office_name_ar,
            office_name_ru: r.office_name_ru,
            office_name_en: r.office_name_en,
            service_code: r.service_code,
            service_name_ar: r.service_name_ar,
            service_name_ru: r.service_name_ru,
            service_name_en: r.service_name_en,
            target_days_per_status: r.target_days_per_status,
        })
    }
}

fn decode_all(records: Vec<RequestRecord>) -> Result<Vec<DocumentRequestRow>, sqlx::Error> {
    records.into_iter().map(TryFrom::try_from).collect()
}

/// Every read of a request: its columns and joins, written once, followed by the rest of the
/// statement (string literals, concatenated by the query macro) and its arguments.
macro_rules! select_request {
    ($($sql:literal)+ ; $($arg:expr),* $(,)?) => {
        sqlx::query_as!(
            $crate::document_requests::RequestRecord,
            "SELECT d.id, d.tracking_number, d.citizen_id, d.office_id, d.service_id,
                d.appointment_id, d.applicant_full_name, d.applicant_date_of_birth,
                d.applicant_passport, d.status, d.status_changed_at, d.created_at,
                o.code AS office_code, o.name_ar AS office_name_ar, o.name_ru AS office_name_ru,
                o.name_en AS office_name_en, o.timezone AS office_timezone,
                s.code AS service_code, s.name_ar AS service_name_ar,
                s.name_ru AS service_name_ru, s.name_en AS service_name_en,
                s.target_days_per_status
             FROM document_requests d
             JOIN offices o ON o.id = d.office_id
             JOIN services s ON s.id = d.service_id "
            $(+ $sql)+,
            $($arg),*
        )
    };
}
use select_request;

/// A history entry.
#[derive(Clone)]
pub struct EventRow {
    pub id: i64,
    pub actor_id: Option<Uuid>,
    pub actor_role: Author,
    pub from_status: Option<DocumentStatus>,
    pub to_status: DocumentStatus,
    pub public_note: Option<String>,
    /// Always `None` when read for a citizen.
    pub internal_note: Option<String>,
    pub at: DateTime<Utc>,
}

/// Leaves the notes out: staff write names and numbers in them.
impl std::fmt::Debug for EventRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRow")
            .field("id", &self.id)
            .field("to_status", &self.to_status)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

struct EventRecord {
    id: i64,
    actor_id: Option<Uuid>,
    actor_role: String,
    from_status: Option<String>,
    to_status: String,
    public_note: Option<String>,
    internal_note: Option<String>,
    at: DateTime<Utc>,
}

impl TryFrom<EventRecord> for EventRow {
    type Error = sqlx::Error;

    fn try_from(e: EventRecord) -> Result<Self, sqlx::Error> {
        const FROM: &str = "document_request_events.from_status";
        Ok(Self {
            actor_role: Author::parse(&e.actor_role)
                .ok_or_else(|| corrupt("document_request_events.actor_role", &e.actor_role))?,
            from_status: e
                .from_status
                .as_deref()
                .map(|s| decode_status(FROM, s))
                .transpose()?,
            to_status: decode_status("document_request_events.to_status", &e.to_status)?,
            id: e.id,
            actor_id: e.actor_id,
            public_note: e.public_note,
            internal_note: e.internal_note,
            at: e.at,
        })
    }
}

/// A request and its history, oldest entry first.
#[derive(Debug, Clone)]
pub struct Detail {
    pub request: DocumentRequestRow,
    pub history: Vec<EventRow>,
}

/// Whose notes a history read may carry: a citizen's answer cannot hold an internal note by
/// mistake, because it is never read for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Citizen,
    Staff,
}

#[tracing::instrument(skip_all)]
async fn by_id(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<DocumentRequestRow>, sqlx::Error> {
    select_request!("WHERE d.id = $1"; id)
        .fetch_optional(conn)
        .await?
        .map(TryFrom::try_from)
        .transpose()
}

#[tracing::instrument(skip_all)]
async fn own_by_id(
    conn: &mut PgConnection,
    id: Uuid,
    citizen_id: Uuid,
) -> Result<Option<DocumentRequestRow>, sqlx::Error> {
    // Someone else's request is `None`, exactly like an unknown id.
    select_request!("WHERE d.id = $1 AND d.citizen_id = $2"; id, citizen_id)
        .fetch_optional(conn)
        .await?
        .map(TryFrom::try_from)
        .transpose()
}

#[tracing::instrument(skip_all)]
async fn by_appointment(
    conn: &mut PgConnection,
    appointment_id: Uuid,
) -> Result<Option<DocumentRequestRow>, sqlx::Error> {
    select_request!("WHERE d.appointment_id = $1"; appointment_id)
        .fetch_optional(conn)
        .await?
        .map(TryFrom::try_from)
        .transpose()
}

#[tracing::instrument(skip_all)]
async fn history(
    conn: &mut PgConnection,
    request_id: Uuid,
    reader: Reader,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as!(
        EventRecord,
        "SELECT id, actor_id, actor_role, from_status, to_status, public_note,
                CASE WHEN $2 THEN internal_note END AS internal_note, at
         FROM document_request_events WHERE request_id = $1 ORDER BY at, id",
        request_id,
        reader == Reader::Staff,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(TryFrom::try_from)
    .collect()
}

/// The request and its history as `reader` may see them.
async fn detail(
    conn: &mut PgConnection,
    request: DocumentRequestRow,
    reader: Reader,
) -> Result<Detail, sqlx::Error> {
    let history = history(conn, request.id, reader).await?;
    Ok(Detail { request, history })
}

/// The citizen's own request with its public history; anyone else's is `None`.
#[tracing::instrument(skip_all)]
pub async fn own_detail(
    pool: &PgPool,
    id: Uuid,
    citizen_id: Uuid,
) -> Result<Option<Detail>, StoreError> {
    let mut conn = pool.acquire().await?;
    let Some(request) = own_by_id(&mut conn, id, citizen_id).await? else {
        return Ok(None);
    };
    Ok(Some(detail(&mut conn, request, Reader::Citizen).await?))
}

/// Every request of the citizen, newest first, each with its public history: their data export.
#[tracing::instrument(skip_all)]
pub(crate) async fn all_own_details(
    conn: &mut PgConnection,
    citizen_id: Uuid,
) -> Result<Vec<Detail>, StoreError> {
    let rows = decode_all(
        select_request!("WHERE d.citizen_id = $1 ORDER BY d.created_at DESC, d.id DESC"; citizen_id)
            .fetch_all(&mut *conn)
            .await?,
    )?;
    let mut details = Vec::with_capacity(rows.len());
    for request in rows {
        details.push(detail(&mut *conn, request, Reader::Citizen).await?);
    }
    Ok(details)
}

/// Any request with its full history, internal notes included, for staff: the read is audited
/// and shows in the citizen's access log.
#[tracing::instrument(skip_all)]
pub async fn staff_detail(
    pool: &PgPool,
    id: Uuid,
    reader: StaffReader,
) -> Result<Option<Detail>, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(request) = by_id(&mut tx, id).await? else {
        return Ok(None);
    };
    access::record(
        &mut tx,
        reader,
        Read {
            action: "document_request.view",
            target_type: "document_request",
            target_id: request.id.to_string(),
            details: serde_json::json!({ "status": request.status.code() }),
        },
        &[Subject::document_request(
            What::DocumentRequest,
            request.citizen_id,
            request.id,
            request.office_id,
        )],
    )
    .await?;
    let detail = detail(&mut tx, request, Reader::Staff).await?;
    tx.commit().await?;
    Ok(Some(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_stored_value_is_an_error_naming_its_column_and_value() {
        assert_eq!(
            decode_status("document_requests.status", "approved").unwrap(),
            DocumentStatus::Approved
        );
        let e = decode_status("document_requests.status", "lost").unwrap_err();
        let shown = e.to_string();
        assert!(
            shown.contains("document_requests.status") && shown.contains("\"lost\""),
            "{shown}"
        );
        assert_eq!(
            decode_timezone("offices.timezone", "Europe/Moscow").unwrap(),
            chrono_tz::Europe::Moscow
        );
        let shown = decode_timezone("offices.timezone", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(
            shown.contains("offices.timezone") && shown.contains("Mars/Olympus"),
            "{shown}"
        );
    }
}
