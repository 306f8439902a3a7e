//! Faults from outside, on the real binary and a real PostgreSQL (product.md v1.1 "Faults"):
//! PostgreSQL restarted or its sessions terminated under load, lock and statement timeouts, an
//! exhausted pool, and the server killed with SIGKILL mid-booking. Each test prints its figures
//! (`cargo test --test faults -- --nocapture`).

mod harness;
mod load;
#[path = "../../../../tests/api/helpers/smtp.rs"]
#[allow(dead_code)]
mod smtp;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use harness::{answer, request, runtime, seed, tally, Cluster, Db, Outcome, Server, World};
use load::{Load, Mix};

/// Every answer is a success, a business refusal, or a 503 `database_unavailable` with
/// `Retry-After`, within `bound`; never a 500, never a hang, never a dropped connection.
#[track_caller]
fn assert_no_500_and_no_hang(load: &Load, bound: Duration) {
    for r in &load.records {
        match &r.outcome {
            Outcome::Answer(a) if a.status < 300 => {}
            Outcome::Answer(a) if [409, 422].contains(&a.status) => {}
            Outcome::Answer(a) => assert!(
                a.is_unavailable_with_retry_after(),
                "{} {} answered {} {:?} {:?}",
                r.method,
                r.path,
                a.status,
                a.headers,
                a.body
            ),
            Outcome::NoAnswer(e) => panic!("{} {}: no answer: {e}", r.method, r.path),
        }
        assert!(
            r.elapsed <= bound,
            "{} {} took {:?}",
            r.method,
            r.path,
            r.elapsed
        );
    }
}

/// The bookings in the database are exactly those answered 201 (after the unanswered and the
/// 503 ones were retried with their Idempotency-Key), each once, each with its confirmation
/// mail queued in the same transaction.
#[track_caller]
fn assert_bookings_match_the_answers(
    rt: &tokio::runtime::Runtime,
    pool: &sqlx::PgPool,
    created: &[String],
) -> usize {
    let unique: HashSet<&String> = created.iter().collect();
    assert_eq!(unique.len(), created.len(), "one 201 per booking");
    let stored: Vec<(String,)> = rt
        .block_on(sqlx::query_as("SELECT id::text FROM appointments").fetch_all(pool))
        .unwrap();
    let stored: HashSet<String> = stored.into_iter().map(|r| r.0).collect();
    let answered: HashSet<String> = created.iter().cloned().collect();
    assert_eq!(
        stored.difference(&answered).count(),
        0,
        "a booking nobody got a 201 for"
    );
    assert_eq!(
        answered.difference(&stored).count(),
        0,
        "a 201 that was lost"
    );
    let (no_mail,): (i64,) = rt
        .block_on(
            sqlx::query_as(
                "SELECT count(*) FROM appointments a WHERE NOT EXISTS (
                     SELECT 1 FROM notifications n WHERE n.payload->>'appointment_id' = a.id::text)",
            )
            .fetch_one(pool),
        )
        .unwrap();
    assert_eq!(no_mail, 0, "a booking without its confirmation mail");
    stored.len()
}

#[test]
fn postgres_restarted_under_load_answers_503_with_retry_after_and_recovers_by_itself() {
    let rt = runtime();
    let cluster = Cluster::start();
    let db = Db::on(&rt, &cluster.url, "restart");
    seed(&db.url);
    let acquire = Duration::from_secs(2);
    let server = Server::start(&db.url, &[("MAWID_DB_ACQUIRE_TIMEOUT_MS", "2000")]);
    let pool = db.pool(&rt);
    let world = World::build(&rt, &pool, server.addr, 24);

    let mut restart = None;
    let load = Load::run(
        &world,
        || server.addr,
        6,
        Mix::BookAndRead,
        |_| {
            std::thread::sleep(Duration::from_millis(1000));
            let began = Instant::now();
            let took = cluster.restart_fast();
            restart = Some((began, began + took));
            std::thread::sleep(Duration::from_millis(2500));
        },
    );
    let (down_from, up_at) = restart.unwrap();

    assert_no_500_and_no_hang(&load, acquire + Duration::from_secs(3));
    let unavailable = load.count(|a| a.status == 503);
    assert!(
        unavailable > 0,
        "the restart was seen: {}",
        tally(load.outcomes())
    );
    let first_success_after = load
        .records
        .iter()
        .filter(|r| r.started >= up_at && r.success())
        .map(|r| r.started + r.elapsed)
        .min()
        .expect("requests succeed again after the restart");
    let recovery = first_success_after.saturating_duration_since(up_at);
    assert!(
        recovery <= Duration::from_secs(5),
        "recovered in {recovery:?}"
    );
    assert_eq!(
        answer(server.addr, "GET", "/readyz", None, None).status,
        200
    );

    let created = load.settle(server.addr);
    let bookings = assert_bookings_match_the_answers(&rt, &pool, &created);
    assert!(
        bookings > 0,
        "the load booked nothing: the fault went untested"
    );
    println!(
        "FIGURES pg restart: restart took {:?}, {} requests ({}), 503s {unavailable}, first success {:?} after PostgreSQL accepted again, longest answer {:?}, bookings checked {bookings}",
        up_at - down_from,
        load.records.len(),
        tally(load.outcomes()),
        recovery,
        load.longest(),
    );
    server.stop_cleanly();
    rt.block_on(pool.close());
}

#[test]
fn terminated_sessions_answer_503_or_succeed_and_the_pool_replaces_them() {
    let rt = runtime();
    let db = Db::shared(&rt, "terminate");
    seed(&db.url);
    let server = Server::start(&db.url, &[]);
    let pool = db.pool(&rt);
    let world = World::build(&rt, &pool, server.addr, 16);

    let mut terminated = 0;
    let load = Load::run(
        &world,
        || server.addr,
        4,
        Mix::BookAndRead,
        |_| {
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(300));
                let (n,): (i64,) = rt
                .block_on(
                    sqlx::query_as(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE application_name = 'mawid' AND datname = current_database()",
                    )
                    .fetch_one(&pool),
                )
                .unwrap();
                terminated += n;
            }
            std::thread::sleep(Duration::from_millis(500));
        },
    );

    assert!(terminated > 0, "the server's sessions were found by name");
    assert_no_500_and_no_hang(&load, Duration::from_secs(6));
    let after = answer(server.addr, "GET", &world.availability_path(0), None, None);
    assert_eq!(after.status, 200, "the pool reconnected: {:?}", after.body);
    let created = load.settle(server.addr);
    let bookings = assert_bookings_match_the_answers(&rt, &pool, &created);
    assert!(
        bookings > 0,
        "the load booked nothing: the fault went untested"
    );
    println!(
        "FIGURES pg_terminate_backend: {terminated} sessions terminated in 5 rounds, {} requests ({}), bookings checked {bookings}",
        load.records.len(),
        tally(load.outcomes()),
    );
    server.stop_cleanly();
    rt.block_on(pool.close());
    db.drop_with(&rt);
}

/// Holds `LOCK TABLE appointments` (which every booking and availability read needs) until the
/// returned connection is dropped or rolled back.
fn lock_appointments(rt: &tokio::runtime::Runtime, db: &Db) -> sqlx::PgConnection {
    use sqlx::Connection;
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("LOCK TABLE appointments IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    })
}

fn unlock(rt: &tokio::runtime::Runtime, mut conn: sqlx::PgConnection) {
    rt.block_on(sqlx::query("ROLLBACK").execute(&mut conn))
        .unwrap();
}

#[test]
fn lock_and_statement_timeouts_and_an_exhausted_pool_answer_503_and_never_hang() {
    let rt = runtime();
    let db = Db::shared(&rt, "timeouts");
    seed(&db.url);
    let pool = db.pool(&rt);
    let mut figures = Vec::new();

    // lock_timeout (55P03): a booking waiting on a held lock gives up after 500 ms.
    let server = Server::start(
        &db.url,
        &[
            ("MAWID_DB_LOCK_TIMEOUT_MS", "500"),
            ("MAWID_DB_STATEMENT_TIMEOUT_MS", "0"),
        ],
    );
    let world = World::build(&rt, &pool, server.addr, 2);
    let (token, booking) = world.booking(0);
    let held = lock_appointments(&rt, &db);
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/appointments".to_owned(),
            Some(booking.clone()),
        ),
        ("GET", world.availability_path(0), None),
    ] {
        let t = Instant::now();
        let a = answer(server.addr, method, &path, Some(&token), body.as_ref());
        assert!(
            a.is_unavailable_with_retry_after(),
            "{} {:?}",
            a.status,
            a.body
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        figures.push(format!("lock_timeout {method}: 503 in {:?}", t.elapsed()));
    }
    let healthz = answer(server.addr, "GET", "/healthz", None, None);
    assert_eq!(healthz.status, 200, "liveness needs no lock");
    unlock(&rt, held);
    let booked = answer(
        server.addr,
        "POST",
        "/api/v1/appointments",
        Some(&token),
        Some(&booking),
    );
    assert_eq!(booked.status, 201, "{:?}", booked.body);
    drop(server);

    // statement_timeout (57014): the same wait, stopped by the statement's own limit.
    let server = Server::start(
        &db.url,
        &[
            ("MAWID_DB_LOCK_TIMEOUT_MS", "0"),
            ("MAWID_DB_STATEMENT_TIMEOUT_MS", "500"),
        ],
    );
    let held = lock_appointments(&rt, &db);
    let t = Instant::now();
    let a = answer(server.addr, "GET", &world.availability_path(1), None, None);
    assert!(
        a.is_unavailable_with_retry_after(),
        "{} {:?}",
        a.status,
        a.body
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    figures.push(format!("statement_timeout GET: 503 in {:?}", t.elapsed()));
    unlock(&rt, held);
    assert_eq!(
        answer(server.addr, "GET", &world.availability_path(1), None, None).status,
        200
    );
    drop(server);

    // Two connections, twelve requests while both are stuck behind the lock: the others queue
    // for the acquire timeout and get a 503; none hangs. Then, with the lock gone, twelve at
    // once on two connections queue and all succeed.
    let server = Server::start(
        &db.url,
        &[
            ("MAWID_DB_MAX_CONNECTIONS", "2"),
            ("MAWID_DB_ACQUIRE_TIMEOUT_MS", "1000"),
            ("MAWID_DB_LOCK_TIMEOUT_MS", "3000"),
        ],
    );
    let held = lock_appointments(&rt, &db);
    let burst = |n: usize| -> Vec<(Outcome, Duration)> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let path = world.availability_path(i);
                    let addr = server.addr;
                    s.spawn(move || {
                        let t = Instant::now();
                        let o = request(addr, "GET", &path, &[], None, Duration::from_secs(20));
                        (o, t.elapsed())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    let stuck = burst(12);
    unlock(&rt, held);
    for (o, took) in &stuck {
        let Outcome::Answer(a) = o else {
            panic!("no answer: {o:?}")
        };
        assert!(
            a.is_unavailable_with_retry_after(),
            "{} {:?}",
            a.status,
            a.body
        );
        assert!(*took < Duration::from_secs(5), "{took:?}");
    }
    let longest = stuck.iter().map(|(_, t)| *t).max().unwrap();
    figures.push(format!(
        "pool of 2 exhausted by 12 requests behind a lock: {} (longest {longest:?})",
        tally(stuck.iter().map(|(o, _)| o))
    ));
    let queued = burst(12);
    assert!(
        queued
            .iter()
            .all(|(o, _)| matches!(o, Outcome::Answer(a) if a.status == 200)),
        "{}",
        tally(queued.iter().map(|(o, _)| o))
    );
    figures.push(format!(
        "12 requests on a free pool of 2: {}",
        tally(queued.iter().map(|(o, _)| o))
    ));
    drop(server);
    println!("FIGURES timeouts: {}", figures.join("; "));
    rt.block_on(pool.close());
    db.drop_with(&rt);
}

#[test]
fn sigkill_mid_booking_load_loses_no_booking_and_no_mail() {
    let rt = runtime();
    let db = Db::shared(&rt, "kill9");
    seed(&db.url);
    let sink = rt.block_on(smtp::SmtpSink::start());
    let smtp_url = sink.url();
    let env = [
        ("MAWID_SMTP_URL", smtp_url.as_str()),
        // A killed process's claims come back after 2 s instead of 5 min.
        ("MAWID_MAIL_LEASE_SECS", "2"),
    ];
    let server = std::sync::Mutex::new(Server::start(&db.url, &env));
    let pool = db.pool(&rt);
    let addr = server.lock().unwrap().addr;
    let world = World::build(&rt, &pool, addr, 48);
    let current = std::sync::RwLock::new(addr);

    let kills = 3;
    let load = Load::run(
        &world,
        || *current.read().unwrap(),
        6,
        Mix::BookOnly,
        |_| {
            for k in 0..kills {
                std::thread::sleep(Duration::from_millis(400 + 150 * k));
                let old = std::mem::replace(
                    &mut *server.lock().unwrap(),
                    // Started first so the clients have somewhere to go; the old one dies right after.
                    Server::start(&db.url, &env),
                );
                old.kill9();
                *current.write().unwrap() = server.lock().unwrap().addr;
            }
            std::thread::sleep(Duration::from_millis(500));
        },
    );
    let unanswered = load
        .records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::NoAnswer(_)))
        .count();
    let addr = *current.read().unwrap();
    let created = load.settle(addr);
    let bookings = assert_bookings_match_the_answers(&rt, &pool, &created);
    assert!(
        bookings > 0,
        "the load booked nothing: the fault went untested"
    );

    // Every mail due now is delivered, each under its own Message-ID (reminders due later
    // wait for their time).
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows: Vec<(String, String)> = loop {
        let rows: Vec<(String, String)> = rt
            .block_on(
                sqlx::query_as(
                    "SELECT id::text, status FROM notifications
                     WHERE status = 'sent' OR next_attempt_at <= now() OR last_error IS NOT NULL",
                )
                .fetch_all(&pool),
            )
            .unwrap();
        if rows.iter().all(|(_, s)| s == "sent") {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "mail still unsent after 30 s: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let received = sink.received();
    let ids: Vec<String> = received.iter().map(|m| m.message_id()).collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    for (id, _) in &rows {
        assert!(
            distinct.contains(&format!("{id}@mawid")),
            "mail {id} never reached the relay"
        );
    }
    assert_eq!(
        distinct.len(),
        rows.len(),
        "no mail the outbox does not hold"
    );
    println!(
        "FIGURES SIGKILL: {kills} kills, {} booking requests ({}), {unanswered} unanswered and retried with their key, bookings checked {bookings}, mails {} delivered under {} Message-IDs ({} resent copies)",
        load.records.len(),
        tally(load.outcomes()),
        rows.len(),
        distinct.len(),
        ids.len() - distinct.len(),
    );
    server.into_inner().unwrap().stop_cleanly();
    rt.block_on(pool.close());
    db.drop_with(&rt);
}
