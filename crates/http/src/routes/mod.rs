//! Routes per resource. Register each path once, with all its methods on one `web::resource`,
//! so a wrong method is a 405 rather than a shadowed route.

pub mod accounts;
pub mod docs;
pub mod ops;
pub mod staff;

use actix_web::web;

pub fn api(cfg: &mut web::ServiceConfig) {
    accounts::routes(cfg);
    staff::routes(cfg);
}
