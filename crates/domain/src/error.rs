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
