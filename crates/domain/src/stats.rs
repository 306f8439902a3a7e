//! Office statistics for admins: what a day of one service looked like, and how document
//! requests moved. The database counts; the rules of what counts as what live here.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::appointment::{CancelledBy, Status};
use crate::code::Code;
use crate::schedule::{day_grid, WeeklyTemplate};

/// Longest statistics range, both ends included: a year, leap day and all.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatsRangeRefusal {
    #[error("the date range must not end before it starts")]
    Inverted,
    #[error("statistics cover at most {MAX_DAYS} days")]
    TooLong,
}

impl StatsRangeRefusal {
    pub fn code(self) -> Code {
        match self {
            Self::Inverted => Code::InvalidRange,
            Self::TooLong => Code::RangeTooLong,
        }
    }
}

/// The local dates `from..=to` of a statistics request.
pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>, StatsRangeRefusal> {
    if to < from {
        return Err(StatsRangeRefusal::Inverted);
    }
    if (to - from).num_days() + 1 > MAX_DAYS {
        return Err(StatsRangeRefusal::TooLong);
    }
    Ok(from.iter_days().take_while(|d| *d <= to).collect())
}

/// Desks a schedule offers on one local date: its slots times its capacity, none when closed.
/// Schedules are not versioned, so a past day is counted under the schedule in force now.
pub fn desks_offered(
    tz: chrono_tz::Tz,
    template: &WeeklyTemplate,
    capacity: i32,
    duration_minutes: i32,
    date: NaiveDate,
    closed: bool,
) -> i64 {
    if closed {
        return 0;
    }
    day_grid(tz, template, date, duration_minutes).len() as i64 * i64::from(capacity)
}

/// One day of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTally {
    pub desks_offered: i64,
    /// Every appointment that held a desk that day (all but the cancelled ones).
    pub booked: i64,
    pub completed: i64,
    pub no_shows: i64,
    /// Cancellations by who cancelled (`citizen`, `staff`, ...).
    pub cancellations: BTreeMap<&'static str, i64>,
    /// Waitlist entries still waiting whose range covers the day.
    pub waitlist_waiting: i64,
}

impl DayTally {
    /// Adds `n` appointments of `status`, cancelled by `by` when cancelled.
    pub fn add(&mut self, status: Status, by: Option<CancelledBy>, n: i64) {
        match status {
            Status::Cancelled => {
                let who = by.map_or("unknown", CancelledBy::code);
                *self.cancellations.entry(who).or_default() += n;
                return;
            }
            Status::Completed => self.completed += n,
            Status::NoShow => self.no_shows += n,
            Status::Booked | Status::CheckedIn => {}
        }
        self.booked += n;
    }

    /// A tally with every kind of cancellation present, zero where none happened.
    pub fn with_every_canceller(mut self) -> Self {
        for c in CancelledBy::ALL {
            self.cancellations.entry(c.code()).or_default();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_at_most_a_year_of_local_dates_in_order() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            check_range(d("2024-01-01"), d("2024-12-31")).unwrap().len(),
            366
        );
        assert_eq!(
            check_range(d("2024-01-01"), d("2025-01-01")),
            Err(StatsRangeRefusal::TooLong)
        );
        assert_eq!(
            check_range(d("2024-01-02"), d("2024-01-01")),
            Err(StatsRangeRefusal::Inverted)
        );
        assert_eq!(
            check_range(d("2024-01-01"), d("2024-01-01")).unwrap().len(),
            1
        );
    }

    #[test]
    fn every_desk_holding_appointment_counts_as_booked_and_cancellations_by_whom() {
        let mut t = DayTally::default();
        t.add(Status::Booked, None, 2);
        t.add(Status::Completed, None, 3);
        t.add(Status::NoShow, None, 1);
        t.add(Status::Cancelled, Some(CancelledBy::Staff), 4);
        let t = t.with_every_canceller();
        assert_eq!((t.booked, t.completed, t.no_shows), (6, 3, 1));
        assert_eq!(t.cancellations["staff"], 4);
        assert_eq!(t.cancellations["citizen"], 0);
    }

    #[test]
    fn a_closed_day_offers_no_desk() {
        let mut raw = BTreeMap::new();
        raw.insert(
            "mon".to_owned(),
            vec![["09:00".to_owned(), "10:00".to_owned()]],
        );
        let t = WeeklyTemplate::parse(&raw).unwrap();
        let monday = "2026-11-30".parse().unwrap();
        let tz = chrono_tz::Europe::Moscow;
        assert_eq!(desks_offered(tz, &t, 2, 30, monday, false), 4);
        assert_eq!(desks_offered(tz, &t, 2, 30, monday, true), 0);
    }
}
