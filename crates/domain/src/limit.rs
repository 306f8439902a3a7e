//! Rate limits: which ones exist, their defaults, how `COUNT/SECONDS` is written, and the
//! decision on one more hit in a fixed window. The counting itself is one statement in
//! PostgreSQL (so it holds across server processes); this module only names and decides.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// Every rate limit, each settable as `MAWID_LIMIT_<NAME>=COUNT/SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitName {
    /// Registrations per client address.
    Register,
    /// Sign-in attempts per client address, all accounts together.
    Login,
    /// Failed sign-ins per account and client address: the lockout a stranger cannot extend to
    /// the owner's other addresses.
    LoginFailures,
    /// Failed sign-ins per account from every address: slows a distributed guesser.
    LoginAccount,
    /// Reset requests and confirmations per client address.
    PasswordReset,
    /// Reset mails per account, so an address cannot be flooded with them.
    ResetMail,
    /// Verifications and resends per client address.
    Verify,
    /// Verification mails per account.
    VerifyMail,
    /// Public tracking lookups per client address.
    Track,
    /// Failed lookups per tracking number, from every address.
    TrackFailures,
    /// Bookings, reschedules and cancellations per citizen.
    Booking,
    /// Waitlist joins per citizen.
    Waitlist,
    /// Document requests per citizen.
    DocumentRequest,
}

impl LimitName {
    pub const ALL: [LimitName; 13] = [
        Self::Register,
        Self::Login,
        Self::LoginFailures,
        Self::LoginAccount,
        Self::PasswordReset,
        Self::ResetMail,
        Self::Verify,
        Self::VerifyMail,
        Self::Track,
        Self::TrackFailures,
        Self::Booking,
        Self::Waitlist,
        Self::DocumentRequest,
    ];

    /// The name as in the environment variable and in the counter table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "REGISTER",
            Self::Login => "LOGIN",
            Self::LoginFailures => "LOGIN_FAILURES",
            Self::LoginAccount => "LOGIN_ACCOUNT",
            Self::PasswordReset => "PASSWORD_RESET",
            Self::ResetMail => "RESET_MAIL",
            Self::Verify => "VERIFY",
            Self::VerifyMail => "VERIFY_MAIL",
            Self::Track => "TRACK",
            Self::TrackFailures => "TRACK_FAILURES",
            Self::Booking => "BOOKING",
            Self::Waitlist => "WAITLIST",
            Self::DocumentRequest => "DOCUMENT_REQUEST",
        }
    }

    /// The environment variable that sets it.
    pub fn env_var(self) -> String {
        format!("MAWID_LIMIT_{}", self.as_str())
    }

    /// The contract's default (product.md v1.1, "Abuse limits").
    pub fn default_rate(self) -> Rate {
        let (count, secs) = match self {
            Self::Register => (20, 3600),
            Self::Login => (30, 900),
            Self::LoginFailures => (5, 900),
            Self::LoginAccount => (100, 3600),
            Self::PasswordReset => (10, 3600),
            Self::ResetMail => (3, 900),
            Self::Verify => (20, 3600),
            Self::VerifyMail => (3, 900),
            Self::Track => (10, 600),
            Self::TrackFailures => (20, 86400),
            Self::Booking => (20, 3600),
            Self::Waitlist => (10, 3600),
            Self::DocumentRequest => (10, 86400),
        };
        Rate { count, secs }
    }
}

impl fmt::Display for LimitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `count` hits per fixed window of `secs` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub secs: u32,
}

/// The answer to one more hit in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused; the client may try again after this many seconds (at least one).
    RetryAfter(u64),
}

impl Rate {
    /// Longest window accepted: a year.
    pub const MAX_SECS: u32 = 366 * 86400;

    /// `COUNT/SECONDS`, e.g. `20/3600`; a window of 1 s to a year. A count of 0 refuses all.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "must be COUNT/SECONDS (e.g. 20/3600, 1 to {} seconds), got {raw}",
                Self::MAX_SECS
            )
        };
        let (count, secs) = raw.trim().split_once('/').ok_or_else(bad)?;
        let count = count.trim().parse::<u32>().map_err(|_| bad())?;
        let secs = secs.trim().parse::<u32>().map_err(|_| bad())?;
        if secs == 0 || secs > Self::MAX_SECS {
            return Err(bad());
        }
        Ok(Self { count, secs })
    }

    pub fn window(&self) -> Duration {
        Duration::seconds(i64::from(self.secs.max(1)))
    }

    /// The start of the window holding `now`.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let secs = i64::from(self.secs.max(1));
        DateTime::<Utc>::from_timestamp(now.timestamp().div_euclid(secs) * secs, 0).unwrap_or(now)
    }

    /// When the window holding `now` ends; its counter is useless afterwards.
    pub fn window_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.window_start(now) + self.window()
    }

    /// The decision on the `hits`-th hit (itself included) of the window holding `now`.
    pub fn decide(&self, hits: i64, now: DateTime<Utc>) -> Decision {
        if hits <= i64::from(self.count) {
            return Decision::Allowed;
        }
        let secs = (self.window_end(now) - now).num_seconds().max(1);
        Decision::RetryAfter(secs.unsigned_abs())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.secs)
    }
}

/// The rate of every limit: the defaults, each overridable.
#[derive(Debug, Clone)]
pub struct Limits {
    rates: [Rate; LimitName::ALL.len()],
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rates: LimitName::ALL.map(LimitName::default_rate),
        }
    }
}

impl Limits {
    fn index(name: LimitName) -> usize {
        LimitName::ALL
            .iter()
            .position(|n| *n == name)
            .expect("ALL lists every name")
    }

    pub fn rate(&self, name: LimitName) -> Rate {
        self.rates[Self::index(name)]
    }

    pub fn set(&mut self, name: LimitName, rate: Rate) {
        self.rates[Self::index(name)] = rate;
    }

    /// Every limit at `rate` (a benchmark or a test that is not about limits).
    pub fn all(rate: Rate) -> Self {
        Self {
            rates: [rate; LimitName::ALL.len()],
        }
    }

    /// The same limits with `name` at `rate`.
    pub fn with(mut self, name: LimitName, rate: Rate) -> Self {
        self.set(name, rate);
        self
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_contract_defaults() {
        let l = Limits::default();
        let r = |n| l.rate(n).to_string();
        assert_eq!(r(LimitName::Register), "20/3600");
        assert_eq!(r(LimitName::Login), "30/900");
        assert_eq!(r(LimitName::LoginFailures), "5/900");
        assert_eq!(r(LimitName::LoginAccount), "100/3600");
        assert_eq!(r(LimitName::PasswordReset), "10/3600");
        assert_eq!(r(LimitName::Verify), "20/3600");
        assert_eq!(r(LimitName::Track), "10/600");
        assert_eq!(r(LimitName::TrackFailures), "20/86400");
        assert_eq!(r(LimitName::Booking), "20/3600");
        assert_eq!(r(LimitName::Waitlist), "10/3600");
        assert_eq!(r(LimitName::DocumentRequest), "10/86400");
        assert_eq!(LimitName::Waitlist.env_var(), "MAWID_LIMIT_WAITLIST");
    }

    #[test]
    fn rates_parse_as_count_slash_seconds() {
        assert_eq!(
            Rate::parse("20/3600"),
            Ok(Rate {
                count: 20,
                secs: 3600
            })
        );
        assert_eq!(Rate::parse(" 0 / 1 "), Ok(Rate { count: 0, secs: 1 }));
        for bad in [
            "",
            "20",
            "20/",
            "/60",
            "20/0",
            "-1/60",
            "1.5/60",
            "20/99999999",
            "a/b",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_window_allows_count_hits_then_waits_for_its_end() {
        let rate = Rate {
            count: 10,
            secs: 600,
        };
        let now = at("2026-11-23T10:07:30Z");
        assert_eq!(rate.window_start(now), at("2026-11-23T10:00:00Z"));
        assert_eq!(rate.decide(1, now), Decision::Allowed);
        assert_eq!(rate.decide(10, now), Decision::Allowed);
        assert_eq!(rate.decide(11, now), Decision::RetryAfter(150));
        // the last instant of a window still waits a whole second
        assert_eq!(
            rate.decide(11, at("2026-11-23T10:09:59.900Z")),
            Decision::RetryAfter(1)
        );
        // a count of zero refuses the first hit
        assert_eq!(
            Rate { count: 0, secs: 1 }.decide(1, now),
            Decision::RetryAfter(1)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(raw in ".{0,24}") {
            if let Ok(rate) = Rate::parse(&raw) {
                prop_assert_eq!(Rate::parse(&rate.to_string()), Ok(rate));
            }
        }

        #[test]
        fn retry_after_is_within_the_window(
            count in 0u32..100, secs in 1u32..100_000, hits in 0i64..1000, t in 0i64..4_000_000_000,
        ) {
            let rate = Rate { count, secs };
            let now = DateTime::<Utc>::from_timestamp(t, 0).unwrap();
            prop_assert!(rate.window_start(now) <= now && now < rate.window_end(now));
            match rate.decide(hits, now) {
                Decision::Allowed => prop_assert!(hits <= i64::from(count)),
                Decision::RetryAfter(s) => {
                    prop_assert!(hits > i64::from(count));
                    prop_assert!(s >= 1 && s <= u64::from(secs));
                }
            }
        }
    }
}
