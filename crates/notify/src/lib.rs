//! Email delivery: the transport (SMTP or `.eml` files), message rendering (templates, dates,
//! calendar invites) and the outbox worker.

pub mod dates;
pub mod invite;
pub mod render;
pub mod transport;
pub mod worker;

pub use render::{Kind, RenderError, Rendered};
pub use transport::{Mailer, SendError};
pub use worker::{run_once, Worker, WorkerSettings};
