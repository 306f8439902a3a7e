//! A fresh `mawid_bench` database: migrations, 10 offices, one 15-minute service with a
//! capacity-20 weekday schedule, 140,000 verified citizens and 100,000 booked appointments
//! (a fiftieth of that in smoke mode).
//! Ids are derived from integers so pgbench can name the same rows.

use anyhow::Context;
use sqlx::{Connection, Executor};
use uuid::Uuid;

use crate::{scale, CAPACITY, OFFICES};

/// Citizens 1..=this hold one seeded booking each; the ones after them hold none.
pub fn seeded_citizens() -> i64 {
    scale().appointments
}

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

pub async fn fresh_database(admin_url: &str) -> anyhow::Result<(String, Vec<Office>)> {
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
    .bind(scale().citizens)
    .execute(&mut db)
    .await?;

    // Every on-grid place of the next eight weeks, shuffled, and the first 100,000 taken; one per
    // seeded citizen, so each of them holds exactly one booking.
    let seeded_citizen = sql_id("8000", "p.rn");
    sqlx::query(&format!(
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
    .bind(scale().appointments)
    .bind(CAPACITY)
    .execute(&mut db)
    .await?;
    db.execute("VACUUM ANALYZE").await?;
    Ok((url, offices))
}
