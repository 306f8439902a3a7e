//! Rate-limit counters in PostgreSQL, so a limit holds across server processes. A hit is one
//! upsert that returns the window's count, so concurrent hits are counted exactly and no more
//! than the limit are allowed, however they race.

use chrono::{DateTime, Utc};
use mawid_domain::limit::{Decision, LimitName, Rate};
use sqlx::PgExecutor;

use crate::StoreError;

/// One counted hit: what it was counted against, so it can be given back.
#[derive(Debug, Clone)]
pub struct Hit {
    name: LimitName,
    key: String,
    window_start: DateTime<Utc>,
    pub decision: Decision,
}

impl Hit {
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allowed
    }
}

/// Counts one hit of `name` for `key` at `now`, and decides it. The first hit of a window also
/// forgets the counters whose window has ended (they can refuse nobody), in the same statement,
/// which keeps the table as small as the number of recent clients at no extra round trip.
#[tracing::instrument(skip_all, fields(limit = %name))]
pub async fn hit(
    ex: impl PgExecutor<'_>,
    name: LimitName,
    key: &str,
    rate: Rate,
    now: DateTime<Utc>,
) -> Result<Hit, StoreError> {
    let window_start = rate.window_start(now);
    // Rows another request is deleting are skipped, not waited for: in a burst of first hits
    // every request would otherwise queue behind the others' deletes of the same rows.
    let hits = sqlx::query_scalar!(
        r#"WITH counted AS (
             INSERT INTO rate_limits AS r (name, key_hash, window_start, expires_at, hits)
             VALUES ($1, sha256(convert_to($2, 'UTF8')), $3, $4, 1)
             ON CONFLICT (name, key_hash, window_start) DO UPDATE SET hits = r.hits + 1
             RETURNING hits
           ), forgotten AS (
             DELETE FROM rate_limits WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM rate_limits
               WHERE expires_at < $5 AND (SELECT hits FROM counted) = 1
               FOR UPDATE SKIP LOCKED))
           )
           SELECT hits AS "hits!" FROM counted"#,
        name.as_str(),
        key,
        window_start,
        rate.window_end(now),
        now,
    )
    .fetch_one(ex)
    .await?;
    Ok(Hit {
        name,
        key: key.to_owned(),
        window_start,
        decision: rate.decide(i64::from(hits), now),
    })
}

/// Gives a hit back, for limits that count only failures: the attempt is reserved before it is
/// tried (so parallel attempts cannot all pass a check) and returned when it succeeded.
#[tracing::instrument(skip_all, fields(limit = %hit.name))]
pub async fn give_back(ex: impl PgExecutor<'_>, hit: &Hit) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE rate_limits SET hits = hits - 1
         WHERE name = $1 AND key_hash = sha256(convert_to($2, 'UTF8')) AND window_start = $3
           AND hits > 0",
        hit.name.as_str(),
        hit.key,
        hit.window_start,
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// Forgets every window of `name` for `key` (a successful sign-in clears its failures).
#[tracing::instrument(skip_all, fields(limit = %name))]
pub async fn clear(ex: impl PgExecutor<'_>, name: LimitName, key: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "DELETE FROM rate_limits WHERE name = $1 AND key_hash = sha256(convert_to($2, 'UTF8'))",
        name.as_str(),
        key,
    )
    .execute(ex)
    .await?;
    Ok(())
}
