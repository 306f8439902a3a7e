//! `mawid-bench`: seeds 100,000 appointments across 10 offices on a fresh database, then prints
//! in one run: availability latency for a 60-day window, staff search and statistics, HTTP
//! booking throughput and latency with 32 concurrent clients, pgbench's throughput for the same
//! booking transaction and for the database's ceiling (the smallest transaction that does what a
//! booking must) with HTTP booking as a share of each, a release storm, and the memory and
//! start-up of the server. The server runs in this process, so memory is this process's.
//! `MAWID_BENCH_SMOKE=1` runs all of it small and short, to show it still works.
//! Run it through `scripts/bench.sh`.

mod ceiling;
mod counter;
mod pgbench;
mod seed;
mod storm;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone, Weekday};
use mawid_domain::account::Role;
use mawid_domain::{Clock, SystemClock};
use mawid_http::{AppState, AvailabilityCache, CacheSettings, JwtKeys, Passwords};
use rand::Rng;

pub const OFFICES: usize = 10;
pub const CAPACITY: i32 = 20;
const CLIENTS: usize = 32;

/// How big and how long: the full run, or the smoke run of `MAWID_BENCH_SMOKE=1`.
pub struct Scale {
    pub smoke: bool,
    pub appointments: i64,
    pub citizens: i64,
    /// Sequential requests per latency figure.
    pub requests: usize,
    /// Length of each throughput run.
    pub seconds: u64,
    pub storm_citizens: usize,
    pub storm_connections: usize,
    /// Desks per slot of the storm's day (20 slots).
    pub storm_capacity: i32,
}

pub fn scale() -> &'static Scale {
    static SCALE: std::sync::OnceLock<Scale> = std::sync::OnceLock::new();
    SCALE.get_or_init(|| {
        let smoke = std::env::var("MAWID_BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
        if smoke {
            Scale {
                smoke,
                appointments: 2_000,
                citizens: 2_800,
                requests: 30,
                seconds: 2,
                storm_citizens: 200,
                storm_connections: 32,
                storm_capacity: 5,
            }
        } else {
            Scale {
                smoke,
                appointments: 100_000,
                citizens: 140_000,
                requests: 300,
                seconds: 15,
                storm_citizens: 2_000,
                storm_connections: 256,
                // 1,000 places for 2,000 citizens: half of them go without.
                storm_capacity: 50,
            }
        }
    })
}

/// A line of this process's `/proc/self/status` (`VmRSS`, `VmHWM`) in MiB; Linux only.
fn memory_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let admin_url =
        std::env::var("DATABASE_URL").context("DATABASE_URL must point at a PostgreSQL server")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let s = scale();
    let (db_url, offices) = rt.block_on(seed::fresh_database(&admin_url))?;
    println!(
        "{}seeded {} appointments across {OFFICES} offices ({} citizens, capacity {CAPACITY})",
        if s.smoke {
            "SMOKE RUN (figures mean nothing): "
        } else {
            ""
        },
        s.appointments,
        s.citizens
    );

    let secret: [u8; 32] = rand::random();
    let pool = rt.block_on(mawid_persistence::connect(
        &db_url,
        &mawid_persistence::PoolSettings::default(),
    ))?;
    let state = AppState {
        pool: pool.clone(),
        jwt: Arc::new(JwtKeys::new(&secret)?),
        clock: Arc::new(SystemClock),
        passwords: Arc::new(Passwords::new(2)),
        // The benchmark measures the work, not the abuse limits.
        abuse: mawid_http::AbuseSettings {
            limits: mawid_domain::limit::Limits::all(mawid_domain::limit::Rate {
                count: u32::MAX,
                secs: 1,
            }),
            trust_forwarded_for: false,
        },
        no_shows: Default::default(),
        availability: availability_cache()?,
    };
    let port = serve(state.clone())?;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let idle_rss = memory_mib("VmRSS");

    let avail = actix_web::rt::System::new().block_on(availability(&base, &offices))?;
    println!(
        "availability (60-day window, {} sequential requests): p50 {:.2} ms, p99 {:.2} ms  [target p99 <= 3 ms]",
        avail.len(),
        percentile(&avail, 50.0),
        percentile(&avail, 99.0)
    );

    let counter = actix_web::rt::System::new().block_on(counter::run(&base, &state, &offices))?;
    println!(
        "staff search ({} citizens, {} sequential requests by reference, email, name): p50 {:.2} ms, p99 {:.2} ms",
        s.citizens,
        counter.search.len(),
        percentile(&counter.search, 50.0),
        percentile(&counter.search, 99.0)
    );
    println!(
        "stats (one office, 366 days, {} requests): p50 {:.2} ms, max {:.2} ms",
        counter.stats.len(),
        percentile(&counter.stats, 50.0),
        percentile(&counter.stats, 100.0)
    );

    let booking = actix_web::rt::System::new().block_on(bookings(&base, &offices, &state))?;
    let http_tps = booking.created as f64 / booking.elapsed.as_secs_f64();
    println!(
        "HTTP booking ({CLIENTS} clients, {}s): {} created, {} slot_full, {} other; {:.0} bookings/s; p50 {:.2} ms, p99 {:.2} ms",
        s.seconds,
        booking.created,
        booking.full,
        booking.other,
        http_tps,
        percentile(&booking.latencies, 50.0),
        percentile(&booking.latencies, 99.0)
    );
    // A run that booked nothing measured only refusals: say so rather than print a throughput.
    anyhow::ensure!(
        booking.created > 0 && booking.other == 0,
        "the booking run created {} and had {} unexpected answers",
        booking.created,
        booking.other
    );

    let pg_tps = pgbench::run(&db_url, CLIENTS, s.seconds)?;
    let ceiling_tps = rt.block_on(ceiling::run(&admin_url, CLIENTS, s.seconds))?;
    println!(
        "ceiling (pgbench, the minimal booking transaction, own schema, {CLIENTS} clients, {}s): {ceiling_tps:.0} transactions/s",
        s.seconds
    );
    println!(
        "HTTP booking / ceiling: {:.2}  [target >= 0.50 at {CLIENTS} clients]",
        http_tps / ceiling_tps
    );
    println!(
        "pgbench (our booking transaction as the server sends it, {CLIENTS} clients, {}s): {pg_tps:.0} transactions/s; HTTP booking / it: {:.2}",
        s.seconds,
        http_tps / pg_tps
    );

    let storm_ok = actix_web::rt::System::new().block_on(release_storm(&state, &db_url))?;
    let end_rss = memory_mib("VmRSS");
    let peak_rss = memory_mib("VmHWM");
    let mib = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MiB"));
    println!(
        "memory (this process: the servers run in it, with the load clients): RSS idle {}, after the storm {}, peak {}  [target <= 100 MiB]",
        mib(idle_rss),
        mib(end_rss),
        mib(peak_rss)
    );
    anyhow::ensure!(storm_ok, "the release storm broke a rule (see above)");
    Ok(())
}

/// The contract's default rate limits with any `MAWID_LIMIT_<NAME>=COUNT/SECONDS` set here, as
/// the server reads them.
fn limits_from_env() -> anyhow::Result<mawid_domain::limit::Limits> {
    use mawid_domain::limit::{LimitName, Limits, Rate};
    let mut limits = Limits::default();
    for name in LimitName::ALL {
        let var = name.env_var();
        if let Ok(v) = std::env::var(&var) {
            if !v.trim().is_empty() {
                let rate = Rate::parse(&v).map_err(|why| anyhow::anyhow!("{var} {why}"))?;
                limits.set(name, rate);
            }
        }
    }
    Ok(limits)
}

/// A second app on its own pool with the server's rate limits (defaults and `MAWID_LIMIT_*`), timed from its pool's
/// first connection to a `200` on `/readyz`, then the storm against it. Returns whether every
/// figure that must be zero was.
async fn release_storm(main: &AppState, db_url: &str) -> anyhow::Result<bool> {
    let s = scale();
    let setup = storm::setup(&main.pool).await?;
    let started = Instant::now();
    let pool =
        mawid_persistence::connect(db_url, &mawid_persistence::PoolSettings::default()).await?;
    let state = AppState {
        pool,
        abuse: mawid_http::AbuseSettings {
            limits: limits_from_env()?,
            trust_forwarded_for: false,
        },
        // A process of its own: its own cache.
        availability: availability_cache()?,
        ..main.clone()
    };
    let port = serve(state.clone())?;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let ready = loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            if r.status().is_success() {
                break started.elapsed();
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "/readyz never answered 200"
        );
        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
    };
    println!(
        "start-up (in process: pool connect, app start, to the first 200 on /readyz; no exec, migrations already applied): {:.1} ms",
        ready.as_secs_f64() * 1000.0
    );

    let r = storm::run(&format!("http://127.0.0.1:{port}/api/v1"), &state, &setup).await?;
    let storm_secs = r.after_release.as_secs_f64();
    println!(
        "release storm ({} citizens, {} connections, {} places on {} at one office, the server's rate limits):",
        s.storm_citizens, s.storm_connections, setup.places, setup.day
    );
    match r.sold_out_after {
        Some(d) => println!(
            "  every place taken {:.2} s after the release (clients polled from {:.1} s before it; last answer {:.2} s after it)",
            d.as_secs_f64(),
            (r.wall - r.after_release).as_secs_f64(),
            r.after_release.as_secs_f64()
        ),
        None => println!(
            "  NOT sold out: {} of {} places taken",
            r.places_taken, setup.places
        ),
    }
    let before = (r.wall - r.after_release).as_secs_f64();
    println!(
        "  availability before the release (the day still closed, polling only): {} answers, {:.0}/s",
        r.early,
        r.early as f64 / before
    );
    println!(
        "  availability after it (each connection polls, then books what it saw): {} answers, {:.0}/s; p50 {:.2} ms, p99 {:.2} ms  [target >= 3000/s, p99 <= 20 ms]",
        r.availability.len(),
        r.availability.len() as f64 / storm_secs,
        percentile(&r.availability, 50.0),
        percentile(&r.availability, 99.0)
    );
    println!(
        "  booking: {} created, {} slot_full, {} refused (422), {} rate-limited (429); p50 {:.2} ms, p99 {:.2} ms",
        r.created,
        r.slot_full,
        r.refused_422,
        r.rate_limited,
        percentile(&r.booking, 50.0),
        percentile(&r.booking, 99.0)
    );
    println!(
        "  5xx: {}; failed or unexpected: {}; overbooked slots (SQL, whole database): {}; most future bookings of one storm citizen: {} in all, {} for the service  [must be 0, 0, 0, <= 2, <= 1]",
        r.server_errors, r.other, r.overbooked_slots, r.most_per_citizen, r.most_per_citizen_service
    );
    Ok(r.sold_out_after.is_some()
        && r.created as i64 == setup.places
        && r.server_errors == 0
        && r.other == 0
        && r.overbooked_slots == 0
        && r.most_per_citizen <= 2
        && r.most_per_citizen_service <= 1)
}

/// The availability cache as the server sets it: `MAWID_AVAILABILITY_CACHE_MS` (0: off, to
/// compare) or the default.
fn availability_cache() -> anyhow::Result<AvailabilityCache> {
    let mut settings = CacheSettings::default();
    if let Ok(ms) = std::env::var("MAWID_AVAILABILITY_CACHE_MS") {
        settings.max_age = Duration::from_millis(ms.parse()?);
    }
    Ok(AvailabilityCache::new(settings))
}

/// Starts the real app on an ephemeral port in its own thread and returns the port; its
/// availability listener runs beside it on a connection of its own, as in the server.
fn serve(state: AppState) -> anyhow::Result<u16> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener_pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(state.pool.connect_options().as_ref().clone());
            let (_keep, stop) = tokio::sync::watch::channel(false);
            actix_web::rt::spawn(state.availability.clone().listen(listener_pool, stop));
            let server = actix_web::HttpServer::new(move || mawid_http::app(state.clone()))
                .workers(2)
                .bind("127.0.0.1:0")
                .expect("bind an ephemeral port");
            let _ = tx.send(server.addrs()[0].port());
            server.run().await
        })
    });
    Ok(rx.recv_timeout(Duration::from_secs(10))?)
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[idx]
}

fn first_bookable_day(tz: chrono_tz::Tz) -> NaiveDate {
    #[allow(clippy::disallowed_methods)]
    let now = SystemClock.now().with_timezone(&tz);
    now.date_naive() + ChronoDuration::days(2)
}

async fn availability(base: &str, offices: &[seed::Office]) -> anyhow::Result<Vec<f64>> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let requests = scale().requests;
    let mut lat = Vec::with_capacity(requests);
    for i in 0..requests + 10 {
        let o = &offices[i % offices.len()];
        let from = first_bookable_day(o.tz) - ChronoDuration::days(1);
        let to = from + ChronoDuration::days(59);
        let url = format!(
            "{base}/offices/{}/availability?service_id={}&from={from}&to={to}",
            o.id, o.service_id
        );
        let t0 = Instant::now();
        let mut res = client
            .get(url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let body = res
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            res.status().is_success(),
            "availability {}: {}",
            res.status(),
            String::from_utf8_lossy(&body)
        );
        if i >= 10 {
            lat.push(ms); // the first ten warm the caches
        }
    }
    Ok(lat)
}

struct BookingRun {
    created: usize,
    full: usize,
    other: usize,
    latencies: Vec<f64>,
    elapsed: Duration,
}

/// A random on-grid start: a weekday in the window, a 15-minute slot inside 09:00–13:00 or 14:00–15:00.
fn random_start(o: &seed::Office, rng: &mut impl Rng) -> String {
    let first = first_bookable_day(o.tz);
    loop {
        let day = first + ChronoDuration::days(rng.gen_range(0..55));
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        let idx: u32 = rng.gen_range(0..20);
        let (h, m) = if idx < 16 {
            (9 + idx / 4, (idx % 4) * 15)
        } else {
            (14, (idx - 16) * 15)
        };
        let local = day.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time"));
        if let chrono::LocalResult::Single(t) = o.tz.from_local_datetime(&local) {
            return t.to_rfc3339();
        }
    }
}

async fn bookings(
    base: &str,
    offices: &[seed::Office],
    state: &AppState,
) -> anyhow::Result<BookingRun> {
    // Citizens past the seeded ones hold no booking yet; each books once, so the fair-use limits
    // never interfere with the measurement.
    let next_citizen = Arc::new(AtomicUsize::new(seed::seeded_citizens() as usize + 1));
    let citizens = scale().citizens;
    let deadline = Instant::now() + Duration::from_secs(scale().seconds);
    let started = Instant::now();
    let tasks = (0..CLIENTS).map(|_| {
        let next = next_citizen.clone();
        let base = base.to_owned();
        async move {
            let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
            let mut rng = rand::thread_rng();
            let (mut created, mut full, mut other, mut lat) = (0, 0, 0, Vec::new());
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed) as i64;
                if n > citizens {
                    break;
                }
                #[allow(clippy::disallowed_methods)]
                let token = state.jwt.issue(seed::citizen_id(n), Role::Citizen, SystemClock.now()).expect("token");
                let o = &offices[rng.gen_range(0..offices.len())];
                let body = serde_json::json!({ "office_id": o.id, "service_id": o.service_id, "start": random_start(o, &mut rng) });
                let t0 = Instant::now();
                let res = client
                    .post(format!("{base}/appointments"))
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .send_json(&body)
                    .await;
                // The whole answer, as a client reads it, inside the measured time.
                let res = match res {
                    Ok(mut r) => {
                        let status = r.status().as_u16();
                        r.body().await.map(|b| (status, b)).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                match res {
                    Ok((201, _)) => created += 1,
                    Ok((409, _)) => full += 1,
                    Ok((status, body)) => {
                        if other < 3 {
                            eprintln!("unexpected {status}: {}", String::from_utf8_lossy(&body));
                        }
                        other += 1
                    }
                    Err(e) => {
                        if other < 3 {
                            eprintln!("request failed: {e}");
                        }
                        other += 1
                    }
                }
            }
            (created, full, other, lat)
        }
    });
    let results = futures_util::future::join_all(tasks).await;
    let elapsed = started.elapsed();
    let mut run = BookingRun {
        created: 0,
        full: 0,
        other: 0,
        latencies: Vec::new(),
        elapsed,
    };
    for (c, f, o, l) in results {
        run.created += c;
        run.full += f;
        run.other += o;
        run.latencies.extend(l);
    }
    Ok(run)
}
