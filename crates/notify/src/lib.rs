//! Email delivery: the transport (SMTP or `.eml` files), message rendering and the outbox worker.

pub mod render;
pub mod transport;
pub mod worker;

pub use transport::Mailer;
pub use worker::{run_once, Worker, WorkerSettings};
