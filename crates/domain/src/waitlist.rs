//! The waitlist: a citizen waiting for a slot of one service at one office between two local
//! dates, served automatically by the oldest-first assignment.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::schedule::DateRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Waiting,
    Fulfilled,
    Expired,
    Left,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Waiting,
        Status::Fulfilled,
        Status::Expired,
        Status::Left,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == raw)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Fulfilled => "fulfilled",
            Self::Expired => "expired",
            Self::Left => "left",
        }
    }
}

/// Why a waitlist range is refused: a range must start today or later (`from`), and an entry
/// asking for an earlier slot than a booking held must end before that booking's date (`to`).
pub fn check_range(
    range: DateRange,
    today: NaiveDate,
    held: Option<NaiveDate>,
) -> Result<DateRange, Invalid> {
    if range.from < today {
        return Err(Invalid::new("from", "today or later"));
    }
    if held.is_some_and(|d| range.to >= d) {
        return Err(Invalid::new(
            "to",
            "before the date of the booking already held for this service",
        ));
    }
    Ok(range)
}

/// A slot an "earlier slot" entry may take: strictly before the booking it would move.
pub fn earlier(slot_start: DateTime<Utc>, held_start: Option<DateTime<Utc>>) -> bool {
    held_start.is_none_or(|h| slot_start < h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    #[test]
    fn a_range_starts_today_or_later_and_an_earlier_slot_ends_before_the_booking() {
        let r = DateRange::parse(d(2), d(9)).unwrap();
        assert!(check_range(r, d(2), None).is_ok());
        assert_eq!(
            check_range(r, d(3), None).unwrap_err().errors[0].field,
            "from"
        );
        assert_eq!(
            check_range(r, d(2), Some(d(9))).unwrap_err().errors[0].field,
            "to"
        );
        assert!(check_range(r, d(2), Some(d(10))).is_ok());
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
        }
    }
}
