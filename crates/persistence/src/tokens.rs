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

/// Starts the family of a new sign-in.
#[tracing::instrument(skip_all)]
pub(crate) async fn insert_family(
    ex: impl PgExecutor<'_>,
    family_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO token_families (id, user_id, created_at) VALUES ($1, $2, $3)",
        family_id,
        user_id,
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}

/// The family a refresh token belongs to, read without a lock: the family is locked first
/// (see [`lock_family`]), then the token, the order every revocation also takes.
#[tracing::instrument(skip_all)]
pub(crate) async fn family_of(
    ex: impl PgExecutor<'_>,
    hash: &str,
) -> Result<Option<(Uuid, Uuid)>, StoreError> {
    Ok(sqlx::query!(
        "SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1",
        hash
    )
    .fetch_optional(ex)
    .await?
    .map(|r| (r.family_id, r.user_id)))
}

/// Locks the family row and tells whether it is revoked. A revocation waits for this lock, so
/// a rotation either finishes before it (and its new token falls with the family) or sees it.
/// A family started by the previous release has no row yet: it gets one here.
#[tracing::instrument(skip_all)]
pub(crate) async fn lock_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    sqlx::query!(
        "INSERT INTO token_families (id, user_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
        family_id,
        user_id,
        now,
    )
    .execute(&mut *conn)
    .await?;
    let revoked_at = sqlx::query_scalar!(
        "SELECT revoked_at FROM token_families WHERE id = $1 FOR UPDATE",
        family_id
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(revoked_at.is_some())
}

/// Revokes a family: its row first (the state refresh checks), then its tokens (which the
/// previous release reads).
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_family(
    conn: &mut PgConnection,
    family_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        family_id,
        at,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
        at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes every family of the user, in the same order as [`revoke_family`].
#[tracing::instrument(skip_all)]
pub(crate) async fn revoke_all_for_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE token_families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        at,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        user_id,
        at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks every unused token of `purpose` of the user used (a completed reset voids the others).
#[tracing::instrument(skip_all)]
pub(crate) async fn void_one_time(
    ex: impl PgExecutor<'_>,
    user_id: Uuid,
    purpose: Purpose,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE one_time_tokens SET used_at = $3
         WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        user_id,
        purpose.code(),
        at,
    )
    .execute(ex)
    .await?;
    Ok(())
}
