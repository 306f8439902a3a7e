//! Outgoing email as the outbox tracks it: where a notification stands, and what an admin may
//! do with it.

use crate::error::Invalid;

/// Where a queued notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationStatus {
    /// Waiting for (another) attempt.
    Pending,
    Sent,
    /// Attempts ran out; only an admin's retry sends it again.
    Failed,
    /// Withdrawn before it was sent (a reminder whose appointment went away).
    Cancelled,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 4] =
        [Self::Pending, Self::Sent, Self::Failed, Self::Cancelled];

    pub fn code(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        Invalid::one_of(field, raw, &Self::ALL, Self::code)
    }

    /// An admin may send a notification again only once its attempts have run out: a pending
    /// one is still being tried, and a sent or withdrawn one must not go out twice.
    pub fn can_retry(self) -> bool {
        self == Self::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_name_the_choices() {
        for s in NotificationStatus::ALL {
            assert_eq!(NotificationStatus::parse("status", s.code()), Ok(s));
        }
        let err = NotificationStatus::parse("status", "lost").unwrap_err();
        assert_eq!(err.errors[0].field, "status");
        assert_eq!(
            err.errors[0].message,
            "one of pending, sent, failed, cancelled"
        );
    }

    #[test]
    fn only_a_failed_notification_may_be_retried() {
        for s in NotificationStatus::ALL {
            assert_eq!(s.can_retry(), s == NotificationStatus::Failed, "{s:?}");
        }
    }
}
