//! The span of the calendar the API speaks: every date and instant it accepts or answers lies
//! between 1900-01-01 and 2200-12-31. Far enough for any date of birth and any booking, and far
//! from chrono's own limits, so arithmetic on an accepted value cannot overflow, and no value is
//! ever written in the extended-year form (`+262142-12-31`) that JSON date parsers reject.
//!
//! Every parser of a date or an instant goes through [`Day::parse`] or [`Instant::parse`]; the
//! serde impls call them too, so a DTO field typed `Day` or `Instant` is checked on the way in.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Invalid;

pub const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date");
pub const LATEST: NaiveDate = NaiveDate::from_ymd_opt(2200, 12, 31).expect("a valid date");

/// What a failure says, written once so the message and the check cannot drift.
fn date_expected() -> String {
    format!("a date YYYY-MM-DD between {EARLIEST} and {LATEST}")
}

fn instant_expected() -> String {
    format!("an RFC 3339 date-time with offset between {EARLIEST} and {LATEST}")
}

/// Whether `d` lies in the calendar the API speaks.
pub fn in_range(d: NaiveDate) -> bool {
    (EARLIEST..=LATEST).contains(&d)
}

/// A calendar date in range, written `YYYY-MM-DD` (always four digits of year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        Self::read(raw).ok_or_else(|| Invalid::new(field, date_expected()))
    }

    fn read(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        // chrono alone would take a signed or five-digit year; the wire form has exactly four.
        let shape = raw.len() == 10
            && raw.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shape {
            return None;
        }
        let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
        in_range(d).then_some(Self(d))
    }

    /// A date computed by the server (today, a stored value): kept only if in range.
    pub fn of(field: &str, d: NaiveDate) -> Result<Self, Invalid> {
        if in_range(d) {
            Ok(Self(d))
        } else {
            Err(Invalid::new(field, date_expected()))
        }
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::read(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("`{raw}` is not {}", date_expected())))
    }
}

/// An instant in range, with the offset it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instant(DateTime<FixedOffset>);

impl Instant {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        Self::read(raw).ok_or_else(|| Invalid::new(field, instant_expected()))
    }

    fn read(raw: &str) -> Option<Self> {
        let t = DateTime::parse_from_rfc3339(raw.trim()).ok()?;
        // Both the date as written and the UTC date: neither may leave the calendar.
        (in_range(t.date_naive()) && in_range(t.naive_utc().date())).then_some(Self(t))
    }

    pub fn utc(self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }

    pub fn written(self) -> DateTime<FixedOffset> {
        self.0
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::read(&raw).ok_or_else(|| {
            serde::de::Error::custom(format!("`{raw}` is not {}", instant_expected()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_inside_the_calendar_parses_and_one_outside_is_refused() {
        for ok in ["1900-01-01", "2026-12-01", "2200-12-31", " 2026-01-05 "] {
            assert!(Day::parse("d", ok).is_ok(), "{ok}");
        }
        for bad in [
            "1899-12-31",
            "2201-01-01",
            "+262142-12-31",
            "-262143-01-01",
            "+2026-01-01",
            "02026-01-01",
            "2026-1-05",
            "2026-02-30",
            "",
        ] {
            let e = Day::parse("from", bad).unwrap_err();
            assert_eq!(e.errors[0].field, "from", "{bad}");
            assert!(e.errors[0].message.contains("1900-01-01"), "{bad}");
        }
    }

    #[test]
    fn an_instant_must_lie_in_the_calendar_both_as_written_and_in_utc() {
        assert!(Instant::parse("t", "2026-12-01T09:00:00+03:00").is_ok());
        assert!(Instant::parse("t", "2200-12-31T23:59:59Z").is_ok());
        for bad in [
            "2201-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "2200-12-31T23:30:00-01:00",
            "1900-01-01T00:30:00+01:00",
            "+262142-12-31T00:00:00Z",
            "2026-12-01T09:00:00",
        ] {
            assert!(Instant::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_goes_through_the_same_check() {
        let d: Result<Day, _> = serde_json::from_str("\"+262142-12-31\"");
        assert!(d.is_err());
        let d: Day = serde_json::from_str("\"2026-12-01\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2026-12-01\"");
        let t: Result<Instant, _> = serde_json::from_str("\"2201-01-01T00:00:00Z\"");
        assert!(t.is_err());
    }
}
