//! iCalendar invites (RFC 5545, iTIP methods of RFC 5546) for appointment mail.
//!
//! The UID is the appointment's, so a calendar updates one entry across booking, reschedules and
//! cancellation; SEQUENCE comes from the payload and grows with each change.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, EventLike, EventStatus, Property};
use lettre::message::Mailbox;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Request,
    Cancel,
}

impl Method {
    pub fn code(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Cancel => "CANCEL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Invite {
    pub method: Method,
    pub ics: String,
}

pub struct Event<'a> {
    pub method: Method,
    pub uid: String,
    pub sequence: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: &'a str,
    pub location: &'a str,
    pub description: &'a str,
    pub stamp: DateTime<Utc>,
    pub organizer: &'a Mailbox,
    pub attendee: &'a str,
}

pub fn build(e: &Event<'_>) -> Invite {
    let mut event = icalendar::Event::new();
    event
        .uid(&e.uid)
        .sequence(e.sequence)
        // Written as UTC `...Z`: no VTIMEZONE to get wrong, and every client converts.
        .starts(e.start)
        .ends(e.end)
        .timestamp(e.stamp)
        .summary(e.summary)
        .location(e.location)
        .description(e.description)
        .status(match e.method {
            Method::Request => EventStatus::Confirmed,
            Method::Cancel => EventStatus::Cancelled,
        });
    // iTIP requires an organizer and the attendee the message is for.
    let mut organizer = Property::new("ORGANIZER", format!("mailto:{}", e.organizer.email));
    if let Some(name) = &e.organizer.name {
        organizer.add_parameter("CN", name);
    }
    event.append_property(organizer);
    let mut attendee = Property::new("ATTENDEE", format!("mailto:{}", e.attendee));
    attendee.add_parameter("ROLE", "REQ-PARTICIPANT");
    event.append_property(attendee);

    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//Mawid//Consular appointments//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", e.method.code()))
        .push(event.done());
    Invite {
        method: e.method,
        ics: calendar.done().to_string(),
    }
}
