//! Validation failures shared by every aggregate.

use std::fmt;

/// One or more fields that failed validation; answered as `422 validation_failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    /// The member of `all` whose code is `raw`, or a failure naming every code `field` accepts.
    pub fn one_of<T: Copy>(
        field: &str,
        raw: &str,
        all: &[T],
        code: impl Fn(T) -> &'static str,
    ) -> Result<T, Invalid> {
        all.iter()
            .copied()
            .find(|t| code(*t) == raw)
            .ok_or_else(|| {
                let codes: Vec<&str> = all.iter().map(|t| code(*t)).collect();
                Invalid::new(field, format!("one of {}", codes.join(", ")))
            })
    }

    /// Runs several parses and keeps every failure, so a client fixes its request in one go.
    pub fn collect() -> Collector {
        Collector { errors: Vec::new() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Invalid {}

pub struct Collector {
    errors: Vec<FieldError>,
}

impl Collector {
    pub fn check<T>(&mut self, r: Result<T, Invalid>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.extend(e.errors);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), Invalid> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                errors: self.errors,
            })
        }
    }
}

/// A refused state change as clients read it in an `illegal_transition` problem, the same shape
/// for appointments and document requests: where it is, where it was asked to go, where it may.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub from: &'static str,
    pub to: &'static str,
    pub allowed: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_finds_the_member_or_lists_every_code() {
        let all = [1u8, 2];
        let code = |n: u8| if n == 1 { "one" } else { "two" };
        assert_eq!(Invalid::one_of("n", "two", &all, code), Ok(2));
        let e = Invalid::one_of("n", "three", &all, code).unwrap_err();
        assert_eq!(e.errors[0].field, "n");
        assert_eq!(e.errors[0].message, "one of one, two");
    }
}
