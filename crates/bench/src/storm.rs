//! The release storm: a day of slots at one office opens at a known instant (its closure is
//! lifted), and verified citizens, their tokens issued beforehand, poll that day's availability
//! and book what it shows until every place is taken: each client polls on one connection and
//! books on another, as a bot or an open calendar page does. The server is a
//! second in-process app with its own pool and the server's rate limits (defaults and
//! `MAWID_LIMIT_*`), as production runs; the checks that must hold (no 5xx, no overbooked slot,
//! the caps) are read back in SQL.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Duration as ChronoDuration, NaiveDate, Weekday};
use mawid_domain::account::Role;
use mawid_domain::{Clock, SystemClock};
use mawid_http::AppState;
use rand::Rng;
use tokio::sync::watch;
use uuid::Uuid;

use crate::scale;
use crate::seed::{citizen_id, office_id};

/// Each size's storm has its own office, service and citizens: office `100 + size index`.
pub const STORM_OFFICE: usize = 100;
const STORM_SERVICE: u128 = 0x0000_0000_0000_4000_a000_0000_0000_0002;
const STORM_CODES: [&str; 6] = ["STM", "STN", "STO", "STP", "STQ", "STR"];
/// Storm citizens are numbered from here, a block per size, clear of the seeded ones.
const STORM_CITIZENS: i64 = 9_000_000;
/// 09:00–13:00 and 14:00–15:00 in 15-minute slots.
const SLOTS_PER_DAY: i64 = 20;
/// Clients start polling this long before the release, as bots do.
const LEAD: Duration = Duration::from_secs(1);
/// A storm that has not sold out this long after the release stops and says so, rather than
/// polling a server that stopped answering for ever.
const GIVE_UP: Duration = Duration::from_secs(120);

pub struct Setup {
    pub office: Uuid,
    service: Uuid,
    pub day: NaiveDate,
    pub places: i64,
    first_citizen: i64,
}

/// The storm's office, service and closed day, and its citizens, for the size numbered `index`.
pub async fn setup(pool: &sqlx::PgPool, index: usize) -> anyhow::Result<Setup> {
    let s = scale();
    let office = office_id(STORM_OFFICE + index);
    let service = Uuid::from_u128(STORM_SERVICE + index as u128);
    let code = *STORM_CODES
        .get(index)
        .ok_or_else(|| anyhow::anyhow!("at most {} sizes", STORM_CODES.len()))?;
    let tz: chrono_tz::Tz = chrono_tz::Europe::Moscow;
    #[allow(clippy::disallowed_methods)]
    let today = SystemClock.now().with_timezone(&tz).date_naive();
    // Beyond the 24 h notice; a weekday, since the schedule has no weekend.
    let mut day = today + ChronoDuration::days(3);
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day += ChronoDuration::days(1);
    }
    sqlx::query(
        "INSERT INTO offices (id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone)
         VALUES ($1, $2, $2, $2, $2, 'عنوان', 'Адрес', 'Address', 'Europe/Moscow')",
    )
    .bind(office)
    .bind(code)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes, min_notice_hours, max_advance_days)
         VALUES ($1, 'storm-visit-' || $2, 'زيارة', 'Визит', 'Visit', 15, 24, 60)",
    )
    .bind(service)
    .bind(index as i32)
    .execute(pool)
    .await?;
    let weekly = serde_json::json!({
        "mon": [["09:00", "13:00"], ["14:00", "15:00"]],
        "tue": [["09:00", "13:00"], ["14:00", "15:00"]],
        "wed": [["09:00", "13:00"], ["14:00", "15:00"]],
        "thu": [["09:00", "13:00"], ["14:00", "15:00"]],
        "fri": [["09:00", "13:00"], ["14:00", "15:00"]],
    });
    sqlx::query(
        "INSERT INTO schedules (office_id, service_id, capacity, weekly) VALUES ($1, $2, $3, $4)",
    )
    .bind(office)
    .bind(service)
    .bind(s.storm_capacity)
    .bind(&weekly)
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO closures (office_id, day, reason) VALUES ($1, $2, 'opens at the release')",
    )
    .bind(office)
    .bind(day)
    .execute(pool)
    .await?;
    let first_citizen = STORM_CITIZENS + index as i64 * 100_000 + 1;
    let citizen = crate::seed::sql_id("8000", "n");
    sqlx::query(&format!(
        "INSERT INTO users (id, email, password_hash, full_name, preferred_language, role, email_verified_at, passport_number)
         SELECT {citizen}, 'storm' || n || '@bench.test', 'not-a-hash', 'Storm Citizen ' || n, 'en', 'citizen', now(),
                'ST' || lpad(n::text, 8, '0')
         FROM generate_series($1, $2) n"
    ))
    .bind(first_citizen)
    .bind(first_citizen + s.storm_citizens as i64 - 1)
    .execute(pool)
    .await?;
    Ok(Setup {
        office,
        service,
        day,
        places: SLOTS_PER_DAY * i64::from(s.storm_capacity),
        first_citizen,
    })
}

#[derive(Default)]
pub struct Report {
    /// From the release to the `201` that took the last place; `None` if places were left.
    pub sold_out_after: Option<Duration>,
    pub wall: Duration,
    /// From the release to the last client's last answer.
    pub after_release: Duration,
    /// What the clients were answered.
    pub answers: Tally,
    pub places_taken: i64,
    pub overbooked_slots: i64,
    pub most_per_citizen: i64,
    pub most_per_citizen_service: i64,
}

/// What the storm's clients were answered, summed over them.
#[derive(Default)]
pub struct Tally {
    /// Availability answers asked for before the release (of a closed day).
    pub early: usize,
    /// Availability answers after the release, and their latencies.
    pub availability: Vec<f64>,
    pub booking: Vec<f64>,
    pub created: usize,
    pub slot_full: usize,
    pub refused_422: usize,
    pub rate_limited: usize,
    pub server_errors: usize,
    /// Transport failures and answers the storm does not expect.
    pub other: usize,
    last_created: Option<Instant>,
}

impl Tally {
    fn absorb(&mut self, other: Tally) {
        self.early += other.early;
        self.availability.extend(other.availability);
        self.booking.extend(other.booking);
        self.created += other.created;
        self.slot_full += other.slot_full;
        self.refused_422 += other.refused_422;
        self.rate_limited += other.rate_limited;
        self.server_errors += other.server_errors;
        self.other += other.other;
        self.last_created = self.last_created.max(other.last_created);
    }
}

fn note_unexpected(t: &mut Tally, what: &str) {
    if t.other + t.server_errors < 3 {
        eprintln!("storm: {what}");
    }
}

/// Runs the storm against `base` (the storm server) and checks the outcome in SQL on `pool`.
/// The release is made on `release_pool`, apart from the storm server's pool, as staff (or
/// another process) would make it: a storm that saturates the server's pool cannot hold it up.
pub async fn run(
    base: &str,
    state: &AppState,
    setup: &Setup,
    release_pool: &sqlx::PgPool,
) -> anyhow::Result<Report> {
    let s = scale();
    #[allow(clippy::disallowed_methods)]
    let now = SystemClock.now();
    let tokens: Vec<String> = (0..s.storm_citizens as i64)
        .map(|i| {
            state
                .jwt
                .issue(citizen_id(setup.first_citizen + i), Role::Citizen, now)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let tokens = Arc::new(tokens);
    let url = format!(
        "{base}/offices/{}/availability?service_id={}&from={day}&to={day}",
        setup.office,
        setup.service,
        day = setup.day
    );
    let released: Rc<RefCell<Option<Instant>>> = Rc::new(RefCell::new(None));
    let started = Instant::now();

    // The release: the day's closure is lifted at the announced instant.
    let opener = {
        let (pool, released, office, day) = (
            release_pool.clone(),
            released.clone(),
            setup.office,
            setup.day,
        );
        async move {
            actix_web::rt::time::sleep(LEAD).await;
            let at = Instant::now();
            sqlx::query("DELETE FROM closures WHERE office_id = $1 AND day = $2")
                .bind(office)
                .bind(day)
                .execute(&pool)
                .await?;
            *released.borrow_mut() = Some(at);
            Ok::<(), anyhow::Error>(())
        }
    };

    // Each client is a bot or a family's browser: one connection keeps the day's calendar
    // refreshed, the other books what it showed last, for the client's citizens one after
    // another. The calendar's rate is then the server's, not one booking's round trip.
    let clients = (0..s.storm_connections / 2).map(|n| {
        let clients = s.storm_connections / 2;
        let mine: Vec<usize> = (n..tokens.len()).step_by(clients).collect();
        let (shown, seen) = watch::channel(Vec::new());
        let booker = Booker {
            post: format!("{base}/appointments"),
            office: setup.office,
            service: setup.service,
            tokens: tokens.clone(),
            mine,
        };
        let busy = Rc::new(Cell::new(true));
        let give_up = started + LEAD + GIVE_UP;
        // The clients' polls are spread evenly over each interval.
        let every = Duration::from_secs_f64(clients as f64 / s.storm_poll_rate);
        let pace = Pace {
            first: started + every.mul_f64(n as f64 / clients as f64),
            every,
        };
        let watching = watch_calendar(
            url.clone(),
            released.clone(),
            shown,
            busy.clone(),
            pace,
            give_up,
        );
        async move {
            let (mut watched, booked) =
                futures_util::future::join(watching, booker.book(seen, busy, give_up)).await;
            watched.absorb(booked);
            watched
        }
    });
    // The load clients share the server's cores here, not in production: their thread asks for
    // the workers' short slices too, so that its own waits for a core are not charged to the
    // server's answers.
    let _ = mawid_http::slices::ask_for_short_slices();
    let (opened, tallies) =
        futures_util::future::join(opener, futures_util::future::join_all(clients)).await;
    let _ = mawid_http::slices::ask_for_default_slices();
    opened.context("lifting the storm day's closure")?;
    let wall = started.elapsed();
    let release = released.borrow().expect("the opener ran");

    let mut all = Tally::default();
    for t in tallies {
        all.absorb(t);
    }
    let last_created = all.last_created;
    let mut r = Report {
        wall,
        after_release: release.elapsed(),
        answers: all,
        ..Default::default()
    };

    let pool = &state.pool;
    r.places_taken = sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE office_id = $1 AND service_id = $2 AND status <> 'cancelled'",
    )
    .bind(setup.office)
    .bind(setup.service)
    .fetch_one(pool)
    .await?;
    if r.places_taken == setup.places {
        r.sold_out_after = last_created.map(|l| l.saturating_duration_since(release));
    }
    // Every slot of the whole database against its schedule's capacity.
    r.overbooked_slots = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT a.office_id, a.service_id, a.slot_start, count(*) AS n
           FROM appointments a WHERE a.status <> 'cancelled'
           GROUP BY 1, 2, 3) x
         JOIN schedules s USING (office_id, service_id)
         WHERE x.n > s.capacity",
    )
    .fetch_one(pool)
    .await?;
    let first = setup.first_citizen;
    let last_citizen = first + s.storm_citizens as i64 - 1;
    let ids: Vec<Uuid> = (first..=last_citizen).map(citizen_id).collect();
    (r.most_per_citizen, r.most_per_citizen_service) = sqlx::query_as(
        "SELECT coalesce(max(total), 0)::bigint, coalesce(max(per_service), 0)::bigint FROM (
           SELECT citizen_id, sum(n) AS total, max(n) AS per_service FROM (
             SELECT citizen_id, service_id, count(*) AS n FROM appointments
             WHERE status = 'booked' AND slot_start > now() AND citizen_id = ANY($1)
             GROUP BY 1, 2) per
           GROUP BY 1) x",
    )
    .bind(&ids)
    .fetch_one(pool)
    .await?;
    Ok(r)
}

fn storm_client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish()
}

/// What a client reads of an availability answer.
#[derive(serde::Deserialize)]
struct Day<'a> {
    #[serde(borrow)]
    slots: Vec<Slot<'a>>,
}

#[derive(serde::Deserialize)]
struct Slot<'a> {
    #[serde(borrow)]
    start: std::borrow::Cow<'a, str>,
    remaining: i64,
}

/// When one client polls: from `first`, once `every`.
struct Pace {
    first: Instant,
    every: Duration,
}

/// Polls the day's availability on one connection at `pace` while `busy` (the client's booker
/// has citizens left), showing each answer's free starts on `shown`; stops when the day, open,
/// has no free place left (dropping `shown` tells the booker). A poll's latency runs from the
/// instant it was due, so a server that falls behind is charged for the wait it caused.
async fn watch_calendar(
    url: String,
    released: Rc<RefCell<Option<Instant>>>,
    shown: watch::Sender<Vec<String>>,
    busy: Rc<Cell<bool>>,
    pace: Pace,
    give_up: Instant,
) -> Tally {
    let client = storm_client();
    let mut t = Tally::default();
    let mut due = pace.first;
    while busy.get() && Instant::now() < give_up {
        actix_web::rt::time::sleep_until(due.into()).await;
        let t0 = due;
        due += pace.every;
        let opened = released.borrow().is_some();
        let res = match client.get(&url).send().await {
            Ok(mut r) => {
                let status = r.status();
                r.body()
                    .limit(4 << 20)
                    .await
                    .map(|b| (status, b))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if opened {
            t.availability.push(ms);
        } else {
            t.early += 1;
        }
        let free: Vec<String> = match res {
            Ok((status, body)) if status.is_success() => {
                match serde_json::from_slice::<Day>(&body) {
                    Ok(day) => day
                        .slots
                        .into_iter()
                        .filter(|slot| slot.remaining > 0)
                        .map(|slot| slot.start.into_owned())
                        .collect(),
                    Err(e) => {
                        note_unexpected(&mut t, &format!("availability body: {e}"));
                        t.other += 1;
                        continue;
                    }
                }
            }
            Ok((status, _)) => {
                if status.is_server_error() {
                    t.server_errors += 1;
                } else {
                    t.other += 1;
                }
                note_unexpected(&mut t, &format!("availability {status}"));
                continue;
            }
            Err(e) => {
                note_unexpected(&mut t, &format!("availability: {e}"));
                t.other += 1;
                continue;
            }
        };
        // Asked for after the day opened and nothing free: sold out.
        let sold_out = opened && free.is_empty();
        shown.send_replace(free);
        if sold_out {
            break;
        }
    }
    t
}

/// Books, for one client's citizens in turn, a start its calendar showed since the last attempt.
struct Booker {
    post: String,
    office: Uuid,
    service: Uuid,
    tokens: Arc<Vec<String>>,
    /// Indexes into `tokens` of the citizens not yet booked or refused.
    mine: Vec<usize>,
}

impl Booker {
    async fn book(
        mut self,
        mut seen: watch::Receiver<Vec<String>>,
        busy: Rc<Cell<bool>>,
        give_up: Instant,
    ) -> Tally {
        let client = storm_client();
        let mut rng = rand::thread_rng();
        let mut t = Tally::default();
        while !self.mine.is_empty() && Instant::now() < give_up {
            // A newer answer than the one the last attempt used; none comes once the calendar
            // stopped (sold out).
            if seen.changed().await.is_err() {
                break;
            }
            let free = seen.borrow_and_update().clone();
            if free.is_empty() {
                continue;
            }
            let k = rng.gen_range(0..self.mine.len());
            let body = serde_json::json!({
                "office_id": self.office,
                "service_id": self.service,
                "start": free[rng.gen_range(0..free.len())],
            });
            let t0 = Instant::now();
            let res = client
                .post(&self.post)
                .insert_header((
                    "Authorization",
                    format!("Bearer {}", self.tokens[self.mine[k]]),
                ))
                .send_json(&body)
                .await;
            // The whole answer, as a client reads it, inside the measured time.
            let res = match res {
                Ok(mut r) => {
                    let status = r.status().as_u16();
                    r.body()
                        .await
                        .map(|b| (status, b))
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            t.booking.push(t0.elapsed().as_secs_f64() * 1000.0);
            match res {
                Ok((201, _)) => {
                    t.created += 1;
                    t.last_created = Some(Instant::now());
                    self.mine.swap_remove(k);
                }
                // Only a full slot is an expected conflict here.
                Ok((409, b)) => match serde_json::from_slice::<serde_json::Value>(&b) {
                    Ok(p) if p["code"] == "slot_full" => t.slot_full += 1,
                    p => {
                        note_unexpected(&mut t, &format!("booking 409: {p:?}"));
                        t.other += 1;
                    }
                },
                // A cap or a rate limit: this citizen is done for the day.
                Ok((422, _)) => {
                    t.refused_422 += 1;
                    self.mine.swap_remove(k);
                }
                Ok((429, _)) => {
                    t.rate_limited += 1;
                    self.mine.swap_remove(k);
                }
                Ok((status, _)) if status >= 500 => {
                    note_unexpected(&mut t, &format!("booking {status}"));
                    t.server_errors += 1;
                }
                Ok((status, _)) => {
                    note_unexpected(&mut t, &format!("booking {status}"));
                    t.other += 1;
                }
                Err(e) => {
                    note_unexpected(&mut t, &format!("booking: {e}"));
                    t.other += 1;
                }
            }
        }
        busy.set(false);
        t
    }
}
