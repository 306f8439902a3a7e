//! Appointments: the lifecycle, the booking refusals, fair-use limits, applicants and references.

use serde::{Deserialize, Serialize};

use crate::account::FullName;
pub use crate::account::PassportNo;
use crate::code::Code;
use crate::error::Invalid;
use crate::error::Step;

/// Why a well-formed request cannot be honoured; each is a stable API code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the start time is not on this service's schedule grid")]
    OffGrid,
    #[error("the office is closed on that date")]
    OfficeClosed,
    #[error("the slot starts too soon; the service needs more notice")]
    TooSoon,
    #[error("the slot is too far ahead; it cannot be booked yet")]
    TooFar,
    #[error("verify your email address before booking")]
    EmailNotVerified,
    #[error("you already hold the maximum of {MAX_FUTURE_BOOKINGS} future appointments")]
    CitizenLimit,
    #[error("you already hold a future appointment for this service")]
    ServiceLimit,
    #[error("this passport number already holds a future appointment for this service")]
    PassportLimit,
    #[error("the slot is full")]
    SlotFull,
    #[error("this office does not offer the service")]
    NotOffered,
    #[error("only a booked appointment can be moved")]
    NotBooked,
    #[error("the appointment is already at that time")]
    SameSlot,
}

impl Refusal {
    pub fn code(self) -> Code {
        match self {
            Self::OffGrid => Code::OffGrid,
            Self::OfficeClosed => Code::OfficeClosed,
            Self::TooSoon => Code::TooSoon,
            Self::TooFar => Code::TooFar,
            Self::EmailNotVerified => Code::EmailNotVerified,
            Self::CitizenLimit => Code::CitizenLimit,
            Self::ServiceLimit => Code::ServiceLimit,
            Self::PassportLimit => Code::PassportLimit,
            Self::SlotFull => Code::SlotFull,
            Self::NotOffered => Code::ServiceNotOffered,
            Self::NotBooked => Code::NotBooked,
            Self::SameSlot => Code::SameSlot,
        }
    }
}

/// Fair-use limits (product.md): against bots and resellers hoarding slots.
pub const MAX_FUTURE_BOOKINGS: i64 = 2;
pub const MAX_FUTURE_PER_SERVICE: i64 = 1;
pub const MAX_FUTURE_PER_PASSPORT_AND_SERVICE: i64 = 1;

/// Future `booked` appointments already held, counted under the booking locks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Holdings {
    pub citizen_total: i64,
    pub citizen_same_service: i64,
    pub passport_same_service: i64,
}

impl Holdings {
    pub fn check(&self) -> Result<(), Refusal> {
        if self.citizen_same_service >= MAX_FUTURE_PER_SERVICE {
            return Err(Refusal::ServiceLimit);
        }
        if self.citizen_total >= MAX_FUTURE_BOOKINGS {
            return Err(Refusal::CitizenLimit);
        }
        if self.passport_same_service >= MAX_FUTURE_PER_PASSPORT_AND_SERVICE {
            return Err(Refusal::PassportLimit);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Booked,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Booked,
        Status::CheckedIn,
        Status::Completed,
        Status::Cancelled,
        Status::NoShow,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == raw)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::CheckedIn => "checked_in",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    /// The states reachable in one step.
    pub fn next(self) -> &'static [Status] {
        match self {
            Self::Booked => &[Self::CheckedIn, Self::Cancelled, Self::NoShow],
            Self::CheckedIn => &[Self::Completed],
            Self::Completed | Self::Cancelled | Self::NoShow => &[],
        }
    }

    pub fn transition(self, to: Status) -> Result<Status, IllegalTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an appointment that is {} cannot become {}", from.code(), to.code())]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
}

impl IllegalTransition {
    pub fn step(&self) -> Step {
        Step {
            from: self.from.code(),
            to: self.to.code(),
            allowed: self.from.next().iter().map(|s| s.code()).collect(),
        }
    }
}

/// Who the appointment is for, relative to the account holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    #[serde(rename = "self")]
    Myself,
    Spouse,
    Child,
    Parent,
    Sibling,
    Other,
}

impl Relation {
    const ALL: [Relation; 6] = [
        Relation::Myself,
        Relation::Spouse,
        Relation::Child,
        Relation::Parent,
        Relation::Sibling,
        Relation::Other,
    ];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|r| r.code() == raw.trim())
            .ok_or_else(|| {
                Invalid::new(
                    "applicant.relation",
                    "one of self, spouse, child, parent, sibling, other",
                )
            })
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Myself => "self",
            Self::Spouse => "spouse",
            Self::Child => "child",
            Self::Parent => "parent",
            Self::Sibling => "sibling",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Applicant {
    pub full_name: FullName,
    pub relation: Relation,
    pub passport: Option<PassportNo>,
}

/// A human-friendly reference such as `MOW-7Q4K-2MZD`, from an alphabet without 0/O and 1/I.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference(String);

impl Reference {
    pub const ALPHABET: &'static [u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

    /// `random` supplies the entropy (8 bytes, 40 bits used), so this stays free of I/O.
    pub fn generate(office: &str, random: [u8; 8]) -> Self {
        let chars: String = random
            .iter()
            .map(|b| Self::ALPHABET[usize::from(b & 31)] as char)
            .collect();
        Self(format!("{office}-{}-{}", &chars[..4], &chars[4..]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_of_states_is_legal_only_along_the_lifecycle() {
        use Status::*;
        let legal = [
            (Booked, CheckedIn),
            (Booked, Cancelled),
            (Booked, NoShow),
            (CheckedIn, Completed),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), expected, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn references_use_the_unambiguous_alphabet() {
        let r = Reference::generate("MOW", [0, 1, 31, 200, 7, 8, 9, 255]);
        assert_eq!(r.as_str(), "MOW-23ZA-9ABZ");
        assert!(!Reference::ALPHABET
            .iter()
            .any(|c| matches!(c, b'0' | b'O' | b'1' | b'I')));
    }

    #[test]
    fn fair_use_limits_name_the_rule_that_bites() {
        let h = |t, s, p| Holdings {
            citizen_total: t,
            citizen_same_service: s,
            passport_same_service: p,
        };
        assert_eq!(h(1, 0, 0).check(), Ok(()));
        assert_eq!(h(2, 0, 0).check(), Err(Refusal::CitizenLimit));
        assert_eq!(h(1, 1, 0).check(), Err(Refusal::ServiceLimit));
        assert_eq!(h(0, 0, 1).check(), Err(Refusal::PassportLimit));
    }

    #[test]
    fn passport_numbers_are_normalised_and_redacted() {
        let p = PassportNo::parse(" n 123 4567 ").unwrap();
        assert_eq!(p.as_str(), "N1234567");
        assert_eq!(format!("{p:?}"), "PassportNo(…67)");
        assert!(PassportNo::parse("12-34").is_err());
    }
}
