//! Routes per resource. Register each path once, with all its methods on one `web::resource`,
//! so a wrong method is a 405 rather than a shadowed route.

pub mod accounts;
pub mod agenda;
pub mod appointments;
pub mod catalogue;
pub mod counter;
pub mod docs;
pub mod document_requests;
pub mod notifications;
pub mod ops;
pub mod personal;
pub mod schedules;
pub mod staff;
pub mod tracking;
pub mod waitlist;
pub mod webhooks;

use actix_web::web;

pub fn api(cfg: &mut web::ServiceConfig) {
    // Resources are tried in this order, each pattern with parameters a regex match: the
    // storm's routes (availability, booking) first, so they are found after the fewest.
    schedules::routes(cfg);
    appointments::routes(cfg);
    accounts::routes(cfg);
    staff::routes(cfg);
    document_requests::routes(cfg);
    tracking::routes(cfg);
    catalogue::routes(cfg);
    agenda::routes(cfg);
    counter::routes(cfg);
    notifications::routes(cfg);
    waitlist::routes(cfg);
    webhooks::routes(cfg);
    personal::routes(cfg);
}
