//! The notification contract: what each kind of mail carries from the transaction that queues
//! it to the worker that renders it.
//!
//! Payloads are stored as JSONB in `notifications.payload` and kinds in `notifications.kind` (and
//! in dedupe keys), so field names and kind codes are part of the stored data: rows queued by an
//! earlier build must still decode. Fields the renderer has always treated as optional stay
//! `#[serde(default)]`.

use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::appointment::CancelledBy;
use crate::catalogue::Localized;

/// The kinds of mail, by the code stored with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    VerifyEmail,
    PasswordReset,
    AppointmentBooked,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentReminder,
    DocumentStatusChanged,
    /// Someone tried to register an address that has an account: its owner is told instead.
    AccountExists,
    /// The re-confirmation window of a booking opened: the citizen is asked to confirm.
    ConfirmationRequest,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Self::VerifyEmail,
        Self::PasswordReset,
        Self::AppointmentBooked,
        Self::AppointmentRescheduled,
        Self::AppointmentCancelled,
        Self::AppointmentReminder,
        Self::DocumentStatusChanged,
        Self::AccountExists,
        Self::ConfirmationRequest,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::AppointmentBooked => "appointment_booked",
            Self::AppointmentRescheduled => "appointment_rescheduled",
            Self::AppointmentCancelled => "appointment_cancelled",
            Self::AppointmentReminder => "appointment_reminder",
            Self::DocumentStatusChanged => "document_status_changed",
            Self::AccountExists => "account_exists",
            Self::ConfirmationRequest => "confirmation_request",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == raw)
    }
}

/// One queued mail: its kind and the payload that kind carries. Serializes as the bare payload
/// (the kind is stored beside it); [`Notification::decode`] reads one back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Notification {
    VerifyEmail(TokenMail),
    PasswordReset(TokenMail),
    AppointmentBooked(AppointmentMail),
    AppointmentRescheduled(Rescheduled),
    AppointmentCancelled(Cancelled),
    AppointmentReminder(AppointmentMail),
    DocumentStatusChanged(DocumentStatusChanged),
    AccountExists(Greeting),
    ConfirmationRequest(ConfirmationRequest),
}

impl Notification {
    pub fn kind(&self) -> Kind {
        match self {
            Self::VerifyEmail(_) => Kind::VerifyEmail,
            Self::PasswordReset(_) => Kind::PasswordReset,
            Self::AppointmentBooked(_) => Kind::AppointmentBooked,
            Self::AppointmentRescheduled(_) => Kind::AppointmentRescheduled,
            Self::AppointmentCancelled(_) => Kind::AppointmentCancelled,
            Self::AppointmentReminder(_) => Kind::AppointmentReminder,
            Self::DocumentStatusChanged(_) => Kind::DocumentStatusChanged,
            Self::AccountExists(_) => Kind::AccountExists,
            Self::ConfirmationRequest(_) => Kind::ConfirmationRequest,
        }
    }

    /// Reads a stored payload as the type its kind names.
    pub fn decode<'de, D: Deserializer<'de>>(kind: Kind, payload: D) -> Result<Self, D::Error> {
        Ok(match kind {
            Kind::VerifyEmail => Self::VerifyEmail(TokenMail::deserialize(payload)?),
            Kind::PasswordReset => Self::PasswordReset(TokenMail::deserialize(payload)?),
            Kind::AppointmentBooked => Self::AppointmentBooked(Deserialize::deserialize(payload)?),
            Kind::AppointmentRescheduled => {
                Self::AppointmentRescheduled(Deserialize::deserialize(payload)?)
            }
            Kind::AppointmentCancelled => {
                Self::AppointmentCancelled(Deserialize::deserialize(payload)?)
            }
            Kind::AppointmentReminder => {
                Self::AppointmentReminder(Deserialize::deserialize(payload)?)
            }
            Kind::DocumentStatusChanged => {
                Self::DocumentStatusChanged(Deserialize::deserialize(payload)?)
            }
            Kind::AccountExists => Self::AccountExists(Deserialize::deserialize(payload)?),
            Kind::ConfirmationRequest => {
                Self::ConfirmationRequest(Deserialize::deserialize(payload)?)
            }
        })
    }

    /// The recipient's name, as every mail greets them.
    pub fn full_name(&self) -> &str {
        match self {
            Self::VerifyEmail(m) | Self::PasswordReset(m) => &m.full_name,
            Self::AppointmentBooked(m) | Self::AppointmentReminder(m) => &m.full_name,
            Self::AppointmentRescheduled(m) => &m.full_name,
            Self::AppointmentCancelled(m) => &m.full_name,
            Self::DocumentStatusChanged(m) => &m.full_name,
            Self::AccountExists(m) => &m.full_name,
            Self::ConfirmationRequest(m) => &m.full_name,
        }
    }
}

/// `account_exists`: only the name; the mail says that someone tried to register the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    #[serde(default)]
    pub full_name: String,
}

/// `verify_email` and `password_reset`: the raw single-use token the mail carries.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenMail {
    #[serde(default)]
    pub full_name: String,
    pub token: String,
}

impl TokenMail {
    /// The payload key of the token. The outbox removes it from a row once the mail is sent, so
    /// a delivered secret does not stay in the database.
    pub const TOKEN_FIELD: &'static str = "token";
}

impl fmt::Debug for TokenMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMail")
            .field("token", &"…")
            .finish_non_exhaustive()
    }
}

/// `appointment_booked` and `appointment_reminder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentMail {
    #[serde(default)]
    pub full_name: String,
    #[serde(flatten)]
    pub appointment: AppointmentSummary,
    /// The slot was given to the citizen's waitlist entry (the booking mail says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_waitlist: bool,
}

/// `appointment_rescheduled`: the appointment at its new time, and where it was before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescheduled {
    #[serde(default)]
    pub full_name: String,
    #[serde(flatten)]
    pub appointment: AppointmentSummary,
    #[serde(with = "rfc3339")]
    pub previous_start: DateTime<FixedOffset>,
}

/// `appointment_cancelled`: who cancelled, and staff's reason when they gave one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    #[serde(default)]
    pub full_name: String,
    #[serde(flatten)]
    pub appointment: AppointmentSummary,
    pub cancelled_by: CancelledBy,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `confirmation_request`: the appointment, and the moment its window closes; unconfirmed by
/// then, the booking is released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmationRequest {
    #[serde(default)]
    pub full_name: String,
    #[serde(flatten)]
    pub appointment: AppointmentSummary,
    #[serde(with = "rfc3339")]
    pub confirm_until: DateTime<FixedOffset>,
}

/// What every appointment mail says about the appointment. Times carry the office's offset.
/// SQL in persistence reads `appointment_id` (to withdraw reminders) and `reference` (the
/// admin's outbox list) from stored rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentSummary {
    pub appointment_id: Uuid,
    pub reference: String,
    /// The iCalendar SEQUENCE: raised by each reschedule and by the cancellation.
    #[serde(default)]
    pub sequence: u32,
    #[serde(with = "rfc3339")]
    pub start: DateTime<FixedOffset>,
    #[serde(with = "rfc3339")]
    pub end: DateTime<FixedOffset>,
    /// The office's IANA zone name.
    pub timezone: String,
    pub office: Office,
    pub service: Service,
    #[serde(default)]
    pub applicant_name: Option<String>,
}

/// An office as an appointment mail names and locates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Office {
    pub code: String,
    pub name: Localized,
    #[serde(default)]
    pub address: Localized,
}

/// A service as an appointment mail describes it: what to bring and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub code: String,
    pub name: Localized,
    #[serde(default)]
    pub required_documents: Vec<Localized>,
    /// A decimal string such as `25.00`; zero for a free service.
    #[serde(default)]
    pub fee_amount: String,
    #[serde(default)]
    pub fee_currency: String,
}

/// `document_status_changed`. The admin's outbox list reads `tracking_number` from stored rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentStatusChanged {
    #[serde(default)]
    pub full_name: String,
    pub tracking_number: String,
    /// A status code of `document::DocumentStatus`; kept as text so a status added later still
    /// reaches the citizen.
    pub status: String,
    #[serde(default)]
    pub previous_status: Option<String>,
    #[serde(default)]
    pub public_note: Option<String>,
    #[serde(with = "rfc3339")]
    pub changed_at: DateTime<FixedOffset>,
    /// The office's IANA zone name, when the writer gives it; `changed_at` has its offset anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub service: Named,
    pub office: Named,
}

/// An office or service as a document mail names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Named {
    pub code: String,
    pub name: Localized,
}

/// `at` as the office's wall clock, the form every payload instant takes.
pub fn at_office(tz: Tz, at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&tz).fixed_offset()
}

/// Instants as RFC 3339 with whole seconds and a numeric offset (`+00:00`, never `Z`): the form
/// the API shows and rows already stored hold.
mod rfc3339 {
    use chrono::{DateTime, FixedOffset, SecondsFormat};
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, false))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map_err(|_| de::Error::custom(format!("{raw:?} is not an RFC 3339 instant")))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{json, Value};

    use super::*;

    fn localized(s: &str) -> Localized {
        Localized {
            ar: format!("{s} ar"),
            ru: format!("{s} ru"),
            en: format!("{s} en"),
        }
    }

    fn moscow(h: u32) -> DateTime<FixedOffset> {
        at_office(
            chrono_tz::Europe::Moscow,
            Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap(),
        )
    }

    fn appointment() -> AppointmentSummary {
        AppointmentSummary {
            appointment_id: Uuid::from_u128(0x0b7e_7f4e_3f1a_4c55_9d7e_2a1c_1b0c_9d11),
            reference: "MOW-7Q4K-2MZD".into(),
            sequence: 1,
            start: moscow(6),
            end: moscow(7),
            timezone: "Europe/Moscow".into(),
            office: Office {
                code: "MOW".into(),
                name: localized("office"),
                address: localized("address"),
            },
            service: Service {
                code: "passport-renewal".into(),
                name: localized("service"),
                required_documents: vec![localized("passport")],
                fee_amount: "25.00".into(),
                fee_currency: "USD".into(),
            },
            applicant_name: Some("Amal Haddad".into()),
        }
    }

    fn sample(kind: Kind) -> Notification {
        let full_name = "Amal Haddad".to_owned();
        let token = TokenMail {
            full_name: full_name.clone(),
            token: "Zm9vYmFy".into(),
        };
        let booked = AppointmentMail {
            full_name: full_name.clone(),
            appointment: appointment(),
            from_waitlist: false,
        };
        match kind {
            Kind::VerifyEmail => Notification::VerifyEmail(token),
            Kind::PasswordReset => Notification::PasswordReset(token),
            Kind::AccountExists => Notification::AccountExists(Greeting {
                full_name: full_name.clone(),
            }),
            Kind::AppointmentBooked => Notification::AppointmentBooked(booked),
            Kind::AppointmentReminder => Notification::AppointmentReminder(booked),
            Kind::ConfirmationRequest => Notification::ConfirmationRequest(ConfirmationRequest {
                full_name: full_name.clone(),
                appointment: appointment(),
                confirm_until: moscow(5),
            }),
            Kind::AppointmentRescheduled => Notification::AppointmentRescheduled(Rescheduled {
                full_name,
                appointment: appointment(),
                previous_start: moscow(5),
            }),
            Kind::AppointmentCancelled => Notification::AppointmentCancelled(Cancelled {
                full_name,
                appointment: appointment(),
                cancelled_by: CancelledBy::Staff,
                reason: Some("The office is closed".into()),
            }),
            Kind::DocumentStatusChanged => {
                Notification::DocumentStatusChanged(DocumentStatusChanged {
                    full_name,
                    tracking_number: "SY-MOW-2026-000123".into(),
                    status: "ready_for_pickup".into(),
                    previous_status: Some("approved".into()),
                    public_note: None,
                    changed_at: moscow(11),
                    timezone: None,
                    service: Named {
                        code: "passport-renewal".into(),
                        name: localized("service"),
                    },
                    office: Named {
                        code: "MOW".into(),
                        name: localized("office"),
                    },
                })
            }
        }
    }

    #[test]
    fn kind_codes_are_the_stored_ones_and_parse_back() {
        let codes: Vec<_> = Kind::ALL.into_iter().map(Kind::code).collect();
        assert_eq!(
            codes,
            [
                "verify_email",
                "password_reset",
                "appointment_booked",
                "appointment_rescheduled",
                "appointment_cancelled",
                "appointment_reminder",
                "document_status_changed",
                "account_exists",
                "confirmation_request",
            ]
        );
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.code()), Some(kind));
        }
        assert_eq!(Kind::parse("newsletter"), None);
    }

    #[test]
    fn every_kind_maps_to_its_payload_type_and_round_trips() {
        for kind in Kind::ALL {
            let n = sample(kind);
            assert_eq!(n.kind(), kind);
            let stored = serde_json::to_value(&n).unwrap();
            assert!(stored.is_object(), "{kind:?}: the payload alone, untagged");
            let back = Notification::decode(kind, &stored).unwrap();
            assert_eq!(back, n, "{kind:?}");
            assert_eq!(back.kind(), kind);
            assert_eq!(back.full_name(), "Amal Haddad");
        }
    }

    #[test]
    fn a_payload_read_as_another_kind_is_refused() {
        let booked = serde_json::to_value(sample(Kind::AppointmentBooked)).unwrap();
        for kind in [
            Kind::VerifyEmail,
            Kind::AppointmentRescheduled,
            Kind::AppointmentCancelled,
            Kind::DocumentStatusChanged,
        ] {
            assert!(Notification::decode(kind, &booked).is_err(), "{kind:?}");
        }
        assert!(Notification::decode(Kind::AppointmentBooked, &json!({"full_name": "A"})).is_err());
    }

    #[test]
    fn appointment_payload_keeps_the_stored_field_names_and_instant_form() {
        let v = serde_json::to_value(sample(Kind::AppointmentRescheduled)).unwrap();
        assert_eq!(v["appointment_id"], "0b7e7f4e-3f1a-4c55-9d7e-2a1c1b0c9d11");
        assert_eq!(v["start"], "2026-12-01T09:00:00+03:00");
        assert_eq!(v["end"], "2026-12-01T10:00:00+03:00");
        assert_eq!(v["previous_start"], "2026-12-01T08:00:00+03:00");
        assert_eq!(v["office"]["address"]["ru"], "address ru");
        assert_eq!(v["service"]["required_documents"][0]["en"], "passport en");
        assert_eq!(v["service"]["fee_amount"], "25.00");
        assert_eq!(v["sequence"], 1);
        let cancelled = serde_json::to_value(sample(Kind::AppointmentCancelled)).unwrap();
        assert_eq!(cancelled["cancelled_by"], "staff");
        let utc = at_office(
            chrono_tz::UTC,
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        );
        let mut a = appointment();
        a.start = utc;
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["start"], "2026-01-01T00:00:00+00:00");
    }

    #[test]
    fn a_row_written_before_the_typed_contract_decodes() {
        // As `Mail::payload` and `status_changed_payload` wrote them with `json!`.
        let cancelled = json!({
            "full_name": "Amal Haddad",
            "appointment_id": "0b7e7f4e-3f1a-4c55-9d7e-2a1c1b0c9d11",
            "reference": "MOW-7Q4K-2MZD",
            "sequence": 0,
            "start": "2026-12-01T09:00:00+03:00",
            "end": "2026-12-01T09:30:00+03:00",
            "timezone": "Europe/Moscow",
            "office": {"code": "MOW", "name": localized("o"), "address": localized("a")},
            "service": {"code": "s", "name": localized("s"), "required_documents": [],
                        "fee_amount": "0.00", "fee_currency": "USD"},
            "applicant_name": "Amal Haddad",
            "cancelled_by": "citizen",
            "reason": null
        });
        let Notification::AppointmentCancelled(c) =
            Notification::decode(Kind::AppointmentCancelled, &cancelled).unwrap()
        else {
            panic!("not a cancellation");
        };
        assert_eq!(c.cancelled_by, CancelledBy::Citizen);
        assert_eq!(c.reason, None);
        assert_eq!(c.appointment.start, moscow(6));
        let document = json!({
            "full_name": "Amal Haddad",
            "tracking_number": "SY-MOW-2026-000123",
            "status": "ready_for_pickup",
            "previous_status": "approved",
            "public_note": null,
            "changed_at": "2026-12-01T14:00:00+03:00",
            "service": {"code": "s", "name": localized("s")},
            "office": {"code": "MOW", "name": localized("o")}
        });
        let n = Notification::decode(Kind::DocumentStatusChanged, &document).unwrap();
        assert_eq!(serde_json::to_value(&n).unwrap(), document);
    }

    #[test]
    fn the_token_lives_under_the_field_the_outbox_removes_and_debug_hides_it() {
        let n = sample(Kind::PasswordReset);
        let Value::Object(mut stored) = serde_json::to_value(&n).unwrap() else {
            panic!("not an object");
        };
        assert_eq!(
            stored.remove(TokenMail::TOKEN_FIELD),
            Some(json!("Zm9vYmFy"))
        );
        assert_eq!(Value::Object(stored), json!({"full_name": "Amal Haddad"}));
        assert!(!format!("{n:?}").contains("Zm9vYmFy"));
    }
}
