//! The Rocket integration, end to end with Rocket's local client, on
//! SQLite, PostgreSQL and MariaDB: django-hitcount's JSON and detail view tests,
//! every error of the AJAX endpoint, cookies, proxies and users.

#[macro_use]
extern crate hitcount_testing;
use hitcount_testing as common;

#[macro_use]
mod app;
mod ajax;
mod cookie_free;
#[cfg(feature = "dashboard")]
mod dashboard;
mod docs;
mod guard;
mod launch;
mod outage;
mod script;
mod shutdown;
mod templates;
