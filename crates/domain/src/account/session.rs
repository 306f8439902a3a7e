//! Sessions: short-lived access tokens and refresh tokens rotated on use, one family per sign-in.

use chrono::{DateTime, Duration, Utc};

use super::Refusal;

pub const ACCESS_TOKEN_TTL_SECONDS: i64 = 15 * 60;
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;

/// When a refresh token minted at `now` stops working.
pub fn refresh_expires_at(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(REFRESH_TOKEN_TTL_DAYS)
}

/// What the database remembers of one refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRefresh {
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    Fresh,
    /// Already rotated. Checked first: a rotated token that comes back means someone holds a
    /// copy, whatever else has happened to it since.
    Used,
    Revoked,
    Expired,
}

impl RefreshState {
    pub fn of(t: &StoredRefresh, now: DateTime<Utc>) -> Self {
        if t.used_at.is_some() {
            Self::Used
        } else if t.revoked_at.is_some() {
            Self::Revoked
        } else if t.expires_at <= now {
            Self::Expired
        } else {
            Self::Fresh
        }
    }

    /// What presenting a token in this state does.
    pub fn rotation(self) -> Rotation {
        match self {
            Self::Fresh => Rotation::Rotate,
            Self::Used => Rotation::RevokeFamily,
            Self::Revoked | Self::Expired => Rotation::Refuse,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Mark the token used and mint its successor in the same family.
    Rotate,
    /// Reuse: cut off the whole sign-in, then refuse.
    RevokeFamily,
    Refuse,
}

impl Rotation {
    /// The answer to the client when the token does not rotate.
    pub fn refusal(self) -> Option<Refusal> {
        match self {
            Self::Rotate => None,
            Self::RevokeFamily => Some(Refusal::RefreshTokenReused),
            Self::Refuse => Some(Refusal::InvalidRefreshToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
    }

    fn token() -> StoredRefresh {
        StoredRefresh {
            expires_at: refresh_expires_at(now() - Duration::days(1)),
            used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_fresh_token_rotates() {
        assert_eq!(RefreshState::of(&token(), now()), RefreshState::Fresh);
        assert_eq!(RefreshState::Fresh.rotation(), Rotation::Rotate);
        assert_eq!(Rotation::Rotate.refusal(), None);
    }

    #[test]
    fn a_used_token_revokes_its_family_even_when_also_revoked_or_expired() {
        let used = StoredRefresh {
            used_at: Some(now() - Duration::hours(1)),
            ..token()
        };
        let revoked_too = StoredRefresh {
            revoked_at: Some(now()),
            ..used
        };
        let expired_too = StoredRefresh {
            expires_at: now(),
            ..used
        };
        for t in [used, revoked_too, expired_too] {
            assert_eq!(RefreshState::of(&t, now()), RefreshState::Used);
        }
        assert_eq!(RefreshState::Used.rotation(), Rotation::RevokeFamily);
        assert_eq!(
            Rotation::RevokeFamily.refusal(),
            Some(Refusal::RefreshTokenReused)
        );
    }

    #[test]
    fn revoked_and_expired_tokens_are_refused_without_revoking() {
        let revoked = StoredRefresh {
            revoked_at: Some(now()),
            ..token()
        };
        let expired = StoredRefresh {
            expires_at: now(),
            ..token()
        };
        assert_eq!(RefreshState::of(&revoked, now()), RefreshState::Revoked);
        assert_eq!(RefreshState::of(&expired, now()), RefreshState::Expired);
        for s in [RefreshState::Revoked, RefreshState::Expired] {
            assert_eq!(s.rotation(), Rotation::Refuse);
        }
        assert_eq!(
            Rotation::Refuse.refusal(),
            Some(Refusal::InvalidRefreshToken)
        );
    }

    #[test]
    fn refresh_tokens_last_thirty_days() {
        assert_eq!(refresh_expires_at(now()) - now(), Duration::days(30));
    }
}
