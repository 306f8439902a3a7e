//! Document requests: the case that follows a passport or certificate from submission to pickup.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::account::{FullName, PassportNo};
use crate::code::Code;
use crate::error::{Invalid, Step};

/// Where a document request stands. The order of [`DocumentStatus::ALL`] is the order of the
/// happy path, then the two dead ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentStatus {
    Submitted,
    UnderReview,
    AwaitingDocuments,
    Approved,
    ReadyForPickup,
    Collected,
    Rejected,
    Cancelled,
}

/// Who asks for a transition: the citizen may only withdraw; staff move the case along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Citizen,
    Staff,
}

impl Actor {
    pub fn code(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Staff => "staff",
        }
    }
}

impl DocumentStatus {
    pub const ALL: [DocumentStatus; 8] = [
        Self::Submitted,
        Self::UnderReview,
        Self::AwaitingDocuments,
        Self::Approved,
        Self::ReadyForPickup,
        Self::Collected,
        Self::Rejected,
        Self::Cancelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::UnderReview => "under_review",
            Self::AwaitingDocuments => "awaiting_documents",
            Self::Approved => "approved",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Collected => "collected",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == raw)
            .ok_or_else(|| {
                let codes: Vec<&str> = Self::ALL.iter().map(|s| s.code()).collect();
                Invalid::new(field, format!("one of {}", codes.join(", ")))
            })
    }

    /// The statuses `actor` may move a request to from `self`.
    pub fn allowed_targets(self, actor: Actor) -> &'static [DocumentStatus] {
        use DocumentStatus::*;
        match (actor, self) {
            (Actor::Citizen, Submitted) => &[Cancelled],
            (Actor::Citizen, _) => &[],
            (Actor::Staff, Submitted) => &[UnderReview],
            (Actor::Staff, UnderReview) => &[AwaitingDocuments, Approved, Rejected],
            (Actor::Staff, AwaitingDocuments) => &[UnderReview, Rejected],
            (Actor::Staff, Approved) => &[ReadyForPickup],
            (Actor::Staff, ReadyForPickup) => &[Collected],
            (Actor::Staff, Collected | Rejected | Cancelled) => &[],
        }
    }

    pub fn transition(
        self,
        to: DocumentStatus,
        actor: Actor,
    ) -> Result<DocumentStatus, IllegalTransition> {
        if self.allowed_targets(actor).contains(&to) {
            Ok(to)
        } else {
            Err(IllegalTransition {
                from: self,
                to,
                allowed: self.allowed_targets(actor),
            })
        }
    }

    /// No one can move the request any more: staff's queue never calls these overdue.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Collected | Self::Rejected | Self::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a request that is {} cannot become {}", from.code(), to.code())]
pub struct IllegalTransition {
    pub from: DocumentStatus,
    pub to: DocumentStatus,
    pub allowed: &'static [DocumentStatus],
}

impl IllegalTransition {
    pub fn allowed_codes(&self) -> Vec<&'static str> {
        self.allowed.iter().map(|s| s.code()).collect()
    }

    pub fn step(&self) -> Step {
        Step {
            from: self.from.code(),
            to: self.to.code(),
            allowed: self.allowed_codes(),
        }
    }
}

/// Why a document request could not be created or moved; each has a stable API code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no active office with this id")]
    UnknownOffice,
    #[error("no active service with this id")]
    UnknownService,
    #[error("this service does not produce a document to track")]
    ServiceNotDocumentary,
    #[error("no appointment of yours with this id for this office and service")]
    UnknownAppointment,
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
}

impl Refusal {
    pub fn code(&self) -> Code {
        match self {
            Self::UnknownOffice => Code::UnknownOffice,
            Self::UnknownService => Code::UnknownService,
            Self::ServiceNotDocumentary => Code::ServiceNotDocumentary,
            Self::UnknownAppointment => Code::UnknownAppointment,
            Self::IllegalTransition(_) => Code::IllegalTransition,
        }
    }
}

/// `SY-<OFFICE>-<YEAR>-<6 digits>`, e.g. `SY-MOW-2026-000123`: sequential per office and year.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub const MAX_SEQUENCE: i64 = 999_999;

    /// The `sequence`-th number of `office_code` in `year`; `None` once the six digits run out.
    pub fn new(office_code: &str, year: i32, sequence: i64) -> Option<Self> {
        let office_ok =
            office_code.len() == 3 && office_code.bytes().all(|b| b.is_ascii_uppercase());
        let year_ok = (1000..=9999).contains(&year);
        if office_ok && year_ok && (1..=Self::MAX_SEQUENCE).contains(&sequence) {
            Some(Self(format!("SY-{office_code}-{year}-{sequence:06}")))
        } else {
            None
        }
    }

    /// Accepts what a person types: surrounding spaces and lower case are forgiven.
    pub fn parse(raw: &str) -> Option<Self> {
        let v = raw.trim().to_ascii_uppercase();
        let mut parts = v.split('-');
        let (Some("SY"), Some(office), Some(year), Some(seq), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(seq, 6) {
            return None;
        }
        Self::new(office, year.parse().ok()?, seq.parse().ok()?)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A date of birth: not in the future, and not before 1900.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    const EARLIEST_YEAR: i32 = 1900;

    pub fn parse(field: &str, raw: &str, today: NaiveDate) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                field,
                format!(
                    "a date YYYY-MM-DD between {}-01-01 and today",
                    Self::EARLIEST_YEAR
                ),
            )
        };
        let d = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| bad())?;
        if d > today || d.year() < Self::EARLIEST_YEAR {
            return Err(bad());
        }
        Ok(Self(d))
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl fmt::Debug for DateOfBirth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DateOfBirth(…)")
    }
}

/// The person the document is for: the citizen or a family member.
#[derive(Clone, PartialEq, Eq)]
pub struct Applicant {
    pub full_name: FullName,
    pub date_of_birth: DateOfBirth,
    pub passport_number: Option<PassportNo>,
}

impl Applicant {
    /// Parses every field and reports every failure at once; `today` is the office's date.
    pub fn parse(
        full_name: &str,
        date_of_birth: &str,
        passport_number: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, Invalid> {
        let mut v = Invalid::collect();
        let name = v.check(FullName::parse("applicant.full_name", full_name));
        let dob = v.check(DateOfBirth::parse(
            "applicant.date_of_birth",
            date_of_birth,
            today,
        ));
        let passport = passport_number
            .filter(|p| !p.trim().is_empty())
            .map(|p| v.check(PassportNo::parse(p)));
        v.finish()?;
        match (name, dob) {
            (Some(full_name), Some(date_of_birth)) => Ok(Self {
                full_name,
                date_of_birth,
                passport_number: passport.flatten(),
            }),
            _ => unreachable!("finish() returned Ok, so every field parsed"),
        }
    }
}

impl fmt::Debug for Applicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applicant")
            .field("full_name", &self.full_name)
            .field("date_of_birth", &self.date_of_birth)
            .field("passport_number", &self.passport_number)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DocumentStatus::*;

    /// The product's machine written out edge by edge, independently of `allowed_targets`.
    fn legal(actor: Actor, from: DocumentStatus, to: DocumentStatus) -> bool {
        let staff_edges = [
            (Submitted, UnderReview),
            (UnderReview, AwaitingDocuments),
            (AwaitingDocuments, UnderReview),
            (UnderReview, Approved),
            (Approved, ReadyForPickup),
            (ReadyForPickup, Collected),
            (UnderReview, Rejected),
            (AwaitingDocuments, Rejected),
        ];
        match actor {
            Actor::Staff => staff_edges.contains(&(from, to)),
            Actor::Citizen => (from, to) == (Submitted, Cancelled),
        }
    }

    #[test]
    fn every_pair_of_states_is_legal_exactly_when_the_product_says_so() {
        for actor in [Actor::Staff, Actor::Citizen] {
            for from in DocumentStatus::ALL {
                for to in DocumentStatus::ALL {
                    let got = from.transition(to, actor);
                    if legal(actor, from, to) {
                        assert_eq!(got, Ok(to), "{actor:?}: {from:?} -> {to:?} refused");
                    } else {
                        let err = got.expect_err("illegal transition accepted");
                        assert_eq!((err.from, err.to), (from, to));
                        let expected: Vec<_> = DocumentStatus::ALL
                            .into_iter()
                            .filter(|t| legal(actor, from, *t))
                            .collect();
                        assert_eq!(err.allowed, expected.as_slice(), "{actor:?}: {from:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn final_states_have_no_way_out_for_anyone() {
        for s in DocumentStatus::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(s.allowed_targets(Actor::Staff).is_empty());
            assert!(s.allowed_targets(Actor::Citizen).is_empty());
        }
        assert_eq!(
            DocumentStatus::ALL.iter().filter(|s| s.is_final()).count(),
            3
        );
    }

    #[test]
    fn status_codes_round_trip_and_unknown_ones_are_refused() {
        for s in DocumentStatus::ALL {
            assert_eq!(DocumentStatus::parse("to", s.code()).unwrap(), s);
        }
        assert!(DocumentStatus::parse("to", "lost").is_err());
        assert!(DocumentStatus::parse("to", "Approved").is_err());
    }

    #[test]
    fn tracking_number_is_office_year_and_six_digit_sequence() {
        let t = TrackingNumber::new("MOW", 2026, 123).unwrap();
        assert_eq!(t.as_str(), "SY-MOW-2026-000123");
        assert_eq!(TrackingNumber::parse(" sy-mow-2026-000123 "), Some(t));
        assert!(TrackingNumber::new("MOW", 2026, 0).is_none());
        assert!(TrackingNumber::new("MOW", 2026, 1_000_000).is_none());
        assert!(TrackingNumber::new("MO", 2026, 1).is_none());
        for bad in [
            "SY-MOW-2026-12345",
            "SY-MOW-2026-1234567",
            "XX-MOW-2026-000001",
            "SY-MOW-26-000001",
            "SY-MOW-2026-000001-1",
            "SY-M0W-2026-000001",
            "SY-MOW-2026-+00001",
            "",
        ] {
            assert!(TrackingNumber::parse(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn applicant_debug_never_shows_name_birth_date_or_passport() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let a = Applicant::parse("Amal Haddad", "1990-04-05", Some("n 0123 4567"), today).unwrap();
        assert_eq!(a.passport_number.as_ref().unwrap().as_str(), "N01234567");
        let shown = format!("{a:?}");
        for secret in ["Amal", "Haddad", "1990", "04-05", "N012345"] {
            assert!(!shown.contains(secret), "{shown} shows {secret}");
        }
    }

    #[test]
    fn applicant_reports_every_bad_field_and_refuses_future_births() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let err = Applicant::parse("A", "2026-11-24", Some("?!"), today).unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "applicant.full_name",
                "applicant.date_of_birth",
                "applicant.passport_number"
            ]
        );
        assert!(Applicant::parse("Amal Haddad", "1899-12-31", None, today).is_err());
        assert!(Applicant::parse("Amal Haddad", "05.04.1990", None, today).is_err());
        let born_today = Applicant::parse("Amal Haddad", "2026-11-23", Some("  "), today).unwrap();
        assert!(born_today.passport_number.is_none());
    }
}
