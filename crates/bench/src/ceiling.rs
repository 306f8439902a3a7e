//! The database's ceiling for one booking: pgbench runs the smallest transaction that does what a
//! booking must (`ceiling/booking.sql`) against its own minimal schema (`ceiling/schema.sql`) in a
//! scratch database on the same server, so HTTP booking can be stated as a share of it.

use anyhow::Context;
use sqlx::{Connection, Executor};

const SCHEMA: &str = include_str!("../ceiling/schema.sql");
const BOOKING: &str = include_str!("../ceiling/booking.sql");

/// Creates `mawid_ceiling` next to the bench database, seeds it, runs the transaction for
/// `seconds` with `clients` connections, drops the database and returns the transactions/s.
pub async fn run(admin_url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to DATABASE_URL")?;
    admin
        .execute("DROP DATABASE IF EXISTS mawid_ceiling WITH (FORCE)")
        .await?;
    admin.execute("CREATE DATABASE mawid_ceiling").await?;
    let slash = admin_url
        .rfind('/')
        .context("DATABASE_URL has no database name")?;
    let url = format!("{}/mawid_ceiling", &admin_url[..slash]);
    {
        let mut db = sqlx::PgConnection::connect(&url).await?;
        db.execute(SCHEMA)
            .await
            .context("seeding the ceiling's schema")?;
        // Outside the seed's implicit transaction, which VACUUM refuses; then clean buffers.
        db.execute("VACUUM ANALYZE").await?;
        db.execute("CHECKPOINT").await?;
    }
    let url_for_pgbench = url.clone();
    let tps = tokio::task::spawn_blocking(move || {
        crate::pgbench::run_script(&url_for_pgbench, BOOKING, clients, seconds)
    })
    .await??;
    admin
        .execute("DROP DATABASE IF EXISTS mawid_ceiling WITH (FORCE)")
        .await?;
    Ok(tps)
}
