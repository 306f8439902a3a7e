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

// --- Reading the log (booking area) ---

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// One page of matching entries, newest first, and the number of all matching entries.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &sqlx::PgPool,
    f: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), StoreError> {
    const WHERE: &str = "WHERE ($1::text IS NULL OR action = $1)
          AND ($2::uuid IS NULL OR actor_id = $2)
          AND ($3::text IS NULL OR target_type = $3)
          AND ($4::timestamptz IS NULL OR at >= $4)
          AND ($5::timestamptz IS NULL OR at < $5)";
    let rows = sqlx::query_as::<_, AuditRow>(&format!(
        "SELECT id, actor_id, action, target_type, target_id, details, at FROM audit_log {WHERE}
         ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7"
    ))
    .bind(&f.action)
    .bind(f.actor_id)
    .bind(&f.target_type)
    .bind(f.from)
    .bind(f.to)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM audit_log {WHERE}"))
        .bind(&f.action)
        .bind(f.actor_id)
        .bind(&f.target_type)
        .bind(f.from)
        .bind(f.to)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}
