//! A citizen's file for staff: the profile and everything the citizen has with the consulate.

use chrono::{DateTime, Utc};
use mawid_domain::account::Role;
use mawid_domain::page::{Page, PageSizes};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::{self, Read, StaffReader, Subject, What};
use crate::appointments::{self, AppointmentRow};
use crate::document_requests::{self, DocumentRequestRow};
use crate::users::{self, UserRow};
use crate::waitlist::{self, EntryRow};
use crate::StoreError;

/// What `GET /admin/citizens/{id}` shows.
pub struct CitizenFile {
    pub user: UserRow,
    /// Every appointment, latest slot first.
    pub appointments: Vec<AppointmentRow>,
    /// The newest document requests (one page of the largest size) and how many there are.
    pub document_requests: Vec<DocumentRequestRow>,
    pub document_requests_total: i64,
    /// Every waitlist entry, newest first.
    pub waitlist: Vec<EntryRow>,
    /// The account suspension by an admin, if one is in force.
    pub suspension: Option<AccountSuspension>,
}

pub struct AccountSuspension {
    pub since: DateTime<Utc>,
    pub reason: Option<String>,
}

/// The file of the citizen `id`; a staff account's id is `NotFound` like an unknown one. The
/// read is audited and shows in the citizen's access log.
#[tracing::instrument(skip_all)]
pub async fn file(pool: &PgPool, id: Uuid, reader: StaffReader) -> Result<CitizenFile, StoreError> {
    let user = users::by_id(pool, id)
        .await?
        .filter(|u| u.role == Role::Citizen)
        .ok_or(StoreError::NotFound)?;
    let appointments = appointments::list_own(pool, id).await?;
    let newest = Page {
        page: 1,
        per_page: PageSizes::STANDARD.max,
    };
    let (document_requests, document_requests_total) =
        document_requests::list_own(pool, id, &newest).await?;
    let waitlist = waitlist::list_own(pool, id).await?;
    let suspension = sqlx::query!(
        "SELECT suspended_at, suspension_reason FROM users WHERE id = $1",
        id
    )
    .fetch_one(pool)
    .await?;
    let mut tx = pool.begin().await?;
    access::record(
        &mut tx,
        reader,
        Read {
            action: "citizen.view",
            target_type: "citizen",
            target_id: id.to_string(),
            details: serde_json::json!({}),
        },
        &[Subject::citizen(What::Profile, id)],
    )
    .await?;
    tx.commit().await?;
    Ok(CitizenFile {
        user,
        appointments,
        document_requests,
        document_requests_total,
        waitlist,
        suspension: suspension.suspended_at.map(|since| AccountSuspension {
            since,
            reason: suspension.suspension_reason,
        }),
    })
}
