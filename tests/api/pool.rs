//! The server's connection pool: a connection idle for a while is checked before it is handed
//! out, one in steady use is not, and a failed statement does not spoil one for its next user.

use actix_web::http::StatusCode;
use mawid_persistence::{pool_options, PoolSettings, TRUSTED_IDLE};
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{TestApp, World};

/// A pool of `connections` to `pool`'s database, built as the server builds its own, with the
/// `session` settings added to those it sends.
async fn server_pool(pool: &PgPool, connections: u32, session: &[(&str, &str)]) -> PgPool {
    let settings = PoolSettings {
        max_connections: connections,
        ..PoolSettings::default()
    };
    pool_options(&settings)
        .connect_with(
            pool.connect_options()
                .as_ref()
                .clone()
                .options(session.iter().copied()),
        )
        .await
        .unwrap()
}

/// A one-connection server pool whose connection answered a statement and came back, after
/// which its backend was terminated; and that backend's pid.
async fn with_its_backend_terminated(pool: &PgPool) -> (PgPool, i32) {
    let server = server_pool(pool, 1, &[]).await;
    let first = backend_of(&server).await.unwrap();
    until_returned(&server).await;
    terminate(pool, first).await;
    (server, first)
}

async fn backend_of(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Waits until `pool`'s connections are all back and idle: sqlx pings each one as it returns, so
/// a backend terminated before that ping would be caught by it rather than by the hand-out.
async fn until_returned(pool: &PgPool) {
    for _ in 0..500 {
        if pool.num_idle() as u32 == pool.size() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    panic!("the connection never came back to the pool");
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
    let (server, first) = with_its_backend_terminated(&pool).await;
    tokio::time::sleep(TRUSTED_IDLE + std::time::Duration::from_millis(100)).await;

    let second = backend_of(&server)
        .await
        .expect("the dead connection was replaced before use");
    assert_ne!(first, second);
}

#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_connection_used_a_moment_ago_is_handed_out_without_a_ping(pool: PgPool) {
    let (server, first) = with_its_backend_terminated(&pool).await;

    // No ping found the connection dead, so the statement meets it: the one failure a request
    // can see, answered 503 like any lost connection, and the pool connects afresh after it.
    assert!(backend_of(&server).await.is_err());
    let second = backend_of(&server).await.expect("a fresh connection");
    assert_ne!(first, second);
}

/// A booking whose wait for the citizen's lock gives up (lock_timeout) ends in an aborted
/// transaction: the server's one connection for requests must still serve the next one
/// instead of refusing every statement. (This is why `BEGIN` and the lock are not sent as one
/// batch: sqlx rolls back only a transaction whose `BEGIN` succeeded.)
#[sqlx::test(migrator = "crate::helpers::MIGRATOR")]
async fn a_booking_whose_lock_timed_out_leaves_its_connection_usable(pool: PgPool) {
    let w = World::new(pool).await;
    // Two connections: the availability listener's, and one for the requests.
    let two = server_pool(&w.app.pool, 2, &[("lock_timeout", "200ms")]).await;
    let mut server = TestApp::new(two).await;
    server.clock.set(w.app.clock.now());
    server.same_settings_as(&w.app);
    server.until_listening().await;

    // Another session holds the citizen's lock, as a long booking of theirs would.
    let citizen: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(World::CITIZEN)
        .fetch_one(&w.app.pool)
        .await
        .unwrap();
    let mut holder = w.app.pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock(1, hashtext($1))")
        .bind(citizen.to_string())
        .execute(&mut *holder)
        .await
        .unwrap();
    let body = json!({ "office_id": w.office, "service_id": w.service, "start": w.at(2, "09:00") });
    server
        .post("/api/v1/appointments", Some(&w.citizen), body.clone())
        .await
        .expect_problem(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");

    let unlocked: bool = sqlx::query_scalar("SELECT pg_advisory_unlock(1, hashtext($1))")
        .bind(citizen.to_string())
        .fetch_one(&mut *holder)
        .await
        .unwrap();
    assert!(unlocked);
    server
        .post("/api/v1/appointments", Some(&w.citizen), body)
        .await
        .expect(StatusCode::CREATED);
}
