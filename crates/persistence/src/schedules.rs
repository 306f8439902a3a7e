//! Weekly schedules per office and service, and office closures.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use mawid_domain::schedule::WeeklyTemplate;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::{map_err, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub office_id: Uuid,
    pub service_id: Uuid,
    pub capacity: i32,
    pub weekly: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

impl ScheduleRow {
    /// The stored template was validated on the way in; a row that no longer parses offers nothing.
    pub fn template(&self) -> WeeklyTemplate {
        serde_json::from_value::<BTreeMap<String, Vec<[String; 2]>>>(self.weekly.clone())
            .ok()
            .and_then(|m| WeeklyTemplate::parse(&m).ok())
            .unwrap_or_default()
    }
}

#[tracing::instrument(skip_all)]
pub async fn get(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
) -> Result<Option<ScheduleRow>, StoreError> {
    Ok(sqlx::query_as::<_, ScheduleRow>(
        "SELECT office_id, service_id, capacity, weekly, updated_at FROM schedules
         WHERE office_id = $1 AND service_id = $2",
    )
    .bind(office_id)
    .bind(service_id)
    .fetch_optional(ex)
    .await?)
}

#[tracing::instrument(skip_all)]
pub async fn put(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
    capacity: i32,
    template: &WeeklyTemplate,
    now: DateTime<Utc>,
) -> Result<ScheduleRow, StoreError> {
    let weekly = serde_json::json!(template.to_map());
    sqlx::query_as::<_, ScheduleRow>(
        "INSERT INTO schedules (office_id, service_id, capacity, weekly, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (office_id, service_id) DO UPDATE SET capacity = $3, weekly = $4, updated_at = $5
         RETURNING office_id, service_id, capacity, weekly, updated_at",
    )
    .bind(office_id)
    .bind(service_id)
    .bind(capacity)
    .bind(weekly)
    .bind(now)
    .fetch_one(ex)
    .await
    .map_err(map_err)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClosureRow {
    pub day: NaiveDate,
    pub reason: String,
}

#[tracing::instrument(skip_all)]
pub async fn add_closure(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
    reason: &str,
) -> Result<ClosureRow, StoreError> {
    sqlx::query_as::<_, ClosureRow>(
        "INSERT INTO closures (office_id, day, reason) VALUES ($1, $2, $3) RETURNING day, reason",
    )
    .bind(office_id)
    .bind(day)
    .bind(reason)
    .fetch_one(ex)
    .await
    .map_err(map_err)
}

#[tracing::instrument(skip_all)]
pub async fn delete_closure(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM closures WHERE office_id = $1 AND day = $2")
        .bind(office_id)
        .bind(day)
        .execute(ex)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn closures(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ClosureRow>, StoreError> {
    Ok(sqlx::query_as::<_, ClosureRow>(
        "SELECT day, reason FROM closures WHERE office_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
    )
    .bind(office_id)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await?)
}

pub async fn closed_days(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeSet<NaiveDate>, StoreError> {
    Ok(closures(ex, office_id, from, to)
        .await?
        .into_iter()
        .map(|c| c.day)
        .collect())
}

/// Places taken per slot start in `[from, to)`: every status but cancelled holds a desk.
#[tracing::instrument(skip_all)]
pub async fn taken(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<DateTime<Utc>, i64>, StoreError> {
    let rows: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT slot_start, count(*) FROM appointments
         WHERE office_id = $1 AND service_id = $2 AND slot_start >= $3 AND slot_start < $4
           AND status <> 'cancelled'
         GROUP BY slot_start",
    )
    .bind(office_id)
    .bind(service_id)
    .bind(from)
    .bind(to)
    .fetch_all(ex)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Starts of the future `booked` appointments of one office and service.
#[tracing::instrument(skip_all)]
pub async fn future_booked_starts(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT slot_start FROM appointments
         WHERE office_id = $1 AND service_id = $2 AND status = 'booked' AND slot_start > $3",
    )
    .bind(office_id)
    .bind(service_id)
    .bind(now)
    .fetch_all(ex)
    .await?)
}

/// Future `booked` appointments of an office on one of its local dates.
#[tracing::instrument(skip_all)]
pub async fn future_booked_on(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM appointments a JOIN offices o ON o.id = a.office_id
         WHERE a.office_id = $1 AND a.status = 'booked' AND a.slot_start > $3
           AND (a.slot_start AT TIME ZONE o.timezone)::date = $2",
    )
    .bind(office_id)
    .bind(day)
    .bind(now)
    .fetch_one(ex)
    .await?)
}
