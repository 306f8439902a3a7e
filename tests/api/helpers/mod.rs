//! The harness: the real app on a fresh PostgreSQL database per test, a clock the test moves,
//! answers that check their own status, a [`World`] to start from, and mail read as citizens
//! get it.
//!
//! Test modules speak HTTP and SQL. Every call into the production crates below their HTTP
//! surface (app state, the worker, the outbox, persistence calls, domain types) is made here, so
//! a change to those APIs is adapted in this module alone.

mod app;
mod mail;
mod outbox;
mod records;
mod routes;
mod smtp;
mod world;

pub use app::*;
pub use mail::*;
pub use outbox::*;
pub use records::*;
pub use routes::*;
pub use smtp::*;
pub use world::*;

/// The migrations each `#[sqlx::test]` database starts from.
pub use mawid_persistence::MIGRATOR;
