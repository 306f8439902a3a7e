//! Office statistics: grouped statements over the office's appointments, waiting waitlist
//! entries and document requests (each served by an index on the office), the desks offered
//! computed from the schedules in force.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use mawid_domain::appointment::{CancelledBy, Status};
use mawid_domain::schedule::utc_window;
use mawid_domain::stats::{desks_offered, DayTally};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{catalogue, corrupt, schedules, StoreError};

pub struct ServiceDay {
    pub date: NaiveDate,
    pub service_id: Uuid,
    pub tally: DayTally,
}

pub struct ServiceDocuments {
    pub service_id: Uuid,
    pub by_status: BTreeMap<String, i64>,
    pub median_days_to_ready: Option<f64>,
}

pub struct Stats {
    pub timezone: chrono_tz::Tz,
    pub days: Vec<ServiceDay>,
    pub documents: Vec<ServiceDocuments>,
}

/// The statistics of one office over `dates` (local, in order, as `stats::check_range` gave).
#[tracing::instrument(skip_all)]
pub async fn office_stats(
    pool: &PgPool,
    office_id: Uuid,
    dates: &[NaiveDate],
) -> Result<Stats, StoreError> {
    let (Some(&from), Some(&to)) = (dates.first(), dates.last()) else {
        return Err(StoreError::NotFound);
    };
    let mut conn = pool.acquire().await?;
    let office = catalogue::office(&mut *conn, office_id).await?;
    let tz = office.tz();
    let (lo, hi) = utc_window(from, to);
    let counted = sqlx::query!(
        r#"SELECT (a.slot_start AT TIME ZONE o.timezone)::date AS "day!", a.service_id,
                  a.status, a.cancelled_by, count(*) AS "n!"
           FROM appointments a JOIN offices o ON o.id = a.office_id
           WHERE a.office_id = $1 AND a.slot_start >= $2 AND a.slot_start < $3
             AND (a.slot_start AT TIME ZONE o.timezone)::date BETWEEN $4 AND $5
           GROUP BY 1, 2, 3, 4"#,
        office.id,
        lo,
        hi,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tallies: BTreeMap<(NaiveDate, Uuid), DayTally> = BTreeMap::new();
    for r in counted {
        let status =
            Status::parse(&r.status).ok_or_else(|| corrupt("appointments.status", &r.status))?;
        let by = r
            .cancelled_by
            .as_deref()
            .map(|c| CancelledBy::parse(c).ok_or_else(|| corrupt("appointments.cancelled_by", c)))
            .transpose()?;
        tallies
            .entry((r.day, r.service_id))
            .or_default()
            .add(status, by, r.n);
    }
    // Entries waiting now, each counted on every date of its range inside the asked one.
    let waiting = sqlx::query!(
        r#"SELECT d::date AS "day!", w.service_id, count(*) AS "n!"
           FROM waitlist_entries w,
                generate_series(greatest(w.from_date, $2), least(w.to_date, $3), interval '1 day') d
           WHERE w.office_id = $1 AND w.status = 'waiting' AND w.to_date >= $2
             AND w.from_date <= $3
           GROUP BY 1, 2"#,
        office.id,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in waiting {
        tallies
            .entry((r.day, r.service_id))
            .or_default()
            .waitlist_waiting = r.n;
    }
    let closed = schedules::closed_days(&mut *conn, office.id, from, to).await?;
    for schedule in schedules::of_office(&mut *conn, office.id).await? {
        let service = catalogue::service(&mut *conn, schedule.service_id).await?;
        for &date in dates {
            let desks = desks_offered(
                tz,
                &schedule.weekly,
                schedule.capacity,
                service.duration_minutes,
                date,
                closed.contains(&date),
            );
            if desks > 0 {
                tallies
                    .entry((date, schedule.service_id))
                    .or_default()
                    .desks_offered = desks;
            }
        }
    }
    let days = tallies
        .into_iter()
        .map(|((date, service_id), tally)| ServiceDay {
            date,
            service_id,
            tally: tally.with_every_canceller(),
        })
        .collect();

    // Requests submitted on these dates; the median counts those that reached ready_for_pickup.
    let documents = sqlx::query!(
        r#"SELECT d.service_id, d.status, count(*) AS "n!"
           FROM document_requests d JOIN offices o ON o.id = d.office_id
           WHERE d.office_id = $1 AND d.created_at >= $2 AND d.created_at < $3
             AND (d.created_at AT TIME ZONE o.timezone)::date BETWEEN $4 AND $5
           GROUP BY 1, 2"#,
        office.id,
        lo,
        hi,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut per_service: BTreeMap<Uuid, BTreeMap<String, i64>> = BTreeMap::new();
    for r in documents {
        per_service
            .entry(r.service_id)
            .or_default()
            .insert(r.status, r.n);
    }
    // Days from submission to the first ready_for_pickup, over the service's requests of the
    // range that got there, whatever their status now.
    let mut out = Vec::new();
    for (service_id, by_status) in per_service {
        let median = sqlx::query_scalar!(
            r#"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.at - d.created_at) / 86400)
               FROM document_requests d JOIN offices o ON o.id = d.office_id
               JOIN LATERAL (SELECT min(e.at) AS at FROM document_request_events e
                             WHERE e.request_id = d.id AND e.to_status = 'ready_for_pickup') r
                 ON r.at IS NOT NULL
               WHERE d.office_id = $1 AND d.service_id = $2 AND d.created_at >= $3
                 AND d.created_at < $4
                 AND (d.created_at AT TIME ZONE o.timezone)::date BETWEEN $5 AND $6"#,
            office.id,
            service_id,
            lo,
            hi,
            from,
            to,
        )
        .fetch_one(&mut *conn)
        .await?;
        out.push(ServiceDocuments {
            service_id,
            by_status,
            median_days_to_ready: median,
        });
    }
    Ok(Stats {
        timezone: tz,
        days,
        documents: out,
    })
}
