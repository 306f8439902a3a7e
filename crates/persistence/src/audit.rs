//! The append-only log of staff actions: writing an entry, reading a filtered page.

use chrono::{DateTime, Utc};
use mawid_domain::page::Page;
use sqlx::{PgExecutor, PgPool};
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
    sqlx::query!(
        "INSERT INTO audit_log (actor_id, action, target_type, target_id, details)
         VALUES ($1, $2, $3, $4, $5)",
        e.actor_id,
        e.action,
        e.target_type,
        e.target_id,
        e.details
    )
    .execute(ex)
    .await?;
    Ok(())
}

// --- Reading the log (booking area) ---

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page of matching entries, newest first, and the number of all matching entries.
pub struct Found {
    pub items: Vec<AuditRow>,
    pub total: i64,
}

/// Both statements of [`list`] with the filter written once: `$1`..`$5` are the fields of
/// `$f`, further arguments follow. `$query` names the sqlx macro, `[$out]` its leading arguments.
macro_rules! matching {
    ($query:ident, [$($out:tt)*], $select:literal, $tail:literal, $f:expr $(, $arg:expr)*) => {
        sqlx::$query!(
            $($out)*
            $select
                + " FROM audit_log
                   WHERE ($1::text IS NULL OR action = $1)
                     AND ($2::uuid IS NULL OR actor_id = $2)
                     AND ($3::text IS NULL OR target_type = $3)
                     AND ($4::timestamptz IS NULL OR at >= $4)
                     AND ($5::timestamptz IS NULL OR at < $5) "
                + $tail,
            $f.action.as_deref(),
            $f.actor_id,
            $f.target_type.as_deref(),
            $f.from,
            $f.to
            $(, $arg)*
        )
    };
}

#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool, f: &Filter, page: Page) -> Result<Found, StoreError> {
    let items = matching!(
        query_as,
        [AuditRow,],
        "SELECT id, actor_id, action, target_type, target_id, details, at",
        "ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7",
        f,
        page.limit(),
        page.offset()
    )
    .fetch_all(pool)
    .await?;
    let total = matching!(query_scalar, [], r#"SELECT count(*) AS "total!""#, "", f)
        .fetch_one(pool)
        .await?;
    Ok(Found { items, total })
}
