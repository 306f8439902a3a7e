//! Sign-ins: the machine's argon2 limit (the server's own hash verified in process on every
//! core), then `POST /auth/login` by many verified citizens at once against a server set up as
//! production runs (one hashing permit per core, the contract's rate limits, each citizen from
//! its own address behind a trusted proxy), with availability asked one request at a time
//! beside it, and idle for as long just before, so the cost of a login storm to everyone else
//! shows.

use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::PasswordHash;
use mawid_domain::account::Password;
use mawid_http::crypto::HashMemory;
use mawid_http::{AppState, Passwords};
use uuid::Uuid;

use crate::{percentile, scale, seed, serve, Round, CLIENTS};

const PASSWORD: &str = "bench-login-password";

/// The server's hash of [`PASSWORD`] and how fast this machine verifies it.
pub struct Hashing {
    hash: String,
    threads: usize,
    per_sec: f64,
}

/// Hashes the password as the server does, then verifies that hash on every core at once for a
/// few seconds, with the server's own verification: the parameters come from the hash, so they
/// are the server's, and each thread keeps its argon2 memory, as the server's hashing threads do.
pub fn hashing_limit(rt: &tokio::runtime::Runtime, state: &AppState) -> anyhow::Result<Hashing> {
    let password = Password::parse(PASSWORD).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let hash = rt
        .block_on(state.passwords.hash(&password))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("{e}"))?;
    let params = format!("{} {}", parsed.algorithm, parsed.params);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let seconds = if scale().smoke { 1 } else { 5 };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let verified: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut memory = HashMemory::default();
                    let mut n = 0;
                    while Instant::now() < deadline {
                        assert!(
                            memory.verify(PASSWORD.as_bytes(), &hash),
                            "the server's hash verifies"
                        );
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("hashing thread"))
            .sum()
    });
    let per_sec = verified as f64 / started.elapsed().as_secs_f64();
    println!(
        "hashing limit ({params}, the server's hash, verified in process on {threads} threads, {seconds}s): {per_sec:.0} hashes/s"
    );
    Ok(Hashing {
        hash,
        threads,
        per_sec,
    })
}

pub struct Outcome {
    /// Answers other than `200` and the hashing queue's designed `503 server_busy`.
    other: usize,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.other == 0
    }
}

/// The login storm against its own server; prints its figures.
pub async fn run(
    main: &AppState,
    db_url: &str,
    offices: &[seed::Office],
    round: &Round,
    hashing: &Hashing,
) -> anyhow::Result<Outcome> {
    let s = scale();
    // Seeded citizens, given the server's hash of one password.
    let (lo, hi) = round.holders[0];
    let accounts: Vec<i64> = (lo..=hi.min(lo + if s.smoke { 199 } else { 1_999 })).collect();
    let ids: Vec<Uuid> = accounts.iter().map(|&n| seed::citizen_id(n)).collect();
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = ANY($2)")
        .bind(&hashing.hash)
        .bind(&ids)
        .execute(&main.pool)
        .await?;

    let pool = mawid_persistence::connect(db_url, &crate::pool_settings()?).await?;
    let state = AppState {
        calendar_pool: crate::calendar_pool(&pool),
        pool,
        passwords: std::sync::Arc::new(Passwords::new(hashing.threads)),
        abuse: mawid_http::AbuseSettings {
            limits: crate::limits_from_env()?,
            trust_forwarded_for: true,
        },
        ..main.clone()
    };
    let port = serve(state)?;
    let base = format!("http://127.0.0.1:{port}/api/v1");

    // The idle sample spans as long as the login storm, warm caches first: a p99 is compared
    // with one taken over as many seconds of the same host's jitter, not over a few requests.
    crate::availability(&base, offices).await?;
    let span = Duration::from_secs(s.seconds);
    let idle = sample_on_a_thread_of_its_own(&base, offices, span).await?;

    let started = Instant::now();
    let deadline = started + span;
    let accounts = &accounts;
    let clients = (0..CLIENTS).map(|c| {
        let url = format!("{base}/auth/login");
        async move {
            let client = awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .finish();
            let (mut ok, mut busy, mut other, mut lat) = (0usize, 0usize, 0usize, Vec::new());
            let mut i = c;
            while Instant::now() < deadline {
                let n = accounts[i % accounts.len()];
                i += CLIENTS;
                // Each citizen signs in from its own address, so the per-address limit counts
                // a citizen's own sign-ins, as it would in production.
                let a = n as u32;
                let addr = format!("10.{}.{}.{}", (a >> 16) & 255, (a >> 8) & 255, a & 255);
                let body = serde_json::json!({ "email": format!("citizen{n}@bench.test"), "password": PASSWORD });
                let t0 = Instant::now();
                let res = client
                    .post(&url)
                    .insert_header(("X-Forwarded-For", addr))
                    .send_json(&body)
                    .await;
                let res = crate::whole_answer(res).await;
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                match res {
                    Ok((200, _)) => ok += 1,
                    Ok((503, b)) if String::from_utf8_lossy(&b).contains("server_busy") => busy += 1,
                    Ok((status, b)) => {
                        if other < 3 {
                            eprintln!("login {status}: {}", String::from_utf8_lossy(&b));
                        }
                        other += 1;
                    }
                    Err(e) => {
                        if other < 3 {
                            eprintln!("login failed: {e}");
                        }
                        other += 1;
                    }
                }
            }
            (ok, busy, other, lat)
        }
    });
    let logins = async {
        let results = futures_util::future::join_all(clients).await;
        (results, started.elapsed().as_secs_f64())
    };
    // Availability one request at a time while the logins run.
    let beside = sample_on_a_thread_of_its_own(&base, offices, span);
    let ((results, elapsed), during) = futures_util::future::join(logins, beside).await;
    let during = during?;
    let (mut ok, mut busy, mut other, mut lat) = (0, 0, 0, Vec::new());
    for (o, b, x, l) in results {
        ok += o;
        busy += b;
        other += x;
        lat.extend(l);
    }
    let per_sec = ok as f64 / elapsed;
    println!(
        "logins (POST /auth/login, {CLIENTS} clients, {} citizens, {}s, {} hashing permits): {ok} signed in, {busy} busy (503), {other} other; {per_sec:.0} logins/s = {:.2} of the hashing limit; p50 {:.1} ms, p99 {:.1} ms",
        accounts.len(),
        s.seconds,
        hashing.threads,
        per_sec / hashing.per_sec,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0)
    );
    let (idle_p99, during_p99) = (percentile(&idle, 99.0), percentile(&during, 99.0));
    println!(
        "availability beside the logins (sequential, same server, {}s each): idle ({} requests) p50 {:.2} ms, p99 {idle_p99:.2} ms; during the login storm ({} requests) p50 {:.2} ms, p99 {during_p99:.2} ms",
        s.seconds,
        idle.len(),
        percentile(&idle, 50.0),
        during.len(),
        percentile(&during, 50.0)
    );
    println!(
        "availability p99 during login storm / idle: {:.2} [target <= 2]",
        during_p99 / idle_p99
    );
    Ok(Outcome { other })
}

/// [`sequential_availability`] on a thread of its own with the server's workers' short slices:
/// the client stands for a citizen's browser on another machine, so neither the login clients'
/// work on their thread nor its own waits for a core behind the hashing thread are charged to the
/// server's answers. The idle sample is taken the same way, so the two compare.
async fn sample_on_a_thread_of_its_own(
    base: &str,
    offices: &[seed::Office],
    span: Duration,
) -> anyhow::Result<Vec<f64>> {
    let (base, offices) = (base.to_owned(), offices.to_vec());
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("availability-sampler".into())
        .spawn(move || {
            let _ = mawid_http::slices::ask_for_short_slices();
            let sampled = actix_web::rt::System::new()
                .block_on(sequential_availability(&base, &offices, span));
            let _ = tx.send(sampled);
        })?;
    rx.await
        .context("the availability sampler's thread ended without an answer")?
}

/// How often the probe asks for availability. Sent back to back, it kept a core busy by itself
/// (the machine 46 to 54 % busy with nothing else running; paced, 8 to 15 %), so it was a load
/// of its own: during the storm its thread and the server's worker it kept awake competed with
/// the hashing threads for the two cores. Its answers were then nearly all from memory, the few
/// that read the database beyond the 99th percentile; paced, about one in fifty reads it (each
/// of the ten answers goes stale twice a second), as for a citizen asking at any moment, idle
/// and during the storm alike.
const PROBE_EVERY: Duration = Duration::from_millis(1);

/// Availability one request at a time, one every [`PROBE_EVERY`] (or as soon as the previous
/// answer came, when it took longer), for `span`: the latencies in ms.
async fn sequential_availability(
    base: &str,
    offices: &[seed::Office],
    span: Duration,
) -> anyhow::Result<Vec<f64>> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let deadline = Instant::now() + span;
    let mut due = tokio::time::interval(PROBE_EVERY);
    due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lat = Vec::new();
    while Instant::now() < deadline {
        due.tick().await;
        lat.push(crate::availability_request(&client, base, offices, lat.len()).await?);
    }
    Ok(lat)
}
