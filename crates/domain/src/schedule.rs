//! Weekly templates in local wall-clock time and the slots cut from them. Every conversion to
//! an instant goes through the office's chrono-tz zone, so daylight saving is handled once, here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::appointment::Refusal;
use crate::catalogue::check_range as check_setting;
use crate::code::Code;
use crate::error::Invalid;
use crate::text::Reason;

pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// Longest availability window, both ends included.
pub const MAX_RANGE_DAYS: i64 = 62;
/// Desks one schedule may run in parallel; the database checks the same range.
pub const CAPACITY: RangeInclusive<i32> = 1..=100;

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

/// What an admin sets for one office and service: the weekly template and its capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub template: WeeklyTemplate,
    pub capacity: i32,
    /// Desks of every slot only staff may book (urgent cases, walk-ins).
    pub reserved_capacity: i32,
}

impl Schedule {
    /// Reports a bad template and a bad capacity together; nothing reserved.
    pub fn parse(
        capacity: i32,
        weekly: &BTreeMap<String, Vec<[String; 2]>>,
    ) -> Result<Self, Invalid> {
        Self::parse_reserving(capacity, 0, weekly)
    }

    /// Like [`Schedule::parse`], with `reserved` of the `capacity` desks kept for staff.
    pub fn parse_reserving(
        capacity: i32,
        reserved: i32,
        weekly: &BTreeMap<String, Vec<[String; 2]>>,
    ) -> Result<Self, Invalid> {
        let mut v = Invalid::collect();
        let template = v.check(WeeklyTemplate::parse(weekly));
        let capacity = v.check(check_setting("capacity", capacity, CAPACITY));
        let reserved = v.check(check_setting(
            "reserved_capacity",
            reserved,
            0..=capacity.unwrap_or(*CAPACITY.end()),
        ));
        v.finish()?;
        let (Some(template), Some(capacity), Some(reserved_capacity)) =
            (template, capacity, reserved)
        else {
            unreachable!("finish() returned Ok, so all parsed");
        };
        Ok(Self {
            template,
            capacity,
            reserved_capacity,
        })
    }

    /// The desks of a slot citizens may book.
    pub fn public_capacity(capacity: i32, reserved: i32) -> i32 {
        (capacity - reserved).max(0)
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

/// Checks a requested range of local dates.
pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), RangeRefusal> {
    if to < from {
        return Err(RangeRefusal::Inverted);
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(RangeRefusal::TooLong);
    }
    Ok(())
}

/// Local dates `from..=to` that passed [`check_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    pub fn parse(from: NaiveDate, to: NaiveDate) -> Result<Self, RangeRefusal> {
        check_range(from, to)?;
        Ok(Self { from, to })
    }

    /// A UTC window holding every instant of these local dates in any zone: offsets lie within a
    /// day of UTC, so a day's margin on each side is enough.
    pub fn utc_window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        utc_window(self.from, self.to)
    }
}

/// Saturates at chrono's limits: a date there is refused elsewhere, and a window need only be
/// wide enough, never a panic.
pub fn utc_window(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
    (
        midnight(from)
            .checked_sub_signed(Duration::days(1))
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
        midnight(to)
            .checked_add_signed(Duration::days(2))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

/// Closures are whole local dates of an office: a closed day removes every slot of it, and the
/// bookings it falls on are the ones that start on that local date.
pub mod closure {
    use super::*;

    /// The bounds of a closure listing whose ends the admin left open: every closure there is.
    pub use crate::dates::{EARLIEST, LATEST};

    pub fn listing(from: Option<NaiveDate>, to: Option<NaiveDate>) -> (NaiveDate, NaiveDate) {
        (from.unwrap_or(EARLIEST), to.unwrap_or(LATEST))
    }

    /// Where to look for the bookings a closure of `day` may fall on.
    pub fn utc_window(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        super::utc_window(day, day)
    }

    /// The future bookings (key, start) a closure of `day` falls on: what the admin who closes
    /// the day must decide about (see [`Bookings::settle`]).
    pub fn affected<T: Copy>(tz: Tz, day: NaiveDate, booked: &[(T, DateTime<Utc>)]) -> Vec<T> {
        booked
            .iter()
            .filter(|(_, s)| local_date(tz, *s) == day)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// What becomes of the future bookings a closure or a schedule change leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bookings {
    /// Each is cancelled by staff with the closure's reason (or [`SCHEDULE_CHANGED`]), mailed.
    Cancel,
    /// They stay valid and show in the agenda, flagged.
    Keep,
}

/// The reason a booking cancelled by a schedule change is given (a closure gives its own).
pub const SCHEDULE_CHANGED: &str = "schedule changed";

/// [`SCHEDULE_CHANGED`] as the reason of a staff cancellation.
pub fn schedule_changed() -> Reason {
    Reason::fixed(SCHEDULE_CHANGED)
}

/// A change that hits future bookings, asked without saying what becomes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{count} future bookings are affected: send bookings \"cancel\" or \"keep\"")]
pub struct BookingsAffected {
    pub count: usize,
}

impl BookingsAffected {
    pub fn code(&self) -> Code {
        Code::BookingsAffected
    }
}

impl Bookings {
    pub const ALL: [Bookings; 2] = [Bookings::Cancel, Bookings::Keep];

    pub fn code(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Keep => "keep",
        }
    }

    /// The optional `bookings` field of a closure or schedule change.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        raw.map(|r| Invalid::one_of("bookings", r, &Self::ALL, Self::code))
            .transpose()
    }

    /// A change that leaves out `affected` future bookings goes ahead only once the admin said
    /// what becomes of them; one that affects none needs no choice (and cancels nothing).
    pub fn settle(choice: Option<Self>, affected: usize) -> Result<Self, BookingsAffected> {
        match (choice, affected) {
            (_, 0) => Ok(Self::Keep),
            (Some(c), _) => Ok(c),
            (None, count) => Err(BookingsAffected { count }),
        }
    }
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

    /// Whether an existing booking at `start` still fits: on the grid and not on a closed day.
    /// One that does not stays valid (a change never drops bookings); the agenda flags it.
    pub fn on_schedule(&self, start: DateTime<Utc>) -> bool {
        !self.closures.contains(&local_date(self.tz, start)) && self.on_grid(start).is_some()
    }

    /// The future bookings (key, start) this calendar leaves outside it: what the admin who
    /// changes a schedule must decide about (see [`Bookings::settle`]).
    pub fn affected<T: Copy>(&self, booked: &[(T, DateTime<Utc>)]) -> Vec<T> {
        booked
            .iter()
            .filter(|(_, s)| !self.on_schedule(*s))
            .map(|(k, _)| *k)
            .collect()
    }

    /// The free slots the public is offered: none while the office or the service is inactive
    /// (the schedule is kept for when it returns).
    pub fn offered(
        &self,
        open: Open,
        range: DateRange,
        booked: &HashMap<DateTime<Utc>, i64>,
        now: DateTime<Utc>,
    ) -> Vec<Slot> {
        if open.office && open.service {
            self.availability(range.from, range.to, booked, now)
        } else {
            Vec::new()
        }
    }
}

/// Whether the office and the service are active (listed and bookable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub office: bool,
    pub service: bool,
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn a_window_at_chronos_limits_saturates_instead_of_panicking() {
        assert_eq!(
            utc_window(NaiveDate::MIN, NaiveDate::MAX),
            (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        );
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

    fn local_starts(tz: Tz, slots: &[SlotTime]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.with_timezone(&tz).format("%H:%M%:z").to_string())
            .collect()
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
        let local = local_starts(tz, &day_grid(tz, &t, d("2026-03-29"), 30));
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
        let local = local_starts(tz, &slots);
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

    fn moscow_calendar<'a>(
        t: &'a WeeklyTemplate,
        closures: &'a BTreeSet<NaiveDate>,
    ) -> Calendar<'a> {
        Calendar {
            tz: chrono_tz::Europe::Moscow,
            template: t,
            capacity: 2,
            closures,
            policy: Policy {
                duration_minutes: 30,
                min_notice_hours: 24,
                max_advance_days: 60,
            },
        }
    }

    #[test]
    fn capacity_is_one_to_a_hundred_desks_and_reported_with_the_template() {
        let weekly = BTreeMap::from([(
            "mon".to_owned(),
            vec![["09:00".to_owned(), "10:00".to_owned()]],
        )]);
        assert!(Schedule::parse(*CAPACITY.start(), &weekly).is_ok());
        assert!(Schedule::parse(*CAPACITY.end(), &weekly).is_ok());
        let bad = BTreeMap::from([("funday".to_owned(), vec![])]);
        let err = Schedule::parse(*CAPACITY.end() + 1, &bad).unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["weekly.funday", "capacity"]);
        assert!(Schedule::parse(0, &weekly).is_err());
        let r = Schedule::parse_reserving(3, 1, &weekly).unwrap();
        assert_eq!(
            Schedule::public_capacity(r.capacity, r.reserved_capacity),
            2
        );
        assert!(Schedule::parse_reserving(3, 3, &weekly).is_ok());
        let e = Schedule::parse_reserving(3, 4, &weekly).unwrap_err();
        assert_eq!(e.errors[0].field, "reserved_capacity");
    }

    #[test]
    fn a_booking_is_on_schedule_only_on_the_grid_of_an_open_day() {
        let t = template("wed", &[("09:00", "10:00")]);
        let none = BTreeSet::new();
        let cal = moscow_calendar(&t, &none);
        // Wednesday 2026-12-02, 09:00 and 09:30 Moscow are the grid; 09:10 and 10:00 are not.
        assert!(cal.on_schedule("2026-12-02T06:00:00Z".parse().unwrap()));
        assert!(cal.on_schedule("2026-12-02T06:30:00Z".parse().unwrap()));
        assert!(!cal.on_schedule("2026-12-02T06:10:00Z".parse().unwrap()));
        assert!(!cal.on_schedule("2026-12-02T07:00:00Z".parse().unwrap()));
        let closed: BTreeSet<_> = [d("2026-12-02")].into();
        let cal = moscow_calendar(&t, &closed);
        assert!(!cal.on_schedule("2026-12-02T06:00:00Z".parse().unwrap()));
    }

    #[test]
    fn a_new_schedule_affects_the_future_bookings_it_leaves_off_its_grid() {
        // The afternoon is dropped: the 14:00 booking is affected, the 09:00 one is not.
        let t = template("wed", &[("09:00", "13:00")]);
        let none = BTreeSet::new();
        let booked = [
            (1, "2026-12-02T06:00:00Z".parse().unwrap()),
            (2, "2026-12-02T11:00:00Z".parse().unwrap()),
        ];
        assert_eq!(moscow_calendar(&t, &none).affected(&booked), [2]);
        assert!(moscow_calendar(&t, &none).affected::<i32>(&[]).is_empty());
    }

    #[test]
    fn a_closure_affects_the_bookings_of_its_local_date_in_the_office_zone() {
        let day = d("2026-12-02");
        // 23:30 UTC on the 1st is already the 2nd in Moscow, not in New York.
        let booked = [
            (1, "2026-12-01T23:30:00Z".parse().unwrap()),
            (2, "2026-12-02T12:00:00Z".parse().unwrap()),
            (3, "2026-12-02T22:00:00Z".parse().unwrap()),
        ];
        assert_eq!(
            closure::affected(chrono_tz::Europe::Moscow, day, &booked),
            [1, 2]
        );
        assert_eq!(
            closure::affected(chrono_tz::America::New_York, day, &booked),
            [2, 3]
        );
        assert_eq!(
            closure::affected(chrono_tz::Pacific::Kiritimati, day, &booked),
            [1]
        );
    }

    #[test]
    fn a_change_hitting_bookings_waits_for_the_admin_to_say_cancel_or_keep() {
        assert_eq!(Bookings::settle(None, 0), Ok(Bookings::Keep));
        assert_eq!(
            Bookings::settle(Some(Bookings::Cancel), 0),
            Ok(Bookings::Keep)
        );
        assert_eq!(
            Bookings::settle(None, 3),
            Err(BookingsAffected { count: 3 })
        );
        assert_eq!(
            Bookings::settle(Some(Bookings::Cancel), 3),
            Ok(Bookings::Cancel)
        );
        assert_eq!(
            Bookings::settle(Some(Bookings::Keep), 3),
            Ok(Bookings::Keep)
        );
        assert_eq!(schedule_changed().as_str(), SCHEDULE_CHANGED);
        assert_eq!(Bookings::parse(None), Ok(None));
        assert_eq!(Bookings::parse(Some("cancel")), Ok(Some(Bookings::Cancel)));
        let e = Bookings::parse(Some("drop")).unwrap_err();
        assert_eq!(e.errors[0].field, "bookings");
    }

    #[test]
    fn the_search_windows_hold_every_instant_of_their_local_dates_in_any_zone() {
        let (from, to) = (d("2026-12-01"), d("2026-12-03"));
        let (lo, hi) = DateRange::parse(from, to).unwrap().utc_window();
        let (day_lo, day_hi) = closure::utc_window(from);
        for tz in [
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::Etc::GMTPlus12,
            chrono_tz::Europe::Moscow,
        ] {
            let first = tz
                .from_local_datetime(&from.and_time(NaiveTime::MIN))
                .unwrap();
            let last = tz
                .from_local_datetime(&to.and_hms_opt(23, 59, 0).unwrap())
                .unwrap();
            assert!(lo <= first && last < hi, "{tz}");
            let end_of_from = tz
                .from_local_datetime(&from.and_hms_opt(23, 59, 0).unwrap())
                .unwrap();
            assert!(day_lo <= first && end_of_from < day_hi, "{tz}");
        }
    }

    #[test]
    fn an_open_closure_listing_covers_every_date() {
        assert_eq!(
            closure::listing(None, None),
            (d("1900-01-01"), d("2200-12-31"))
        );
        assert_eq!(
            closure::listing(Some(d("2026-12-01")), None),
            (d("2026-12-01"), closure::LATEST)
        );
    }

    #[test]
    fn an_inactive_office_or_service_offers_no_slot() {
        let t = template("wed", &[("09:00", "10:00")]);
        let none = BTreeSet::new();
        let cal = moscow_calendar(&t, &none);
        let now = "2026-11-23T06:00:00Z".parse().unwrap();
        let wed = DateRange::parse(d("2026-12-02"), d("2026-12-02")).unwrap();
        let open = Open {
            office: true,
            service: true,
        };
        assert_eq!(cal.offered(open, wed, &HashMap::new(), now).len(), 2);
        for closed in [
            Open {
                office: false,
                ..open
            },
            Open {
                service: false,
                ..open
            },
        ] {
            assert!(cal.offered(closed, wed, &HashMap::new(), now).is_empty());
        }
    }
}
