//! Single-use tokens sent by mail (address verification, password reset). How many mails an
//! account is sent is a rate limit (`crate::limit`: `RESET_MAIL`, `VERIFY_MAIL`).

use chrono::{DateTime, Duration, Utc};

use crate::mail::{Notification, TokenMail};

pub const EMAIL_VERIFICATION_TTL_HOURS: i64 = 48;
pub const PASSWORD_RESET_TTL_MINUTES: i64 = 60;

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
}
