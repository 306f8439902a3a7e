//! The append-only log of staff actions.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::StoreError;

pub struct Entry<'a> {
    pub actor_id: Uuid,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: String,
    pub details: serde_json::Value,
}

#[tracing::instrument(skip_all)]
pub async fn record(ex: impl PgExecutor<'_>, e: Entry<'_>) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (actor_id, action, target_type, target_id, details) VALUES ($1, $2, $3, $4, $5)")
        .bind(e.actor_id)
        .bind(e.action)
        .bind(e.target_type)
        .bind(e.target_id)
        .bind(e.details)
        .execute(ex)
        .await?;
    Ok(())
}
