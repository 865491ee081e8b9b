//! The store's conformance suite: every test runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

mod customers;
mod helpers;
mod import;
mod records;
mod rules_agree;
mod schema;
