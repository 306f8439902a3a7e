//! Instants written the way each language writes dates, in the office's own zone.
//!
//! Hand-made tables rather than a locale database: three languages, and the Arabic month names
//! are the Levantine ones (كانون الثاني … كانون الأول) that Syrian readers use, which generic
//! Arabic locales do not give.

use chrono::{DateTime, Datelike, FixedOffset, Offset, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use mawid_domain::account::Language;

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Genitive, as Russian writes a day of the month: «1 декабря».
const RU_MONTHS: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];
const AR_MONTHS: [&str; 12] = [
    "كانون الثاني",
    "شباط",
    "آذار",
    "نيسان",
    "أيار",
    "حزيران",
    "تموز",
    "آب",
    "أيلول",
    "تشرين الأول",
    "تشرين الثاني",
    "كانون الأول",
];

fn weekday(language: Language, d: Weekday) -> &'static str {
    let i = d.num_days_from_monday() as usize;
    match language {
        Language::En => [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][i],
        Language::Ru => [
            "понедельник",
            "вторник",
            "среда",
            "четверг",
            "пятница",
            "суббота",
            "воскресенье",
        ][i],
        Language::Ar => [
            "الاثنين",
            "الثلاثاء",
            "الأربعاء",
            "الخميس",
            "الجمعة",
            "السبت",
            "الأحد",
        ][i],
    }
}

/// An instant in a named zone, with the offset in force at that instant.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    pub at: DateTime<FixedOffset>,
    pub zone: Option<Tz>,
}

impl Local {
    /// `zone` is the office's IANA name; when it is unknown the instant keeps the offset it was
    /// written with, which is still the right wall-clock time.
    pub fn new(at: DateTime<FixedOffset>, zone: &str) -> Self {
        match zone.parse::<Tz>() {
            Ok(tz) => {
                let local = at.with_timezone(&tz);
                Self {
                    at: local.with_timezone(&local.offset().fix()),
                    zone: Some(tz),
                }
            }
            Err(_) => Self { at, zone: None },
        }
    }

    pub fn utc(&self) -> DateTime<Utc> {
        self.at.with_timezone(&Utc)
    }

    fn offset(&self) -> String {
        let secs = self.at.offset().local_minus_utc();
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.abs();
        format!("UTC{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60)
    }

    fn zone_label(&self) -> String {
        match self.zone {
            Some(tz) => format!("{}, {}", tz.name(), self.offset()),
            None => self.offset(),
        }
    }

    pub fn time(&self) -> String {
        format!("{:02}:{:02}", self.at.hour(), self.at.minute())
    }

    /// The date alone: "Tuesday, 1 December 2026", "вторник, 1 декабря 2026 г.",
    /// "الثلاثاء، 1 كانون الأول 2026".
    pub fn date(&self, language: Language) -> String {
        let (d, m, y) = (self.at.day(), self.at.month0() as usize, self.at.year());
        let wd = weekday(language, self.at.weekday());
        match language {
            Language::En => format!("{wd}, {d} {} {y}", EN_MONTHS[m]),
            Language::Ru => format!("{wd}, {d} {} {y} г.", RU_MONTHS[m]),
            Language::Ar => format!("{wd}، {d} {} {y}", AR_MONTHS[m]),
        }
    }

    /// Date, time and zone: "Tuesday, 1 December 2026, 09:00 (Europe/Moscow, UTC+03:00)".
    pub fn long(&self, language: Language) -> String {
        let (date, time, zone) = (self.date(language), self.time(), self.zone_label());
        match language {
            Language::En | Language::Ru => format!("{date}, {time} ({zone})"),
            // The zone stays Latin; the Arabic comma separates the parts.
            Language::Ar => format!("{date}، الساعة {time} ({zone})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc3339(raw).ok()
    }

    fn moscow(raw: &str) -> Local {
        Local::new(parse(raw).unwrap(), "Europe/Moscow")
    }

    #[test]
    fn each_language_writes_the_date_its_own_way() {
        let t = moscow("2026-12-01T09:00:00+03:00");
        assert_eq!(
            t.long(Language::En),
            "Tuesday, 1 December 2026, 09:00 (Europe/Moscow, UTC+03:00)"
        );
        assert_eq!(
            t.long(Language::Ru),
            "вторник, 1 декабря 2026 г., 09:00 (Europe/Moscow, UTC+03:00)"
        );
        assert_eq!(
            t.long(Language::Ar),
            "الثلاثاء، 1 كانون الأول 2026، الساعة 09:00 (Europe/Moscow, UTC+03:00)"
        );
    }

    #[test]
    fn an_instant_written_in_utc_is_shown_in_the_office_zone() {
        let t = moscow("2026-12-01T06:00:00Z");
        assert_eq!(t.time(), "09:00");
        assert_eq!(t.utc().to_rfc3339(), "2026-12-01T06:00:00+00:00");
    }

    #[test]
    fn the_offset_follows_the_zone_rules_at_that_instant() {
        // Berlin is +01:00 in winter and +02:00 in summer.
        let winter = Local::new(parse("2026-01-10T08:00:00Z").unwrap(), "Europe/Berlin");
        let summer = Local::new(parse("2026-07-10T08:00:00Z").unwrap(), "Europe/Berlin");
        assert!(winter
            .long(Language::En)
            .ends_with("09:00 (Europe/Berlin, UTC+01:00)"));
        assert!(summer
            .long(Language::En)
            .ends_with("10:00 (Europe/Berlin, UTC+02:00)"));
    }
}
