//! Mawid's black-box tests, one binary: the real app over HTTP on a fresh PostgreSQL database
//! per test, one module per resource, and `helpers`, the harness they share.

mod abuse;
mod access;
mod accounts;
mod booking;
mod caching;
mod catalogue;
mod contract;
mod counter;
mod dates;
mod deploy;
mod document_requests;
mod errors;
mod fair_access;
mod helpers;
mod languages;
mod logs;
mod notification_metrics;
mod notifications;
mod ops;
mod personal;
mod pool;
mod webhooks;
