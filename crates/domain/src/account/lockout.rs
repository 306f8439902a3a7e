//! The sign-in lockout: how many failed passwords an account takes before it is refused a while.

use chrono::{DateTime, Duration, Utc};

use super::Refusal;

/// Failed logins allowed for one email within [`LOCKOUT_WINDOW_MINUTES`] before refusing.
pub const MAX_LOGIN_FAILURES: i64 = 5;
pub const LOCKOUT_WINDOW_MINUTES: i64 = 15;

/// Whether a sign-in may check its password at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockout {
    Allowed,
    /// Refused, even with the right password, until enough failures leave the window.
    Locked {
        retry_after_secs: u64,
    },
}

impl Lockout {
    pub fn window() -> Duration {
        Duration::minutes(LOCKOUT_WINDOW_MINUTES)
    }

    /// Failures at or before this instant no longer count.
    pub fn window_start(now: DateTime<Utc>) -> DateTime<Utc> {
        now - Self::window()
    }

    /// Decides from the account's recorded failure times (any order; those outside the window
    /// are ignored, so the caller may pass only the newest [`MAX_LOGIN_FAILURES`]).
    pub fn check(failures: &[DateTime<Utc>], now: DateTime<Utc>) -> Self {
        let start = Self::window_start(now);
        let mut recent: Vec<DateTime<Utc>> =
            failures.iter().copied().filter(|t| *t > start).collect();
        let max = MAX_LOGIN_FAILURES as usize;
        if recent.len() < max {
            return Self::Allowed;
        }
        recent.sort_unstable_by(|a, b| b.cmp(a));
        // Once the window moves past the max-th newest failure, fewer than max remain in it.
        let unlocks_at = recent[max - 1] + Self::window();
        let secs = (unlocks_at - now).num_seconds().max(1);
        Self::Locked {
            retry_after_secs: u64::try_from(secs).unwrap_or(1),
        }
    }

    pub fn allow(self) -> Result<(), Refusal> {
        match self {
            Self::Allowed => Ok(()),
            Self::Locked { retry_after_secs } => Err(Refusal::Locked { retry_after_secs }),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + Duration::minutes(min)
    }

    #[test]
    fn four_failures_in_the_window_still_allow_a_try() {
        let failures: Vec<_> = (0..4).map(at).collect();
        assert_eq!(Lockout::check(&failures, at(5)), Lockout::Allowed);
    }

    #[test]
    fn the_fifth_failure_locks_until_the_oldest_counted_one_leaves_the_window() {
        let failures: Vec<_> = (0..5).map(at).collect();
        // the 5th newest is at minute 0: it leaves the window at minute 15
        assert_eq!(
            Lockout::check(&failures, at(5)),
            Lockout::Locked {
                retry_after_secs: 10 * 60
            }
        );
        assert_eq!(
            Lockout::check(&failures, at(14)).allow(),
            Err(Refusal::Locked {
                retry_after_secs: 60
            })
        );
        assert_eq!(Lockout::check(&failures, at(15)), Lockout::Allowed);
    }

    #[test]
    fn only_the_newest_failures_decide_when_it_unlocks() {
        // seven failures: the 5th newest (minute 2) decides, not the oldest
        let mut failures: Vec<_> = (0..7).map(at).collect();
        failures.reverse();
        assert_eq!(
            Lockout::check(&failures, at(7)),
            Lockout::Locked {
                retry_after_secs: 10 * 60
            }
        );
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let failures: Vec<_> = [-30, -20, -16, 0, 1].into_iter().map(at).collect();
        assert_eq!(Lockout::check(&failures, at(2)), Lockout::Allowed);
    }

    #[test]
    fn retry_after_is_at_least_a_second() {
        let mut failures: Vec<_> = (0..5).map(at).collect();
        failures[0] = at(0) + Duration::milliseconds(1);
        let now = at(15);
        assert_eq!(
            Lockout::check(&failures, now),
            Lockout::Locked {
                retry_after_secs: 1
            }
        );
    }
}
