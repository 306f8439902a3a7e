//! Staff counter lookups on the seeded data: search latency over references, emails and name
//! fragments among the seeded citizens, and the time of a year of one office's statistics.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use mawid_domain::account::Role;
use mawid_domain::{Clock, SystemClock};
use mawid_http::AppState;
use uuid::Uuid;

use crate::seed;

const STATS_RUNS: usize = 10;

pub struct Timings {
    pub search: Vec<f64>,
    pub stats: Vec<f64>,
}

pub async fn run(
    base: &str,
    state: &AppState,
    offices: &[seed::Office],
    round: &crate::Round,
) -> anyhow::Result<Timings> {
    let admin = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, full_name, preferred_language, role, email_verified_at)
         VALUES ($1, 'bench-admin' || $2 || '@bench.test', 'not-a-hash', 'Bench Admin', 'en', 'admin', now())",
    )
    .bind(admin)
    .bind(round.index as i32)
    .execute(&state.pool)
    .await?;
    #[allow(clippy::disallowed_methods)]
    let now = SystemClock.now();
    let token = state
        .jwt
        .issue(admin, Role::Admin, now)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let get = |url: String| {
        crate::timed_get(
            client
                .get(url)
                .insert_header(("authorization", format!("Bearer {token}"))),
        )
    };
    let searches = crate::scale().requests;
    let mut search = Vec::with_capacity(searches);
    for i in 0..searches + 10 {
        // Through each seeded range in turn: at a grown size, half the lookups find history.
        let (lo, hi) = round.holders[(i / 3) % round.holders.len()];
        let n = lo as usize + (i * 7919) % (hi - lo + 1) as usize;
        let q = match i % 3 {
            0 => format!("SEED-{n}"),
            1 => format!("citizen{n}%40bench.test"),
            _ => format!("Citizen%20{n}"),
        };
        let ms = get(format!("{base}/admin/search?q={q}")).await?;
        if i >= 10 {
            search.push(ms);
        }
    }
    let mut stats = Vec::with_capacity(STATS_RUNS);
    let o = &offices[0];
    let from = now.with_timezone(&o.tz).date_naive() - ChronoDuration::days(300);
    let to = from + ChronoDuration::days(365);
    for _ in 0..STATS_RUNS {
        stats.push(
            get(format!(
                "{base}/admin/stats?office_id={}&from={from}&to={to}",
                o.id
            ))
            .await?,
        );
    }
    Ok(Timings { search, stats })
}
