//! A fresh `mawid_bench` database: migrations, 10 offices, one 15-minute service with a
//! capacity-20 weekday schedule, 1.4 verified citizens per appointment and the first size's
//! booked appointments (100,000; 2,000 in smoke mode) over the next eight weeks; then [`grow`]
//! adds past appointments and their citizens with COPY up to each further size.
//! Ids are derived from integers so pgbench can name the same rows.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Datelike, Duration as ChronoDuration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use mawid_domain::{Clock, SystemClock};
use sqlx::{Connection, Executor};
use uuid::Uuid;

use crate::{Round, CAPACITY, OFFICES};

/// Citizens per appointment at every size, as in the first seed (140,000 for 100,000).
const CITIZENS_PER_APPOINTMENT: f64 = 1.4;
/// Each grown size numbers its citizens from `its index × this`, clear of every other range.
const GROWTH_BLOCK: i64 = 10_000_000;
/// Weekday slots per office: 09:00–13:00 and 14:00–15:00 in 15 minutes.
const SLOTS_PER_DAY: i64 = 20;

#[derive(Clone)]
pub struct Office {
    pub id: Uuid,
    pub service_id: Uuid,
    pub tz: chrono_tz::Tz,
}

const CITIZEN_PREFIX: u128 = 0x0000_0000_0000_4000_8000_0000_0000_0000;
const OFFICE_PREFIX: u128 = 0x0000_0000_0000_4000_9000_0000_0000_0000;
pub const SERVICE_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_a000_0000_0000_0001);

pub fn citizen_id(n: i64) -> Uuid {
    Uuid::from_u128(CITIZEN_PREFIX | n as u128)
}

pub fn office_id(n: usize) -> Uuid {
    Uuid::from_u128(OFFICE_PREFIX | n as u128)
}

/// The SQL twin of [`citizen_id`] / [`office_id`].
pub fn sql_id(prefix: &str, n: &str) -> String {
    format!("('00000000-0000-4000-{prefix}-' || lpad(to_hex(({n})::bigint), 12, '0'))::uuid")
}

const CODES: [(&str, &str); OFFICES] = [
    ("MOW", "Europe/Moscow"),
    ("LED", "Europe/Moscow"),
    ("KZN", "Europe/Moscow"),
    ("SVX", "Asia/Yekaterinburg"),
    ("OVB", "Asia/Novosibirsk"),
    ("KRR", "Europe/Moscow"),
    ("ROV", "Europe/Moscow"),
    ("UFA", "Asia/Yekaterinburg"),
    ("VOG", "Europe/Volgograd"),
    ("GOJ", "Europe/Moscow"),
];

/// The first size: `appointments` booked places of the next eight weeks (at most ~160,000 fit).
pub fn first_round(appointments: i64, label: String) -> Round {
    let citizens = (appointments as f64 * CITIZENS_PER_APPOINTMENT).round() as i64;
    Round {
        index: 0,
        label,
        appointments,
        holders: vec![(1, appointments)],
        fresh: (appointments + 1, citizens),
        citizens,
        seed: Duration::ZERO,
    }
}

pub async fn fresh_database(
    admin_url: &str,
    round: &mut Round,
) -> anyhow::Result<(String, Vec<Office>)> {
    let started = Instant::now();
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to DATABASE_URL")?;
    admin
        .execute("DROP DATABASE IF EXISTS mawid_bench WITH (FORCE)")
        .await?;
    admin.execute("CREATE DATABASE mawid_bench").await?;
    let slash = admin_url
        .rfind('/')
        .context("DATABASE_URL has no database name")?;
    let url = format!("{}/mawid_bench", &admin_url[..slash]);

    let mut db = sqlx::PgConnection::connect(&url).await?;
    mawid_persistence::MIGRATOR.run(&mut db).await?;

    sqlx::query(
        "INSERT INTO services (id, code, name_ar, name_ru, name_en, duration_minutes, min_notice_hours, max_advance_days)
         VALUES ($1, 'bench-visit', 'زيارة', 'Визит', 'Visit', 15, 24, 60)",
    )
    .bind(SERVICE_ID)
    .execute(&mut db)
    .await?;
    let weekly = serde_json::json!({
        "mon": [["09:00", "13:00"], ["14:00", "15:00"]],
        "tue": [["09:00", "13:00"], ["14:00", "15:00"]],
        "wed": [["09:00", "13:00"], ["14:00", "15:00"]],
        "thu": [["09:00", "13:00"], ["14:00", "15:00"]],
        "fri": [["09:00", "13:00"], ["14:00", "15:00"]],
    });
    let mut offices = Vec::new();
    for (i, (code, tz)) in CODES.iter().enumerate() {
        let id = office_id(i + 1);
        sqlx::query(
            "INSERT INTO offices (id, code, name_ar, name_ru, name_en, address_ar, address_ru, address_en, timezone)
             VALUES ($1, $2, $2, $2, $2, 'عنوان', 'Адрес', 'Address', $3)",
        )
        .bind(id)
        .bind(code)
        .bind(tz)
        .execute(&mut db)
        .await?;
        sqlx::query("INSERT INTO schedules (office_id, service_id, capacity, weekly) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(SERVICE_ID)
            .bind(CAPACITY)
            .bind(&weekly)
            .execute(&mut db)
            .await?;
        offices.push(Office {
            id,
            service_id: SERVICE_ID,
            tz: tz.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        });
    }

    // Each citizen keeps a passport number on the profile: a booking without an applicant needs one.
    let citizen = sql_id("8000", "n");
    sqlx::query(&format!(
        "INSERT INTO users (id, email, password_hash, full_name, preferred_language, role, email_verified_at, passport_number)
         SELECT {citizen}, 'citizen' || n || '@bench.test', 'not-a-hash', 'Bench Citizen ' || n, 'en', 'citizen', now(),
                'BN' || lpad(n::text, 8, '0')
         FROM generate_series(1, $1) n"
    ))
    .bind(round.citizens)
    .execute(&mut db)
    .await?;

    // Every on-grid place of the next eight weeks, shuffled, and the first 100,000 taken; one per
    // seeded citizen, so each of them holds exactly one booking.
    let seeded_citizen = sql_id("8000", "p.rn");
    let booked = sqlx::query(&format!(
        "INSERT INTO appointments (id, reference, citizen_id, office_id, service_id, slot_start, slot_end, desk_no,
                                   applicant_name, applicant_relation, passport_number, status, sequence, created_at, updated_at)
         SELECT gen_random_uuid(), 'SEED-' || p.rn, {seeded_citizen}, p.office_id, $1, p.st, p.st + interval '15 minutes',
                p.desk, 'Bench Citizen ' || p.rn, 'self', 'BN' || lpad(p.rn::text, 8, '0'), 'booked', 0, now(), now()
         FROM (
           SELECT row_number() OVER () AS rn, x.* FROM (
             SELECT o.id AS office_id, (d + t) AT TIME ZONE o.timezone AS st, desk
             FROM offices o
             CROSS JOIN generate_series(current_date + 2, current_date + 58, interval '1 day') d
             CROSS JOIN (SELECT time '09:00' + i * interval '15 minutes' AS t FROM generate_series(0, 15) i
                         UNION ALL SELECT time '14:00' + i * interval '15 minutes' FROM generate_series(0, 3) i) slots
             CROSS JOIN generate_series(1, $3) desk
             WHERE extract(isodow FROM d) < 6
             ORDER BY random()
             LIMIT $2) x
         ) p"
    ))
    .bind(SERVICE_ID)
    .bind(round.appointments)
    .bind(CAPACITY)
    .execute(&mut db)
    .await?;
    anyhow::ensure!(
        booked.rows_affected() == round.appointments as u64,
        "the first size ({}) must fit the next eight weeks' {} places; grow to larger sizes",
        round.appointments,
        booked.rows_affected()
    );
    db.execute("VACUUM ANALYZE").await?;
    round.seed = started.elapsed();
    Ok((url, offices))
}

/// Grows the database to `target` appointments with COPY, as years of history do: every
/// weekday before today, newest first, fully booked and attended (`completed`, so no cap and no
/// no-show counts them), each by a new verified citizen, plus new citizens without a booking so
/// the users keep their 1.4 per appointment. The future (what availability and booking read)
/// stays as it was. Runs on as many connections as there are cores. Returns the grown size.
pub async fn grow(
    db_url: &str,
    offices: &[Office],
    prev: &Round,
    target: i64,
    label: String,
) -> anyhow::Result<Round> {
    let started = Instant::now();
    let index = prev.index + 1;
    let mut db = sqlx::PgConnection::connect(db_url).await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&mut db)
        .await?;
    let added = target - have;
    anyhow::ensure!(
        added > 0,
        "size {label} ({target}) is not above the {have} appointments already there"
    );
    let citizens_then = (target as f64 * CITIZENS_PER_APPOINTMENT).round() as i64;
    let new_citizens = (citizens_then - prev.citizens).max(added);
    let base = index as i64 * GROWTH_BLOCK;
    let parts = std::thread::available_parallelism().map_or(2, |n| n.get()) as i64;
    let split = |n: i64| -> Vec<(i64, i64)> {
        let per = (n + parts - 1) / parts;
        (0..parts)
            .map(|p| (1 + p * per, ((p + 1) * per).min(n)))
            .filter(|(lo, hi)| lo <= hi)
            .collect()
    };

    #[allow(clippy::disallowed_methods)]
    let now = SystemClock.now();
    let verified_at = now.to_rfc3339();
    let users =
        futures_util::future::try_join_all(split(new_citizens).into_iter().map(|(lo, hi)| {
            let verified_at = &verified_at;
            copy_rows(db_url, USERS_COPY, lo, hi, move |k, out| {
                user_row(base + k, verified_at, out)
            })
        }));
    users.await.context("COPY users")?;
    let users_done = started.elapsed();

    // The newest past weekday first; `today - 2` in UTC is in the past in every office's zone.
    let per_day = OFFICES as i64 * SLOTS_PER_DAY * i64::from(CAPACITY);
    let days = past_weekdays(
        now.date_naive() - ChronoDuration::days(2),
        (added + per_day - 1) / per_day,
    );
    let places: Vec<(Uuid, chrono_tz::Tz)> = offices.iter().map(|o| (o.id, o.tz)).collect();
    let appointments =
        futures_util::future::try_join_all(split(added).into_iter().map(|(lo, hi)| {
            let (days, places) = (&days, &places);
            copy_rows(db_url, APPOINTMENTS_COPY, lo, hi, move |k, out| {
                past_row(base + k, k - 1, days, places, out)
            })
        }));
    appointments.await.context("COPY appointments")?;
    let appointments_done = started.elapsed();
    db.execute("VACUUM ANALYZE").await?;
    let seed = started.elapsed();
    println!(
        "grown to {target} appointments with COPY in {:.1} s: {new_citizens} citizens {:.1} s, {added} past appointments {:.1} s, VACUUM ANALYZE {:.1} s ({parts} connections)",
        seed.as_secs_f64(),
        users_done.as_secs_f64(),
        (appointments_done - users_done).as_secs_f64(),
        (seed - appointments_done).as_secs_f64()
    );
    let mut holders = prev.holders.clone();
    holders.push((base + 1, base + added));
    Ok(Round {
        index,
        label,
        appointments: target,
        holders,
        fresh: (base + added + 1, base + new_citizens),
        citizens: prev.citizens + new_citizens,
        seed,
    })
}

const USERS_COPY: &str = "COPY users (id, email, password_hash, full_name, preferred_language, role, email_verified_at, passport_number) FROM STDIN";
const APPOINTMENTS_COPY: &str = "COPY appointments (id, reference, citizen_id, office_id, service_id, slot_start, slot_end, desk_no, applicant_name, applicant_relation, passport_number, status, sequence, created_at, updated_at) FROM STDIN";

/// Citizen `n` as the first seed writes it (text COPY format: tab-separated, one per line).
fn user_row(n: i64, verified_at: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "{}\tcitizen{n}@bench.test\tnot-a-hash\tBench Citizen {n}\ten\tcitizen\t{verified_at}\tBN{n:08}",
        citizen_id(n),
    );
}

/// The `p`-th past place (newest day first; per day office by office, slot by slot, desk by
/// desk), attended by citizen `n` under reference `SEED-n`.
fn past_row(
    n: i64,
    p: i64,
    days: &[NaiveDate],
    places: &[(Uuid, chrono_tz::Tz)],
    out: &mut String,
) {
    let per_office = SLOTS_PER_DAY * i64::from(CAPACITY);
    let per_day = places.len() as i64 * per_office;
    let day = days[(p / per_day) as usize];
    let (office, tz) = places[((p % per_day) / per_office) as usize];
    let slot = (p % per_office) / i64::from(CAPACITY);
    let desk = p % i64::from(CAPACITY) + 1;
    let (h, m) = if slot < 16 {
        (9 + slot / 4, (slot % 4) * 15)
    } else {
        (14, (slot - 16) * 15)
    };
    let local = day.and_time(NaiveTime::from_hms_opt(h as u32, m as u32, 0).expect("on the grid"));
    let start = tz
        .from_local_datetime(&local)
        .earliest()
        .expect("office zones have no gap at office hours")
        .with_timezone(&Utc);
    let end = start + ChronoDuration::minutes(15);
    let _ = writeln!(
        out,
        "{}\tSEED-{n}\t{}\t{office}\t{SERVICE_ID}\t{}\t{}\t{desk}\tBench Citizen {n}\tself\tBN{n:08}\tcompleted\t0\t{}\t{}",
        Uuid::new_v4(),
        citizen_id(n),
        start.to_rfc3339(),
        end.to_rfc3339(),
        (start - ChronoDuration::days(7)).to_rfc3339(),
        end.to_rfc3339()
    );
}

/// `count` weekdays from `from` backwards.
fn past_weekdays(from: NaiveDate, count: i64) -> Vec<NaiveDate> {
    let mut days = Vec::with_capacity(count as usize);
    let mut d = from;
    while (days.len() as i64) < count {
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(d);
        }
        d -= ChronoDuration::days(1);
    }
    days
}

/// One COPY on its own connection of rows `lo..=hi`, sent in chunks of about a megabyte.
async fn copy_rows(
    db_url: &str,
    statement: &str,
    lo: i64,
    hi: i64,
    row: impl Fn(i64, &mut String),
) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(db_url).await?;
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buf = String::with_capacity(1 << 21);
    for k in lo..=hi {
        row(k, &mut buf);
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            buf.reserve(1 << 21);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Cancels what the run booked at the seeded offices (HTTP booking, pgbench), so the next size
/// books into the same free places as this one: only the size of the tables differs.
pub async fn reset_future(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let offices: Vec<Uuid> = (1..=OFFICES).map(office_id).collect();
    sqlx::query(
        "UPDATE appointments SET status = 'cancelled', cancelled_by = 'system', cancel_reason = 'benchmark reset',
                                 updated_at = now()
         WHERE office_id = ANY($1) AND status = 'booked' AND reference NOT LIKE 'SEED-%'",
    )
    .bind(&offices)
    .execute(pool)
    .await?;
    Ok(())
}
