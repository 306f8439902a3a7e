//! PostgreSQL repositories per aggregate, the migrator and the constraint → error table.

pub mod accounts;
pub mod appointments;
pub mod audit;
pub mod catalogue;
pub mod document_requests;
pub mod limits;
pub mod outbox;
pub mod sample;
pub mod schedules;
mod tokens;
pub mod users;

use std::time::Duration;

use mawid_domain::Code;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
pub use sqlx::{PgPool, Postgres, Transaction};

pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A named constraint (or a state check) refused the write.
    #[error("conflict: {0}")]
    Conflict(Code),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Constraint names are part of the API: each maps to one stable error code.
pub fn conflict_code(e: &sqlx::Error) -> Option<Code> {
    match e.as_database_error()?.constraint()? {
        "users_email_key" => Some(Code::EmailTaken),
        "document_requests_appointment_key" => Some(Code::DocumentRequestExists),
        "offices_code_key" => Some(Code::OfficeCodeTaken),
        "services_code_key" => Some(Code::ServiceCodeTaken),
        "closures_pkey" => Some(Code::ClosureExists),
        _ => None,
    }
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match conflict_code(&e) {
        Some(code) => StoreError::Conflict(code),
        None => StoreError::Db(e),
    }
}

/// A value the schema admits but the domain does not know. It is an error naming the column,
/// never a default: a silently "fixed" status or zone would be shown and acted on.
pub(crate) fn corrupt(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{column} holds an unknown value {value:?}").into())
}

/// A stored IANA zone name.
pub(crate) fn decode_timezone(column: &str, raw: &str) -> Result<chrono_tz::Tz, sqlx::Error> {
    raw.parse().map_err(|_| corrupt(column, raw))
}

/// As [`corrupt`], for a value whose parser says why it is refused.
pub(crate) fn corrupt_because(
    column: &str,
    value: &str,
    why: impl std::fmt::Display,
) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(
        format!("{column} holds {value:?}: {why}").into(),
    ))
}

pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    /// About the throughput knee measured for 2 cores; a short acquire timeout turns an
    /// unreachable database into a quick 503 instead of a 30 s queue.
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

pub fn pool_options(settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
}

/// Session settings sent at connection start-up: bounded lock and statement waits, so a stuck
/// migration or a manual LOCK cannot hold requests forever. `synchronous_commit` stays at its
/// default (on): a 201 promises the booking is durable.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let opts: PgConnectOptions = url.parse()?;
    Ok(opts.options([("statement_timeout", "15s"), ("lock_timeout", "5s")]))
}

pub async fn connect(url: &str, settings: &PoolSettings) -> Result<PgPool, sqlx::Error> {
    pool_options(settings)
        .connect_with(connect_options(url)?)
        .await
}

pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT 1 AS one")
        .fetch_one(pool)
        .await
        .map(|_| ())
}
