//! Email delivery: the transport (SMTP or `.eml` files), message rendering (templates, dates,
//! calendar invites) and the outbox worker; the webhook worker beside it.

pub mod dates;
pub mod invite;
pub mod render;
pub mod transport;
pub mod webhook;
pub mod worker;

pub use render::{Kind, RenderError, Rendered};
pub use transport::{Mailer, SendError};
pub use webhook::{HookSettings, HookWorker};
pub use worker::{run_once, Worker, WorkerSettings};
