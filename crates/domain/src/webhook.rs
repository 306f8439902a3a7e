//! Webhooks for the ministry's systems: which events exist, what a registration must hold, and
//! how often a failed delivery is tried again.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use serde::Serialize;

use crate::appointment::StaffStep;
use crate::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Event {
    #[serde(rename = "appointment.booked")]
    AppointmentBooked,
    #[serde(rename = "appointment.rescheduled")]
    AppointmentRescheduled,
    #[serde(rename = "appointment.cancelled")]
    AppointmentCancelled,
    #[serde(rename = "appointment.checked_in")]
    AppointmentCheckedIn,
    #[serde(rename = "appointment.no_show")]
    AppointmentNoShow,
    #[serde(rename = "document_request.status_changed")]
    DocumentRequestStatusChanged,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::AppointmentBooked,
        Event::AppointmentRescheduled,
        Event::AppointmentCancelled,
        Event::AppointmentCheckedIn,
        Event::AppointmentNoShow,
        Event::DocumentRequestStatusChanged,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::AppointmentBooked => "appointment.booked",
            Self::AppointmentRescheduled => "appointment.rescheduled",
            Self::AppointmentCancelled => "appointment.cancelled",
            Self::AppointmentCheckedIn => "appointment.checked_in",
            Self::AppointmentNoShow => "appointment.no_show",
            Self::DocumentRequestStatusChanged => "document_request.status_changed",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        Invalid::one_of(field, raw, &Self::ALL, Self::code)
    }

    /// The event a staff step announces; completing a visit is the office's own business.
    pub fn of_step(step: StaffStep) -> Option<Self> {
        match step {
            StaffStep::CheckIn => Some(Self::AppointmentCheckedIn),
            StaffStep::NoShow => Some(Self::AppointmentNoShow),
            StaffStep::Complete => None,
        }
    }
}

/// A signing secret as Standard Webhooks writes it: `whsec_` and the base64 of 24 to 64 random
/// bytes. Signatures are keyed with the decoded bytes. Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    written: String,
    key: Vec<u8>,
}

impl Secret {
    pub const PREFIX: &'static str = "whsec_";
    const BYTES: std::ops::RangeInclusive<usize> = 24..=64;

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let bad = || {
            let (lo, hi) = (Self::BYTES.start(), Self::BYTES.end());
            Invalid::new(
                field,
                format!(
                    "{} followed by the base64 of {lo} to {hi} bytes",
                    Self::PREFIX
                ),
            )
        };
        let encoded = raw.strip_prefix(Self::PREFIX).ok_or_else(bad)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| bad())?;
        if !Self::BYTES.contains(&key.len()) {
            return Err(bad());
        }
        Ok(Self {
            written: raw.to_owned(),
            key,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.written
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// An endpoint: any http or https URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    const MAX_LEN: usize = 2000;

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        let ok = raw.len() <= Self::MAX_LEN
            && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':'))
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                field,
                format!(
                    "an http:// or https:// URL of at most {} characters",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an admin registers.
#[derive(Debug, Clone)]
pub struct Registration {
    pub url: EndpointUrl,
    pub secret: Secret,
    pub events: Vec<Event>,
}

impl Registration {
    pub fn parse(url: &str, secret: &str, events: &[String]) -> Result<Self, Invalid> {
        let mut v = Invalid::collect();
        let url = v.check(EndpointUrl::parse("url", url));
        let secret = v.check(Secret::parse("secret", secret));
        let mut parsed = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if let Some(e) = v.check(Event::parse(&format!("events[{i}]"), e)) {
                if !parsed.contains(&e) {
                    parsed.push(e);
                }
            }
        }
        if events.is_empty() {
            v.check::<()>(Err(Invalid::new("events", "at least one event type")));
        }
        v.finish()?;
        match (url, secret) {
            (Some(url), Some(secret)) => Ok(Self {
                url,
                secret,
                events: parsed,
            }),
            _ => unreachable!("finish() returned Ok, so every field parsed"),
        }
    }
}

/// The waits between attempts, after the Standard Webhooks schedule: soon at first, then
/// spread over a day, so a receiver down for hours still gets every event.
const RETRY_WAITS_SECS: [u64; 7] = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/// How long to wait after `attempts` failed attempts; `None` once the schedule is spent and the
/// delivery is failed (an admin may still replay it).
pub fn retry_after(attempts: u32) -> Option<Duration> {
    let i = usize::try_from(attempts.checked_sub(1)?).ok()?;
    RETRY_WAITS_SECS.get(i).map(|s| Duration::from_secs(*s))
}

/// The attempts a delivery gets before it is failed.
pub const MAX_ATTEMPTS: u32 = RETRY_WAITS_SECS.len() as u32 + 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_of(n: usize) -> String {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
        )
    }

    #[test]
    fn a_secret_is_whsec_and_the_base64_of_24_to_64_bytes() {
        assert_eq!(
            Secret::parse("s", &secret_of(24)).unwrap().key(),
            &[7u8; 24]
        );
        assert!(Secret::parse("s", &secret_of(64)).is_ok());
        for bad in [
            secret_of(23),
            secret_of(65),
            "whsec_!!!".into(),
            "abc".into(),
        ] {
            assert!(Secret::parse("s", &bad).is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", Secret::parse("s", &secret_of(32)).unwrap()),
            "Secret(…)"
        );
    }

    #[test]
    fn an_endpoint_is_an_http_or_https_url_with_a_host() {
        for ok in ["https://ministry.example/hooks", "http://127.0.0.1:9000/x"] {
            assert!(EndpointUrl::parse("url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "http://:80/",
            "https://a b",
            "mailto:a@b",
        ] {
            assert!(EndpointUrl::parse("url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registration_reports_every_bad_field_and_needs_an_event() {
        let e = Registration::parse("nope", "nope", &[]).unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["url", "secret", "events"]);
        let e =
            Registration::parse("https://a.example", &secret_of(32), &["x".into()]).unwrap_err();
        assert_eq!(e.errors[0].field, "events[0]");
        let r = Registration::parse(
            "https://a.example",
            &secret_of(32),
            &["appointment.booked".into(), "appointment.booked".into()],
        )
        .unwrap();
        assert_eq!(r.events, [Event::AppointmentBooked]);
    }

    #[test]
    fn retries_wait_longer_each_time_and_stop_after_the_schedule() {
        assert_eq!(retry_after(0), None);
        assert_eq!(retry_after(1), Some(Duration::from_secs(5)));
        let waits: Vec<Duration> = (1..MAX_ATTEMPTS).map(|n| retry_after(n).unwrap()).collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(retry_after(MAX_ATTEMPTS), None);
    }
}
