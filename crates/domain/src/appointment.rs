//! Appointments: the lifecycle, the booking refusals, fair-use limits, applicants, references,
//! idempotency keys, cancellation, reminders and check-in.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{Email, FullName, Language, Phone};
pub use crate::account::{Identity, NationalNo, PassportNo};
use crate::code::Code;
use crate::error::Invalid;
use crate::error::Step;
use crate::text::Reason;

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
    #[error("this appointment was moved the most times its service allows")]
    RescheduleLimit,
    #[error("after repeated no-shows this account cannot book until {until}")]
    Suspended { until: NaiveDate },
    #[error("this service does not ask for a confirmation")]
    ConfirmationNotRequired,
    #[error("the confirmation window has not opened yet")]
    ConfirmationNotOpen,
    #[error("the confirmation window has closed")]
    ConfirmationClosed,
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
            Self::RescheduleLimit => Code::RescheduleLimit,
            Self::Suspended { .. } => Code::BookingSuspended,
            Self::ConfirmationNotRequired => Code::ConfirmationNotRequired,
            Self::ConfirmationNotOpen => Code::ConfirmationNotOpen,
            Self::ConfirmationClosed => Code::ConfirmationClosed,
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
        self.check_identity()
    }

    /// The one limit a staff booking keeps: staff book for people without an account, or more
    /// than a citizen could (an urgent case), but never twice for one identity and service.
    pub fn check_identity(&self) -> Result<(), Refusal> {
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
    pub identity: Identity,
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

/// The catalogue facts a booking names: `None` for an office or service that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    pub office_active: Option<bool>,
    pub service_active: Option<bool>,
    /// Whether the office has a schedule for the service.
    pub scheduled: bool,
}

/// What the catalogue lacks for a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unoffered {
    Office,
    Service,
    Schedule,
}

impl Unoffered {
    /// The request field that names something unknown; `None` when both exist but the office
    /// does not offer the service (`Refusal::NotOffered`).
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::Office => Some("office_id"),
            Self::Service => Some("service_id"),
            Self::Schedule => None,
        }
    }
}

impl Offer {
    /// A booking names an active office and an active service, and a schedule joining them;
    /// an inactive entry counts as unknown, so a retired office cannot be told from a typo.
    pub fn check(&self) -> Result<(), Unoffered> {
        if self.office_active != Some(true) {
            return Err(Unoffered::Office);
        }
        if self.service_active != Some(true) {
            return Err(Unoffered::Service);
        }
        if !self.scheduled {
            return Err(Unoffered::Schedule);
        }
        Ok(())
    }
}

/// What booking needs to know about the account holder.
#[derive(Clone, Copy)]
pub struct Holder<'a> {
    pub full_name: &'a str,
    pub email_verified: bool,
    /// The number the profile keeps, used when a booking for the holder names none.
    pub identity: Option<&'a Identity>,
}

impl fmt::Debug for Holder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holder")
            .field("full_name", &"…")
            .field("email_verified", &self.email_verified)
            .finish()
    }
}

impl Holder<'_> {
    /// Only a verified address can receive the confirmation and the reminder, and an unverified
    /// account is the cheapest kind for a bot to hoard slots with.
    pub fn may_book(&self) -> Result<(), Refusal> {
        if self.email_verified {
            Ok(())
        } else {
            Err(Refusal::EmailNotVerified)
        }
    }
}

/// The applicant fields of a booking request, as sent (no `Debug`: they are personal data).
#[derive(Clone, Copy, Default)]
pub struct ApplicantFields<'a> {
    pub full_name: Option<&'a str>,
    pub relation: Option<&'a str>,
    pub passport_number: Option<&'a str>,
    pub national_number: Option<&'a str>,
}

/// Whom a booking is for.
#[derive(Debug, Clone)]
pub enum BookingFor {
    /// The account holder, under their profile name, with the number sent or else the
    /// profile's.
    Holder { identity: Option<Identity> },
    /// A person named in the request: a family member, or the holder under another spelling.
    Named(Applicant),
}

impl BookingFor {
    /// No applicant, or relation `self` without a name, books for the holder; anything else
    /// needs a name, a known relation and an identity number. Every failing field is reported
    /// at once.
    pub fn parse(raw: Option<ApplicantFields<'_>>) -> Result<Self, Invalid> {
        let Some(a) = raw else {
            return Ok(Self::Holder { identity: None });
        };
        let identity = Identity::parse("applicant.", a.passport_number, a.national_number);
        let relation = Relation::parse(a.relation.unwrap_or(Relation::Myself.code()));
        if matches!(relation, Ok(Relation::Myself)) && a.full_name.is_none() {
            return identity.map(|identity| Self::Holder { identity });
        }
        let identity = identity.and_then(|i| i.ok_or_else(no_identity));
        let name = FullName::parse("applicant.full_name", a.full_name.unwrap_or(""));
        match (name, relation, identity) {
            (Ok(full_name), Ok(relation), Ok(identity)) => Ok(Self::Named(Applicant {
                full_name,
                relation,
                identity,
            })),
            (name, relation, identity) => Err(Invalid {
                errors: [identity.err(), relation.err(), name.err()]
                    .into_iter()
                    .flatten()
                    .flat_map(|e| e.errors)
                    .collect(),
            }),
        }
    }

    /// The applicant the appointment records; the holder without a number of their own on
    /// the request or the profile cannot book (the per-identity cap would not hold).
    pub fn applicant(&self, holder: &Holder<'_>) -> Result<BookedApplicant, Invalid> {
        Ok(match self {
            Self::Holder { identity } => BookedApplicant {
                full_name: holder.full_name.to_owned(),
                relation: Relation::Myself,
                identity: identity
                    .clone()
                    .or_else(|| holder.identity.cloned())
                    .ok_or_else(no_identity)?,
            },
            Self::Named(a) => BookedApplicant {
                full_name: a.full_name.as_str().to_owned(),
                relation: a.relation,
                identity: a.identity.clone(),
            },
        })
    }
}

/// A walk-in's contact as staff type it at the counter: all optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactFields<'a> {
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub preferred_language: Option<&'a str>,
}

impl ContactFields<'_> {
    fn is_empty(&self) -> bool {
        self.phone.is_none() && self.email.is_none() && self.preferred_language.is_none()
    }
}

/// An applicant without an account, booked by staff: the name and identity number the desk
/// needs, and how to reach them. With an email they get the usual mails, in their language.
#[derive(Clone)]
pub struct WalkIn {
    pub applicant: BookedApplicant,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub language: Language,
}

impl fmt::Debug for WalkIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalkIn")
            .field("applicant", &self.applicant)
            .field("email", &self.email)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// Whom staff book for: a citizen's account (the applicant as in a citizen's booking), or a
/// walk-in without one.
#[derive(Debug, Clone)]
pub enum StaffBookingFor {
    Citizen {
        citizen_id: Uuid,
        applicant: BookingFor,
    },
    WalkIn(WalkIn),
}

impl StaffBookingFor {
    /// With `citizen_id`, the applicant as [`BookingFor::parse`] reads it, and no contact (the
    /// account has its own). Without, a walk-in: `applicant.full_name` and an identity number
    /// are required, `phone`, `email` and `preferred_language` (default `ar`) optional; every
    /// failing field is reported at once.
    pub fn parse(
        citizen_id: Option<Uuid>,
        applicant: Option<ApplicantFields<'_>>,
        contact: ContactFields<'_>,
    ) -> Result<Self, Invalid> {
        if let Some(citizen_id) = citizen_id {
            if !contact.is_empty() {
                return Err(Invalid::new(
                    "citizen_id",
                    "phone, email and preferred_language are for a walk-in without citizen_id",
                ));
            }
            return Ok(Self::Citizen {
                citizen_id,
                applicant: BookingFor::parse(applicant)?,
            });
        }
        let a = applicant.unwrap_or_default();
        let mut errors = Vec::new();
        let name = keep(
            &mut errors,
            FullName::parse("applicant.full_name", a.full_name.unwrap_or("")),
        );
        let relation = keep(
            &mut errors,
            match Relation::parse(a.relation.unwrap_or("self")) {
                Ok(Relation::Myself) => Ok(()),
                _ => Err(Invalid::new(
                    "applicant.relation",
                    "a walk-in books for themself: self",
                )),
            },
        );
        let identity = keep(
            &mut errors,
            Identity::parse("applicant.", a.passport_number, a.national_number)
                .and_then(|i| i.ok_or_else(walk_in_without_identity)),
        );
        let phone = keep(&mut errors, contact.phone.map(Phone::parse).transpose());
        let email = keep(&mut errors, contact.email.map(Email::parse).transpose());
        let language = keep(
            &mut errors,
            contact.preferred_language.map(Language::parse).transpose(),
        );
        match (name, relation, identity, phone, email, language) {
            (
                Some(full_name),
                Some(()),
                Some(identity),
                Some(phone),
                Some(email),
                Some(language),
            ) if errors.is_empty() => Ok(Self::WalkIn(WalkIn {
                applicant: BookedApplicant {
                    full_name: full_name.as_str().to_owned(),
                    relation: Relation::Myself,
                    identity,
                },
                phone,
                email,
                language: language.unwrap_or(Language::Ar),
            })),
            _ => Err(Invalid { errors }),
        }
    }
}

/// The parsed value, or `None` with its errors (under `applicant.`) added to `errors`.
fn keep<T>(errors: &mut Vec<crate::error::FieldError>, r: Result<T, Invalid>) -> Option<T> {
    r.map_err(|e| errors.extend(e.errors.into_iter().map(under_applicant)))
        .ok()
}

/// A contact field's error under the request's `applicant` object.
fn under_applicant(mut e: crate::error::FieldError) -> crate::error::FieldError {
    if !e.field.starts_with("applicant.") {
        e.field = format!("applicant.{}", e.field);
    }
    e
}

fn walk_in_without_identity() -> Invalid {
    Invalid::new(
        "applicant.passport_number",
        "a walk-in without citizen_id needs a passport_number or a national_number",
    )
}

/// Every booking names a passport or national number.
fn no_identity() -> Invalid {
    Invalid::new(
        "applicant.passport_number",
        "a passport_number or a national_number is required (or one on the profile)",
    )
}

/// The applicant as an appointment stores it.
#[derive(Clone)]
pub struct BookedApplicant {
    pub full_name: String,
    pub relation: Relation,
    pub identity: Identity,
}

impl fmt::Debug for BookedApplicant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BookedApplicant")
            .field("full_name", &"…")
            .field("relation", &self.relation)
            .field("identity", &self.identity)
            .finish()
    }
}

/// A client's `Idempotency-Key`: trimmed, 1 to [`IdempotencyKey::MAX_LEN`] visible ASCII
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim();
        if (1..=Self::MAX_LEN).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) {
            return Ok(Self(v.to_owned()));
        }
        Err(Invalid::new(
            "Idempotency-Key",
            format!("1 to {} visible ASCII characters", Self::MAX_LEN),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An idempotency key bound to a hash of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub request_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this Idempotency-Key was used for a different request")]
pub struct KeyReused;

impl Idempotency {
    /// A key seen before replays the first booking only for the same request; reusing it for
    /// another request is refused rather than silently answered with the wrong booking.
    pub fn replay(&self, recorded_hash: &str) -> Result<(), KeyReused> {
        if self.request_hash == recorded_hash {
            Ok(())
        } else {
            Err(KeyReused)
        }
    }
}

/// A step the lifecycle allows, refused at this moment: a citizen changing an appointment
/// whose start has passed (which would escape the fair-use counts), or a no-show recorded
/// before the slot started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Untimely {
    pub from: Status,
    pub to: Status,
    pub why: &'static str,
}

impl Untimely {
    pub fn step(&self) -> Step {
        Step {
            from: self.from.code(),
            to: self.to.code(),
            allowed: Vec::new(),
        }
    }
}

/// A citizen changes only an appointment that has not started yet.
pub fn citizen_may_change(
    status: Status,
    to: Status,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Untimely> {
    if start <= now {
        return Err(Untimely {
            from: status,
            to,
            why: "a past appointment cannot be changed by the citizen",
        });
    }
    Ok(())
}

/// A no-show is a fact only once the slot has started.
pub fn may_record_no_show(start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Untimely> {
    if now < start {
        return Err(Untimely {
            from: Status::Booked,
            to: Status::NoShow,
            why: "a no-show can be recorded only once the slot has started",
        });
    }
    Ok(())
}

/// What a reschedule needs to know about the appointment it moves.
#[derive(Debug, Clone, Copy)]
pub struct Move {
    pub status: Status,
    pub current_start: DateTime<Utc>,
    pub target_start: DateTime<Utc>,
    /// Reschedules already made, and the service's cap.
    pub reschedules: i32,
    pub max_reschedules: i32,
}

/// Only a booked appointment moves, only to another slot, and at most `max_reschedules` times.
pub fn reschedule_to(m: Move) -> Result<(), Refusal> {
    if m.status != Status::Booked {
        return Err(Refusal::NotBooked);
    }
    if m.current_start == m.target_start {
        return Err(Refusal::SameSlot);
    }
    if m.reschedules >= m.max_reschedules {
        return Err(Refusal::RescheduleLimit);
    }
    Ok(())
}

/// The re-confirmation window of an appointment starting at `start`: `[from, until)`, opening
/// `confirm_from_hours` and closing `confirm_until_hours` before the start; `None` for a service
/// without the rule.
pub fn confirmation_window(
    start: DateTime<Utc>,
    required: bool,
    from_hours: i32,
    until_hours: i32,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !required {
        return None;
    }
    let before = |h: i32| {
        start
            .checked_sub_signed(TimeDelta::hours(i64::from(h)))
            .unwrap_or(start)
    };
    Some((before(from_hours), before(until_hours)))
}

/// The confirmation an appointment carries when it enters a slot at `at` (booked, by anyone,
/// or rescheduled into it): booking or moving inside the slot's window, or after it closed, is
/// itself the citizen's word that they will come, so it counts as confirmed then. Otherwise a
/// booking made an hour before the window closes would be released an hour later. Entering
/// before the window opens leaves it unconfirmed (`None`), and the request mail follows when
/// the window opens.
pub fn confirmed_on_entry(
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let (from, _) = window?;
    (at >= from).then_some(at)
}

/// Whether the citizen may confirm attendance at `now`.
pub fn may_confirm(
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    match window {
        None => Err(Refusal::ConfirmationNotRequired),
        Some((from, _)) if now < from => Err(Refusal::ConfirmationNotOpen),
        Some((_, until)) if now >= until => Err(Refusal::ConfirmationClosed),
        Some(_) => Ok(()),
    }
}

/// The no-show rule (`MAWID_NO_SHOW_*`): after `limit` no-shows within `window_days`, the
/// citizen cannot book or join a waitlist for `suspension_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoShowPolicy {
    pub limit: u32,
    pub window_days: u32,
    pub suspension_days: u32,
}

impl Default for NoShowPolicy {
    fn default() -> Self {
        Self {
            limit: 2,
            window_days: 180,
            suspension_days: 60,
        }
    }
}

impl NoShowPolicy {
    /// How far back no-shows can still matter at `now`.
    pub fn lookback(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let days = i64::from(self.window_days) + i64::from(self.suspension_days);
        now.checked_sub_signed(TimeDelta::days(days))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The suspension in force at `now`, from the starts of the citizen's no-shows: it begins at
    /// the no-show that made `limit` within the window and lasts `suspension_days`; the answer
    /// is the first date (UTC) the citizen may book again.
    pub fn check(&self, no_shows: &[DateTime<Utc>], now: DateTime<Utc>) -> Result<(), Refusal> {
        let Some(back) = usize::try_from(self.limit)
            .ok()
            .and_then(|l| l.checked_sub(1))
        else {
            return Ok(());
        };
        let mut starts = no_shows.to_vec();
        starts.sort();
        let window = TimeDelta::days(i64::from(self.window_days));
        let length = TimeDelta::days(i64::from(self.suspension_days));
        let end = (back..starts.len())
            .filter(|&i| starts[i] - starts[i - back] <= window)
            .filter_map(|i| starts[i].checked_add_signed(length))
            .max();
        match end {
            Some(end) if end > now => Err(Refusal::Suspended {
                until: end.date_naive(),
            }),
            _ => Ok(()),
        }
    }
}

/// How long before its start an appointment's reminder is sent.
pub const REMINDER_LEAD: TimeDelta = TimeDelta::hours(24);

/// When the reminder of a slot is due, unless that moment has already passed: a booking made
/// less than a day ahead gets no reminder.
pub fn reminder_due(slot_start: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let due = slot_start - REMINDER_LEAD;
    (due > now).then_some(due)
}

/// Entering these states withdraws a reminder still pending: the visit will not take place.
pub fn withdraws_reminder(to: Status) -> bool {
    matches!(to, Status::Cancelled | Status::NoShow)
}

/// Who cancelled, as an appointment records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    Citizen,
    Staff,
    /// The confirmation window of a service with `confirmation_required` closed unconfirmed.
    System,
}

impl CancelledBy {
    pub const ALL: [CancelledBy; 3] = [
        CancelledBy::Citizen,
        CancelledBy::Staff,
        CancelledBy::System,
    ];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == raw)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Staff => "staff",
            Self::System => "system",
        }
    }
}

/// A cancellation as asked: a citizen cancels their own and may say why; staff cancel any and
/// must say why, since the citizen is mailed the reason.
#[derive(Debug, Clone)]
pub enum Cancellation {
    Citizen {
        citizen_id: Uuid,
        reason: Option<Reason>,
    },
    Staff {
        actor_id: Uuid,
        reason: Reason,
    },
    /// Attendance was not confirmed by the end of the service's window: no one to audit, no
    /// reason beyond that, which the mail says itself.
    Unconfirmed,
}

impl Cancellation {
    /// A blank reason is no reason.
    pub fn by_citizen(citizen_id: Uuid, reason: Option<&str>) -> Result<Self, Invalid> {
        let reason = reason
            .filter(|r| !r.trim().is_empty())
            .map(|r| Reason::parse("reason", r))
            .transpose()?;
        Ok(Self::Citizen { citizen_id, reason })
    }

    pub fn by_staff(actor_id: Uuid, reason: &str) -> Result<Self, Invalid> {
        Ok(Self::Staff {
            actor_id,
            reason: Reason::parse("reason", reason)?,
        })
    }

    pub fn by(&self) -> CancelledBy {
        match self {
            Self::Citizen { .. } => CancelledBy::Citizen,
            Self::Staff { .. } => CancelledBy::Staff,
            Self::Unconfirmed => CancelledBy::System,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Citizen { reason, .. } => reason.as_ref().map(Reason::as_str),
            Self::Staff { reason, .. } => Some(reason.as_str()),
            Self::Unconfirmed => None,
        }
    }

    /// The only citizen whose appointment this may cancel; `None` for staff, who reach any.
    pub fn owner(&self) -> Option<Uuid> {
        match self {
            Self::Citizen { citizen_id, .. } => Some(*citizen_id),
            Self::Staff { .. } | Self::Unconfirmed => None,
        }
    }

    /// The staff member the audit log names; a citizen's own cancellation is not audited.
    pub fn audited_actor(&self) -> Option<Uuid> {
        match self {
            Self::Staff { actor_id, .. } => Some(*actor_id),
            Self::Citizen { .. } | Self::Unconfirmed => None,
        }
    }
}

/// A staff lifecycle step other than cancel, each audit-logged under its action name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffStep {
    CheckIn,
    Complete,
    NoShow,
}

impl StaffStep {
    pub fn to(self) -> Status {
        match self {
            Self::CheckIn => Status::CheckedIn,
            Self::Complete => Status::Completed,
            Self::NoShow => Status::NoShow,
        }
    }

    pub fn action(self) -> &'static str {
        match self {
            Self::CheckIn => "appointment.check_in",
            Self::Complete => "appointment.complete",
            Self::NoShow => "appointment.no_show",
        }
    }
}

/// The audit action of a staff cancellation.
pub const STAFF_CANCEL_ACTION: &str = "appointment.cancel";

/// What the officer records at the desk: the applicant's date of birth from the passport, which
/// the document request of a documentary service needs for public tracking.
#[derive(Clone, Copy, Default)]
pub struct CheckIn {
    pub applicant_date_of_birth: Option<NaiveDate>,
}

/// Says whether a date of birth was recorded, never which.
impl fmt::Debug for CheckIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckIn")
            .field(
                "applicant_date_of_birth",
                &self.applicant_date_of_birth.map(|_| "…"),
            )
            .finish()
    }
}

impl CheckIn {
    /// `today` is the current date; nobody at the desk was born after it.
    pub fn new(
        applicant_date_of_birth: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Self, Invalid> {
        if applicant_date_of_birth.is_some_and(|d| d > today) {
            return Err(Invalid::new(
                "applicant_date_of_birth",
                "a date in the past",
            ));
        }
        Ok(Self {
            applicant_date_of_birth,
        })
    }

    /// Checking in opens a document request only for a service that produces a document: the
    /// citizen can follow the case from the moment they are at the desk. A walk-in has no
    /// account to follow it in, so theirs stays on paper at the counter.
    pub fn opens_document_request(
        &self,
        service_creates_document_request: bool,
        has_account: bool,
    ) -> bool {
        service_creates_document_request && has_account
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_in_never_prints_the_date_of_birth_it_records() {
        let dob = NaiveDate::from_ymd_opt(1987, 3, 14).unwrap();
        let c = CheckIn::new(Some(dob), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("1987"), "{shown}");
        assert!(shown.contains("applicant_date_of_birth"), "{shown}");
    }

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
        assert_eq!(h(5, 3, 0).check_identity(), Ok(()));
        assert_eq!(h(0, 0, 1).check_identity(), Err(Refusal::PassportLimit));
    }

    fn at(h: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
    }

    #[test]
    fn a_booking_needs_an_active_office_and_service_joined_by_a_schedule() {
        let offer = |o, s, scheduled| Offer {
            office_active: o,
            service_active: s,
            scheduled,
        };
        assert_eq!(offer(Some(true), Some(true), true).check(), Ok(()));
        assert_eq!(offer(None, None, false).check(), Err(Unoffered::Office));
        assert_eq!(
            offer(Some(false), Some(true), true).check(),
            Err(Unoffered::Office)
        );
        assert_eq!(
            offer(Some(true), Some(false), true).check(),
            Err(Unoffered::Service)
        );
        assert_eq!(
            offer(Some(true), Some(true), false).check(),
            Err(Unoffered::Schedule)
        );
        assert_eq!(Unoffered::Service.field(), Some("service_id"));
        assert_eq!(Unoffered::Schedule.field(), None);
    }

    #[test]
    fn only_a_verified_holder_may_book() {
        let holder = |email_verified| Holder {
            full_name: "Amal Haddad",
            email_verified,
            identity: None,
        };
        assert_eq!(holder(true).may_book(), Ok(()));
        assert_eq!(holder(false).may_book(), Err(Refusal::EmailNotVerified));
    }

    fn profile() -> Identity {
        Identity::parse("", Some("P0000001"), None)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn no_applicant_or_a_nameless_self_books_for_the_holder_with_the_number_sent_or_the_profiles() {
        let own = profile();
        let holder = Holder {
            full_name: "Amal Haddad",
            email_verified: true,
            identity: Some(&own),
        };
        let none = BookingFor::parse(None).unwrap().applicant(&holder).unwrap();
        assert_eq!(none.full_name, "Amal Haddad");
        assert_eq!(none.relation, Relation::Myself);
        assert_eq!(none.identity, own);

        let with_national = BookingFor::parse(Some(ApplicantFields {
            national_number: Some("01020304050"),
            ..Default::default()
        }))
        .unwrap()
        .applicant(&holder)
        .unwrap();
        assert_eq!(with_national.full_name, "Amal Haddad");
        assert_eq!(with_national.identity.national(), Some("01020304050"));

        let bare = Holder {
            identity: None,
            ..holder
        };
        let e = BookingFor::parse(None)
            .unwrap()
            .applicant(&bare)
            .unwrap_err();
        assert_eq!(e.errors[0].field, "applicant.passport_number");
    }

    #[test]
    fn a_family_member_needs_a_name_a_known_relation_and_a_number() {
        let holder = Holder {
            full_name: "Amal Haddad",
            email_verified: true,
            identity: None,
        };
        let child = BookingFor::parse(Some(ApplicantFields {
            full_name: Some("Sami Haddad"),
            relation: Some("child"),
            passport_number: Some("N7654321"),
            national_number: None,
        }))
        .unwrap()
        .applicant(&holder)
        .unwrap();
        assert_eq!(child.full_name, "Sami Haddad");
        assert_eq!(child.relation, Relation::Child);

        let nameless = BookingFor::parse(Some(ApplicantFields {
            relation: Some("spouse"),
            passport_number: Some("N7654321"),
            ..Default::default()
        }))
        .unwrap_err();
        assert_eq!(nameless.errors[0].field, "applicant.full_name");

        let numberless = BookingFor::parse(Some(ApplicantFields {
            full_name: Some("Sami Haddad"),
            relation: Some("child"),
            ..Default::default()
        }))
        .unwrap_err();
        assert_eq!(numberless.errors[0].field, "applicant.passport_number");

        let every_field = BookingFor::parse(Some(ApplicantFields {
            full_name: None,
            relation: Some("cousin"),
            passport_number: Some("12-34"),
            national_number: None,
        }))
        .unwrap_err();
        let fields: Vec<_> = every_field
            .errors
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "applicant.passport_number",
                "applicant.relation",
                "applicant.full_name"
            ]
        );
    }

    #[test]
    fn an_idempotency_key_is_one_to_255_visible_ascii_characters() {
        assert_eq!(IdempotencyKey::parse(" k-1 ").unwrap().as_str(), "k-1");
        let longest = "k".repeat(IdempotencyKey::MAX_LEN);
        assert!(IdempotencyKey::parse(&longest).is_ok());
        for bad in ["", "   ", "a b", "ключ", &format!("{longest}k")] {
            let e = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(e.errors[0].field, "Idempotency-Key", "{bad:?}");
        }
    }

    #[test]
    fn a_key_replays_only_the_request_it_is_bound_to() {
        let i = Idempotency {
            key: IdempotencyKey::parse("k").unwrap(),
            request_hash: "abc".into(),
        };
        assert_eq!(i.replay("abc"), Ok(()));
        assert_eq!(i.replay("abd"), Err(KeyReused));
    }

    #[test]
    fn only_a_booked_appointment_moves_only_to_another_slot_and_at_most_max_times() {
        let m = |status, target, reschedules| Move {
            status,
            current_start: at(9),
            target_start: target,
            reschedules,
            max_reschedules: 3,
        };
        assert_eq!(reschedule_to(m(Status::Booked, at(10), 2)), Ok(()));
        assert_eq!(
            reschedule_to(m(Status::Booked, at(9), 0)),
            Err(Refusal::SameSlot)
        );
        assert_eq!(
            reschedule_to(m(Status::Booked, at(10), 3)),
            Err(Refusal::RescheduleLimit)
        );
        for s in [
            Status::CheckedIn,
            Status::Completed,
            Status::Cancelled,
            Status::NoShow,
        ] {
            assert_eq!(reschedule_to(m(s, at(10), 0)), Err(Refusal::NotBooked));
        }
    }

    #[test]
    fn a_citizen_changes_only_a_future_appointment_and_a_no_show_needs_the_start() {
        let s = Status::Booked;
        assert!(citizen_may_change(s, Status::Cancelled, at(10), at(9)).is_ok());
        let e = citizen_may_change(s, Status::Cancelled, at(9), at(9)).unwrap_err();
        assert_eq!(e.step().to, "cancelled");
        assert!(may_record_no_show(at(10), at(9)).is_err());
        assert!(may_record_no_show(at(9), at(9)).is_ok());
    }

    #[test]
    fn the_confirmation_window_opens_and_closes_before_the_start() {
        let start = at(9) + TimeDelta::days(3);
        assert_eq!(confirmation_window(start, false, 72, 24), None);
        let w = confirmation_window(start, true, 72, 24);
        assert_eq!(w, Some((at(9), at(9) + TimeDelta::days(2))));
        assert_eq!(
            may_confirm(None, at(9)),
            Err(Refusal::ConfirmationNotRequired)
        );
        assert_eq!(may_confirm(w, at(8)), Err(Refusal::ConfirmationNotOpen));
        assert_eq!(may_confirm(w, at(9)), Ok(()));
        assert_eq!(
            may_confirm(w, at(9) + TimeDelta::days(2)),
            Err(Refusal::ConfirmationClosed)
        );
    }

    #[test]
    fn a_walk_in_needs_a_name_and_a_number_and_may_leave_a_contact() {
        let walk_in = StaffBookingFor::parse(
            None,
            Some(ApplicantFields {
                full_name: Some("Omar Khalil"),
                passport_number: Some("n 123 4567"),
                ..Default::default()
            }),
            ContactFields {
                email: Some(" Omar@Example.ORG "),
                preferred_language: Some("ru"),
                ..Default::default()
            },
        )
        .unwrap();
        let StaffBookingFor::WalkIn(w) = walk_in else {
            panic!("not a walk-in");
        };
        assert_eq!(w.applicant.full_name, "Omar Khalil");
        assert_eq!(w.applicant.relation, Relation::Myself);
        assert_eq!(w.applicant.identity.passport(), Some("N1234567"));
        assert_eq!(
            w.email.as_ref().map(Email::as_str),
            Some("omar@example.org")
        );
        assert_eq!(w.language, Language::Ru);
        assert!(w.phone.is_none());

        let bare = StaffBookingFor::parse(None, None, ContactFields::default()).unwrap_err();
        let fields: Vec<_> = bare.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["applicant.full_name", "applicant.passport_number"]);
        let bad = StaffBookingFor::parse(
            None,
            Some(ApplicantFields {
                full_name: Some("Omar Khalil"),
                relation: Some("child"),
                national_number: Some("01020304050"),
                ..Default::default()
            }),
            ContactFields {
                phone: Some("12"),
                email: Some("nowhere"),
                preferred_language: Some("fr"),
            },
        )
        .unwrap_err();
        let fields: Vec<_> = bad.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "applicant.relation",
                "applicant.phone",
                "applicant.email",
                "applicant.preferred_language"
            ]
        );

        let citizen = Uuid::from_u128(7);
        assert!(matches!(
            StaffBookingFor::parse(Some(citizen), None, ContactFields::default()),
            Ok(StaffBookingFor::Citizen { citizen_id, .. }) if citizen_id == citizen
        ));
        let mixed = StaffBookingFor::parse(
            Some(citizen),
            None,
            ContactFields {
                email: Some("omar@example.org"),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(mixed.errors[0].field, "citizen_id");
    }

    #[test]
    fn entering_a_slot_inside_or_after_its_window_counts_as_confirmed_then() {
        let start = at(9) + TimeDelta::days(3);
        let w = confirmation_window(start, true, 72, 24);
        assert_eq!(
            confirmed_on_entry(None, at(9)),
            None,
            "no rule, no confirmation"
        );
        assert_eq!(
            confirmed_on_entry(w, at(8)),
            None,
            "before the window: asked later"
        );
        assert_eq!(
            confirmed_on_entry(w, at(9)),
            Some(at(9)),
            "the window's first moment"
        );
        let late = at(9) + TimeDelta::days(2) - TimeDelta::minutes(5);
        assert_eq!(
            confirmed_on_entry(w, late),
            Some(late),
            "minutes before it closes"
        );
        let after = at(9) + TimeDelta::days(2) + TimeDelta::hours(1);
        assert_eq!(confirmed_on_entry(w, after), Some(after), "after it closed");
    }

    #[test]
    fn the_limit_th_no_show_within_the_window_suspends_for_the_suspension_days() {
        let p = NoShowPolicy::default();
        let day = |d: i64| at(9) + TimeDelta::days(d);
        assert_eq!(p.check(&[day(0)], day(1)), Ok(()));
        // Two within 180 days: suspended for 60 days from the second.
        let until = (day(100) + TimeDelta::days(60)).date_naive();
        assert_eq!(
            p.check(&[day(100), day(0)], day(101)),
            Err(Refusal::Suspended { until })
        );
        assert_eq!(p.check(&[day(0), day(100)], day(160)), Ok(()));
        // Two too far apart never suspend.
        assert_eq!(p.check(&[day(0), day(181)], day(182)), Ok(()));
        let off = NoShowPolicy { limit: 0, ..p };
        assert_eq!(off.check(&[day(0), day(1)], day(2)), Ok(()));
    }

    #[test]
    fn the_reminder_is_due_a_day_ahead_unless_that_has_passed() {
        let start = at(12) + TimeDelta::days(2);
        assert_eq!(reminder_due(start, at(12)), Some(start - REMINDER_LEAD));
        assert_eq!(REMINDER_LEAD, TimeDelta::hours(24));
        let tomorrow_noon = at(12) + TimeDelta::days(1);
        assert_eq!(
            reminder_due(tomorrow_noon, at(12)),
            None,
            "exactly a day ahead"
        );
        assert_eq!(reminder_due(tomorrow_noon, at(11)), Some(at(12)));
    }

    #[test]
    fn cancelling_and_no_show_withdraw_the_reminder() {
        let withdrawing: Vec<_> = Status::ALL
            .into_iter()
            .filter(|s| withdraws_reminder(*s))
            .collect();
        assert_eq!(withdrawing, [Status::Cancelled, Status::NoShow]);
    }

    #[test]
    fn a_citizen_may_give_a_reason_and_staff_must() {
        let id = Uuid::nil();
        let blank = Cancellation::by_citizen(id, Some("  ")).unwrap();
        assert_eq!(blank.reason(), None);
        assert_eq!(blank.by(), CancelledBy::Citizen);
        assert_eq!(blank.owner(), Some(id));
        assert_eq!(blank.audited_actor(), None);
        let said = Cancellation::by_citizen(id, Some(" ill ")).unwrap();
        assert_eq!(said.reason(), Some("ill"));
        let too_long = "x".repeat(Reason::MAX_CHARS + 1);
        assert!(Cancellation::by_citizen(id, Some(&too_long)).is_err());

        let staff = Cancellation::by_staff(id, "office closed").unwrap();
        assert_eq!(staff.by(), CancelledBy::Staff);
        assert_eq!(staff.owner(), None);
        assert_eq!(staff.audited_actor(), Some(id));
        assert_eq!(
            Cancellation::by_staff(id, "").unwrap_err().errors[0].field,
            "reason"
        );

        let system = Cancellation::Unconfirmed;
        assert_eq!(system.by(), CancelledBy::System);
        assert_eq!((system.owner(), system.audited_actor()), (None, None));
    }

    #[test]
    fn cancelled_by_round_trips_through_its_code() {
        for c in CancelledBy::ALL {
            assert_eq!(CancelledBy::parse(c.code()), Some(c));
        }
        assert_eq!(CancelledBy::parse("robot"), None);
    }

    #[test]
    fn staff_steps_lead_to_their_state_under_their_audit_action() {
        assert_eq!(StaffStep::CheckIn.to(), Status::CheckedIn);
        assert_eq!(StaffStep::Complete.action(), "appointment.complete");
        assert_eq!(StaffStep::NoShow.to(), Status::NoShow);
    }

    #[test]
    fn check_in_refuses_a_birth_date_after_today_and_opens_a_request_only_for_documents() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert!(CheckIn::new(Some(today), today).is_ok());
        assert!(CheckIn::new(None, today).is_ok());
        let e = CheckIn::new(today.succ_opt(), today).unwrap_err();
        assert_eq!(e.errors[0].field, "applicant_date_of_birth");
        let c = CheckIn::default();
        assert!(c.opens_document_request(true, true));
        assert!(!c.opens_document_request(false, true));
        assert!(
            !c.opens_document_request(true, false),
            "a walk-in has no account"
        );
    }

    #[test]
    fn passport_numbers_are_normalised_and_redacted() {
        let p = PassportNo::parse(" n 123 4567 ").unwrap();
        assert_eq!(p.as_str(), "N1234567");
        assert_eq!(format!("{p:?}"), "PassportNo(…67)");
        assert!(PassportNo::parse("12-34").is_err());
    }
}
