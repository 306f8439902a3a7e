//! The catalogue: offices, services and the values that describe them.

use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::account::Language;
use crate::error::Invalid;

/// An office code such as `MOW`: three capital letters, also the prefix of its references.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OfficeCode(String);

impl OfficeCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim();
        if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
            return Ok(Self(v.to_owned()));
        }
        Err(Invalid::new("code", "three capital letters such as MOW"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A service code such as `passport-renewal`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceCode(String);

impl ServiceCode {
    const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let ok = (2..=Self::MAX_LEN).contains(&v.len())
            && v.starts_with(|c: char| c.is_ascii_lowercase())
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            return Ok(Self(v.to_owned()));
        }
        Err(Invalid::new(
            "code",
            format!(
                "2 to {} lower-case letters, digits or dashes, starting with a letter",
                Self::MAX_LEN
            ),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA zone name that chrono-tz knows; anything else is refused as `unknown_timezone`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IANA time zone {0:?}; use a name such as Europe/Moscow")]
pub struct UnknownTimezone(pub String);

pub fn parse_timezone(raw: &str) -> Result<Tz, UnknownTimezone> {
    raw.trim()
        .parse::<Tz>()
        .map_err(|_| UnknownTimezone(raw.to_owned()))
}

/// A text in the three languages of the service: Arabic, Russian and English.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub ar: String,
    pub ru: String,
    pub en: String,
}

impl Localized {
    const MAX_CHARS: usize = 500;

    pub fn parse(field: &str, raw: &Localized) -> Result<Self, Invalid> {
        let clean = |lang: &str, s: &str| -> Result<String, Invalid> {
            let v = s.trim();
            let n = v.chars().count();
            if n == 0 || n > Self::MAX_CHARS || v.chars().any(char::is_control) {
                return Err(Invalid::new(
                    format!("{field}.{lang}"),
                    format!("1 to {} characters", Self::MAX_CHARS),
                ));
            }
            Ok(v.to_owned())
        };
        let mut c = Invalid::collect();
        let ar = c.check(clean("ar", &raw.ar));
        let ru = c.check(clean("ru", &raw.ru));
        let en = c.check(clean("en", &raw.en));
        c.finish()?;
        match (ar, ru, en) {
            (Some(ar), Some(ru), Some(en)) => Ok(Self { ar, ru, en }),
            _ => Err(Invalid::new(field, "ar, ru and en texts")),
        }
    }

    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::Ar => &self.ar,
            Language::Ru => &self.ru,
            Language::En => &self.en,
        }
    }
}

impl fmt::Debug for Localized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Localized({:?})", self.en)
    }
}

/// A fee as a decimal string with at most two fraction digits, e.g. `25.00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    pub amount: String,
    pub currency: String,
}

impl Fee {
    const MAX_INT_DIGITS: usize = 10;

    pub fn parse(amount: &str, currency: &str) -> Result<Self, Invalid> {
        let mut c = Invalid::collect();
        let a = amount.trim();
        let (int, frac) = a.split_once('.').unwrap_or((a, ""));
        let amount_ok = (1..=Self::MAX_INT_DIGITS).contains(&int.len())
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.len() <= 2
            && frac.bytes().all(|b| b.is_ascii_digit())
            && !(a.contains('.') && frac.is_empty());
        c.check(if amount_ok {
            Ok(())
        } else {
            Err(Invalid::new(
                "fee_amount",
                "a non-negative decimal with at most two fraction digits, e.g. \"25.00\"",
            ))
        });
        let cur = currency.trim();
        c.check(
            if cur.len() == 3 && cur.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(())
            } else {
                Err(Invalid::new("fee_currency", "an ISO 4217 code such as USD"))
            },
        );
        c.finish()?;
        Ok(Self {
            amount: format!("{int}.{frac:0<2}"),
            currency: cur.to_owned(),
        })
    }
}

/// Bounds of a service's numeric settings; the database checks the same ranges.
pub const DURATION_MINUTES: std::ops::RangeInclusive<i32> = 5..=480;
pub const MIN_NOTICE_HOURS: std::ops::RangeInclusive<i32> = 0..=720;
pub const MAX_ADVANCE_DAYS: std::ops::RangeInclusive<i32> = 1..=366;

pub fn check_range(
    field: &str,
    v: i32,
    range: std::ops::RangeInclusive<i32>,
) -> Result<i32, Invalid> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(Invalid::new(
            field,
            format!("between {} and {}", range.start(), range.end()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezones_are_checked_against_the_iana_database() {
        assert!(parse_timezone("Asia/Yekaterinburg").is_ok());
        assert!(parse_timezone("Europe/Moskow").is_err());
        assert!(parse_timezone("+03:00").is_err());
    }

    #[test]
    fn fees_are_normalised_to_two_decimals() {
        assert_eq!(Fee::parse("25", "USD").unwrap().amount, "25.00");
        assert_eq!(Fee::parse("7.5", "RUB").unwrap().amount, "7.50");
        assert!(Fee::parse("-1", "USD").is_err());
        assert!(Fee::parse("1.234", "USD").is_err());
        assert!(Fee::parse("1.", "USD").is_err());
        assert!(Fee::parse("1", "usd").is_err());
    }

    #[test]
    fn codes_have_their_shapes() {
        assert!(OfficeCode::parse("MOW").is_ok());
        assert!(OfficeCode::parse("mow").is_err());
        assert!(ServiceCode::parse("passport-renewal").is_ok());
        assert!(ServiceCode::parse("Passport").is_err());
    }
}
