//! PostgreSQL repositories per aggregate, the migrator and the constraint → error table.

pub mod access;
pub mod accounts;
pub mod appointments;
pub mod audit;
pub mod catalogue;
pub mod citizens;
pub mod document_requests;
pub mod limits;
pub mod notices;
mod offer;
pub mod outbox;
pub mod personal;
pub mod retention;
pub mod sample;
pub mod schedules;
pub mod search;
pub mod stats;
pub mod suspension;
mod tokens;
pub mod users;
pub mod waitlist;
pub mod webhooks;

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
        "waitlist_citizen_key" | "waitlist_identity_key" => Some(Code::AlreadyWaitlisted),
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

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a free connection (or a new one) before it is refused.
    pub acquire_timeout: Duration,
    /// Longest a single statement may run; `None` leaves the server's setting.
    pub statement_timeout: Option<Duration>,
    /// Longest a statement waits for a row or table lock; `None` leaves the server's setting.
    pub lock_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    /// Twice the cores plus one for 2 cores, PostgreSQL's rule of thumb: bookings go as fast as
    /// with 10 (the CPU is the limit), and the fewer busy backends leave the calendar's reads
    /// a core in a release storm (p99 9 ms instead of 14 to 42). A short acquire timeout turns
    /// an unreachable database into a quick 503 instead of a 30 s queue.
    fn default() -> Self {
        Self {
            max_connections: 5,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Some(Duration::from_secs(15)),
            lock_timeout: Some(Duration::from_secs(5)),
        }
    }
}

/// How long after its last use a pooled connection is taken as alive without a ping.
pub const TRUSTED_IDLE: Duration = Duration::from_secs(1);

/// sqlx pings a connection when it is returned and, by default, again when it is handed out: a
/// round trip each, as costly as a small statement, and a booking acquires three times. One
/// returned within [`TRUSTED_IDLE`] answered that ping a moment ago, so only a connection idle
/// for longer (the server may have dropped it meanwhile) is pinged again, and replaced when
/// the ping fails.
pub fn pool_options(settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= TRUSTED_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// Session settings sent at connection start-up, so they hold for every statement of every
/// request on the pool: bounded lock and statement waits, so a stuck migration or a manual LOCK
/// cannot hold requests forever. `synchronous_commit` stays at its default (on): a 201 promises
/// the booking is durable.
pub fn connect_options(
    url: &str,
    settings: &PoolSettings,
) -> Result<PgConnectOptions, sqlx::Error> {
    let mut opts: PgConnectOptions = url.parse()?;
    // Operators find the server's sessions by name (and a fault test terminates them by it).
    if opts.get_application_name().is_none() {
        opts = opts.application_name("mawid");
    }
    let millis = |d: Option<Duration>| d.map(|d| format!("{}ms", d.as_millis()));
    let mut session = Vec::new();
    if let Some(v) = millis(settings.statement_timeout) {
        session.push(("statement_timeout", v));
    }
    if let Some(v) = millis(settings.lock_timeout) {
        session.push(("lock_timeout", v));
    }
    Ok(if session.is_empty() {
        opts
    } else {
        opts.options(session)
    })
}

pub async fn connect(url: &str, settings: &PoolSettings) -> Result<PgPool, sqlx::Error> {
    pool_options(settings)
        .connect_with(connect_options(url, settings)?)
        .await
}

/// A second pool of `connections` to `pool`'s database, with its settings, connecting when first
/// used: for reads that must not queue behind the main pool's transactions.
pub fn side_pool(pool: &PgPool, settings: &PoolSettings, connections: u32) -> PgPool {
    let settings = PoolSettings {
        max_connections: connections,
        ..settings.clone()
    };
    pool_options(&settings).connect_lazy_with(pool.connect_options().as_ref().clone())
}

/// Whether `e` says the database cannot serve now, though it may in a moment: no connection to
/// be had (refused, dropped, pool timed out), the server shutting down or terminating the
/// session (SQLSTATE class 57, `pg_terminate_backend`), a connection exception (class 08), too
/// many connections, or a statement stopped by `lock_timeout` or `statement_timeout`. A client
/// should try again later; nothing it sent was wrong.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| sqlstate_is_unavailable(&c)),
        _ => false,
    }
}

/// The SQLSTATEs of [`is_unavailable`].
fn sqlstate_is_unavailable(code: &str) -> bool {
    // 57: operator intervention (57014 query_canceled is statement_timeout, 57P01 admin
    // shutdown, 57P02 crash shutdown, 57P03 cannot connect now); 08: connection exception;
    // 53300 too_many_connections; 55P03 lock_not_available (lock_timeout).
    code.starts_with("57") || code.starts_with("08") || code == "53300" || code == "55P03"
}

pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT 1 AS one")
        .fetch_one(pool)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdowns_terminations_and_timeouts_are_unavailability_not_bugs() {
        for code in [
            "57P01", "57P02", "57P03", "57014", "08006", "08001", "53300", "55P03",
        ] {
            assert!(sqlstate_is_unavailable(code), "{code}");
        }
        for code in ["23505", "40001", "42P01", "22P02", "XX000"] {
            assert!(!sqlstate_is_unavailable(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn the_session_timeouts_travel_in_the_startup_options() {
        let opts = connect_options("postgres://u@localhost/db", &PoolSettings::default()).unwrap();
        assert_eq!(
            opts.get_options(),
            Some("-c statement_timeout=15000ms -c lock_timeout=5000ms")
        );
    }
}
