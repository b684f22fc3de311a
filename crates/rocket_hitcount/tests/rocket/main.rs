//! The Rocket integration, end to end with Rocket's local client, on
//! SQLite and PostgreSQL: django-hitcount's JSON and detail view tests,
//! every error of the AJAX endpoint, cookies, proxies and users.

#[path = "../../../hitcount/tests/storage/common/mod.rs"]
#[macro_use]
mod common;

mod ajax;
mod app;
mod docs;
mod guard;
mod launch;
mod script;
mod templates;
