//! Mawid's pure types and rules: no I/O; time, ids and limits arrive as arguments.

pub mod account;
pub mod agenda;
pub mod appointment;
pub mod audit;
pub mod catalogue;
pub mod clock;
pub mod code;
pub mod dates;
pub mod document;
pub mod error;
pub mod limit;
pub mod mail;
pub mod notice;
pub mod notification;
pub mod page;
pub mod retention;
pub mod schedule;
pub mod search;
pub mod stats;
pub mod text;
pub mod waitlist;
pub mod webhook;

pub use clock::{Clock, SystemClock};
pub use code::Code;
pub use error::Invalid;
