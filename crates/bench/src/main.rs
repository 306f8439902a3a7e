//! `mawid-bench`: seeds 100,000 appointments across 10 offices on a fresh database, then prints
//! in one run: availability latency for a 60-day window, staff search and statistics, HTTP
//! booking throughput and latency with 32 concurrent clients, pgbench's throughput for the same
//! booking transaction and for the database's ceiling (the smallest transaction that does what a
//! booking must) with HTTP booking as a share of each, argon2 logins against the machine's
//! hashing limit and availability during a login storm, a release storm, and the memory and
//! start-up of the server. Then it grows the same database to 1,000,000 appointments with COPY,
//! runs the figures that depend on its size again and prints both sizes side by side.
//! The release storm runs against `mawid serve` in a process of its own, whose start-up and
//! memory are the figures; the other parts run against the app in this process.
//! `MAWID_BENCH_SCALES` picks the sizes (default `100k,1m`; `100k` for a quick run).
//! `MAWID_BENCH_SMOKE=1` runs all of it small and short (sizes 2k and 10k), to show it still
//! works. Run it through `scripts/bench.sh`.

mod ceiling;
mod counter;
mod logins;
mod pgbench;
mod process;
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
    /// The sizes of the database (appointments), smallest first; the first is seeded, the
    /// others grown into.
    pub sizes: Vec<(String, i64)>,
    /// Sequential requests per latency figure.
    pub requests: usize,
    /// Length of each throughput run.
    pub seconds: u64,
    pub storm_citizens: usize,
    pub storm_connections: usize,
    /// Availability polls per second offered by all the storm's clients together.
    pub storm_poll_rate: f64,
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
                sizes: sizes("2k,10k"),
                requests: 30,
                seconds: 2,
                storm_citizens: 200,
                storm_connections: 32,
                storm_poll_rate: 500.0,
                storm_capacity: 5,
            }
        } else {
            Scale {
                smoke,
                sizes: sizes("100k,1m"),
                requests: 300,
                seconds: 15,
                storm_citizens: 2_000,
                storm_connections: 256,
                // Above the 3,000 answers/s the storm must be served at.
                storm_poll_rate: 4_000.0,
                // 1,000 places for 2,000 citizens: half of them go without.
                storm_capacity: 50,
            }
        }
    })
}

/// `MAWID_BENCH_SCALES` (comma-separated sizes such as `100k,1m` or `250000`), else `default`.
fn sizes(default: &str) -> Vec<(String, i64)> {
    let raw = std::env::var("MAWID_BENCH_SCALES")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    let mut sizes: Vec<(String, i64)> = raw
        .split(',')
        .map(|v| {
            let v = v.trim().to_lowercase();
            let (digits, unit) = match v.strip_suffix('m') {
                Some(d) => (d, 1_000_000),
                None => v.strip_suffix('k').map_or((v.as_str(), 1), |d| (d, 1_000)),
            };
            let n: i64 = digits
                .parse()
                .unwrap_or_else(|_| panic!("MAWID_BENCH_SCALES: {v:?} is not a size like 100k"));
            (v.clone(), n * unit)
        })
        .collect();
    sizes.sort_by_key(|(_, n)| *n);
    sizes.dedup_by_key(|(_, n)| *n);
    sizes
}

/// One size of the database, and which citizens each part of the run may use at it.
pub struct Round {
    pub index: usize,
    pub label: String,
    pub appointments: i64,
    /// Inclusive ranges of citizen numbers each holding one seeded appointment `SEED-<n>`.
    pub holders: Vec<(i64, i64)>,
    /// Citizens with no future booking: HTTP booking and pgbench take theirs from here.
    pub fresh: (i64, i64),
    /// Seeded citizens in the database at this size.
    pub citizens: i64,
    /// Time to seed (or grow into) this size.
    pub seed: Duration,
}

/// The figures printed side by side for every size.
#[derive(Default)]
struct Figures {
    availability: (f64, f64),
    availability_read: (f64, f64),
    search: (f64, f64),
    stats: f64,
    http: (f64, f64),
    pgbench: f64,
    storm_availability: (f64, f64, f64),
    storm_booking: f64,
    seed: f64,
}

/// The machine's CPU time so far from `/proc/stat`, in ticks: (all, stolen by the hypervisor).
/// Linux only.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    Some((ticks.iter().sum(), *ticks.get(7)?))
}

/// The share of the machine's CPU time the hypervisor took since `then`: on a shared VM, the
/// gauge of how far the figures of the run are the host's, not ours.
fn stolen_since(then: Option<(u64, u64)>) -> String {
    match (then, cpu_ticks()) {
        (Some((all0, stolen0)), Some((all, stolen))) if all > all0 => {
            format!(
                "{:.1} %",
                100.0 * (stolen - stolen0) as f64 / (all - all0) as f64
            )
        }
        _ => "n/a".to_owned(),
    }
}

/// A line of this process's `/proc/self/status` (`VmRSS`, `VmHWM`) in MiB; Linux only.
fn memory_mib(field: &str) -> Option<f64> {
    memory_mib_of("/proc/self/status", field)
}

/// A line of a process's `status` file in `/proc` in MiB.
fn memory_mib_of(status: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(status).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Whether the run includes `part` (`MAWID_BENCH_PARTS`, a comma list of availability, counter,
/// booking, storm and logins; unset: all), to measure one figure again without the rest.
fn runs(part: &str) -> bool {
    std::env::var("MAWID_BENCH_PARTS")
        .map_or(true, |parts| parts.split(',').any(|p| p.trim() == part))
}

fn main() -> anyhow::Result<()> {
    // As the server binary does, so the memory figures are the server's.
    mawid_http::crypto::return_hash_memory_to_the_system();
    let admin_url =
        std::env::var("DATABASE_URL").context("DATABASE_URL must point at a PostgreSQL server")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let s = scale();
    let (first_label, first_size) = s.sizes.first().cloned().context("no size to run")?;
    let mut round = seed::first_round(first_size, first_label);
    let (db_url, offices) = rt.block_on(seed::fresh_database(&admin_url, &mut round))?;
    println!(
        "{}seeded {} appointments across {OFFICES} offices ({} citizens, capacity {CAPACITY}) in {:.1} s",
        if s.smoke {
            "SMOKE RUN (figures mean nothing): "
        } else {
            ""
        },
        round.appointments,
        round.citizens,
        round.seed.as_secs_f64()
    );

    // Shared with the storm's server process, which reads it as text.
    let secret: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    let pool = rt.block_on(mawid_persistence::connect(&db_url, &pool_settings()?))?;
    // A pool starts its upkeep task on the runtime it is made in.
    let calendar = rt.block_on(async { calendar_pool(&pool) });
    let state = AppState {
        pool: pool.clone(),
        calendar_pool: calendar,
        jwt: Arc::new(JwtKeys::new(secret.as_bytes())?),
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
    // The same app answering every availability request from the database, for what a request
    // costs when the answer it asks for is not in memory (the first after a booking, or after
    // `max_age`): back to back, nearly every request of the sequential run is served from memory.
    let reading_base = if runs("availability") {
        let reading = AppState {
            availability: answers_never_kept()?,
            ..state.clone()
        };
        Some(format!("http://127.0.0.1:{}/api/v1", serve(reading)?))
    } else {
        None
    };
    let run_began = cpu_ticks();

    let mut broken: Vec<String> = Vec::new();
    let mut figures: Vec<(String, Figures)> = Vec::new();
    loop {
        let mut f = Figures {
            seed: round.seed.as_secs_f64(),
            ..Default::default()
        };
        if round.index > 0 {
            println!(
                "--- at {} appointments ({} citizens) ---",
                round.appointments, round.citizens
            );
        }
        if let Some(reading_base) = &reading_base {
            let avail = actix_web::rt::System::new().block_on(availability(&base, &offices))?;
            f.availability = (percentile(&avail, 50.0), percentile(&avail, 99.0));
            println!(
                "availability (60-day window, {} sequential requests): p50 {:.2} ms, p99 {:.2} ms  [target p99 <= 3 ms]",
                avail.len(),
                f.availability.0,
                f.availability.1
            );
            let read =
                actix_web::rt::System::new().block_on(availability(reading_base, &offices))?;
            f.availability_read = (percentile(&read, 50.0), percentile(&read, 99.0));
            println!(
                "availability read from the database every time (the answer not in memory, its context kept; {} sequential requests): p50 {:.2} ms, p99 {:.2} ms",
                read.len(),
                f.availability_read.0,
                f.availability_read.1
            );
        }

        if runs("counter") {
            let counter = actix_web::rt::System::new()
                .block_on(counter::run(&base, &state, &offices, &round))?;
            f.search = (
                percentile(&counter.search, 50.0),
                percentile(&counter.search, 99.0),
            );
            f.stats = percentile(&counter.stats, 50.0);
            println!(
                "staff search ({} citizens, {} sequential requests by reference, email, name): p50 {:.2} ms, p99 {:.2} ms",
                round.citizens,
                counter.search.len(),
                f.search.0,
                f.search.1
            );
            println!(
                "stats (one office, 366 days, {} requests): p50 {:.2} ms, max {:.2} ms",
                counter.stats.len(),
                f.stats,
                percentile(&counter.stats, 100.0)
            );
        }
        if runs("booking") {
            let booking =
                actix_web::rt::System::new().block_on(bookings(&base, &offices, &state, &round))?;
            let http_tps = booking.created as f64 / booking.elapsed.as_secs_f64();
            f.http = (http_tps, percentile(&booking.latencies, 99.0));
            println!(
                "HTTP booking ({CLIENTS} clients, {}s): {} created, {} slot_full, {} other; {:.0} bookings/s; p50 {:.2} ms, p99 {:.2} ms",
                s.seconds,
                booking.created,
                booking.full,
                booking.other,
                http_tps,
                percentile(&booking.latencies, 50.0),
                f.http.1
            );
            // A run that booked nothing measured only refusals: say so rather than print a throughput.
            anyhow::ensure!(
                booking.created > 0 && booking.other == 0,
                "the booking run created {} and had {} unexpected answers",
                booking.created,
                booking.other
            );

            let pg_tps = pgbench::run(&db_url, CLIENTS, s.seconds, round.fresh)?;
            f.pgbench = pg_tps;
            if round.index == 0 {
                // The ceiling runs on its own schema, not on our tables: the same at every size.
                let ceiling_tps = rt.block_on(ceiling::run(&admin_url, CLIENTS, s.seconds))?;
                println!(
                    "ceiling (pgbench, the minimal booking transaction, own schema, {CLIENTS} clients, {}s): {ceiling_tps:.0} transactions/s",
                    s.seconds
                );
                println!(
                    "HTTP booking / ceiling: {:.2}  [target >= 0.50 at {CLIENTS} clients]",
                    http_tps / ceiling_tps
                );
            }
            println!(
                "pgbench (our booking transaction as the server sends it, {CLIENTS} clients, {}s): {pg_tps:.0} transactions/s; HTTP booking / it: {:.2}",
                s.seconds,
                http_tps / pg_tps
            );
        }
        if runs("storm") {
            let storm = actix_web::rt::System::new()
                .block_on(release_storm(&state, &db_url, &secret, &round))?;
            f.storm_availability = storm.availability;
            f.storm_booking = storm.booking_p99;
            if !storm.ok {
                broken.push(format!(
                    "the release storm at {} broke a rule (see above)",
                    round.label
                ));
            }
        }
        let mib = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MiB"));
        if round.index == 0 && runs("logins") {
            // In this process: its memory grows by argon2's 19 MiB per hashing thread.
            let hashing = logins::hashing_limit(&rt, &state)?;
            let after_hashing = memory_mib("VmRSS");
            let l = actix_web::rt::System::new()
                .block_on(logins::run(&state, &db_url, &offices, &round, &hashing))?;
            if !l.ok() {
                broken.push("the login storm had unexpected answers (see above)".into());
            }
            println!(
                "memory after the hashing limit (in process) {}, after the login storm {}, peak {}",
                mib(after_hashing),
                mib(memory_mib("VmRSS")),
                mib(memory_mib("VmHWM"))
            );
        }
        figures.push((round.label.clone(), f));

        let Some((label, size)) = s.sizes.get(round.index + 1).cloned() else {
            break;
        };
        rt.block_on(seed::reset_future(&pool))?;
        round = rt.block_on(seed::grow(&db_url, &offices, &round, size, label))?;
    }
    if figures.len() > 1 {
        print_growth(&figures);
    }
    println!(
        "CPU time stolen by the hypervisor during the run (after the seed): {}",
        stolen_since(run_began)
    );
    anyhow::ensure!(broken.is_empty(), "{}", broken.join("; "));
    Ok(())
}

/// One table of the size-dependent figures, a column per size and the last size's ratio to
/// the first, so the cost curve shows.
fn print_growth(figures: &[(String, Figures)]) {
    type Row = (&'static str, fn(&Figures) -> f64, &'static str);
    let rows: [Row; 15] = [
        ("seed, then growth by COPY (s)", |f| f.seed, "{:.1}"),
        (
            "availability sequential p50 (ms)",
            |f| f.availability.0,
            "{:.2}",
        ),
        (
            "availability sequential p99 (ms)",
            |f| f.availability.1,
            "{:.2}",
        ),
        (
            "availability read every time p50 (ms)",
            |f| f.availability_read.0,
            "{:.2}",
        ),
        (
            "availability read every time p99 (ms)",
            |f| f.availability_read.1,
            "{:.2}",
        ),
        ("staff search p50 (ms)", |f| f.search.0, "{:.2}"),
        ("staff search p99 (ms)", |f| f.search.1, "{:.2}"),
        ("stats, 366 days, p50 (ms)", |f| f.stats, "{:.2}"),
        ("HTTP booking (/s)", |f| f.http.0, "{:.0}"),
        ("HTTP booking p99 (ms)", |f| f.http.1, "{:.2}"),
        ("pgbench, our transaction (/s)", |f| f.pgbench, "{:.0}"),
        (
            "storm availability (/s)",
            |f| f.storm_availability.0,
            "{:.0}",
        ),
        (
            "storm availability p50 (ms)",
            |f| f.storm_availability.1,
            "{:.2}",
        ),
        (
            "storm availability p99 (ms)",
            |f| f.storm_availability.2,
            "{:.2}",
        ),
        ("storm booking p99 (ms)", |f| f.storm_booking, "{:.2}"),
    ];
    let fmt = |v: f64, how: &str| match how {
        "{:.0}" => format!("{v:.0}"),
        "{:.1}" => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    };
    let (first, last) = (&figures[0], &figures[figures.len() - 1]);
    print!("growth (appointments): {:<34}", "");
    for (label, _) in figures {
        print!("{label:>10}");
    }
    println!("{:>10}", format!("{}/{}", last.0, first.0));
    for (name, get, how) in rows {
        print!("  {name:<54}");
        for (_, f) in figures {
            print!("{:>10}", fmt(get(f), how));
        }
        println!("{:>10}", format!("{:.2}", get(&last.1) / get(&first.1)));
    }
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

/// What the release storm of one size leaves for the growth table and the exit status.
struct StormOutcome {
    /// Whether every figure that must be zero was, and every place was sold.
    ok: bool,
    /// Availability answers/s after the release, p50, p99.
    availability: (f64, f64, f64),
    booking_p99: f64,
}

/// The calendar's own connections, as the server has them (`MAWID_DB_CALENDAR_CONNECTIONS`'
/// default).
fn calendar_pool(pool: &sqlx::PgPool) -> sqlx::PgPool {
    mawid_persistence::side_pool(pool, &mawid_persistence::PoolSettings::default(), 2)
}

/// `mawid serve` started on the benchmark's database (its rate limits and settings as this
/// process's environment gives them), timed from the spawn to a `200` on `/readyz`, then the
/// storm against it (its own office, service and citizens at each size) and its memory.
async fn release_storm(
    main: &AppState,
    db_url: &str,
    jwt_secret: &str,
    round: &Round,
) -> anyhow::Result<StormOutcome> {
    let s = scale();
    let setup = storm::setup(&main.pool, round.index).await?;
    let server = process::ServerProcess::start(db_url, jwt_secret).await?;
    let port = server.port;
    println!(
        "start-up (mawid serve: exec, configuration, pool, migrations checked, to the first 200 on /readyz): {:.1} ms",
        server.ready_after.as_secs_f64() * 1000.0
    );
    // Idle: ready, its pool and caches as the first requests left them.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = server.memory_mib("VmRSS");

    let storm_began = cpu_ticks();
    let r = storm::run(
        &format!("http://127.0.0.1:{port}/api/v1"),
        main,
        &setup,
        &main.pool,
    )
    .await?;
    let storm_secs = r.after_release.as_secs_f64();
    println!(
        "release storm ({} citizens, {} connections: {} clients each polling on one, {:.0} polls/s offered in all, and booking on the other; {} places on {} at one office, the server's rate limits):",
        s.storm_citizens, s.storm_connections, s.storm_connections / 2, s.storm_poll_rate, setup.places, setup.day
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
    let a = &r.answers;
    let before = (r.wall - r.after_release).as_secs_f64();
    println!(
        "  availability before the release (the day still closed, polling only): {} answers, {:.0}/s",
        a.early,
        a.early as f64 / before
    );
    println!(
        "  availability after it (while the bookings run; latency from each poll's due instant): {} answers, {:.0}/s; p50 {:.2} ms, p99 {:.2} ms  [target >= 3000/s, p99 <= 20 ms]",
        a.availability.len(),
        a.availability.len() as f64 / storm_secs,
        percentile(&a.availability, 50.0),
        percentile(&a.availability, 99.0)
    );
    println!(
        "  booking: {} created, {} slot_full, {} refused (422), {} rate-limited (429); p50 {:.2} ms, p99 {:.2} ms",
        a.created,
        a.slot_full,
        a.refused_422,
        a.rate_limited,
        percentile(&a.booking, 50.0),
        percentile(&a.booking, 99.0)
    );
    println!(
        "  5xx: {}; failed or unexpected: {}; overbooked slots (SQL, whole database): {}; most future bookings of one storm citizen: {} in all, {} for the service  [must be 0, 0, 0, <= 2, <= 1]",
        a.server_errors, a.other, r.overbooked_slots, r.most_per_citizen, r.most_per_citizen_service
    );
    println!(
        "  CPU time stolen by the hypervisor during the storm: {}",
        stolen_since(storm_began)
    );
    let mib = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MiB"));
    println!(
        "memory (the mawid serve process): RSS idle {}, after the storm {}, peak {}  [target <= 100 MiB]",
        mib(idle_rss),
        mib(server.memory_mib("VmRSS")),
        mib(server.memory_mib("VmHWM"))
    );
    Ok(StormOutcome {
        ok: r.sold_out_after.is_some()
            && a.created as i64 == setup.places
            && a.server_errors == 0
            && a.other == 0
            && r.overbooked_slots == 0
            && r.most_per_citizen <= 2
            && r.most_per_citizen_service <= 1,
        availability: (
            a.availability.len() as f64 / storm_secs,
            percentile(&a.availability, 50.0),
            percentile(&a.availability, 99.0),
        ),
        booking_p99: percentile(&a.booking, 99.0),
    })
}

/// The server's pool settings: `MAWID_DB_MAX_CONNECTIONS` as the server reads it, or the
/// default.
pub fn pool_settings() -> anyhow::Result<mawid_persistence::PoolSettings> {
    let mut settings = mawid_persistence::PoolSettings::default();
    if let Ok(n) = std::env::var("MAWID_DB_MAX_CONNECTIONS") {
        settings.max_connections = n.parse()?;
    }
    Ok(settings)
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

/// A cache whose answers are stale as soon as they are computed, so each request reads the
/// places from the database, while the contexts are kept as the server keeps them.
fn answers_never_kept() -> anyhow::Result<AvailabilityCache> {
    Ok(AvailabilityCache::new(CacheSettings {
        max_age: Duration::from_nanos(1),
        ..CacheSettings::default()
    }))
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
            // As the server's workers ask.
            let server = actix_web::HttpServer::new(move || {
                let _ = mawid_http::slices::ask_for_short_slices();
                mawid_http::app(state.clone())
            })
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
        let ms = availability_request(&client, base, offices, i).await?;
        if i >= 10 {
            lat.push(ms); // the first ten warm the caches
        }
    }
    Ok(lat)
}

/// The `i`-th availability request of a sequential run (60 days at office `i` mod 10), in ms.
async fn availability_request(
    client: &awc::Client,
    base: &str,
    offices: &[seed::Office],
    i: usize,
) -> anyhow::Result<f64> {
    let o = &offices[i % offices.len()];
    let from = first_bookable_day(o.tz) - ChronoDuration::days(1);
    let to = from + ChronoDuration::days(59);
    let url = format!(
        "{base}/offices/{}/availability?service_id={}&from={from}&to={to}",
        o.id, o.service_id
    );
    timed_get(client.get(url)).await
}

/// Sends `request` and reads its whole answer (up to 16 MiB); the milliseconds it took, or an
/// error for anything but a success.
pub(crate) async fn timed_get(request: awc::ClientRequest) -> anyhow::Result<f64> {
    let uri = request.get_uri().clone();
    let t0 = Instant::now();
    let mut res = request.send().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = res
        .body()
        .limit(16 * 1024 * 1024)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        res.status().is_success(),
        "{} {}: {}",
        uri,
        res.status(),
        String::from_utf8_lossy(&body)
    );
    Ok(ms)
}

/// The status and the whole body of a sent request's answer, or why there is none.
pub(crate) async fn whole_answer<S>(
    sent: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
) -> Result<(u16, actix_web::web::Bytes), String>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let mut r = sent.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    r.body()
        .await
        .map(|b| (status, b))
        .map_err(|e| e.to_string())
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
    round: &Round,
) -> anyhow::Result<BookingRun> {
    // The fresh citizens hold no future booking; each books once, so the fair-use limits
    // never interfere with the measurement.
    let next_citizen = Arc::new(AtomicUsize::new(round.fresh.0 as usize));
    let citizens = round.fresh.1;
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
                let res = whole_answer(res).await;
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
