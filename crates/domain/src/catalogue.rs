//! The catalogue: offices, services, the values that describe them and the rules that fill in
//! what an admin leaves out.

use std::fmt;
use std::ops::RangeInclusive;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::account::Language;
use crate::error::Invalid;

/// An office code such as `MOW`: three capital letters, also the prefix of its references.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
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

/// Reads as `&str` wherever the code was a plain string (references, payloads).
impl std::ops::Deref for OfficeCode {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OfficeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A service code such as `passport-renewal`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
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

/// Reads as `&str` wherever the code was a plain string.
impl std::ops::Deref for ServiceCode {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA zone name that chrono-tz knows; anything else is refused as `unknown_timezone`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IANA time zone {0:?}; use a name such as Europe/Moscow")]
pub struct UnknownTimezone(pub String);

/// The zone of an office created without one (product.md: most offices are in Moscow time).
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::Europe::Moscow;

pub fn parse_timezone(raw: &str) -> Result<Tz, UnknownTimezone> {
    raw.trim()
        .parse::<Tz>()
        .map_err(|_| UnknownTimezone(raw.to_owned()))
}

/// A text in the three languages of the service: Arabic, Russian and English. Office names and
/// addresses, service names and each required document are one.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub ar: String,
    pub ru: String,
    pub en: String,
}

impl Localized {
    /// Characters (not bytes) of each language's text, after trimming.
    pub const CHARS: RangeInclusive<usize> = 1..=500;

    pub fn parse(field: &str, raw: &Localized) -> Result<Self, Invalid> {
        let clean = |lang: &str, s: &str| -> Result<String, Invalid> {
            let v = s.trim();
            if !Self::CHARS.contains(&v.chars().count()) || v.chars().any(char::is_control) {
                let (lo, hi) = (Self::CHARS.start(), Self::CHARS.end());
                return Err(Invalid::new(
                    format!("{field}.{lang}"),
                    format!("{lo} to {hi} characters"),
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
pub const DURATION_MINUTES: RangeInclusive<i32> = 5..=480;
pub const MIN_NOTICE_HOURS: RangeInclusive<i32> = 0..=720;
pub const MAX_ADVANCE_DAYS: RangeInclusive<i32> = 1..=366;

pub fn check_range(field: &str, v: i32, range: RangeInclusive<i32>) -> Result<i32, Invalid> {
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(Invalid::new(
            field,
            format!("between {} and {}", range.start(), range.end()),
        ))
    }
}

/// Why an admin's office or service was refused: a field (`validation_failed`), or a zone
/// chrono-tz does not know (`unknown_timezone`, reported once every other field is valid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    UnknownTimezone(#[from] UnknownTimezone),
}

/// A field of a draft: the value sent, else the stored one, else (on create) `required`.
fn sent_or_stored<T>(
    field: &str,
    sent: Option<Result<T, Invalid>>,
    stored: Option<T>,
) -> Result<T, Invalid> {
    match (sent, stored) {
        (Some(v), _) => v,
        (None, Some(v)) => Ok(v),
        (None, None) => Err(Invalid::new(field, "required")),
    }
}

/// The names of the fields a draft sets, in wire order: what a patch's audit row lists.
fn present(fields: &[(&'static str, bool)]) -> Vec<&'static str> {
    fields.iter().filter(|(_, p)| *p).map(|(f, _)| *f).collect()
}

/// A consular office, every field valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Office {
    pub code: OfficeCode,
    pub name: Localized,
    pub address: Localized,
    pub timezone: Tz,
    pub active: bool,
}

/// An office as an admin sends it, unparsed. Creating needs `code`, `name` and `address`
/// (`timezone` defaults to [`DEFAULT_TIMEZONE`], `active` to true); a patch keeps every field it
/// leaves out.
#[derive(Debug, Clone, Default)]
pub struct OfficeDraft {
    pub code: Option<String>,
    pub name: Option<Localized>,
    pub address: Option<Localized>,
    pub timezone: Option<String>,
    pub active: Option<bool>,
}

impl OfficeDraft {
    pub fn create(&self) -> Result<Office, DraftError> {
        self.resolve(None)
    }

    pub fn apply(&self, stored: &Office) -> Result<Office, DraftError> {
        self.resolve(Some(stored))
    }

    pub fn fields(&self) -> Vec<&'static str> {
        present(&[
            ("code", self.code.is_some()),
            ("name", self.name.is_some()),
            ("address", self.address.is_some()),
            ("timezone", self.timezone.is_some()),
            ("active", self.active.is_some()),
        ])
    }

    fn resolve(&self, stored: Option<&Office>) -> Result<Office, DraftError> {
        let mut v = Invalid::collect();
        let code = v.check(sent_or_stored(
            "code",
            self.code.as_deref().map(OfficeCode::parse),
            stored.map(|s| s.code.clone()),
        ));
        let name = v.check(sent_or_stored(
            "name",
            self.name.as_ref().map(|n| Localized::parse("name", n)),
            stored.map(|s| s.name.clone()),
        ));
        let address = v.check(sent_or_stored(
            "address",
            self.address
                .as_ref()
                .map(|a| Localized::parse("address", a)),
            stored.map(|s| s.address.clone()),
        ));
        v.finish()?;
        let timezone = match (&self.timezone, stored) {
            (Some(t), _) => parse_timezone(t)?,
            (None, Some(s)) => s.timezone,
            (None, None) => DEFAULT_TIMEZONE,
        };
        let (Some(code), Some(name), Some(address)) = (code, name, address) else {
            unreachable!("finish() returned Ok, so every field parsed");
        };
        Ok(Office {
            code,
            name,
            address,
            timezone,
            active: self.active.or(stored.map(|s| s.active)).unwrap_or(true),
        })
    }
}

/// What a citizen comes for, every field valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub code: ServiceCode,
    pub name: Localized,
    pub duration_minutes: i32,
    pub required_documents: Vec<Localized>,
    pub fee: Fee,
    pub min_notice_hours: i32,
    pub max_advance_days: i32,
    pub creates_document_request: bool,
    pub active: bool,
    pub fair: FairAccess,
}

/// The anti-trading settings of a service (product.md v1.1, "Fair access").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairAccess {
    /// How long a released desk is withheld from citizens (against resellers' cancel-rebook).
    pub release_cooldown_minutes: i32,
    pub confirmation_required: bool,
    /// The confirmation window opens this many hours before the start...
    pub confirm_from_hours: i32,
    /// ...and closes this many hours before it.
    pub confirm_until_hours: i32,
    pub max_reschedules: i32,
}

impl Default for FairAccess {
    fn default() -> Self {
        Self {
            release_cooldown_minutes: 30,
            confirmation_required: false,
            confirm_from_hours: 72,
            confirm_until_hours: 24,
            max_reschedules: 3,
        }
    }
}

pub const RELEASE_COOLDOWN_MINUTES: RangeInclusive<i32> = 0..=1440;
pub const CONFIRM_HOURS: RangeInclusive<i32> = 0..=720;
pub const MAX_RESCHEDULES: RangeInclusive<i32> = 0..=20;

/// The fair-access fields as an admin sends them; a patch keeps what it leaves out.
#[derive(Debug, Clone, Copy, Default)]
pub struct FairAccessDraft {
    pub release_cooldown_minutes: Option<i32>,
    pub confirmation_required: Option<bool>,
    pub confirm_from_hours: Option<i32>,
    pub confirm_until_hours: Option<i32>,
    pub max_reschedules: Option<i32>,
}

impl FairAccessDraft {
    fn fields(&self) -> [(&'static str, bool); 5] {
        [
            (
                "release_cooldown_minutes",
                self.release_cooldown_minutes.is_some(),
            ),
            (
                "confirmation_required",
                self.confirmation_required.is_some(),
            ),
            ("confirm_from_hours", self.confirm_from_hours.is_some()),
            ("confirm_until_hours", self.confirm_until_hours.is_some()),
            ("max_reschedules", self.max_reschedules.is_some()),
        ]
    }

    /// The window must close after it opens: `confirm_until_hours < confirm_from_hours`.
    pub fn resolve(&self, stored: Option<FairAccess>) -> Result<FairAccess, Invalid> {
        let base = stored.unwrap_or_default();
        let mut v = Invalid::collect();
        let cooldown = v.check(check_range(
            "release_cooldown_minutes",
            self.release_cooldown_minutes
                .unwrap_or(base.release_cooldown_minutes),
            RELEASE_COOLDOWN_MINUTES,
        ));
        let from = v.check(check_range(
            "confirm_from_hours",
            self.confirm_from_hours.unwrap_or(base.confirm_from_hours),
            CONFIRM_HOURS,
        ));
        let until = v.check(check_range(
            "confirm_until_hours",
            self.confirm_until_hours.unwrap_or(base.confirm_until_hours),
            CONFIRM_HOURS,
        ));
        let reschedules = v.check(check_range(
            "max_reschedules",
            self.max_reschedules.unwrap_or(base.max_reschedules),
            MAX_RESCHEDULES,
        ));
        if let (Some(from), Some(until)) = (from, until) {
            if until >= from {
                v.check::<()>(Err(Invalid::new(
                    "confirm_until_hours",
                    "fewer hours than confirm_from_hours",
                )));
            }
        }
        v.finish()?;
        let (Some(cooldown), Some(from), Some(until), Some(reschedules)) =
            (cooldown, from, until, reschedules)
        else {
            unreachable!("finish() returned Ok, so every field parsed");
        };
        Ok(FairAccess {
            release_cooldown_minutes: cooldown,
            confirmation_required: self
                .confirmation_required
                .unwrap_or(base.confirmation_required),
            confirm_from_hours: from,
            confirm_until_hours: until,
            max_reschedules: reschedules,
        })
    }
}

impl Service {
    /// product.md: a slot must be booked at least a day ahead and at most two months.
    pub const DEFAULT_MIN_NOTICE_HOURS: i32 = 24;
    pub const DEFAULT_MAX_ADVANCE_DAYS: i32 = 60;
    /// The fee is informational; a service created without one is free.
    pub const DEFAULT_FEE_AMOUNT: &'static str = "0";
    pub const DEFAULT_FEE_CURRENCY: &'static str = "USD";
}

/// A service as an admin sends it, unparsed. Creating needs `code`, `name` and
/// `duration_minutes`; the other fields take the [`Service`] defaults. A patch keeps every field
/// it leaves out; the settings it keeps are checked against their bounds again.
#[derive(Debug, Clone, Default)]
pub struct ServiceDraft {
    pub code: Option<String>,
    pub name: Option<Localized>,
    pub duration_minutes: Option<i32>,
    pub required_documents: Option<Vec<Localized>>,
    /// A decimal such as "25.00", as sent.
    pub fee_amount: Option<String>,
    pub fee_currency: Option<String>,
    pub min_notice_hours: Option<i32>,
    pub max_advance_days: Option<i32>,
    pub creates_document_request: Option<bool>,
    pub active: Option<bool>,
    pub fair: FairAccessDraft,
}

impl ServiceDraft {
    pub fn create(&self) -> Result<Service, Invalid> {
        self.resolve(None)
    }

    pub fn apply(&self, stored: &Service) -> Result<Service, Invalid> {
        self.resolve(Some(stored))
    }

    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = present(&[
            ("code", self.code.is_some()),
            ("name", self.name.is_some()),
            ("duration_minutes", self.duration_minutes.is_some()),
            ("required_documents", self.required_documents.is_some()),
            ("fee_amount", self.fee_amount.is_some()),
            ("fee_currency", self.fee_currency.is_some()),
            ("min_notice_hours", self.min_notice_hours.is_some()),
            ("max_advance_days", self.max_advance_days.is_some()),
            (
                "creates_document_request",
                self.creates_document_request.is_some(),
            ),
            ("active", self.active.is_some()),
        ]);
        out.extend(present(&self.fair.fields()));
        out
    }

    fn resolve(&self, stored: Option<&Service>) -> Result<Service, Invalid> {
        let mut v = Invalid::collect();
        let code = v.check(sent_or_stored(
            "code",
            self.code.as_deref().map(ServiceCode::parse),
            stored.map(|s| s.code.clone()),
        ));
        let name = v.check(sent_or_stored(
            "name",
            self.name.as_ref().map(|n| Localized::parse("name", n)),
            stored.map(|s| s.name.clone()),
        ));
        let duration = v.check(sent_or_stored(
            "duration_minutes",
            self.duration_minutes
                .map(|d| check_range("duration_minutes", d, DURATION_MINUTES)),
            stored.map(|s| s.duration_minutes),
        ));
        let documents = v.check(match (&self.required_documents, stored) {
            (Some(docs), _) => docs
                .iter()
                .enumerate()
                .map(|(i, d)| Localized::parse(&format!("required_documents[{i}]"), d))
                .collect(),
            (None, Some(s)) => Ok(s.required_documents.clone()),
            (None, None) => Ok(Vec::new()),
        });
        let stored_fee = stored.map(|s| &s.fee);
        let fee = v.check(Fee::parse(
            self.fee_amount
                .as_deref()
                .or(stored_fee.map(|f| f.amount.as_str()))
                .unwrap_or(Service::DEFAULT_FEE_AMOUNT),
            self.fee_currency
                .as_deref()
                .or(stored_fee.map(|f| f.currency.as_str()))
                .unwrap_or(Service::DEFAULT_FEE_CURRENCY),
        ));
        let notice = v.check(check_range(
            "min_notice_hours",
            self.min_notice_hours
                .or(stored.map(|s| s.min_notice_hours))
                .unwrap_or(Service::DEFAULT_MIN_NOTICE_HOURS),
            MIN_NOTICE_HOURS,
        ));
        let advance = v.check(check_range(
            "max_advance_days",
            self.max_advance_days
                .or(stored.map(|s| s.max_advance_days))
                .unwrap_or(Service::DEFAULT_MAX_ADVANCE_DAYS),
            MAX_ADVANCE_DAYS,
        ));
        let fair = v.check(self.fair.resolve(stored.map(|s| s.fair)));
        v.finish()?;
        let (
            Some(code),
            Some(name),
            Some(duration),
            Some(documents),
            Some(fee),
            Some(notice),
            Some(advance),
            Some(fair),
        ) = (code, name, duration, documents, fee, notice, advance, fair)
        else {
            unreachable!("finish() returned Ok, so every field parsed");
        };
        Ok(Service {
            code,
            name,
            duration_minutes: duration,
            required_documents: documents,
            fee,
            min_notice_hours: notice,
            max_advance_days: advance,
            creates_document_request: self
                .creates_document_request
                .or(stored.map(|s| s.creates_document_request))
                .unwrap_or(false),
            active: self.active.or(stored.map(|s| s.active)).unwrap_or(true),
            fair,
        })
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

    fn text(s: &str) -> Localized {
        Localized {
            ar: s.to_owned(),
            ru: s.to_owned(),
            en: s.to_owned(),
        }
    }

    fn fields(e: &Invalid) -> Vec<&str> {
        e.errors.iter().map(|f| f.field.as_str()).collect()
    }

    fn office_draft() -> OfficeDraft {
        OfficeDraft {
            code: Some("MOW".into()),
            name: Some(text("Consulate")),
            address: Some(text("Street 1")),
            ..OfficeDraft::default()
        }
    }

    #[test]
    fn every_text_of_a_name_is_trimmed_and_bounded_in_characters() {
        let longest = "ع".repeat(*Localized::CHARS.end());
        let ok = Localized::parse("name", &text(&format!(" {longest} "))).unwrap();
        assert_eq!(ok.ar, longest);
        let err = Localized::parse(
            "name",
            &Localized {
                ar: format!("{longest}ع"),
                ru: "  ".into(),
                en: "a\u{7}b".into(),
            },
        )
        .unwrap_err();
        assert_eq!(fields(&err), ["name.ar", "name.ru", "name.en"]);
        assert_eq!(err.errors[0].message, "1 to 500 characters");
    }

    #[test]
    fn a_new_office_needs_code_name_and_address_and_defaults_to_moscow_and_active() {
        let err = OfficeDraft::default().create().unwrap_err();
        let DraftError::Invalid(err) = err else {
            panic!("{err:?}")
        };
        assert_eq!(fields(&err), ["code", "name", "address"]);
        let office = office_draft().create().unwrap();
        assert_eq!(office.timezone, DEFAULT_TIMEZONE);
        assert!(office.active);
    }

    #[test]
    fn an_unknown_zone_is_reported_once_the_other_fields_are_valid() {
        let draft = OfficeDraft {
            code: Some("mow".into()),
            timezone: Some("Mars/Olympus".into()),
            ..office_draft()
        };
        assert!(matches!(draft.create(), Err(DraftError::Invalid(_))));
        let draft = OfficeDraft {
            timezone: Some("Mars/Olympus".into()),
            ..office_draft()
        };
        assert_eq!(
            draft.create(),
            Err(DraftError::UnknownTimezone(UnknownTimezone(
                "Mars/Olympus".into()
            )))
        );
    }

    #[test]
    fn an_office_patch_keeps_what_it_leaves_out_and_names_what_it_sets() {
        let stored = Office {
            timezone: chrono_tz::Asia::Yekaterinburg,
            active: false,
            ..office_draft().create().unwrap()
        };
        let patch = OfficeDraft {
            name: Some(text("New name")),
            ..OfficeDraft::default()
        };
        let patched = patch.apply(&stored).unwrap();
        assert_eq!(patched.name.en, "New name");
        assert_eq!(patched.code, stored.code);
        assert_eq!(patched.address, stored.address);
        assert_eq!(patched.timezone, chrono_tz::Asia::Yekaterinburg);
        assert!(!patched.active);
        assert_eq!(patch.fields(), ["name"]);
    }

    #[test]
    fn a_new_service_takes_the_documented_defaults() {
        let s = ServiceDraft {
            code: Some("legalisation".into()),
            name: Some(text("Legalisation")),
            duration_minutes: Some(15),
            ..ServiceDraft::default()
        }
        .create()
        .unwrap();
        assert_eq!((s.min_notice_hours, s.max_advance_days), (24, 60));
        assert_eq!(
            s.fee,
            Fee {
                amount: "0.00".into(),
                currency: "USD".into()
            }
        );
        assert!(s.required_documents.is_empty());
        assert!(!s.creates_document_request && s.active);
        assert_eq!(s.fair, FairAccess::default());
        assert_eq!(s.fair.release_cooldown_minutes, 30);
        assert_eq!(
            (s.fair.confirm_from_hours, s.fair.confirm_until_hours),
            (72, 24)
        );
        assert_eq!(s.fair.max_reschedules, 3);
    }

    #[test]
    fn fair_access_settings_are_bounded_and_the_window_closes_after_it_opens() {
        let bad = FairAccessDraft {
            release_cooldown_minutes: Some(1441),
            max_reschedules: Some(-1),
            ..Default::default()
        };
        let e = bad.resolve(None).unwrap_err();
        assert_eq!(fields(&e), ["release_cooldown_minutes", "max_reschedules"]);
        let inverted = FairAccessDraft {
            confirm_until_hours: Some(80),
            ..Default::default()
        };
        assert_eq!(
            fields(&inverted.resolve(None).unwrap_err()),
            ["confirm_until_hours"]
        );
        let kept = FairAccessDraft {
            confirmation_required: Some(true),
            ..Default::default()
        }
        .resolve(Some(FairAccess {
            release_cooldown_minutes: 0,
            ..FairAccess::default()
        }))
        .unwrap();
        assert!(kept.confirmation_required);
        assert_eq!(kept.release_cooldown_minutes, 0);
    }

    #[test]
    fn a_service_reports_every_bad_field_in_wire_order() {
        let err = ServiceDraft {
            code: Some("Bad Code".into()),
            name: Some(Localized {
                ar: String::new(),
                ..text("b")
            }),
            duration_minutes: Some(*DURATION_MINUTES.start() - 1),
            fee_amount: Some("1.234".into()),
            min_notice_hours: Some(*MIN_NOTICE_HOURS.end() + 1),
            max_advance_days: Some(0),
            ..ServiceDraft::default()
        }
        .create()
        .unwrap_err();
        assert_eq!(
            fields(&err),
            [
                "code",
                "name.ar",
                "duration_minutes",
                "fee_amount",
                "min_notice_hours",
                "max_advance_days"
            ]
        );
        assert_eq!(
            fields(&ServiceDraft::default().create().unwrap_err()),
            ["code", "name", "duration_minutes"]
        );
    }

    #[test]
    fn a_service_patch_keeps_what_it_leaves_out() {
        let stored = ServiceDraft {
            code: Some("passport-renewal".into()),
            name: Some(text("Passport")),
            duration_minutes: Some(30),
            required_documents: Some(vec![text("Passport")]),
            fee_amount: Some("25".into()),
            min_notice_hours: Some(48),
            ..ServiceDraft::default()
        }
        .create()
        .unwrap();
        let patch = ServiceDraft {
            fee_amount: Some("40".into()),
            active: Some(false),
            ..ServiceDraft::default()
        };
        let patched = patch.apply(&stored).unwrap();
        assert_eq!(patched.fee.amount, "40.00");
        assert_eq!(patched.duration_minutes, 30);
        assert_eq!(patched.min_notice_hours, 48);
        assert_eq!(patched.required_documents, [text("Passport")]);
        assert!(!patched.active);
        assert_eq!(patch.fields(), ["fee_amount", "active"]);
        let docs = ServiceDraft {
            required_documents: Some(vec![text("ok"), text("")]),
            ..ServiceDraft::default()
        };
        assert_eq!(
            fields(&docs.apply(&stored).unwrap_err())[0],
            "required_documents[1].ar"
        );
    }
}
