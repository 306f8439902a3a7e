//! Accounts: who may sign in, how they are reached, and what they may do.

pub mod one_time;
pub mod session;
pub mod staff;

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::Code;

pub use one_time::{Purpose, EMAIL_VERIFICATION_TTL_HOURS, PASSWORD_RESET_TTL_MINUTES};
pub use session::{
    RefreshState, Rotation, StoredRefresh, ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_DAYS,
};

/// An email address, trimmed and lower-cased so uniqueness is case-insensitive.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_lowercase();
        let bad = || Invalid::new("email", "a valid email address such as name@example.org");
        if v.len() > Self::MAX_LEN || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(bad());
        }
        Ok(Self(v))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.split_once('@').map(|(_, d)| d).unwrap_or("");
        write!(f, "Email(…@{domain})")
    }
}

/// A password as typed. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const LEN: RangeInclusive<usize> = 10..=128;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::parse_as("password", raw)
    }

    /// Parses a password sent under another field name, such as `new_password`.
    pub fn parse_as(field: &str, raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if Self::LEN.contains(&n) {
            return Ok(Self(raw.to_owned()));
        }
        let (lo, hi) = (Self::LEN.start(), Self::LEN.end());
        Err(Invalid::new(field, format!("{lo} to {hi} characters")))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A person's full name as written in their passport, in any script.
#[derive(Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    pub const LEN: RangeInclusive<usize> = 2..=200;

    /// Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): in a
    /// name they can make a printed list or a mail show text in another order than stored.
    pub fn is_bidi_control(c: char) -> bool {
        matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let v = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = v.chars().count();
        if v.chars()
            .any(|c| c.is_control() || Self::is_bidi_control(c))
        {
            return Err(Invalid::new(
                field,
                "no control or bidirectional formatting characters",
            ));
        }
        if Self::LEN.contains(&n) {
            return Ok(Self(v));
        }
        let (lo, hi) = (Self::LEN.start(), Self::LEN.end());
        Err(Invalid::new(field, format!("{lo} to {hi} characters")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FullName(…)")
    }
}

/// A phone number: digits with an optional leading `+`, spaces and dashes dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    const DIGITS: RangeInclusive<usize> = 7..=15;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = v.strip_prefix('+').unwrap_or(&v);
        if Self::DIGITS.contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self(v));
        }
        let (lo, hi) = (Self::DIGITS.start(), Self::DIGITS.end());
        Err(Invalid::new(
            "phone",
            format!("{lo} to {hi} digits, optionally starting with +"),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Phone(…)")
    }
}

/// Passport number as printed, of a citizen or a family member. Debug shows only the last two
/// characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PassportNo(String);

impl PassportNo {
    const LEN: RangeInclusive<usize> = 6..=12;

    /// Parses the applicant's passport number.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::parse_as("applicant.passport_number", raw)
    }

    /// Parses a passport number sent in `field` (the applicant's, or the profile's own).
    pub fn parse_as(field: &str, raw: &str) -> Result<Self, Invalid> {
        let v = raw
            .split_whitespace()
            .collect::<String>()
            .to_ascii_uppercase();
        if Self::LEN.contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok(Self(v));
        }
        let (lo, hi) = (Self::LEN.start(), Self::LEN.end());
        Err(Invalid::new(field, format!("{lo}-{hi} letters or digits")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PassportNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PassportNo(…{})", &self.0[self.0.len() - 2..])
    }
}

/// The Syrian national number (الرقم الوطني): 11 digits, for an applicant without a passport
/// yet (a first passport, a child). Debug shows only the last two digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NationalNo(String);

impl NationalNo {
    pub const DIGITS: usize = 11;

    pub fn parse_as(field: &str, raw: &str) -> Result<Self, Invalid> {
        let v: String = raw.split_whitespace().collect();
        if v.len() == Self::DIGITS && v.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self(v));
        }
        Err(Invalid::new(field, format!("{} digits", Self::DIGITS)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NationalNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NationalNo(…{})", &self.0[self.0.len() - 2..])
    }
}

/// The identity document an applicant is counted by: fair-use caps per identity treat passport
/// and national numbers alike, so a bot cannot escape them by switching kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Passport(PassportNo),
    National(NationalNo),
}

impl Identity {
    /// The number in a form that is unique across both kinds (the lock and cap key).
    pub fn key(&self) -> String {
        match self {
            Self::Passport(p) => format!("P:{}", p.as_str()),
            Self::National(n) => format!("N:{}", n.as_str()),
        }
    }

    pub fn passport(&self) -> Option<&str> {
        match self {
            Self::Passport(p) => Some(p.as_str()),
            Self::National(_) => None,
        }
    }

    pub fn national(&self) -> Option<&str> {
        match self {
            Self::National(n) => Some(n.as_str()),
            Self::Passport(_) => None,
        }
    }

    /// Rebuilds a stored identity; `None` when neither column holds a number (a booking made
    /// before identities were required).
    pub fn stored(passport: Option<&str>, national: Option<&str>) -> Option<Self> {
        match (passport, national) {
            (Some(p), _) => Some(Self::Passport(PassportNo(p.to_owned()))),
            (None, Some(n)) => Some(Self::National(NationalNo(n.to_owned()))),
            (None, None) => None,
        }
    }

    /// The identity of a request's `passport_number` and `national_number` fields (under
    /// `prefix`, e.g. `applicant.`): at most one of them; `None` when neither was sent.
    pub fn parse(
        prefix: &str,
        passport: Option<&str>,
        national: Option<&str>,
    ) -> Result<Option<Self>, Invalid> {
        let passport_field = format!("{prefix}passport_number");
        match (passport, national) {
            (Some(_), Some(_)) => Err(Invalid::new(
                &passport_field,
                "send passport_number or national_number, not both",
            )),
            (Some(p), None) => Ok(Some(Self::Passport(PassportNo::parse_as(
                &passport_field,
                p,
            )?))),
            (None, Some(n)) => Ok(Some(Self::National(NationalNo::parse_as(
                &format!("{prefix}national_number"),
                n,
            )?))),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Ar,
    Ru,
    En,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Ar, Language::Ru, Language::En];

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|l| l.code() == raw)
            .ok_or_else(|| Invalid::new("preferred_language", "one of ar, ru, en"))
    }

    /// The language an `Accept-Language` header (RFC 9110 §12.5.4) prefers among ours: the
    /// highest weight wins, ties go to the one listed first, a region (`ru-RU`) counts as its
    /// language, `q=0` excludes; English when nothing matches.
    pub fn negotiate(header: Option<&str>) -> Self {
        let mut best: Option<(u16, Self)> = None;
        for item in header.unwrap_or("").split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let weight = parts
                .find_map(|p| {
                    let (k, v) = p.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("q")
                        .then(|| quality(v.trim()))
                })
                .unwrap_or(Some(1000));
            let Some(weight) = weight.filter(|w| *w > 0) else {
                continue;
            };
            let primary = tag.split('-').next().unwrap_or("");
            let lang = if primary == "*" {
                Some(Self::En)
            } else {
                Self::ALL
                    .into_iter()
                    .find(|l| l.code().eq_ignore_ascii_case(primary))
            };
            if let Some(lang) = lang {
                if best.is_none_or(|(w, _)| weight > w) {
                    best = Some((weight, lang));
                }
            }
        }
        best.map_or(Self::En, |(_, l)| l)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Ar => "ar",
            Self::Ru => "ru",
            Self::En => "en",
        }
    }
}

/// An RFC 9110 `qvalue` in thousandths (`0.5` is 500); `None` when malformed.
fn quality(raw: &str) -> Option<u16> {
    let (int, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Citizen,
    Officer,
    Admin,
}

impl Role {
    /// The roles a staff account may hold.
    pub const STAFF: [Role; 2] = [Role::Officer, Role::Admin];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "citizen" => Some(Self::Citizen),
            "officer" => Some(Self::Officer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// Roles an admin may give a staff account.
    pub fn parse_staff(raw: &str) -> Result<Self, Invalid> {
        match Self::parse(raw) {
            Some(r) if r.is_staff() => Ok(r),
            _ => Err(Invalid::new("role", "officer or admin")),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Officer => "officer",
            Self::Admin => "admin",
        }
    }

    pub fn is_staff(self) -> bool {
        Self::STAFF.contains(&self)
    }

    /// Whether this role may do what `needed` may: an admin does everything an officer does.
    pub fn satisfies(self, needed: Role) -> bool {
        match needed {
            Role::Citizen => self == Role::Citizen,
            Role::Officer => self.is_staff(),
            Role::Admin => self == Role::Admin,
        }
    }
}

/// An account about to be created: a citizen signing up, or a staff member an admin adds.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub full_name: FullName,
    pub language: Language,
    pub phone: Option<Phone>,
    pub role: Role,
}

impl NewAccount {
    /// A citizen proves the address with the mailed token; an admin vouches for a staff address,
    /// which has no self-service sign-up to verify.
    pub fn verified_on_creation(&self) -> bool {
        self.role.is_staff()
    }
}

/// Changes to one's own profile; a field left `None` stays as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub full_name: Option<FullName>,
    pub language: Option<Language>,
    /// `Some(None)` clears the phone.
    pub phone: Option<Option<Phone>>,
    /// `Some(None)` clears the number.
    pub passport_number: Option<Option<PassportNo>>,
    pub national_number: Option<Option<NationalNo>>,
}

/// An account's standing as read on every authenticated request: its current role (a demotion
/// holds from the next request, whatever the token says), whether it was deactivated (staff) or
/// suspended (a citizen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub role: Role,
    pub deactivated: bool,
    pub suspended: bool,
}

impl Standing {
    /// The role a request of this account acts with, or why it is refused.
    pub fn admit(standing: Option<Standing>) -> Result<Role, Refusal> {
        match standing {
            None => Err(Refusal::AccountGone),
            Some(s) if s.deactivated => Err(Refusal::AccountDeactivated),
            Some(s) if s.suspended => Err(Refusal::Suspended),
            Some(s) => Ok(s.role),
        }
    }
}

/// Why a sign-in, a token or a session is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// One answer for an unknown email and a wrong password, so it tells nobody who has an account.
    #[error("the email or the password is wrong")]
    InvalidCredentials,
    #[error("too many failed sign-ins for this account; wait and try again")]
    Locked { retry_after_secs: u64 },
    #[error("the token is unknown, already used or expired")]
    InvalidOneTimeToken,
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("this refresh token was already used; sign in again")]
    RefreshTokenReused,
    #[error("the account behind this token no longer exists")]
    AccountGone,
    #[error("this account is suspended")]
    Suspended,
    #[error("this account has been deactivated")]
    AccountDeactivated,
    #[error("the last active admin cannot be demoted or deactivated")]
    LastAdmin,
}

impl Refusal {
    pub fn code(self) -> Code {
        match self {
            Self::InvalidCredentials => Code::InvalidCredentials,
            Self::Locked { .. } => Code::TooManyLoginAttempts,
            Self::InvalidOneTimeToken => Code::InvalidOrExpiredToken,
            Self::InvalidRefreshToken => Code::InvalidRefreshToken,
            Self::RefreshTokenReused => Code::RefreshTokenReused,
            Self::AccountGone => Code::InvalidToken,
            Self::Suspended => Code::AccountSuspended,
            Self::AccountDeactivated => Code::AccountDeactivated,
            Self::LastAdmin => Code::LastAdmin,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    #[test]
    fn names_with_bidi_or_control_characters_are_refused() {
        for bad in [
            "Amal\u{202E}lamA",
            "Amal \u{2066}x\u{2069}",
            "Am\u{0000}al",
            "Am\u{202A}al",
        ] {
            let err = FullName::parse("full_name", bad).unwrap_err();
            assert_eq!(err.errors[0].field, "full_name", "{bad:?}");
        }
        assert!(FullName::parse("full_name", "أمل حداد").is_ok());
        assert!(FullName::parse("full_name", "Амаль Хаддад").is_ok());
    }

    proptest! {
        #[test]
        fn a_parsed_name_never_holds_a_control_or_bidi_character(raw in any::<String>()) {
            if let Ok(name) = FullName::parse("full_name", &raw) {
                prop_assert!(!name.as_str().chars().any(|c| c.is_control() || FullName::is_bidi_control(c)));
                prop_assert!(FullName::LEN.contains(&name.as_str().chars().count()));
                // parsing is idempotent
                let again = FullName::parse("full_name", name.as_str()).unwrap();
                prop_assert_eq!(again.as_str(), name.as_str());
            }
        }

        #[test]
        fn a_parsed_email_is_lower_case_trimmed_and_has_one_at(raw in "[ a-zA-Z0-9.@_+-]{0,40}") {
            if let Ok(e) = Email::parse(&raw) {
                prop_assert_eq!(e.as_str(), e.as_str().trim().to_lowercase());
                prop_assert_eq!(e.as_str().matches('@').count(), 1);
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }

        #[test]
        fn phone_and_password_parsers_never_panic(raw in any::<String>()) {
            let _ = Phone::parse(&raw);
            let _ = Password::parse(&raw);
            let _ = Language::parse(&raw);
        }
    }

    use super::*;

    #[test]
    fn an_identity_is_a_passport_or_an_eleven_digit_national_number_never_both() {
        let p = Identity::parse("applicant.", Some("n1234567"), None).unwrap();
        assert_eq!(p.as_ref().and_then(Identity::passport), Some("N1234567"));
        let n = Identity::parse("", None, Some("010 2030 4050"))
            .unwrap()
            .unwrap();
        assert_eq!(n.national(), Some("01020304050"));
        assert_eq!(format!("{n:?}"), "National(NationalNo(…50))");
        assert_ne!(n.key(), p.unwrap().key());
        assert_eq!(Identity::parse("", None, None).unwrap(), None);
        let e = Identity::parse("applicant.", None, Some("123")).unwrap_err();
        assert_eq!(e.errors[0].field, "applicant.national_number");
        let e = Identity::parse("", Some("N1234567"), Some("01020304050")).unwrap_err();
        assert_eq!(e.errors[0].field, "passport_number");
    }

    #[test]
    fn accept_language_picks_our_best_weighted_language_and_defaults_to_english() {
        let n = |h: &str| Language::negotiate(Some(h));
        assert_eq!(Language::negotiate(None), Language::En);
        assert_eq!(n(""), Language::En);
        assert_eq!(n("ar"), Language::Ar);
        assert_eq!(n("ru-RU,ru;q=0.9,en-US;q=0.8"), Language::Ru);
        assert_eq!(n("de, en;q=0.5, ar;q=0.7"), Language::Ar);
        assert_eq!(n("fr"), Language::En);
        assert_eq!(n("AR-SY"), Language::Ar);
        assert_eq!(n("ru;q=0, ar;q=0.1"), Language::Ar);
        assert_eq!(n("ru;q=0"), Language::En);
        assert_eq!(n("ru;q=2, ar;q=0.3"), Language::Ar);
        assert_eq!(n("ar;q=0.5, ru;q=0.5"), Language::Ar);
        assert_eq!(n("*;q=0.9, ru"), Language::Ru);
    }

    #[test]
    fn a_request_acts_with_the_stored_role_and_a_deactivated_or_gone_account_is_refused() {
        let officer = Standing {
            role: Role::Officer,
            deactivated: false,
            suspended: false,
        };
        assert_eq!(Standing::admit(Some(officer)), Ok(Role::Officer));
        let off = Standing {
            deactivated: true,
            ..officer
        };
        assert_eq!(Standing::admit(Some(off)), Err(Refusal::AccountDeactivated));
        assert_eq!(Standing::admit(None), Err(Refusal::AccountGone));
        let citizen = Standing {
            role: Role::Citizen,
            suspended: true,
            ..officer
        };
        assert_eq!(Standing::admit(Some(citizen)), Err(Refusal::Suspended));
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Amal.Haddad@Example.ORG ").unwrap().as_str(),
            "amal.haddad@example.org"
        );
    }

    #[test]
    fn email_without_at_or_domain_dot_is_refused() {
        for bad in [
            "amal",
            "amal@",
            "@example.org",
            "amal@example",
            "a b@example.org",
            "amal@.org",
            "amal@x..org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn email_debug_hides_the_local_part() {
        let e = Email::parse("amal@example.org").unwrap();
        assert_eq!(format!("{e:?}"), "Email(…@example.org)");
    }

    #[test]
    fn password_length_bounds_are_10_and_128_characters() {
        assert!(Password::parse(&"a".repeat(9)).is_err());
        assert!(Password::parse(&"a".repeat(10)).is_ok());
        assert!(Password::parse(&"a".repeat(128)).is_ok());
        assert!(Password::parse(&"a".repeat(129)).is_err());
        // characters, not bytes: ten Arabic letters are twenty bytes
        assert!(Password::parse(&"ب".repeat(10)).is_ok());
        assert!(Password::parse(&"ب".repeat(65)).is_ok());
    }

    #[test]
    fn password_debug_never_shows_it() {
        assert_eq!(
            format!("{:?}", Password::parse("supersecret1").unwrap()),
            "Password(…)"
        );
    }

    #[test]
    fn language_codes_round_trip_and_others_are_refused() {
        for l in Language::ALL {
            assert_eq!(Language::parse(l.code()).unwrap(), l);
        }
        assert!(Language::parse("fr").is_err());
        assert!(Language::parse("AR").is_err());
    }

    #[test]
    fn admin_satisfies_officer_but_not_the_reverse() {
        assert!(Role::Admin.satisfies(Role::Officer));
        assert!(Role::Admin.satisfies(Role::Admin));
        assert!(Role::Officer.satisfies(Role::Officer));
        assert!(!Role::Officer.satisfies(Role::Admin));
        assert!(!Role::Citizen.satisfies(Role::Officer));
        assert!(!Role::Officer.satisfies(Role::Citizen));
    }

    #[test]
    fn staff_roles_exclude_citizen() {
        assert!(Role::parse_staff("citizen").is_err());
        assert_eq!(Role::parse_staff("officer").unwrap(), Role::Officer);
        assert_eq!(Role::parse_staff("admin").unwrap(), Role::Admin);
        assert!(Role::parse_staff("root").is_err());
        assert!(Role::STAFF.iter().all(|r| r.is_staff()));
        assert!(!Role::Citizen.is_staff());
    }

    #[test]
    fn a_renamed_password_field_is_reported_under_its_own_name() {
        let e = Password::parse_as("new_password", "short").unwrap_err();
        assert_eq!(e.errors[0].field, "new_password");
        assert_eq!(e.errors[0].message, "10 to 128 characters");
    }

    #[test]
    fn only_staff_accounts_start_verified() {
        let account = |role| NewAccount {
            email: Email::parse("amal@example.org").unwrap(),
            full_name: FullName::parse("full_name", "Amal Haddad").unwrap(),
            language: Language::Ar,
            phone: None,
            role,
        };
        assert!(!account(Role::Citizen).verified_on_creation());
        assert!(account(Role::Officer).verified_on_creation());
        assert!(account(Role::Admin).verified_on_creation());
    }

    #[test]
    fn every_refusal_has_its_code() {
        assert_eq!(
            Refusal::Locked {
                retry_after_secs: 9
            }
            .code(),
            Code::TooManyLoginAttempts
        );
        assert_eq!(
            Refusal::InvalidOneTimeToken.code(),
            Code::InvalidOrExpiredToken
        );
        assert_eq!(Refusal::AccountGone.code(), Code::InvalidToken);
    }

    #[test]
    fn names_collapse_whitespace_and_phone_drops_separators() {
        assert_eq!(
            FullName::parse("full_name", "  Amal   Haddad ")
                .unwrap()
                .as_str(),
            "Amal Haddad"
        );
        assert!(FullName::parse("full_name", "A").is_err());
        assert_eq!(
            Phone::parse("+7 (916) 123-45-67").unwrap().as_str(),
            "+79161234567"
        );
        assert!(Phone::parse("call me").is_err());
    }
}
