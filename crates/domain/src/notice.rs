//! Office notices: a message in the three languages shown on the office between two of its
//! local dates, both included.

use chrono::NaiveDate;

use crate::catalogue::Localized;
use crate::error::Invalid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    pub message: Localized,
    pub from: NaiveDate,
    pub until: NaiveDate,
}

impl NoticeDraft {
    pub fn parse(message: &Localized, from: NaiveDate, until: NaiveDate) -> Result<Self, Invalid> {
        let mut v = Invalid::collect();
        let message = v.check(Localized::parse("message", message));
        if until < from {
            v.check::<()>(Err(Invalid::new("until", "on or after from")));
        }
        v.finish()?;
        let Some(message) = message else {
            unreachable!("finish() returned Ok, so the message parsed");
        };
        Ok(Self {
            message,
            from,
            until,
        })
    }
}

/// Whether a notice from `from` to `until` shows on the office's local date `today`.
pub fn is_current(from: NaiveDate, until: NaiveDate, today: NaiveDate) -> bool {
    from <= today && today <= until
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn text(s: &str) -> Localized {
        Localized {
            ar: s.into(),
            ru: s.into(),
            en: s.into(),
        }
    }

    #[test]
    fn a_notice_shows_from_its_first_to_its_last_local_date() {
        let (from, until) = (d("2026-12-01"), d("2026-12-03"));
        assert!(!is_current(from, until, d("2026-11-30")));
        assert!(is_current(from, until, from));
        assert!(is_current(from, until, until));
        assert!(!is_current(from, until, d("2026-12-04")));
    }

    #[test]
    fn a_notice_needs_three_texts_and_an_ordered_range() {
        assert!(
            NoticeDraft::parse(&text("Closed early"), d("2026-12-01"), d("2026-12-01")).is_ok()
        );
        let e = NoticeDraft::parse(&text(" "), d("2026-12-02"), d("2026-12-01")).unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["message.ar", "message.ru", "message.en", "until"]);
    }
}
