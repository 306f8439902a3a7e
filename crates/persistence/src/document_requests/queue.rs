//! Lists of requests, a page at a time: the citizen's own and the staff work queue.

use chrono::{DateTime, Utc};
use mawid_domain::document::{DocumentStatus, QueueFilter};
use mawid_domain::page::Page;
use sqlx::{PgConnection, PgPool};
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
    let total = count_own(&mut conn, citizen_id).await?;
    let rows = page_own(&mut conn, citizen_id, page).await?;
    Ok((rows, total))
}

#[tracing::instrument(skip_all)]
async fn count_own(conn: &mut PgConnection, citizen_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM document_requests WHERE citizen_id = $1"#,
        citizen_id
    )
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all)]
async fn page_own(
    conn: &mut PgConnection,
    citizen_id: Uuid,
    page: &Page,
) -> Result<Vec<DocumentRequestRow>, sqlx::Error> {
    let rows = select_request!(
        "WHERE d.citizen_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2 OFFSET $3";
        citizen_id,
        page.limit(),
        page.offset(),
    )
    .fetch_all(conn)
    .await?;
    decode_all(rows)
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
    let args = QueueArgs::new(f, now);
    let mut conn = pool.acquire().await?;
    let total = count_queue(&mut conn, &args).await?;
    let rows = page_queue(&mut conn, &args, page).await?;
    Ok((rows, total))
}

/// The queue filter as bound to its SQL.
struct QueueArgs {
    status: Option<&'static str>,
    office_id: Option<Uuid>,
    service_id: Option<Uuid>,
    /// The statuses a request can be overdue in; `None` when not filtering on overdue.
    open: Option<Vec<String>>,
    now: DateTime<Utc>,
}

impl QueueArgs {
    fn new(f: &QueueFilter, now: DateTime<Utc>) -> Self {
        Self {
            status: f.status.map(DocumentStatus::code),
            office_id: f.office_id,
            service_id: f.service_id,
            open: f.overdue_only.then(|| {
                DocumentStatus::open_codes()
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }),
            now,
        }
    }
}

/// The staff queue's filter, written once for its page and its count: `$then` receives the
/// `WHERE` clause followed by `$tail`. Overdue compares as [`mawid_domain::document::Dwell`]
/// does, over the statuses the domain calls open ($4 is `NULL` when not filtering on it).
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

macro_rules! count_requests {
    ($($sql:literal)+ ; $($arg:expr),* $(,)?) => {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "total!" FROM document_requests d
               JOIN services s ON s.id = d.service_id "#
            $(+ $sql)+,
            $($arg),*
        )
    };
}

#[tracing::instrument(skip_all)]
async fn count_queue(conn: &mut PgConnection, a: &QueueArgs) -> Result<i64, sqlx::Error> {
    queue_where!(count_requests!();
        a.status, a.office_id, a.service_id, a.open.as_deref(), a.now)
    .fetch_one(conn)
    .await
}

#[tracing::instrument(skip_all)]
async fn page_queue(
    conn: &mut PgConnection,
    a: &QueueArgs,
    page: &Page,
) -> Result<Vec<DocumentRequestRow>, sqlx::Error> {
    let rows =
        queue_where!(select_request!() " ORDER BY d.status_changed_at, d.id LIMIT $6 OFFSET $7";
        a.status, a.office_id, a.service_id, a.open.as_deref(), a.now, page.limit(), page.offset())
        .fetch_all(conn)
        .await?;
    decode_all(rows)
}
