//! Lists of requests, a page at a time: the citizen's own and the staff work queue.

use chrono::{DateTime, Utc};
use mawid_domain::document::{DocumentStatus, QueueFilter};
use mawid_domain::page::Page;
use sqlx::PgPool;
use uuid::Uuid;

use super::{decode_all, select_request, DocumentRequestRow};
use crate::StoreError;

/// The citizen's own requests, newest first, and how many there are in all.
#[tracing::instrument(skip_all)]
pub async fn list_own(
    pool: &PgPool,
    citizen_id: Uuid,
    page: &Page,
) -> Result<(Vec<DocumentRequestRow>, i64), StoreError> {
    let mut conn = pool.acquire().await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM document_requests WHERE citizen_id = $1"#,
        citizen_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = select_request!(
        "WHERE d.citizen_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2 OFFSET $3";
        citizen_id,
        page.limit(),
        page.offset(),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((decode_all(rows)?, total))
}

/// The staff queue's filter, written once for its page and its count: `$then` receives the
/// `WHERE` clause followed by `$tail`. Overdue compares as [`mawid_domain::document::Dwell`]
/// does, over the statuses it names open ($4 is `NULL` when not filtering on it).
macro_rules! queue_where {
    ($then:ident!() $($tail:literal)* ; $($arg:expr),* $(,)?) => {
        $then!(
            "WHERE ($1::text IS NULL OR d.status = $1)
               AND ($2::uuid IS NULL OR d.office_id = $2)
               AND ($3::uuid IS NULL OR d.service_id = $3)
               AND ($4::text[] IS NULL OR (d.status = ANY($4)
                    AND d.status_changed_at + make_interval(days => s.target_days_per_status) < $5))"
            $($tail)* ;
            $($arg),*
        )
    };
}

macro_rules! count_queue {
    ($($sql:literal)+ ; $($arg:expr),* $(,)?) => {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "total!" FROM document_requests d
               JOIN services s ON s.id = d.service_id "#
            $(+ $sql)+,
            $($arg),*
        )
    };
}

/// The staff work queue: longest in its current status first, ties broken by id so pages are
/// stable. Returns the page and how many requests match in all.
#[tracing::instrument(skip_all)]
pub async fn queue(
    pool: &PgPool,
    f: &QueueFilter,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<(Vec<DocumentRequestRow>, i64), StoreError> {
    let status = f.status.map(DocumentStatus::code);
    let open = f.overdue_only.then(|| {
        DocumentStatus::open_codes()
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<String>>()
    });
    let mut conn = pool.acquire().await?;
    let total = queue_where!(count_queue!();
        status, f.office_id, f.service_id, open.as_deref(), now)
    .fetch_one(&mut *conn)
    .await?;
    let rows =
        queue_where!(select_request!() " ORDER BY d.status_changed_at, d.id LIMIT $6 OFFSET $7";
        status, f.office_id, f.service_id, open.as_deref(), now, page.limit(), page.offset())
        .fetch_all(&mut *conn)
        .await?;
    Ok((decode_all(rows)?, total))
}
