//! Free text that staff and citizens type: its bounds live here, once.

use std::fmt;

use crate::error::Invalid;

/// Why something was cancelled or closed: trimmed, 1 to [`Reason::MAX_CHARS`] characters.
#[derive(Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim();
        let n = v.chars().count();
        if n == 0 || n > Self::MAX_CHARS {
            return Err(Invalid::new(
                field,
                format!("1 to {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(v.to_owned()))
    }

    /// A reason the system words itself, within bounds by construction.
    pub(crate) fn fixed(text: &'static str) -> Self {
        Self(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reason({} chars)", self.0.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_and_bounded() {
        assert_eq!(
            Reason::parse("reason", "  holiday ").unwrap().as_str(),
            "holiday"
        );
        assert!(Reason::parse("reason", "   ").is_err());
        let longest = "x".repeat(Reason::MAX_CHARS);
        assert!(Reason::parse("reason", &longest).is_ok());
        let err = Reason::parse("reason", &format!("{longest}x")).unwrap_err();
        assert_eq!(err.errors[0].field, "reason");
    }

    #[test]
    fn the_bound_counts_characters_not_bytes() {
        let arabic = "ع".repeat(Reason::MAX_CHARS);
        assert!(Reason::parse("reason", &arabic).is_ok());
    }
}
