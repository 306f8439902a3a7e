//! Single-use tokens sent by mail (address verification, password reset) and the reset-mail
//! throttle.

use chrono::{DateTime, Duration, Utc};

use crate::mail::{Notification, TokenMail};

pub const EMAIL_VERIFICATION_TTL_HOURS: i64 = 48;
pub const PASSWORD_RESET_TTL_MINUTES: i64 = 60;
/// Reset emails one account may be sent per window: enough for a lost mail or two, too few to
/// flood someone's inbox through the always-202 endpoint.
pub const MAX_RESET_EMAILS_PER_WINDOW: i64 = 3;
pub const RESET_EMAIL_WINDOW_MINUTES: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    /// A reset token must be used soon: it is as good as the password it replaces.
    pub fn ttl(self) -> Duration {
        match self {
            Self::VerifyEmail => Duration::hours(EMAIL_VERIFICATION_TTL_HOURS),
            Self::PasswordReset => Duration::minutes(PASSWORD_RESET_TTL_MINUTES),
        }
    }

    pub fn expires_at(self, issued: DateTime<Utc>) -> DateTime<Utc> {
        issued + self.ttl()
    }

    /// The mail that carries the token to `full_name`.
    pub fn mail(self, full_name: String, token: String) -> Notification {
        let mail = TokenMail { full_name, token };
        match self {
            Self::VerifyEmail => Notification::VerifyEmail(mail),
            Self::PasswordReset => Notification::PasswordReset(mail),
        }
    }
}

/// Whether a password-reset request sends a mail. The answer to the client is the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetMail {
    Send,
    Withhold,
}

impl ResetMail {
    /// Reset tokens issued after this instant count against the limit.
    pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::minutes(RESET_EMAIL_WINDOW_MINUTES)
    }

    pub fn decide(sent_in_window: i64) -> Self {
        if sent_in_window < MAX_RESET_EMAILS_PER_WINDOW {
            Self::Send
        } else {
            Self::Withhold
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Kind;

    #[test]
    fn verification_lasts_48_hours_and_reset_one_hour() {
        assert_eq!(Purpose::VerifyEmail.ttl(), Duration::hours(48));
        assert_eq!(Purpose::PasswordReset.ttl(), Duration::hours(1));
    }

    #[test]
    fn each_purpose_has_its_own_mail() {
        let mail = |p: Purpose| p.mail("Amal".into(), "t".into()).kind();
        assert_eq!(mail(Purpose::VerifyEmail), Kind::VerifyEmail);
        assert_eq!(mail(Purpose::PasswordReset), Kind::PasswordReset);
    }

    #[test]
    fn three_reset_mails_per_window_then_none() {
        assert_eq!(ResetMail::decide(0), ResetMail::Send);
        assert_eq!(ResetMail::decide(2), ResetMail::Send);
        assert_eq!(ResetMail::decide(3), ResetMail::Withhold);
        assert_eq!(ResetMail::decide(10), ResetMail::Withhold);
    }

    #[test]
    fn the_reset_window_is_fifteen_minutes() {
        let now = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        assert_eq!(now - ResetMail::window_start(now), Duration::minutes(15));
    }
}
