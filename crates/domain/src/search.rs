//! Staff search: what a typed query can be. One string is tried as each kind of key it could be
//! (a reference or tracking or identity number, an email, a phone, part of a name), and each
//! kind is looked up by its own index; the name match and its case folding are the database's
//! (`search_key`, locale-independent), so both sides of the comparison fold the same way.

use crate::error::Invalid;

/// Results per section (`citizens`, `appointments`, `document_requests`).
pub const MAX_RESULTS: i64 = 20;
/// Letters a name fragment needs: fewer would match half the register.
pub const MIN_NAME_LETTERS: usize = 3;
/// Longest query accepted.
pub const MAX_QUERY_CHARS: usize = 200;

/// The keys one query is looked up by; `None` where it cannot be that kind of key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms {
    /// Upper-cased, spaces removed: a reference, a tracking number or an identity number
    /// (passport numbers now; any further identity column is matched against the same value).
    pub code: Option<String>,
    /// Lower-cased, as emails are stored.
    pub email: Option<String>,
    /// The forms a phone is stored in: with and without the leading `+`.
    pub phones: Option<Vec<String>>,
    /// Whitespace collapsed; matched as a fragment of a name.
    pub name: Option<String>,
}

impl SearchTerms {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let q = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = q.chars().count();
        if n == 0 || n > MAX_QUERY_CHARS || q.chars().any(char::is_control) {
            return Err(Invalid::new(
                "q",
                format!("1 to {MAX_QUERY_CHARS} characters"),
            ));
        }
        let compact: String = q.chars().filter(|c| !c.is_whitespace()).collect();
        let code = (compact.len() >= 4
            && compact
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            // A reference may draw only letters (`MOW-GTHB-APDJ`): its hyphens mark it a code.
            && compact.bytes().any(|b| b.is_ascii_digit() || b == b'-'))
        .then(|| compact.to_ascii_uppercase());
        let email = q.contains('@').then(|| compact.to_lowercase());
        let phones = phone_forms(&q);
        let letters = q.chars().filter(|c| c.is_alphabetic()).count();
        let name = (letters >= MIN_NAME_LETTERS && !q.contains('@')).then(|| q.clone());
        let terms = Self {
            code,
            email,
            phones,
            name,
        };
        if terms.code.is_none()
            && terms.email.is_none()
            && terms.phones.is_none()
            && terms.name.is_none()
        {
            return Err(Invalid::new(
                "q",
                format!(
                    "a reference, tracking number, identity number, email, phone or at least \
                     {MIN_NAME_LETTERS} letters of a name"
                ),
            ));
        }
        Ok(terms)
    }
}

impl SearchTerms {
    /// The kinds of key the query was taken for, for the audit log, which records these and
    /// never the text (it may be an identity number). A code is named by its shape: a tracking
    /// number `SY-…`, a reference `MOW-7Q4K-2MZD`, anything else an identity number.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if let Some(code) = &self.code {
            let groups: Vec<&str> = code.split('-').collect();
            kinds.push(if code.starts_with("SY-") && groups.len() == 4 {
                "tracking"
            } else if groups.len() == 3 && groups[1].len() == 4 && groups[2].len() == 4 {
                "reference"
            } else {
                "identity"
            });
        }
        if self.email.is_some() {
            kinds.push("email");
        }
        if self.phones.is_some() {
            kinds.push("phone");
        }
        if self.name.is_some() {
            kinds.push("name");
        }
        kinds
    }
}

/// `+7 (916) 123-45-67` → `["+79161234567", "79161234567"]`, as `Phone` stores either.
fn phone_forms(q: &str) -> Option<Vec<String>> {
    let v: String = q
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = v.strip_prefix('+').unwrap_or(&v);
    ((7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| vec![format!("+{digits}"), digits.to_owned()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_tried_as_every_kind_of_key_it_can_be() {
        let r = SearchTerms::parse(" mow-7q4k-2mzd ").unwrap();
        assert_eq!(r.code.as_deref(), Some("MOW-7Q4K-2MZD"));
        assert_eq!(r.name.as_deref(), Some("mow-7q4k-2mzd"));
        assert_eq!(r.email, None);
        let letters_only = SearchTerms::parse("mow-gthb-apdj").unwrap();
        assert_eq!(letters_only.code.as_deref(), Some("MOW-GTHB-APDJ"));

        let e = SearchTerms::parse("Amal@Example.org").unwrap();
        assert_eq!(e.email.as_deref(), Some("amal@example.org"));
        assert_eq!((e.code, e.name), (None, None));

        let p = SearchTerms::parse("+7 (916) 123-45-67").unwrap();
        assert_eq!(
            p.phones,
            Some(vec!["+79161234567".to_owned(), "79161234567".to_owned()])
        );
        assert_eq!(p.name, None);

        let n = SearchTerms::parse("  حدا  ").unwrap();
        assert_eq!(n.name.as_deref(), Some("حدا"));
        assert_eq!(n.code, None, "a code holds a digit or a hyphen");
    }

    #[test]
    fn the_kinds_of_a_query_name_what_it_was_taken_for_never_its_text() {
        let kinds = |q: &str| SearchTerms::parse(q).unwrap().kinds();
        assert_eq!(kinds("mow-7q4k-2mzd"), ["reference", "name"]);
        assert_eq!(kinds("SY-MOW-2026-000123"), ["tracking", "name"]);
        assert_eq!(kinds("N1234567"), ["identity"]);
        assert_eq!(kinds("12345678901"), ["identity", "phone"]);
        assert_eq!(kinds("amal@example.org"), ["email"]);
        assert_eq!(kinds("+7 916 123-45-67"), ["phone"]);
        assert_eq!(kinds("Haddad"), ["name"]);
    }

    #[test]
    fn fewer_than_three_letters_and_nothing_else_is_refused() {
        for q in [
            "",
            "   ",
            "am",
            "ам",
            "ama\u{0}",
            &"x".repeat(MAX_QUERY_CHARS + 1),
        ] {
            let e = SearchTerms::parse(q).unwrap_err();
            assert_eq!(e.errors[0].field, "q", "{q}");
        }
        assert!(SearchTerms::parse("ама").is_ok());
    }
}
