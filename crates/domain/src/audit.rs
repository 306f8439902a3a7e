//! Reading the audit log of staff actions: its paging bounds.

use crate::error::Invalid;
use crate::page::{Page, PageSizes};

/// The audit log pages longer than other lists: an auditor reads it in bulk.
pub const PAGES: PageSizes = PageSizes {
    default: 50,
    max: 200,
};

/// Out-of-range paging is refused, not clamped: the client asked for something else.
pub fn parse_page(page: Option<i64>, per_page: Option<i64>) -> Result<Page, Invalid> {
    PAGES.parse(page, per_page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_to_the_first_fifty() {
        let p = parse_page(None, None).unwrap();
        assert_eq!((p.limit(), p.offset()), (50, 0));
        let p = parse_page(Some(3), Some(20)).unwrap();
        assert_eq!((p.limit(), p.offset()), (20, 40));
    }

    #[test]
    fn out_of_range_paging_is_refused_naming_every_field() {
        let e = parse_page(Some(0), Some(PAGES.max + 1)).unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["page", "per_page"]);
        assert!(parse_page(Some(1), Some(0)).is_err());
        assert!(parse_page(Some(1), Some(PAGES.max)).is_ok());
    }

    #[test]
    fn a_page_far_past_the_end_does_not_overflow() {
        assert_eq!(
            parse_page(Some(i64::MAX), Some(200)).unwrap().offset(),
            i64::MAX
        );
    }
}
