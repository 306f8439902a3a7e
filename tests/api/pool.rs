//! The server's connection pool: a connection idle for a while is checked before it is handed
//! out, one in steady use is not.

use mawid_persistence::{pool_options, PoolSettings, TRUSTED_IDLE};
use sqlx::PgPool;

/// A pool of one connection to `pool`'s database, built as the server builds its own.
async fn server_pool(pool: &PgPool) -> PgPool {
    let settings = PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    };
    pool_options(&settings)
        .connect_with(pool.connect_options().as_ref().clone())
        .await
        .unwrap()
}

async fn backend_of(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

async fn terminate(admin: &PgPool, pid: i32) {
    let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    assert!(done, "backend {pid} was terminated");
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_connection_idle_past_the_trusted_time_is_pinged_and_replaced_when_dead(pool: PgPool) {
    let server = server_pool(&pool).await;
    let first = backend_of(&server).await.unwrap();
    terminate(&pool, first).await;
    tokio::time::sleep(TRUSTED_IDLE + std::time::Duration::from_millis(100)).await;

    let second = backend_of(&server)
        .await
        .expect("the dead connection was replaced before use");
    assert_ne!(first, second);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_connection_used_a_moment_ago_is_handed_out_without_a_ping(pool: PgPool) {
    let server = server_pool(&pool).await;
    let first = backend_of(&server).await.unwrap();
    terminate(&pool, first).await;

    // No ping found the connection dead, so the statement meets it: the one failure a request
    // can see, answered 503 like any lost connection, and the pool connects afresh after it.
    assert!(backend_of(&server).await.is_err());
    let second = backend_of(&server).await.expect("a fresh connection");
    assert_ne!(first, second);
}
