//! Suspending a citizen's account and reinstating it (admin), each one audited transaction.

use chrono::{DateTime, Utc};
use mawid_domain::appointment::Cancellation;
use mawid_domain::text::Reason;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::appointments::{lifecycle, BookingError};
use crate::{audit, StoreError};

/// Suspends the citizen: every future booking is cancelled by staff with the reason (mailed,
/// its desk released into its cool-down), every waiting waitlist entry is left, and from the
/// next request on the account's tokens and logins are refused. A citizen already suspended
/// keeps the first suspension's time. Returns how many bookings were cancelled.
#[tracing::instrument(skip_all)]
pub async fn suspend(
    pool: &PgPool,
    admin_id: Uuid,
    citizen_id: Uuid,
    reason: &Reason,
    now: DateTime<Utc>,
) -> Result<usize, BookingError> {
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!(
        "UPDATE users SET suspended_at = COALESCE(suspended_at, $2), suspension_reason = $3,
            updated_at = $2
         WHERE id = $1 AND role = 'citizen' RETURNING id",
        citizen_id,
        now,
        reason.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let future = sqlx::query_scalar!(
        "SELECT id FROM appointments
         WHERE citizen_id = $1 AND status = 'booked' AND slot_start > $2
         ORDER BY slot_start",
        citizen_id,
        now
    )
    .fetch_all(&mut *tx)
    .await?;
    let staff = Cancellation::Staff {
        actor_id: admin_id,
        reason: reason.clone(),
    };
    for id in &future {
        lifecycle::cancel_in(&mut tx, *id, &staff, now).await?;
    }
    let left = sqlx::query!(
        "UPDATE waitlist_entries SET status = 'left', updated_at = $2
         WHERE citizen_id = $1 AND status = 'waiting'",
        citizen_id,
        now
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut *tx,
        audit::Entry {
            actor_id: admin_id,
            action: "citizen.suspend",
            target_type: "user",
            target_id: citizen_id.to_string(),
            details: json!({
                "reason": reason.as_str(),
                "cancelled_bookings": future.len(),
                "waitlist_entries_left": left,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(future.len())
}

/// Lifts a suspension; the cancelled bookings stay cancelled.
#[tracing::instrument(skip_all)]
pub async fn reinstate(
    pool: &PgPool,
    admin_id: Uuid,
    citizen_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query_scalar!(
        "UPDATE users SET suspended_at = NULL, suspension_reason = NULL, updated_at = $2
         WHERE id = $1 AND role = 'citizen' RETURNING id",
        citizen_id,
        now
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    audit::record(
        &mut *tx,
        audit::Entry {
            actor_id: admin_id,
            action: "citizen.reinstate",
            target_type: "user",
            target_id: citizen_id.to_string(),
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
