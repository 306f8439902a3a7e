//! Public tracking: the status of a request for whoever holds its number and the applicant's
//! date of birth, behind a per-client lookup limit counted in PostgreSQL (so it spans server
//! processes).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use mawid_domain::document::{
    DocumentStatus, LookupDecision, LookupLimit, TrackQuery, TrackingNumber,
};
use mawid_domain::Invalid;
use sqlx::PgPool;

use super::decode_status;
use crate::decode_timezone;
use crate::StoreError;

/// One public lookup, as asked.
pub struct Lookup<'a> {
    /// Whom the lookup is counted against (an address, or a /64 of one).
    pub client: &'a str,
    pub limit: LookupLimit,
    /// Parsed before the call but refused only after counting, so malformed guesses spend the
    /// budget too.
    pub query: Result<TrackQuery, Invalid>,
    pub now: DateTime<Utc>,
}

/// What the public sees of a request.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub tracking_number: String,
    pub status: DocumentStatus,
    pub status_changed_at: DateTime<Utc>,
    pub office_timezone: Tz,
}

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("too many tracking lookups from this address")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A malformed number, an unknown one and a wrong date of birth are all `NotFound`.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for TrackError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Counts the lookup, then answers it: refused over the limit, invalid, not found (whatever the
/// reason), or the public status.
#[tracing::instrument(skip_all)]
pub async fn track(pool: &PgPool, l: Lookup<'_>) -> Result<Tracked, TrackError> {
    // No transaction: the count must stand whatever the answer, and holding the counter row's
    // lock through the lookup would only queue one client's requests behind each other.
    let hits = count_lookup(pool, l.client, &l.limit, l.now).await?;
    if hits == 1 {
        // The first lookup of a window clears windows that can no longer matter, keeping the
        // table as small as the number of recent clients.
        forget_stale_windows(pool, &l.limit, l.now).await?;
    }
    if let LookupDecision::RetryAfter(retry_after_secs) = l.limit.decide(hits, l.now) {
        return Err(TrackError::RateLimited { retry_after_secs });
    }
    let query = l.query?;
    let number = query.number.ok_or(StoreError::NotFound)?;
    Ok(find(pool, &number, query.date_of_birth)
        .await?
        .ok_or(StoreError::NotFound)?)
}

/// The public status, only when the applicant's date of birth matches.
#[tracing::instrument(skip_all)]
async fn find(
    pool: &PgPool,
    number: &TrackingNumber,
    date_of_birth: NaiveDate,
) -> Result<Option<Tracked>, sqlx::Error> {
    let found = sqlx::query!(
        "SELECT d.tracking_number, d.status, d.status_changed_at, o.timezone AS office_timezone
         FROM document_requests d JOIN offices o ON o.id = d.office_id
         WHERE d.tracking_number = $1 AND d.applicant_date_of_birth = $2",
        number.as_str(),
        date_of_birth,
    )
    .fetch_optional(pool)
    .await?;
    found
        .map(|r| {
            Ok(Tracked {
                status: decode_status("document_requests.status", &r.status)?,
                office_timezone: decode_timezone("offices.timezone", &r.office_timezone)?,
                tracking_number: r.tracking_number,
                status_changed_at: r.status_changed_at,
            })
        })
        .transpose()
}

/// Counts one lookup by `client` in the window holding `now`; returns the lookups so far in
/// that window, this one included.
#[tracing::instrument(skip_all)]
async fn count_lookup(
    pool: &PgPool,
    client: &str,
    limit: &LookupLimit,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let hits = sqlx::query_scalar!(
        "INSERT INTO track_rate_limits AS t (client, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (client, window_start) DO UPDATE SET hits = t.hits + 1
         RETURNING hits",
        client,
        limit.window_start(now),
    )
    .fetch_one(pool)
    .await?;
    Ok(i64::from(hits))
}

#[tracing::instrument(skip_all)]
async fn forget_stale_windows(
    pool: &PgPool,
    limit: &LookupLimit,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM track_rate_limits WHERE window_start < $1",
        limit.stale_before(now)
    )
    .execute(pool)
    .await?;
    Ok(())
}
