//! Weekly templates in local wall-clock time and the slots cut from them. Every conversion to
//! an instant goes through the office's chrono-tz zone, so daylight saving is handled once, here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::appointment::Refusal;
use crate::code::Code;
use crate::error::Invalid;

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Longest availability window, both ends included.
pub const MAX_RANGE_DAYS: i64 = 62;

/// Opening intervals `[open, close)` per weekday (Monday first), ordered and non-overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeeklyTemplate {
    days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl WeeklyTemplate {
    /// From `{"mon": [["09:00", "13:00"], ...]}`; weekdays left out are closed.
    pub fn parse(raw: &BTreeMap<String, Vec<[String; 2]>>) -> Result<Self, Invalid> {
        let mut t = Self::default();
        let mut c = Invalid::collect();
        for (day, intervals) in raw {
            let Some(idx) = WEEKDAYS.iter().position(|d| d == day) else {
                c.check::<()>(Err(Invalid::new(
                    format!("weekly.{day}"),
                    "a weekday: mon, tue, wed, thu, fri, sat or sun",
                )));
                continue;
            };
            c.check(Self::parse_day(day, intervals).map(|v| t.days[idx] = v));
        }
        c.finish()?;
        Ok(t)
    }

    fn parse_day(day: &str, raw: &[[String; 2]]) -> Result<Vec<(NaiveTime, NaiveTime)>, Invalid> {
        let field = format!("weekly.{day}");
        let time = |s: &str| {
            NaiveTime::parse_from_str(s.trim(), "%H:%M")
                .map_err(|_| Invalid::new(&field, format!("{s:?} is not a time like 09:00")))
        };
        let mut out: Vec<(NaiveTime, NaiveTime)> = Vec::with_capacity(raw.len());
        for [open, close] in raw {
            let (open, close) = (time(open)?, time(close)?);
            if open >= close {
                return Err(Invalid::new(
                    &field,
                    "each interval must open before it closes",
                ));
            }
            if out.last().is_some_and(|&(_, prev_close)| prev_close > open) {
                return Err(Invalid::new(
                    &field,
                    "intervals must be in order and must not overlap",
                ));
            }
            out.push((open, close));
        }
        Ok(out)
    }

    pub fn intervals(&self, weekday: chrono::Weekday) -> &[(NaiveTime, NaiveTime)] {
        &self.days[weekday.num_days_from_monday() as usize]
    }

    /// The wire and storage form, with every weekday present.
    pub fn to_map(&self) -> BTreeMap<String, Vec<[String; 2]>> {
        WEEKDAYS
            .iter()
            .zip(&self.days)
            .map(|(d, v)| {
                let v = v
                    .iter()
                    .map(|(o, c)| [o.format("%H:%M").to_string(), c.format("%H:%M").to_string()])
                    .collect();
                ((*d).to_owned(), v)
            })
            .collect()
    }
}

/// A slot on the grid: instants in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotTime {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub remaining: i64,
}

/// The service settings that shape the slots it can be booked in.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub duration_minutes: i32,
    pub min_notice_hours: i32,
    pub max_advance_days: i32,
}

impl Policy {
    fn earliest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::hours(i64::from(self.min_notice_hours))
    }

    fn latest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::days(i64::from(self.max_advance_days))
    }
}

/// The slots of one local date, cut at `duration` from each interval. A local start that does
/// not exist (clocks go forward) is skipped; one that exists twice (clocks go back) is taken
/// once, at its first occurrence, so no instant is offered twice.
pub fn day_grid(
    tz: Tz,
    template: &WeeklyTemplate,
    date: NaiveDate,
    duration_minutes: i32,
) -> Vec<SlotTime> {
    let step = Duration::minutes(i64::from(duration_minutes.max(1)));
    let mut out = Vec::new();
    for &(open, close) in template.intervals(date.weekday()) {
        let (mut t, end) = (date.and_time(open), date.and_time(close));
        while t + step <= end {
            let start = match tz.from_local_datetime(&t) {
                LocalResult::Single(s) => Some(s),
                LocalResult::Ambiguous(first, _) => Some(first),
                LocalResult::None => None,
            };
            if let Some(s) = start {
                let start = s.with_timezone(&Utc);
                out.push(SlotTime {
                    start,
                    end: start + step,
                });
            }
            t += step;
        }
    }
    out.sort();
    out.dedup_by_key(|s| s.start);
    out
}

/// The local date of an instant at the office.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Checks a requested range of local dates.
/// A `from`..`to` range of local dates that cannot be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeRefusal {
    #[error("the date range must not end before it starts")]
    Inverted,
    #[error("the date range may span at most {MAX_RANGE_DAYS} days")]
    TooLong,
}

impl RangeRefusal {
    pub fn code(self) -> Code {
        match self {
            Self::Inverted => Code::InvalidRange,
            Self::TooLong => Code::RangeTooLong,
        }
    }
}

pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), RangeRefusal> {
    if to < from {
        return Err(RangeRefusal::Inverted);
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(RangeRefusal::TooLong);
    }
    Ok(())
}

pub struct Calendar<'a> {
    pub tz: Tz,
    pub template: &'a WeeklyTemplate,
    pub capacity: i32,
    /// Closed local dates.
    pub closures: &'a BTreeSet<NaiveDate>,
    pub policy: Policy,
}

impl Calendar<'_> {
    /// Free slots between two local dates (inclusive), with what is left of each after
    /// `booked` (places taken per slot start), within the notice and advance limits.
    pub fn availability(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        booked: &HashMap<DateTime<Utc>, i64>,
        now: DateTime<Utc>,
    ) -> Vec<Slot> {
        let (earliest, latest) = (self.policy.earliest(now), self.policy.latest(now));
        from.iter_days()
            .take_while(|d| *d <= to)
            .filter(|d| !self.closures.contains(d))
            .flat_map(|d| day_grid(self.tz, self.template, d, self.policy.duration_minutes))
            .filter(|s| s.start >= earliest && s.start <= latest)
            .filter_map(|s| {
                let remaining =
                    i64::from(self.capacity) - booked.get(&s.start).copied().unwrap_or(0);
                (remaining > 0).then_some(Slot {
                    start: s.start,
                    end: s.end,
                    remaining,
                })
            })
            .collect()
    }

    /// Whether `start` may be booked now, ignoring capacity (the database decides that).
    pub fn check_bookable(
        &self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SlotTime, Refusal> {
        let date = local_date(self.tz, start);
        let slot = self.on_grid(start).ok_or(Refusal::OffGrid)?;
        if self.closures.contains(&date) {
            return Err(Refusal::OfficeClosed);
        }
        if start < self.policy.earliest(now) {
            return Err(Refusal::TooSoon);
        }
        if start > self.policy.latest(now) {
            return Err(Refusal::TooFar);
        }
        Ok(slot)
    }

    /// The grid slot starting at `start`, if there is one (closures aside).
    pub fn on_grid(&self, start: DateTime<Utc>) -> Option<SlotTime> {
        let date = local_date(self.tz, start);
        day_grid(self.tz, self.template, date, self.policy.duration_minutes)
            .into_iter()
            .find(|s| s.start == start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    fn template(day: &str, intervals: &[(&str, &str)]) -> WeeklyTemplate {
        let mut raw = BTreeMap::new();
        raw.insert(
            day.to_owned(),
            intervals
                .iter()
                .map(|(a, b)| [(*a).to_owned(), (*b).to_owned()])
                .collect(),
        );
        WeeklyTemplate::parse(&raw).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn overlapping_or_unordered_intervals_are_refused() {
        let mut raw = BTreeMap::new();
        raw.insert(
            "mon".to_owned(),
            vec![
                ["09:00".to_owned(), "13:00".to_owned()],
                ["12:00".to_owned(), "15:00".to_owned()],
            ],
        );
        assert!(WeeklyTemplate::parse(&raw).is_err());
        raw.insert(
            "mon".to_owned(),
            vec![
                ["14:00".to_owned(), "15:00".to_owned()],
                ["09:00".to_owned(), "13:00".to_owned()],
            ],
        );
        assert!(WeeklyTemplate::parse(&raw).is_err());
        raw.insert(
            "mon".to_owned(),
            vec![["10:00".to_owned(), "10:00".to_owned()]],
        );
        assert!(WeeklyTemplate::parse(&raw).is_err());
        raw.clear();
        raw.insert("monday".to_owned(), vec![]);
        assert!(WeeklyTemplate::parse(&raw).is_err());
        raw.clear();
        raw.insert(
            "tue".to_owned(),
            vec![["9h".to_owned(), "10:00".to_owned()]],
        );
        assert!(WeeklyTemplate::parse(&raw).is_err());
    }

    #[test]
    fn slots_are_cut_at_the_duration_and_skip_the_lunch_break() {
        let t = template("mon", &[("09:00", "10:00"), ("14:00", "14:45")]);
        let slots = day_grid(chrono_tz::Europe::Moscow, &t, d("2026-11-30"), 20);
        let starts: Vec<String> = slots.iter().map(|s| s.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-11-30T06:00:00+00:00",
                "2026-11-30T06:20:00+00:00",
                "2026-11-30T06:40:00+00:00",
                "2026-11-30T11:00:00+00:00",
                "2026-11-30T11:20:00+00:00",
            ]
        );
    }

    #[test]
    fn berlin_spring_forward_offers_no_slot_at_a_nonexistent_local_time() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        let t = template("sun", &[("01:00", "04:00")]);
        let tz = chrono_tz::Europe::Berlin;
        let slots = day_grid(tz, &t, d("2026-03-29"), 30);
        let local: Vec<String> = slots
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%H:%M%:z").to_string())
            .collect();
        assert_eq!(
            local,
            ["01:00+01:00", "01:30+01:00", "03:00+02:00", "03:30+02:00"]
        );
    }

    #[test]
    fn berlin_fall_back_offers_no_instant_twice() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET, so 02:00-03:00 happens twice.
        let t = template("sun", &[("01:00", "04:00")]);
        let tz = chrono_tz::Europe::Berlin;
        let slots = day_grid(tz, &t, d("2026-10-25"), 30);
        let local: Vec<String> = slots
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%H:%M%:z").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "01:00+02:00",
                "01:30+02:00",
                "02:00+02:00",
                "02:30+02:00",
                "03:00+01:00",
                "03:30+01:00"
            ]
        );
        let unique: BTreeSet<_> = slots.iter().map(|s| s.start).collect();
        assert_eq!(unique.len(), slots.len());
    }

    #[test]
    fn grid_round_trips_through_local_time_in_many_zones_all_year() {
        // A cheap exhaustive stand-in for a property test: every generated slot, converted back
        // to local time, lies inside its template interval on its own date, and none repeats.
        let zones = [
            chrono_tz::Europe::Berlin,
            chrono_tz::Europe::Moscow,
            chrono_tz::Asia::Yekaterinburg,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Lord_Howe,
        ];
        let mut raw = BTreeMap::new();
        for day in WEEKDAYS {
            raw.insert(
                day.to_owned(),
                vec![
                    ["00:00".to_owned(), "03:30".to_owned()],
                    ["09:00".to_owned(), "13:00".to_owned()],
                ],
            );
        }
        let t = WeeklyTemplate::parse(&raw).unwrap();
        for tz in zones {
            for duration in [15, 25, 45] {
                let mut seen = BTreeSet::new();
                for date in d("2026-01-01").iter_days().take(365) {
                    for s in day_grid(tz, &t, date, duration) {
                        let local = s.start.with_timezone(&tz);
                        assert_eq!(local.date_naive(), date, "{tz} {s:?}");
                        let lt = local.time();
                        assert!(
                            t.intervals(date.weekday())
                                .iter()
                                .any(|&(o, c)| lt >= o && lt < c),
                            "{tz} {local}"
                        );
                        assert_eq!((lt.minute() % 5, lt.second()), (0, 0));
                        assert_eq!(s.end - s.start, Duration::minutes(duration.into()));
                        assert!(seen.insert(s.start), "{tz} {local} twice");
                    }
                }
            }
        }
    }

    #[test]
    fn availability_honours_closures_capacity_notice_and_advance() {
        let t = template("mon", &[("09:00", "10:00")]);
        let tz = chrono_tz::Europe::Moscow;
        let closures: BTreeSet<_> = [d("2026-12-07")].into();
        let cal = Calendar {
            tz,
            template: &t,
            capacity: 2,
            closures: &closures,
            policy: Policy {
                duration_minutes: 30,
                min_notice_hours: 24,
                max_advance_days: 15,
            },
        };
        // Sunday 2026-11-29 09:15 Moscow.
        let now = "2026-11-29T06:15:00Z".parse().unwrap();
        let first: DateTime<Utc> = "2026-11-30T06:00:00Z".parse().unwrap();
        let second: DateTime<Utc> = "2026-11-30T06:30:00Z".parse().unwrap();
        let booked: HashMap<_, _> = [(second, 2), (first, 1)].into();
        let slots = cal.availability(d("2026-11-23"), d("2026-12-31"), &booked, now);
        let got: Vec<(String, i64)> = slots
            .iter()
            .map(|s| (s.start.to_rfc3339(), s.remaining))
            .collect();
        // 30 Nov 09:00 is 23 h 45 min away (too soon), 09:30 is full, 7 Dec is closed, and of
        // 14 Dec only 09:00 lies within the 15 days.
        assert_eq!(got, [("2026-12-14T06:00:00+00:00".to_owned(), 2)]);
        assert_eq!(cal.check_bookable(first, now), Err(Refusal::TooSoon));
        assert_eq!(
            cal.check_bookable("2026-12-07T06:00:00Z".parse().unwrap(), now),
            Err(Refusal::OfficeClosed)
        );
        assert_eq!(
            cal.check_bookable("2026-12-21T06:00:00Z".parse().unwrap(), now),
            Err(Refusal::TooFar)
        );
        assert_eq!(
            cal.check_bookable("2026-12-14T06:10:00Z".parse().unwrap(), now),
            Err(Refusal::OffGrid)
        );
        assert_eq!(
            cal.check_bookable("2026-12-14T06:30:00Z".parse().unwrap(), now),
            Err(Refusal::TooFar)
        );
        assert!(cal
            .check_bookable("2026-12-14T06:00:00Z".parse().unwrap(), now)
            .is_ok());
    }

    #[test]
    fn ranges_longer_than_62_days_or_backwards_are_refused() {
        assert_eq!(check_range(d("2026-12-01"), d("2027-01-31")), Ok(()));
        assert_eq!(
            check_range(d("2026-12-01"), d("2027-02-01")),
            Err(RangeRefusal::TooLong)
        );
        assert_eq!(
            check_range(d("2026-12-02"), d("2026-12-01")),
            Err(RangeRefusal::Inverted)
        );
    }
}
