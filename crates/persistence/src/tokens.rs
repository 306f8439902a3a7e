//! Queries on refresh tokens (rotated, in families) and single-use tokens; only hashes are stored.

use chrono::{DateTime, Utc};
use mawid_domain::account::{Purpose, StoredRefresh};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::StoreError;

#[tracing::instrument(skip_all)]
pub(crate) async fn insert_one_time(
    ex: impl PgExecutor<'_>,
    hash: &str,
    user_id: Uuid,
    purpose: Purpose,
    created_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO one_time_tokens (token_hash, user_id, purpose, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        hash,
        user_id,
        purpose.code(),
        created_at,
        purpose.expires_at(created_at),
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// How many tokens of `purpose` the user was sent since `since`.
#[tracing::instrument(skip_all)]
pub(crate) async fn issued_since(
    ex: impl PgExecutor<'_>,
    user_id: Uuid,
    purpose: Purpose,
    since: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM one_time_tokens
           WHERE user_id = $1 AND purpose = $2 AND created_at > $3"#,
        user_id,
        purpose.code(),
        since,
    )
    .fetch_one(ex)
    .await?)
}

/// Marks the token used and returns its user, or `None` when unknown, used or expired.
/// One UPDATE, so two concurrent uses cannot both succeed.
#[tracing::instrument(skip_all)]
pub(crate) async fn consume_one_time(
    ex: impl PgExecutor<'_>,
    hash: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        "UPDATE one_time_tokens SET used_at = $3
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING user_id",
        hash,
        purpose.code(),
        now,
    )
    .fetch_optional(ex)
    .await?)
}

#[tracing::instrument(skip_all)]
pub(crate) async fn insert_refresh(
    ex: impl PgExecutor<'_>,
    hash: &str,
    user_id: Uuid,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at)
         VALUES ($1, $2, $3, $4)",
        hash,
        user_id,
        family_id,
        expires_at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

#[derive(Debug)]
pub(crate) struct RefreshRow {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub stored: StoredRefresh,
}

/// Locks the token row so two concurrent refreshes with one token cannot both rotate it.
#[tracing::instrument(skip_all)]
pub(crate) async fn lock_refresh(
    conn: &mut PgConnection,
    hash: &str,
) -> Result<Option<RefreshRow>, StoreError> {
    let row = sqlx::query!(
        "SELECT user_id, family_id, expires_at, used_at, revoked_at
         FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        hash,
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| RefreshRow {
        user_id: r.user_id,
        family_id: r.family_id,
        stored: StoredRefresh {
            expires_at: r.expires_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
        },
    }))
}

#[tracing::instrument(skip_all)]
pub(crate) async fn mark_refresh_used(
    ex: impl PgExecutor<'_>,
    hash: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
        hash,
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_family(
    ex: impl PgExecutor<'_>,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_all_for_user(
    ex: impl PgExecutor<'_>,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// Revokes the family of `hash` when it belongs to `user_id`; returns whether it did.
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_family_of(
    ex: impl PgExecutor<'_>,
    hash: &str,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = $3
         WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)
           AND revoked_at IS NULL",
        hash,
        user_id,
        at,
    )
    .execute(ex)
    .await?
    .rows_affected();
    Ok(n > 0)
}
