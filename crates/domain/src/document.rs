//! Document requests: the case that follows a passport or certificate from submission to pickup.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::account::{FullName, PassportNo};
use crate::code::Code;
use crate::error::{Invalid, Step};

/// Where a document request stands. The order of [`DocumentStatus::ALL`] is the order of the
/// happy path, then the two dead ends. Serializes as its [`code`](DocumentStatus::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
        Author::from(self).code()
    }
}

/// Who wrote a history entry: an [`Actor`], or the system (reserved by the schema and the API;
/// nothing moves a request on its own yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    Citizen,
    Staff,
    System,
}

impl Author {
    pub const ALL: [Author; 3] = [Self::Citizen, Self::Staff, Self::System];

    pub fn code(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Staff => "staff",
            Self::System => "system",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == raw)
    }
}

impl From<Actor> for Author {
    fn from(a: Actor) -> Self {
        match a {
            Actor::Citizen => Self::Citizen,
            Actor::Staff => Self::Staff,
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
        Invalid::one_of(field, raw, &Self::ALL, Self::code)
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

    /// The statuses a request can be overdue in, as codes: the queue's overdue filter selects
    /// among these, so the database never holds its own list of final statuses.
    pub fn open_codes() -> Vec<&'static str> {
        Self::ALL
            .into_iter()
            .filter(|s| !s.is_final())
            .map(Self::code)
            .collect()
    }

    /// Whether `actor` may still move the request anywhere (for a citizen: cancel it).
    pub fn is_movable_by(self, actor: Actor) -> bool {
        !self.allowed_targets(actor).is_empty()
    }
}

/// How long a request has been in its current status, against the service's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dwell {
    pub status: DocumentStatus,
    pub since: DateTime<Utc>,
    /// The service's target, in days, for each status.
    pub target_days: i32,
}

impl Dwell {
    /// Whole days spent in the current status; a clock behind the row counts as none.
    pub fn days(&self, now: DateTime<Utc>) -> i64 {
        (now - self.since).num_days().max(0)
    }

    /// Longer in its current status than the service's target; final statuses never are. The
    /// queue's `overdue` filter applies the same comparison in SQL, over
    /// [`DocumentStatus::open_codes`].
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_final() && self.since + Duration::days(i64::from(self.target_days)) < now
    }
}

/// The latest calendar date anywhere on Earth at `now` (UTC+14), so that a child born today in
/// any office's zone is accepted before the office is known to be valid.
pub fn latest_date_anywhere(now: DateTime<Utc>) -> NaiveDate {
    const EASTERNMOST_OFFSET_HOURS: i64 = 14;
    (now + Duration::hours(EASTERNMOST_OFFSET_HOURS)).date_naive()
}

/// Requests a citizen may have open (not final) at once: enough for a family, too few to drain
/// an office's yearly tracking sequence.
pub const MAX_OPEN_REQUESTS_PER_CITIZEN: i64 = 5;

/// Whether a citizen may open one more request themself: a verified address and fewer than
/// [`MAX_OPEN_REQUESTS_PER_CITIZEN`] open ones. (Check-in opens requests for staff regardless.)
pub fn check_citizen_may_open(email_verified: bool, open_requests: i64) -> Result<(), Refusal> {
    if !email_verified {
        return Err(Refusal::EmailNotVerified);
    }
    if open_requests >= MAX_OPEN_REQUESTS_PER_CITIZEN {
        return Err(Refusal::OpenRequestLimit);
    }
    Ok(())
}

/// Whether a request may be opened, given what the catalogue says: `office_found` (active, or
/// known at all for check-in) and the service's `creates_document_request` flag (`None`: no
/// such service).
pub fn check_opening(office_found: bool, service_documentary: Option<bool>) -> Result<(), Refusal> {
    if !office_found {
        return Err(Refusal::UnknownOffice);
    }
    match service_documentary {
        None => Err(Refusal::UnknownService),
        Some(false) => Err(Refusal::ServiceNotDocumentary),
        Some(true) => Ok(()),
    }
}

/// A note on a transition, as written but trimmed; a blank one is no note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl Note {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(field: &str, raw: Option<&str>) -> Result<Option<Self>, Invalid> {
        match raw.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(None),
            Some(n) if n.chars().count() <= Self::MAX_CHARS => Ok(Some(Self(n.to_owned()))),
            Some(_) => Err(Invalid::new(
                field,
                format!("at most {} characters", Self::MAX_CHARS),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A staff member's request to move a case: where to, and what to note on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub to: DocumentStatus,
    pub public_note: Option<Note>,
    pub internal_note: Option<Note>,
}

impl Move {
    /// Parses every field and reports every failure at once.
    pub fn parse(
        to: &str,
        public_note: Option<&str>,
        internal_note: Option<&str>,
    ) -> Result<Self, Invalid> {
        let mut v = Invalid::collect();
        let to = v.check(DocumentStatus::parse("to", to));
        let public_note = v.check(Note::parse("public_note", public_note));
        let internal_note = v.check(Note::parse("internal_note", internal_note));
        v.finish()?;
        match (to, public_note, internal_note) {
            (Some(to), Some(public_note), Some(internal_note)) => Ok(Self {
                to,
                public_note,
                internal_note,
            }),
            _ => unreachable!("finish() returned Ok, so every field parsed"),
        }
    }
}

/// Which requests the staff queue shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub status: Option<DocumentStatus>,
    pub office_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    /// Only requests past the service's target in their current status (see [`Dwell`]).
    pub overdue_only: bool,
}

impl QueueFilter {
    pub fn parse(
        status: Option<&str>,
        office_id: Option<Uuid>,
        service_id: Option<Uuid>,
        overdue: Option<bool>,
    ) -> Result<Self, Invalid> {
        Ok(Self {
            status: status
                .map(|s| DocumentStatus::parse("status", s))
                .transpose()?,
            office_id,
            service_id,
            overdue_only: overdue.unwrap_or(false),
        })
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
    #[error("verify your email address before opening a document request")]
    EmailNotVerified,
    #[error("at most 5 document requests may be open at once")]
    OpenRequestLimit,
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
            Self::EmailNotVerified => Code::EmailNotVerified,
            Self::OpenRequestLimit => Code::DocumentRequestLimit,
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
    pub fn parse(field: &str, raw: &str, today: NaiveDate) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                field,
                format!(
                    "a date YYYY-MM-DD between {} and today",
                    crate::dates::EARLIEST
                ),
            )
        };
        let d = crate::dates::Day::parse(field, raw)
            .map_err(|_| bad())?
            .date();
        if d > today {
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

/// What a public tracking lookup asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackQuery {
    /// `None` for a malformed number: it is answered exactly like an unknown one, so the answer
    /// does not tell a typo from a number that was never issued.
    pub number: Option<TrackingNumber>,
    pub date_of_birth: NaiveDate,
}

impl TrackQuery {
    pub fn parse(number: &str, date_of_birth: Option<&str>) -> Result<Self, Invalid> {
        let date_of_birth =
            crate::dates::Day::parse("date_of_birth", date_of_birth.unwrap_or(""))?.date();
        Ok(Self {
            number: TrackingNumber::parse(number),
            date_of_birth,
        })
    }
}

/// The number is public on the receipt; the date of birth is the secret that proves the asker.
impl fmt::Debug for TrackQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackQuery")
            .field("number", &self.number)
            .field("date_of_birth", &"…")
            .finish()
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

    #[test]
    fn a_tracking_query_never_prints_its_date_of_birth() {
        let q = TrackQuery::parse("SY-MOW-2026-000123", Some("1987-03-14")).unwrap();
        let shown = format!("{q:?}");
        assert!(
            !shown.contains("1987") && !shown.contains("03-14"),
            "{shown}"
        );
        let dob = DateOfBirth::parse("d", "1987-03-14", q.date_of_birth).unwrap();
        assert!(!format!("{dob:?}").contains("1987"));
    }
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

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_request_is_overdue_only_past_its_target_and_never_once_final() {
        let since = at("2026-11-01T10:00:00Z");
        let open = Dwell {
            status: UnderReview,
            since,
            target_days: 3,
        };
        assert!(
            !open.is_overdue(at("2026-11-04T10:00:00Z")),
            "exactly on target"
        );
        assert!(open.is_overdue(at("2026-11-04T10:00:01Z")));
        assert_eq!(open.days(at("2026-11-04T09:59:59Z")), 2);
        assert_eq!(open.days(at("2026-11-04T10:00:00Z")), 3);
        assert_eq!(
            open.days(at("2026-10-31T00:00:00Z")),
            0,
            "clock behind the row"
        );
        for status in DocumentStatus::ALL.into_iter().filter(|s| s.is_final()) {
            let done = Dwell { status, ..open };
            assert!(!done.is_overdue(at("2027-01-01T00:00:00Z")), "{status:?}");
        }
        let open_codes = DocumentStatus::open_codes();
        for s in DocumentStatus::ALL {
            assert_eq!(open_codes.contains(&s.code()), !s.is_final());
        }
    }

    #[test]
    fn authors_round_trip_and_actors_write_their_own_code() {
        for a in Author::ALL {
            assert_eq!(Author::parse(a.code()), Some(a));
        }
        assert_eq!(Author::parse("robot"), None);
        assert_eq!(Actor::Staff.code(), "staff");
        assert_eq!(Actor::Citizen.code(), "citizen");
    }

    #[test]
    fn only_a_submitted_request_is_cancellable_by_its_citizen() {
        for s in DocumentStatus::ALL {
            assert_eq!(s.is_movable_by(Actor::Citizen), s == Submitted, "{s:?}");
            assert_eq!(s.is_movable_by(Actor::Staff), !s.is_final(), "{s:?}");
        }
    }

    #[test]
    fn the_latest_date_anywhere_is_fourteen_hours_ahead_of_utc() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            latest_date_anywhere(at("2026-11-23T09:59:59Z")),
            d("2026-11-23")
        );
        assert_eq!(
            latest_date_anywhere(at("2026-11-23T10:00:00Z")),
            d("2026-11-24")
        );
    }

    #[test]
    fn opening_needs_a_known_office_and_a_documentary_service() {
        assert_eq!(check_opening(true, Some(true)), Ok(()));
        assert_eq!(
            check_opening(false, Some(true)),
            Err(Refusal::UnknownOffice)
        );
        assert_eq!(check_opening(false, None), Err(Refusal::UnknownOffice));
        assert_eq!(check_opening(true, None), Err(Refusal::UnknownService));
        assert_eq!(
            check_opening(true, Some(false)),
            Err(Refusal::ServiceNotDocumentary)
        );
    }

    #[test]
    fn notes_are_trimmed_blank_is_none_and_long_ones_are_refused() {
        assert_eq!(Note::parse("public_note", None), Ok(None));
        assert_eq!(Note::parse("public_note", Some("  \n ")), Ok(None));
        let n = Note::parse("public_note", Some("  bring a photo ")).unwrap();
        assert_eq!(n.unwrap().as_str(), "bring a photo");
        let longest = "ж".repeat(Note::MAX_CHARS);
        assert!(Note::parse("internal_note", Some(&longest))
            .unwrap()
            .is_some());
        let err = Note::parse("internal_note", Some(&format!("{longest}ж"))).unwrap_err();
        assert_eq!(err.errors[0].field, "internal_note");
        assert_eq!(err.errors[0].message, "at most 2000 characters");
    }

    #[test]
    fn a_move_reports_every_bad_field_at_once() {
        let long = "x".repeat(Note::MAX_CHARS + 1);
        let err = Move::parse("lost", Some(&long), Some(&long)).unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["to", "public_note", "internal_note"]);
        let m = Move::parse("approved", Some("ok"), None).unwrap();
        assert_eq!(m.to, Approved);
        assert_eq!(m.public_note.unwrap().as_str(), "ok");
        assert_eq!(m.internal_note, None);
    }

    #[test]
    fn the_queue_filter_parses_its_status_and_defaults_to_everything() {
        assert_eq!(
            QueueFilter::parse(None, None, None, None),
            Ok(QueueFilter::default())
        );
        let office = Uuid::new_v4();
        let f = QueueFilter::parse(Some("under_review"), Some(office), None, Some(true)).unwrap();
        assert_eq!(f.status, Some(UnderReview));
        assert_eq!(f.office_id, Some(office));
        assert!(f.overdue_only);
        let err = QueueFilter::parse(Some("lost"), None, None, None).unwrap_err();
        assert_eq!(err.errors[0].field, "status");
    }

    #[test]
    fn a_tracking_query_needs_a_date_of_birth_and_keeps_a_bad_number_as_none() {
        let q = TrackQuery::parse("sy-mow-2026-000001", Some(" 1990-04-05 ")).unwrap();
        assert_eq!(q.number.unwrap().as_str(), "SY-MOW-2026-000001");
        assert_eq!(
            q.date_of_birth,
            NaiveDate::from_ymd_opt(1990, 4, 5).unwrap()
        );
        assert_eq!(
            TrackQuery::parse("nonsense", Some("1990-04-05"))
                .unwrap()
                .number,
            None
        );
        for dob in [None, Some(""), Some("05.04.1990"), Some("1990-02-30")] {
            let err = TrackQuery::parse("SY-MOW-2026-000001", dob).unwrap_err();
            assert_eq!(err.errors[0].field, "date_of_birth", "{dob:?}");
        }
    }

    #[test]
    fn a_citizen_opens_requests_only_verified_and_up_to_five_at_once() {
        assert_eq!(
            check_citizen_may_open(false, 0),
            Err(Refusal::EmailNotVerified)
        );
        assert_eq!(check_citizen_may_open(true, 0), Ok(()));
        assert_eq!(check_citizen_may_open(true, 4), Ok(()));
        assert_eq!(
            check_citizen_may_open(true, 5),
            Err(Refusal::OpenRequestLimit)
        );
        assert_eq!(
            Refusal::OpenRequestLimit.code().as_str(),
            "document_request_limit"
        );
    }
}
