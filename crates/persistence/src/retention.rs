//! The retention purge (152-FZ): personal data past its period is deleted or blanked. Each
//! pass is one transaction under a transaction-scoped advisory lock, so with several server
//! processes one purges and the others skip that pass; every statement is also idempotent.

use chrono::{DateTime, Utc};
use mawid_domain::limit::LimitName;
use mawid_domain::retention::RetentionPolicy;
use sqlx::PgPool;

use crate::StoreError;

/// The advisory lock key of the purge ("mawid retention", any constant unused elsewhere).
const PURGE_LOCK: i64 = 0x6d61_7769_6452_5450;

/// What one pass purged; `None` when another process held the purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub login_failures: u64,
    pub mail_bodies: u64,
    pub appointment_identities: u64,
    pub request_identities: u64,
}

#[tracing::instrument(skip_all)]
pub async fn purge(
    pool: &PgPool,
    now: DateTime<Utc>,
    policy: RetentionPolicy,
) -> Result<Option<Purged>, StoreError> {
    let c = policy.cutoffs(now);
    let mut tx = pool.begin().await?;
    let mine = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "got!""#,
        PURGE_LOCK
    )
    .fetch_one(&mut *tx)
    .await?;
    if !mine {
        return Ok(None);
    }
    let idempotency_keys = sqlx::query!(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        c.idempotency
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let counters = [
        LimitName::LoginFailures.as_str(),
        LimitName::LoginAccount.as_str(),
    ];
    let login_failures = sqlx::query!(
        // A window still running (a long one set by MAWID_LIMIT_*) keeps counting.
        "DELETE FROM rate_limits
         WHERE name = ANY($1) AND window_start < $2 AND expires_at <= $3",
        &counters as &[&str],
        c.login_failures,
        now
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        + sqlx::query!(
            "DELETE FROM login_failures WHERE failed_at < $1",
            c.login_failures
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
    // The row stays (kind, language, times, and the reference staff find it by); the body with
    // the recipient's name and whatever the mail said goes.
    let mail_bodies = sqlx::query!(
        r#"UPDATE notifications
           SET payload = jsonb_strip_nulls(jsonb_build_object(
                   'purged', true,
                   'reference', payload->'reference',
                   'tracking_number', payload->'tracking_number'))
           WHERE status = 'sent' AND sent_at < $1 AND NOT payload ? 'purged'"#,
        c.mail_bodies
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let appointment_identities = sqlx::query!(
        "UPDATE appointments SET passport_number = NULL, national_number = NULL,
                walk_in_phone = NULL, walk_in_email = NULL
         WHERE slot_end < $1
           AND (passport_number IS NOT NULL OR national_number IS NOT NULL
                OR walk_in_phone IS NOT NULL OR walk_in_email IS NOT NULL)",
        c.identities
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let request_identities = sqlx::query!(
        "UPDATE document_requests SET applicant_passport = NULL, applicant_date_of_birth = NULL
         WHERE status IN ('collected', 'rejected', 'cancelled') AND status_changed_at < $1
           AND (applicant_passport IS NOT NULL OR applicant_date_of_birth IS NOT NULL)",
        c.identities
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Some(Purged {
        idempotency_keys,
        login_failures,
        mail_bodies,
        appointment_identities,
        request_identities,
    }))
}
