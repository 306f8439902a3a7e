//! Reading the audit log of staff actions: the paging bounds.

use crate::error::Invalid;

/// One page of the audit log, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub const PER_PAGE_DEFAULT: i64 = 50;
    pub const PER_PAGE_MAX: i64 = 200;

    /// Out-of-range paging is refused, not clamped: the client asked for something else.
    pub fn parse(page: Option<i64>, per_page: Option<i64>) -> Result<Self, Invalid> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(Self::PER_PAGE_DEFAULT);
        let mut v = Invalid::collect();
        if page < 1 {
            v.check::<()>(Err(Invalid::new("page", "1 or more")));
        }
        if !(1..=Self::PER_PAGE_MAX).contains(&per_page) {
            v.check::<()>(Err(Invalid::new(
                "per_page",
                format!("1 to {}", Self::PER_PAGE_MAX),
            )));
        }
        v.finish()?;
        Ok(Self { page, per_page })
    }

    pub fn limit(&self) -> i64 {
        self.per_page
    }

    /// Entries before this page; a page far past the end is simply empty.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_to_the_first_fifty() {
        let p = Page::parse(None, None).unwrap();
        assert_eq!((p.limit(), p.offset()), (50, 0));
        let p = Page::parse(Some(3), Some(20)).unwrap();
        assert_eq!((p.limit(), p.offset()), (20, 40));
    }

    #[test]
    fn out_of_range_paging_is_refused_naming_every_field() {
        let e = Page::parse(Some(0), Some(Page::PER_PAGE_MAX + 1)).unwrap_err();
        let fields: Vec<_> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["page", "per_page"]);
        assert!(Page::parse(Some(1), Some(0)).is_err());
        assert!(Page::parse(Some(1), Some(Page::PER_PAGE_MAX)).is_ok());
    }

    #[test]
    fn a_page_far_past_the_end_does_not_overflow() {
        assert_eq!(
            Page::parse(Some(i64::MAX), Some(200)).unwrap().offset(),
            i64::MAX
        );
    }
}
