//! The staff agenda: which appointments of a day still fit the schedule in force.

use chrono::{DateTime, Utc};

use crate::schedule::Calendar;

/// Whether an appointment still fits the schedule in force (`None`: the office no longer offers
/// the service), so staff see the ones a later schedule change or closure left outside it.
/// Such appointments remain valid.
pub fn on_schedule(calendar: Option<&Calendar<'_>>, start: DateTime<Utc>) -> bool {
    calendar.is_some_and(|c| c.on_schedule(start))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::schedule::{Policy, WeeklyTemplate};

    fn monday_mornings() -> WeeklyTemplate {
        let mut raw = BTreeMap::new();
        raw.insert(
            "mon".to_owned(),
            vec![["09:00".to_owned(), "12:00".to_owned()]],
        );
        WeeklyTemplate::parse(&raw).unwrap()
    }

    #[test]
    fn an_appointment_fits_only_an_open_day_on_the_current_grid() {
        let tz = chrono_tz::Europe::Moscow;
        let template = monday_mornings();
        let monday = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let at = |h, m| {
            tz.from_local_datetime(&monday.and_hms_opt(h, m, 0).unwrap())
                .unwrap()
                .with_timezone(&Utc)
        };
        let open = BTreeSet::new();
        let closed = BTreeSet::from([monday]);
        let cal = |closures| Calendar {
            tz,
            template: &template,
            capacity: 2,
            closures,
            policy: Policy {
                duration_minutes: 30,
                min_notice_hours: 24,
                max_advance_days: 60,
            },
        };
        assert!(on_schedule(Some(&cal(&open)), at(9, 30)));
        assert!(!on_schedule(Some(&cal(&open)), at(9, 15)), "off the grid");
        assert!(
            !on_schedule(Some(&cal(&open)), at(13, 0)),
            "outside the hours"
        );
        assert!(!on_schedule(Some(&cal(&closed)), at(9, 30)), "a closed day");
        assert!(!on_schedule(None, at(9, 30)), "no schedule any more");
    }
}
