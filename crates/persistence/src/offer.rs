//! What a booking needs to know about the slot it claims: the office, the service, their
//! schedule and the office's closures near the slot, and for a citizen's own booking the
//! account and its recent no-shows, read in one round trip instead of five, because every
//! booking, reschedule and staff booking starts with it.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::catalogue::{
    office_columns, service_columns, OfficeRecord, OfficeRow, ServiceRecord, ServiceRow,
};
use crate::schedules::{schedule_columns, ScheduleRecord, ScheduleRow};
use crate::users::{user_columns, WithNoShows, WithNoShowsRecord};
use crate::{corrupt_because, StoreError};

/// The parts of an offer as stored; each is `None` when its row does not exist.
pub(crate) struct Offer {
    pub office: Option<OfficeRow>,
    pub service: Option<ServiceRow>,
    pub schedule: Option<ScheduleRow>,
    /// The office's closed local dates within a day of the slot's UTC date, which holds the
    /// slot's local date in any zone.
    pub closed: BTreeSet<NaiveDate>,
    /// The citizen asked for and their no-shows since the date asked for, if the account exists.
    pub citizen: Option<WithNoShows>,
}

/// A citizen whose account [`for_slot`] reads beside the offer: their id, and since when their
/// no-shows count.
pub(crate) struct CitizenSince {
    pub id: Uuid,
    pub since: DateTime<Utc>,
}

/// The office, service, schedule and closures for a slot starting at `start`, and the account of
/// `citizen` with its no-shows (read after the caller's lock on the citizen, so as new as that).
#[tracing::instrument(skip_all)]
pub(crate) async fn for_slot(
    ex: impl PgExecutor<'_>,
    office_id: Uuid,
    service_id: Uuid,
    start: DateTime<Utc>,
    citizen: Option<CitizenSince>,
) -> Result<Offer, StoreError> {
    let (citizen_id, since) = citizen.map(|c| (c.id, c.since)).unzip();
    let day = start.date_naive();
    let from = day.checked_sub_days(Days::new(1)).unwrap_or(day);
    let to = day.checked_add_days(Days::new(1)).unwrap_or(day);
    // Each part as JSON of the columns its own module reads (from the same column macro),
    // decoded by the same record. The macros hand their lists on one after the other, as the
    // query macro takes string literals only.
    macro_rules! read {
        () => { office_columns!(read!(@office)) };
        (@office $office:literal) => { service_columns!(read!(@service $office)) };
        (@service $office:literal $service:literal) => {
            schedule_columns!(read!(@schedule $office $service))
        };
        (@schedule $office:literal $service:literal $schedule:literal) => {
            user_columns!(read!(@user $office $service $schedule))
        };
        (@user $office:literal $service:literal $schedule:literal $user:literal) => {
            sqlx::query!(
                "SELECT
                   (SELECT to_jsonb(o) FROM (SELECT " + $office + "
                      FROM offices WHERE id = $1) o) AS office,
                   (SELECT to_jsonb(s) FROM (SELECT " + $service + "
                      FROM services WHERE id = $2) s) AS service,
                   (SELECT to_jsonb(c) FROM (SELECT " + $schedule + "
                      FROM schedules WHERE office_id = $1 AND service_id = $2) c) AS schedule,
                   ARRAY(SELECT day FROM closures WHERE office_id = $1 AND day BETWEEN $3 AND $4)
                     AS \"closed!\",
                   (SELECT to_jsonb(c) FROM (SELECT " + $user + ",
                        no_shows_since(u.id, $6) AS no_shows
                      FROM users u WHERE u.id = $5) c) AS citizen",
                office_id,
                service_id,
                from,
                to,
                citizen_id,
                since,
            )
        };
    }
    let r = read!().fetch_one(ex).await?;
    Ok(Offer {
        office: part::<OfficeRecord>("offices", r.office)?
            .map(OfficeRow::try_from)
            .transpose()?,
        service: part::<ServiceRecord>("services", r.service)?
            .map(ServiceRow::try_from)
            .transpose()?,
        schedule: part::<ScheduleRecord>("schedules", r.schedule)?
            .map(ScheduleRow::try_from)
            .transpose()?,
        closed: r.closed.into_iter().collect(),
        citizen: part::<WithNoShowsRecord>("users", r.citizen)?
            .map(WithNoShows::try_from)
            .transpose()?,
    })
}

fn part<T: DeserializeOwned>(
    table: &str,
    value: Option<serde_json::Value>,
) -> Result<Option<T>, StoreError> {
    value
        .map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|e| corrupt_because(table, &v.to_string(), e.to_string()))
        })
        .transpose()
}
