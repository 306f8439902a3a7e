//! How long personal data is kept (152-FZ): the periods of the retention purge and the instants
//! before which each kind of record is purged.

use chrono::{DateTime, Duration, Months, Utc};

/// The retention periods; [`Default`] holds the contract's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Idempotency records of bookings.
    pub idempotency_hours: u32,
    /// Counters of failed sign-ins.
    pub login_failure_hours: u32,
    /// Bodies of delivered mail (their kind, language and times stay).
    pub mail_body_days: u32,
    /// Identity numbers and dates of birth of appointments and document requests that ended.
    pub identity_years: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            idempotency_hours: 24,
            login_failure_hours: 24,
            mail_body_days: 30,
            identity_years: 3,
        }
    }
}

/// The instants before which each kind of record goes. A period reaching past the calendar's
/// start keeps everything (the earliest instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub idempotency: DateTime<Utc>,
    pub login_failures: DateTime<Utc>,
    pub mail_bodies: DateTime<Utc>,
    pub identities: DateTime<Utc>,
}

impl RetentionPolicy {
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        let back = |d: Duration| {
            now.checked_sub_signed(d)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        Cutoffs {
            idempotency: back(Duration::hours(i64::from(self.idempotency_hours))),
            login_failures: back(Duration::hours(i64::from(self.login_failure_hours))),
            mail_bodies: back(Duration::days(i64::from(self.mail_body_days))),
            identities: now
                .checked_sub_months(Months::new(self.identity_years.saturating_mul(12)))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_default_periods_are_the_contracts() {
        let now = Utc.with_ymd_and_hms(2029, 12, 1, 12, 0, 0).unwrap();
        let c = RetentionPolicy::default().cutoffs(now);
        assert_eq!(c.idempotency, now - Duration::hours(24));
        assert_eq!(c.login_failures, now - Duration::hours(24));
        assert_eq!(c.mail_bodies, now - Duration::days(30));
        assert_eq!(
            c.identities,
            Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_period_past_the_calendars_start_keeps_everything() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let c = RetentionPolicy {
            identity_years: u32::MAX,
            ..RetentionPolicy::default()
        }
        .cutoffs(now);
        assert_eq!(c.identities, DateTime::<Utc>::MIN_UTC);
    }
}
