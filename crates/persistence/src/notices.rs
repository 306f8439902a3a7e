//! Office notices: posted and withdrawn by admins (audited), shown on the office while current.

use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::catalogue::Localized;
use mawid_domain::notice::NoticeDraft;
use mawid_domain::schedule::local_date;
use serde_json::json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::catalogue::{self, commit_audited};
use crate::StoreError;

pub struct NoticeRow {
    pub id: Uuid,
    pub office_id: Uuid,
    pub message_ar: String,
    pub message_ru: String,
    pub message_en: String,
    pub from_day: NaiveDate,
    pub until_day: NaiveDate,
    pub created_at: DateTime<Utc>,
}

impl NoticeRow {
    pub fn message(&self) -> Localized {
        Localized {
            ar: self.message_ar.clone(),
            ru: self.message_ru.clone(),
            en: self.message_en.clone(),
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn post(
    pool: &PgPool,
    actor_id: Uuid,
    office_id: Uuid,
    n: &NoticeDraft,
    now: DateTime<Utc>,
) -> Result<NoticeRow, StoreError> {
    let mut tx = pool.begin().await?;
    let office = catalogue::office(&mut *tx, office_id).await?;
    let row = sqlx::query_as!(
        NoticeRow,
        "INSERT INTO office_notices
            (id, office_id, message_ar, message_ru, message_en, from_day, until_day, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id, office_id, message_ar, message_ru, message_en, from_day, until_day,
                   created_at",
        Uuid::new_v4(),
        office.id,
        n.message.ar,
        n.message.ru,
        n.message.en,
        n.from,
        n.until,
        now,
    )
    .fetch_one(&mut *tx)
    .await?;
    let details = json!({ "notice_id": row.id, "from": n.from, "until": n.until });
    commit_audited(tx, actor_id, "notice.create", "office", office.id, details).await?;
    Ok(row)
}

#[tracing::instrument(skip_all)]
pub async fn withdraw(
    pool: &PgPool,
    actor_id: Uuid,
    office_id: Uuid,
    notice_id: Uuid,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        "DELETE FROM office_notices WHERE id = $1 AND office_id = $2",
        notice_id,
        office_id,
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let details = json!({ "notice_id": notice_id });
    commit_audited(tx, actor_id, "notice.delete", "office", office_id, details).await
}

/// The notices of an office that show on its local date at `now`, soonest ending first.
#[tracing::instrument(skip_all)]
pub async fn current(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<Vec<NoticeRow>, StoreError> {
    // The same window as `notice::is_current`, in the index's terms.
    let today = local_date(tz, now);
    Ok(sqlx::query_as!(
        NoticeRow,
        "SELECT id, office_id, message_ar, message_ru, message_en, from_day, until_day, created_at
         FROM office_notices
         WHERE office_id = $1 AND until_day >= $2 AND from_day <= $2
         ORDER BY until_day, created_at, id",
        office_id,
        today,
    )
    .fetch_all(ex)
    .await?)
}

/// An office with its current notices, for `GET /offices/{id}`.
#[tracing::instrument(skip_all)]
pub async fn office_with_notices(
    pool: &PgPool,
    office_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(catalogue::OfficeRow, Vec<NoticeRow>), StoreError> {
    let mut conn = pool.acquire().await?;
    let office = catalogue::office(&mut *conn, office_id).await?;
    let notices = current(&mut *conn, office.id, office.tz(), now).await?;
    Ok((office, notices))
}
