//! Public tracking: the status of a request for whoever holds its number and the applicant's
//! date of birth. The lookup limits are counted by the caller (`crate::limits`), before this
//! runs, so that malformed and failed guesses spend the budget too.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use mawid_domain::document::{DocumentStatus, TrackingNumber};
use sqlx::PgPool;

use super::decode_status;
use crate::decode_timezone;
use crate::StoreError;

/// What the public sees of a request.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub tracking_number: String,
    pub status: DocumentStatus,
    pub status_changed_at: DateTime<Utc>,
    pub office_timezone: Tz,
}

/// The public status, only when the applicant's date of birth matches; `NotFound` otherwise.
#[tracing::instrument(skip_all)]
pub async fn track(
    pool: &PgPool,
    number: &TrackingNumber,
    date_of_birth: NaiveDate,
) -> Result<Tracked, StoreError> {
    let found = sqlx::query!(
        "SELECT d.tracking_number, d.status, d.status_changed_at, o.timezone AS office_timezone
         FROM document_requests d JOIN offices o ON o.id = d.office_id
         WHERE d.tracking_number = $1 AND d.applicant_date_of_birth = $2",
        number.as_str(),
        date_of_birth,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Tracked {
        status: decode_status("document_requests.status", &found.status)?,
        office_timezone: decode_timezone("offices.timezone", &found.office_timezone)?,
        tracking_number: found.tracking_number,
        status_changed_at: found.status_changed_at,
    })
}
