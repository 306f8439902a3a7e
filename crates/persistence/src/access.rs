//! Staff reads of citizens' records (152-FZ): each read is one audit entry naming the employee,
//! and one access-log row per citizen whose record it showed, naming only the reader's role and
//! the record's office. The reads write them in their own transaction, so a record is never
//! shown to staff without the trace of it.

use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::account::Role;
use mawid_domain::page::Page;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::StoreError;

/// The employee reading.
#[derive(Debug, Clone, Copy)]
pub struct StaffReader {
    pub actor_id: Uuid,
    pub role: Role,
}

/// What of a citizen's a read showed, as their access log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Appointment,
    DocumentRequest,
    Profile,
    AgendaDay,
    SearchHit,
}

impl What {
    pub fn code(self) -> &'static str {
        match self {
            Self::Appointment => "appointment",
            Self::DocumentRequest => "document_request",
            Self::Profile => "profile",
            Self::AgendaDay => "agenda_day",
            Self::SearchHit => "search_hit",
        }
    }
}

/// One citizen's record that a read showed.
#[derive(Debug, Clone)]
pub struct Subject {
    pub citizen_id: Uuid,
    pub what: What,
    /// `citizen`, `appointment` or `document_request`; `None` for an agenda day.
    pub record_type: Option<&'static str>,
    pub record_id: Option<Uuid>,
    pub office_id: Option<Uuid>,
    pub day: Option<NaiveDate>,
}

impl Subject {
    /// `None` for a walk-in's appointment: without an account there is no access log to show.
    pub(crate) fn appointment(
        what: What,
        citizen_id: Option<Uuid>,
        id: Uuid,
        office_id: Uuid,
    ) -> Option<Self> {
        Some(Self {
            citizen_id: citizen_id?,
            what,
            record_type: Some("appointment"),
            record_id: Some(id),
            office_id: Some(office_id),
            day: None,
        })
    }

    pub(crate) fn document_request(
        what: What,
        citizen_id: Uuid,
        id: Uuid,
        office_id: Uuid,
    ) -> Self {
        Self {
            citizen_id,
            what,
            record_type: Some("document_request"),
            record_id: Some(id),
            office_id: Some(office_id),
            day: None,
        }
    }

    pub(crate) fn citizen(what: What, citizen_id: Uuid) -> Self {
        Self {
            citizen_id,
            what,
            record_type: Some("citizen"),
            record_id: Some(citizen_id),
            office_id: None,
            day: None,
        }
    }
}

/// The audit entry of a read.
pub(crate) struct Read<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: String,
    /// Ids and kinds only: never a name or an identity number.
    pub details: Value,
}

/// Writes the audit entry of a read and the access-log rows of its subjects (duplicates of one
/// record within the read kept once).
#[tracing::instrument(skip_all)]
pub(crate) async fn record(
    conn: &mut PgConnection,
    reader: StaffReader,
    read: Read<'_>,
    subjects: &[Subject],
) -> Result<(), StoreError> {
    let entry = sqlx::query!(
        "INSERT INTO audit_log (actor_id, action, target_type, target_id, details)
         VALUES ($1, $2, $3, $4, $5) RETURNING id, at",
        reader.actor_id,
        read.action,
        read.target_type,
        read.target_id,
        read.details,
    )
    .fetch_one(&mut *conn)
    .await?;
    if subjects.is_empty() {
        return Ok(());
    }
    let mut citizens = Vec::with_capacity(subjects.len());
    let mut whats = Vec::with_capacity(subjects.len());
    let mut types = Vec::with_capacity(subjects.len());
    let mut records = Vec::with_capacity(subjects.len());
    let mut offices = Vec::with_capacity(subjects.len());
    let mut days = Vec::with_capacity(subjects.len());
    for s in subjects {
        citizens.push(s.citizen_id);
        whats.push(s.what.code().to_owned());
        types.push(s.record_type.map(str::to_owned));
        records.push(s.record_id);
        offices.push(s.office_id);
        days.push(s.day);
    }
    sqlx::query!(
        "INSERT INTO staff_reads
             (audit_id, citizen_id, what, record_type, record_id, office_id, day, staff_role, at)
         SELECT DISTINCT $1::bigint, s.citizen_id, s.what, s.record_type, s.record_id,
                s.office_id, s.day, $8::text, $9::timestamptz
         FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::uuid[], $7::date[])
              AS s (citizen_id, what, record_type, record_id, office_id, day)",
        entry.id,
        &citizens[..],
        &whats[..],
        &types[..] as &[Option<String>],
        &records[..] as &[Option<Uuid>],
        &offices[..] as &[Option<Uuid>],
        &days[..] as &[Option<NaiveDate>],
        reader.role.code(),
        entry.at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One staff read of a citizen's record, as the citizen sees it.
#[derive(Debug, Clone)]
pub struct AccessRow {
    pub at: DateTime<Utc>,
    pub action: String,
    pub what: String,
    pub record_type: Option<String>,
    pub record_id: Option<Uuid>,
    pub office_id: Option<Uuid>,
    pub day: Option<NaiveDate>,
    pub staff_role: String,
}

/// A page of the citizen's access log, newest first, and how many entries there are.
#[tracing::instrument(skip_all)]
pub async fn access_log(
    pool: &PgPool,
    citizen_id: Uuid,
    page: Page,
) -> Result<(Vec<AccessRow>, i64), StoreError> {
    let mut conn = pool.acquire().await?;
    let items = page_of(&mut *conn, citizen_id, page.limit(), page.offset()).await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM staff_reads WHERE citizen_id = $1"#,
        citizen_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((items, total))
}

pub(crate) async fn page_of(
    ex: impl PgExecutor<'_>,
    citizen_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<AccessRow>, StoreError> {
    Ok(sqlx::query_as!(
        AccessRow,
        "SELECT r.at, a.action, r.what, r.record_type, r.record_id, r.office_id, r.day,
                r.staff_role
         FROM staff_reads r JOIN audit_log a ON a.id = r.audit_id
         WHERE r.citizen_id = $1
         ORDER BY r.at DESC, r.id DESC LIMIT $2 OFFSET $3",
        citizen_id,
        limit,
        offset,
    )
    .fetch_all(ex)
    .await?)
}
