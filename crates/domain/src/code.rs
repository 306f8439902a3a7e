//! Every error code the API answers with, and its title: the one table of them. The HTTP status of
//! each is decided in one place of the http crate; `openapi.yaml` lists the same set as the enum of
//! `Problem.code` (a test keeps the two equal).

use std::fmt;

macro_rules! codes {
    ($($variant:ident => $name:literal, $title:literal;)*) => {
        /// A stable machine code of a problem answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as clients read it in `code` and in the problem `type`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// A short summary of the problem kind (RFC 9457 `title`), the same for every
            /// occurrence of the code.
            pub fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)*
                }
            }
        }
    };
}

codes! {
    // Requests the server cannot read.
    ValidationFailed => "validation_failed", "Invalid request";
    MalformedJson => "malformed_json", "Malformed JSON";
    BadRequest => "bad_request", "Bad request";
    UnsupportedMediaType => "unsupported_media_type", "Unsupported media type";
    PayloadTooLarge => "payload_too_large", "Request body too large";
    NotFound => "not_found", "Not found";
    MethodNotAllowed => "method_not_allowed", "Method not allowed";
    // Who is asking.
    Unauthenticated => "unauthenticated", "Authentication required";
    InvalidToken => "invalid_token", "Invalid access token";
    InvalidCredentials => "invalid_credentials", "Invalid credentials";
    InvalidRefreshToken => "invalid_refresh_token", "Invalid refresh token";
    RefreshTokenReused => "refresh_token_reused", "Refresh token reused";
    InvalidOrExpiredToken => "invalid_or_expired_token", "Invalid or expired token";
    TooManyLoginAttempts => "too_many_login_attempts", "Too many sign-in attempts";
    Forbidden => "forbidden", "Forbidden";
    EmailTaken => "email_taken", "Email already registered";
    RateLimited => "rate_limited", "Too many requests";
    // The server itself.
    ServerBusy => "server_busy", "Server busy";
    DatabaseUnavailable => "database_unavailable", "Database unavailable";
    InternalError => "internal_error", "Internal error";
    // Catalogue, schedules and closures.
    UnknownTimezone => "unknown_timezone", "Unknown time zone";
    OfficeCodeTaken => "office_code_taken", "Office code taken";
    ServiceCodeTaken => "service_code_taken", "Service code taken";
    ClosureExists => "closure_exists", "Closure exists";
    RangeTooLong => "range_too_long", "Date range too long";
    InvalidRange => "invalid_range", "Invalid date range";
    // Booking.
    ServiceNotOffered => "service_not_offered", "Service not offered";
    OffGrid => "off_grid", "Not a slot of the schedule";
    OfficeClosed => "office_closed", "Office closed";
    TooSoon => "too_soon", "Too soon";
    TooFar => "too_far", "Too far ahead";
    EmailNotVerified => "email_not_verified", "Email not verified";
    CitizenLimit => "citizen_limit", "Booking limit reached";
    ServiceLimit => "service_limit", "Booking limit for the service reached";
    PassportLimit => "passport_limit", "Booking limit for the passport reached";
    SlotFull => "slot_full", "Slot full";
    IdempotencyKeyReused => "idempotency_key_reused", "Idempotency key reused";
    SameSlot => "same_slot", "Same slot";
    NotBooked => "not_booked", "Not booked";
    IllegalTransition => "illegal_transition", "Illegal transition";
    // Document requests.
    UnknownOffice => "unknown_office", "Unknown office";
    UnknownService => "unknown_service", "Unknown service";
    ServiceNotDocumentary => "service_not_documentary", "Service creates no document request";
    UnknownAppointment => "unknown_appointment", "Unknown appointment";
    DocumentRequestExists => "document_request_exists", "Document request exists";
    DocumentRequestLimit => "document_request_limit", "Open document request limit reached";
    // Notifications.
    NotFailed => "not_failed", "Notification has not failed";
}

impl Code {
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == raw)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_is_unique_snake_case_and_parses_back() {
        let mut seen = HashSet::new();
        for &c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} listed twice");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s} is not snake_case"
            );
            assert_eq!(Code::parse(s), Some(c));
            assert!(!c.title().is_empty());
        }
        assert_eq!(Code::parse("no_such_code"), None);
    }

    #[test]
    fn titles_are_unique_so_each_names_one_kind_of_problem() {
        let titles: HashSet<&str> = Code::ALL.iter().map(|c| c.title()).collect();
        assert_eq!(titles.len(), Code::ALL.len());
    }
}
