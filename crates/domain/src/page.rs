//! Paging of list answers: which page, how long, and the bounds a client may ask for.

use crate::error::Invalid;

/// One page of a list, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

/// The page lengths a list allows and the one it uses when none is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSizes {
    pub default: i64,
    pub max: i64,
}

impl PageSizes {
    /// What most lists allow.
    pub const STANDARD: PageSizes = PageSizes {
        default: 20,
        max: 100,
    };

    /// Page 1 or later, and 1 to `max` items per page; both failures are reported together.
    pub fn parse(self, page: Option<i64>, per_page: Option<i64>) -> Result<Page, Invalid> {
        let mut v = Invalid::collect();
        let page = v.check(match page.unwrap_or(1) {
            p if p >= 1 => Ok(p),
            _ => Err(Invalid::new("page", "1 or more")),
        });
        let per_page = v.check(match per_page.unwrap_or(self.default) {
            n if (1..=self.max).contains(&n) => Ok(n),
            _ => Err(Invalid::new("per_page", format!("1 to {}", self.max))),
        });
        v.finish()?;
        match (page, per_page) {
            (Some(page), Some(per_page)) => Ok(Page { page, per_page }),
            _ => unreachable!("finish() returned Ok, so every field parsed"),
        }
    }
}

impl Page {
    /// Parses a page within [`PageSizes::STANDARD`].
    pub fn parse(page: Option<i64>, per_page: Option<i64>) -> Result<Self, Invalid> {
        PageSizes::STANDARD.parse(page, per_page)
    }

    /// Rows to skip; saturates, so an absurd page number is an empty page, not an overflow.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }

    pub fn limit(&self) -> i64 {
        self.per_page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_page_is_the_first_of_twenty() {
        let p = Page::parse(None, None).unwrap();
        assert_eq!(
            p,
            Page {
                page: 1,
                per_page: 20
            }
        );
        assert_eq!((p.offset(), p.limit()), (0, 20));
        assert_eq!(Page::parse(Some(3), Some(7)).unwrap().offset(), 14);
    }

    #[test]
    fn pages_start_at_one_and_hold_one_to_a_hundred() {
        assert!(Page::parse(Some(1), Some(1)).is_ok());
        assert!(Page::parse(Some(1), Some(100)).is_ok());
        let err = Page::parse(Some(0), Some(101)).unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["page", "per_page"]);
        assert_eq!(err.errors[1].message, "1 to 100");
        assert!(Page::parse(Some(-1), None).is_err());
        assert!(Page::parse(None, Some(0)).is_err());
    }

    #[test]
    fn other_bounds_apply_their_own_default_and_maximum() {
        let sizes = PageSizes {
            default: 50,
            max: 200,
        };
        assert_eq!(sizes.parse(None, None).unwrap().per_page, 50);
        assert!(sizes.parse(None, Some(200)).is_ok());
        assert!(sizes.parse(None, Some(201)).is_err());
    }

    #[test]
    fn a_huge_page_number_saturates_instead_of_overflowing() {
        let p = Page::parse(Some(i64::MAX), Some(100)).unwrap();
        assert_eq!(p.offset(), i64::MAX);
    }
}
